"""Point estimates with intervals: the :class:`Estimate` record, cell ids, t-intervals across seeds.

Every delta in :mod:`vpbench.results.stats` is ``dense − compressed`` in metric units: a positive accuracy
delta is a drop caused by compression, a negative ECE delta is a calibration loss. Results that cannot be
estimated are NaN with a ``reason``; nothing here raises on thin data.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

from vpbench.results.frames import summarise

LEVEL = 0.95
ALPHA = 0.05
N_RESAMPLES = 2000
BOOTSTRAP_SEED = 0
# A cell's configuration without the seed; the seed-level summary groups by it.
GROUP_KEYS: tuple[str, ...] = ("study", "dataset", "model", "variant", "method", "shots")
_TIE_TOLERANCE = 1e-12  # spreads below this (relative to the values' magnitude) count as zero: float noise


@dataclass(frozen=True)
class Estimate:
    """A point estimate with its interval, test and p-value; NaN fields come with a ``reason``."""

    estimate: float
    low: float = math.nan
    high: float = math.nan
    p_value: float = math.nan
    test: str = ""
    n: int = 0
    effect_size: float = math.nan
    reason: str = ""


# ------------------------------------------------------------------------------------------ cell ids


def cell_id(ids: Mapping[str, object]) -> str:
    """``study/dataset/model/variant/method/{shots}shot/seed{seed}``: the key of per-cell prediction dicts."""
    return "/".join(
        [
            str(ids["study"]),
            str(ids["dataset"]),
            str(ids["model"]),
            str(ids["variant"]),
            str(ids["method"]),
            f"{ids['shots']}shot",
            f"seed{int(ids['seed'])}",  # type: ignore[call-overload]
        ]
    )


def parse_cell_id(text: str) -> dict[str, object]:
    """Identifiers of a :func:`cell_id` string (inverse function)."""
    parts = text.split("/")
    if len(parts) != 7 or not parts[5].endswith("shot") or not parts[6].startswith("seed"):
        raise ValueError(f"not a cell id (study/dataset/model/variant/method/Nshot/seedS): {text!r}")
    study, dataset, model, variant, method, shots, seed = parts
    return {
        "study": study,
        "dataset": dataset,
        "model": model,
        "variant": variant,
        "method": method,
        "shots": shots.removesuffix("shot"),
        "seed": int(seed.removeprefix("seed")),
    }


# ------------------------------------------------------------------------------------ seed intervals


def _no_spread(values: np.ndarray) -> bool:
    """True when all values are equal up to float noise (t statistics are then undefined)."""
    return bool(np.ptp(values) <= _TIE_TOLERANCE * max(1.0, float(np.abs(values).max())))


def t_interval(values: Sequence[float] | np.ndarray, level: float = LEVEL) -> Estimate:
    """Mean and ``level`` t-interval of finite ``values`` (one-sample t-test of mean 0 as p-value)."""
    x = np.asarray(values, dtype=np.float64)
    x = x[np.isfinite(x)]
    if x.size == 0:
        return Estimate(math.nan, reason="no finite values")
    mean = float(x.mean())
    if x.size == 1:
        return Estimate(mean, n=1, test="one_sample_t", reason="one value: no interval")
    sd = float(x.std(ddof=1))
    if _no_spread(x):
        reason = "zero spread: t undefined"
        return Estimate(mean, mean, mean, n=int(x.size), test="one_sample_t", reason=reason)
    result = stats.ttest_1samp(x, 0.0)
    ci = result.confidence_interval(level)
    return Estimate(
        mean, float(ci.low), float(ci.high), float(result.pvalue), "one_sample_t", int(x.size), mean / sd
    )


def seed_intervals(
    cells: pd.DataFrame, metric: str, *, by: Sequence[str] = GROUP_KEYS, level: float = LEVEL
) -> pd.DataFrame:
    """Per group: mean, std, ``n_seeds`` and the ``level`` t-interval across seeds (``ci_low``/``ci_high``).

    Builds on :func:`vpbench.results.frames.summarise`; with one seed the interval is NaN (``reason``).
    """
    by = [column for column in by if column in cells.columns]
    summary = summarise(cells, by, metric)
    n = summary["n_seeds"].to_numpy(dtype=float)
    half = np.full_like(n, np.nan)
    several = n >= 2
    half[several] = (
        stats.t.ppf(0.5 + level / 2, n[several] - 1)
        * summary["std"].to_numpy(float)[several]
        / np.sqrt(n[several])
    )
    out = summary.drop(columns=["ci95"]).copy()
    out.insert(len(by), "metric", metric)
    out["ci_low"] = out["mean"] - half
    out["ci_high"] = out["mean"] + half
    out["level"] = level
    out["reason"] = np.where(several, "", "one seed: no across-seed interval")
    return out.reset_index(drop=True)
