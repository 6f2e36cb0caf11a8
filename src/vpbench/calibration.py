"""Calibration done right: temperature never fitted on the prompt's own training images (docs/calibration.md).

How T is fitted for a cell depends on how many training images per class the cell's subset has:

* ``held_out`` — at least :data:`HELD_OUT_MIN_PER_CLASS` per class (large N and, for most datasets, full
  data): a stratified :data:`HOLDOUT_FRACTION` of the subset is held out as the calibration split; the prompt
  trains on the rest. The split is a seeded function of (labels, shots, seed) only, so the dense and the
  compressed cells of one seed hold out the same images.
* ``cross_fit`` — :data:`CROSS_FIT_MIN_PER_CLASS` up to :data:`HELD_OUT_MIN_PER_CLASS` per class: the caller
  trains :data:`CROSS_FIT_FOLDS` prompts, each on all folds but one, and passes the logits of the held-out
  fold; T is fitted on the pooled out-of-fold logits and applied to the cell's (all-data) prompt.
* ``not_estimable`` — fewer per class (or an absent class): T is NaN with a reason.

A fit whose optimum lies on the log-T search bound, or that rests on fewer than
:data:`MIN_CALIBRATION_SAMPLES` predictions, is ``not_estimable`` too. Binned errors reuse the one
bin-edge rule of :mod:`vpbench.metrics`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch

from vpbench import metrics
from vpbench.errors import ConfigError
from vpbench.results.stats import parse_cell_id
from vpbench.study.grid import IDENTIFIERS

HELD_OUT_MIN_PER_CLASS = 20
"""Hold out from 20 images per class: 20% of 20 leaves 16 to train (between the paper's 10 and 20 shots)
and 4 per class to calibrate; below that, holding out would cost the prompt a whole N-shot step."""
HOLDOUT_FRACTION = 0.2
"""Fraction of each class held out (at least one image, at least one left to train)."""
CROSS_FIT_MIN_PER_CLASS = 5
"""With 5 folds every fold then holds ≥ 1 image per class and every fold prompt trains on ≥ 4 per class;
with fewer, the fold prompts are too unlike the N-shot prompt for their T to transfer."""
CROSS_FIT_FOLDS = 5
"""k of the k-fold cross-fitting: each fold prompt sees 80% of the subset, as a held_out prompt does."""
MIN_CALIBRATION_SAMPLES = 30
"""Fewest pooled calibration predictions for a one-parameter NLL fit; fewer and a handful of confident
errors decide T."""
BOUND_TOLERANCE = 1e-3
"""|log T − bound| below this (in log units) counts as hitting the search bound of metrics.fit_temperature."""
STRATEGIES: tuple[str, ...] = ("held_out", "cross_fit", "not_estimable")
SCALED_COLUMNS: tuple[str, ...] = (
    "temperature",
    "log_temperature",
    "temperature_hit_bound",
    "calibration_strategy",
    "calibration_n",
    "calibration_reason",
    "ece_temperature_scaled",
    "adaptive_ece_temperature_scaled",
    "nll_temperature_scaled",
    "brier_temperature_scaled",
)
RELIABILITY_COLUMNS: tuple[str, ...] = (
    "cell_id",
    *IDENTIFIERS,
    "bin",
    "bin_lower",
    "bin_upper",
    "count",
    "mean_confidence",
    "accuracy",
    "gap",
)
_SPLIT_SALT = 0x5CA1
_FOLD_SALT = 0xF01D


# ----------------------------------------------------------------------------------------- the rule


@dataclass(frozen=True)
class CalibrationPlan:
    """How T is fitted for a cell: strategy, why, and the split parameters the caller must use."""

    strategy: str
    reason: str
    min_per_class: int
    holdout_fraction: float = math.nan
    folds: int = 0


def _class_counts(train_labels: np.ndarray, num_classes: int | None) -> np.ndarray:
    """Images per class in the training subset (length C when ``num_classes`` is given)."""
    labels = np.asarray(train_labels).astype(np.int64).reshape(-1)
    if labels.size and labels.min() < 0:
        raise ValueError("labels must be non-negative class indices")
    width = num_classes if num_classes is not None else (int(labels.max()) + 1 if labels.size else 0)
    return np.bincount(labels, minlength=width)


def calibration_plan(train_labels: np.ndarray, num_classes: int | None = None) -> CalibrationPlan:
    """The documented rule (module docstring) applied to the labels of a cell's training subset.

    Decides on the smallest class count m (the effective N-shot; ``full`` is its real per-class count).
    Pass ``num_classes`` so that a class absent from the subset counts as m = 0.
    """
    counts = _class_counts(train_labels, num_classes)
    m = int(counts.min()) if counts.size else 0
    if m >= HELD_OUT_MIN_PER_CLASS:
        return CalibrationPlan(
            "held_out",
            f"{m} ≥ {HELD_OUT_MIN_PER_CLASS} training images per class: hold out {HOLDOUT_FRACTION:.0%}",
            m,
            holdout_fraction=HOLDOUT_FRACTION,
        )
    if m >= CROSS_FIT_MIN_PER_CLASS:
        return CalibrationPlan(
            "cross_fit",
            f"{m} training images per class (< {HELD_OUT_MIN_PER_CLASS}): "
            f"{CROSS_FIT_FOLDS}-fold cross-fitting",
            m,
            folds=CROSS_FIT_FOLDS,
        )
    return CalibrationPlan(
        "not_estimable",
        f"{m} training image(s) in the smallest class (< {CROSS_FIT_MIN_PER_CLASS}): no image is left to "
        "calibrate on that the prompt has not trained on",
        m,
    )


def _shots_code(shots: int | str | None) -> int:
    """0 for full data, else N: part of the seed of the split streams."""
    if shots is None or str(shots) == "full":
        return 0
    value = int(str(shots))
    if value < 1:
        raise ConfigError(f"shots must be a positive integer or 'full', got {shots!r}")
    return value


def _rng(salt: int, shots: int | str | None, seed: int) -> np.random.Generator:
    """A generator determined by (salt, shots, seed) only."""
    return np.random.default_rng(np.random.SeedSequence([salt, _shots_code(shots), int(seed)]))


def calibration_split(
    train_labels: np.ndarray, shots: int | str | None, seed: int, fraction: float = HOLDOUT_FRACTION
) -> tuple[np.ndarray, np.ndarray]:
    """``(fit, calibration)`` positions into ``train_labels``: a stratified ``fraction`` per class held out.

    Per class (ascending): shuffle its positions with a generator seeded by (shots, seed) only, hold out
    round(fraction·count) clipped to [1, count − 1] (none for a single-image class). Both arrays are sorted.
    """
    if not 0 < fraction < 1:
        raise ConfigError(f"holdout fraction must lie in (0, 1), got {fraction}")
    labels = np.asarray(train_labels).astype(np.int64).reshape(-1)
    rng = _rng(_SPLIT_SALT, shots, seed)
    held: list[np.ndarray] = []
    for label in np.unique(labels):
        members = rng.permutation(np.flatnonzero(labels == label))
        k = 0 if members.size < 2 else int(np.clip(round(fraction * members.size), 1, members.size - 1))
        held.append(members[:k])
    calibration = np.sort(np.concatenate(held)) if held else np.empty(0, dtype=np.int64)
    fit = np.setdiff1d(np.arange(labels.size), calibration)
    return fit.astype(np.int64), calibration.astype(np.int64)


def cross_fit_folds(
    train_labels: np.ndarray, shots: int | str | None, seed: int, n_folds: int = CROSS_FIT_FOLDS
) -> np.ndarray:
    """Fold id (0..k−1) per position of ``train_labels``, stratified and seeded by (shots, seed) only.

    Per class (ascending) the shuffled positions are dealt to folds round-robin, continuing across classes,
    so fold sizes differ by at most one and each fold holds ⌊count/k⌋ or ⌈count/k⌉ images of every class.
    """
    if n_folds < 2:
        raise ConfigError(f"cross-fitting needs at least 2 folds, got {n_folds}")
    labels = np.asarray(train_labels).astype(np.int64).reshape(-1)
    rng = _rng(_FOLD_SALT, shots, seed)
    folds = np.empty(labels.size, dtype=np.int64)
    offset = 0
    for label in np.unique(labels):
        members = rng.permutation(np.flatnonzero(labels == label))
        folds[members] = (offset + np.arange(members.size)) % n_folds
        offset += members.size
    return folds


def cross_fit_splits(folds: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
    """``[(train, held_out)]`` positions per fold id of :func:`cross_fit_folds`."""
    folds = np.asarray(folds)
    return [(np.flatnonzero(folds != k), np.flatnonzero(folds == k)) for k in np.unique(folds)]


# --------------------------------------------------------------------------------- fitting and use


@dataclass(frozen=True)
class TemperatureFit:
    """A fitted temperature, or NaN with the reason it is not estimable."""

    temperature: float
    log_temperature: float
    nll: float
    n: int
    hit_bound: bool  # the optimum is on (or as good as) a bound of metrics.LOG_TEMPERATURE_BOUNDS
    strategy: str
    reason: str = ""

    @property
    def estimable(self) -> bool:
        """True when ``temperature`` is a usable number."""
        return math.isfinite(self.temperature)

    @classmethod
    def not_estimable(cls, reason: str, n: int = 0, strategy: str = "not_estimable") -> TemperatureFit:
        """A NaN fit carrying ``reason``."""
        return cls(math.nan, math.nan, math.nan, n, False, strategy, reason)


def _nll(logits: np.ndarray, labels: np.ndarray, temperature: float) -> float:
    """Mean NLL of softmax(logits / T)."""
    z = torch.from_numpy(np.asarray(logits, dtype=np.float64) / temperature)
    return float(torch.nn.functional.cross_entropy(z, torch.from_numpy(np.asarray(labels, dtype=np.int64))))


def fit_calibration_temperature(
    logits: np.ndarray, labels: np.ndarray, *, strategy: str = "held_out"
) -> TemperatureFit:
    """T minimising the NLL of ``logits`` (bounded Brent search on log T, :func:`metrics.fit_temperature`).

    Not estimable (NaN, with a reason) when fewer than :data:`MIN_CALIBRATION_SAMPLES` predictions are given
    or the optimum lies within :data:`BOUND_TOLERANCE` of a log-T bound (the NLL keeps falling towards
    T → 0 or ∞, e.g. separable calibration logits); the boundary value stays in ``log_temperature``.
    """
    if strategy not in STRATEGIES:
        raise ConfigError(f"strategy must be one of {STRATEGIES}, got {strategy!r}")
    z = np.asarray(logits, dtype=np.float64)
    y = np.asarray(labels).astype(np.int64).reshape(-1)
    n = int(y.size)
    if n < MIN_CALIBRATION_SAMPLES:
        return TemperatureFit.not_estimable(
            f"{n} calibration predictions (< {MIN_CALIBRATION_SAMPLES})", n=n, strategy=strategy
        )
    temperature = metrics.fit_temperature(z, y)
    log_t = math.log(temperature)
    low, high = metrics.LOG_TEMPERATURE_BOUNDS
    nll = _nll(z, y, temperature)
    # A flat objective (e.g. NLL underflowing to 0 on separable logits) can stop Brent inside the bounds:
    # the optimum is not interior whenever a bound scores as well as the fitted T.
    at_bound = min(abs(log_t - low), abs(log_t - high)) < BOUND_TOLERANCE
    bound_nll = min(_nll(z, y, math.exp(low)), _nll(z, y, math.exp(high)))
    if at_bound or bound_nll <= nll + 1e-9 * max(1.0, abs(nll)):
        reason = (
            f"the NLL optimum is not inside the log T bounds [{low:g}, {high:g}] (fitted log T = "
            f"{log_t:.3f}): the calibration predictions do not determine T"
        )
        return TemperatureFit(math.nan, log_t, nll, n, True, strategy, reason)
    return TemperatureFit(temperature, log_t, nll, n, False, strategy)


def _check_disjoint(train: np.ndarray, calibration: np.ndarray, what: str) -> None:
    """Refuse calibration positions that the prompt trained on."""
    overlap = np.intersect1d(np.asarray(train), np.asarray(calibration))
    if overlap.size:
        raise ValueError(
            f"{what}: {overlap.size} calibration image(s) are in the prompt's training indices "
            f"(e.g. {overlap[:5].tolist()}); T must never be fitted on the prompt's own training images"
        )


def fit_held_out_temperature(
    calibration_logits: np.ndarray,
    calibration_labels: np.ndarray,
    *,
    prompt_train_indices: np.ndarray,
    calibration_indices: np.ndarray,
) -> TemperatureFit:
    """T for a ``held_out`` cell from the logits of its calibration split, checked disjoint from training."""
    if len(calibration_indices) != len(calibration_labels):
        raise ValueError(
            f"{len(calibration_indices)} calibration indices but {len(calibration_labels)} calibration labels"
        )
    _check_disjoint(prompt_train_indices, calibration_indices, "held_out")
    return fit_calibration_temperature(calibration_logits, calibration_labels, strategy="held_out")


def pool_out_of_fold(
    fold_logits: Sequence[np.ndarray], fold_labels: Sequence[np.ndarray]
) -> tuple[np.ndarray, np.ndarray]:
    """Concatenate the held-out-fold logits and labels of the k fold prompts (all must have C classes)."""
    if len(fold_logits) != len(fold_labels) or not fold_logits:
        raise ValueError(f"need one labels array per fold; got {len(fold_logits)} and {len(fold_labels)}")
    widths = {np.asarray(z).shape[1] for z in fold_logits}
    if len(widths) != 1:
        raise ValueError(f"fold logits disagree on the number of classes: {sorted(widths)}")
    logits = np.concatenate([np.asarray(z, dtype=np.float64) for z in fold_logits])
    labels = np.concatenate([np.asarray(y).astype(np.int64).reshape(-1) for y in fold_labels])
    if logits.shape[0] != labels.shape[0]:
        raise ValueError(f"{logits.shape[0]} pooled logits but {labels.shape[0]} labels")
    return logits, labels


def fit_cross_fit_temperature(
    fold_logits: Sequence[np.ndarray],
    fold_labels: Sequence[np.ndarray],
    *,
    fold_train_indices: Sequence[np.ndarray],
    fold_heldout_indices: Sequence[np.ndarray],
) -> TemperatureFit:
    """T for a ``cross_fit`` cell from the pooled out-of-fold logits; each fold checked disjoint.

    Fold j's prompt trained on ``fold_train_indices[j]`` and produced ``fold_logits[j]`` on
    ``fold_heldout_indices[j]``; no image may be held out twice.
    """
    if not len(fold_logits) == len(fold_train_indices) == len(fold_heldout_indices):
        raise ValueError("need train indices, held-out indices and logits for every fold")
    for j, (train, held) in enumerate(zip(fold_train_indices, fold_heldout_indices, strict=True)):
        _check_disjoint(train, held, f"cross_fit fold {j}")
        if len(held) != len(fold_labels[j]):
            raise ValueError(f"fold {j}: {len(held)} held-out indices but {len(fold_labels[j])} labels")
    pooled_positions = np.concatenate([np.asarray(h) for h in fold_heldout_indices])
    if np.unique(pooled_positions).size != pooled_positions.size:
        raise ValueError("an image is held out by more than one fold")
    logits, labels = pool_out_of_fold(fold_logits, fold_labels)
    return fit_calibration_temperature(logits, labels, strategy="cross_fit")


def temperature_scaled_metrics(
    test_logits: np.ndarray,
    test_labels: np.ndarray,
    fit: TemperatureFit,
    num_bins: int = metrics.DEFAULT_NUM_BINS,
) -> dict[str, object]:
    """Test ECE, adaptive ECE, NLL and Brier at T, plus the fit's provenance (:data:`SCALED_COLUMNS`).

    All metrics are NaN when the fit is not estimable; ``calibration_reason`` says why.
    """
    row: dict[str, object] = {
        "temperature": fit.temperature,
        "log_temperature": fit.log_temperature,
        "temperature_hit_bound": fit.hit_bound,
        "calibration_strategy": fit.strategy,
        "calibration_n": fit.n,
        "calibration_reason": fit.reason,
    }
    if not fit.estimable:
        return row | dict.fromkeys(SCALED_COLUMNS[6:], math.nan)
    scaled_logits = np.asarray(test_logits, dtype=np.float64) / fit.temperature
    scaled = metrics.compute_metrics(scaled_logits, test_labels, num_bins)
    return row | {
        "ece_temperature_scaled": scaled["ece"],
        "adaptive_ece_temperature_scaled": scaled["adaptive_ece"],
        "nll_temperature_scaled": scaled["nll"],
        "brier_temperature_scaled": scaled["brier"],
    }


# ------------------------------------------------------------------------------ binned diagnostics


def classwise_calibration_errors(
    probs: np.ndarray, labels: np.ndarray, num_bins: int = metrics.DEFAULT_NUM_BINS
) -> np.ndarray:
    """Per class j: one-vs-rest binned L1 calibration error of p_j against 1[y = j] (length C).

    Bins are metrics.ece's equal-width bins applied to p_j of every sample.
    """
    p = metrics._check_probs(probs)
    y = metrics._labels(labels, p.shape[0], p.shape[1])
    if num_bins < 1:
        raise ConfigError(f"num_bins must be ≥ 1, got {num_bins}")
    errors = np.empty(p.shape[1])
    for j in range(p.shape[1]):
        column = p[:, j]
        bins = metrics._equal_width_bin_index(column, num_bins)
        errors[j] = metrics._binned_ce(column, y == j, bins, num_bins)
    return errors


def classwise_ece(probs: np.ndarray, labels: np.ndarray, num_bins: int = metrics.DEFAULT_NUM_BINS) -> float:
    """Classwise ECE (Kull et al. 2019): mean over classes of the one-vs-rest 15-bin calibration error."""
    return float(classwise_calibration_errors(probs, labels, num_bins).mean())


def reliability_table(
    predictions: Mapping[str, tuple[np.ndarray, np.ndarray]], num_bins: int = metrics.DEFAULT_NUM_BINS
) -> pd.DataFrame:
    """Tidy reliability-diagram data: one row per (cell, bin) with :data:`RELIABILITY_COLUMNS`.

    ``predictions`` maps a cell id (:func:`vpbench.results.stats.cell_id`) to ``(probs, labels)``;
    identifiers are parsed from the id (NA when it is not one). Bins: :func:`metrics.reliability_bins`.
    """
    frames = []
    for key in sorted(predictions):
        probs, labels = predictions[key]
        bins = metrics.reliability_bins(probs, labels, num_bins)
        try:
            ids = parse_cell_id(key)
        except ValueError:
            ids = dict.fromkeys(IDENTIFIERS, pd.NA)
        frame = pd.DataFrame(
            {
                "cell_id": key,
                **{column: ids[column] for column in IDENTIFIERS},
                "bin": np.arange(num_bins, dtype=np.int64),
                **bins,
            }
        )
        frame["gap"] = frame["mean_confidence"] - frame["accuracy"]
        frames.append(frame)
    if not frames:
        return pd.DataFrame(columns=list(RELIABILITY_COLUMNS))
    return pd.concat(frames, ignore_index=True)[list(RELIABILITY_COLUMNS)]
