"""Tests for vpbench.metrics (§8): hand-computed cases, torchmetrics ECE, uncertainty-calibration compat."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from vpbench.errors import ConfigError, NumericalError
from vpbench.metrics import (
    adaptive_calibration_error,
    compute_metrics,
    ece_paper_compat,
    expected_calibration_error,
    fit_temperature,
    per_class_accuracy,
    per_class_counts,
    reliability_bins,
)


def _logits_of(probs: list[list[float]]) -> torch.Tensor:
    """Logits whose softmax is exactly ``probs`` (up to float64 rounding)."""
    return torch.log(torch.tensor(probs, dtype=torch.float64))


# Four samples, C = 2, confidences 0.75, 0.65, 0.70, 0.90 — each in its own 15-bin interval and none on an
# edge (edges are k/15: 0.6, 0.667, 0.733, 0.8, 0.867, 0.933).
#   sample  p            y  pred  correct
#   1       [.75, .25]   0  0     yes
#   2       [.65, .35]   1  0     no
#   3       [.30, .70]   1  1     yes
#   4       [.10, .90]   0  1     no
HAND_PROBS = [[0.75, 0.25], [0.65, 0.35], [0.30, 0.70], [0.10, 0.90]]
HAND_LABELS = torch.tensor([0, 1, 1, 0])


def _entropy(p: list[float]) -> float:
    return -sum(v * math.log(v) for v in p)


def test_compute_metrics_hand_case():
    m = compute_metrics(_logits_of(HAND_PROBS), HAND_LABELS)
    assert m["accuracy"] == pytest.approx(0.5)
    # One sample per bin: ECE = mean |correct − conf| = (.25 + .65 + .30 + .90) / 4 = 0.525.
    assert m["ece"] == pytest.approx(0.525, abs=1e-12)
    # NLL = −mean log p[y] = −(ln .75 + ln .35 + ln .70 + ln .10) / 4.
    assert m["nll"] == pytest.approx(-(math.log(0.75) + math.log(0.35) + math.log(0.7) + math.log(0.1)) / 4)
    # Brier: 2·.25² + 2·.65² + 2·.30² + 2·.90² = .125 + .845 + .18 + 1.62 = 2.77 → mean 0.6925.
    assert m["brier"] == pytest.approx(0.6925, abs=1e-12)
    assert m["mean_conf_correct"] == pytest.approx((0.75 + 0.70) / 2)
    assert m["mean_confidence"] == pytest.approx((0.75 + 0.65 + 0.70 + 0.90) / 4)
    # Wrong samples 2 and 4: KL(p‖U) = ln 2 − H(p).
    kl = ((math.log(2) - _entropy([0.65, 0.35])) + (math.log(2) - _entropy([0.1, 0.9]))) / 2
    assert m["kl_uniform_wrong"] == pytest.approx(kl, abs=1e-12)
    assert m["kl_uniform_wrong_norm"] == pytest.approx(kl / math.log(2), abs=1e-12)
    # Authors' value: F.kl_div(log p, U, mean) = (1/C) Σ_c (1/C)(ln(1/C) − ln p_c) = KL(U‖p) / C.
    reverse = [sum(0.5 * (math.log(0.5) - math.log(v)) for v in p) / 2 for p in ([0.65, 0.35], [0.1, 0.9])]
    assert m["kl_uniform_wrong_paper_compat"] == pytest.approx(sum(reverse) / 2, abs=1e-12)
    # Equal mass, 15 bins > N = 4: every sample is its own group, so adaptive ECE equals ECE here.
    assert m["adaptive_ece"] == pytest.approx(0.525, abs=1e-12)
    assert (m["num_samples"], m["num_classes"]) == (4, 2)


def test_kl_uniform_three_classes_direct_formula():
    # C = 3; wrong samples: uniform (KL 0) and [.7, .2, .1] with y = 1 (KL = Σ p ln(3p)).
    probs = [[1 / 3, 1 / 3, 1 / 3], [0.7, 0.2, 0.1], [0.1, 0.1, 0.8]]
    m = compute_metrics(_logits_of(probs), torch.tensor([2, 1, 2]))
    kl = sum(v * math.log(3 * v) for v in [0.7, 0.2, 0.1])
    assert m["kl_uniform_wrong"] == pytest.approx((0.0 + kl) / 2, abs=1e-12)
    assert m["kl_uniform_wrong_norm"] == pytest.approx((0.0 + kl) / 2 / math.log(3), abs=1e-12)


def test_undefined_means_are_nan():
    all_right = compute_metrics(_logits_of([[0.9, 0.1], [0.2, 0.8]]), torch.tensor([0, 1]))
    assert math.isnan(all_right["kl_uniform_wrong"])
    assert math.isnan(all_right["kl_uniform_wrong_paper_compat"])
    all_wrong = compute_metrics(_logits_of([[0.9, 0.1], [0.2, 0.8]]), torch.tensor([1, 0]))
    assert math.isnan(all_wrong["mean_conf_correct"])
    assert all_wrong["accuracy"] == 0.0


def test_extreme_logits_stay_finite():
    # p underflows to 0 for the second class; log_softmax keeps NLL and entropy finite.
    m = compute_metrics(torch.tensor([[0.0, -2000.0], [0.0, -2000.0]]), torch.tensor([0, 1]))
    assert m["nll"] == pytest.approx(1000.0)
    assert m["kl_uniform_wrong"] == pytest.approx(math.log(2))
    assert all(math.isfinite(v) for k, v in m.items() if k != "mean_conf_correct")


def test_non_finite_logits_raise():
    with pytest.raises(NumericalError, match="NaN or Inf"):
        compute_metrics(torch.tensor([[0.0, float("nan")]]), torch.tensor([0]))


def test_ece_bin_edges_are_right_closed():
    # 0.6 = 9/15 is an upper edge: it shares bin (8/15, 9/15] with 0.58 → |0.5 − 0.59| = 0.09.
    # (A left-closed rule would put it in the next bin and give (0.4 + 0.58) / 2 = 0.49.)
    probs = torch.tensor([[0.6, 0.4], [0.58, 0.42]], dtype=torch.float64)
    assert expected_calibration_error(probs, torch.tensor([0, 1])) == pytest.approx(0.09, abs=1e-12)


def test_ece_rejects_logits_passed_as_probs():
    with pytest.raises(ValueError, match="softmax probabilities"):
        expected_calibration_error(torch.tensor([[2.0, -1.0]]), torch.tensor([0]))


def test_adaptive_ece_split_rule_hand_case():
    # Confidences sorted: .55 (right), .60 (wrong), .65 (wrong), .70 (right), .80 (right); B = 2.
    # array_split: sizes 3 and 2. G1: acc 1/3, conf .60 → .2667; G2: acc 1, conf .75 → .25.
    # ACE = 3/5 · 0.26667 + 2/5 · 0.25 = 0.16 + 0.10 = 0.26.
    probs = torch.tensor([[0.30, 0.70], [0.55, 0.45], [0.80, 0.20], [0.35, 0.65], [0.40, 0.60]])
    labels = torch.tensor([1, 0, 0, 0, 0])  # 0.70 right, 0.55 right, 0.80 right, 0.65 wrong, 0.60 wrong
    assert adaptive_calibration_error(probs, labels, num_bins=2) == pytest.approx(0.26, abs=1e-6)


def test_adaptive_ece_two_bins_on_hand_case():
    # Sorted confidences .65(w) .70(c) | .75(c) .90(w): |.5 − .675| and |.5 − .825| → ½·.175 + ½·.325 = .25.
    probs = torch.tensor(HAND_PROBS, dtype=torch.float64)
    assert adaptive_calibration_error(probs, HAND_LABELS, num_bins=2) == pytest.approx(0.25, abs=1e-12)


@pytest.mark.parametrize("seed", [0, 1, 2, 3, 4])
def test_ece_matches_torchmetrics(seed):
    torchmetrics = pytest.importorskip("torchmetrics", reason="torchmetrics is a test-only dependency")
    generator = torch.Generator().manual_seed(seed)
    num_classes = 2 + seed
    logits = torch.randn(400, num_classes, generator=generator, dtype=torch.float64) * (1 + seed)
    labels = torch.randint(0, num_classes, (400,), generator=generator)
    probs = torch.softmax(logits, dim=1)
    metric = torchmetrics.classification.MulticlassCalibrationError(
        num_classes=num_classes, n_bins=15, norm="l1"
    )
    expected = float(metric(probs, labels))
    assert expected_calibration_error(probs, labels) == pytest.approx(expected, abs=1e-6)
    assert compute_metrics(logits, labels)["ece"] == pytest.approx(expected, abs=1e-6)


def test_reliability_bins_are_consistent_with_ece():
    generator = torch.Generator().manual_seed(7)
    logits = torch.randn(300, 4, generator=generator, dtype=torch.float64) * 2
    labels = torch.randint(0, 4, (300,), generator=generator)
    probs = torch.softmax(logits, dim=1)
    bins = reliability_bins(probs, labels)
    assert bins["count"].sum() == 300 and bins["count"].shape == (15,)
    filled = bins["count"] > 0
    assert np.isnan(bins["accuracy"][~filled]).all()
    ece = np.sum(bins["count"][filled] / 300 * np.abs(bins["accuracy"] - bins["mean_confidence"])[filled])
    assert ece == pytest.approx(expected_calibration_error(probs, labels), abs=1e-12)
    assert bins["bin_upper"][-1] == 1.0 and bins["bin_lower"][0] == 0.0


def test_per_class_accuracy_and_counts():
    # C = 3, class 2 absent: class 0 → 1 of 2 right, class 1 → 1 of 1 right.
    logits = _logits_of([[0.8, 0.1, 0.1], [0.1, 0.8, 0.1], [0.2, 0.7, 0.1]])
    labels = torch.tensor([0, 0, 1])
    accuracy = per_class_accuracy(logits, labels, 3)
    assert accuracy[:2].tolist() == [0.5, 1.0] and math.isnan(accuracy[2])
    assert per_class_counts(labels, 3).tolist() == [2, 1, 0]
    with pytest.raises(ValueError, match="num_classes"):
        per_class_accuracy(logits, labels, 4)


def _nll(logits: torch.Tensor, labels: torch.Tensor, temperature: float) -> float:
    return float(torch.nn.functional.cross_entropy(logits / temperature, labels))


def test_fit_temperature_recovers_known_temperature():
    # Labels are drawn from softmax(z); the model reports 2.5·z, so the NLL-optimal T is close to 2.5.
    generator = torch.Generator().manual_seed(0)
    z = torch.randn(4000, 5, generator=generator, dtype=torch.float64) * 2
    labels = torch.multinomial(torch.softmax(z, dim=1), 1, generator=generator).squeeze(1)
    temperature = fit_temperature(2.5 * z, labels)
    assert temperature == pytest.approx(2.5, rel=0.08)
    assert fit_temperature(2.5 * z, labels) == temperature  # deterministic


def test_fit_temperature_is_the_nll_minimum():
    generator = torch.Generator().manual_seed(1)
    logits = torch.randn(200, 4, generator=generator, dtype=torch.float64) * 3
    labels = torch.randint(0, 4, (200,), generator=generator)
    temperature = fit_temperature(logits, labels)
    grid = np.exp(np.linspace(-5, 5, 2001))
    assert _nll(logits, labels, temperature) <= min(_nll(logits, labels, t) for t in grid) + 1e-9
    # Stationarity in β = 1/T: d NLL / dβ = mean(E_p[z] − z_y) = 0.
    p = torch.softmax(logits / temperature, dim=1)
    gradient = ((p * logits).sum(1) - logits[torch.arange(200), labels]).mean()
    assert abs(float(gradient)) < 1e-4


def test_temperature_scaling_on_training_logits_is_gone():
    """T is fitted only by vpbench.calibration, on images the prompt never saw (docs/calibration.md)."""
    from vpbench import metrics

    assert not hasattr(metrics, "temperature_scaled_metrics")


def test_ece_paper_compat_hand_case():
    # batch_size 2 → batches {0, 1} and {2}; "confidence" is the max RAW logit.
    # Batch 1: sample 0 conf 2.0 (> 1 → last bin), correct; sample 1 conf 0.5 (bin (7/15, 8/15]), wrong.
    #          ECE_raw = ½·|2.0 − 1| + ½·|0.5 − 0| = 0.75.
    # Batch 2: sample 2 conf −1.0 (first bin), pred 0 ≠ 1 → ECE_raw = |−1 − 0| = 1.0.
    # Logged value: (0.75 + 1.0) / N = 1.75 / 3.
    logits = torch.tensor([[2.0, 0.5], [0.3, 0.5], [-1.0, -3.0]])
    labels = torch.tensor([0, 0, 1])
    assert ece_paper_compat(logits, labels, batch_size=2) == pytest.approx(1.75 / 3, abs=1e-7)


def test_ece_paper_compat_shared_bins():
    # One batch. 0.95 and 3.0 share the last bin: |mean conf 1.975 − acc ½| = 1.475, weight 2/4.
    # −1.0 and 0.05 share the first bin (≤ 1/15): |mean conf −0.475 − acc ½| = 0.975, weight 2/4.
    # ECE_raw = 0.7375 + 0.4875 = 1.225; divided by N = 4.
    logits = torch.tensor([[0.95, 0.0], [3.0, 0.0], [-1.0, -2.0], [0.05, -2.0]])
    labels = torch.tensor([0, 1, 0, 1])
    assert ece_paper_compat(logits, labels, batch_size=128) == pytest.approx(1.225 / 4, abs=1e-7)
    with pytest.raises(ConfigError, match="batch_size"):
        ece_paper_compat(logits, labels, batch_size=0)


def test_ece_paper_compat_scale_is_not_a_calibration_error():
    # Random 128×10 logits: the per-batch raw-logit "ECE" (what vp_methods.md §8.7 quotes, ≈ 4.3) is far
    # above the softmax ECE (≈ 0.6), while the logged value divides it by N again.
    generator = torch.Generator().manual_seed(0)
    logits = torch.randn(128, 10, generator=generator) * 3
    labels = torch.randint(0, 10, (128,), generator=generator)
    per_batch_raw = ece_paper_compat(logits, labels, batch_size=128) * 128
    softmax_ece = compute_metrics(logits, labels)["ece"]
    assert per_batch_raw > 2.0 > 1.0 > softmax_ece > 0.3
    # All max logits > 1 → one bin: ECE_raw = |mean max logit − accuracy|.
    shifted = logits + 10
    accuracy = float((shifted.argmax(1) == labels).double().mean())
    expected = abs(float(shifted.double().max(1).values.mean()) - accuracy)
    assert ece_paper_compat(shifted, labels, batch_size=128) * 128 == pytest.approx(expected, rel=1e-6)


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_ece_paper_compat_matches_uncertainty_calibration(dtype):
    calibration = pytest.importorskip(
        "calibration", reason="uncertainty-calibration==0.1.4 is a test-only dependency"
    )
    generator = torch.Generator().manual_seed(3)
    logits = (torch.randn(300, 6, generator=generator, dtype=torch.float64) * 2 + 0.3).to(dtype)
    labels = torch.randint(0, 6, (300,), generator=generator)
    batch_size = 128  # batches of 128, 128 and 44, as a test loader would give
    total = sum(
        calibration.get_ece(logits[s : s + batch_size].numpy(), labels[s : s + batch_size].numpy())
        for s in range(0, 300, batch_size)
    )
    tolerance = 1e-12 if dtype == torch.float64 else 1e-5
    assert ece_paper_compat(logits, labels, batch_size) == pytest.approx(total / 300, rel=tolerance)
