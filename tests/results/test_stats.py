"""vpbench.results.stats against scipy and hand computations on fixed data."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats as sps

from vpbench import metrics
from vpbench.errors import ConfigError
from vpbench.results import stats

T_975_2DF = 4.302652729911275  # t quantile 0.975 with 2 degrees of freedom


def _predictions(
    n: int, num_classes: int, seed: int, sharpness: float = 3.0
) -> tuple[np.ndarray, np.ndarray]:
    """Softmax probabilities whose argmax agrees with the label for about 60% of samples."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, num_classes, n)
    logits = rng.normal(size=(n, num_classes)) * sharpness
    logits[np.arange(n), labels] += rng.uniform(0, 4, n)
    probs = np.exp(logits - logits.max(axis=1, keepdims=True))
    return probs / probs.sum(axis=1, keepdims=True), labels


def _cells(values: dict[tuple[str, str, int], float], metric: str = "accuracy") -> pd.DataFrame:
    """A tidy cells table for one (study, dataset, model, method): key (variant, shots, seed) → metric."""
    rows = [
        {
            "study": "s",
            "dataset": "pets",
            "model": "resnet50",
            "variant": variant,
            "method": "ilm",
            "shots": shots,
            "seed": seed,
            "is_dense": variant == "dense",
            metric: value,
        }
        for (variant, shots, seed), value in values.items()
    ]
    return pd.DataFrame(rows)


# ---------------------------------------------------------------------------------------- ids, seeds


def test_cell_id_round_trips() -> None:
    ids = {
        "study": "s",
        "dataset": "d",
        "model": "m",
        "variant": "v",
        "method": "ilm",
        "shots": "10",
        "seed": 3,
    }
    assert stats.cell_id(ids) == "s/d/m/v/ilm/10shot/seed3"
    assert stats.parse_cell_id(stats.cell_id(ids)) == ids
    with pytest.raises(ValueError, match="not a cell id"):
        stats.parse_cell_id("s/d/m")


def test_seed_intervals_match_hand_computed_t_interval() -> None:
    cells = _cells(
        {("dense", "10", 1): 0.80, ("dense", "10", 2): 0.82, ("dense", "10", 3): 0.78, ("dense", "1", 1): 0.5}
    )
    out = stats.seed_intervals(cells, "accuracy").set_index("shots")
    half = T_975_2DF * 0.02 / math.sqrt(3)
    assert out.loc["10", "mean"] == pytest.approx(0.80)
    assert out.loc["10", "ci_low"] == pytest.approx(0.80 - half)
    assert out.loc["10", "ci_high"] == pytest.approx(0.80 + half)
    assert out.loc["10", "n_seeds"] == 3
    assert np.isnan(out.loc["1", "ci_low"]) and "one seed" in out.loc["1", "reason"]


def test_t_interval_matches_scipy() -> None:
    values = np.array([0.1, 0.25, 0.3, 0.05])
    result = stats.t_interval(values)
    low, high = sps.t.interval(0.95, 3, loc=values.mean(), scale=sps.sem(values))
    assert (result.low, result.high) == pytest.approx((low, high))
    assert result.p_value == pytest.approx(sps.ttest_1samp(values, 0).pvalue)
    assert np.isnan(stats.t_interval([0.3]).low)


# ---------------------------------------------------------------------------------- cell bootstraps


def test_bootstrap_accuracy_equals_scipy_bootstrap_of_the_mean() -> None:
    correct = np.random.default_rng(0).random(500) < 0.7
    ours = stats.bootstrap_accuracy(correct, n_resamples=999, seed=7)
    ref = sps.bootstrap(
        (correct.astype(float),),
        np.mean,
        n_resamples=999,
        batch=250,
        method="percentile",
        rng=np.random.default_rng(7),
    )
    assert ours.estimate == pytest.approx(correct.mean())
    assert ours.low == pytest.approx(ref.confidence_interval.low)
    assert ours.high == pytest.approx(ref.confidence_interval.high)


def test_bootstrap_ece_equals_scipy_with_metrics_ece_and_is_fast_on_10k() -> None:
    probs, labels = _predictions(300, 5, seed=1)
    ours = stats.bootstrap_ece(probs, labels, n_resamples=200, seed=3)

    def ece(index: np.ndarray) -> float:
        return metrics.expected_calibration_error(probs[index], labels[index])

    ref = sps.bootstrap(
        (np.arange(300),),
        ece,
        vectorized=False,
        n_resamples=200,
        batch=250,
        method="percentile",
        rng=np.random.default_rng(3),
    )
    assert ours.estimate == pytest.approx(metrics.expected_calibration_error(probs, labels), abs=1e-12)
    assert ours.low == pytest.approx(ref.confidence_interval.low, abs=1e-12)
    assert ours.high == pytest.approx(ref.confidence_interval.high, abs=1e-12)
    big_probs, big_labels = _predictions(10_000, 10, seed=2)
    big = stats.bootstrap_ece(big_probs, big_labels, n_resamples=1000)
    assert big.low < big.estimate < big.high


