"""Accuracy versus N-shot, one line per (method × compression level) (paper Figs 2–6, 18, 21–25)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from matplotlib.axes import Axes

from vpbench.results.figures.kinds import FigureKind, FigureSpec, Tables, register_figure_kind
from vpbench.results.figures.labels import (
    dataset_label,
    method_label,
    metric_label,
    metric_scale,
    model_label,
)
from vpbench.results.figures.style import (
    Plot,
    legend_outside,
    mark_empty,
    marker,
    method_colors,
    new_figure,
    ordered_methods,
    seed_phrase,
    styled,
)
from vpbench.results.frames import ordered_shots, shots_sort_key, summarise, variant_table
from vpbench.results.plan import PlanContext

BANDS = {
    "ci95": "the shaded band is the 95% t-interval of the mean across seeds (absent for single-seed points)",
    "std": "the shaded band is ± one sample standard deviation across seeds (absent for single-seed points)",
}


def shot_positions(shots: Sequence[str]) -> dict[str, float]:
    """x position of each N-shot label on a log axis; ``full`` sits one step (×2.5) right of the largest N."""
    numeric = [shots_sort_key(s) for s in shots if np.isfinite(shots_sort_key(s))]
    full_x = max(numeric) * 2.5 if numeric else 1.0
    return {s: (shots_sort_key(s) if np.isfinite(shots_sort_key(s)) else full_x) for s in shots}


def _full_tick_label(frame: pd.DataFrame) -> str:
    """``full`` plus the median effective samples per class when ``shots_num`` is known."""
    full = frame.loc[frame["shots"] == "full"]
    if "shots_num" in full.columns and full["shots_num"].notna().any():
        return f"full\n(≈{full['shots_num'].median():.0f}/class)"
    return "full"


def draw_shot_curves(
    axes: Axes,
    cells: pd.DataFrame,
    *,
    metric: str = "accuracy",
    band: str = "ci95",
    shots: Sequence[str] | None = None,
) -> list[int]:
    """Draw mean ``metric`` vs N-shot per (method, variant) of one (model, dataset) on ``axes``.

    Returns the seed counts of the plotted points (for the caption).
    """
    if band not in BANDS:
        raise ValueError(f"band must be one of {sorted(BANDS)}, not {band!r}")
    shot_labels = list(shots) if shots is not None else ordered_shots(cells["shots"])
    positions = shot_positions(shot_labels)
    info = variant_table(cells).set_index("variant")
    summary = summarise(cells, ["method", "variant", "shots"], metric)
    scale = metric_scale(metric)
    n_levels = max(len(info), 1)
    for method in ordered_methods(summary["method"].tolist()):
        colors = method_colors(method, n_levels, methods_seen=summary["method"].tolist())
        method_rows = summary.loc[summary["method"] == method]
        for variant in info.index:
            rows = method_rows.loc[method_rows["variant"] == variant]
            rows = rows.loc[rows["shots"].isin(positions)]
            if rows.empty:
                continue
            rows = rows.assign(x=rows["shots"].map(positions)).sort_values("x")
            order = int(info.at[variant, "order"])
            spread = rows["ci95"] if band == "ci95" else rows["std"]
            mean = rows["mean"].to_numpy(dtype=float) * scale
            half = spread.to_numpy(dtype=float) * scale
            color = colors[order]
            dense = bool(info.at[variant, "is_dense"])
            axes.plot(
                rows["x"],
                mean,
                color=color,
                marker=marker(order),
                linestyle="-" if dense else "--",
                label=f"{method_label(method)} · {info.at[variant, 'compression_label']}",
            )
            if np.isfinite(half).any():
                axes.fill_between(
                    rows["x"].to_numpy(dtype=float),
                    mean - half,
                    mean + half,
                    color=color,
                    alpha=0.12,
                    linewidth=0,
                )
    axes.set_xscale("log")
    axes.set_xticks([positions[s] for s in shot_labels])
    axes.set_xticklabels([_full_tick_label(cells) if s == "full" else s for s in shot_labels])
    axes.minorticks_off()
    axes.set_xlabel("N-shot (training samples per class, log scale)")
    axes.set_ylabel(metric_label(metric))
    return summary["n_seeds"].tolist()


def _no_data(axes: Axes, message: str) -> None:
    """Mark an empty panel instead of failing on a gap in the study."""
    mark_empty(axes, message)


@styled
def plot_accuracy_vs_shots(
    cells: pd.DataFrame,
    model: str,
    dataset: str,
    *,
    methods: Sequence[str] | None = None,
    variants: Sequence[str] | None = None,
    metric: str = "accuracy",
    band: str = "ci95",
) -> Plot:
    """Mean ``metric`` over seeds vs N-shot for one (model, dataset), one line per method × compression."""
    subset = _select(cells, model, [dataset], methods, variants)
    figure, (axes,) = new_figure(1, panel_size=(5.2, 3.4))
    title = f"{model_label(model, cells)} on {dataset_label(dataset)}"
    axes.set_title(title)
    if subset.empty:
        _no_data(axes, "no finished cells")
        return Plot(figure, f"{title}: no finished cells for this model and dataset.")
    n_seeds = draw_shot_curves(axes, subset, metric=metric, band=band)
    legend_outside(axes, title="method · compression")
    return Plot(figure, _caption(metric, title, n_seeds, band))


@styled
def plot_accuracy_vs_shots_grid(
    cells: pd.DataFrame,
    model: str,
    *,
    datasets: Sequence[str] | None = None,
    methods: Sequence[str] | None = None,
    variants: Sequence[str] | None = None,
    metric: str = "accuracy",
    band: str = "ci95",
    ncols: int = 4,
) -> Plot:
    """The same curves for every dataset of ``model``, one panel per dataset and one shared legend."""
    datasets = (
        list(datasets)
        if datasets is not None
        else sorted(cells.loc[cells["model"] == model, "dataset"].unique())
    )
    subset = _select(cells, model, datasets, methods, variants)
    figure, panels = new_figure(len(datasets), ncols=ncols, panel_size=(3.6, 2.9))
    seeds: list[int] = []
    for axes, dataset in zip(panels, datasets, strict=False):
        axes.set_title(dataset_label(dataset))
        rows = subset.loc[subset["dataset"] == dataset]
        if rows.empty:
            _no_data(axes, "no finished cells")
            continue
        seeds += draw_shot_curves(axes, rows, metric=metric, band=band)
        axes.set_xlabel("N-shot (per class, log scale)")
    handles: dict[str, object] = {}
    for axes in panels:
        for handle, label in zip(*axes.get_legend_handles_labels(), strict=True):
            handles.setdefault(label, handle)
    if handles:
        figure.legend(
            list(handles.values()),
            list(handles.keys()),
            loc="outside right upper",
            frameon=False,
            title="method · compression",
        )
    title = model_label(model, cells)
    figure.suptitle(f"{title}: {metric_label(metric)} versus N-shot")
    return Plot(figure, _caption(metric, f"{title} on {len(datasets)} datasets", seeds, band))


def _select(
    cells: pd.DataFrame,
    model: str,
    datasets: Sequence[str],
    methods: Sequence[str] | None,
    variants: Sequence[str] | None,
) -> pd.DataFrame:
    """Rows of ``model`` on ``datasets`` restricted to the requested methods and variants."""
    mask = (cells["model"] == model) & cells["dataset"].isin(list(datasets))
    if methods is not None:
        mask &= cells["method"].isin(list(methods))
    if variants is not None:
        mask &= cells["variant"].isin(list(variants))
    return cells.loc[mask]


def _caption(metric: str, what: str, n_seeds: Sequence[int], band: str) -> str:
    """Caption naming the plotted metric, the subject, the seed count and the meaning of the band."""
    return (
        f"{what}: test {metric_label(metric)} after visual prompting versus N-shot (training samples per "
        "class, log scale; 'full' is the whole training split), one line per VP method (colour family) and "
        "compression level (shade and marker; dense solid, compressed dashed). Points are means over "
        f"{seed_phrase(n_seeds)}; {BANDS[band]}."
    )


# ------------------------------------------------------------------------------------------ figure kinds


def _plan_grid(context: PlanContext) -> list[FigureSpec]:
    return [FigureSpec("nshot_grid", f"{m}_nshot_grid", m) for m in sorted(set(context.cells["model"]))]


def _render_grid(spec: FigureSpec, tables: Tables) -> Plot:
    cells = tables.cells
    datasets = set(cells.loc[cells["model"] == spec.model, "dataset"])
    if not tables.missing.empty:  # a dataset whose cells all failed still gets its (marked) panel
        datasets |= set(tables.missing.loc[tables.missing["model"] == spec.model, "dataset"].astype(str))
    return plot_accuracy_vs_shots_grid(cells, spec.model, datasets=sorted(datasets))


def _plan_nshot(context: PlanContext) -> list[FigureSpec]:
    pairs = sorted({(m, d) for m, d, _ in context.triples()})
    return [FigureSpec("nshot", f"{m}_{d}_nshot", m, d) for m, d in pairs]


register_figure_kind(
    FigureKind(
        name="nshot_grid",
        label="accuracy vs N-shot, all datasets",
        category="accuracy",
        caption="fig_nshot_grid.rst",
        plan=_plan_grid,
        render=_render_grid,
        rank=10,
    )
)
register_figure_kind(
    FigureKind(
        name="nshot",
        label="accuracy vs N-shot",
        category="accuracy",
        caption="fig_nshot.rst",
        plan=_plan_nshot,
        render=lambda spec, tables: plot_accuracy_vs_shots(tables.cells, spec.model, spec.dataset),
        rank=11,
    )
)
