"""Partition limits, declared once per SLURM profile: what a training job may ask the partition for.

A SLURM profile declares the limits of the partition its training jobs go to ONCE, in a small YAML file it
passes as a second config file after the study (``configfile: [studies/paper.yaml,
profiles/slurm/cluster.yaml]``)::

    cluster:                      # `scontrol show partition <name>`, `scontrol show config`
      partition: gpu
      max_runtime: 2-00:00:00     # MaxTime (minutes, or SLURM's [D-]HH:MM:SS)
      gpus_per_node: 4
      mem_mb_per_node: 500000
      cpus_per_node: 64
      max_array_size: 1001        # MaxArraySize: array indices must stay below it
      max_submit_jobs: 2000       # the association's MaxSubmitJobs (each array task counts)

(Not in the profile's ``config:`` block: snakemake-executor-plugin-slurm 2.8 quotes string ``--config``
values into the array ``--wrap`` so that sbatch refuses the whole array.) The section is part of the
config schema but never of the study: :func:`vpbench.study.spec.build_study` keeps it out of the
recorded config and no cell's plan reads it, so changing a profile reruns nothing.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import yaml

from vpbench.errors import ConfigError

# The rules that train cells: submitted as SLURM arrays by profiles/slurm (plugin >= 2.6).
TRAINING_RULES = ("train_cell", "train_pack")


def parse_minutes(value: Any, *, where: str = "runtime") -> int:
    """Minutes from an int, a numeric string, SLURM's ``[D-]HH:MM:SS`` / ``MM:SS`` / ``D-HH[:MM]`` forms,
    or a unit suffix (``90m``, ``48h``, ``2d``)."""
    if isinstance(value, bool):
        raise ConfigError(f"{where}: {value!r} is not a duration")
    if isinstance(value, int | float):
        return math.ceil(value)
    text = str(value).strip().lower()
    if re.fullmatch(r"\d+(\.\d+)?", text):
        return math.ceil(float(text))
    unit = re.fullmatch(r"(\d+(?:\.\d+)?)\s*(s|sec|m|min|h|hr|hours?|d|days?)", text)
    if unit:
        number, suffix = float(unit.group(1)), unit.group(2)
        scale = {"s": 1 / 60, "sec": 1 / 60, "m": 1, "min": 1, "d": 1440, "day": 1440, "days": 1440}
        return math.ceil(number * scale.get(suffix, 60))
    days, _, clock = text.rpartition("-")
    if days and not days.isdigit():
        raise ConfigError(f"{where}: {value!r} is not minutes or SLURM's [D-]HH:MM:SS")
    parts = clock.split(":")
    if not all(part.isdigit() for part in parts) or not 1 <= len(parts) <= 3:
        raise ConfigError(f"{where}: {value!r} is not minutes or SLURM's [D-]HH:MM:SS")
    numbers = [int(part) for part in parts]
    if days:  # D-HH, D-HH:MM, D-HH:MM:SS
        hours, minutes, seconds = [*numbers, 0, 0][:3]
        return int(days) * 1440 + hours * 60 + minutes + math.ceil(seconds / 60)
    if len(numbers) == 1:
        return numbers[0]
    if len(numbers) == 2:  # MM:SS
        return numbers[0] + math.ceil(numbers[1] / 60)
    return numbers[0] * 60 + numbers[1] + math.ceil(numbers[2] / 60)


def parse_mb(value: Any, *, where: str = "memory") -> int:
    """Megabytes from an int (MB), or a size string (``500G``, ``500GB``, ``256000M``, ``1T``)."""
    if isinstance(value, bool):
        raise ConfigError(f"{where}: {value!r} is not a size")
    if isinstance(value, int | float):
        return math.ceil(value)
    match = re.fullmatch(r"(\d+(?:\.\d+)?)\s*([kmgt]?)(i?b)?", str(value).strip().lower())
    if not match:
        raise ConfigError(f"{where}: {value!r} is not a size in MB or with a K/M/G/T suffix")
    scale = {"k": 1e-3, "": 1, "m": 1, "g": 1e3, "t": 1e6}[match.group(2)]
    return math.ceil(float(match.group(1)) * scale)


def _positive_int(value: Any, where: str) -> int:
    try:
        number = int(str(value).strip())
    except ValueError:
        raise ConfigError(f"{where}: {value!r} is not a positive integer") from None
    if number < 1:
        raise ConfigError(f"{where}: {value!r} is not a positive integer")
    return number


@dataclass(frozen=True)
class PartitionLimits:
    """Hard limits of the partition (and account) the training jobs go to; None means not declared."""

    partition: str | None = None
    max_runtime: int | None = None  # minutes (MaxTime)
    gpus_per_node: int | None = None
    mem_mb_per_node: int | None = None
    cpus_per_node: int | None = None
    max_array_size: int | None = None  # SLURM MaxArraySize: every array index must be below it
    max_submit_jobs: int | None = None  # MaxSubmitJobs of the association/QOS; array tasks count one each

    @classmethod
    def from_mapping(cls, mapping: Mapping[str, Any] | None, *, where: str = "cluster") -> PartitionLimits:
        """Limits from a mapping whose values may be strings (a profile's ``config:`` passes strings)."""
        if mapping is None:
            return cls()
        if not isinstance(mapping, Mapping):
            raise ConfigError(f"{where}: expected a mapping of partition limits, got {mapping!r}")
        allowed = {f.name for f in fields(cls)}
        unknown = sorted(set(mapping) - allowed)
        if unknown:
            raise ConfigError(
                f"{where}: unknown key {', '.join(map(repr, unknown))}; "
                f"allowed keys: {', '.join(sorted(allowed))}"
            )
        values: dict[str, Any] = {}
        for key, value in mapping.items():
            if value is None or value == "":
                continue
            path = f"{where}.{key}"
            if key == "partition":
                values[key] = str(value)
            elif key == "max_runtime":
                values[key] = parse_minutes(value, where=path)
                if values[key] > 30 * 1440:  # YAML 1.1 reads an unquoted 48:00:00 as 172800
                    raise ConfigError(
                        f"{path}: {value!r} minutes is more than 30 days; an unquoted H:MM:SS is read by "
                        f'YAML as a base-60 number, so quote it ("48:00:00") or write minutes'
                    )
            elif key == "mem_mb_per_node":
                values[key] = parse_mb(value, where=path)
            else:
                values[key] = _positive_int(value, path)
        return cls(**values)

    @property
    def declared(self) -> bool:
        """Whether any limit is set (an empty ``cluster:`` block checks nothing)."""
        return any(getattr(self, f.name) is not None for f in fields(self) if f.name != "partition")

    @property
    def max_array_index(self) -> int | None:
        """The largest index an array may use (SLURM rejects indices >= MaxArraySize)."""
        return None if self.max_array_size is None else self.max_array_size - 1


def load_limits(path: str | Path) -> PartitionLimits:
    """Limits from a YAML file: a profile (its ``config.cluster``) or a bare mapping of limits."""
    data = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
    if isinstance(data.get("config"), Mapping) and "cluster" in data["config"]:
        return PartitionLimits.from_mapping(data["config"]["cluster"], where=f"{path}: config.cluster")
    if "cluster" in data:
        return PartitionLimits.from_mapping(data["cluster"], where=f"{path}: cluster")
    return PartitionLimits.from_mapping(data, where=str(path))
