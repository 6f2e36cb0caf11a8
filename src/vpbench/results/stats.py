"""Statistics for dense-versus-compressed comparisons that a reviewer can check (docs/statistics.md).

Seed-level t-intervals, bootstrap intervals over test samples, paired tests (across seeds, or a paired
bootstrap over test samples that works with one seed) and multiple-comparison correction. Every delta is
``dense − compressed`` in metric units, as in :func:`vpbench.results.frames.dense_deltas`: a positive accuracy
delta is a drop caused by compression, a negative ECE delta is a calibration loss. Results that cannot be
estimated are NaN with a ``reason``; nothing here raises on thin data.
"""

from __future__ import annotations

import math
import warnings
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

from vpbench.errors import ConfigError
from vpbench.metrics import DEFAULT_NUM_BINS, _equal_width_bin_index, _top_label
from vpbench.results.frames import dense_variants, summarise

LEVEL = 0.95
ALPHA = 0.05
N_RESAMPLES = 2000
BOOTSTRAP_SEED = 0
# A cell's configuration without the seed; the seed-level summary groups by it.
GROUP_KEYS: tuple[str, ...] = ("study", "dataset", "model", "variant", "method", "shots")
# Dense and compressed cells are paired within these keys and the seed (same seed ⇒ same N-shot subset).
PAIR_KEYS: tuple[str, ...] = ("study", "dataset", "model", "method", "shots")
# One heatmap (variant × N-shot for a model, dataset and method) is one family of tests.
FAMILY_KEYS: tuple[str, ...] = ("study", "dataset", "model", "method")
# test="auto" uses the across-seed paired t-test from this many paired seeds on (the paper ran 3).
MIN_SEEDS_FOR_T = 3
SAMPLE_METRICS: tuple[str, ...] = ("accuracy", "ece", "brier")
TESTS: tuple[str, ...] = ("auto", "paired_t", "wilcoxon", "paired_bootstrap")
CORRECTIONS: tuple[str, ...] = ("holm", "bh", "none")
COMPARISON_COLUMNS: tuple[str, ...] = (
    "study",
    "dataset",
    "model",
    "variant",
    "dense_variant",
    "method",
    "shots",
    "metric",
    "dense_mean",
    "compressed_mean",
    "delta",
    "ci_low",
    "ci_high",
    "level",
    "effect_size",
    "test",
    "p_value",
    "p_adjusted",
    "correction",
    "alpha",
    "significant",
    "family",
    "n_seeds",
    "reason",
    "dense_cells",
    "compressed_cells",
)
_TIE_TOLERANCE = 1e-12  # spreads below this (relative to the values' magnitude) count as zero: float noise
_RESAMPLE_CHUNK = 250  # resamples per vectorised batch: 250 × 10k test samples ≈ 20 MB per float array

Predictions = tuple[np.ndarray, np.ndarray]


@dataclass(frozen=True)
class Estimate:
    """A point estimate with its interval, test and p-value; NaN fields come with a ``reason``."""

    estimate: float
    low: float = math.nan
    high: float = math.nan
    p_value: float = math.nan
    test: str = ""
    n: int = 0
    effect_size: float = math.nan
    reason: str = ""


# ------------------------------------------------------------------------------------------ cell ids


def cell_id(ids: Mapping[str, object]) -> str:
    """``study/dataset/model/variant/method/{shots}shot/seed{seed}``: the key of per-cell prediction dicts."""
    return "/".join(
        [
            str(ids["study"]),
            str(ids["dataset"]),
            str(ids["model"]),
            str(ids["variant"]),
            str(ids["method"]),
            f"{ids['shots']}shot",
            f"seed{int(ids['seed'])}",  # type: ignore[call-overload]
        ]
    )