def test_bootstrap_bca_and_degenerate_cases() -> None:
    probs, labels = _predictions(400, 4, seed=5)
    bca = stats.bootstrap_metric(probs, labels, "accuracy", method="BCa", n_resamples=500)
    assert bca.test == "bootstrap_bca" and bca.low < bca.estimate < bca.high
    constant = stats.bootstrap_accuracy(np.ones(50, dtype=bool))
    assert (constant.estimate, constant.low, constant.high) == (1.0, 1.0, 1.0)
    assert "degenerate" in constant.reason
    assert "fewer than two" in stats.bootstrap_accuracy(np.ones(1, dtype=bool)).reason


# ---------------------------------------------------------------------------------- paired tests


def test_paired_t_matches_ttest_rel_and_hand_computation() -> None:
    dense = np.array([0.80, 0.85, 0.90])
    compressed = np.array([0.70, 0.65, 0.60])  # differences 0.1, 0.2, 0.3
    result = stats.paired_seed_test(dense, compressed)
    reference = sps.ttest_rel(dense, compressed)
    t_stat = 0.2 / (0.1 / math.sqrt(3))
    assert result.estimate == pytest.approx(0.2)
    assert result.p_value == pytest.approx(reference.pvalue)
    assert result.p_value == pytest.approx(2 * sps.t.sf(t_stat, 2))
    assert (result.low, result.high) == pytest.approx(
        (0.2 - T_975_2DF * 0.1 / math.sqrt(3), 0.2 + T_975_2DF * 0.1 / math.sqrt(3))
    )
    assert result.effect_size == pytest.approx(2.0)  # d_z = 0.2 / 0.1
    assert result.n == 3


def test_wilcoxon_option_matches_scipy() -> None:
    dense = np.array([0.8, 0.85, 0.9, 0.7, 0.75, 0.95])
    compressed = np.array([0.7, 0.86, 0.6, 0.5, 0.74, 0.80])
    result = stats.paired_seed_test(dense, compressed, test="wilcoxon")
    assert result.p_value == pytest.approx(sps.wilcoxon(dense, compressed).pvalue)
    assert result.estimate == pytest.approx((dense - compressed).mean())


def test_one_seed_and_constant_differences_are_not_estimable_not_errors() -> None:
    one = stats.paired_seed_test([0.8], [0.7])
    assert one.estimate == pytest.approx(0.1) and np.isnan(one.p_value) and np.isnan(one.low)
    assert "one seed" in one.reason
    constant = stats.paired_seed_test([0.8, 0.9, 0.7], [0.7, 0.8, 0.6])
    assert constant.estimate == pytest.approx(0.1) and np.isnan(constant.p_value)
    assert (constant.low, constant.high) == pytest.approx((0.1, 0.1))
    assert "equal" in constant.reason
    zero = stats.paired_seed_test([0.8, 0.9], [0.8, 0.9], test="wilcoxon")
    assert np.isnan(zero.p_value) and "zero" in zero.reason
    assert "no paired" in stats.paired_seed_test([np.nan], [0.5]).reason


def test_paired_bootstrap_works_with_one_seed() -> None:
    probs, labels = _predictions(2000, 5, seed=3)
    worse = probs.copy()
    flip = np.random.default_rng(0).random(2000) < 0.15  # compressed: uniform probabilities on 15%
    worse[flip] = 1 / 5
    result = stats.paired_bootstrap([(probs, labels)], [(worse, labels)], "accuracy", n_resamples=999)
    correct_d = probs.argmax(1) == labels
    correct_c = worse.argmax(1) == labels
    diff = correct_d.astype(float) - correct_c
    assert result.estimate == pytest.approx(diff.mean())
    half = 1.96 * diff.std(ddof=1) / math.sqrt(diff.size)
    assert (result.high - result.low) / 2 == pytest.approx(half, rel=0.15)
    assert result.p_value == pytest.approx(1 / 1000 * 2)  # every resample is positive
    assert result.n == 1 and result.test == "paired_bootstrap"
    same = stats.paired_bootstrap([(probs, labels)], [(probs, labels)], "ece", n_resamples=200)
    assert same.estimate == 0 and same.p_value == 1.0 and "degenerate" in same.reason


def test_paired_bootstrap_combines_seeds_by_averaging_within_seed_resamples() -> None:
    a, labels_a = _predictions(500, 4, seed=10)
    b, labels_b = _predictions(400, 4, seed=11)
    a2, b2 = np.roll(a, 1, axis=1), b  # seed 2: identical predictions
    result = stats.paired_bootstrap([(a, labels_a), (b, labels_b)], [(a2, labels_a), (b2, labels_b)], "ece")
    delta_a = metrics.expected_calibration_error(a, labels_a) - metrics.expected_calibration_error(
        a2, labels_a
    )
    assert result.estimate == pytest.approx(delta_a / 2)
    assert result.low <= result.estimate <= result.high
    with pytest.raises(ValueError, match="labels differ"):
        stats.paired_bootstrap([(a, labels_a)], [(a, np.roll(labels_a, 1))])


