"""What the workflow's ``stats`` rule computes for a whole study, from its cells table and test predictions.

- ``comparisons``: every dense-versus-compressed comparison for each of :data:`COMPARED_METRICS`, tested
  twice — paired across seeds (paired t; NaN with one seed) and by the paired bootstrap over test samples
  (valid with one seed) — each adjusted within its heatmap (one family per study, dataset, model and
  method, metric and test);
- ``cell_intervals``: per cell, a bootstrap interval over its test samples (accuracy, ECE);
- ``intervals``: per configuration (cell without the seed), the mean across seeds with a 95% interval: the
  t-interval across seeds with two or more seeds, else the single cell's bootstrap interval.

Test predictions are read lazily (a few cells at a time), so a study of any size fits in memory.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path

import numpy as np
import pandas as pd

from vpbench.results.stats.bootstrap import Predictions, bootstrap_metric
from vpbench.results.stats.comparisons import compare_to_dense
from vpbench.results.stats.estimates import (
    ALPHA,
    BOOTSTRAP_SEED,
    GROUP_KEYS,
    LEVEL,
    N_RESAMPLES,
    cell_id,
    seed_intervals,
)
from vpbench.study.grid import IDENTIFIERS

COMPARED_METRICS: tuple[str, ...] = ("accuracy", "ece")
COMPARISON_TESTS: tuple[str, ...] = ("paired_t", "paired_bootstrap")
INTERVAL_METRICS: tuple[str, ...] = ("accuracy", "ece")
CELL_INTERVAL_COLUMNS: tuple[str, ...] = (
    *IDENTIFIERS,
    "metric",
    "estimate",
    "ci_low",
    "ci_high",
    "level",
    "n_test",
    "reason",
)
INTERVAL_COLUMNS: tuple[str, ...] = (
    *GROUP_KEYS,
    "metric",
    "mean",
    "std",
    "n_seeds",
    "ci_low",
    "ci_high",
    "level",
    "interval",
)
SEED_INTERVAL = "t across seeds"
SAMPLE_INTERVAL = "bootstrap over test samples"


class LazyPredictions(Mapping[str, Predictions]):
    """``cell_id → (test_probs, test_labels)`` read from the cell's folder on access; a few stay in memory."""

    def __init__(
        self, folders: Mapping[str, Path], load: Callable[[Path], Predictions], keep: int = 8
    ) -> None:
        self._folders = dict(folders)
        self._load = load
        self._keep = keep
        self._cache: OrderedDict[str, Predictions] = OrderedDict()

    def __getitem__(self, key: str) -> Predictions:
        if key in self._cache:
            self._cache.move_to_end(key)
            return self._cache[key]
        value = self._load(self._folders[key])
        self._cache[key] = value
        if len(self._cache) > self._keep:
            self._cache.popitem(last=False)
        return value

    def __contains__(self, key: object) -> bool:
        return key in self._folders

    def __iter__(self) -> Iterator[str]:
        return iter(self._folders)

    def __len__(self) -> int:
        return len(self._folders)


def study_comparisons(
    cells: pd.DataFrame,
    predictions: Mapping[str, Predictions] | None = None,
    *,
    metrics: tuple[str, ...] = COMPARED_METRICS,
    tests: tuple[str, ...] = COMPARISON_TESTS,
    correction: str = "holm",
    alpha: float = ALPHA,
    n_resamples: int = N_RESAMPLES,
    seed: int = BOOTSTRAP_SEED,
) -> pd.DataFrame:
    """The comparisons table: :func:`compare_to_dense` for every metric the cells have and every test."""
    frames = [
        compare_to_dense(
            cells,
            predictions,
            metric=metric,
            test=test,
            correction=correction,
            alpha=alpha,
            n_resamples=n_resamples,
            seed=seed,
        )
        for metric in metrics
        if metric in cells.columns or cells.empty
        for test in tests
    ]
    frames = [frame for frame in frames if len(frame)]
    if not frames:
        return compare_to_dense(cells.iloc[0:0], metric=metrics[0], test=tests[0], correction=correction)
    return pd.concat(frames, ignore_index=True)


def cell_intervals(
    cells: pd.DataFrame,
    predictions: Mapping[str, Predictions],
    *,
    metrics: tuple[str, ...] = INTERVAL_METRICS,
    level: float = LEVEL,
    n_resamples: int = N_RESAMPLES,
    seed: int = BOOTSTRAP_SEED,
) -> pd.DataFrame:
    """Per cell and metric, the bootstrap interval over its test samples (``bootstrap_metric``)."""
    rows = []
    for ids in cells[list(IDENTIFIERS)].to_dict("records"):
        key = cell_id(ids)
        if key not in predictions:
            continue
        probs, labels = predictions[key]
        for metric in metrics:
            estimate = bootstrap_metric(
                probs, labels, metric, level=level, n_resamples=n_resamples, seed=seed
            )
            rows.append(
                ids
                | {
                    "metric": metric,
                    "estimate": estimate.estimate,
                    "ci_low": estimate.low,
                    "ci_high": estimate.high,
                    "level": level,
                    "n_test": estimate.n,
                    "reason": estimate.reason,
                }
            )
    frame = pd.DataFrame(rows, columns=list(CELL_INTERVAL_COLUMNS))
    return frame.astype({"estimate": float, "ci_low": float, "ci_high": float, "level": float})


def configuration_intervals(
    cells: pd.DataFrame,
    per_cell: pd.DataFrame,
    *,
    metrics: tuple[str, ...] = INTERVAL_METRICS,
    level: float = LEVEL,
) -> pd.DataFrame:
    """Per configuration and metric: mean over seeds with the t-interval across seeds (≥ 2 seeds), or the
    single cell's bootstrap interval over test samples (one seed)."""
    frames = []
    for metric in metrics:
        if metric not in cells.columns:
            continue
        summary = seed_intervals(cells, metric, level=level)
        summary["interval"] = np.where(summary["n_seeds"] >= 2, SEED_INTERVAL, "")
        single = summary["n_seeds"] == 1
        if single.any() and len(per_cell):
            mine = per_cell.loc[per_cell["metric"] == metric].drop(columns=["seed"])
            keys = [k for k in GROUP_KEYS if k in summary.columns]
            merged = summary.loc[single, keys].merge(mine, on=keys, how="left")
            found = merged["ci_low"].notna().to_numpy()
            index = summary.index[single][found]
            summary.loc[index, "ci_low"] = merged.loc[found, "ci_low"].to_numpy()
            summary.loc[index, "ci_high"] = merged.loc[found, "ci_high"].to_numpy()
            summary.loc[index, "interval"] = SAMPLE_INTERVAL
        frames.append(summary)
    if not frames:
        return pd.DataFrame(columns=list(INTERVAL_COLUMNS))
    out = pd.concat(frames, ignore_index=True)
    return out.reindex(columns=list(INTERVAL_COLUMNS))


def study_statistics(
    cells: pd.DataFrame,
    predictions: Mapping[str, Predictions],
    *,
    correction: str = "holm",
    alpha: float = ALPHA,
    n_resamples: int = N_RESAMPLES,
) -> dict[str, pd.DataFrame]:
    """The three tables of the ``stats`` rule: ``comparisons``, ``cell_intervals`` and ``intervals``."""
    comparisons = study_comparisons(
        cells, predictions, correction=correction, alpha=alpha, n_resamples=n_resamples
    )
    per_cell = cell_intervals(cells, predictions, n_resamples=n_resamples)
    return {
        "comparisons": comparisons,
        "cell_intervals": per_cell,
        "intervals": configuration_intervals(cells, per_cell),
    }