def parse_cell_id(text: str) -> dict[str, object]:
    """Identifiers of a :func:`cell_id` string (inverse function)."""
    parts = text.split("/")
    if len(parts) != 7 or not parts[5].endswith("shot") or not parts[6].startswith("seed"):
        raise ValueError(f"not a cell id (study/dataset/model/variant/method/Nshot/seedS): {text!r}")
    study, dataset, model, variant, method, shots, seed = parts
    return {
        "study": study,
        "dataset": dataset,
        "model": model,
        "variant": variant,
        "method": method,
        "shots": shots.removesuffix("shot"),
        "seed": int(seed.removeprefix("seed")),
    }


# ------------------------------------------------------------------------------------ seed intervals


def _no_spread(values: np.ndarray) -> bool:
    """True when all values are equal up to float noise (t statistics are then undefined)."""
    return bool(np.ptp(values) <= _TIE_TOLERANCE * max(1.0, float(np.abs(values).max())))


def t_interval(values: Sequence[float] | np.ndarray, level: float = LEVEL) -> Estimate:
    """Mean and ``level`` t-interval of finite ``values`` (one-sample t-test of mean 0 as p-value)."""
    x = np.asarray(values, dtype=np.float64)
    x = x[np.isfinite(x)]
    if x.size == 0:
        return Estimate(math.nan, reason="no finite values")
    mean = float(x.mean())
    if x.size == 1:
        return Estimate(mean, n=1, test="one_sample_t", reason="one value: no interval")
    sd = float(x.std(ddof=1))
    if _no_spread(x):
        reason = "zero spread: t undefined"
        return Estimate(mean, mean, mean, n=int(x.size), test="one_sample_t", reason=reason)
    result = stats.ttest_1samp(x, 0.0)
    ci = result.confidence_interval(level)
    return Estimate(
        mean, float(ci.low), float(ci.high), float(result.pvalue), "one_sample_t", int(x.size), mean / sd
    )


def seed_intervals(
    cells: pd.DataFrame, metric: str, *, by: Sequence[str] = GROUP_KEYS, level: float = LEVEL
) -> pd.DataFrame:
    """Per group: mean, std, ``n_seeds`` and the ``level`` t-interval across seeds (``ci_low``/``ci_high``).

    Builds on :func:`vpbench.results.frames.summarise`; with one seed the interval is NaN and ``reason`` says so.
    """
    by = [column for column in by if column in cells.columns]
    summary = summarise(cells, by, metric)
    n = summary["n_seeds"].to_numpy(dtype=float)
    half = np.full_like(n, np.nan)
    several = n >= 2
    half[several] = (
        stats.t.ppf(0.5 + level / 2, n[several] - 1)
        * summary["std"].to_numpy(float)[several]
        / np.sqrt(n[several])
    )
    out = summary.drop(columns=["ci95"]).copy()
    out.insert(len(by), "metric", metric)
    out["ci_low"] = out["mean"] - half
    out["ci_high"] = out["mean"] + half
    out["level"] = level
    out["reason"] = np.where(several, "", "one seed: no across-seed interval")
    return out.reset_index(drop=True)


# --------------------------------------------------------------------------- per-sample bootstraps


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


# ------------------------------------------------------------------------------------- paired tests


