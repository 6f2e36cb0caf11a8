"""The comparisons table: every compressed cell group against its dense partner, tested paired and corrected.

One row per (study, dataset, model, compressed variant, method, N-shot): seed means, the paired difference
with its interval, the test, raw and family-adjusted p-values (docs/statistics.md).
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from vpbench.errors import ConfigError
from vpbench.metrics import DEFAULT_NUM_BINS
from vpbench.results.frames import dense_variants
from vpbench.results.stats.bootstrap import SAMPLE_METRICS, Predictions, paired_bootstrap
from vpbench.results.stats.estimates import ALPHA, BOOTSTRAP_SEED, LEVEL, N_RESAMPLES, Estimate, cell_id
from vpbench.results.stats.multiplicity import CORRECTIONS, adjust_p_values
from vpbench.results.stats.paired import paired_seed_test

# Dense and compressed cells are paired within these keys and the seed (same seed ⇒ same N-shot subset).
PAIR_KEYS: tuple[str, ...] = ("study", "dataset", "model", "method", "shots")
# One heatmap (variant × N-shot for a model, dataset and method) is one family of tests.
FAMILY_KEYS: tuple[str, ...] = ("study", "dataset", "model", "method")
# test="auto" uses the across-seed paired t-test from this many paired seeds on (the paper ran 3).
MIN_SEEDS_FOR_T = 3
TESTS: tuple[str, ...] = ("auto", "paired_t", "wilcoxon", "paired_bootstrap")
COMPARISON_COLUMNS: tuple[str, ...] = (
    "study",
    "dataset",
    "model",
    "variant",
    "dense_variant",
    "method",
    "shots",
    "metric",
    "dense_mean",
    "compressed_mean",
    "delta",
    "ci_low",
    "ci_high",
    "level",
    "effect_size",
    "test",
    "p_value",
    "p_adjusted",
    "correction",
    "alpha",
    "significant",
    "family",
    "n_seeds",
    "reason",
    "dense_cells",
    "compressed_cells",
)


def _choose_test(test: str, n_pairs: int, have_predictions: bool) -> str:
    """``auto``: paired t from MIN_SEEDS_FOR_T seeds, else the paired bootstrap if predictions exist."""
    if test != "auto":
        return test
    if n_pairs >= MIN_SEEDS_FOR_T:
        return "paired_t"
    return "paired_bootstrap" if have_predictions else "paired_t"


def _comparison_seed(base: int, key: Sequence[object]) -> int:
    """A bootstrap seed per comparison that does not depend on row order."""
    digest = zlib.crc32(repr(tuple(map(str, key))).encode())
    return int(np.random.SeedSequence([base, digest]).generate_state(1)[0])


def compare_to_dense(
    cells: pd.DataFrame,
    predictions: Mapping[str, Predictions] | None = None,
    *,
    metric: str = "accuracy",
    test: str = "auto",
    correction: str = "holm",
    alpha: float = ALPHA,
    family_by: Sequence[str] = FAMILY_KEYS,
    level: float = LEVEL,
    n_resamples: int = N_RESAMPLES,
    seed: int = BOOTSTRAP_SEED,
    num_bins: int = DEFAULT_NUM_BINS,
) -> pd.DataFrame:
    """One row per (study, dataset, model, compressed variant, method, shots): dense vs compressed ``metric``.

    Cells pair by seed with the dense variant (:func:`vpbench.results.frames.dense_variants`). ``test``:
    ``paired_t``/``wilcoxon`` across seeds (:func:`paired_seed_test`), ``paired_bootstrap`` over test
    samples (:func:`paired_bootstrap`, needs ``predictions[cell_id] = (probs, labels)``), or ``auto``
    (see :func:`_choose_test`). p-values are adjusted within each ``family_by`` group. Columns:
    :data:`COMPARISON_COLUMNS`.
    """
    if test not in TESTS:
        raise ConfigError(f"test must be one of {TESTS}, got {test!r}")
    if correction not in CORRECTIONS:
        raise ConfigError(f"correction must be one of {CORRECTIONS}, got {correction!r}")
    if not cells.empty and metric not in cells.columns:
        raise ConfigError(f"the cells table has no column {metric!r} to compare")
    predictions = predictions or {}
    rows: list[dict[str, object]] = []
    if not cells.empty:
        dense_of = dense_variants(cells)
        for key, group in cells.groupby(list(PAIR_KEYS), sort=True):
            ids = dict(zip(PAIR_KEYS, key, strict=True))
            dense_name = dense_of.get((str(ids["study"]), str(ids["model"])))
            dense_rows = group.loc[group["variant"] == dense_name] if dense_name else group.iloc[0:0]
            for variant, comp_rows in group.loc[group["variant"] != dense_name].groupby("variant", sort=True):
                rows.append(
                    _compare_one(
                        ids,
                        str(variant),
                        dense_name,
                        dense_rows,
                        comp_rows,
                        predictions,
                        metric=metric,
                        test=test,
                        level=level,
                        n_resamples=n_resamples,
                        seed=_comparison_seed(seed, (*key, variant)),
                        num_bins=num_bins,
                    )
                )
    out = pd.DataFrame(rows, columns=list(COMPARISON_COLUMNS))
    out["correction"] = correction
    out["alpha"] = alpha
    out["family"] = (
        out[list(family_by)].astype(str).agg("/".join, axis=1) if len(out) else pd.Series(dtype=str)
    )
    out["p_adjusted"] = np.nan
    out["significant"] = False
    for _, members in out.groupby("family", sort=False):
        adjusted, significant = adjust_p_values(members["p_value"].to_numpy(float), correction, alpha)
        out.loc[members.index, "p_adjusted"] = adjusted
        out.loc[members.index, "significant"] = significant
    return out.astype(
        {
            "dense_mean": float,
            "compressed_mean": float,
            "delta": float,
            "ci_low": float,
            "ci_high": float,
            "level": float,
            "effect_size": float,
            "p_value": float,
            "p_adjusted": float,
            "alpha": float,
            "significant": bool,
            "n_seeds": "int64",
        }
    )


def _compare_one(
    ids: Mapping[str, object],
    variant: str,
    dense_name: str | None,
    dense_rows: pd.DataFrame,
    comp_rows: pd.DataFrame,
    predictions: Mapping[str, Predictions],
    *,
    metric: str,
    test: str,
    level: float,
    n_resamples: int,
    seed: int,
    num_bins: int,
) -> dict[str, object]:
    """One comparison row (see :func:`compare_to_dense`)."""
    dense_by_seed = dense_rows.dropna(subset=[metric]).drop_duplicates("seed").set_index("seed")
    comp_by_seed = comp_rows.dropna(subset=[metric]).drop_duplicates("seed").set_index("seed")
    seeds = sorted(set(dense_by_seed.index) & set(comp_by_seed.index))
    dense_ids = [cell_id(dense_by_seed.loc[s].to_dict() | {"seed": s}) for s in seeds]
    comp_ids = [cell_id(comp_by_seed.loc[s].to_dict() | {"seed": s}) for s in seeds]
    dense_values = dense_by_seed.loc[seeds, metric].to_numpy(dtype=float)
    comp_values = comp_by_seed.loc[seeds, metric].to_numpy(dtype=float)
    have_predictions = bool(seeds) and all(c in predictions for c in (*dense_ids, *comp_ids))
    chosen = _choose_test(test, len(seeds), have_predictions)
    if dense_name is None:
        result = Estimate(math.nan, test=chosen, reason="the model has no dense variant in this study")
    elif not seeds:
        result = Estimate(math.nan, test=chosen, reason="no seed has both a dense and a compressed cell")
    elif chosen == "paired_bootstrap":
        if metric not in SAMPLE_METRICS:
            result = Estimate(math.nan, test=chosen, n=len(seeds), reason=f"no per-sample form of {metric!r}")
        elif not have_predictions:
            lacking = [c for c in (*dense_ids, *comp_ids) if c not in predictions]
            reason = f"test predictions missing for {', '.join(lacking)}"
            result = Estimate(math.nan, test=chosen, n=len(seeds), reason=reason)
        else:
            result = paired_bootstrap(
                [predictions[c] for c in dense_ids],
                [predictions[c] for c in comp_ids],
                metric,
                num_bins=num_bins,
                level=level,
                n_resamples=n_resamples,
                seed=seed,
            )
    else:
        result = paired_seed_test(dense_values, comp_values, test=chosen, level=level)
    unpaired = len(set(dense_by_seed.index) ^ set(comp_by_seed.index))
    reason = result.reason
    if unpaired:
        reason = "; ".join(filter(None, [reason, f"{unpaired} seed(s) without a partner left out"]))
    return {
        **{k: ids[k] for k in ("study", "dataset", "model", "method", "shots")},
        "variant": variant,
        "dense_variant": dense_name,
        "metric": metric,
        "dense_mean": float(dense_values.mean()) if seeds else math.nan,
        "compressed_mean": float(comp_values.mean()) if seeds else math.nan,
        "delta": result.estimate,
        "ci_low": result.low,
        "ci_high": result.high,
        "level": level,
        "effect_size": result.effect_size,
        "test": result.test,
        "p_value": result.p_value,
        "n_seeds": len(seeds),
        "reason": reason,
        "dense_cells": ";".join(dense_ids),
        "compressed_cells": ";".join(comp_ids),
    }
