"""The paper's claims (Misra et al., arXiv:2308.14969) tested on any study's own cells (docs/claims.md).

Each claim is a registry entry with an explicit effect, interval, test and decision rule, and evaluates to
``supported``, ``contradicted`` or ``not enough data``. A claim whose cells are absent (or whose interval is
not decisive) gives ``not enough data`` with a ``reason``, never an exception, so the same registry runs on
the demo, the paper study or a user's models.

Shared conventions: a *comparison* is one (study, dataset, model, compressed variant, method, N-shot) averaged
over the seeds that have both a dense and a compressed cell (same seed ⇒ same N-shot subset). Comparisons on
one dataset share its test images, so intervals are t-intervals across **datasets** (the mean of each
dataset's comparisons); with a single dataset, across its comparisons.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from itertools import combinations

import numpy as np
import pandas as pd
from scipy import stats as sps

from vpbench.study.grid import IDENTIFIERS
from vpbench.results.frames import dense_variants, shots_sort_key
from vpbench.results.stats import LEVEL, Estimate, cell_id, t_interval

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
# Paper Table 1: compression method → (display name, type, performance drop).
PAPER_TABLE1: dict[str, tuple[str, str, str]] = {
    "gmp": ("GMP", "Unstructured", "High"),
    "lt": ("IMP (LT)", "Unstructured", "Moderate"),
    "acdc": ("AC/DC", "Unstructured", "Low"),
    "rigl": ("RigL", "Unstructured", "Low"),
    "upop": ("UPop", "Structured", "High"),
    "vvtq": ("VVTQ", "Quantization", "Moderate"),
}
# Coarse ImageNet-1k superclasses by class index (ILSVRC order): dogs are 151 Chihuahua … 268 Mexican
# hairless, animals are 0 tench … 397 puffer, everything from 398 abacus on is not an animal.
IMAGENET_SUPERCLASS_RANGES: tuple[tuple[str, int, int], ...] = (
    ("dog", 151, 268),
    ("animal (not dog)", 0, 150),
    ("animal (not dog)", 269, 397),
    ("not an animal", 398, 999),
)
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
)
AGREEMENT_COLUMNS: tuple[str, ...] = (
    *IDENTIFIERS,
    "dense_variant",
    "n_targets",
    "agreement",
    "superclass_agreement",
    "dense_cell",
    "compressed_cell",
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


# ------------------------------------------------------------------------------- accuracy claims


def _table1_claim(compression: str) -> Claim:
    """The Table 1 drop level of one compression method."""
    name, kind, level = PAPER_TABLE1[compression]
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
    estimate, unit = clustered_interval(slopes, unit_name="series")
    verdict, reason = sign_verdict(estimate, supported_if="high<0", contradicted_if="low>0")
    used = pairs.merge(slopes[series], on=series)
    return _result(
        estimate,
        effect_name=effect_name,
        unit=unit,
        test="t-interval of the mean OLS slope; p: one-sample t (H0: slope = 0)",
        verdict=verdict,
        reason=reason,
        cells=[*used["cell"], *used["dense_cell"]],
    )


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


# ---------------------------------------------------------------------------------- calibration


def _ece_pairs(cells: pd.DataFrame, shots: Sequence[str], quantized: bool) -> pd.DataFrame:
    """Seed pairs of ECE at ``shots`` for pruned (``quantized`` False) or quantized variants."""
    pairs = seed_pairs(cells, "ece")
    if pairs.empty:
        return pairs
    kind = pairs.get("compression_kind", pd.Series("", index=pairs.index))
    is_quant = kind == "quantized"
    if "weight_bits" in pairs.columns:
        is_quant |= pairs["weight_bits"].notna()
    family = is_quant if quantized else (kind == "sparse") & ~is_quant
    pairs = pairs.loc[family & pairs["shots"].astype(str).isin([str(s) for s in shots])]
    return pairs.assign(increase=(pairs["value"] - pairs["dense_value"]) * 100)


def _ece_claim(quantized: bool, shots: Sequence[str] = ("full",)) -> Claim:
    """Sparsity worsens ECE / quantization does not."""
    kind = "quantized" if quantized else "pruned"
    effect_name = "ECE increase, compressed − dense [pp]"
    shots_text = ", ".join(shots)

    def evaluate(cells: pd.DataFrame, classes: pd.DataFrame | None) -> dict[str, object]:
        lacking = _lacking(cells, ["compression", "ece", "is_dense"])
        if lacking:
            return _no_data(f"cells table lacks {lacking}", effect_name)
        pairs = _ece_pairs(cells, shots, quantized)
        if pairs.empty:
            return _no_data(
                f"no {kind} cell at N-shot {shots_text} has a dense partner of the same seed", effect_name
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
            reason=reason,
            cells=[*pairs["cell"], *pairs["dense_cell"]],
        )

    evaluation = (
        f"mean over {kind} comparisons at N-shot {shots_text} (the paper analyses calibration at full data "
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
    )


def _ece_trend_evaluate(cells: pd.DataFrame, classes: pd.DataFrame | None) -> dict[str, object]:
    """Slope of ECE over sparsity (dense = 0) per (model, pruning method, dataset, method) at full data."""
    effect_name = "slope of ECE over sparsity [pp ECE per 10 pp sparsity]"
    lacking = _lacking(cells, ["compression", "compression_level", "ece", "is_dense"])
    if lacking:
        return _no_data(f"cells table lacks {lacking}", effect_name)
    pairs = _ece_pairs(cells, ("full",), quantized=False)
    if pairs.empty:
        return _no_data("no pruned cell at full data has a dense partner of the same seed", effect_name)
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
    estimate, unit = clustered_interval(slopes, unit_name="series")
    verdict, reason = sign_verdict(estimate, supported_if="low>0", contradicted_if="high<0")
    used = pairs.merge(slopes[series], on=series)
    return _result(
        estimate,
        effect_name=effect_name,
        unit=unit,
        test="t-interval of the mean OLS slope; p: one-sample t (H0: slope = 0)",
        verdict=verdict,
        reason=reason,
        cells=[*used["cell"], *used["dense_cell"]],
    )


ECE_TREND_CLAIM = Claim(
    id="ece_grows_with_sparsity",
    statement="The calibration of the prompted model keeps worsening as sparsity increases.",
    source="Sec. 3.3 (LTH, Fig. 7); Conclusion",
    evaluation=(
        "per (model, pruning method, dataset, method) series at full data with the dense point (sparsity 0) "
        f"and ≥ {MIN_TREND_POINTS - 1} sparsity levels: OLS slope of seed-mean ECE [pp] on sparsity "
        "(measured `sparsity`, else `compression_level`); mean slope over series"
    ),
    needs="full-data dense cells and ≥ 2 sparsity levels of one pruning method, same seeds",
    decision_rule=(
        "supported if the 95% interval of the mean slope is > 0; contradicted if < 0; else not enough data"
    ),
    expected="slope > 0",
    evaluate=_ece_trend_evaluate,
)


# ------------------------------------------------------------------------------------ label maps


def learned_map_methods() -> tuple[str, ...]:
    """Registered VP methods whose index map is learned from the training subset (FLM, ILM, ILM-TP-VP)."""
    from vpbench.engine.methods import METHODS

    return tuple(sorted(m.name for m in METHODS.values() if m.learns_map))


def imagenet_superclass(index: int) -> str:
    """Coarse ImageNet-1k superclass of a class index (:data:`IMAGENET_SUPERCLASS_RANGES`)."""
    for name, low, high in IMAGENET_SUPERCLASS_RANGES:
        if low <= index <= high:
            return name
    raise ValueError(f"{index} is not an ImageNet-1k class index")


def _is_imagenet(rows: pd.DataFrame, names: Sequence[str]) -> bool:
    """Whether every row's (source_index, source_name) is the ImageNet-1k class of that index."""
    index = rows["source_index"].to_numpy(dtype=np.int64)
    if index.size == 0 or index.min() < 0 or index.max() >= len(names):
        return False
    return bool(np.all(np.asarray(names, dtype=object)[index] == rows["source_name"].to_numpy(dtype=object)))


