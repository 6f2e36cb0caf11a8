"""Calibration and confidence versus compression (paper Figs 7–13), and paper-compatible quantities beside
the corrected ones (reliability diagrams: :mod:`.reliability`).

Every panel of one dataset uses that dataset's own calibration budget: full data where the study has it,
else its largest N-shot (the planner records the budget per panel).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from vpbench.results.figures.kinds import FigureKind, FigureSpec, Tables, register_figure_kind
from vpbench.results.figures.labels import (
    compression_label,
    dataset_label,
    method_label,
    metric_label,
    metric_scale,
    model_label,
)
from vpbench.results.figures.style import (
    Plot,
    mark_empty,
    method_colors,
    new_figure,
    ordered_methods,
    seed_phrase,
    styled,
)
from vpbench.results.frames import ordered_shots, summarise, variant_table
from vpbench.results.plan import PlanContext, has_compressed, largest_shots

LINESTYLES = ("-", "--", ":", "-.")
# Metrics with one figure each (metric_vs_compression); classwise ECE is the engine's column, or aggregate's
# from the float16 test probabilities when the engine did not write it.
CALIBRATION_METRICS = ("ece", "adaptive_ece", "classwise_ece", "mean_conf_correct", "kl_uniform_wrong")
# Paper-compatible quantities beside the corrected ones (one figure per pair, rows = the pair).
PAPER_COMPAT_PAIRS: dict[str, tuple[str, str]] = {
    "ece": ("ece", "ece_paper_compat"),
    "kl": ("kl_uniform_wrong", "kl_uniform_wrong_paper_compat"),
}


def _panel_shots(rows: pd.DataFrame, shots: str | None) -> str | None:
    """The N-shot shown in a panel: the requested one, or the largest available when ``shots`` is None."""
    if shots is not None:
        return shots
    available = ordered_shots(rows["shots"])
    return available[-1] if available else None


def _panels(
    model_rows: pd.DataFrame,
    datasets: Sequence[str] | None,
    shots: str | None,
    panels: Sequence[tuple[str, str]] | None,
) -> list[tuple[str, str | None]]:
    """(dataset, N-shot) per panel: as planned, else ``datasets`` at ``shots`` (None: each one's largest)."""
    if panels:
        return [(d, s) for d, s in panels]
    names = list(datasets) if datasets is not None else sorted(model_rows["dataset"].unique())
    return [(d, _panel_shots(model_rows.loc[model_rows["dataset"] == d], shots)) for d in names]


def _draw_metric(axes, rows: pd.DataFrame, metric: str, scale: float) -> list[int]:
    """One line per (method, compression technique) of ``metric`` over compression level; seed counts."""
    info = variant_table(rows).set_index("variant")
    positions = {variant: i for i, variant in enumerate(info.index)}
    families = list(dict.fromkeys(info.loc[~info["is_dense"], "compression"]))
    summary = summarise(rows, ["method", "variant"], metric)
    for method in ordered_methods(summary["method"].tolist()):
        color = method_colors(method, 1, methods_seen=summary["method"].tolist())[0]
        method_rows = summary.loc[summary["method"] == method].set_index("variant")
        for k, family in enumerate(families or ["none"]):
            members = [v for v in info.index if info.at[v, "is_dense"] or info.at[v, "compression"] == family]
            members = [v for v in members if v in method_rows.index]
            if not members:
                continue
            label = method_label(method)
            if len(families) > 1:
                label += f" · {compression_label(family)}"
            axes.errorbar(
                [positions[v] for v in members],
                method_rows.loc[members, "mean"].to_numpy(dtype=float) * scale,
                yerr=np.nan_to_num(method_rows.loc[members, "ci95"].to_numpy(dtype=float) * scale),
                color=color,
                linestyle=LINESTYLES[k % len(LINESTYLES)],
                marker="o",
                capsize=2,
                label=label,
            )
    axes.set_xticks(range(len(info)))
    axes.set_xticklabels(info["compression_label"].tolist(), rotation=35, ha="right")
    axes.set_xlabel("compression (dense → most compressed)")
    axes.set_ylabel(metric_label(metric))
    return summary["n_seeds"].tolist()


def _shared_legend(figure, panels) -> None:
    handles: dict[str, object] = {}
    for axes in panels:
        for handle, label in zip(*axes.get_legend_handles_labels(), strict=True):
            handles.setdefault(label, handle)
    if handles:
        figure.legend(list(handles.values()), list(handles.keys()), loc="outside right upper", frameon=False)


@styled
def plot_metric_rows(
    cells: pd.DataFrame,
    model: str,
    metrics: Sequence[str],
    *,
    panels: Sequence[tuple[str, str]] | None = None,
    datasets: Sequence[str] | None = None,
    methods: Sequence[str] | None = None,
    shots: str | None = None,
    row_notes: Sequence[str] = (),
) -> Plot:
    """One row per metric, one column per (dataset, N-shot) panel; ``metric`` versus compression level.

    Each line is one (method, compression technique), starting at the shared dense point; error bars are
    the 95% t-interval across seeds. A metric the cells table lacks, or a panel without cells, is marked.
    """
    model_rows = cells.loc[cells["model"] == model]
    if methods is not None:
        model_rows = model_rows.loc[model_rows["method"].isin(list(methods))]
    chosen = _panels(model_rows, datasets, shots, panels)
    ncols = max(len(chosen), 1)
    figure, axes_list = new_figure(len(metrics) * ncols, ncols=ncols, panel_size=(3.6, 2.9))
    seeds: list[int] = []
    shown_shots: list[str] = []
    for row_index, metric in enumerate(metrics):
        scale = metric_scale(metric)
        for col_index, (dataset, panel_shots) in enumerate(chosen):
            axes = axes_list[row_index * ncols + col_index]
            rows = model_rows.loc[(model_rows["dataset"] == dataset) & (model_rows["shots"] == panel_shots)]
            title = _panel_title(dataset, rows, metric) + (f" · N = {panel_shots}" if panel_shots else "")
            axes.set_title(title)
            if metric not in rows.columns:
                mark_empty(axes, f"the cells table has no {metric!r} column")
                continue
            rows = rows.dropna(subset=[metric])
            if rows.empty:
                mark_empty(axes, "no finished cells")
                continue
            if row_index == 0:
                shown_shots.append(f"{dataset_label(dataset)}: {panel_shots}")
            seeds += _draw_metric(axes, rows, metric, scale)
    _shared_legend(figure, axes_list)
    label = model_label(model, cells)
    what = " and ".join(metric_label(m) for m in metrics)
    figure.suptitle(f"{label}: {what} versus compression")
    caption = (
        f"{label}: test {what} after visual prompting versus compression level (dense left, most "
        f"compressed right), one panel per dataset at its calibration budget (N-shot = "
        f"{'; '.join(shown_shots) or 'none'}: full data where the study has it, else the largest N). Points "
        f"are means over {seed_phrase(seeds)}; error bars are the 95% t-interval of the mean across seeds "
        "(none for a single seed). Each compression technique's line starts at the shared dense point."
    )
    if any(m.startswith("kl_uniform") for m in metrics):
        caption += (
            " KL(p‖U) = log C − H(p) ranges over [0, log C], so panels differ by their C (in the title)."
        )
    caption += "".join(f" {note}" for note in row_notes)
    return Plot(figure, caption)


def plot_metric_vs_compression(
    cells: pd.DataFrame,
    model: str,
    *,
    metric: str = "ece",
    datasets: Sequence[str] | None = None,
    methods: Sequence[str] | None = None,
    shots: str | None = "full",
    panels: Sequence[tuple[str, str]] | None = None,
) -> Plot:
    """``metric`` versus compression level (dense left, most compressed right), one panel per dataset.

    ``panels`` gives each dataset's N-shot (the plan); otherwise ``datasets`` at ``shots`` (None: each
    dataset's largest N-shot).
    """
    return plot_metric_rows(
        cells, model, [metric], panels=panels, datasets=datasets, methods=methods, shots=shots
    )


def _panel_title(dataset: str, rows: pd.DataFrame, metric: str) -> str:
    """Dataset name, with C when the metric's range depends on the class count."""
    title = dataset_label(dataset)
    if (
        metric.startswith("kl_uniform")
        and "num_classes" in rows.columns
        and rows["num_classes"].notna().any()
    ):
        title += f" (C = {int(rows['num_classes'].iloc[0])})"
    return title


# ------------------------------------------------------------------------------------------ figure kinds


def _budget_panels(context: PlanContext, model: str) -> tuple[tuple[str, str], ...]:
    """(dataset, calibration budget) of every dataset of ``model``: full data, else its largest N."""
    rows = context.rows(model=model)
    return tuple((d, largest_shots(rows.loc[rows["dataset"] == d])) for d in sorted(set(rows["dataset"])))


def _compressed_models(context: PlanContext) -> list[str]:
    return sorted(m for m in set(context.cells["model"]) if has_compressed(context.rows(model=m)))


def _plan_metric(context: PlanContext) -> list[FigureSpec]:
    return [
        FigureSpec(
            "metric_vs_compression", f"{m}_{metric}", m, metric=metric, panels=_budget_panels(context, m)
        )
        for m in _compressed_models(context)
        for metric in CALIBRATION_METRICS
    ]


def _render_metric(spec: FigureSpec, tables: Tables) -> Plot:
    return plot_metric_vs_compression(tables.cells, spec.model, metric=spec.metric, panels=spec.panels)


def _plan_paper_compat(context: PlanContext) -> list[FigureSpec]:
    return [
        FigureSpec(
            "paper_compat", f"{m}_paper_compat_{pair}", m, metric=pair, panels=_budget_panels(context, m)
        )
        for m in _compressed_models(context)
        for pair in PAPER_COMPAT_PAIRS
    ]


PAPER_COMPAT_NOTES = {
    "ece": (
        "Bottom row: the 'ECE' the authors' code logged (uncertainty-calibration's get_ece on the raw mapped "
        "logits, summed per test batch of the authors' loader and divided by N; docs/metrics.md) — not a "
        "calibration error, shown so the numbers can be held next to the paper's Figs 7–9."
    ),
    "kl": (
        "Bottom row: the statistic the authors' code logged as KL to uniform, F.kl_div(log p, U) with mean "
        "reduction = KL(U‖p)/C, averaged over wrong predictions — beside the corrected KL(p‖U) on top "
        "(paper Figs 12–13)."
    ),
}


def _render_paper_compat(spec: FigureSpec, tables: Tables) -> Plot:
    return plot_metric_rows(
        tables.cells,
        spec.model,
        PAPER_COMPAT_PAIRS[spec.metric],
        panels=spec.panels,
        row_notes=[PAPER_COMPAT_NOTES[spec.metric]],
    )


register_figure_kind(
    FigureKind(
        name="metric_vs_compression",
        label="calibration vs compression",
        category="calibration",
        caption="fig_metric_vs_compression.rst",
        plan=_plan_metric,
        render=_render_metric,
        rank=30,
    )
)
register_figure_kind(
    FigureKind(
        name="paper_compat",
        label="paper-compatible vs corrected",
        category="calibration",
        caption="fig_paper_compat.rst",
        plan=_plan_paper_compat,
        render=_render_paper_compat,
        rank=31,
    )
)
