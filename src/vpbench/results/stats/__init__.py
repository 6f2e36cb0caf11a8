"""Statistics for dense-versus-compressed comparisons that a reviewer can check (docs/statistics.md).

- :mod:`.estimates`: the :class:`Estimate` record, cell ids, t-intervals across seeds;
- :mod:`.bootstrap`: bootstrap intervals over test samples, one cell or a paired dense − compressed
  difference (valid with one seed);
- :mod:`.paired`: across-seed paired tests (paired t, Wilcoxon);
- :mod:`.multiplicity`: Holm and Benjamini–Hochberg within one family of tests (one heatmap);
- :mod:`.comparisons`: the comparisons table that figures, tables and claims read;
- :mod:`.study`: what the workflow's ``stats`` rule writes (comparisons and per-cell intervals).
"""

from vpbench.results.stats.bootstrap import (
    SAMPLE_METRICS,
    Predictions,
    bootstrap_accuracy,
    bootstrap_ece,
    bootstrap_metric,
    bootstrap_p_value,
    paired_bootstrap,
)
from vpbench.results.stats.comparisons import (
    COMPARISON_COLUMNS,
    FAMILY_KEYS,
    MIN_SEEDS_FOR_T,
    PAIR_KEYS,
    TESTS,
    compare_to_dense,
)
from vpbench.results.stats.estimates import (
    ALPHA,
    BOOTSTRAP_SEED,
    GROUP_KEYS,
    LEVEL,
    N_RESAMPLES,
    Estimate,
    cell_id,
    parse_cell_id,
    seed_intervals,
    t_interval,
)
from vpbench.results.stats.multiplicity import CORRECTIONS, adjust_p_values, benjamini_hochberg, holm
from vpbench.results.stats.paired import paired_seed_test

__all__ = [
    "ALPHA",
    "BOOTSTRAP_SEED",
    "COMPARISON_COLUMNS",
    "CORRECTIONS",
    "FAMILY_KEYS",
    "GROUP_KEYS",
    "LEVEL",
    "MIN_SEEDS_FOR_T",
    "N_RESAMPLES",
    "PAIR_KEYS",
    "SAMPLE_METRICS",
    "TESTS",
    "Estimate",
    "Predictions",
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