def _map_agreement(first: pd.DataFrame, second: pd.DataFrame, imagenet: bool) -> tuple[int, float, float]:
    """Targets in both maps, fraction with the same source, and with the same ImageNet superclass."""
    joined = first[["class_index", "source_index"]].merge(
        second[["class_index", "source_index"]], on="class_index", suffixes=("_a", "_b")
    )
    if joined.empty:
        return 0, math.nan, math.nan
    same = float((joined["source_index_a"] == joined["source_index_b"]).mean())
    if not imagenet:
        return len(joined), same, math.nan
    a = joined["source_index_a"].map(imagenet_superclass)
    b = joined["source_index_b"].map(imagenet_superclass)
    return len(joined), same, float((a == b).mean())


def label_map_agreement(
    classes: pd.DataFrame,
    cells: pd.DataFrame,
    *,
    methods: Sequence[str] | None = None,
    imagenet_names: Sequence[str] | None = None,
) -> pd.DataFrame:
    """Dense-vs-compressed label-map agreement per compressed cell (:data:`AGREEMENT_COLUMNS`).

    ``agreement``: fraction of target classes that the dense and the compressed model of the same seed,
    method and N-shot map to the same source class; ``superclass_agreement``: to the same coarse ImageNet
    superclass (NaN unless the sources are ImageNet-1k classes). Only methods with a learned index map count
    (default :func:`learned_map_methods`); FullyMap rows (source −1) never do.
    """
    lacking = _lacking(classes, [*IDENTIFIERS, "class_index", "source_index", "source_name"])
    lacking += _lacking(cells, [*IDENTIFIERS, "is_dense"])
    if lacking or classes.empty or cells.empty:
        return pd.DataFrame(columns=list(AGREEMENT_COLUMNS))
    methods = tuple(methods) if methods is not None else learned_map_methods()
    rows = classes.loc[classes["method"].isin(methods) & (classes["source_index"] >= 0)]
    if imagenet_names is None:
        from vpbench.models.imagenet import imagenet_class_names

        imagenet_names = imagenet_class_names()
    dense_of = dense_variants(cells)
    maps = {key: group for key, group in rows.groupby(list(IDENTIFIERS), sort=True)}
    records = []
    for key, compressed in maps.items():
        ids = dict(zip(IDENTIFIERS, key, strict=True))
        dense_name = dense_of.get((str(ids["study"]), str(ids["model"])))
        if dense_name is None or ids["variant"] == dense_name:
            continue
        dense_key = tuple(dense_name if c == "variant" else ids[c] for c in IDENTIFIERS)
        dense = maps.get(dense_key)
        if dense is None:
            continue
        imagenet = _is_imagenet(pd.concat([dense, compressed]), imagenet_names)
        n, same, same_super = _map_agreement(dense, compressed, imagenet)
        records.append(
            ids
            | {
                "dense_variant": dense_name,
                "n_targets": n,
                "agreement": same,
                "superclass_agreement": same_super,
                "dense_cell": cell_id(ids | {"variant": dense_name}),
                "compressed_cell": cell_id(ids),
            }
        )
    return pd.DataFrame(records, columns=list(AGREEMENT_COLUMNS))


