"""Array plans that snakemake-executor-plugin-slurm 2.6-2.8 would turn into a hang or a refused sbatch.

The plugin (a) submits a rule's batch only if it holds every ready job of the rule or a full chunk, and
silently DROPS it otherwise: the jobs stay "running" for ever (plugin issue #473), so ``--jobs`` and the
submission rate must never split a rule's ready set; (b) numbers a rule's tasks 1..N across chunks, so N
must stay below MaxArraySize or sbatch refuses the later chunks; (c) gives every task the first job's
resources; (d) never makes arrays of group jobs. A grid larger than one run may hold goes in slices
(:mod:`vpbench.cluster.targets`); :func:`batches_needed` says how many.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping

from vpbench.cluster.limits import PartitionLimits
from vpbench.cluster.requests import Violation


def array_violations(
    counts: Mapping[str, int],
    *,
    array_rules: Iterable[str],
    array_limit: int,
    jobs: int | None,
    rate: int | None,
    limits: PartitionLimits,
    nonuniform: Mapping[str, int] | None = None,
    grouped: Iterable[str] = (),
) -> list[Violation]:
    """What makes array submission by snakemake-executor-plugin-slurm 2.6-2.8 fail or hang.

    ``counts``: submitted (non-local) Snakemake jobs per rule of one run or batch, all rules included.
    The plugin (a) submits a rule's batch only if it holds every ready job of the rule or a full chunk,
    and silently DROPS it otherwise: the jobs stay "running" for ever (plugin issue #473), so ``jobs``
    and the submission rate must never split a rule's ready set; (b) numbers a rule's tasks 1..N across
    chunks, so N must stay below MaxArraySize or sbatch refuses the later chunks; (c) gives every task the
    first job's resources; (d) never makes arrays of group jobs.
    """
    found = []
    rules = set(array_rules)
    selected = {rule: n for rule, n in counts.items() if rule in rules or "all" in rules}
    total = sum(selected.values())
    if limits.max_array_index is not None and array_limit > limits.max_array_index:
        found.append(
            Violation(
                "slurm-array-limit",
                "array_limit",
                array_limit,
                limits.max_array_index,
                "one chunk may not exceed MaxArraySize - 1 tasks",
            )
        )
    for rule, n in sorted(selected.items()):
        if n < 2:
            continue
        if limits.max_array_index is not None and n > limits.max_array_index:
            found.append(
                Violation(
                    rule,
                    "array tasks in one run",
                    n,
                    limits.max_array_index,
                    "the plugin numbers chunks 1..N and SLURM refuses indices >= "
                    "MaxArraySize: run in slices (python -m vpbench.cluster --slice i/n)",
                )
            )
    ready = sum(counts.values())  # every submitted rule competes for the same --jobs and rate budget
    if selected and any(n > 1 for n in selected.values()):
        for setting, cap in (("--jobs", jobs), ("max-jobs-per-timespan", rate)):
            if cap is not None and ready > cap:
                found.append(
                    Violation(
                        "ready jobs",
                        f"count vs {setting}",
                        ready,
                        cap,
                        "a rule's ready set split by this cap is dropped and the run hangs "
                        "(plugin issue #473): raise it or run in slices (python -m vpbench.cluster --slice)",
                    )
                )
    if limits.max_submit_jobs is not None and total > limits.max_submit_jobs:
        found.append(
            Violation(
                "array tasks",
                "queued at once",
                total,
                limits.max_submit_jobs,
                "MaxSubmitJobs counts every array task: run in batches",
            )
        )
    for rule, distinct in sorted((nonuniform or {}).items()):
        if distinct > 1 and rule in selected:
            found.append(
                Violation(
                    rule,
                    "distinct resource requests",
                    distinct,
                    1,
                    "an array gives every task the first job's resources",
                )
            )
    for rule in sorted(set(grouped) & (set(selected) | rules)):
        found.append(
            Violation(
                rule, "group", "set", "none", "group jobs are never arrays: drop `group:`/--groups for it"
            )
        )
    return found


def batches_needed(
    counts: Mapping[str, int], limits: PartitionLimits, jobs: int | None, rate: int | None = None
) -> int:
    """How many slices (:func:`slice_targets`) keep every array-safety bound (a slice holds at most 1/n
    of each rule's training jobs)."""
    caps = [c for c in (limits.max_array_index, limits.max_submit_jobs, jobs, rate) if c]
    total = sum(counts.values())
    return max(1, math.ceil(total / min(caps))) if caps else 1
