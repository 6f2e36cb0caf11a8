"""What every claim shares: the :class:`Claim` entry, thresholds, seed pairing, intervals and verdicts.

Shared conventions: a *comparison* is one (study, dataset, model, compressed variant, method, N-shot) averaged
over the seeds that have both a dense and a compressed cell (same seed ⇒ same N-shot subset). Comparisons on
one dataset share its test images, so intervals are t-intervals across **datasets** (the mean of each
dataset's comparisons); with a single dataset, across its comparisons.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats as sps

from vpbench.results.frames import dense_variants, shots_sort_key
from vpbench.results.stats import LEVEL, Estimate, cell_id, t_interval
from vpbench.study.grid import IDENTIFIERS

LOW_DROP_PP = 5.0
"""Table 1 "Low" drop: mean dense − compressed accuracy below 5 pp. The paper gives no number; its text calls
gaps "within the range of approximately 5%" relatively small (LTH on SVHN, GTSRB, Flowers102; Sec. 7)."""
HIGH_DROP_PP = 15.0
"""Table 1 "High" drop: 15 pp or more. UPop, called High, loses 14–45 pp on Caltech101, DTD and OxfordPets
(Table 2), GMP over 50 pp on OxfordPets (Sec. 3.2.1); "Moderate" lies in between. As tables.table1."""
ECE_MARGIN_PP = 1.0
"""ECE changes below 1 pp count as no relevant worsening: about the 95% bootstrap half-width of one cell's
15-bin ECE on a test set of 2–10k images (0.9–1.8 pp in simulations)."""
MIN_TREND_POINTS = 3
"""Fewest distinct x values (N-shots, or sparsity levels with the dense point) for a per-series slope."""
DROP_BANDS: dict[str, tuple[float, float]] = {
    "Low": (-math.inf, LOW_DROP_PP),
    "Moderate": (LOW_DROP_PP, HIGH_DROP_PP),
    "High": (HIGH_DROP_PP, math.inf),
}
VERDICTS: tuple[str, ...] = ("supported", "contradicted", "not enough data")
NOT_ENOUGH = "not enough data"
CLAIM_COLUMNS: tuple[str, ...] = (
    "claim_id",
    "statement",
    "source",
    "evaluation",
    "needs",
    "expected",
    "effect_name",
    "effect",
    "ci_low",
    "ci_high",
    "level",
    "unit",
    "n_units",
    "test",
    "p_value",
    "decision_rule",
    "verdict",
    "reason",
    "cells_used",
    "cells_missing",
)
_COMPARISON = ["study", "dataset", "model", "variant", "method", "shots"]
_PAIR = ["study", "dataset", "model", "method", "shots", "seed"]


@dataclass(frozen=True)
class Claim:
    """One testable statement of the paper: what it says, how it is evaluated and which cells it needs."""

    id: str
    statement: str
    source: str
    evaluation: str
    needs: str
    decision_rule: str
    expected: str
    evaluate: Callable[[pd.DataFrame, pd.DataFrame | None], dict[str, object]]
    # Which rows of a (planned) cells table the claim could use: evaluate_claims lists the missing ones.
    scope: Callable[[pd.DataFrame], pd.Series] = lambda cells: pd.Series(True, index=cells.index)


# ------------------------------------------------------------------------------------------- helpers


def _result(
    estimate: Estimate,
    *,
    effect_name: str,
    unit: str,
    test: str,
    verdict: str,
    reason: str,
    cells: Iterable[str],
) -> dict[str, object]:
    """The evaluated part of a claim row."""
    return {
        "effect_name": effect_name,
        "effect": estimate.estimate,
        "ci_low": estimate.low,
        "ci_high": estimate.high,
        "level": LEVEL,
        "unit": unit,
        "n_units": estimate.n,
        "test": test,
        "p_value": estimate.p_value,
        "verdict": verdict,
        "reason": reason,
        "cells_used": ";".join(sorted(set(cells))),
    }


def _no_data(reason: str, effect_name: str = "") -> dict[str, object]:
    """A claim row without cells to evaluate."""
    return _result(
        Estimate(math.nan),
        effect_name=effect_name,
        unit="",
        test="",
        verdict=NOT_ENOUGH,
        reason=reason,
        cells=(),
    )


def _lacking(frame: pd.DataFrame | None, columns: Iterable[str]) -> list[str]:
    """Columns of ``columns`` missing from ``frame``."""
    return [c for c in columns if frame is None or c not in frame.columns]


def seed_pairs(cells: pd.DataFrame, metric: str) -> pd.DataFrame:
    """Compressed cells joined to the dense cell of the same study, model, dataset, method, shots and seed.

    Columns: the compressed cell's columns, ``dense_variant``, ``value`` (compressed ``metric``),
    ``dense_value``, ``cell`` and ``dense_cell`` (cell ids). Rows with a NaN on either side are dropped.
    """
    if _lacking(cells, [*IDENTIFIERS, "is_dense", metric]) or cells.empty:
        return pd.DataFrame(
            columns=[*cells.columns, "dense_variant", "value", "dense_value", "cell", "dense_cell"]
        )
    dense_of = dense_variants(cells)
    reference = pd.Series(
        [dense_of.get((str(s), str(m))) for s, m in zip(cells["study"], cells["model"], strict=True)],
        index=cells.index,
        dtype=object,
    )
    is_reference = cells["variant"] == reference
    dense = cells.loc[is_reference, [*_PAIR, "variant", metric]].rename(
        columns={"variant": "dense_variant", metric: "dense_value"}
    )
    compressed = cells.loc[~is_reference & reference.notna()]
    pairs = compressed.merge(dense, on=_PAIR, how="inner").dropna(subset=[metric, "dense_value"])
    pairs = pairs.assign(value=pairs[metric].astype(float), dense_value=pairs["dense_value"].astype(float))
    pairs["cell"] = [cell_id(row) for row in pairs[list(IDENTIFIERS)].to_dict("records")]
    pairs["dense_cell"] = [
        cell_id(row | {"variant": row["dense_variant"]})
        for row in pairs[[*IDENTIFIERS, "dense_variant"]].to_dict("records")
    ]
    return pairs.reset_index(drop=True)


def _comparisons(pairs: pd.DataFrame, value: str, keys: Sequence[str] = _COMPARISON) -> pd.DataFrame:
    """Seed means of ``value`` per comparison (``keys``), with the dataset kept for clustering."""
    grouped = pairs.groupby(list(keys), sort=True, dropna=False)
    return grouped[value].mean().rename("value").reset_index()


def clustered_interval(
    units: pd.DataFrame, value: str = "value", *, cluster: str = "dataset", unit_name: str = "comparison"
) -> tuple[Estimate, str]:
    """Mean of ``value`` with a t-interval across clusters (cluster means), or across units with one cluster.

    Returns the estimate (one-sample t-test of mean 0 as p-value) and a description of the unit.
    """
    values = units.dropna(subset=[value])
    if values.empty:
        return Estimate(math.nan, reason="no units"), ""
    means = values.groupby(cluster, sort=True)[value].mean()
    if len(means) >= 2:
        return t_interval(means.to_numpy()), f"{cluster} (mean of its {unit_name}s)"
    estimate = t_interval(values[value].to_numpy())
    if estimate.n < 2:
        estimate = Estimate(estimate.estimate, n=estimate.n, reason=f"one {unit_name}: no interval")
    return estimate, f"{unit_name} within one {cluster}"


def _interval_text(estimate: Estimate) -> str:
    """``[low, high]`` with two decimals."""
    return f"[{estimate.low:.2f}, {estimate.high:.2f}]"


def band_verdict(estimate: Estimate, band: tuple[float, float], name: str) -> tuple[str, str]:
    """Supported if the interval lies inside ``band``, contradicted if it lies outside, else not enough data.

    The reason names the observed level of the point estimate.
    """
    if not (math.isfinite(estimate.low) and math.isfinite(estimate.high)):
        return NOT_ENOUGH, estimate.reason or "no interval"
    low, high = band
    observed = next(level for level, (lo, hi) in DROP_BANDS.items() if lo <= estimate.estimate < hi)
    if low <= estimate.low and estimate.high < high:
        return (
            "supported",
            f"interval {_interval_text(estimate)} lies within {name}; observed level {observed}",
        )
    if estimate.high < low or estimate.low >= high:
        return (
            "contradicted",
            f"interval {_interval_text(estimate)} lies outside {name}; observed level {observed}",
        )
    return (
        NOT_ENOUGH,
        f"interval {_interval_text(estimate)} overlaps a boundary of {name}; point level {observed}",
    )


def sign_verdict(
    estimate: Estimate, *, supported_if: str, contradicted_if: str, margin: float = 0.0
) -> tuple[str, str]:
    """Verdict from the interval: each outcome is ``"low>0"``, ``"high<0"`` or ``"high<margin"``.

    ``supported_if`` is checked first, then ``contradicted_if``; neither holding gives not enough data.
    """
    if not (math.isfinite(estimate.low) and math.isfinite(estimate.high)):
        return NOT_ENOUGH, estimate.reason or "no interval"
    tests = {
        "low>0": (estimate.low > 0, "lower end > 0"),
        "high<0": (estimate.high < 0, "upper end < 0"),
        "high<margin": (estimate.high < margin, f"upper end < {margin:g}"),
    }
    text = _interval_text(estimate)
    if tests[supported_if][0]:
        return "supported", f"interval {text}: {tests[supported_if][1]}"
    if tests[contradicted_if][0]:
        return "contradicted", f"interval {text}: {tests[contradicted_if][1]}"
    return NOT_ENOUGH, f"interval {text} is not decisive"


def _shots_x(pairs: pd.DataFrame) -> pd.Series:
    """log2 of the numeric N-shot; ``full`` uses ``shots_num`` when the table has it, else NaN."""
    numeric = pd.Series([shots_sort_key(s) for s in pairs["shots"]], index=pairs.index, dtype=float)
    if "shots_num" in pairs.columns:
        numeric = numeric.where(np.isfinite(numeric), pairs["shots_num"].astype(float))
    numeric = numeric.where(np.isfinite(numeric) & (numeric > 0))
    return np.log2(numeric)


def _series_slopes(points: pd.DataFrame, series: Sequence[str], x: str, y: str) -> pd.DataFrame:
    """OLS slope of ``y`` on ``x`` per series with at least MIN_TREND_POINTS distinct x (scipy linregress)."""
    rows = []
    for key, group in points.dropna(subset=[x, y]).groupby(list(series), sort=True):
        means = group.groupby(x)[y].mean()
        if len(means) < MIN_TREND_POINTS:
            continue
        slope = sps.linregress(means.index.to_numpy(float), means.to_numpy(float)).slope
        rows.append(dict(zip(series, key, strict=True)) | {"value": float(slope)})
    return pd.DataFrame(rows, columns=[*series, "value"])


def slope_result(
    slopes: pd.DataFrame,
    pairs: pd.DataFrame,
    series: Sequence[str],
    effect_name: str,
    *,
    supported_if: str,
    contradicted_if: str,
    note: Callable[[pd.DataFrame], str] = lambda used: "",
) -> dict[str, object]:
    """A trend claim's row: t-interval of the mean per-series slope, its sign verdict, and the cells (and
    their dense partners) of the series that had a slope; ``note`` adds to the reason from those cells."""
    estimate, unit = clustered_interval(slopes, unit_name="series")
    verdict, reason = sign_verdict(estimate, supported_if=supported_if, contradicted_if=contradicted_if)
    used = pairs.merge(slopes[list(series)], on=list(series))
    return _result(
        estimate,
        effect_name=effect_name,
        unit=unit,
        test="t-interval of the mean OLS slope; p: one-sample t (H0: slope = 0)",
        verdict=verdict,
        reason=reason + note(used),
        cells=[*used["cell"], *used["dense_cell"]],
    )


def calibration_shots(cells: pd.DataFrame) -> pd.Series:
    """Per row: whether its N-shot is its dataset's calibration budget — ``full`` where the dataset has
    full-data cells (the paper analyses calibration at full data only), else the dataset's largest N."""
    if cells.empty or "shots" not in cells.columns:
        return pd.Series(False, index=cells.index)
    shots = cells["shots"].astype(str)
    largest = shots.groupby([cells["study"], cells["dataset"]]).transform(
        lambda values: max(values, key=shots_sort_key)
    )
    return shots == largest


def with_dense_partners(cells: pd.DataFrame, mask: pd.Series) -> pd.Series:
    """``mask`` plus the dense rows of the same (study, model, dataset, method, N-shot) as a masked row."""
    if cells.empty or "is_dense" not in cells.columns:
        return mask
    keys = ["study", "model", "dataset", "method", "shots"]
    wanted = set(map(tuple, cells.loc[mask, keys].astype(str).to_numpy()))
    partner = [tuple(row) in wanted for row in cells[keys].astype(str).to_numpy()]
    return mask | (cells["is_dense"].astype(bool) & pd.Series(partner, index=cells.index))
