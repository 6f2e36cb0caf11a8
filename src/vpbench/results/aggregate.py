"""Cell outputs → tidy per-study tables (docs/SCHEMA.md), seed summaries and compression ordering.

Every figure and table reads what this module writes, so identifiers, dtypes and the "dense reference"
rule live here once.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
from scipy import stats

from vpbench.runtime import atomic_io
from vpbench.errors import VpbenchError

IDENTIFIERS: tuple[str, ...] = ("study", "dataset", "model", "variant", "method", "shots", "seed")
CELL_FILES: dict[str, str] = {
    "cells": "metrics.parquet",
    "epochs": "epochs.parquet",
    "classes": "classes.parquet",
}
MISSING_COLUMNS: tuple[str, ...] = (*IDENTIFIERS, "cell_dir", "file", "reason")
QUANTIZATION_COMPRESSIONS = frozenset({"fake_quant", "vvtq"})

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
    """Identifiers parsed from a cell folder path (layout: :func:`cell_path`, docs/SCHEMA.md)."""
    parts = Path(cell_dir).parts
    layout = "results/{study}/cells/{dataset}/{model}/{variant}/{method}/{shots}shot/seed{seed}"
    if len(parts) < 8 or parts[-7] != "cells" or not parts[-2].endswith("shot"):
        raise CellOutputError(Path(cell_dir), f"not a cell folder (expected the layout {layout})")
    seed_text = parts[-1].removeprefix("seed")
    if not parts[-1].startswith("seed") or not seed_text.isdigit():
        raise CellOutputError(Path(cell_dir), f"not a cell folder (expected the layout {layout})")
    return {
        "study": parts[-8],
        "dataset": parts[-6],
        "model": parts[-5],
        "variant": parts[-4],
        "method": parts[-3],
        "shots": parts[-2].removesuffix("shot"),
        "seed": int(seed_text),
    }


def cell_path(results_root: str | Path, ids: Mapping[str, object]) -> Path:
    """The folder of the cell with identifiers ``ids`` under ``results_root`` (inverse of parse_cell_dir)."""
    return (
        Path(results_root)
        / str(ids["study"])
        / "cells"
        / str(ids["dataset"])
        / str(ids["model"])
        / str(ids["variant"])
        / str(ids["method"])
        / f"{ids['shots']}shot"
        / f"seed{ids['seed']}"
    )


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


def collect_cells(cell_dirs: Sequence[str | Path], *, allow_missing: bool = False) -> dict[str, pd.DataFrame]:
    """Read every cell's metrics/epochs/classes into ``cells``, ``epochs``, ``classes`` and ``missing``.

    A missing or unreadable file raises :class:`CellOutputError` naming it, unless ``allow_missing`` is true:
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


def dense_variants(cells_df: pd.DataFrame) -> dict[tuple[str, str], str]:
    """``(study, model) → dense variant`` from ``is_dense``; with several, prefer one named ``dense``."""
    result: dict[tuple[str, str], str] = {}
    dense_rows = cells_df.loc[cells_df["is_dense"].astype(bool), ["study", "model", "variant"]]
    for (study, model), group in dense_rows.drop_duplicates().groupby(["study", "model"], sort=True):
        names = sorted(group["variant"])
        if len(names) > 1 and "dense" not in names:
            warnings.warn(
                f"model {model!r} in study {study!r} has several dense variants {names}; using {names[0]!r}",
                stacklevel=2,
            )
        result[(study, model)] = "dense" if "dense" in names else names[0]
    return result


