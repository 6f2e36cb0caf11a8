"""Δ heatmaps: dense minus compressed accuracy over (compression level × N-shot) (paper Figs 15–17)."""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np
import pandas as pd
import seaborn as sns

from vpbench.results.frames import (dense_deltas, ordered_shots, select, variant_table)
from vpbench.results.figures.labels import dataset_label, method_label, metric_label, metric_scale, model_label
from vpbench.results.figures.style import Plot, new_figure, seed_phrase, styled

SIGNIFICANCE_LEVEL = 0.05


def delta_grid(
    cells: pd.DataFrame, model: str, method: str, dataset: str, *, metric: str = "accuracy"
) -> pd.DataFrame:
    """Long table of Δ (display units) with Welch p-values for one (model, method, dataset), ordered rows."""
    subset = select(cells, model=model, method=method, dataset=dataset)
    deltas = dense_deltas(subset, metric)
    deltas = deltas.assign(delta=deltas["delta"] * metric_scale(metric))
    deltas["significant"] = deltas["p_value"] < SIGNIFICANCE_LEVEL
    deltas["testable"] = (deltas["n_dense"] >= 2) & (deltas["n_variant"] >= 2)
    return deltas


def _cell_text(delta: float, testable: bool, significant: bool) -> str:
    """Annotation: value, ``*`` when significant, ``n/a`` below it when untestable (a single seed)."""
    if not np.isfinite(delta):
        return ""
    text = f"{delta:.1f}"
    if not testable:
        return text + "\nn/a"
    return text + ("*" if significant else "")


@styled
def plot_delta_heatmap(
    cells: pd.DataFrame,
    model: str,
    method: str,
    dataset: str,
    *,
    metric: str = "accuracy",
    shots: Sequence[str] | None = None,
) -> Plot:
    """Heatmap of dense − compressed ``metric`` (percentage points) per compression level and N-shot."""
    deltas = delta_grid(cells, model, method, dataset, metric=metric)
    info = variant_table(cells.loc[(cells["model"] == model) & (cells["dataset"] == dataset)])
    rows = info.loc[~info["is_dense"], ["variant", "compression_label"]]
    columns = (
        list(shots)
        if shots is not None
        else ordered_shots(cells.loc[(cells["model"] == model) & (cells["dataset"] == dataset), "shots"])
    )
    values = np.full((len(rows), len(columns)), np.nan)
    notes = np.full((len(rows), len(columns)), "", dtype=object)
    lookup = deltas.drop_duplicates(["variant", "shots"]).set_index(["variant", "shots"])
    for i, variant in enumerate(rows["variant"]):
        for j, shot in enumerate(columns):
            if (variant, shot) in lookup.index:
                row = lookup.loc[(variant, shot)]
                values[i, j] = row["delta"]
                notes[i, j] = _cell_text(row["delta"], bool(row["testable"]), bool(row["significant"]))
    title = f"{model_label(model)} · {method_label(method)} · {dataset_label(dataset)}"
    unit = "pp" if metric_scale(metric) == 100.0 else "units"
    figure, (axes,) = new_figure(
        1, panel_size=(0.75 * max(len(columns), 3) + 2.2, 0.5 * max(len(rows), 2) + 1.4)
    )
    frame = pd.DataFrame(values, index=rows["compression_label"].tolist(), columns=columns)
    if frame.size and np.isfinite(values).any():
        limit = float(np.nanmax(np.abs(values))) or 1.0
        with warnings.catch_warnings():  # seaborn 0.13 calls the soon-deprecated Colormap.set_bad
            warnings.simplefilter("ignore", PendingDeprecationWarning)
            sns.heatmap(
                frame,
                ax=axes,
                annot=notes,
                fmt="",
                cmap="RdBu_r",
                vmin=-limit,
                vmax=limit,
                center=0,
                linewidths=0.5,
                linecolor="white",
                annot_kws={"fontsize": 7},
                cbar_kws={"label": f"Δ {metric} (dense − compressed) [{unit}]"},
            )
    else:
        axes.text(
            0.5,
            0.5,
            "no dense/compressed pairs",
            ha="center",
            va="center",
            transform=axes.transAxes,
            color="0.4",
        )
    axes.grid(False)
    axes.set_title(title)
    axes.set_xlabel("N-shot (training samples per class)")
    axes.set_ylabel("compression level")
    caption = (
        f"{title}: Δ = dense minus compressed test {metric_label(metric)} in {unit} per compression level "
        "(rows, "
        "mildest first) and N-shot (columns); red means the dense model is better. Cells show the "
        "difference of "
        f"seed means over {seed_phrase([*deltas['n_dense'], *deltas['n_variant']])}; '*' marks p < "
        f"{SIGNIFICANCE_LEVEL} in Welch's two-sided t-test across seeds (needs ≥ 2 seeds per side), 'n/a' "
        "marks "
        "cells with a single seed on a side (not testable); blank cells have no run."
    )
    return Plot(figure, caption)
