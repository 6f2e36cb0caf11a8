"""The training jobs of a study as Snakemake targets, and slices of them small enough for one run.

The paper grid (10,119 training jobs) is larger than one run may submit as arrays (MaxArraySize − 1
tasks per rule, MaxSubmitJobs): it runs in slices, each given to Snakemake as targets. Snakemake's own
``--batch`` does not slice this workflow (the ``aggregate`` rule asks for every cell, so each batch
still plans all of them).
"""

from __future__ import annotations

from collections.abc import Sequence

from vpbench.study import paths
from vpbench.study.spec import Study


def training_targets(study: Study) -> list[tuple[str, str]]:
    """(rule, output) of every training job the workflow plans: one pack's first member's metrics (the
    pack rule makes all of them, ``ruleorder: train_pack > train_cell``) and every unpacked cell's."""
    packed = {cell for members in study.packs.values() for cell in members}
    targets = [
        ("train_pack", f"{paths.cell_dir(members[0])}/metrics.parquet") for members in study.packs.values()
    ]
    targets += [
        ("train_cell", f"{paths.cell_dir(cell)}/metrics.parquet")
        for cell in study.cells
        if cell not in packed
    ]
    return targets


def training_job_counts(study: Study) -> dict[str, int]:
    """How many ``train_cell`` and ``train_pack`` jobs the workflow plans for the whole grid."""
    packed = sum(len(members) for members in study.packs.values())
    return {"train_cell": len(study.cells) - packed, "train_pack": len(study.packs)}


def slice_targets(targets: Sequence[tuple[str, str]], index: int, count: int) -> list[str]:
    """Slice ``index`` of ``count`` (1-based) of the training targets: every ``count``-th job, so that each
    slice holds at most ceil(n / count) jobs of each rule. ``snakemake <targets>`` then plans just those
    jobs and what they need."""
    if not 1 <= index <= count:
        raise ValueError(f"slice {index}/{count}: the index runs from 1 to {count}")
    return [path for k, (_, path) in enumerate(targets) if k % count == index - 1]
