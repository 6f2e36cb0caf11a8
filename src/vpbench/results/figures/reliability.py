"""Reliability diagrams: one figure per (model, method, dataset) at its calibration budget, drawn from the
aggregated reliability bins (every variant a panel, seeds pooled)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from vpbench.results.figures.kinds import FigureKind, FigureSpec, Tables, register_figure_kind
from vpbench.results.figures.labels import dataset_label, method_label, model_label
from vpbench.results.figures.style import Plot, mark_empty, new_figure, styled
from vpbench.results.frames import select, variant_table
from vpbench.results.plan import PlanContext, largest_shots

N_BINS = 15


def expected_calibration_error(bins: pd.DataFrame) -> float:
    """ECE from a cell's reliability bins (count-weighted |accuracy − confidence|), as a fraction."""
    total = bins["count"].sum()
    if total == 0:
        return float("nan")
    gaps = (bins["accuracy"] - bins["mean_confidence"]).abs().fillna(0.0)
    return float((bins["count"] * gaps).sum() / total)


def pool_bins(bins: pd.DataFrame) -> pd.DataFrame:
    """Reliability bins of several cells (e.g. seeds) pooled: counts add, accuracy and confidence are
    count-weighted means, so the pooled ECE is the ECE of all their test predictions together."""
    if bins.empty:
        return bins
    weighted = bins.assign(
        _acc=bins["accuracy"].fillna(0.0) * bins["count"],
        _conf=bins["mean_confidence"].fillna(0.0) * bins["count"],
    )
    pooled = weighted.groupby("bin", sort=True).agg(
        bin_lower=("bin_lower", "first"),
        bin_upper=("bin_upper", "first"),
        count=("count", "sum"),
        _acc=("_acc", "sum"),
        _conf=("_conf", "sum"),
    )
    counts = pooled["count"].replace(0, np.nan)
    pooled["accuracy"] = pooled["_acc"] / counts
    pooled["mean_confidence"] = pooled["_conf"] / counts
    pooled["gap"] = pooled["mean_confidence"] - pooled["accuracy"]
    return pooled.drop(columns=["_acc", "_conf"]).reset_index()


@styled
def plot_reliability(bins_by_label: Mapping[str, pd.DataFrame], *, title: str = "", pooled: str = "") -> Plot:
    """Reliability diagrams, one panel per labelled set of bins (e.g. each variant, pooled over seeds)."""
    figure, panels = new_figure(max(len(bins_by_label), 1), ncols=4, panel_size=(3.2, 3.2))
    n_bins = N_BINS
    for axes, (label, bins) in zip(panels, bins_by_label.items(), strict=False):
        n_bins = len(bins)
        filled = bins.loc[bins["count"] > 0]
        axes.bar(
            filled["bin_lower"], filled["accuracy"] * 100, width=1 / n_bins, align="edge", color="#4C72B0",
            edgecolor="white", label="accuracy",
        )  # fmt: skip
        axes.bar(
            filled["bin_lower"], (filled["mean_confidence"] - filled["accuracy"]) * 100,
            bottom=filled["accuracy"] * 100, width=1 / n_bins, align="edge", color="#C44E52", alpha=0.35,
            hatch="//", edgecolor="#C44E52", label="gap to confidence",
        )  # fmt: skip
        axes.plot([0, 1], [0, 100], color="0.3", linestyle=":", linewidth=1, label="perfect calibration")
        count = int(bins["count"].sum())
        accuracy = float((bins["accuracy"].fillna(0) * bins["count"]).sum() / count) if count else np.nan
        axes.text(
            0.04, 0.96,
            f"ECE = {expected_calibration_error(bins) * 100:.1f}%\nacc = {accuracy * 100:.1f}%\nN = {count}",
            transform=axes.transAxes, va="top", fontsize=8,
        )  # fmt: skip
        axes.set_xlim(0, 1)
        axes.set_ylim(0, 100)
        axes.set_title(label)
        axes.set_xlabel("confidence (max softmax probability)")
        axes.set_ylabel("accuracy in bin [%]")
    if not bins_by_label:
        mark_empty(panels[0], "no cell with test predictions")
    handles, names = panels[0].get_legend_handles_labels()
    if handles:
        figure.legend(handles, names, loc="outside lower center", ncol=len(handles), frameon=False)
    if title:
        figure.suptitle(title)
    caption = (
        f"{title + ': ' if title else ''}reliability diagrams ({', '.join(bins_by_label)}): test samples "
        f"binned by confidence into {n_bins} equal-width bins; bars show accuracy per bin, hatched bars the "
        "gap to the bin's mean confidence, the dotted line perfect calibration. ECE is the count-weighted "
        f"mean gap{pooled or ' (one seed, no averaging)'}."
    )
    return Plot(figure, caption)


def reliability_inputs(
    cells: pd.DataFrame,
    reliability: pd.DataFrame,
    model: str,
    dataset: str,
    method: str,
    *,
    shots: str = "full",
    seed: int | None = None,
    variants: Sequence[str] | None = None,
) -> dict[str, pd.DataFrame]:
    """Reliability bins per variant (dense first, then by compression), keyed by its label.

    ``seed=None`` pools every seed of each variant (its label then says how many); a seed keeps that one.
    ``variants`` restricts the panels; variants without bins are left out.
    """
    rows = select(cells, model=model, dataset=dataset, method=method, shots=shots)
    if rows.empty or reliability.empty:
        return {}
    info = variant_table(cells.loc[cells["model"] == model]).set_index("variant")
    chosen = [v for v in info.index if v in set(rows["variant"]) and (variants is None or v in variants)]
    bins = select(reliability, model=model, dataset=dataset, method=method, shots=shots)
    result: dict[str, pd.DataFrame] = {}
    for variant in chosen:
        match = bins.loc[bins["variant"] == variant]
        if seed is not None:
            match = match.loc[match["seed"] == seed]
        if match.empty:
            continue
        seeds = sorted(set(match["seed"]))
        label = str(info.at[variant, "compression_label"])
        if len(seeds) == 1:
            result[f"{label} (seed {seeds[0]})"] = match.sort_values("bin").reset_index(drop=True)
        else:
            result[f"{label} ({len(seeds)} seeds pooled)"] = pool_bins(match)
    return result


# ------------------------------------------------------------------------------------------ figure kind


def _plan_reliability(context: PlanContext) -> list[FigureSpec]:
    specs = []
    for model, dataset, method in context.triples():
        shots = largest_shots(context.rows(model=model, dataset=dataset, method=method))
        name = f"{model}_{dataset}_{method}_reliability"
        specs.append(FigureSpec("reliability", name, model, dataset, method, shots=shots))
    return specs


def _render_reliability(spec: FigureSpec, tables: Tables) -> Plot:
    inputs = reliability_inputs(
        tables.cells, tables.reliability, spec.model, spec.dataset, spec.method, shots=spec.shots
    )
    title = (
        f"{model_label(spec.model, tables.cells)} · {method_label(spec.method)} · "
        f"{dataset_label(spec.dataset)} · N = {spec.shots}"
    )
    pooled = any("pooled" in label for label in inputs)
    note = "; bins of several seeds are pooled (their test predictions together)" if pooled else ""
    return plot_reliability(inputs, title=title, pooled=note)


register_figure_kind(
    FigureKind(
        name="reliability",
        label="reliability diagrams",
        category="calibration",
        caption="fig_reliability.rst",
        plan=_plan_reliability,
        render=_render_reliability,
        rank=32,
    )
)
