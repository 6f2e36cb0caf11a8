"""One cell, or a pack of cells sharing a loaded model and data, end to end: load verified inputs, build
each cell with its method, train, measure, write all outputs or none.

A pack trains its cells one after another in one process (model and caches load once), or in lockstep
(one forward/backward per step for all of them) where that is measured to be faster on the device
(:data:`LOCKSTEP_PAYS`, from ``benchmarks/packing.py``; ``packing.lockstep`` in the study overrides it).
"""

from __future__ import annotations

import hashlib
import json
import math
import platform
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

import vpbench
from vpbench import metrics
from vpbench.compression.variant_store import load_variant_model, recover_corrupt_variant, variant_sha256
from vpbench.data import load_cache, load_split
from vpbench.engine import keys
from vpbench.engine.builders import BuildContext
from vpbench.engine.cell_costs import cost_columns
from vpbench.engine.cell_outputs import class_table, write_all, write_failure
from vpbench.engine.checkpointing import CheckpointStore
from vpbench.engine.methods import get_method
from vpbench.engine.settings import TrainSettings, resolve_device, train_settings
from vpbench.engine.training import PackMember, train_pack
from vpbench.errors import CacheCorruptError, ChecksumError, NumericalError, VpbenchError
from vpbench.models import get_model_family
from vpbench.study import paths
from vpbench.study.grid import Cell
from vpbench.study.spec import Study

# Whether one forward/backward for K prompts beats K small ones, per device type (benchmarks/RESULTS.md):
# on CPUs one big batch through the frozen model is slower per image than several small ones.
LOCKSTEP_PAYS = {"cpu": False, "cuda": True}


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


def lockstep_for(study: Study, device: torch.device) -> bool:
    """Whether a pack trains in lockstep on ``device``: the study's choice, else the measured default."""
    choice = study.packing["lockstep"]
    if choice == "auto":
        return LOCKSTEP_PAYS.get(device.type, False)
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
    per step for all of them.
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
    prepared = []
    for cell, where in zip(cells, paths, strict=True):
        split = load_split(where.split, labels=train_split.labels)
        plan = keys.plan_json(study, cell)
        split_sha = hashlib.sha256(np.asarray(split.indices, dtype=np.int64).tobytes()).hexdigest()
        torch.manual_seed(cell.seed)
        method = get_method(cell.method)
        context = BuildContext(
            study, cell, method, family, net, card, train_split, test_split,
            np.asarray(split.indices, dtype=np.int64), dict(where.extra_inputs),
        )  # fmt: skip
        setup = method.build(context)
        prepared.append(
            _Prepared(cell, where, split, train_settings(study, cell), setup, plan,
                      keys.fingerprint(plan, {**inputs, "split": split_sha}))
        )  # fmt: skip
    context = (study, card, device, inputs, list(train_split.class_names))
    members = [
        PackMember(
            item.setup.model,
            item.setup.data,
            item.settings,
            CheckpointStore(item.where.checkpoint_dir),
            item.cell.label,
        )
        for item in prepared
    ]
    load_share = (time.perf_counter() - started) / max(len(prepared), 1)
    if lockstep is None:
        lockstep = lockstep_for(study, device)
    rows: dict[int, dict[str, Any]] = {}
    remaining = list(range(len(prepared)))
    while remaining:
        group = remaining if lockstep else remaining[:1]
        try:
            outcomes = train_pack([members[i] for i in group], device=device, progress=progress)
            for i, outcome in zip(group, outcomes, strict=True):
                rows[i] = _finish_cell(prepared[i], outcome, context, load_share)
        except Exception as error:
            if not is_cell_failure(error):
                raise
            failed = next((i for i in group if members[i].label in str(error)), group[0])
            rows[failed] = _record_failure(prepared[failed], error, study)
            group = [failed]  # lockstep: the others resume from their checkpoints in the next round
        remaining = [i for i in remaining if i not in rows]
    return [rows[i] for i in range(len(prepared))]


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
    CheckpointStore(item.where.checkpoint_dir).clear()  # a retry starts afresh, not from the failing state
    return row


def _compression_columns(card: Mapping[str, Any], is_dense: bool) -> dict[str, Any]:
    compress = card.get("spec", {}).get("compress") or {}
    return {
        "family": card["family"],
        "family_label": card.get("family_label", card["family"]),
        "compression": card.get("technique", "none"),
        "compression_kind": card.get("compression_kind", "dense"),
        "compression_structure": card.get("compression_structure", ""),
        "technique_label": card.get("technique_label", ""),
        "compression_level": float(card.get("compression_level", 0.0)),
        "compression_label": str(card.get("compression_label", "dense")),
        "is_dense": is_dense,
        "sparsity": _float_or_nan(card.get("sparsity")),
        "remaining_pct_paper": _float_or_nan(card.get("remaining_pct_paper")),
        "weight_bits": float(compress.get("weight_bits") or card.get("weight_bits_measured") or np.nan),
        "act_bits": float(compress.get("act_bits") or card.get("act_bits") or np.nan),
        "published_top1": _float_or_nan(card.get("published_top1")),
    }


def _float_or_nan(value: Any) -> float:
    """Card numbers may be null (e.g. no conv layer to measure); keep 0.0 as 0.0."""
    return math.nan if value is None else float(value)


