"""Cell outputs → tidy per-study tables (docs/SCHEMA.md): metrics, epochs, classes, reliability bins.

Every figure and table reads what this module writes, so identifiers and dtypes are decided here once.
Cells whose recorded plan differs from the study's are refused (a result is never stale), naming each
cell and what differs.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa

from vpbench import metrics
from vpbench.errors import VpbenchError
from vpbench.results.frames import dense_variants
from vpbench.runtime import atomic_io
from vpbench.study import paths
from vpbench.study.grid import IDENTIFIERS

CELL_FILES: dict[str, str] = {
    "cells": "metrics.parquet",
    "epochs": "epochs.parquet",
    "classes": "classes.parquet",
}
MISSING_COLUMNS: tuple[str, ...] = (*IDENTIFIERS, "cell_dir", "file", "reason", "rule", "log")

IdentifierKey = tuple[str, str, str, str, str, str, int]


class CellOutputError(VpbenchError):
    """A cell output file is missing, unreadable or lacks the schema's identifier columns."""

    def __init__(self, path: Path, reason: str) -> None:
        self.path = Path(path)
        self.reason = reason
        super().__init__(
            f"cell output {self.path} is {reason}; expected the files {', '.join(CELL_FILES.values())} "
            "written by a finished cell (docs/SCHEMA.md). Re-run the cell, or aggregate with "
            "allow_missing=True to list it in missing.csv."
        )


# ---------------------------------------------------------------------------------------------- paths


def parse_cell_dir(cell_dir: str | Path) -> dict[str, object]:
    """Identifiers parsed from a cell folder path (layout: ``vpbench.study.paths.CELL_DIR``)."""
    ids = paths.parse_cell_dir(cell_dir)
    if ids is None:
        raise CellOutputError(Path(cell_dir), f"not a cell folder (expected the layout {paths.CELL_DIR})")
    return ids


def cell_path(results_root: str | Path, ids: Mapping[str, object]) -> Path:
    """The folder of the cell with identifiers ``ids`` under ``results_root`` (inverse of parse_cell_dir)."""
    relative = Path(paths.CELL_DIR.format(**{k: ids[k] for k in IDENTIFIERS}))
    return Path(results_root) / relative.relative_to("results")


def _identifiers_or_na(cell_dir: Path) -> dict[str, object]:
    """Identifiers parsed from the path, or NA for each when the path does not follow the layout."""
    try:
        return parse_cell_dir(cell_dir)
    except CellOutputError:
        return dict.fromkeys(IDENTIFIERS, pd.NA)


# ------------------------------------------------------------------------------------------- reading


def _read_parquet(path: Path) -> pd.DataFrame:
    """Read one cell Parquet file, turning absence, corruption and schema gaps into CellOutputError."""
    if not path.is_file():
        raise CellOutputError(path, "missing")
    try:
        frame = pd.read_parquet(path, engine="pyarrow")
    except (OSError, ValueError, pa.ArrowException) as err:
        raise CellOutputError(path, f"unreadable ({type(err).__name__}: {err})") from err
    lacking = [column for column in IDENTIFIERS if column not in frame.columns]
    if lacking:
        raise CellOutputError(path, f"lacking the identifier columns {lacking}")
    return frame


def _read_cell(cell_dir: Path) -> dict[str, pd.DataFrame]:
    """Read the three tables of one cell; metrics must hold exactly one row."""
    frames = {key: _read_parquet(cell_dir / name) for key, name in CELL_FILES.items()}
    if len(frames["cells"]) != 1:
        raise CellOutputError(cell_dir / CELL_FILES["cells"], f"holding {len(frames['cells'])} rows, not 1")
    return frames


def _normalise_identifiers(frame: pd.DataFrame) -> pd.DataFrame:
    """Give identifier columns the schema dtypes (str, int64 seed) so joins across cells line up."""
    frame = frame.copy()
    for column in IDENTIFIERS:
        if column not in frame.columns:
            frame[column] = pd.Series(dtype="int64" if column == "seed" else "str")
        elif column == "seed":
            frame[column] = frame[column].astype("int64")
        else:
            frame[column] = frame[column].astype("str")
    return frame


