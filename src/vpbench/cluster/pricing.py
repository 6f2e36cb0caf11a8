"""A study's grid priced before it runs: cells, SLURM jobs and GPU-hours per model family.

Cost model of one cell (``N`` = its training images: ``min(shots x classes, train split)``, or the whole
train split for ``full``; ``r`` = re-mapping passes: every epoch for ILM-style methods, once for FLM,
never for RLM; epochs, batch sizes and ``max_steps`` as the engine resolves them for the cell,
:func:`vpbench.engine.settings.train_settings`)::

    seconds = epochs x N / train_ips(batch)              # prompt -> frozen model -> backward -> step
            + (r x N + periodic + test + N) / eval_ips(eval_batch)   # re-mapping, logged and final evaluation

with ``epochs x N`` capped by ``max_steps x batch`` where the study sets an iteration budget. The jobs are
the ones the workflow plans (``study.packs``: a pack is every few-shot cell of one dataset, model,
variant, method and seed; every other cell is one job). A pack pays ONE start-up and trains its members
as the engine would on the priced device (:func:`vpbench.engine.cell.lockstep_for`): one after another
(the sum of the members' costs), or in lockstep, one forward/backward for the concatenation of their
batches (its training part at the throughput of the summed batch). Every SLURM job adds ``overhead_s``
(queue start, Snakemake's job-step planning, Python start-up, model and cache load). The images per
second come from a :class:`~vpbench.cluster.throughput.ThroughputTable`.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from vpbench.cluster.throughput import ThroughputTable
from vpbench.errors import ConfigError
from vpbench.study.grid import Cell
from vpbench.study.spec import Study

# Registry family (a variant's checkpoint) -> benchmarked architecture. Pruned and quantized variants
# run the dense kernels (masked weights, fake quantization), so they are priced as their architecture.
_ARCH_PATTERNS = (
    (re.compile(r"resnet18"), "resnet18"),
    (re.compile(r"resnet34"), "resnet34"),
    (re.compile(r"resnet50"), "resnet50"),
    (re.compile(r"mobilenet_v2"), "mobilenet_v2"),
    (re.compile(r"deit_tiny"), "deit_tiny"),
    (re.compile(r"swin_tiny"), "swin_tiny"),
    (re.compile(r"clip_vit_l14.*336|336.*clip_vit_l14|upop_clip_vit_l14_336"), "clip_vit_l14_336"),
    (re.compile(r"clip_vit_l14"), "clip_vit_l14_224"),
)


def architecture_of(family: str) -> str | None:
    """The benchmarked architecture a registry family runs, or None when no benchmark covers it."""
    for pattern, arch in _ARCH_PATTERNS:
        if pattern.search(family):
            return arch
    return None


def split_sizes(dataset: str) -> tuple[int, int]:
    """(train, test) images of a dataset's vpbench splits, as its registry entry declares them."""
    from vpbench.data import get_dataset

    sizes = get_dataset(dataset).split_sizes
    if sizes is None:
        raise ConfigError(
            f"dataset {dataset!r} declares no split_sizes (DatasetSpec.split_sizes: train and test images), "
            "so its cells cannot be priced"
        )
    return sizes


@dataclass(frozen=True)
class CellWork:
    """The images one cell pushes through the frozen model."""

    cell: Cell
    family: str  # the study model's (dense) family: what the report groups by
    arch: str | None
    canvas: int
    precision: str
    batch: int
    eval_batch: int
    train_images: int  # epochs x N (capped by max_steps x batch)
    steps: int
    infer_images: int  # re-mapping passes + periodic + final evaluation (test and train logits)


@dataclass(frozen=True)
class JobCost:
    """One SLURM job (a cell, or a pack of cells) and its predicted seconds on one device."""

    rule: str
    name: str  # cell label, or pack id (dataset/model/variant/method/seed<s>)
    family: str
    arch: str | None
    cells: tuple[CellWork, ...]
    seconds: float | None  # None when the architecture is not in the table
    note: str = ""

    @property
    def hours(self) -> float | None:
        return None if self.seconds is None else self.seconds / 3600


