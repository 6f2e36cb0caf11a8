"""One cell end to end: load the variant, the cached data and the N-shot split, train, measure, write.

All files appear together or not at all: they are written into a staging folder next to the cell
folder and moved into place only once every one of them exists.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import platform
import shutil
import socket
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

import vpbench
from vpbench import metrics
from vpbench.compression.variant_store import load_variant_model
from vpbench.data import load_cache, load_split
from vpbench.engine.builders import BuildContext, get_builder
from vpbench.engine.checkpointing import CheckpointStore
from vpbench.engine.methods import get_method
from vpbench.engine.output_mapping import LinearMapping
from vpbench.engine.training import CellData, PackMember, TrainSettings, VisualPromptModel, train_pack
from vpbench.errors import CacheCorruptError, ChecksumError
from vpbench.models import get_model_family
from vpbench.runtime import atomic_io
from vpbench.study.grid import CELL_FILES, Cell, batch_size_for, dense_variant, training_for

PAPER_ECE_BATCH = 128  # the authors' test-loader batch (§8.7)


def resolve_device(requested: str) -> torch.device:
    """``auto`` → CUDA when available, else CPU."""
    if requested == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(requested)


def train_settings(config: Mapping[str, Any], cell: Cell) -> TrainSettings:
    """Resolve a cell's optimisation from the method's published recipe and the study's overrides."""
    method = get_method(cell.method)
    training = training_for(config, cell.method)
    return TrainSettings(
        epochs=int(training["epochs"]),
        batch_size=batch_size_for({"training": training}, cell.shots),
        optimizer=method.optimizer,
        lr=float(training.get("lr") or method.lr),
        momentum=method.momentum,
        weight_decay=method.weight_decay,
        schedule=method.schedule,
        milestones=tuple(training.get("milestones", (0.5, 0.72))),
        gamma=float(training.get("gamma", 0.1)),
        warmup_steps=int(training.get("warmup_steps") or method.warmup_steps),
        eval_every=int(training.get("eval_every", 0)),
        eval_batch_size=int(training.get("eval_batch_size", 256)),
        amp=bool(training.get("amp", True)),
        seed=cell.seed,
        save_prompt_history=bool(training.get("save_prompt_history", False)),
        max_steps=training.get("max_steps"),
    )


def _load_verified_inputs(variant_dir: Path, train_cache: Path, test_cache: Path) -> tuple:
    """Load the variant and both caches, checksums first. A corrupt one loses its manifest (or card), so
    the next ``snakemake`` run rebuilds it instead of reusing it, and this cell fails saying so."""
    try:
        net, card = load_variant_model(variant_dir)
    except ChecksumError as error:
        (Path(variant_dir) / "card.json").unlink(missing_ok=True)
        raise ChecksumError(
            f"{error} The variant's card was removed; rerun to rebuild {variant_dir}."
        ) from None
    caches = []
    for cache in (train_cache, test_cache):
        try:
            caches.append(load_cache(cache, verify=True))
        except CacheCorruptError as error:
            (Path(cache) / "manifest.json").unlink(missing_ok=True)
            raise CacheCorruptError(f"{error} Its manifest was removed; rerun to rebuild {cache}.") from None
    return net, card, caches[0], caches[1]


def _identity_columns(cell: Cell) -> dict[str, Any]:
    return {
        "study": cell.study, "dataset": cell.dataset, "model": cell.model, "variant": cell.variant,
        "method": cell.method, "shots": cell.shots, "seed": cell.seed,
    }  # fmt: skip


def _float_or_nan(value: Any) -> float:
    """Card numbers may be null (e.g. no conv layer to measure); keep 0.0 as 0.0."""
    return math.nan if value is None else float(value)


def _compression_columns(card: Mapping[str, Any], is_dense: bool) -> dict[str, Any]:
    spec = card.get("spec", {})
    compress = spec.get("compress", {})
    return {
        "family": card["family"],
        "compression": compress.get("method") or card.get("family_compression", "none"),
        "compression_level": float(card.get("compression_level", 0.0)),
        "compression_label": str(card.get("compression_label", "dense")),
        "is_dense": is_dense,
        "sparsity": _float_or_nan(card.get("sparsity")),
        "remaining_pct_paper": _float_or_nan(card.get("remaining_pct_paper")),
        "weight_bits": float(compress.get("weight_bits") or np.nan),
        "act_bits": float(compress.get("act_bits") or np.nan),
    }


@dataclass(frozen=True)
class CellPaths:
    """Where one cell reads its split and writes its outputs and checkpoint."""

    split: Path
    out_dir: Path
    checkpoint_dir: Path
    extra_inputs: Mapping[str, Path] = field(default_factory=dict)


