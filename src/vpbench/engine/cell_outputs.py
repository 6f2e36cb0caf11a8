"""Writing a finished cell: its tables and arrays, all together or not at all.

Files go into a staging folder next to the cell folder and move into place only once every one of them
exists, ``metrics.parquet`` last, so a cell folder holds all of a cell's outputs or none of them.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from vpbench import metrics
from vpbench.engine.output_mapping import LinearMapping
from vpbench.engine.vp_model import CellData, VisualPromptModel
from vpbench.runtime import atomic_io


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
