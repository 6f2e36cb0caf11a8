"""What a Snakemake profile asks SLURM for, read from its YAML without Snakemake.

``read_profile`` parses ``config.v8+.yaml`` (default-resources, set-resources, set-threads, retries,
groups, arrays) and the partition limits of the config files it names; ``profile_requests`` and
``profile_violations`` price a study's training jobs under it. Rules' own ``resources:`` are not seen
here; the Snakefile hook (:mod:`vpbench.cluster.hooks`) sees what Snakemake resolved.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import yaml

from vpbench.cluster.arrays import array_violations
from vpbench.cluster.limits import PartitionLimits
from vpbench.cluster.requests import (
    Request,
    Violation,
    evaluate,
    find_violations,
    group_request,
    slurm_request,
)
from vpbench.errors import ConfigError


def _pairs(value: Any, where: str) -> dict[str, str]:
    """``[a=1, b=2]`` or ``{a: 1}`` (how profiles spell --resources, --set-threads, ...) as a dict."""
    if value is None:
        return {}
    if isinstance(value, Mapping):
        return {str(k): v for k, v in value.items()}
    if isinstance(value, str):
        value = value.split()
    out = {}
    for item in value:
        key, sep, val = str(item).partition("=")
        if not sep:
            raise ConfigError(f"{where}: {item!r} is not KEY=VALUE")
        out[key.strip()] = val.strip()
    return out


def _rule_resources(value: Any) -> dict[str, dict[str, Any]]:
    """set-resources as ``{rule: {name: value}}`` from its mapping or ``rule:name=value`` list form."""
    if value is None:
        return {}
    if isinstance(value, Mapping):
        return {str(rule): dict(res or {}) for rule, res in value.items()}
    out: dict[str, dict[str, Any]] = {}
    for item in value:
        rule, _, assignment = str(item).partition(":")
        name, _, val = assignment.partition("=")
        out.setdefault(rule, {})[name] = val
    return out


def _rate(profile: Mapping[str, Any]) -> int | None:
    """Jobs the scheduler may select per timespan (Snakemake's default is 100/1s)."""
    if profile.get("max-jobs-per-timespan"):
        return int(str(profile["max-jobs-per-timespan"]).split("/")[0])
    if profile.get("max-jobs-per-second"):
        return int(profile["max-jobs-per-second"])
    return 100


@dataclass(frozen=True)
class ProfileSettings:
    """What a Snakemake profile says about resources, grouping and arrays."""

    path: str
    default_resources: dict[str, Any]
    set_resources: dict[str, dict[str, Any]]
    set_threads: dict[str, int]
    retries: int
    jobs: int | None
    rate: int | None
    groups: dict[str, str]
    group_components: dict[str, int]
    global_resources: dict[str, Any]
    scopes: dict[str, str]
    array_rules: tuple[str, ...]
    array_limit: int
    limits: PartitionLimits
    raw: dict[str, Any] = field(repr=False, default_factory=dict)

    @property
    def last_attempt(self) -> int:
        return self.retries + 1

    def gpu_cap(self) -> int | None:
        """The per-group GPU cap (``resources: gpu=N`` with ``set-resource-scopes: gpu=local``)."""
        if "gpu" in self.global_resources and self.scopes.get("gpu") == "local":
            return int(self.global_resources["gpu"])
        return None


def _configfiles(raw: Mapping[str, Any]) -> list[str]:
    files = raw.get("configfile") or raw.get("configfiles") or []
    return [files] if isinstance(files, str) else list(files)


def _profile_limits(raw: Mapping[str, Any], path: Path) -> PartitionLimits:
    """The ``cluster`` section of the profile's config files (paths relative to where snakemake runs:
    the working directory, else the repository the profile sits in), or of its ``config:`` block."""
    for name in reversed(_configfiles(raw)):  # later config files win, as in Snakemake
        for candidate in (Path(name), path.parent.parent.parent / name):
            if candidate.is_file():
                data = yaml.safe_load(candidate.read_text(encoding="utf-8")) or {}
                if "cluster" in data:
                    return PartitionLimits.from_mapping(data["cluster"], where=f"{candidate}: cluster")
                break
    config = raw.get("config") or {}
    if isinstance(config, list):  # `config: [key=value]` form
        config = {k: yaml.safe_load(v) for k, v in _pairs(config, f"{path}: config").items()}
    return PartitionLimits.from_mapping(config.get("cluster"), where=f"{path}: config.cluster")


def read_profile(path: str | Path) -> ProfileSettings:
    """Parse ``config.v8+.yaml`` (a profile directory or the file itself) and the limits it declares."""
    path = Path(path)
    if path.is_dir():
        candidates = sorted(path.glob("config.v*+.yaml")) or [path / "config.yaml"]
        path = candidates[-1]
    raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    arrays = raw.get("slurm-array-jobs") or ""
    return ProfileSettings(
        path=str(path),
        default_resources=_pairs(raw.get("default-resources"), f"{path}: default-resources"),
        set_resources=_rule_resources(raw.get("set-resources")),
        set_threads={k: int(v) for k, v in _pairs(raw.get("set-threads"), f"{path}: set-threads").items()},
        retries=int(raw.get("retries") or 0),
        jobs=int(raw["jobs"]) if raw.get("jobs") not in (None, "unlimited") else None,
        rate=_rate(raw),
        groups=_pairs(raw.get("groups"), f"{path}: groups"),
        group_components={
            k: int(v) for k, v in _pairs(raw.get("group-components"), f"{path}: group-components").items()
        },
        global_resources=_pairs(raw.get("resources"), f"{path}: resources"),
        scopes=_pairs(raw.get("set-resource-scopes"), f"{path}: set-resource-scopes"),
        array_rules=tuple(r.strip() for r in str(arrays).replace(";", ",").split(",") if r.strip()),
        array_limit=int(raw.get("slurm-array-limit") or 1000),
        limits=_profile_limits(raw, path),
        raw=raw,
    )


def rule_request(
    profile: ProfileSettings, rule: str, *, attempt: int | None = None, count: int = 1
) -> Request:
    """One job of ``rule`` under the profile (default-resources overlaid by set-resources), evaluated for
    ``attempt`` (default: the last retry). Rules' own ``resources:`` are not seen here; the Snakefile hook
    (:func:`check_job_requests`) sees them."""
    attempt = profile.last_attempt if attempt is None else attempt
    threads = profile.set_threads.get(rule, 1)
    merged = {**profile.default_resources, **profile.set_resources.get(rule, {})}
    values = {
        name: evaluate(value, attempt=attempt, threads=threads, name=name) for name, value in merged.items()
    }
    array = count > 1 and (rule in profile.array_rules or "all" in profile.array_rules)
    return replace(slurm_request(rule, values, threads), count=count, array=array)


def profile_requests(
    profile: ProfileSettings, counts: Mapping[str, int], rule_groups: Mapping[str, str] | None = None
) -> list[Request]:
    """The SLURM requests of ``counts`` jobs per rule under the profile: one per rule, or per group size
    where the rule is grouped (``rule_groups``: the rules' own ``group:`` directives, overridden by the
    profile's ``groups:``) and ``group-components`` packs several jobs into one SLURM job."""
    groups = {**(rule_groups or {}), **profile.groups}
    requests = []
    for rule, count in counts.items():
        if count < 1:
            continue
        single = rule_request(profile, rule, count=count)
        group = groups.get(rule)
        size = profile.group_components.get(group, 1) if group else 1
        if group and size > 1:
            member = replace(single, count=1, array=False)
            full, rest = divmod(count, size)
            for members, number in ((size, full), (rest, 1 if rest else 0)):
                if number:
                    grouped = group_request(
                        member, members, profile.gpu_cap(), job=f"group {group} ({rule} x{members})"
                    )
                    requests.append(replace(grouped, count=number))
        else:
            requests.append(single)
    return requests


def profile_violations(
    profile: ProfileSettings,
    counts: Mapping[str, int],
    batches: int = 1,
    rule_groups: Mapping[str, str] | None = None,
) -> list[Violation]:
    """Resource and array-submission problems of the profile for ``counts`` jobs per rule, run in
    ``batches`` slices (:func:`slice_targets`; each holds at most ceil(n / batches) of a rule's jobs)."""
    groups = {**(rule_groups or {}), **profile.groups}
    found = find_violations(profile_requests(profile, counts, rule_groups), profile.limits)
    if profile.array_rules:
        per_batch = {rule: math.ceil(n / batches) for rule, n in counts.items()}
        found += array_violations(
            per_batch,
            array_rules=profile.array_rules,
            array_limit=profile.array_limit,
            jobs=profile.jobs,
            rate=profile.rate,
            limits=profile.limits,
            grouped=[r for r in groups if r in counts],
        )
    return found
