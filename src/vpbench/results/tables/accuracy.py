"""The study's accuracy table: every configuration's mean with its 95% interval."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from vpbench.results.figures.labels import dataset_label, method_label, method_sort_key, model_label
from vpbench.results.frames import ordered_shots, variant_table
from vpbench.results.tables.output import GAP, finish, interval_text

KEYS = ["model", "variant", "method", "dataset", "shots"]


def _intervals(cells: pd.DataFrame, intervals: pd.DataFrame | None, metric: str) -> dict[tuple, pd.Series]:
    """``(model, variant, method, dataset, shots) → interval row`` (the stats rule's, else across seeds)."""
    from vpbench.results.stats.study import configuration_intervals

    if intervals is None or intervals.empty or metric not in set(intervals["metric"]):
        intervals = configuration_intervals(cells, pd.DataFrame(columns=["metric"]), metrics=(metric,))
    rows = intervals.loc[intervals["metric"] == metric]
    return {tuple(str(row[k]) for k in KEYS): row for _, row in rows.iterrows()}


def accuracy_table(
    cells: pd.DataFrame,
    *,
    intervals: pd.DataFrame | None = None,
    metric: str = "accuracy",
    out_stem: str | Path | None = None,
    digits: int = 2,
) -> pd.DataFrame:
    """Rows model / compression / method, columns dataset × N-shot; cells: mean [95% interval] (%).

    The interval is the t-interval across seeds with two or more seeds, else the single cell's bootstrap
    interval over its test samples (marked †); ``intervals`` is the stats rule's table.
    """
    from vpbench.results.stats.study import SAMPLE_INTERVAL
    from vpbench.results.tables.output import SAMPLE_MARK

    lookup = _intervals(cells, intervals, metric)
    info = variant_table(cells)
    datasets = sorted(cells["dataset"].unique())
    keys = [(d, s) for d in datasets for s in ordered_shots(cells.loc[cells["dataset"] == d, "shots"])]
    rows, index = [], []
    for model_row in info.itertuples(index=False):
        mine = cells.loc[(cells["model"] == model_row.model) & (cells["variant"] == model_row.variant)]
        for method in sorted(mine["method"].unique(), key=method_sort_key):
            entries = []
            for dataset, shots in keys:
                row = lookup.get((model_row.model, model_row.variant, method, dataset, shots))
                if row is None:
                    entries.append(GAP)
                    continue
                over_samples = row["interval"] == SAMPLE_INTERVAL
                entries.append(
                    interval_text(
                        row["mean"], row["ci_low"], row["ci_high"], over_samples=over_samples, digits=digits
                    )
                )
            rows.append(entries)
            index.append(
                (model_label(model_row.model, cells), model_row.compression_label, method_label(method))
            )
    columns = [(dataset_label(d), s) for d, s in keys]
    table = pd.DataFrame(
        rows,
        index=pd.MultiIndex.from_tuples(index, names=["Model", "Compression", "Method"]) if index else None,
        columns=pd.MultiIndex.from_tuples(columns, names=["Dataset", "N-shot"]) if columns else None,
    )
    caption = (
        f"Test {metric} [%] after visual prompting: mean over seeds [95% interval] — the t-interval across "
        f"seeds with two or more seeds; with one seed the bootstrap interval over the cell's test samples "
        f"(marked {SAMPLE_MARK}: it reflects test-set sampling only, not seed-to-seed variation); the mean "
        "alone where neither exists. — marks configurations without a finished cell."
    )
    return finish(table, caption, out_stem)
