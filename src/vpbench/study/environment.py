"""Planning checks that depend on this machine and working directory, not on the study alone.

The workflow calls :func:`check_environment` once, in the main Snakemake process, before any job: the
study files themselves (duplicate keys, Python tags), paths outside the project, ``device: cuda`` where
jobs would run without a GPU, weights and datasets that cannot be had, N-shots above the smallest class,
and shared resources acquired from another study's source. What a dry run cannot fix (a missing GPU or
checkpoint) is a warning under ``-n``, so a cluster plan still prints its job count, and an error before
a real run. Everything else is an error either way. Each message names the key, the value and what is
allowed.
"""

from __future__ import annotations

import json
import os
import socket
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from vpbench.errors import ConfigError, VpbenchError
from vpbench.study import paths
from vpbench.study.configfile import read_study_file
from vpbench.study.spec import Study


@dataclass(frozen=True)
class Environment:
    """Where and how the workflow runs: working directory, study files, dry run, local executor."""

    workdir: Path
    configfiles: tuple[Path, ...] = ()
    dry_run: bool = False
    local_exec: bool = True


def environment_of(workflow: Any) -> Environment | None:
    """The environment of a Snakemake workflow being parsed, or None inside a job (checked already)."""
    if not workflow.is_main_process:
        return None
    return Environment(
        workdir=Path.cwd(),
        configfiles=tuple(Path(p) for p in workflow.configfiles),
        dry_run=bool(workflow.output_settings.dryrun),
        local_exec=_local_executor(workflow),
    )


def _local_executor(workflow: Any) -> bool:
    """Whether jobs run on this machine. Snakemake 9 picks the executor plugin before it parses the
    Snakefile but exposes it only later, so look for it in the caller's frames (``args_to_api``)."""
    frame = sys._getframe()
    while frame is not None:
        settings = getattr(frame.f_locals.get("executor_plugin"), "common_settings", None)
        if settings is not None:
            return bool(settings.local_exec)
        frame = frame.f_back
    return workflow.resource_settings.nodes is None  # cluster executors set --jobs as nodes


def check_configfiles(configfiles: Iterable[str | os.PathLike[str]]) -> None:
    """Re-read every study file strictly (Snakemake's own reader keeps the last of two equal keys)."""
    for path in configfiles:
        read_study_file(path)


def _path_keys(study: Study) -> list[tuple[str, str]]:
    keys = [("paths.data_root", study.data_root), ("paths.weights_dir", study.weights_dir)]
    if study.imagenet_val:
        keys.append(("paths.imagenet_val", study.imagenet_val))
    keys += [(f"datasets.{name}.root", opts.root) for name, opts in study.datasets.items() if opts.root]
    return keys


def check_paths(study: Study, workdir: Path) -> None:
    """Paths outside the working directory only with ``paths.allow_outside_project: true``."""
    if study.allow_outside_project:
        return
    project = Path(os.path.abspath(workdir))
    for key, value in _path_keys(study):
        full = Path(os.path.normpath(project / value))  # symlinks inside the project stay inside
        if not full.is_relative_to(project):
            raise ConfigError(
                f"{key}: {value!r} lies outside the working directory {project}, and vpbench may create "
                "folders and write downloads there. Allowed: a path inside it (e.g. resources/raw), or set "
                "paths.allow_outside_project: true to use this one"
            )


def cuda_problem(requested: str) -> str | None:
    """Why ``device: cuda`` cannot run on this machine, or None."""
    import torch

    if requested != "cuda" or torch.cuda.is_available():
        return None
    built = f"built for CUDA {torch.version.cuda}" if torch.version.cuda else "a CPU-only build"
    return (
        f"device: 'cuda', but this machine ({socket.gethostname()}) has no usable CUDA device "
        f"(torch {torch.__version__}, {built}; torch.cuda.is_available() is False). Allowed values here: "
        "'auto' (CUDA where present, else CPU) or 'cpu'; or run the jobs on GPU nodes (e.g. --profile "
        "profiles/slurm)"
    )


def weights_problems(study: Study) -> list[str]:
    """Every family whose weights are neither on disk nor acquirable, with what to place where."""
    from vpbench.models.acquire import acquisition_problem

    problems = []
    for family in dict.fromkeys(v.family for v in study.all_variants()):
        marker = Path(paths.weights_acquired(study, family))
        if marker.is_file():
            continue
        problem = acquisition_problem(family, marker.parent, allow_network=study.download)
        if problem:
            users = [
                f"models.{v.model}.variants.{v.name}" for v in study.all_variants() if v.family == family
            ]
            problems.append(f"{', '.join(users)}: {problem}")
    return problems