def dense_seed_agreement(
    classes: pd.DataFrame,
    cells: pd.DataFrame,
    *,
    methods: Sequence[str] | None = None,
    imagenet_names: Sequence[str] | None = None,
) -> pd.DataFrame:
    """Mean label-map agreement between dense cells of different seeds per (study, dataset, model, method, N).

    The seed-to-seed baseline: how much the dense map moves when only the N-shot subset and prompt init
    change.
    """
    columns = [
        "study",
        "dataset",
        "model",
        "method",
        "shots",
        "baseline",
        "superclass_baseline",
        "n_seed_pairs",
    ]
    if _lacking(classes, [*IDENTIFIERS, "class_index", "source_index", "source_name"]) or classes.empty:
        return pd.DataFrame(columns=columns)
    if _lacking(cells, [*IDENTIFIERS, "is_dense"]) or cells.empty:
        return pd.DataFrame(columns=columns)
    methods = tuple(methods) if methods is not None else learned_map_methods()
    if imagenet_names is None:
        from vpbench.models.imagenet import imagenet_class_names

        imagenet_names = imagenet_class_names()
    dense_of = dense_variants(cells)
    is_dense = np.array(
        [
            dense_of.get((str(study), str(model))) == variant
            for study, model, variant in zip(
                classes["study"], classes["model"], classes["variant"], strict=True
            )
        ],
        dtype=bool,
    )
    rows = classes.loc[is_dense & classes["method"].isin(methods) & (classes["source_index"] >= 0)]
    records = []
    for key, group in rows.groupby(["study", "dataset", "model", "method", "shots"], sort=True):
        maps = {seed: part for seed, part in group.groupby("seed", sort=True)}
        imagenet = _is_imagenet(group, imagenet_names)
        scores = [_map_agreement(maps[a], maps[b], imagenet) for a, b in combinations(sorted(maps), 2)]
        if not scores:
            continue
        records.append(
            dict(zip(["study", "dataset", "model", "method", "shots"], key, strict=True))
            | {
                "baseline": float(np.mean([s[1] for s in scores])),
                "superclass_baseline": float(np.mean([s[2] for s in scores])),
                "n_seed_pairs": len(scores),
            }
        )
    return pd.DataFrame(records, columns=columns)


