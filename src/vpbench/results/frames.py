"""Reading the aggregated tables: row selection, seed summaries, variant order and the dense reference.

Every figure and table selects and orders rows through these functions, so "which variant is dense",
"which is most compressed" and how N-shots sort are decided once.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterable, Sequence

import numpy as np
import pandas as pd
from scipy import stats


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


def compression_severity(kind: str, level: float, weight_bits: float = math.nan) -> float:
    """A number growing with compression: sparsity for pruning, minus bit-width for quantization."""
    if kind == "quantized" or not math.isnan(weight_bits):
        bits = weight_bits if not math.isnan(weight_bits) else level
        return -float(bits)
    return float(level) if not math.isnan(level) else 0.0


def variant_table(cells_df: pd.DataFrame) -> pd.DataFrame:
    """One row per (model, variant): dense flag, compression, label, ``order`` (dense first, mildest next)."""
    columns = ["model", "variant", "is_dense", "compression", "compression_level", "compression_label"]
    info = cells_df.reindex(columns=[*columns, "weight_bits", "compression_kind"])
    info = info.drop_duplicates(subset=["model", "variant"]).copy()
    info["is_dense"] = info["is_dense"].fillna(False).astype(bool)
    info["compression"] = info["compression"].fillna("none").astype(str)
    info["compression_kind"] = info["compression_kind"].fillna("dense").astype(str)
    info["compression_label"] = info["compression_label"].fillna(info["variant"]).astype(str)
    info["severity"] = [
        compression_severity(k, float(lv), float(wb))
        for k, lv, wb in zip(
            info["compression_kind"], info["compression_level"], info["weight_bits"], strict=True
        )
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