def runtime_record(device: torch.device, precision: str) -> dict[str, Any]:
    """What the numbers of a run may depend on beyond its inputs: threads, device, precision, versions."""
    import torchvision

    from vpbench.runtime.numerics import numerics_record

    record = {
        **numerics_record(),  # threads (used and given), CPU kernel family, oneDNN/MKL versions
        "device": device.type,
        "device_name": torch.cuda.get_device_name(device) if device.type == "cuda" else platform.machine(),
        "precision": precision,
        "deterministic_algorithms": torch.are_deterministic_algorithms_enabled(),
        "versions": {
            "vpbench": vpbench.__version__,
            "results_version": keys.RESULTS_VERSION,
            "torch": torch.__version__,
            "torchvision": torchvision.__version__,
            "numpy": np.__version__,
            "python": platform.python_version(),
        },
    }
    if device.type == "cuda":
        record["versions"]["cuda"] = torch.version.cuda
        record["versions"]["cudnn"] = torch.backends.cudnn.version()
    return record


def _finish_cell(item: _Prepared, outcome: Any, context: tuple, load_seconds: float) -> dict[str, Any]:
    """Metrics, tables and files of one trained cell, written all together."""
    study, card, device, inputs, class_names = context
    cell, where, split, settings, setup = item.cell, item.where, item.split, item.settings, item.setup
    vp, data = setup.model, setup.data
    tick = time.perf_counter()
    scores = metrics.compute_metrics(outcome.test_logits, data.test_labels)
    scores.update(
        metrics.temperature_scaled_metrics(
            outcome.test_logits, data.test_labels, outcome.train_logits, data.train_labels
        )
    )
    from vpbench.data import get_dataset

    scores["ece_paper_compat"] = metrics.ece_paper_compat(
        outcome.test_logits, data.test_labels, get_dataset(cell.dataset).paper_ece_batch
    )
    logged = [row["eval_accuracy"] for row in outcome.history if not np.isnan(row["eval_accuracy"])]
    scores["acc_best_logged_epoch"] = max([*logged, scores["accuracy"]]) if logged else np.nan
    identity = cell.fields()
    runtime = runtime_record(device, outcome.precision)
    costs, method_outputs = cost_columns(vp, data, settings, outcome)  # trainable params by part, FLOPs
    effective_shots = int(split.effective_shots)
    row = {
        **identity,
        "shots_num": float(effective_shots),
        **_compression_columns(card, study.model(cell.model).is_dense(cell.variant)),
        "num_classes": data.num_classes,
        "train_size": len(split.indices),
        "test_size": len(data.test_labels),
        "effective_shots": effective_shots,
        "is_full": bool(split.is_full),
        **{key: float(value) for key, value in scores.items() if key not in ("num_samples", "num_classes")},
        "epochs": settings.epochs,
        "batch_size": settings.batch_size,
        "lr": settings.lr,
        "selection": settings.selection,
        **costs,
        "device": device.type,
        "precision": outcome.precision,
        "torch_threads": runtime["torch_threads"],
        "wall_load_s": load_seconds + outcome.timings.get("setup", 0.0),
        "wall_mapping_s": outcome.timings["mapping"],
        "wall_train_s": outcome.timings["train"],
        "wall_eval_s": outcome.timings["eval"] + (time.perf_counter() - tick),
        "vpbench_version": vpbench.__version__,
        "status": "ok",
        "failure_reason": "",
        "plan_key": keys.digest(item.plan),
        "cell_key": item.fingerprint,
    }
    write_started = time.perf_counter()
    probs = torch.softmax(outcome.test_logits.double(), dim=1).numpy().astype(np.float16)
    files = {
        "epochs.parquet": pd.DataFrame([{**identity, **h} for h in outcome.history]),
        "classes.parquet": class_table(
            identity, vp, outcome.test_logits, data, class_names, setup.source_names
        ),
        "test_probs.npy": probs,
        "test_labels.npy": data.test_labels.numpy(),
        "prompt.pt": {
            "delta": {k: v.detach().cpu() for k, v in vp.prompt.state_dict().items()},
            "effective": vp.prompt.effective().detach().cpu(),
            "mapping": vp.head.first_sources().detach().cpu(),
            "head": {k: v.detach().cpu() for k, v in vp.head.state_dict().items()},
        },
        "cell.json": {
            "cell": identity,
            "plan": json.loads(item.plan),
            "plan_key": row["plan_key"],
            "fingerprint": item.fingerprint,
            "inputs": {
                **inputs,
                "card": {k: card[k] for k in ("family", "weights_sha256", "spec") if k in card},
            },
            "settings": asdict(settings),
            "split": {k: v for k, v in split.record.items() if k != "indices"},
            "runtime": runtime,
            "method_outputs": method_outputs,
            "config": study.as_config(),
        },
    }
    if outcome.prompt_history is not None:
        files[paths.PROMPT_HISTORY] = outcome.prompt_history.numpy().astype(np.float16)

    def metrics_frame() -> pd.DataFrame:
        # written last, so its write time covers every other file (the metrics file itself is tiny)
        row["wall_write_s"] = time.perf_counter() - write_started
        row["wall_total_s"] = sum(
            row[part]
            for part in ("wall_load_s", "wall_mapping_s", "wall_train_s", "wall_eval_s", "wall_write_s")
        )
        return pd.DataFrame([row])

    write_all(where.out_dir, files, metrics_frame)
    CheckpointStore(where.checkpoint_dir).clear()
    return row
