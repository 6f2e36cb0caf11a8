"""Calibration claims: sparsity worsens ECE and keeps worsening it; quantization does not.

The paper analyses calibration "only … under a full-data setting" (Sec. 3.3), so each dataset is evaluated
at full data; a study without full-data cells for a dataset is evaluated at its largest N-shot instead, and
the row's ``reason`` says so (such a verdict is about a few-shot regime the paper did not analyse).
"""

from __future__ import annotations

import pandas as pd

from vpbench.results.claims.base import (
    ECE_MARGIN_PP,
    MIN_TREND_POINTS,
    Claim,
    _comparisons,
    _lacking,
    _no_data,
    _result,
    _series_slopes,
    calibration_shots,
    clustered_interval,
    seed_pairs,
    sign_verdict,
    slope_result,
    with_dense_partners,
)

BUDGET_TEXT = "full data (else the dataset's largest N-shot)"


def is_quantized(cells: pd.DataFrame) -> pd.Series:
    """Rows of quantized variants: ``compression_kind`` quantized, or a weight bit-width recorded."""
    kind = cells.get("compression_kind", pd.Series("", index=cells.index)).astype(str)
    quantized = kind == "quantized"
    if "weight_bits" in cells.columns:
        quantized |= cells["weight_bits"].notna()
    return quantized


def is_pruned(cells: pd.DataFrame) -> pd.Series:
    """Rows of pruned (sparse) variants that are not also quantized."""
    kind = cells.get("compression_kind", pd.Series("", index=cells.index)).astype(str)
    return (kind == "sparse") & ~is_quantized(cells)


def _scope(quantized: bool):
    """Which planned rows a calibration claim could use (for listing missing cells)."""

    def scope(cells: pd.DataFrame) -> pd.Series:
        if cells.empty:
            return pd.Series(False, index=cells.index)
        family = is_quantized(cells) if quantized else is_pruned(cells)
        return with_dense_partners(cells, family & calibration_shots(cells))

    return scope


def _ece_pairs(cells: pd.DataFrame, quantized: bool) -> pd.DataFrame:
    """Seed pairs of ECE at each dataset's calibration budget for pruned or quantized variants."""
    budget = calibration_shots(cells)
    pairs = seed_pairs(cells.loc[budget], "ece")
    if pairs.empty:
        return pairs
    pairs = pairs.loc[is_quantized(pairs) if quantized else is_pruned(pairs)]
    return pairs.assign(increase=(pairs["value"] - pairs["dense_value"]) * 100)


def budget_note(pairs: pd.DataFrame) -> str:
    """``""`` when every dataset was evaluated at full data, else which N-shot stood in for it."""
    few = pairs.loc[pairs["shots"].astype(str) != "full", ["dataset", "shots"]].drop_duplicates()
    if few.empty:
        return ""
    where = ", ".join(f"{d} at N = {s}" for d, s in sorted(map(tuple, few.astype(str).to_numpy())))
    return f"; not full data: {where} (the study has no full-data cells there)"