def paired_seed_test(
    dense: Sequence[float] | np.ndarray,
    compressed: Sequence[float] | np.ndarray,
    *,
    test: str = "paired_t",
    level: float = LEVEL,
) -> Estimate:
    """Across-seed paired test of ``dense − compressed`` (element i of both = the same seed).

    The estimate and interval are the mean paired difference and its t-interval (``ttest_rel``); the
    p-value is the paired t-test's, or Wilcoxon signed-rank's with ``test="wilcoxon"``; ``effect_size`` is
    Cohen's d_z = mean / sd of the differences. Pairs with a NaN side are dropped.
    """
    if test not in ("paired_t", "wilcoxon"):
        raise ConfigError(f"paired_seed_test needs test 'paired_t' or 'wilcoxon', got {test!r}")
    a = np.asarray(dense, dtype=np.float64).reshape(-1)
    b = np.asarray(compressed, dtype=np.float64).reshape(-1)
    if a.shape != b.shape:
        raise ValueError(f"dense and compressed need one value per seed each; got {a.shape} and {b.shape}")
    keep = np.isfinite(a) & np.isfinite(b)
    a, b = a[keep], b[keep]
    diff = a - b
    n = int(diff.size)
    if n == 0:
        return Estimate(math.nan, test=test, reason="no paired seeds")
    mean = float(diff.mean())
    if n == 1:
        return Estimate(
            mean,
            test=test,
            n=1,
            reason="one seed: the across-seed test is not estimable (use the paired bootstrap)",
        )
    constant = _no_spread(diff)
    sd = 0.0 if constant else float(diff.std(ddof=1))
    ci = None if constant else stats.ttest_rel(a, b).confidence_interval(level)
    low, high = (float(ci.low), float(ci.high)) if ci is not None else (mean, mean)
    effect = math.nan if constant else mean / sd
    if test == "paired_t":
        if constant:
            reason = "all paired differences are equal: the t statistic is undefined"
            return Estimate(mean, low, high, math.nan, test, n, effect, reason)
        return Estimate(mean, low, high, float(stats.ttest_rel(a, b).pvalue), test, n, effect)
    if constant and abs(mean) <= _TIE_TOLERANCE:
        return Estimate(mean, low, high, math.nan, test, n, effect, "all paired differences are zero")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        p_value = float(stats.wilcoxon(a, b, zero_method="wilcox").pvalue)
    return Estimate(mean, low, high, p_value, test, n, effect)


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


# ------------------------------------------------------------------------------ multiple comparisons


def holm(p_values: Sequence[float] | np.ndarray) -> np.ndarray:
    """Holm step-down adjusted p-values over the finite entries (NaN stays NaN, m = #finite)."""
    p = np.asarray(p_values, dtype=np.float64)
    out = np.full(p.shape, np.nan)
    finite = np.isfinite(p)
    m = int(finite.sum())
    if m == 0:
        return out
    values = p[finite]
    order = np.argsort(values, kind="stable")
    stepped = np.maximum.accumulate((m - np.arange(m)) * values[order])
    adjusted = np.empty(m)
    adjusted[order] = np.minimum(stepped, 1.0)
    out[finite] = adjusted
    return out


def benjamini_hochberg(p_values: Sequence[float] | np.ndarray) -> np.ndarray:
    """Benjamini–Hochberg adjusted p-values (``scipy.stats.false_discovery_control``) over finite entries."""
    p = np.asarray(p_values, dtype=np.float64)
    out = np.full(p.shape, np.nan)
    finite = np.isfinite(p)
    if finite.any():
        out[finite] = stats.false_discovery_control(p[finite], method="bh")
    return out


def adjust_p_values(
    p_values: Sequence[float] | np.ndarray, method: str = "holm", alpha: float = ALPHA
) -> tuple[np.ndarray, np.ndarray]:
    """Adjusted p-values of one family and ``significant`` (adjusted ≤ α; False where p is NaN).

    ``holm`` controls the family-wise error rate, ``bh`` the false discovery rate, ``none`` passes p through.
    """
    if method not in CORRECTIONS:
        raise ConfigError(f"correction must be one of {CORRECTIONS}, got {method!r}")
    p = np.asarray(p_values, dtype=np.float64)
    if method == "holm":
        adjusted = holm(p)
    elif method == "bh":
        adjusted = benjamini_hochberg(p)
    else:
        adjusted = p.copy()
    significant = np.isfinite(adjusted) & (adjusted <= alpha)
    return adjusted, significant


# ------------------------------------------------------------------------------------- comparisons


def _choose_test(test: str, n_pairs: int, have_predictions: bool) -> str:
    """``auto``: paired t from MIN_SEEDS_FOR_T seeds, else the paired bootstrap if predictions exist."""
    if test != "auto":
        return test
    if n_pairs >= MIN_SEEDS_FOR_T:
        return "paired_t"
    return "paired_bootstrap" if have_predictions else "paired_t"


