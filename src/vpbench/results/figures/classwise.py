"""Class-wise top gains and drops, dense versus compressed (paper Fig 19)."""

from __future__ import annotations

import pandas as pd

from vpbench.results.figures.kinds import FigureKind, FigureSpec, Tables, register_figure_kind
from vpbench.results.figures.labels import dataset_label, method_label, model_label
from vpbench.results.figures.pairing import dense_and_compressed, plan_per_class, unfinished
from vpbench.results.figures.style import Plot, mark_empty, new_figure, seed_phrase, styled
from vpbench.results.frames import select

DROP_COLOR = "#C44E52"
GAIN_COLOR = "#4C72B0"


def classwise_deltas(
    classes: pd.DataFrame,
    *,
    model: str,
    dataset: str,
    method: str,
    shots: str,
    dense_variant: str,
    compressed_variant: str,
) -> pd.DataFrame:
    """Per target class: mean accuracy over seeds of both variants and Δ = dense − compressed (pp)."""
    rows = select(classes, model=model, dataset=dataset, method=method, shots=shots)
    columns = ["class_index", "class_name", "dense", "compressed", "delta_pp", "n_dense", "n_compressed"]
    per_variant = []
    for variant, name in ((dense_variant, "dense"), (compressed_variant, "compressed")):
        part = rows.loc[rows["variant"] == variant].dropna(subset=["accuracy"])
        grouped = part.groupby(["class_index", "class_name"])["accuracy"].agg(["mean", "count"])
        per_variant.append(grouped.rename(columns={"mean": name, "count": f"n_{name}"}))
    merged = per_variant[0].join(per_variant[1], how="inner").reset_index()
    if merged.empty:
        return pd.DataFrame(columns=columns).astype(
            {
                "class_index": "int64",
                "dense": float,
                "compressed": float,
                "delta_pp": float,
                "n_dense": "int64",
                "n_compressed": "int64",
            }
        )
    merged["dense"] *= 100
    merged["compressed"] *= 100
    merged["delta_pp"] = merged["dense"] - merged["compressed"]
    return merged[columns]


@styled
def plot_classwise_delta(
    classes: pd.DataFrame,
    *,
    model: str,
    dataset: str,
    method: str,
    shots: str,
    dense_variant: str,
    compressed_variant: str,
    k: int = 5,
    compressed_label: str | None = None,
    cells: pd.DataFrame | None = None,
) -> Plot:
    """Two bar panels: the ``k`` classes the dense model wins most (drops) and loses most (gains)."""
    deltas = classwise_deltas(
        classes,
        model=model,
        dataset=dataset,
        method=method,
        shots=shots,
        dense_variant=dense_variant,
        compressed_variant=compressed_variant,
    )
    compressed_label = compressed_label or compressed_variant
    if deltas.empty:
        figure, (axes,) = new_figure(1, panel_size=(5.0, 2.0))
        mark_empty(axes, f"no class accuracies of both dense and {compressed_label} at N = {shots}")
        return Plot(
            figure, f"{model} · {method} · {dataset} · N = {shots}: no per-class accuracies to compare."
        )
    drops = deltas.loc[deltas["delta_pp"] > 0].nlargest(k, "delta_pp")
    gains = deltas.loc[deltas["delta_pp"] < 0].nsmallest(k, "delta_pp")
    figure, panels = new_figure(2, panel_size=(3.9, 0.3 * max(k, 2) + 1.3))
    titles = (f"top-{k} drops (dense better)", f"top-{k} gains ({compressed_label} better)")
    for axes, part, color, panel_title in zip(
        panels, (drops, gains), (DROP_COLOR, GAIN_COLOR), titles, strict=True
    ):
        axes.set_title(panel_title)
        axes.set_xlabel("Δ accuracy, dense − compressed [pp]")
        if part.empty:
            axes.text(0.5, 0.5, "none", ha="center", va="center", transform=axes.transAxes, color="0.4")
            axes.axvline(0, color="0.3", linewidth=0.8)  # an empty side is a finding, not a gap
            axes.set_yticks([])
            continue
        part = part.iloc[::-1]
        axes.barh(part["class_name"].astype(str), part["delta_pp"], color=color)
        axes.axvline(0, color="0.3", linewidth=0.8)
        axes.grid(axis="y", visible=False)
    title = f"{model_label(model, cells)} · {method_label(method)} · {dataset_label(dataset)} · N = {shots}"
    figure.suptitle(f"{title}: dense vs {compressed_label}")
    caption = (
        f"{title}: per-class test accuracy difference Δ = dense − {compressed_label} in percentage points, "
        f"per-class accuracies averaged over {seed_phrase([*deltas['n_dense'], *deltas['n_compressed']])} "
        f"before differencing. Left: the {k} classes with the largest drop under compression; right: the {k} "
        f"with the largest gain ({len(deltas)} classes compared)."
    )
    return Plot(figure, caption)


def _render(spec: FigureSpec, tables: Tables) -> Plot:
    pair = dense_and_compressed(tables.cells, spec)
    if pair["dense_variant"] is None or pair["compressed_variant"] is None:
        return unfinished(spec, "dense and compressed cells")
    return plot_classwise_delta(
        tables.classes, model=spec.model, dataset=spec.dataset, method=spec.method, shots=spec.shots,
        cells=tables.cells, **pair,
    )  # fmt: skip


register_figure_kind(
    FigureKind(
        name="classwise",
        label="class-wise gains and drops",
        category="compression_cost",
        caption="fig_classwise.rst",
        plan=lambda context: plan_per_class("classwise", "classwise", context),
        render=_render,
        rank=21,
    )
)
