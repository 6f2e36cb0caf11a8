"""Test-set metrics on mapped logits over the C target classes (docs/metrics.md).

Everything is computed once on the whole test split, in float64, from p = softmax(logits); log-probs
come from log_softmax so NLL and entropy never take log(0). ``ece_paper_compat`` is the exception: it
reproduces the value the authors' code logged (raw logits, per batch) and is not a calibration error.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from scipy.optimize import minimize_scalar

from vpbench.errors import ConfigError, NumericalError

DEFAULT_NUM_BINS = 15
LOG_TEMPERATURE_BOUNDS = (-5.0, 5.0)


def _float64(values: torch.Tensor | np.ndarray) -> np.ndarray:
    """Detached float64 numpy copy of a tensor or array."""
    if isinstance(values, torch.Tensor):
        return values.detach().to("cpu", torch.float64).numpy()
    return np.asarray(values, dtype=np.float64)


def _labels(labels: torch.Tensor | np.ndarray, num_samples: int | None, num_classes: int) -> np.ndarray:
    """int64 numpy labels, checked against N (unless None) and C."""
    if isinstance(labels, torch.Tensor):
        labels = labels.detach().to("cpu")
    out = np.asarray(labels).astype(np.int64).reshape(-1)
    if num_samples is not None and out.shape[0] != num_samples:
        raise ValueError(f"{num_samples} predictions but {out.shape[0]} labels")
    if out.size and (out.min() < 0 or out.max() >= num_classes):
        raise ValueError(f"labels must lie in [0, {num_classes}); got {out.min()}..{out.max()}")
    return out


def _matrix(values: torch.Tensor | np.ndarray, what: str) -> np.ndarray:
    """A finite, non-empty float64 [N, C] matrix with C ≥ 2."""
    out = _float64(values)
    if out.ndim != 2 or out.shape[0] == 0 or out.shape[1] < 2:
        raise ValueError(f"{what} must have shape [N ≥ 1, C ≥ 2], got {out.shape}")
    if not np.isfinite(out).all():
        raise NumericalError(f"{what} contain NaN or Inf; metrics are undefined (did training diverge?)")
    return out


def _log_probs(logits: torch.Tensor | np.ndarray) -> np.ndarray:
    """float64 log_softmax over classes."""
    z = torch.from_numpy(_matrix(logits, "logits"))
    return torch.log_softmax(z, dim=1).numpy()


def _check_probs(probs: torch.Tensor | np.ndarray) -> np.ndarray:
    """float64 probabilities; rejects inputs that are clearly not rows of a probability simplex."""
    p = _matrix(probs, "probabilities")
    if p.min() < -1e-6 or p.max() > 1 + 1e-6 or np.abs(p.sum(axis=1) - 1).max() > 1e-3:
        raise ValueError("probs must be softmax probabilities (rows in [0, 1] summing to 1); got raw logits?")
    return p


def _top_label(probs: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Confidence max_c p and correctness of the first-max prediction."""
    pred = probs.argmax(axis=1)
    conf = probs[np.arange(probs.shape[0]), pred]
    return conf, pred == labels


def _check_bins(num_bins: int) -> None:
    if num_bins < 1:
        raise ConfigError(f"num_bins must be ≥ 1, got {num_bins}")


def _equal_width_bin_index(conf: np.ndarray, num_bins: int) -> np.ndarray:
    """Bin k (0-based) holds conf in (k/B, (k+1)/B]: left searchsorted on the upper edges 1/B … 1.

    Values ≤ 1/B (even ≤ 0) land in bin 0 and values > (B−1)/B (even > 1) in bin B−1.
    """
    upper_edges = np.arange(1, num_bins + 1) / num_bins
    return np.minimum(np.searchsorted(upper_edges, conf, side="left"), num_bins - 1)


def _binned_ce(conf: np.ndarray, correct: np.ndarray, bin_index: np.ndarray, num_bins: int) -> float:
    """Plug-in L1 calibration error Σ_k |B_k|/n · |acc(B_k) − conf(B_k)| over non-empty bins."""
    count = np.bincount(bin_index, minlength=num_bins)
    conf_sum = np.bincount(bin_index, weights=conf, minlength=num_bins)
    correct_sum = np.bincount(bin_index, weights=correct.astype(np.float64), minlength=num_bins)
    filled = count > 0
    gaps = np.abs(conf_sum[filled] - correct_sum[filled]) / count[filled]
    return float(np.sum(count[filled] / conf.shape[0] * gaps))


