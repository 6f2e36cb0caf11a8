"""vpbench.calibration: the T-fitting rule, its splits, bound handling and binned diagnostics."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torchmetrics.classification import BinaryCalibrationError

from vpbench import calibration as cal
from vpbench import metrics


def _labels(per_class: int, num_classes: int = 5, seed: int = 0) -> np.ndarray:
    """Shuffled labels with ``per_class`` images of each class (an N-shot subset's labels)."""
    return np.random.default_rng(seed).permutation(np.repeat(np.arange(num_classes), per_class))


def _tempered(n: int, num_classes: int, temperature: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Logits and labels drawn from softmax(logits / temperature): the true T is ``temperature``."""
    rng = np.random.default_rng(seed)
    logits = rng.normal(size=(n, num_classes)) * 3
    probs = torch.softmax(torch.from_numpy(logits / temperature), dim=1).numpy()
    labels = np.array([rng.choice(num_classes, p=row) for row in probs])
    return logits, labels


# ----------------------------------------------------------------------------------------- the rule


@pytest.mark.parametrize(
    ("per_class", "strategy"),
    [
        (40, "held_out"),
        (20, "held_out"),
        (19, "cross_fit"),
        (5, "cross_fit"),
        (4, "not_estimable"),
        (1, "not_estimable"),
    ],
)
def test_plan_follows_the_documented_thresholds(per_class: int, strategy: str) -> None:
    plan = cal.calibration_plan(_labels(per_class))
    assert plan.strategy == strategy and plan.min_per_class == per_class and plan.reason


def test_plan_uses_the_smallest_class_and_counts_absent_classes() -> None:
    labels = np.concatenate([_labels(30, 4), np.full(3, 4)])  # class 4 has 3 images
    assert cal.calibration_plan(labels).strategy == "not_estimable"
    assert cal.calibration_plan(_labels(30, 4), num_classes=5).min_per_class == 0


# ---------------------------------------------------------------------------------------- the split


@pytest.mark.parametrize(("per_class", "shots", "seed"), [(20, 20, 1), (50, "full", 2), (23, 50, 7)])
def test_calibration_split_is_disjoint_stratified_and_covers_the_subset(per_class, shots, seed) -> None:
    labels = _labels(per_class, seed=seed)
    fit, held = cal.calibration_split(labels, shots, seed)
    assert np.intersect1d(fit, held).size == 0
    assert np.array_equal(np.sort(np.concatenate([fit, held])), np.arange(labels.size))
    assert np.bincount(labels[held]).tolist() == [round(0.2 * per_class)] * 5


def test_calibration_split_is_identical_for_dense_and_compressed_cells_of_one_seed() -> None:
    labels = _labels(25)
    dense = cal.calibration_split(labels, 25, seed=3)
    compressed = cal.calibration_split(labels.copy(), "25", seed=3)  # another variant, same seed
    assert all(np.array_equal(a, b) for a, b in zip(dense, compressed, strict=True))
    other_seed = cal.calibration_split(labels, 25, seed=4)
    assert not np.array_equal(dense[1], other_seed[1])
    other_shots = cal.calibration_split(labels, "full", seed=3)
    assert not np.array_equal(dense[1], other_shots[1])


def test_held_out_fit_refuses_the_prompts_training_images() -> None:
    labels = _labels(30)
    fit, held = cal.calibration_split(labels, 30, seed=0)
    logits = np.random.default_rng(0).normal(size=(held.size, 5))
    good = cal.fit_held_out_temperature(
        logits, labels[held], prompt_train_indices=fit, calibration_indices=held
    )
    assert good.strategy == "held_out" and good.n == held.size
    with pytest.raises(ValueError, match="never be fitted on the prompt's own training images"):
        cal.fit_held_out_temperature(
            logits, labels[held], prompt_train_indices=np.arange(labels.size), calibration_indices=held
        )


# ------------------------------------------------------------------------------------- cross-fitting


def test_cross_fit_folds_are_stratified_balanced_and_seeded() -> None:
    labels = _labels(7, num_classes=3)
    folds = cal.cross_fit_folds(labels, 7, seed=1)
    assert np.bincount(folds).max() - np.bincount(folds).min() <= 1
    for label in range(3):
        assert sorted(np.bincount(folds[labels == label], minlength=5)) == [1, 1, 1, 2, 2]
    assert np.array_equal(folds, cal.cross_fit_folds(labels, 7, seed=1))
    for train, held in cal.cross_fit_splits(folds):
        assert np.intersect1d(train, held).size == 0 and train.size + held.size == labels.size


def test_cross_fit_pools_out_of_fold_logits_and_checks_every_fold() -> None:
    logits, labels = _tempered(600, 4, temperature=2.0, seed=1)
    folds = cal.cross_fit_folds(labels, 10, seed=0)
    splits = cal.cross_fit_splits(folds)
    fold_logits = [logits[held] for _, held in splits]
    fold_labels = [labels[held] for _, held in splits]
    pooled_logits, pooled_labels = cal.pool_out_of_fold(fold_logits, fold_labels)
    assert pooled_logits.shape == (600, 4) and np.array_equal(np.sort(pooled_labels), np.sort(labels))
    fit = cal.fit_cross_fit_temperature(
        fold_logits,
        fold_labels,
        fold_train_indices=[train for train, _ in splits],
        fold_heldout_indices=[held for _, held in splits],
    )
    assert fit.strategy == "cross_fit" and fit.n == 600
    assert fit.temperature == pytest.approx(metrics.fit_temperature(pooled_logits, pooled_labels))
    with pytest.raises(ValueError, match="cross_fit fold 0"):
        cal.fit_cross_fit_temperature(
            fold_logits,
            fold_labels,
            fold_train_indices=[np.arange(600)] * len(splits),
            fold_heldout_indices=[held for _, held in splits],
        )
    with pytest.raises(ValueError, match="more than one fold"):
        cal.fit_cross_fit_temperature(
            fold_logits[:2],
            fold_labels[:2],
            fold_train_indices=[np.array([], dtype=int)] * 2,
            fold_heldout_indices=[splits[0][1], splits[0][1]],
        )


# ------------------------------------------------------------------------------- fitting and bounds


def test_fit_recovers_a_known_temperature() -> None:
    logits, labels = _tempered(4000, 5, temperature=2.0, seed=2)
    fit = cal.fit_calibration_temperature(logits, labels)
    assert fit.estimable and not fit.hit_bound and fit.temperature == pytest.approx(2.0, rel=0.1)


def test_bound_hits_and_small_sets_are_not_estimable() -> None:
    rng = np.random.default_rng(3)
    labels = rng.integers(0, 5, 200)
    uninformative = cal.fit_calibration_temperature(rng.normal(size=(200, 5)) * 5, labels)
    assert uninformative.hit_bound and not uninformative.estimable and "log T bounds" in uninformative.reason
    assert uninformative.log_temperature == pytest.approx(5.0, abs=1e-3)
    separable = cal.fit_calibration_temperature(np.eye(5)[labels] * 10, labels)  # NLL → 0 as T → 0
    assert separable.hit_bound and math.isnan(separable.temperature)
    small = cal.fit_calibration_temperature(rng.normal(size=(29, 5)), labels[:29])
    assert not small.estimable and "29 calibration predictions" in small.reason


def test_scaled_metrics_apply_t_and_carry_the_reason() -> None:
    logits, labels = _tempered(500, 4, temperature=1.5, seed=4)
    fit = cal.fit_calibration_temperature(logits[:250], labels[:250])
    row = cal.temperature_scaled_metrics(logits[250:], labels[250:], fit)
    expected = metrics.compute_metrics(logits[250:] / fit.temperature, labels[250:])
    assert set(row) == set(cal.SCALED_COLUMNS)
    assert row["ece_temperature_scaled"] == pytest.approx(expected["ece"])
    assert row["nll_temperature_scaled"] == pytest.approx(expected["nll"])
    assert row["brier_temperature_scaled"] == pytest.approx(expected["brier"])
    assert row["calibration_strategy"] == "held_out"
    missing = cal.temperature_scaled_metrics(logits, labels, cal.TemperatureFit.not_estimable("2 shots"))
    assert math.isnan(missing["ece_temperature_scaled"]) and missing["calibration_reason"] == "2 shots"
    assert missing["calibration_strategy"] == "not_estimable"


# ----------------------------------------------------------------------------------- classwise, bins


def test_classwise_ece_matches_a_hand_computed_example() -> None:
    probs = np.array([[0.9, 0.1], [0.88, 0.12], [0.3, 0.7], [0.2, 0.8]])
    labels = np.array([0, 1, 1, 1])
    # class 0: bins {0.9, 0.88} (one hit), {0.3}, {0.2}: (|1.78 − 1| + 0.3 + 0.2) / 4 = 0.32; class 1 mirrors
    assert cal.classwise_calibration_errors(probs, labels) == pytest.approx([0.32, 0.32])
    assert cal.classwise_ece(probs, labels) == pytest.approx(0.32)
    three = np.array([[0.7, 0.2, 0.1], [0.1, 0.1, 0.8]])
    # class 0: |0.7 − 1| + |0.1 − 0| = 0.4; class 1: |0.2 − 0| + |0.1 − 1| = 1.1; class 2: 0.1 + 0.8; / 2
    assert cal.classwise_calibration_errors(three, np.array([0, 1])) == pytest.approx([0.2, 0.55, 0.45])
    assert cal.classwise_ece(three, np.array([0, 1])) == pytest.approx(0.4)


def test_classwise_ece_matches_torchmetrics_one_vs_rest() -> None:
    rng = np.random.default_rng(5)
    logits = torch.from_numpy(rng.normal(size=(3000, 6)) * 2)
    probs = torch.softmax(logits, dim=1)
    labels = torch.from_numpy(rng.integers(0, 6, 3000))
    reference = [
        float(BinaryCalibrationError(n_bins=15, norm="l1")(probs[:, j].float(), (labels == j).int()))
        for j in range(6)
    ]
    ours = cal.classwise_calibration_errors(probs.numpy(), labels.numpy())
    assert ours == pytest.approx(reference, abs=1e-5)


def test_reliability_table_is_tidy_and_reproduces_ece() -> None:
    rng = np.random.default_rng(6)
    probs = torch.softmax(torch.from_numpy(rng.normal(size=(400, 4)) * 2), dim=1).numpy()
    labels = rng.integers(0, 4, 400)
    table = cal.reliability_table(
        {"s/d/m/dense/ilm/10shot/seed1": (probs, labels), "custom": (probs, labels)}
    )
    assert list(table.columns) == list(cal.RELIABILITY_COLUMNS) and len(table) == 30
    cell = table.loc[table["cell_id"] == "s/d/m/dense/ilm/10shot/seed1"]
    assert cell["seed"].iloc[0] == 1 and cell["shots"].iloc[0] == "10" and cell["count"].sum() == 400
    ece = float((cell["count"] * cell["gap"].abs().fillna(0)).sum() / 400)
    assert ece == pytest.approx(metrics.expected_calibration_error(probs, labels))
    assert table.loc[table["cell_id"] == "custom", "model"].isna().all()