def add_prompt_divergence(
    epochs_df: pd.DataFrame, histories: Mapping[IdentifierKey, np.ndarray], cells_df: pd.DataFrame
) -> pd.DataFrame:
    """Add ``prompt_dense_l2`` = ‖P_e^{variant} − P_e^{dense}‖₂ per epoch row (vp_methods.md §8.5).

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
    """Write the three Parquet tables and ``missing.csv`` atomically into ``out_dir``; return their paths."""
    out_dir = Path(out_dir)
    paths: dict[str, Path] = {}
    for key in CELL_FILES:
        paths[key] = out_dir / f"{key}.parquet"
        atomic_io.write_parquet(paths[key], frames.get(key, _concat([])))
    missing = frames.get("missing")
    if missing is None:
        missing = pd.DataFrame(columns=list(MISSING_COLUMNS))
    paths["missing"] = out_dir / "missing.csv"
    atomic_io.write_text(paths["missing"], missing.to_csv(index=False))
    return paths


def aggregate_study(
    cell_dirs: Sequence[str | Path], out_dir: str | Path, *, allow_missing: bool = False
) -> dict[str, pd.DataFrame]:
    """Collect cells, add prompt divergence from saved histories and write the study's tables."""
    frames = collect_cells(cell_dirs, allow_missing=allow_missing)
    histories = load_prompt_histories(cell_dirs, allow_missing=allow_missing)
    frames["epochs"] = add_prompt_divergence(frames["epochs"], histories, frames["cells"])
    write_tables(frames, out_dir)
    return frames


# ------------------------------------------------------------------------------------------ summaries


def select(frame: pd.DataFrame, **identifiers: object) -> pd.DataFrame:
    """Rows whose identifier columns equal the given values (``shots`` compared as text), e.g.
    ``select(classes, model="resnet50", dataset="dtd", method="ilm", shots=10)``."""
    mask = pd.Series(True, index=frame.index)
    for column, value in identifiers.items():
        mask &= frame[column] == (str(value) if column == "shots" else value)
    return frame.loc[mask]


def summarise(cells_df: pd.DataFrame, by: Sequence[str], metric: str) -> pd.DataFrame:
    """Mean, sample std, count (``n_seeds``) and 95% t-interval half-width (``ci95``) of ``metric`` per group.

    NaN values are ignored; with a single value std and ci95 are NaN.
    """
    columns = [*by, "mean", "std", "n_seeds", "ci95"]
    values = cells_df.dropna(subset=[metric]) if metric in cells_df.columns else cells_df.iloc[0:0]
    if values.empty:
        return pd.DataFrame(columns=columns).astype(
            {"mean": float, "std": float, "n_seeds": "int64", "ci95": float}
        )
    out = (
        values.groupby(list(by), sort=False, dropna=False)[metric].agg(["mean", "std", "count"]).reset_index()
    )
    out = out.rename(columns={"count": "n_seeds"})
    n = out["n_seeds"].to_numpy(dtype=float)
    t_quantile = np.full_like(n, np.nan)
    several = n >= 2
    t_quantile[several] = stats.t.ppf(0.975, n[several] - 1)
    out["ci95"] = t_quantile * out["std"].to_numpy(dtype=float) / np.sqrt(n)
    return out[columns]


# ------------------------------------------------------------------------------------------- ordering


def shots_sort_key(shots: object) -> float:
    """Numeric N-shot for ordering; ``full`` (and anything non-numeric) sorts last."""
    try:
        return float(str(shots))
    except ValueError:
        return math.inf


def ordered_shots(values: Iterable[object]) -> list[str]:
    """Distinct N-shot labels as strings, ascending, ``full`` last."""
    return sorted({str(v) for v in values}, key=lambda s: (shots_sort_key(s), s))


def compression_severity(compression: str, level: float, weight_bits: float = math.nan) -> float:
    """A number growing with compression: sparsity for pruning, minus bit-width for quantization."""
    if compression in QUANTIZATION_COMPRESSIONS or not math.isnan(weight_bits):
        bits = weight_bits if not math.isnan(weight_bits) else level
        return -float(bits)
    return float(level) if not math.isnan(level) else 0.0


