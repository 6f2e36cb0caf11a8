"""Bootstrap intervals over test samples: one cell's metric, and the paired dense − compressed difference.

A resample keeps each test sample's ECE bin (the ``metrics.ece`` rule), so resampling is vectorised and
no resample re-bins anything.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats

from vpbench.errors import ConfigError
from vpbench.metrics import DEFAULT_NUM_BINS, _equal_width_bin_index, _top_label
from vpbench.results.stats.estimates import BOOTSTRAP_SEED, LEVEL, N_RESAMPLES, Estimate

SAMPLE_METRICS: tuple[str, ...] = ("accuracy", "ece", "brier")
_RESAMPLE_CHUNK = 250  # resamples per vectorised batch: 250 × 10k test samples ≈ 20 MB per float array

Predictions = tuple[np.ndarray, np.ndarray]


@dataclass(frozen=True)
class _PerSample:
    """Per-test-sample contributions of a metric: mean-type (``bins`` None) or binned |Σ| (ECE)."""

    values: np.ndarray
    bins: np.ndarray | None
    num_bins: int

    def on(self, index: np.ndarray) -> np.ndarray:
        """The metric on resamples ``index`` (shape ``(..., n)``), vectorised over leading dimensions."""
        index = np.asarray(index)
        lead, n = index.shape[:-1], index.shape[-1]
        rows = int(np.prod(lead)) if lead else 1
        index = index.reshape(rows, n)
        values = self.values[index]
        if self.bins is None:
            out = values.mean(axis=1)
        else:
            # ECE = Σ_k |B_k|/n·|acc_k − conf_k| = (1/n)·Σ_k |Σ_{i∈B_k} (conf_i − correct_i)|
            flat = (self.bins[index] + np.arange(rows)[:, None] * self.num_bins).ravel()
            sums = np.bincount(flat, weights=values.ravel(), minlength=rows * self.num_bins)
            out = np.abs(sums.reshape(rows, self.num_bins)).sum(axis=1) / n
        return out.reshape(lead) if lead else out.reshape(())

    def value(self) -> float:
        """The metric on the whole test set."""
        return float(self.on(np.arange(self.values.shape[0])))


def _per_sample(
    probs: np.ndarray, labels: np.ndarray, metric: str, num_bins: int = DEFAULT_NUM_BINS
) -> _PerSample:
    """Per-sample contributions of ``metric`` from softmax ``probs`` [N, C] and ``labels`` [N]."""
    if metric not in SAMPLE_METRICS:
        raise ConfigError(f"per-sample metric must be one of {SAMPLE_METRICS}, got {metric!r}")
    p = np.asarray(probs, dtype=np.float64)
    y = np.asarray(labels).astype(np.int64).reshape(-1)
    if p.ndim != 2 or p.shape[0] != y.shape[0] or p.shape[1] < 2:
        raise ValueError(f"probs must be [N, C ≥ 2] with N = len(labels); got {p.shape} and {y.shape}")
    if y.size and (y.min() < 0 or y.max() >= p.shape[1]):
        raise ValueError(f"labels must lie in [0, {p.shape[1]})")
    conf, correct = _top_label(p, y)
    if metric == "accuracy":
        return _PerSample(correct.astype(np.float64), None, num_bins)
    if metric == "ece":
        if num_bins < 1:
            raise ConfigError(f"num_bins must be ≥ 1, got {num_bins}")
        bins = _equal_width_bin_index(conf, num_bins)  # the metrics.ece bin-edge rule
        return _PerSample(conf - correct, bins, num_bins)
    one_hot = np.zeros_like(p)
    one_hot[np.arange(p.shape[0]), y] = 1.0
    return _PerSample(np.sum((p - one_hot) ** 2, axis=1), None, num_bins)


def _bootstrap(sample: _PerSample, level: float, n_resamples: int, method: str, seed: int) -> Estimate:
    """``scipy.stats.bootstrap`` over test-sample indices of one cell."""
    n = sample.values.shape[0]
    estimate = sample.value() if n else math.nan
    name = f"bootstrap_{method.lower()}"
    if n < 2:
        return Estimate(estimate, test=name, n=n, reason="fewer than two test samples")

    def statistic(index: np.ndarray, axis: int = -1) -> np.ndarray:
        return sample.on(np.moveaxis(index, axis, -1))

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", stats.DegenerateDataWarning)
        result = stats.bootstrap(
            (np.arange(n),),
            statistic,
            vectorized=True,
            n_resamples=n_resamples,
            batch=_RESAMPLE_CHUNK,
            confidence_level=level,
            method=method,
            rng=np.random.default_rng(seed),
        )
    low, high = float(result.confidence_interval.low), float(result.confidence_interval.high)
    if np.ptp(result.bootstrap_distribution) == 0:
        reason = "degenerate bootstrap distribution"
        return Estimate(estimate, estimate, estimate, test=name, n=n, reason=reason)
    return Estimate(estimate, low, high, test=name, n=n)


def bootstrap_accuracy(
    correct: np.ndarray,
    *,
    level: float = LEVEL,
    n_resamples: int = N_RESAMPLES,
    method: str = "percentile",
    seed: int = BOOTSTRAP_SEED,
) -> Estimate:
    """Accuracy of per-sample ``correct`` flags with a bootstrap interval over test samples."""
    values = np.asarray(correct, dtype=np.float64).reshape(-1)
    return _bootstrap(_PerSample(values, None, 1), level, n_resamples, method, seed)


def bootstrap_metric(
    probs: np.ndarray,
    labels: np.ndarray,
    metric: str = "accuracy",
    *,
    num_bins: int = DEFAULT_NUM_BINS,
    level: float = LEVEL,
    n_resamples: int = N_RESAMPLES,
    method: str = "percentile",
    seed: int = BOOTSTRAP_SEED,
) -> Estimate:
    """``metric`` (accuracy, ece, brier) of one cell with a bootstrap interval over its test samples.

    ECE uses metrics.ece's bins; a resampled sample keeps its bin, so no resample re-bins anything.
    """
    return _bootstrap(_per_sample(probs, labels, metric, num_bins), level, n_resamples, method, seed)


def bootstrap_ece(
    probs: np.ndarray,
    labels: np.ndarray,
    *,
    num_bins: int = DEFAULT_NUM_BINS,
    level: float = LEVEL,
    n_resamples: int = N_RESAMPLES,
    method: str = "percentile",
    seed: int = BOOTSTRAP_SEED,
) -> Estimate:
    """15-bin top-label ECE of one cell with a bootstrap interval over its test samples."""
    sample = _per_sample(probs, labels, "ece", num_bins)
    return _bootstrap(sample, level, n_resamples, method, seed)


def bootstrap_p_value(distribution: np.ndarray) -> float:
    """Two-sided p of H0: Δ = 0 by inverting the percentile interval, 2·min(#Δ*≤0 + 1, #Δ*≥0 + 1)/(B + 1).

    p ≤ α exactly when the equal-tailed (1 − α) percentile interval excludes 0 (up to the +1 correction).
    """
    d = np.asarray(distribution, dtype=np.float64)
    b = d.size
    if b == 0:
        return math.nan
    below, above = int(np.sum(d <= 0)), int(np.sum(d >= 0))
    return float(min(1.0, 2 * min(below + 1, above + 1) / (b + 1)))


def paired_bootstrap(
    dense: Sequence[Predictions],
    compressed: Sequence[Predictions],
    metric: str = "accuracy",
    *,
    num_bins: int = DEFAULT_NUM_BINS,
    level: float = LEVEL,
    n_resamples: int = N_RESAMPLES,
    seed: int = BOOTSTRAP_SEED,
) -> Estimate:
    """Paired bootstrap over test samples of mean-over-seeds ``metric(dense) − metric(compressed)``.

    Element s of both sequences is ``(probs, labels)`` of the same seed on the same test set (labels must
    match). Each seed's test indices are resampled jointly for its dense and compressed predictions
    (stratified by seed), so it is valid with one seed; it conditions on the trained prompts, i.e. it
    captures test-set sampling only, not seed-to-seed variation. Interval: percentile; p-value:
    :func:`bootstrap_p_value`.
    """
    if len(dense) != len(compressed):
        raise ValueError(f"{len(dense)} dense but {len(compressed)} compressed seeds; pair them by seed")
    if not dense:
        return Estimate(math.nan, test="paired_bootstrap", reason="no paired seeds")
    pairs = []
    for (dense_probs, dense_labels), (comp_probs, comp_labels) in zip(dense, compressed, strict=True):
        if not np.array_equal(np.asarray(dense_labels).reshape(-1), np.asarray(comp_labels).reshape(-1)):
            raise ValueError("dense and compressed labels differ: a pair must share the test set and order")
        pairs.append(
            (
                _per_sample(dense_probs, dense_labels, metric, num_bins),
                _per_sample(comp_probs, comp_labels, metric, num_bins),
            )
        )
    if any(d.values.shape[0] < 2 for d, _ in pairs):
        return Estimate(math.nan, test="paired_bootstrap", n=len(pairs), reason="fewer than two test samples")
    estimate = float(np.mean([d.value() - c.value() for d, c in pairs]))
    rng = np.random.default_rng(seed)
    distribution = np.zeros(n_resamples)
    for d, c in pairs:
        n = d.values.shape[0]
        for start in range(0, n_resamples, _RESAMPLE_CHUNK):
            stop = min(start + _RESAMPLE_CHUNK, n_resamples)
            index = rng.integers(0, n, size=(stop - start, n))
            distribution[start:stop] += d.on(index) - c.on(index)
    distribution /= len(pairs)
    tail = (1 - level) / 2
    low, high = np.quantile(distribution, [tail, 1 - tail])
    reason = "degenerate bootstrap distribution" if np.ptp(distribution) == 0 else ""
    return Estimate(
        estimate,
        float(low),
        float(high),
        bootstrap_p_value(distribution),
        "paired_bootstrap",
        len(pairs),
        reason=reason,
    )