def _ece_claim(quantized: bool) -> Claim:
    """Sparsity worsens ECE / quantization does not."""
    kind = "quantized" if quantized else "pruned"
    effect_name = "ECE increase, compressed − dense [pp]"

    def evaluate(cells: pd.DataFrame, classes: pd.DataFrame | None) -> dict[str, object]:
        lacking = _lacking(cells, ["compression", "ece", "is_dense"])
        if lacking:
            return _no_data(f"cells table lacks {lacking}", effect_name)
        pairs = _ece_pairs(cells, quantized)
        if pairs.empty:
            return _no_data(
                f"no {kind} cell at {BUDGET_TEXT} has a dense partner of the same seed", effect_name
            )
        estimate, unit = clustered_interval(_comparisons(pairs, "increase"))
        if quantized:
            verdict, reason = sign_verdict(
                estimate, supported_if="high<margin", contradicted_if="low>0", margin=ECE_MARGIN_PP
            )
        else:
            verdict, reason = sign_verdict(
                estimate, supported_if="low>0", contradicted_if="high<margin", margin=ECE_MARGIN_PP
            )
        return _result(
            estimate,
            effect_name=effect_name,
            unit=unit,
            test="t-interval of the mean ECE increase; p: one-sample t (H0: increase = 0)",
            verdict=verdict,
            reason=reason + budget_note(pairs),
            cells=[*pairs["cell"], *pairs["dense_cell"]],
        )

    evaluation = (
        f"mean over {kind} comparisons at {BUDGET_TEXT} (the paper analyses calibration at full data "
        "only) of the seed-mean compressed − dense 15-bin ECE, in pp"
    )
    if quantized:
        return Claim(
            id="quantization_keeps_ece",
            statement="Quantization does not worsen the calibration (ECE) of the prompted model.",
            source="Abstract; Sec. 3.3, Figs 8–9",
            evaluation=evaluation,
            needs="quantized cells (compression_kind 'quantized' or weight_bits set) and their dense "
            "cells, same seed",
            decision_rule=(
                f"supported if the 95% interval's upper end is < {ECE_MARGIN_PP:g} pp (no relevant "
                "worsening); else contradicted if its lower end is > 0 (significant worsening); else not "
                "enough data"
            ),
            expected=f"ECE increase < {ECE_MARGIN_PP:g} pp",
            evaluate=evaluate,
            scope=_scope(quantized=True),
        )
    return Claim(
        id="sparsity_worsens_ece",
        statement="Pruned (sparse) models give worse-calibrated prompted models (higher ECE) than dense.",
        source="Abstract; Sec. 3.3, Fig. 7",
        evaluation=evaluation,
        needs="pruned cells (compression not 'none' and not quantization) and their dense cells, same seed",
        decision_rule=(
            "supported if the 95% interval's lower end is > 0; else contradicted if its upper end is < "
            f"{ECE_MARGIN_PP:g} pp (any worsening is negligible); else not enough data"
        ),
        expected="ECE increase > 0",
        evaluate=evaluate,
        scope=_scope(quantized=False),
    )


def _ece_trend_evaluate(cells: pd.DataFrame, classes: pd.DataFrame | None) -> dict[str, object]:
    """Slope of ECE over sparsity (dense = 0) per (model, pruning method, dataset, method)."""
    effect_name = "slope of ECE over sparsity [pp ECE per 10 pp sparsity]"
    lacking = _lacking(cells, ["compression", "compression_level", "ece", "is_dense"])
    if lacking:
        return _no_data(f"cells table lacks {lacking}", effect_name)
    pairs = _ece_pairs(cells, quantized=False)
    if pairs.empty:
        return _no_data(f"no pruned cell at {BUDGET_TEXT} has a dense partner of the same seed", effect_name)
    sparsity = pairs["sparsity"] if "sparsity" in pairs.columns else pairs["compression_level"]
    sparsity = sparsity.where(sparsity.notna(), pairs["compression_level"]).astype(float)
    pairs = pairs.loc[sparsity.between(0, 1)]  # a fraction; UPop's "2×"/"4×" levels are not sparsities
    sparsity = sparsity.loc[pairs.index]
    series = ["study", "dataset", "model", "compression", "method"]
    compressed = pairs.assign(x=sparsity * 10, y=pairs["value"] * 100)
    dense = pairs.drop_duplicates([*series, "seed"]).assign(x=0.0, y=lambda f: f["dense_value"] * 100)
    slopes = _series_slopes(pd.concat([compressed, dense], ignore_index=True), series, "x", "y")
    if slopes.empty:
        return _no_data(
            f"no pruning series has {MIN_TREND_POINTS - 1} sparsity levels besides dense", effect_name
        )
    return slope_result(
        slopes, pairs, series, effect_name, supported_if="low>0", contradicted_if="high<0", note=budget_note
    )


ECE_TREND_CLAIM = Claim(
    id="ece_grows_with_sparsity",
    statement="The calibration of the prompted model keeps worsening as sparsity increases.",
    source="Sec. 3.3 (LTH, Fig. 7); Conclusion",
    evaluation=(
        f"per (model, pruning method, dataset, method) series at {BUDGET_TEXT} with the dense point "
        f"(sparsity 0) and ≥ {MIN_TREND_POINTS - 1} sparsity levels: OLS slope of seed-mean ECE [pp] on "
        "sparsity (measured `sparsity`, else `compression_level`); mean slope over series"
    ),
    needs="dense cells and ≥ 2 sparsity levels of one pruning method at the calibration budget, same seeds",
    decision_rule=(
        "supported if the 95% interval of the mean slope is > 0; contradicted if < 0; else not enough data"
    ),
    expected="slope > 0",
    evaluate=_ece_trend_evaluate,
    scope=_scope(quantized=False),
)
