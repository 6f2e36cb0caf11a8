"""Multiple-comparison correction within one family of tests (one heatmap): Holm or Benjamini–Hochberg."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy import stats

from vpbench.errors import ConfigError
from vpbench.results.stats.estimates import ALPHA

CORRECTIONS: tuple[str, ...] = ("holm", "bh", "none")


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