def run_cell(
    *,
    config: Mapping[str, Any],
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
    paths = CellPaths(split_path, out_dir, checkpoint_dir, dict(extra_inputs or {}))
    return run_pack(
        config=config, cells=[cell], paths=[paths], variant_dir=variant_dir, train_cache=train_cache,
        test_cache=test_cache, progress=progress,
    )[0]  # fmt: skip


def run_pack(
    *,
    config: Mapping[str, Any],
    cells: Sequence[Cell],
    paths: Sequence[CellPaths],
    variant_dir: Path,
    train_cache: Path,
    test_cache: Path,
    progress: bool = True,
    skip_complete: bool = False,
) -> list[dict[str, Any] | None]:
    """Train cells of one (model variant, dataset) in one process, one forward/backward per step for all.

    The variant and caches load once. With ``skip_complete``, a cell whose outputs exist with the same
    fingerprint (inputs, settings, version) is left alone and returns None.
    """
    started = time.perf_counter()
    device = resolve_device(config.get("device", "auto"))
    net, card, train_split, test_split = _load_verified_inputs(variant_dir, train_cache, test_cache)
    prepared = []
    for cell, where in zip(cells, paths, strict=True):
        split = load_split(where.split, labels=train_split.labels)
        settings = train_settings(config, cell)
        fingerprint = _fingerprint(cell, settings, card, train_split, test_split, split)
        if skip_complete and _is_complete(where.out_dir, fingerprint):
            prepared.append(None)
            continue
        torch.manual_seed(cell.seed)
        method = get_method(cell.method)
        indices = np.asarray(split.indices, dtype=np.int64)
        context = BuildContext(
            config, cell, method, get_model_family(card["family"]), net, card, train_split, test_split,
            indices, dict(where.extra_inputs),
        )  # fmt: skip
        setup = get_builder(method.builder)(context)
        prepared.append((cell, where, split, settings, setup, fingerprint))
    todo = [item for item in prepared if item is not None]
    members = [
        PackMember(setup.model, setup.data, settings, CheckpointStore(where.checkpoint_dir), cell.label)
        for cell, where, split, settings, setup, _ in todo
    ]
    load_share = (time.perf_counter() - started) / max(len(todo), 1)
    outcomes = iter(train_pack(members, device=device, progress=progress) if members else [])
    rows: list[dict[str, Any] | None] = []
    for item in prepared:
        if item is None:
            rows.append(None)
            continue
        cell, where, split, settings, setup, fingerprint = item
        context = (config, card, train_split, test_split, device, fingerprint)
        rows.append(_finish_cell(cell, where, split, settings, setup, next(outcomes), context, load_share))
    return rows


def _finish_cell(cell, where, split, settings, setup, outcome, context, load_seconds) -> dict[str, Any]:
    """Metrics, tables and files of one trained cell, written all together."""
    config, card, train_split, test_split, device, fingerprint = context
    vp, data = setup.model, setup.data
    tick = time.perf_counter()
    scores = metrics.compute_metrics(outcome.test_logits, data.test_labels)
    scores.update(
        metrics.temperature_scaled_metrics(
            outcome.test_logits, data.test_labels, outcome.train_logits, data.train_labels
        )
    )
    scores["ece_paper_compat"] = metrics.ece_paper_compat(
        outcome.test_logits, data.test_labels, PAPER_ECE_BATCH
    )
    logged = [row["eval_accuracy"] for row in outcome.history if not np.isnan(row["eval_accuracy"])]
    scores["acc_best_logged_epoch"] = max([*logged, scores["accuracy"]]) if logged else np.nan

    identity = _identity_columns(cell)
    is_dense = cell.variant == dense_variant(config, cell.model)
    effective_shots = int(split.effective_shots)
    row = {
        **identity,
        "shots_num": float(effective_shots),
        **_compression_columns(card, is_dense),
        "num_classes": data.num_classes,
        "train_size": len(split.indices),
        "test_size": len(data.test_labels),
        "effective_shots": effective_shots,
        "is_full": bool(split.is_full),
        **{key: float(value) for key, value in scores.items() if key not in ("num_samples", "num_classes")},
        "epochs": settings.epochs,
        "batch_size": settings.batch_size,
        "lr": settings.lr,
        "device": device.type,
        "precision": outcome.precision,
        "wall_load_s": load_seconds + outcome.timings.get("setup", 0.0),
        "wall_mapping_s": outcome.timings["mapping"],
        "wall_train_s": outcome.timings["train"],
        "wall_eval_s": outcome.timings["eval"] + (time.perf_counter() - tick),
        "vpbench_version": vpbench.__version__,
    }
    classes = _class_table(
        identity, vp, outcome.test_logits, data, train_split.class_names, setup.source_names
    )
    probs = torch.softmax(outcome.test_logits.double(), dim=1).numpy().astype(np.float16)
    write_started = time.perf_counter()
    provenance = _provenance(config, cell, card, train_split, test_split, split, settings, device)
    provenance["fingerprint"] = fingerprint
    files = {
        "epochs.parquet": pd.DataFrame([{**identity, **h} for h in outcome.history]),
        "classes.parquet": classes,
        "test_probs.npy": probs,
        "test_labels.npy": data.test_labels.numpy(),
        "prompt.pt": {
            "delta": {k: v.detach().cpu() for k, v in vp.prompt.state_dict().items()},
            "effective": vp.prompt.effective().detach().cpu(),
            "mapping": vp.head.first_sources().detach().cpu(),
        },
        "cell.json": provenance,
    }
    if outcome.prompt_history is not None:
        files["prompt_history.npy"] = outcome.prompt_history.numpy().astype(np.float16)

    def metrics_frame() -> pd.DataFrame:
        # written last, so its write time covers every other file (the metrics file itself is tiny)
        row["wall_write_s"] = time.perf_counter() - write_started
        row["wall_total_s"] = sum(
            row[part]
            for part in ("wall_load_s", "wall_mapping_s", "wall_train_s", "wall_eval_s", "wall_write_s")
        )
        return pd.DataFrame([row])

    _write_all(where.out_dir, files, metrics_frame)
    CheckpointStore(where.checkpoint_dir).clear()
    return row


def _fingerprint(cell, settings, card, train_split, test_split, split) -> str:
    """sha256 over everything that decides a cell's result: inputs' checksums, settings, version."""
    payload = {
        "cell": cell.__dict__,
        "settings": settings.__dict__,
        "model": card.get("model_sha256") or card.get("weights_sha256"),
        "spec": card.get("spec"),
        "train": train_split.manifest.get("sha256"),
        "test": test_split.manifest.get("sha256"),
        "split": hashlib.sha256(np.asarray(split.indices, dtype=np.int64).tobytes()).hexdigest(),
        "version": vpbench.__version__,
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()


def _is_complete(out_dir: Path, fingerprint: str) -> bool:
    """All outputs present and produced from the same fingerprint."""
    if not all((Path(out_dir) / name).is_file() for name in CELL_FILES):
        return False
    try:
        return json.loads((Path(out_dir) / "cell.json").read_text()).get("fingerprint") == fingerprint
    except (OSError, ValueError):
        return False


def _class_table(
    identity: dict[str, Any],
    vp: VisualPromptModel,
    logits: torch.Tensor,
    data: CellData,
    names: list[str],
    source_names: list[str],
) -> pd.DataFrame:
    per_class = metrics.per_class_accuracy(logits, data.test_labels, data.num_classes)
    counts = np.bincount(data.test_labels.numpy(), minlength=data.num_classes)
    sources = vp.head.first_sources().cpu().numpy()
    linear = isinstance(vp.head, LinearMapping)
    return pd.DataFrame(
        [
            {
                **identity,
                "class_index": c,
                "class_name": names[c],
                "source_index": -1 if linear else int(sources[c]),
                "source_name": ("(learned linear map) " if linear else "") + source_names[int(sources[c])],
                "accuracy": float(per_class[c]),
                "count": int(counts[c]),
            }
            for c in range(data.num_classes)
        ]
    )


def _provenance(config, cell, card, train_split, test_split, split, settings, device) -> dict[str, Any]:
    return {
        "cell": cell.__dict__,
        "config": dict(config),
        "settings": settings.__dict__,
        "model": {k: card[k] for k in ("family", "weights_sha256", "spec") if k in card},
        "model_pt_sha256": card.get("model_sha256"),
        "train_cache": train_split.manifest,
        "test_cache_sha256": test_split.manifest.get("sha256"),
        "split": {k: v for k, v in split.record.items() if k != "indices"},
        "device": str(device),
        "versions": {
            "vpbench": vpbench.__version__,
            "torch": torch.__version__,
            "python": platform.python_version(),
            "numpy": np.__version__,
        },
    }


def _write_all(out_dir: Path, files: Mapping[str, Any], metrics_frame: Callable[[], pd.DataFrame]) -> None:
    """Write every file into a staging folder, then ``metrics.parquet``, then move them all into ``out_dir``
    (metrics last): a cell folder holds all of a cell's outputs or none of them."""
    out_dir.mkdir(parents=True, exist_ok=True)
    prefix = f".staging-{socket.gethostname()}-{os.getpid()}-"
    staging = Path(tempfile.mkdtemp(prefix=prefix, dir=out_dir))
    files = dict(files)
    try:
        for name, content in [*files.items(), ("metrics.parquet", None)]:
            if name == "metrics.parquet":
                content = files[name] = metrics_frame()
            target = staging / name
            if name.endswith(".parquet"):
                atomic_io.write_parquet(target, content)
            elif name.endswith(".npy"):
                atomic_io.save_numpy(target, content)
            elif name.endswith(".pt"):
                atomic_io.save_torch(target, content)
            else:
                atomic_io.write_text(
                    target, json.dumps(content, indent=2, sort_keys=True, default=str) + "\n"
                )
        for name in sorted(files, key=lambda n: n == "metrics.parquet"):
            (staging / name).replace(out_dir / name)
        _remove_dead_staging(out_dir)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _remove_dead_staging(out_dir: Path) -> None:
    """Remove staging folders that killed runs of this cell left on this host (their process is gone)."""
    for folder in out_dir.glob(f".staging-{socket.gethostname()}-*"):
        try:
            pid = int(folder.name.removeprefix(f".staging-{socket.gethostname()}-").split("-")[0])
            os.kill(pid, 0)
        except ProcessLookupError:
            shutil.rmtree(folder, ignore_errors=True)
        except (ValueError, PermissionError):
            continue