def variant_table(cells_df: pd.DataFrame) -> pd.DataFrame:
    """One row per (model, variant): dense flag, compression, label, ``order`` (dense first, mildest next)."""
    columns = ["model", "variant", "is_dense", "compression", "compression_level", "compression_label"]
    info = cells_df.reindex(columns=[*columns, "weight_bits"]).drop_duplicates(subset=["model", "variant"])
    info = info.copy()
    info["is_dense"] = info["is_dense"].fillna(False).astype(bool)
    info["compression"] = info["compression"].fillna("none").astype(str)
    info["compression_label"] = info["compression_label"].fillna(info["variant"]).astype(str)
    info["severity"] = [
        compression_severity(c, float(lv), float(wb))
        for c, lv, wb in zip(info["compression"], info["compression_level"], info["weight_bits"], strict=True)
    ]
    info["dense_rank"] = (~info["is_dense"]).astype(int)
    info = info.sort_values(["model", "dense_rank", "compression", "severity", "variant"], kind="stable")
    info["order"] = info.groupby("model").cumcount()
    return info[[*columns, "severity", "order"]].reset_index(drop=True)


def variant_order(cells_df: pd.DataFrame, model: str) -> list[str]:
    """Variants of ``model`` from dense to most compressed (see :func:`variant_table`)."""
    info = variant_table(cells_df)
    return info.loc[info["model"] == model, "variant"].tolist()


def dense_variant_of(cells_df: pd.DataFrame, model: str) -> str | None:
    """The dense reference variant of ``model`` (``is_dense``), or None when the study has none."""
    info = variant_table(cells_df)
    dense = info.loc[(info["model"] == model) & info["is_dense"], "variant"].tolist()
    if not dense:
        return None
    return "dense" if "dense" in dense else dense[0]


def most_compressed_variant(cells_df: pd.DataFrame, model: str) -> str | None:
    """The last variant of :func:`variant_order` that is not dense, or None."""
    info = variant_table(cells_df)
    compressed = info.loc[(info["model"] == model) & ~info["is_dense"], "variant"].tolist()
    return compressed[-1] if compressed else None


def dense_deltas(cells_df: pd.DataFrame, metric: str = "accuracy") -> pd.DataFrame:
    """Dense minus compressed ``metric`` per (study, dataset, model, variant, method, shots), over seeds.

    Columns: ``dense_mean``, ``variant_mean``, ``delta`` (dense − variant, metric units), ``n_dense``,
    ``n_variant`` and ``p_value`` of Welch's t-test (NaN unless both sides have at least two seeds).
    """
    keys = ["study", "dataset", "model", "method", "shots"]
    columns = [*keys, "variant", "dense_mean", "variant_mean", "delta", "n_dense", "n_variant", "p_value"]
    dtypes = {
        "dense_mean": float,
        "variant_mean": float,
        "delta": float,
        "n_dense": "int64",
        "n_variant": "int64",
        "p_value": float,
    }
    if cells_df.empty:
        return pd.DataFrame(columns=columns).astype(dtypes)
    dense_of = dense_variants(cells_df)
    values = cells_df.dropna(subset=[metric])
    rows: list[dict[str, object]] = []
    for group_key, group in values.groupby(keys, sort=False):
        ids = dict(zip(keys, group_key, strict=True))
        dense_name = dense_of.get((str(ids["study"]), str(ids["model"])))
        if dense_name is None:
            continue
        dense_values = group.loc[group["variant"] == dense_name, metric].to_numpy(dtype=float)
        if dense_values.size == 0:
            continue
        for variant, variant_rows in group.loc[group["variant"] != dense_name].groupby("variant", sort=False):
            variant_values = variant_rows[metric].to_numpy(dtype=float)
            rows.append(
                {
                    **ids,
                    "variant": variant,
                    "dense_mean": dense_values.mean(),
                    "variant_mean": variant_values.mean(),
                    "delta": dense_values.mean() - variant_values.mean(),
                    "n_dense": dense_values.size,
                    "n_variant": variant_values.size,
                    "p_value": welch_p_value(dense_values, variant_values),
                }
            )
    return pd.DataFrame(rows, columns=columns).astype(dtypes)


def welch_p_value(first: np.ndarray, second: np.ndarray) -> float:
    """Two-sided Welch t-test p-value; NaN with fewer than two values on a side or zero variance on both."""
    if first.size < 2 or second.size < 2:
        return math.nan
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore", RuntimeWarning)
        result = stats.ttest_ind(first, second, equal_var=False)
    return float(result.pvalue)