def _comparison_seed(base: int, key: Sequence[object]) -> int:
    """A bootstrap seed per comparison that does not depend on row order."""
    digest = zlib.crc32(repr(tuple(map(str, key))).encode())
    return int(np.random.SeedSequence([base, digest]).generate_state(1)[0])


def compare_to_dense(
    cells: pd.DataFrame,
    predictions: Mapping[str, Predictions] | None = None,
    *,
    metric: str = "accuracy",
    test: str = "auto",
    correction: str = "holm",
    alpha: float = ALPHA,
    family_by: Sequence[str] = FAMILY_KEYS,
    level: float = LEVEL,
    n_resamples: int = N_RESAMPLES,
    seed: int = BOOTSTRAP_SEED,
    num_bins: int = DEFAULT_NUM_BINS,
) -> pd.DataFrame:
    """One row per (study, dataset, model, compressed variant, method, shots): dense vs compressed ``metric``.

    Cells pair by seed with the model's dense variant (:func:`vpbench.results.frames.dense_variants`). ``test``:
    ``paired_t``/``wilcoxon`` across seeds (:func:`paired_seed_test`), ``paired_bootstrap`` over test
    samples (:func:`paired_bootstrap`, needs ``predictions[cell_id] = (probs, labels)``), or ``auto``
    (see :func:`_choose_test`). p-values are adjusted within each ``family_by`` group. Columns:
    :data:`COMPARISON_COLUMNS`.
    """
    if test not in TESTS:
        raise ConfigError(f"test must be one of {TESTS}, got {test!r}")
    if correction not in CORRECTIONS:
        raise ConfigError(f"correction must be one of {CORRECTIONS}, got {correction!r}")
    if not cells.empty and metric not in cells.columns:
        raise ConfigError(f"the cells table has no column {metric!r} to compare")
    predictions = predictions or {}
    rows: list[dict[str, object]] = []
    if not cells.empty:
        dense_of = dense_variants(cells)
        for key, group in cells.groupby(list(PAIR_KEYS), sort=True):
            ids = dict(zip(PAIR_KEYS, key, strict=True))
            dense_name = dense_of.get((str(ids["study"]), str(ids["model"])))
            dense_rows = group.loc[group["variant"] == dense_name] if dense_name else group.iloc[0:0]
            for variant, comp_rows in group.loc[group["variant"] != dense_name].groupby("variant", sort=True):
                rows.append(
                    _compare_one(
                        ids,
                        str(variant),
                        dense_name,
                        dense_rows,
                        comp_rows,
                        predictions,
                        metric=metric,
                        test=test,
                        level=level,
                        n_resamples=n_resamples,
                        seed=_comparison_seed(seed, (*key, variant)),
                        num_bins=num_bins,
                    )
                )
    out = pd.DataFrame(rows, columns=list(COMPARISON_COLUMNS))
    out["correction"] = correction
    out["alpha"] = alpha
    out["family"] = (
        out[list(family_by)].astype(str).agg("/".join, axis=1) if len(out) else pd.Series(dtype=str)
    )
    out["p_adjusted"] = np.nan
    out["significant"] = False
    for _, members in out.groupby("family", sort=False):
        adjusted, significant = adjust_p_values(members["p_value"].to_numpy(float), correction, alpha)
        out.loc[members.index, "p_adjusted"] = adjusted
        out.loc[members.index, "significant"] = significant
    return out.astype(
        {
            "dense_mean": float,
            "compressed_mean": float,
            "delta": float,
            "ci_low": float,
            "ci_high": float,
            "level": float,
            "effect_size": float,
            "p_value": float,
            "p_adjusted": float,
            "alpha": float,
            "significant": bool,
            "n_seeds": "int64",
        }
    )