def _concat(frames: list[pd.DataFrame]) -> pd.DataFrame:
    """Concatenate per-cell frames; an empty list gives an empty frame with the identifier columns."""
    if not frames:
        return _normalise_identifiers(pd.DataFrame(columns=list(IDENTIFIERS)))
    return _normalise_identifiers(pd.concat(frames, ignore_index=True))


def _failed(metrics_row: pd.DataFrame) -> bool:
    """Whether a cell's metrics say it failed (a failure record, not a result)."""
    return "status" in metrics_row.columns and str(metrics_row["status"].iloc[0]) == "failed"


def collect_cells(cell_dirs: Sequence[str | Path], *, allow_missing: bool = False) -> dict[str, pd.DataFrame]:
    """Read every cell's metrics/epochs/classes into ``cells``, ``epochs``, ``classes`` and ``missing``.

    A cell whose metrics record a failure is listed in ``missing`` with its reason, never aggregated. A
    missing or unreadable file raises :class:`CellOutputError` naming it, unless ``allow_missing`` is true:
    then the cell is skipped and listed in ``missing`` (identifiers parsed from its path, file and reason).
    """
    collected: dict[str, list[pd.DataFrame]] = {key: [] for key in CELL_FILES}
    missing: list[dict[str, object]] = []
    for cell_dir in map(Path, cell_dirs):
        try:
            frames = _read_cell(cell_dir)
        except CellOutputError as err:
            if not allow_missing:
                raise
            missing.append(
                {
                    **_identifiers_or_na(cell_dir),
                    "cell_dir": str(cell_dir),
                    "file": err.path.name,
                    "reason": err.reason,
                }
            )
            continue
        if _failed(frames["cells"]):
            row = frames["cells"].iloc[0]
            missing.append(
                {
                    **{k: row[k] for k in IDENTIFIERS},
                    "cell_dir": str(cell_dir),
                    "file": CELL_FILES["cells"],
                    "reason": f"failed: {row.get('failure_reason', '')}",
                }
            )
            continue
        for key, frame in frames.items():
            collected[key].append(frame)
    result = {key: _concat(frames) for key, frames in collected.items()}
    result["missing"] = pd.DataFrame(missing, columns=list(MISSING_COLUMNS))
    return result


def load_prompt_histories(
    cell_dirs: Sequence[str | Path], *, allow_missing: bool = False
) -> dict[IdentifierKey, np.ndarray]:
    """``prompt_history.npy`` of every cell that saved one, keyed by its identifier tuple (IDENTIFIERS order).

    Cells without the file are skipped (the history is optional); an unreadable file raises
    :class:`CellOutputError` unless ``allow_missing`` is true, in which case it is skipped with a warning.
    """
    histories: dict[IdentifierKey, np.ndarray] = {}
    for cell_dir in map(Path, cell_dirs):
        path = cell_dir / "prompt_history.npy"
        if not path.is_file():
            continue
        try:
            ids = parse_cell_dir(cell_dir)
            history = np.load(path, allow_pickle=False)
        except (OSError, ValueError, CellOutputError) as err:
            if not allow_missing:
                raise CellOutputError(path, f"unreadable ({type(err).__name__}: {err})") from err
            warnings.warn(f"skipping unreadable prompt history {path}: {err}", stacklevel=2)
            continue
        if history.size:  # a failed cell's record is empty
            histories[tuple(ids[column] for column in IDENTIFIERS)] = history  # type: ignore[assignment]
    return histories