def test_bootstrap_p_value_inverts_the_percentile_interval() -> None:
    assert stats.bootstrap_p_value(np.array([1.0, 2.0, 3.0])) == pytest.approx(2 / 4)
    assert stats.bootstrap_p_value(np.array([-1.0, 2.0, 3.0, 4.0])) == pytest.approx(2 * 2 / 5)


# ----------------------------------------------------------------------------------- multiplicity


def test_holm_and_bh_match_hand_computation_and_scipy() -> None:
    p = np.array([0.01, 0.04, 0.03, 0.005, np.nan])
    assert stats.holm(p)[:4] == pytest.approx([0.03, 0.06, 0.06, 0.02])
    assert stats.benjamini_hochberg(p)[:4] == pytest.approx([0.02, 0.04, 0.04, 0.02])
    assert stats.benjamini_hochberg(p)[:4] == pytest.approx(sps.false_discovery_control(p[:4]))
    assert np.isnan(stats.holm(p)[4]) and np.isnan(stats.benjamini_hochberg(p)[4])
    _, significant = stats.adjust_p_values(p, "holm", alpha=0.05)
    assert significant.tolist() == [True, False, False, True, False]
    assert stats.holm([0.5, 0.9]).tolist() == [1.0, 1.0]


# ------------------------------------------------------------------------------------- comparisons


def test_compare_to_dense_uses_paired_t_with_three_seeds_and_corrects_per_family() -> None:
    values = {}
    for seed, (d, c50, c90) in enumerate([(0.80, 0.75, 0.60), (0.85, 0.79, 0.62), (0.90, 0.86, 0.61)], 1):
        values |= {("dense", "10", seed): d, ("mag50", "10", seed): c50, ("mag90", "10", seed): c90}
    table = stats.compare_to_dense(_cells(values))
    assert list(table.columns) == list(stats.COMPARISON_COLUMNS)
    row = table.set_index("variant").loc["mag90"]
    assert row["test"] == "paired_t" and row["n_seeds"] == 3
    ref = sps.ttest_rel([0.80, 0.85, 0.90], [0.60, 0.62, 0.61])
    assert row["p_value"] == pytest.approx(ref.pvalue)
    assert row["delta"] == pytest.approx(0.85 - 0.61) and row["dense_mean"] == pytest.approx(0.85)
    assert table["p_adjusted"].tolist() == pytest.approx(stats.holm(table["p_value"]).tolist())
    assert row["dense_cells"].split(";") == [f"s/pets/resnet50/dense/ilm/10shot/seed{s}" for s in (1, 2, 3)]
    bh = stats.compare_to_dense(_cells(values), correction="bh")
    assert bh["p_adjusted"].tolist() == pytest.approx(sps.false_discovery_control(bh["p_value"]).tolist())


def test_compare_to_dense_falls_back_to_the_paired_bootstrap_with_one_seed() -> None:
    probs, labels = _predictions(800, 4, seed=4)
    worse = probs.copy()
    worse[:200] = np.roll(worse[:200], 1, axis=1)
    values = {
        ("dense", "1", 1): float((probs.argmax(1) == labels).mean()),
        ("mag90", "1", 1): float((worse.argmax(1) == labels).mean()),
        ("mag50", "1", 1): 0.5,
    }
    cells = _cells(values)
    predictions = {
        "s/pets/resnet50/dense/ilm/1shot/seed1": (probs, labels),
        "s/pets/resnet50/mag90/ilm/1shot/seed1": (worse, labels),
    }
    table = stats.compare_to_dense(cells, predictions, n_resamples=500).set_index("variant")
    assert table.loc["mag90", "test"] == "paired_bootstrap"
    assert table.loc["mag90", "delta"] == pytest.approx(values[("dense", "1", 1)] - values[("mag90", "1", 1)])
    assert table.loc["mag90", "ci_low"] < table.loc["mag90", "delta"] < table.loc["mag90", "ci_high"]
    assert table.loc["mag50", "test"] == "paired_t" and np.isnan(table.loc["mag50", "p_value"])
    assert "one seed" in table.loc["mag50", "reason"] and not table.loc["mag50", "significant"]
    forced = stats.compare_to_dense(cells, {}, test="paired_bootstrap").set_index("variant")
    assert "missing" in forced.loc["mag90", "reason"]
    again = stats.compare_to_dense(cells, predictions, n_resamples=500).set_index("variant")
    assert again.loc["mag90", "ci_low"] == table.loc["mag90", "ci_low"]  # seeded per comparison


def test_compare_to_dense_handles_absent_dense_and_empty_tables() -> None:
    cells = _cells({("mag50", "10", 1): 0.5, ("mag50", "10", 2): 0.6})
    table = stats.compare_to_dense(cells)
    assert len(table) == 1 and "no dense variant" in table.loc[0, "reason"]
    with pytest.raises(ConfigError, match="no column 'ece'"):
        stats.compare_to_dense(cells, metric="ece")
    empty = stats.compare_to_dense(cells.iloc[0:0])
    assert empty.empty and list(empty.columns) == list(stats.COMPARISON_COLUMNS)
    unpaired = stats.compare_to_dense(_cells({("dense", "10", 1): 0.8, ("mag50", "10", 2): 0.6}))
    assert "no seed has both" in unpaired.loc[0, "reason"]