def _acquired(dataset: str) -> dict | None:
    try:
        return json.loads(Path(paths.DATASET_ACQUIRED.format(dataset=dataset)).read_text())
    except (OSError, ValueError):
        return None


def dataset_notes(study: Study) -> tuple[list[str], list[str]]:
    """(problems, notices): packaged datasets that cannot be read; shared data acquired elsewhere."""
    from vpbench.data import get_dataset

    problems, notices = [], []
    for name in study.datasets:
        spec = get_dataset(name)
        packaged = bool(getattr(spec.reader, "packaged", False))
        marker = _acquired(name)
        if marker is not None:
            root = study.dataset_root(name)
            if not packaged and os.path.normpath(str(marker.get("root"))) != os.path.normpath(root):
                notices.append(
                    f"datasets.{name}: the shared caches under resources/ were built from "
                    f"{marker.get('root')} (acquired for another study or an earlier run), not from this "
                    f"study's {root}; "
                    f"they are reused as they are. To rebuild them from {root}, delete "
                    f"{paths.DATASET_ACQUIRED.format(dataset=name)} and resources/cache/{name}/"
                )
            continue
        if packaged:
            missing = [s for s in spec.splits if not spec.reader.is_staged(None, s, False)]
            if missing:
                problems.append(f"datasets.{name}: cannot be read ({_packaged_help(spec)})")
    return problems, notices


def _packaged_help(spec: object) -> str:
    try:
        spec.reader.download(None, spec.splits[0])  # type: ignore[attr-defined]
    except VpbenchError as error:
        return str(error)
    return "its package is missing"


def train_class_counts(study: Study, dataset: str) -> np.ndarray | None:
    """Items per class of the training split, where known without building anything: the acquisition
    record, or the labels of a dataset shipped in a package. None otherwise (the split job checks)."""
    from vpbench.data import get_dataset, read_labels

    marker = _acquired(dataset)
    if marker is not None and marker.get("train_class_counts") is not None:
        return np.asarray(marker["train_class_counts"], dtype=np.int64)
    spec = get_dataset(dataset)
    if not getattr(spec.reader, "packaged", False):
        return None
    try:
        return np.bincount(read_labels(dataset, "train", None, verify_md5=False))
    except VpbenchError:
        return None


def shots_problem(dataset: str, counts: Sequence[int], shots: Iterable[str]) -> str | None:
    """The N-shots above the smallest class of ``dataset`` (counts per class), as one sentence."""
    present = [int(c) for c in counts if int(c) > 0]
    if not present:
        return None
    smallest = min(present)
    above = [s for s in shots if s != "full" and int(s) > smallest]
    if not above:
        return None
    return (
        f"shots: {', '.join(above)} above the smallest training class of dataset {dataset!r} "
        f"({smallest} items; largest {max(present)}). With shots_above_class_size: cap that class "
        f"contributes all {smallest} items and the cells record effective_shots={smallest}"
        + (", is_full=True" if max(present) <= int(above[0]) else "")
        + "; with refuse the study is refused"
    )


def check_class_sizes(study: Study) -> list[str]:
    """N-shots above a dataset's smallest class: a warning (``cap``) or a ConfigError (``refuse``)."""
    used = {(cell.dataset, cell.shots) for cell in study.cells}
    warnings = []
    for dataset in study.datasets:
        shots = sorted({s for d, s in used if d == dataset and s != "full"}, key=int)
        if not shots:
            continue
        counts = train_class_counts(study, dataset)
        problem = None if counts is None else shots_problem(dataset, counts, shots)
        if problem is None:
            continue
        if study.shots_above_class_size == "refuse":
            raise ConfigError(
                problem + ". Allowed here: N-shots up to the smallest class, or shots_above_class_size: cap"
            )
        warnings.append(problem)
    return warnings


def check_environment(study: Study, env: Environment) -> list[str]:
    """Every machine-dependent planning check (after :func:`check_configfiles`); returns warnings, raises
    ConfigError on a refusal."""
    check_paths(study, env.workdir)
    warnings = check_class_sizes(study)
    unavailable = []
    if env.local_exec and (problem := cuda_problem(study.device)):
        unavailable.append(problem)
    unavailable += weights_problems(study)
    problems, notices = dataset_notes(study)
    unavailable += problems
    warnings += notices
    if unavailable and not env.dry_run:
        raise ConfigError(
            "this study cannot run here; nothing was started:\n  - " + "\n  - ".join(unavailable)
        )
    warnings += [f"{problem} (a real run refuses to start)" for problem in unavailable]
    return warnings
