"""One cell, or a pack of cells sharing a loaded model and data, end to end: load verified inputs, build
each cell with its method, train, measure, write all outputs or none.

A pack trains its cells one after another in one process (model and caches load once), or in lockstep
(one forward/backward per step for all of them) where that is measured to be faster on the device
(:data:`LOCKSTEP_PAYS`, from ``benchmarks/packing.py``; ``packing.lockstep`` in the study overrides it).
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from vpbench.compression.variant_store import load_variant_model, recover_corrupt_variant, variant_sha256
from vpbench.data import load_cache, load_split
from vpbench.engine import keys
from vpbench.engine.builders import BuildContext
from vpbench.engine.calibrate import CellTraining, cell_protocol, clear_checkpoints
from vpbench.engine.cell_outputs import finish_cell, runtime_record, write_failure  # noqa: F401
from vpbench.engine.checkpointing import CheckpointStore
from vpbench.engine.methods import get_method
from vpbench.engine.settings import TrainSettings, resolve_device, train_settings
from vpbench.engine.training import PackMember, TrainOutcome, fitted_outside_loop, train_pack
from vpbench.errors import CacheCorruptError, ChecksumError, NumericalError, VpbenchError
from vpbench.models import get_model_family
from vpbench.study import paths
from vpbench.study.grid import Cell
from vpbench.study.spec import Study

# Whether one forward/backward for K prompts beats K small ones, per device type (benchmarks/RESULTS.md,
# benchmarks/packing.py): on CPUs one big batch is slower per image than several small ones; on an H100,
# K=8 MobileNetV2 cells trained 0.90x as fast in lockstep at 1 shot and 1.22x at 10 shots, not faster at
# every N, so packs train their cells one after another in one process there too.
LOCKSTEP_PAYS = {"cpu": False, "cuda": False}


@dataclass(frozen=True)
class CellPaths:
    """Where one cell reads its split and writes its outputs and checkpoint."""

    split: Path
    out_dir: Path
    checkpoint_dir: Path
    extra_inputs: Mapping[str, Path] = field(default_factory=dict)


def _load_verified_inputs(variant_dir: Path, train_cache: Path, test_cache: Path) -> tuple:
    """Load the variant and both caches, checksums first. A corrupt one loses its manifest (or card, and
    a corrupt acquired weights file its acquisition record), so the next ``snakemake`` run rebuilds it
    instead of reusing it, and this cell fails saying so."""
    try:
        net, card = load_variant_model(variant_dir)
    except ChecksumError as error:
        raise ChecksumError(recover_corrupt_variant(variant_dir, error)) from None
    caches = []
    for cache in (train_cache, test_cache):
        try:
            caches.append(load_cache(cache, verify=True))
        except CacheCorruptError as error:
            (Path(cache) / "manifest.json").unlink(missing_ok=True)
            raise CacheCorruptError(f"{error} Its manifest was removed; rerun to rebuild {cache}.") from None
    return net, card, caches[0], caches[1]


def lockstep_for(study: Study, device: torch.device | str) -> bool:
    """Whether a pack trains in lockstep on ``device`` (or a device type, e.g. ``"cuda"``, as the grid's
    pricing asks): the study's choice, else the measured default."""
    choice = study.packing["lockstep"]
    if choice == "auto":
        return LOCKSTEP_PAYS.get(device if isinstance(device, str) else device.type, False)
    return choice == "always"


def run_cell(
    *,
    study: Study,
    cell: Cell,
    variant_dir: Path,
    train_cache: Path,
    test_cache: Path,
    split_path: Path,
    out_dir: Path,
    checkpoint_dir: Path,
    extra_inputs: Mapping[str, Path] | None = None,
    progress: bool = True,
) -> dict[str, Any]:
    """Train and evaluate one cell and write its outputs; returns the metrics row."""
    where = CellPaths(split_path, out_dir, checkpoint_dir, dict(extra_inputs or {}))
    return run_pack(
        study=study, cells=[cell], paths=[where], variant_dir=variant_dir, train_cache=train_cache,
        test_cache=test_cache, progress=progress,
    )[0]  # fmt: skip


@dataclass
class _Prepared:
    cell: Cell
    where: CellPaths
    split: Any
    settings: TrainSettings
    setup: Any
    plan: str
    fingerprint: str
    training: CellTraining