def _drift_claim(superclass: bool) -> Claim:
    """Label-map drift (exact or superclass) beyond the dense seed-to-seed baseline."""
    score, baseline_col = (
        ("superclass_agreement", "superclass_baseline") if superclass else ("agreement", "baseline")
    )
    what = "coarse ImageNet superclass of the source" if superclass else "source class"
    effect_name = (
        f"excess {'superclass ' if superclass else ''}drift: dense-seed baseline − dense/compressed agreement"
    )

    def evaluate(cells: pd.DataFrame, classes: pd.DataFrame | None) -> dict[str, object]:
        if classes is None or classes.empty:
            return _no_data("no classes table (per-class source_index)", effect_name)
        agreement = label_map_agreement(classes, cells)
        agreement = agreement.dropna(subset=[score])
        if agreement.empty:
            reason = "no dense/compressed pair of a learned label map (FLM, ILM, ILM-TP-VP)"
            if superclass:
                reason += " with ImageNet-1k sources"
            return _no_data(reason, effect_name)
        baseline = dense_seed_agreement(classes, cells).dropna(subset=[baseline_col])
        comparisons = _comparisons(agreement, score)
        merged = comparisons.merge(baseline, on=["study", "dataset", "model", "method", "shots"], how="inner")
        if merged.empty:
            mean = float(comparisons["value"].mean())
            return _no_data(
                f"no dense seed-to-seed baseline (needs ≥ 2 dense seeds); mean {score} = {mean:.3f}",
                effect_name,
            )
        merged = merged.assign(excess=merged[baseline_col] - merged["value"])
        estimate, unit = clustered_interval(merged, "excess")
        verdict, reason = sign_verdict(estimate, supported_if="low>0", contradicted_if="high<0")
        used = agreement.merge(merged[_COMPARISON], on=_COMPARISON)
        reason += (
            f"; mean {score} {merged['value'].mean():.3f} vs dense seed baseline "
            f"{merged[baseline_col].mean():.3f}"
        )
        return _result(
            estimate,
            effect_name=effect_name,
            unit=unit,
            test="t-interval of the mean excess drift; p: one-sample t (H0: excess = 0)",
            verdict=verdict,
            reason=reason,
            cells=[*used["compressed_cell"], *used["dense_cell"]],
        )

    return Claim(
        id="label_map_superclass_drift" if superclass else "label_map_drift",
        statement=(
            "Compressed models map target classes to different (less related) source classes than their "
            f"dense counterparts — measured as the {what} changing more than between dense runs of "
            "different seeds."
        ),
        source="Fig. 1; Sec. 8.0.1",
        evaluation=(
            f"per comparison: fraction of target classes whose {what} is the same for the dense and the "
            "compressed model of one seed (mean over seeds), subtracted from the mean agreement of dense "
            "maps across seed pairs (same dataset, model, method, N); learned maps only (FLM, ILM, "
            "ILM-TP-VP)" + ("; ImageNet-1k sources only" if superclass else "")
        ),
        needs="classes-table rows (source_index per target class) of dense and compressed cells, ≥ 2 dense "
        "seeds",
        decision_rule=(
            "supported if the 95% interval of the mean excess drift is > 0 (compression moves the map more "
            "than re-drawing the N-shot subset does); contradicted if < 0; else not enough data"
        ),
        expected="excess drift > 0",
        evaluate=evaluate,
    )


# ------------------------------------------------------------------------------------ registry


CLAIMS: tuple[Claim, ...] = (
    *(_table1_claim(compression) for compression in PAPER_TABLE1),
    LOW_N_CLAIM,
    _ece_claim(quantized=False),
    ECE_TREND_CLAIM,
    _ece_claim(quantized=True),
    _drift_claim(superclass=False),
    _drift_claim(superclass=True),
)


def evaluate_claims(
    cells: pd.DataFrame, classes: pd.DataFrame | None = None, *, claims: Sequence[Claim] = CLAIMS
) -> pd.DataFrame:
    """One row per claim with :data:`CLAIM_COLUMNS` (the future ``claims.csv``/``claims.html``)."""
    rows = []
    for claim in claims:
        evaluated = claim.evaluate(cells, classes)
        rows.append(
            {
                "claim_id": claim.id,
                "statement": claim.statement,
                "source": claim.source,
                "evaluation": claim.evaluation,
                "needs": claim.needs,
                "expected": claim.expected,
                "decision_rule": claim.decision_rule,
            }
            | evaluated
        )
    table = pd.DataFrame(rows, columns=list(CLAIM_COLUMNS))
    return table.astype(
        {"effect": float, "ci_low": float, "ci_high": float, "level": float, "p_value": float}
    )
