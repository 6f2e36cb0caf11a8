"""Across-seed paired tests of dense versus compressed (element i of both sides = the same seed)."""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence

import numpy as np
from scipy import stats

from vpbench.errors import ConfigError
from vpbench.results.stats.estimates import _TIE_TOLERANCE, LEVEL, Estimate, _no_spread


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
