"""Writing a finished cell: its metrics row, tables and arrays, all together or not at all.

Files go into a staging folder next to the cell folder and move into place only once every one of them
exists, ``metrics.parquet`` last, so a cell folder holds all of a cell's outputs or none of them.
"""

from __future__ import annotations

import json
import math
import os
import platform
import shutil
import socket
import tempfile
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

import vpbench
from vpbench import metrics
from vpbench.calibration import classwise_ece
from vpbench.engine import keys
from vpbench.engine.calibrate import clear_checkpoints
from vpbench.engine.cell_costs import cost_columns
from vpbench.engine.output_mapping import LinearMapping
from vpbench.engine.vp_model import CellData, VisualPromptModel
from vpbench.runtime import atomic_io
from vpbench.study import paths

# Columns of the metrics row that are not floats (identifiers and the like are added separately).
TEXT_COLUMNS = ("calibration_strategy", "calibration_reason", "selection", "selection_reason")
INT_COLUMNS = ("calibration_n", "selected_epoch", "calibration_prompts")
WALL_PARTS = (
    "wall_load_s", "wall_mapping_s", "wall_train_s", "wall_eval_s", "wall_calibration_s", "wall_write_s"
)  # fmt: skip


def class_table(
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


def write_all(out_dir: Path, files: Mapping[str, Any], metrics_frame: Callable[[], pd.DataFrame]) -> None:
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


def write_failure(
    out_dir: Path, row: Mapping[str, Any], names: tuple[str, ...], record: Mapping[str, Any]
) -> None:
    """Write a failed cell's declared files: ``metrics.parquet`` with ``status = failed`` and the reason,
    ``cell.json`` with the plan, every other file empty. Aggregation lists the cell as failed, and the
    ``study_status`` rule removes these files at the end of the run so that the next run retries it."""
    identity = {k: row[k] for k in ("study", "dataset", "model", "variant", "method", "shots", "seed")}
    empty = pd.DataFrame([identity]).iloc[0:0]
    files: dict[str, Any] = {}
    for name in names:
        if name == "metrics.parquet":
            continue
        if name.endswith(".parquet"):
            files[name] = empty
        elif name.endswith(".npy"):
            files[name] = np.zeros(0, dtype=np.float32)
        elif name.endswith(".pt"):
            files[name] = {}
        else:
            files[name] = {"status": "failed", "cell": identity, **row, **record}
    write_all(out_dir, files, lambda: pd.DataFrame([dict(row)]))


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


def compression_columns(card: Mapping[str, Any], is_dense: bool) -> dict[str, Any]:
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


def finish_cell(item: Any, context: tuple, load_seconds: float) -> dict[str, Any]:
    """Metrics, tables and files of one trained cell (``engine.cell._Prepared``), written all together."""
    from vpbench.data import get_dataset

    study, card, device, inputs, class_names = context
    cell, where, split, settings, setup = item.cell, item.where, item.split, item.settings, item.setup
    vp, data, training = setup.model, setup.data, item.training
    outcome = training.main_outcome
    tick = time.perf_counter()
    scores = metrics.compute_metrics(outcome.test_logits, data.test_labels)
    probs64 = torch.softmax(outcome.test_logits.double(), dim=1).numpy()
    scores["classwise_ece"] = classwise_ece(probs64, data.test_labels.numpy())
    scores["ece_paper_compat"] = metrics.ece_paper_compat(
        outcome.test_logits, data.test_labels, get_dataset(cell.dataset).paper_ece_batch
    )
    calibration = training.columns(outcome.test_logits, data.test_labels)
    logged = [row["eval_accuracy"] for row in outcome.history if not np.isnan(row["eval_accuracy"])]
    scores["acc_best_logged_epoch"] = max([*logged, scores["accuracy"]]) if logged else np.nan
    identity = cell.fields()
    runtime = runtime_record(device, outcome.precision)
    costs, method_outputs = cost_columns(vp, data, settings, outcome)  # trainable params by part, FLOPs
    effective_shots = int(split.effective_shots)
    row = {
        **identity,
        "shots_num": float(effective_shots),
        **compression_columns(card, study.model(cell.model).is_dense(cell.variant)),
        "num_classes": data.num_classes,
        "train_size": len(split.indices),
        "test_size": len(data.test_labels),
        "effective_shots": effective_shots,
        "is_full": bool(split.is_full),
        **{key: float(value) for key, value in scores.items() if key not in ("num_samples", "num_classes")},
        **{key: _typed(key, value) for key, value in calibration.items()},
        "epochs": settings.epochs,
        "batch_size": settings.batch_size,
        "lr": settings.lr,
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
    probs = probs64.astype(np.float16)
    files = {
        "epochs.parquet": pd.DataFrame([{**identity, **h} for h in training.epoch_rows()]),
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
            "calibration": training.record(),
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
        row["wall_total_s"] = sum(row[part] for part in WALL_PARTS)
        return pd.DataFrame([row])

    write_all(where.out_dir, files, metrics_frame)
    clear_checkpoints(where.checkpoint_dir)
    return row


def _typed(key: str, value: Any) -> Any:
    """Calibration columns in their schema types (docs/SCHEMA.md)."""
    if key in TEXT_COLUMNS:
        return str(value)
    if key in INT_COLUMNS:
        return int(value)
    if key == "temperature_hit_bound":
        return bool(value)
    return float(value)