def _prepare(study: Study, cell: Cell, where: CellPaths, loaded: tuple, inputs: dict) -> _Prepared:
    """Build one cell's reported prompt with its method, and its calibration prompts (engine.calibrate)."""
    net, card, family, train_split, test_split = loaded
    split = load_split(where.split, labels=train_split.labels)
    plan = keys.plan_json(study, cell)
    indices = np.asarray(split.indices, dtype=np.int64)
    split_sha = hashlib.sha256(indices.tobytes()).hexdigest()
    torch.manual_seed(cell.seed)
    method = get_method(cell.method)
    context = BuildContext(
        study, cell, method, family, net, card, train_split, test_split, indices, dict(where.extra_inputs)
    )
    setup = method.build(context)
    settings = train_settings(study, cell)
    protocol = cell_protocol(
        setup.data.train_labels.numpy(), setup.data.num_classes, cell.shots, cell.seed,
        study.calibration["temperature"], settings.selection, epochs=not fitted_outside_loop(setup.model),
    )  # fmt: skip
    main = PackMember(setup.model, setup.data, settings, CheckpointStore(where.checkpoint_dir), cell.label)
    training = CellTraining.build(protocol, main, where.checkpoint_dir)
    fingerprint = keys.fingerprint(plan, {**inputs, "split": split_sha})
    return _Prepared(cell, where, split, settings, setup, plan, fingerprint, training)


def run_pack(
    *,
    study: Study,
    cells: Sequence[Cell],
    paths: Sequence[CellPaths],
    variant_dir: Path,
    train_cache: Path,
    test_cache: Path,
    progress: bool = True,
    lockstep: bool | None = None,
) -> list[dict[str, Any]]:
    """Train cells of one (model variant, dataset) in one process; returns each cell's metrics row.

    The variant and caches load once. Cells train one after another (each written as soon as it is
    done) unless ``lockstep`` (default: :func:`lockstep_for` the device) asks for one forward/backward
    per step for all of them. A cell's calibration prompts are further members of the pack.
    """
    started = time.perf_counter()
    device = resolve_device(study.device)
    net, card, train_split, test_split = _load_verified_inputs(variant_dir, train_cache, test_cache)
    family = get_model_family(card["family"])
    inputs = {
        "model": variant_sha256(card),
        "train": train_split.manifest.get("sha256"),
        "test": test_split.manifest.get("sha256"),
    }
    loaded = (net, card, family, train_split, test_split)
    prepared = [_prepare(study, c, w, loaded, inputs) for c, w in zip(cells, paths, strict=True)]
    context = (study, card, device, inputs, list(train_split.class_names))
    load_share = (time.perf_counter() - started) / max(len(prepared), 1)
    if lockstep is None:
        lockstep = lockstep_for(study, device)
    rows: dict[int, dict[str, Any]] = {}
    for group in [list(range(len(prepared)))] if lockstep else [[i] for i in range(len(prepared))]:
        pending = group
        while pending:
            try:
                _train_cells([prepared[i].training for i in pending], device, progress, lockstep)
                for i in pending:
                    rows[i] = finish_cell(prepared[i], context, load_share)
                pending = []
            except Exception as error:
                if not is_cell_failure(error):
                    raise
                failed = next((i for i in pending if prepared[i].cell.label in str(error)), pending[0])
                rows[failed] = _record_failure(prepared[failed], error, study)
                # lockstep: the others resume from their checkpoints in the next round
                pending = [i for i in pending if i not in rows]
                for i in pending:
                    prepared[i].training.reset()
    return [rows[i] for i in range(len(prepared))]


def _train_cells(trainings: list[CellTraining], device: torch.device, progress: bool, lockstep: bool) -> None:
    """Both phases of every cell (engine.calibrate): first the members that choose the reported epoch (or
    all), then those that report the chosen epoch; all cells' members of a phase train together."""

    def train(members: list[PackMember]) -> list[TrainOutcome]:
        if lockstep:
            return train_pack(members, device=device, progress=progress) if members else []
        return [train_pack([member], device=device, progress=progress)[0] for member in members]

    firsts = [t.first() for t in trainings]
    outcomes = iter(train([m for members in firsts for m in members]))
    first = [[next(outcomes) for _ in members] for members in firsts]
    seconds = [t.second(outcome) for t, outcome in zip(trainings, first, strict=True)]
    outcomes = iter(train([m for members in seconds for m in members]))
    for t, outcome, members in zip(trainings, first, seconds, strict=True):
        t.take(outcome, [next(outcomes) for _ in members])


def is_cell_failure(error: BaseException) -> bool:
    """Whether ``error`` is this cell's own result (recorded, retried by the next run) rather than a fault
    of the job (disk, memory, preemption, bad inputs), which fails the job so Snakemake reports it."""
    if isinstance(error, NumericalError):
        return True
    return not isinstance(error, OSError | MemoryError | VpbenchError | torch.cuda.OutOfMemoryError)


def _record_failure(item: _Prepared, error: BaseException, study: Study) -> dict[str, Any]:
    """Write the failure record of one cell (every declared file, status ``failed``) and log the cause."""
    import traceback

    reason = f"{type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''}".strip()
    print(f"cell {item.cell.label} FAILED: {reason}", flush=True)
    traceback.print_exception(error)
    row = {**item.cell.fields(), "status": "failed", "failure_reason": reason,
           "plan_key": keys.digest(item.plan), "cell_key": item.fingerprint}  # fmt: skip
    write_failure(item.where.out_dir, row, paths.cell_files(study), {"plan": json.loads(item.plan)})
    clear_checkpoints(item.where.checkpoint_dir)  # a retry starts afresh, not from the failing state
    return row