def _ece(conf: np.ndarray, correct: np.ndarray, num_bins: int) -> float:
    _check_bins(num_bins)
    return _binned_ce(conf, correct, _equal_width_bin_index(conf, num_bins), num_bins)


def _adaptive_ece(conf: np.ndarray, correct: np.ndarray, num_bins: int) -> float:
    """Equal-mass ECE: stable ascending sort by confidence, then np.array_split into B groups.

    With N = qB + r the first r groups hold q + 1 samples and the rest q; empty groups (N < B) are skipped;
    ties keep the original sample order.
    """
    _check_bins(num_bins)
    order = np.argsort(conf, kind="stable")
    bin_index = np.empty(conf.shape[0], dtype=np.int64)
    for k, members in enumerate(np.array_split(order, num_bins)):
        bin_index[members] = k
    return _binned_ce(conf, correct, bin_index, num_bins)


def expected_calibration_error(
    probs: torch.Tensor | np.ndarray, labels: torch.Tensor | np.ndarray, num_bins: int = DEFAULT_NUM_BINS
) -> float:
    """Top-label ECE with B equal-width bins ((k−1)/B, k/B] (docs/metrics.md), as a fraction."""
    p = _check_probs(probs)
    conf, correct = _top_label(p, _labels(labels, p.shape[0], p.shape[1]))
    return _ece(conf, correct, num_bins)


def adaptive_calibration_error(
    probs: torch.Tensor | np.ndarray, labels: torch.Tensor | np.ndarray, num_bins: int = DEFAULT_NUM_BINS
) -> float:
    """Top-label ECE with B equal-mass bins (docs/metrics.md); see ``_adaptive_ece`` for the split rule."""
    p = _check_probs(probs)
    conf, correct = _top_label(p, _labels(labels, p.shape[0], p.shape[1]))
    return _adaptive_ece(conf, correct, num_bins)