def cell_work(study: Study, cell: Cell, *, cuda: bool = True) -> CellWork:
    """What one cell computes, from its resolved training settings, its method and its dataset's sizes."""
    from vpbench.data import get_dataset
    from vpbench.engine.methods import get_method
    from vpbench.engine.settings import train_settings
    from vpbench.study.dag import variant_canvas

    method = get_method(cell.method)
    settings = train_settings(study, cell)
    variant = study.variant(cell.model, cell.variant)
    train_size, test_size = split_sizes(cell.dataset)
    classes = get_dataset(cell.dataset).num_classes
    n = train_size if cell.shots == "full" else min(int(cell.shots) * classes, train_size)
    batch, epochs = settings.batch_size, settings.epochs
    steps = epochs * math.ceil(n / batch)
    train_images = epochs * n
    if settings.max_steps:
        steps = min(steps, int(settings.max_steps))
        train_images = min(train_images, steps * batch)
    remaps = {"every": epochs, "once": 1}.get(getattr(method, "remap", "never"), 0)
    periodic = (epochs // settings.eval_every) * test_size if settings.eval_every else 0
    return CellWork(
        cell=cell,
        family=study.model(cell.model).family,
        arch=architecture_of(variant.family),
        canvas=int(variant_canvas(study, cell.fields())),
        precision=settings.precision if cuda else "fp32",  # CPU runs are always fp32
        batch=batch,
        eval_batch=settings.eval_batch_size,
        train_images=train_images,
        steps=steps,
        infer_images=remaps * n + periodic + test_size + n,
    )


def job_cost(
    rule: str,
    name: str,
    works: Sequence[CellWork],
    table: ThroughputTable,
    device: str,
    overhead_s: float,
    *,
    lockstep: bool = False,
) -> JobCost:
    """Seconds of one SLURM job: one start-up, then its members' training (one after another at their
    own batch, or in lockstep at the throughput of their summed batch) and inference passes."""
    first = works[0]
    try:
        entry, note = table.lookup(device, first.arch or "?", first.canvas, first.precision)
    except KeyError as error:
        return JobCost(rule, name, first.family, first.arch, tuple(works), None, str(error.args[0]))
    if lockstep and len(works) > 1:
        images = sum(w.train_images for w in works)
        steps = max(w.steps for w in works)
        training = images / entry.train_ips(images / steps if steps else first.batch)
    else:
        training = sum(w.train_images / entry.train_ips(w.batch) for w in works)
    inference = sum(w.infer_images / entry.eval_ips(w.eval_batch) for w in works)
    return JobCost(
        rule, name, first.family, first.arch, tuple(works), overhead_s + training + inference, note
    )


@dataclass
class PricedGrid:
    """A study's planned SLURM training jobs with their predicted cost on one device."""

    study: str
    device: str
    device_info: dict[str, Any]
    cells: int
    jobs: list[JobCost]
    lockstep: bool = False  # whether packs were priced in lockstep (else one member after another)

    @property
    def unpriced(self) -> list[JobCost]:
        return [j for j in self.jobs if j.seconds is None]

    def by_family(self) -> list[dict[str, Any]]:
        """One row per model family: cells, cell jobs, pack jobs, GPU-hours, longest job."""
        rows: dict[str, dict[str, Any]] = {}
        for job in self.jobs:
            row = rows.setdefault(
                job.family,
                {
                    "family": job.family,
                    "arch": job.arch,
                    "cells": 0,
                    "cell_jobs": 0,
                    "pack_jobs": 0,
                    "gpu_hours": 0.0,
                    "longest_job_h": 0.0,
                    "unpriced_jobs": 0,
                },
            )
            row["cells"] += len(job.cells)
            row["cell_jobs" if job.rule == "train_cell" else "pack_jobs"] += 1
            if job.hours is None:
                row["unpriced_jobs"] += 1
                continue
            row["gpu_hours"] += job.hours
            row["longest_job_h"] = max(row["longest_job_h"], job.hours)
        return sorted(rows.values(), key=lambda r: -r["gpu_hours"])

    @property
    def gpu_hours(self) -> float:
        return sum(j.hours for j in self.jobs if j.hours is not None)

    def longest(self, rule: str | None = None) -> JobCost | None:
        priced = [j for j in self.jobs if j.seconds is not None and (rule is None or j.rule == rule)]
        return max(priced, key=lambda j: j.seconds) if priced else None


def packs_in_lockstep(study: Study, device_kind: str) -> bool:
    """Whether the engine trains this study's packs in lockstep on a device of this kind."""
    from vpbench.engine.cell import lockstep_for

    return lockstep_for(study, device_kind)


def price_study(
    study: Study,
    table: ThroughputTable | None = None,
    *,
    device: str | None = None,
    overhead_s: float = 60.0,
) -> PricedGrid:
    """Price every training job the workflow plans for ``study`` (its packs, and every cell outside a
    pack) on ``device`` of ``table`` (default: the committed CPU fallback)."""
    table = table or ThroughputTable.load()
    device = device or table.default_device()
    if device not in table.devices:
        raise ConfigError(
            f"device {device!r} is not in the throughput table; devices: {', '.join(table.devices)}"
        )
    kind = str(table.devices[device].get("kind", "cpu"))
    lockstep = packs_in_lockstep(study, kind)
    works = {cell: cell_work(study, cell, cuda=kind == "cuda") for cell in study.cells}
    jobs = [
        job_cost(
            "train_pack", pack, [works[c] for c in members], table, device, overhead_s, lockstep=lockstep
        )
        for pack, members in study.packs.items()
    ]
    packed = {cell for members in study.packs.values() for cell in members}
    jobs += [
        job_cost("train_cell", cell.label, [works[cell]], table, device, overhead_s)
        for cell in study.cells
        if cell not in packed
    ]
    return PricedGrid(study.name, device, table.devices[device], len(study.cells), jobs, lockstep)