def load_test_predictions(cell_dir: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """``(test_probs, test_labels)`` of one cell as float64 N×C and int64 N (for reliability diagrams)."""
    cell_dir = Path(cell_dir)
    arrays = []
    for name in ("test_probs.npy", "test_labels.npy"):
        path = cell_dir / name
        if not path.is_file():
            raise CellOutputError(path, "missing")
        try:
            arrays.append(np.load(path, allow_pickle=False))
        except (OSError, ValueError) as err:
            raise CellOutputError(path, f"unreadable ({type(err).__name__}: {err})") from err
    probs, labels = arrays
    return probs.astype(np.float64), labels.astype(np.int64)


# ---------------------------------------------------------------------------------- prompt divergence


def add_prompt_divergence(
    epochs_df: pd.DataFrame, histories: Mapping[IdentifierKey, np.ndarray], cells_df: pd.DataFrame
) -> pd.DataFrame:
    """Add ``prompt_dense_l2`` = ‖P_e^{variant} − P_e^{dense}‖₂ per epoch row (docs/metrics.md).

    History row 0 is the init, so epoch ``e`` (0-based, after training) uses row ``e + 1``. The dense
    reference is the ``is_dense`` variant of the same (study, model) with the same dataset, method, shots and
    seed; rows without both histories get NaN.
    """
    out = epochs_df.drop(columns=["prompt_dense_l2"], errors="ignore")
    dense_of = dense_variants(cells_df) if len(cells_df) else {}
    records: list[dict[str, object]] = []
    for key, history in histories.items():
        ids = dict(zip(IDENTIFIERS, key, strict=True))
        dense_variant = dense_of.get((str(ids["study"]), str(ids["model"])))
        if dense_variant is None:
            continue
        dense_key = tuple(dense_variant if column == "variant" else ids[column] for column in IDENTIFIERS)
        dense_history = histories.get(dense_key)  # type: ignore[arg-type]
        if dense_history is None:
            continue
        if history.shape[1:] != dense_history.shape[1:]:
            warnings.warn(
                f"prompt shapes differ for {key} and its dense reference; divergence left NaN", stacklevel=2
            )
            continue
        rows = min(len(history), len(dense_history))
        diff = history[1:rows].astype(np.float64) - dense_history[1:rows].astype(np.float64)
        norms = np.linalg.norm(diff.reshape(rows - 1, -1), axis=1) if rows > 1 else np.empty(0)
        records.extend({**ids, "epoch": epoch, "prompt_dense_l2": float(v)} for epoch, v in enumerate(norms))
    divergence = pd.DataFrame(records, columns=[*IDENTIFIERS, "epoch", "prompt_dense_l2"])
    divergence = _normalise_identifiers(divergence)
    divergence["epoch"] = divergence["epoch"].astype("int64")
    divergence["prompt_dense_l2"] = divergence["prompt_dense_l2"].astype("float64")
    out = _normalise_identifiers(out)
    if "epoch" not in out.columns:
        out["epoch"] = pd.Series(dtype="int64")
    out["epoch"] = out["epoch"].astype("int64")
    return out.merge(divergence, on=[*IDENTIFIERS, "epoch"], how="left")


# ------------------------------------------------------------------------------------------- writing


def write_tables(frames: Mapping[str, pd.DataFrame], out_dir: str | Path) -> dict[str, Path]:
    """Write the Parquet tables and ``missing.csv`` atomically into ``out_dir``; return their paths."""
    out_dir = Path(out_dir)
    written: dict[str, Path] = {}
    for key in (*CELL_FILES, "reliability"):
        written[key] = out_dir / f"{key}.parquet"
        atomic_io.write_parquet(written[key], frames.get(key, _concat([])))
    missing = frames.get("missing")
    if missing is None:
        missing = pd.DataFrame(columns=list(MISSING_COLUMNS))
    written["missing"] = out_dir / "missing.csv"
    atomic_io.write_text(written["missing"], missing.to_csv(index=False))
    return written


def reliability_table(
    cell_dirs: Sequence[str | Path], num_bins: int = metrics.DEFAULT_NUM_BINS
) -> pd.DataFrame:
    """Per (cell, confidence bin): bin edges, count, mean confidence, accuracy (``metrics.reliability_bins``).

    Read from each cell's test probabilities, so reliability diagrams come from an aggregated table.
    """
    return prediction_summaries(cell_dirs, num_bins)[0]


def prediction_summaries(
    cell_dirs: Sequence[str | Path], num_bins: int = metrics.DEFAULT_NUM_BINS
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """One pass over every cell's test predictions: its reliability bins, and its class-wise ECE
    (``calibration.classwise_ece``, from the float16 probabilities) for cells whose metrics lack one."""
    from vpbench.calibration import classwise_ece

    frames, classwise = [], []
    for cell_dir in map(Path, cell_dirs):
        if not (cell_dir / "test_probs.npy").is_file():
            continue
        probs, labels = load_test_predictions(cell_dir)
        if probs.ndim != 2 or not len(probs):
            continue  # a failed cell's empty record
        ids = parse_cell_dir(cell_dir)
        bins = metrics.reliability_bins(probs, labels, num_bins)
        frame = pd.DataFrame({"bin": np.arange(num_bins), **bins})
        for column, value in ids.items():
            frame[column] = value
        frames.append(frame)
        classwise.append({**ids, "classwise_ece_probs": classwise_ece(probs, labels, num_bins)})
    columns = [*IDENTIFIERS, "classwise_ece_probs"]
    return _concat(frames), _normalise_identifiers(pd.DataFrame(classwise, columns=columns))


def add_classwise_ece(cells: pd.DataFrame, classwise: pd.DataFrame) -> pd.DataFrame:
    """``classwise_ece`` for every cell: the engine's value where it wrote one, else the one computed here
    from the saved test probabilities (docs/calibration.md)."""
    if cells.empty:
        return cells.assign(classwise_ece=pd.Series(dtype=float))
    merged = cells.merge(classwise, on=list(IDENTIFIERS), how="left")
    if "classwise_ece" in cells.columns:
        merged["classwise_ece"] = merged["classwise_ece"].fillna(merged["classwise_ece_probs"])
    else:
        merged["classwise_ece"] = merged["classwise_ece_probs"]
    return merged.drop(columns=["classwise_ece_probs"])


class StalePlanError(VpbenchError):
    """Cells were produced under a different plan than the study's (settings, data, variant or code)."""


def check_plans(cells: pd.DataFrame, expected: Mapping[tuple, str], cell_dirs: Sequence[str | Path]) -> None:
    """Refuse cells whose recorded ``plan_key`` differs from the study's, naming each and what differs.

    ``expected`` maps an identifier tuple (IDENTIFIERS order) to the study's plan as canonical JSON.
    """
    import json

    from vpbench.engine.keys import digest, plan_differences

    by_ids = {tuple(parse_cell_dir(d)[k] for k in IDENTIFIERS): Path(d) for d in cell_dirs}
    stale = []
    for row in cells.to_dict("records"):
        ids = tuple(row[k] for k in IDENTIFIERS)
        plan = expected.get(ids)
        if plan is None or row.get("plan_key") == digest(plan):
            continue
        recorded = {}
        cell_json = by_ids.get(ids, Path()) / "cell.json"
        if cell_json.is_file():
            recorded = json.loads(cell_json.read_text(encoding="utf-8")).get("plan", {})
        differences = plan_differences(recorded, json.loads(plan)) or ["(no plan recorded: an older vpbench)"]
        stale.append(f"{by_ids.get(ids, ids)}: " + "; ".join(differences[:6]))
    if stale:
        raise StalePlanError(
            f"{len(stale)} cell(s) were produced under a different plan than the current study and cannot be "
            "combined with it (rerun them: snakemake reruns cells whose plan changed unless told not to):\n  "
            + "\n  ".join(stale[:20])
            + (f"\n  … and {len(stale) - 20} more" if len(stale) > 20 else "")
        )


def aggregate_study(
    cell_dirs: Sequence[str | Path],
    out_dir: str | Path,
    *,
    allow_missing: bool = False,
    expected_plans: Mapping[tuple, str] | None = None,
    logs: Mapping[tuple, tuple[str, str]] | None = None,
) -> dict[str, pd.DataFrame]:
    """Collect cells (refusing stale ones), add prompt divergence and reliability bins, write the tables.

    ``logs`` maps an identifier tuple to the (rule, log path) that trains the cell, so that every failed
    or missing cell is listed with where to look.
    """
    frames = collect_cells(cell_dirs, allow_missing=allow_missing)
    if logs:
        missing = frames["missing"]
        where = [logs.get(tuple(row[k] for k in IDENTIFIERS), ("", "")) for _, row in missing.iterrows()]
        missing["rule"] = [w[0] for w in where]
        missing["log"] = [w[1] for w in where]
    if expected_plans is not None:
        check_plans(frames["cells"], expected_plans, cell_dirs)
    histories = load_prompt_histories(cell_dirs, allow_missing=allow_missing)
    frames["epochs"] = add_prompt_divergence(frames["epochs"], histories, frames["cells"])
    frames["reliability"], classwise = prediction_summaries(cell_dirs)
    frames["cells"] = add_classwise_ece(frames["cells"], classwise)
    write_tables(frames, out_dir)
    return frames