def _compare_one(
    ids: Mapping[str, object],
    variant: str,
    dense_name: str | None,
    dense_rows: pd.DataFrame,
    comp_rows: pd.DataFrame,
    predictions: Mapping[str, Predictions],
    *,
    metric: str,
    test: str,
    level: float,
    n_resamples: int,
    seed: int,
    num_bins: int,
) -> dict[str, object]:
    """One comparison row (see :func:`compare_to_dense`)."""
    dense_by_seed = dense_rows.dropna(subset=[metric]).drop_duplicates("seed").set_index("seed")
    comp_by_seed = comp_rows.dropna(subset=[metric]).drop_duplicates("seed").set_index("seed")
    seeds = sorted(set(dense_by_seed.index) & set(comp_by_seed.index))
    dense_ids = [cell_id(dense_by_seed.loc[s].to_dict() | {"seed": s}) for s in seeds]
    comp_ids = [cell_id(comp_by_seed.loc[s].to_dict() | {"seed": s}) for s in seeds]
    dense_values = dense_by_seed.loc[seeds, metric].to_numpy(dtype=float)
    comp_values = comp_by_seed.loc[seeds, metric].to_numpy(dtype=float)
    have_predictions = bool(seeds) and all(c in predictions for c in (*dense_ids, *comp_ids))
    chosen = _choose_test(test, len(seeds), have_predictions)
    if dense_name is None:
        result = Estimate(math.nan, test=chosen, reason="the model has no dense variant in this study")
    elif not seeds:
        result = Estimate(math.nan, test=chosen, reason="no seed has both a dense and a compressed cell")
    elif chosen == "paired_bootstrap":
        if metric not in SAMPLE_METRICS:
            result = Estimate(math.nan, test=chosen, n=len(seeds), reason=f"no per-sample form of {metric!r}")
        elif not have_predictions:
            lacking = [c for c in (*dense_ids, *comp_ids) if c not in predictions]
            reason = f"test predictions missing for {', '.join(lacking)}"
            result = Estimate(math.nan, test=chosen, n=len(seeds), reason=reason)
        else:
            result = paired_bootstrap(
                [predictions[c] for c in dense_ids],
                [predictions[c] for c in comp_ids],
                metric,
                num_bins=num_bins,
                level=level,
                n_resamples=n_resamples,
                seed=seed,
            )
    else:
        result = paired_seed_test(dense_values, comp_values, test=chosen, level=level)
    unpaired = len(set(dense_by_seed.index) ^ set(comp_by_seed.index))
    reason = result.reason
    if unpaired:
        reason = "; ".join(filter(None, [reason, f"{unpaired} seed(s) without a partner left out"]))
    return {
        **{k: ids[k] for k in ("study", "dataset", "model", "method", "shots")},
        "variant": variant,
        "dense_variant": dense_name,
        "metric": metric,
        "dense_mean": float(dense_values.mean()) if seeds else math.nan,
        "compressed_mean": float(comp_values.mean()) if seeds else math.nan,
        "delta": result.estimate,
        "ci_low": result.low,
        "ci_high": result.high,
        "level": level,
        "effect_size": result.effect_size,
        "test": result.test,
        "p_value": result.p_value,
        "n_seeds": len(seeds),
        "reason": reason,
        "dense_cells": ";".join(dense_ids),
        "compressed_cells": ";".join(comp_ids),
    }


__all__ = [
    "ALPHA",
    "COMPARISON_COLUMNS",
    "FAMILY_KEYS",
    "LEVEL",
    "MIN_SEEDS_FOR_T",
    "Estimate",
    "adjust_p_values",
    "benjamini_hochberg",
    "bootstrap_accuracy",
    "bootstrap_ece",
    "bootstrap_metric",
    "bootstrap_p_value",
    "cell_id",
    "compare_to_dense",
    "holm",
    "paired_bootstrap",
    "paired_seed_test",
    "parse_cell_id",
    "seed_intervals",
    "t_interval",
]
