"""Calibration and confidence versus compression (paper Figs 7–13) and reliability diagrams."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from vpbench.results.aggregate import cell_path, load_test_predictions
from vpbench.results.frames import (dense_variant_of, most_compressed_variant, ordered_shots, select, summarise, variant_table)
from vpbench.results.figures.labels import (
    compression_label,
    dataset_label,
    method_label,
    metric_label,
    metric_scale,
    model_label,
)
from vpbench.results.figures.style import Plot, method_colors, new_figure, ordered_methods, seed_phrase, styled

LINESTYLES = ("-", "--", ":", "-.")
N_BINS = 15


def _panel_shots(rows: pd.DataFrame, shots: str | None) -> str | None:
    """The N-shot shown in a panel: the requested one, or the largest available when ``shots`` is None."""
    if shots is not None:
        return shots
    available = ordered_shots(rows["shots"])
    return available[-1] if available else None


@styled
def plot_metric_vs_compression(
    cells: pd.DataFrame,
    model: str,
    *,
    metric: str = "ece",
    datasets: Sequence[str] | None = None,
    methods: Sequence[str] | None = None,
    shots: str | None = "full",
    ncols: int = 4,
) -> Plot:
    """``metric`` versus compression level (dense left, most compressed right), one panel per dataset.

    One line per (method, compression method), each starting at the shared dense point; error bars are the
    95% t-interval across seeds. ``shots=None`` uses each dataset's largest N-shot.
    """
    model_rows = cells.loc[cells["model"] == model]
    if methods is not None:
        model_rows = model_rows.loc[model_rows["method"].isin(list(methods))]
    datasets = list(datasets) if datasets is not None else sorted(model_rows["dataset"].unique())
    scale = metric_scale(metric)
    figure, panels = new_figure(len(datasets), ncols=ncols, panel_size=(3.6, 2.9))
    seeds: list[int] = []
    shown_shots: set[str] = set()
    for axes, dataset in zip(panels, datasets, strict=False):
        rows = model_rows.loc[model_rows["dataset"] == dataset]
        panel_shots = _panel_shots(rows, shots)
        rows = rows.loc[rows["shots"] == panel_shots]
        axes.set_title(_panel_title(dataset, rows, metric))
        if rows.empty:
            axes.text(
                0.5, 0.5, "no finished cells", ha="center", va="center", transform=axes.transAxes, color="0.4"
            )
            continue
        shown_shots.add(str(panel_shots))
        info = variant_table(rows).set_index("variant")
        positions = {variant: i for i, variant in enumerate(info.index)}
        families = list(dict.fromkeys(info.loc[~info["is_dense"], "compression"]))
        summary = summarise(rows, ["method", "variant"], metric)
        seeds += summary["n_seeds"].tolist()
        for method in ordered_methods(summary["method"].tolist()):
            color = method_colors(method, 1, methods_seen=summary["method"].tolist())[0]
            method_rows = summary.loc[summary["method"] == method].set_index("variant")
            for k, family in enumerate(families or ["none"]):
                members = [
                    v for v in info.index if info.at[v, "is_dense"] or info.at[v, "compression"] == family
                ]
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
    handles: dict[str, object] = {}
    for axes in panels:
        for handle, label in zip(*axes.get_legend_handles_labels(), strict=True):
            handles.setdefault(label, handle)
    if handles:
        figure.legend(list(handles.values()), list(handles.keys()), loc="outside right upper", frameon=False)
    figure.suptitle(f"{model_label(model)}: {metric_label(metric)} versus compression")
    shots_text = ", ".join(sorted(shown_shots, key=str)) or "none"
    caption = (
        f"{model_label(model)}: test {metric_label(metric)} after visual prompting versus compression level "
        f"(dense left, most compressed right), one panel per dataset, N-shot = {shots_text}. Points are "
        "means "
        f"over {seed_phrase(seeds)}; error bars are the 95% t-interval of the mean across seeds (none for a "
        "single seed). Each compression method's line starts at the shared dense point."
    )
    if metric == "kl_uniform_wrong":
        caption += (
            " KL(p‖U) = log C − H(p) ranges over [0, log C], so panels differ by their C (in the title)."
        )
    return Plot(figure, caption)


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


def expected_calibration_error(bins: pd.DataFrame) -> float:
    """ECE from a cell's reliability bins (count-weighted |accuracy − confidence|), as a fraction."""
    total = bins["count"].sum()
    if total == 0:
        return float("nan")
    gaps = (bins["accuracy"] - bins["mean_confidence"]).abs().fillna(0.0)
    return float((bins["count"] * gaps).sum() / total)


@styled
def plot_reliability(bins_by_label: Mapping[str, pd.DataFrame], *, title: str = "") -> Plot:
    """Reliability diagrams (one panel per labelled cell's bins), e.g. dense vs most compressed."""
    figure, panels = new_figure(max(len(bins_by_label), 1), panel_size=(3.2, 3.2))
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
        panels[0].text(0.5, 0.5, "no cell with test predictions", ha="center", va="center",
                       transform=panels[0].transAxes, color="0.4")  # fmt: skip
    handles, names = panels[0].get_legend_handles_labels()
    if handles:
        figure.legend(handles, names, loc="outside lower center", ncol=len(handles), frameon=False)
    if title:
        figure.suptitle(title)
    caption = (
        f"{title + ': ' if title else ''}reliability diagrams of single test runs "
        f"({', '.join(bins_by_label)}): test samples binned by confidence into {n_bins} equal-width bins; bars "
        "show accuracy per bin, hatched bars the gap to the bin's mean confidence, the dotted line perfect "
        "calibration. ECE is the count-weighted mean gap (one seed, no averaging)."
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
) -> dict[str, pd.DataFrame]:
    """Reliability bins of the dense and the most compressed variant (same cell otherwise), keyed by label.

    ``seed`` defaults to the smallest seed both variants have; variants without bins are left out.
    """
    rows = select(cells, model=model, dataset=dataset, method=method, shots=shots)
    chosen = [v for v in (dense_variant_of(cells, model), most_compressed_variant(cells, model)) if v]
    seeds = [set(rows.loc[rows["variant"] == v, "seed"]) for v in chosen]
    common = sorted(set.intersection(*seeds)) if seeds else []
    if seed is None and not common:
        return {}
    seed = common[0] if seed is None else seed
    info = variant_table(rows).set_index("variant")
    bins = select(reliability, model=model, dataset=dataset, method=method, shots=shots)
    result: dict[str, pd.DataFrame] = {}
    for variant in chosen:
        match = bins.loc[(bins["variant"] == variant) & (bins["seed"] == seed)].sort_values("bin")
        if not match.empty:
            result[f"{info.at[variant, 'compression_label']} (seed {seed})"] = match
    return result
