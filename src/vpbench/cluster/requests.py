"""The sbatch request of a job, as snakemake-executor-plugin-slurm builds it, and the limits it breaks.

Resources are evaluated as Snakemake would for the LAST retry (``"32000 * attempt"`` at ``retries + 1``);
a group job is sized as Snakemake sizes it (members on one GPU run one after another, so runtimes add
up). Snakemake itself never compares ``runtime`` with anything, so without this check a 160 h request
is only refused by ``sbatch`` (or sits pending for ever).
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from vpbench.cluster.limits import PartitionLimits, parse_mb, parse_minutes


@dataclass(frozen=True)
class Request:
    """What one SLURM job (or each task of an array) asks for, as sbatch will see it."""

    job: str  # rule name, or "group cells" for a group job
    runtime: int | None  # minutes
    mem_mb: int | None
    gpus: int
    cpus: int
    cells: int = 1  # Snakemake jobs (cells or packs) inside this SLURM job
    count: int = 1  # how many such SLURM jobs (or array tasks) the plan submits
    array: bool = False

    def describe(self) -> str:
        inside = f", {self.cells} jobs inside" if self.cells > 1 else ""
        how = "array tasks" if self.array else "jobs"
        runtime = "?" if self.runtime is None else f"{self.runtime} min ({self.runtime / 60:.1f} h)"
        mem = "?" if self.mem_mb is None else f"{self.mem_mb} MB"
        return (
            f"{self.job}: {self.count} {how}{inside}; runtime {runtime}, mem {mem}, "
            f"{self.gpus} GPU, {self.cpus} CPU"
        )


@dataclass(frozen=True)
class Violation:
    """One request above one limit."""

    job: str
    resource: str
    requested: Any
    limit: Any
    hint: str = ""

    def __str__(self) -> str:
        unit = {"runtime": " min", "mem_mb": " MB"}.get(self.resource, "")
        text = f"{self.job}: {self.resource} {self.requested}{unit} > limit {self.limit}{unit}"
        if self.resource == "runtime" and isinstance(self.requested, int) and isinstance(self.limit, int):
            text += f" ({self.requested / 60:.1f} h > {self.limit / 60:.1f} h)"
        return f"{text}; {self.hint}" if self.hint else text


_HUMAN_UNIT = re.compile(r"^\s*\d+(\.\d+)?\s*[a-zA-Z]+\s*$")


def evaluate(value: Any, *, attempt: int = 1, threads: int = 1, name: str = "") -> Any:
    """A resource value as Snakemake would evaluate it for ``attempt``: ints stay, strings that are Python
    expressions (``"480 * attempt"``) are evaluated with ``attempt`` and ``threads``, other strings
    (``"gpu:a100:1"``, ``"2h"``) are returned as they are."""
    if not isinstance(value, str):
        return value
    if name in ("runtime", "mem", "mem_mb", "disk", "disk_mb") and _HUMAN_UNIT.match(value):
        return value
    try:
        result = eval(
            value,
            {"__builtins__": {"min": min, "max": max, "int": int, "round": round}},
            {"attempt": attempt, "threads": threads},
        )
    except (NameError, SyntaxError, TypeError):
        return value
    return round(result) if isinstance(result, float) else result


def _gres_gpus(gres: str) -> int:
    """GPUs in a GRES string (``gpu:a100:2`` -> 2, ``gpu`` -> 1, ``gpu:2,tmp:10G`` -> 2)."""
    total = 0
    for item in str(gres).split(","):
        parts = item.strip().split(":")
        if parts[0] != "gpu":
            continue
        total += int(parts[-1]) if len(parts) > 1 and parts[-1].isdigit() else 1
    return total


def slurm_request(job: str, resources: Mapping[str, Any], threads: int = 1) -> Request:
    """The sbatch request of one job from its evaluated resources, as snakemake-executor-plugin-slurm
    builds it: ``-t runtime``, ``--mem mem_mb``, ``--gpus``/``--gres``, and CPUs from ``cpus_per_task``,
    else ``cpus_per_gpu`` x GPUs, else ``threads``."""
    runtime = resources.get("runtime")
    runtime = None if runtime in (None, "") else parse_minutes(runtime, where=f"{job}.runtime")
    mem = resources.get("mem_mb", resources.get("mem"))
    mem = None if mem in (None, "") else parse_mb(mem, where=f"{job}.mem_mb")
    gpus = int(resources.get("gpu") or 0)
    if not gpus and resources.get("gpu_model"):
        gpus = 1  # the plugin's --gpus=<model>:1
    if not gpus and resources.get("gres"):
        gpus = _gres_gpus(resources["gres"])
    per_task, per_gpu = int(resources.get("cpus_per_task") or 0), int(resources.get("cpus_per_gpu") or 0)
    if per_task > 0:
        cpus = per_task
    elif gpus and per_gpu > 0:
        cpus = per_gpu * gpus
    else:
        cpus = int(threads)
    return Request(job=job, runtime=runtime, mem_mb=mem, gpus=gpus, cpus=cpus)


def group_request(
    member: Request, size: int, gpu_cap: int | None = None, *, job: str | None = None
) -> Request:
    """A group job of ``size`` independent copies of ``member`` as Snakemake sizes it (layered model):
    a layer holds as many members as the group's GPU cap allows (``resources: gpu=N`` with the ``local``
    scope); widths (memory, CPUs, GPUs) are summed within a layer and maxed across layers, runtime is
    maxed within a layer and SUMMED across layers. Without a cap every member runs side by side."""
    if size < 1:
        raise ValueError("a group has at least one member")
    per_layer = size
    if gpu_cap is not None and member.gpus > 0:
        per_layer = max(1, min(size, gpu_cap // member.gpus))
    layers = math.ceil(size / per_layer)
    return Request(
        job=job or f"group of {size} {member.job}",
        runtime=None if member.runtime is None else member.runtime * layers,
        mem_mb=None if member.mem_mb is None else member.mem_mb * per_layer,
        gpus=member.gpus * per_layer,
        cpus=member.cpus * per_layer,
        cells=size * member.cells,
        count=member.count,
        array=False,
    )


def find_violations(requests: Iterable[Request], limits: PartitionLimits) -> list[Violation]:
    """Every (request, resource) above the partition's limits, with a hint on what to change."""
    found = []
    for request in requests:
        checks = (
            (
                "runtime",
                request.runtime,
                limits.max_runtime,
                "lower the runtime (retries resume from the checkpoint) or the group/pack size",
            ),
            ("gpus", request.gpus, limits.gpus_per_node, "a job gets at most one node's GPUs"),
            (
                "mem_mb",
                request.mem_mb,
                limits.mem_mb_per_node,
                "lower mem_mb or its attempt scaling (the last retry asks for the most)",
            ),
            ("cpus", request.cpus, limits.cpus_per_node, "lower cpus_per_gpu / threads"),
        )
        for resource, requested, limit, hint in checks:
            if requested is not None and limit is not None and requested > limit:
                found.append(Violation(request.job, resource, requested, limit, hint))
    return found


def max_group_size(member_runtime: int, limits: PartitionLimits, *, per_layer: int = 1) -> int:
    """Largest group-components value whose summed runtime (``per_layer`` members side by side) fits the
    partition's time limit; 0 when even one member does not fit."""
    if limits.max_runtime is None:
        raise ValueError("the partition declares no max_runtime")
    if member_runtime <= 0:
        raise ValueError("member runtime must be positive")
    return (limits.max_runtime // member_runtime) * per_layer


def max_pack_size(cell_minutes: float, budget_minutes: float, *, pack_factor: float = 1.0) -> int:
    """Largest in-process pack whose predicted time fits ``budget_minutes`` (the pack rule's runtime
    request): K cells cost ``K x cell_minutes x pack_factor`` (``pack_factor`` < 1 is what lockstep
    packing saves per cell, from benchmarks/packing.py); 0 when one cell does not fit."""
    if cell_minutes <= 0 or pack_factor <= 0:
        raise ValueError("cell minutes and pack factor must be positive")
    return int(budget_minutes // (cell_minutes * pack_factor))