def reliability_bins(
    probs: torch.Tensor | np.ndarray, labels: torch.Tensor | np.ndarray, num_bins: int = DEFAULT_NUM_BINS
) -> dict[str, np.ndarray]:
    """Per equal-width bin: edges, sample count, mean confidence and accuracy (NaN when empty).

    ECE = Σ count/N · |accuracy − mean_confidence| over the non-empty bins.
    """
    _check_bins(num_bins)
    p = _check_probs(probs)
    conf, correct = _top_label(p, _labels(labels, p.shape[0], p.shape[1]))
    bin_index = _equal_width_bin_index(conf, num_bins)
    count = np.bincount(bin_index, minlength=num_bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_conf = np.bincount(bin_index, weights=conf, minlength=num_bins) / count
        accuracy = np.bincount(bin_index, weights=correct.astype(np.float64), minlength=num_bins) / count
    return {
        "bin_lower": np.arange(num_bins) / num_bins,
        "bin_upper": np.arange(1, num_bins + 1) / num_bins,
        "count": count.astype(np.int64),
        "mean_confidence": np.where(count > 0, mean_conf, np.nan),
        "accuracy": np.where(count > 0, accuracy, np.nan),
    }


def _mean_or_nan(values: np.ndarray) -> float:
    return float(values.mean()) if values.size else math.nan


def compute_metrics(
    logits: torch.Tensor | np.ndarray, labels: torch.Tensor | np.ndarray, num_bins: int = DEFAULT_NUM_BINS
) -> dict[str, float]:
    """All softmax-based test metrics of docs/metrics.md in one dict (temperature scaling, which needs
    logits the prompt was not trained on, is :mod:`vpbench.calibration`).

    ``kl_uniform_wrong`` is the mean over wrong predictions of KL(p‖U) = log C − H(p) in nats (NaN if
    none is wrong); ``mean_conf_correct`` is NaN if none is right. ``kl_uniform_wrong_paper_compat`` is
    what the authors' ``look_at_calibration.py`` logged, ``F.kl_div(log p, U)`` with mean reduction,
    i.e. KL(U‖p)/C (reverse direction, divided by C), averaged over wrong predictions.
    """
    log_p = _log_probs(logits)
    num_samples, num_classes = log_p.shape
    y = _labels(labels, num_samples, num_classes)
    p = np.exp(log_p)
    conf, correct = _top_label(p, y)
    rows = np.arange(num_samples)
    one_hot = np.zeros_like(p)
    one_hot[rows, y] = 1.0
    log_c = math.log(num_classes)
    kl_to_uniform = np.maximum(log_c + np.sum(p * log_p, axis=1), 0.0)  # log C − H(p)
    reverse_kl_over_c = (-log_c - log_p.mean(axis=1)) / num_classes  # KL(U‖p) / C
    wrong = ~correct
    return {
        "accuracy": float(correct.mean()),
        "ece": _ece(conf, correct, num_bins),
        "adaptive_ece": _adaptive_ece(conf, correct, num_bins),
        "nll": float(-log_p[rows, y].mean()),
        "brier": float(np.sum((p - one_hot) ** 2, axis=1).mean()),
        "mean_confidence": float(conf.mean()),
        "mean_conf_correct": _mean_or_nan(conf[correct]),
        "kl_uniform_wrong": _mean_or_nan(kl_to_uniform[wrong]),
        "kl_uniform_wrong_norm": _mean_or_nan(kl_to_uniform[wrong]) / log_c,
        "kl_uniform_wrong_paper_compat": _mean_or_nan(reverse_kl_over_c[wrong]),
        "num_samples": num_samples,
        "num_classes": num_classes,
    }


def per_class_accuracy(
    logits: torch.Tensor | np.ndarray, labels: torch.Tensor | np.ndarray, num_classes: int
) -> np.ndarray:
    """Accuracy per target class (length C); NaN for classes with no test sample."""
    log_p = _log_probs(logits)
    if log_p.shape[1] != num_classes:
        raise ValueError(f"logits have {log_p.shape[1]} classes, expected num_classes={num_classes}")
    y = _labels(labels, log_p.shape[0], num_classes)
    _, correct = _top_label(np.exp(log_p), y)
    count = np.bincount(y, minlength=num_classes)
    hits = np.bincount(y, weights=correct.astype(np.float64), minlength=num_classes)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(count > 0, hits / count, np.nan)


def per_class_counts(labels: torch.Tensor | np.ndarray, num_classes: int) -> np.ndarray:
    """Number of samples per target class (int64, length C)."""
    return np.bincount(_labels(labels, None, num_classes), minlength=num_classes)


def _nll_at_temperature(logits: torch.Tensor, labels: torch.Tensor, temperature: float) -> float:
    return float(torch.nn.functional.cross_entropy(logits / temperature, labels))


def fit_temperature(logits: torch.Tensor | np.ndarray, labels: torch.Tensor | np.ndarray) -> float:
    """Single T > 0 minimising the mean NLL of softmax(logits / T) (temperature scaling).

    Bounded Brent search on log T ∈ [−5, 5] (deterministic). NLL is convex in 1/T, hence unimodal in
    log T, so the local search finds the global minimum inside the bounds; T is clipped to [e⁻⁵, e⁵].
    """
    z = torch.from_numpy(_matrix(logits, "logits"))
    y = torch.from_numpy(_labels(labels, z.shape[0], z.shape[1]))
    result = minimize_scalar(
        lambda log_t: _nll_at_temperature(z, y, math.exp(log_t)),
        bounds=LOG_TEMPERATURE_BOUNDS,
        method="bounded",
        options={"xatol": 1e-7, "maxiter": 500},
    )
    return float(math.exp(result.x))


def ece_paper_compat(
    logits: torch.Tensor | np.ndarray,
    labels: torch.Tensor | np.ndarray,
    batch_size: int,
    num_bins: int = DEFAULT_NUM_BINS,
) -> float:
    """The ECE the authors logged (docs/metrics.md, docs/deviations.md); NOT a calibration error.

    For consecutive test batches of ``batch_size`` (in loader order), ``uncertainty-calibration`` 0.1.4
    ``get_ece`` on the RAW mapped logits: confidence = max logit, correct = first-argmax == label, bins by
    left searchsorted on upper edges [1/15 … 1] (≤ 1/15 incl. negatives → first bin, > 14/15 incl. > 1 →
    last bin), plug-in L1 estimator. The per-batch values are summed and divided by N.
    """
    if batch_size < 1:
        raise ConfigError(f"ece_paper_compat batch_size must be ≥ 1, got {batch_size}")
    _check_bins(num_bins)
    z = _matrix(logits, "logits")
    y = _labels(labels, z.shape[0], z.shape[1])
    total = 0.0
    for start in range(0, z.shape[0], batch_size):
        conf, correct = _top_label(z[start : start + batch_size], y[start : start + batch_size])
        total += _binned_ce(conf, correct, _equal_width_bin_index(conf, num_bins), num_bins)
    return total / z.shape[0]
