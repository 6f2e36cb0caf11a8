"""Accuracy claims: Table 1's drop level per compression technique; the drop is largest at low N."""

from __future__ import annotations

import pandas as pd

from vpbench.compression.techniques import TECHNIQUES
from vpbench.results.claims.base import (
    DROP_BANDS,
    HIGH_DROP_PP,
    LOW_DROP_PP,
    MIN_TREND_POINTS,
    Claim,
    _comparisons,
    _lacking,
    _no_data,
    _result,
    _series_slopes,
    _shots_x,
    band_verdict,
    clustered_interval,
    seed_pairs,
    slope_result,
    with_dense_partners,
)

# Paper Table 1: the performance drop it gives each compression technique (names and types are the
# technique registry's label and structure).
PAPER_TABLE1: dict[str, str] = {
    "gmp": "High",
    "lt": "Moderate",
    "acdc": "Low",
    "rigl": "Low",
    "upop": "High",
    "vvtq": "Moderate",
}


def _table1_claim(compression: str) -> Claim:
    """The Table 1 drop level of one compression method."""
    entry = TECHNIQUES[compression]
    name, kind, level = entry.label, entry.structure, PAPER_TABLE1[compression]
    band = DROP_BANDS[level]
    band_text = {
        "Low": f"< {LOW_DROP_PP:g} pp",
        "Moderate": f"{LOW_DROP_PP:g}–{HIGH_DROP_PP:g} pp",
        "High": f"≥ {HIGH_DROP_PP:g} pp",
    }[level]

    def evaluate(cells: pd.DataFrame, classes: pd.DataFrame | None) -> dict[str, object]:
        effect_name = "accuracy drop, dense − compressed [pp]"
        lacking = _lacking(cells, ["compression", "accuracy", "is_dense"])
        if lacking:
            return _no_data(f"cells table lacks {lacking}", effect_name)
        pairs = seed_pairs(cells, "accuracy")
        pairs = pairs.loc[pairs["compression"] == compression]
        if pairs.empty:
            return _no_data(f"no {compression!r} cell has a dense partner of the same seed", effect_name)
        pairs = pairs.assign(drop=(pairs["dense_value"] - pairs["value"]) * 100)
        estimate, unit = clustered_interval(_comparisons(pairs, "drop"))
        verdict, reason = band_verdict(estimate, band, f"the {level} band ({band_text})")
        return _result(
            estimate,
            effect_name=effect_name,
            unit=unit,
            test="t-interval of the mean drop; p: one-sample t (H0: drop = 0)",
            verdict=verdict,
            reason=reason,
            cells=[*pairs["cell"], *pairs["dense_cell"]],
        )

    return Claim(
        id=f"table1_drop_{compression}",
        statement=f"{name} ({kind}) models lose a {level} amount of accuracy under visual prompting.",
        source="Table 1",
        evaluation=(
            "mean over comparisons (all models, variants, datasets, methods and N-shots of this compression "
            "method) of the seed-mean dense − compressed accuracy, in pp"
        ),
        needs=f"cells with compression = {compression!r} and the dense cell of the same model, dataset, "
        "method, N and seed",
        decision_rule=(
            f"supported if the 95% interval lies within {level} ({band_text}); contradicted if it lies "
            f"outside; else not enough data. Bands: Low < {LOW_DROP_PP:g} ≤ Moderate < {HIGH_DROP_PP:g} ≤ "
            "High (pp)"
        ),
        expected=f"{level} ({band_text})",
        evaluate=evaluate,
        scope=lambda cells: with_dense_partners(cells, _column(cells, "compression").eq(compression)),
    )


def _low_n_evaluate(cells: pd.DataFrame, classes: pd.DataFrame | None) -> dict[str, object]:
    """Slope of the accuracy drop over log2 N per (model, variant, dataset, method) series."""
    effect_name = "slope of the accuracy drop [pp per doubling of N]"
    lacking = _lacking(cells, ["accuracy", "is_dense"])
    if lacking:
        return _no_data(f"cells table lacks {lacking}", effect_name)
    pairs = seed_pairs(cells, "accuracy")
    if pairs.empty:
        return _no_data("no compressed cell has a dense partner of the same seed", effect_name)
    pairs = pairs.assign(drop=(pairs["dense_value"] - pairs["value"]) * 100, log2_shots=_shots_x(pairs))
    series = ["study", "dataset", "model", "variant", "method"]
    slopes = _series_slopes(pairs, series, "log2_shots", "drop")
    if slopes.empty:
        return _no_data(f"no (model, variant, dataset, method) has {MIN_TREND_POINTS} N-shots", effect_name)
    return slope_result(slopes, pairs, series, effect_name, supported_if="high<0", contradicted_if="low>0")


LOW_N_CLAIM = Claim(
    id="drop_largest_at_low_n",
    statement="Compression hurts visual-prompting transfer most when few training images are available.",
    source="Abstract; Sec. 3.2.1; Sec. 7",
    evaluation=(
        f"per (model, compressed variant, dataset, method) series with ≥ {MIN_TREND_POINTS} N-shots: OLS "
        "slope of the seed-mean dense − compressed accuracy [pp] on log2 N ('full' = its per-class count "
        "when shots_num is present); mean slope over series"
    ),
    needs="dense and compressed cells of the same seed at ≥ 3 N-shots",
    decision_rule=(
        "supported if the 95% interval of the mean slope is < 0 (the drop shrinks as N grows); "
        "contradicted if > 0; else not enough data"
    ),
    expected="slope < 0",
    evaluate=_low_n_evaluate,
)


def _column(cells: pd.DataFrame, name: str) -> pd.Series:
    """A column of ``cells`` as text, or empty strings when the table lacks it."""
    if name not in cells.columns:
        return pd.Series("", index=cells.index, dtype=str)
    return cells[name].astype(str)
