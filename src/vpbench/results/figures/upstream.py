"""Upstream accuracy of every variant (paper Fig 14): ImageNet-1k top-1 of each compressed variant against
its dense parent, published (model cards, from the registry) and measured (when the study measures it)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from vpbench.results.figures.kinds import FigureKind, FigureSpec, register_figure_kind
from vpbench.results.figures.labels import model_label
from vpbench.results.figures.style import Plot, mark_empty, new_figure, styled
from vpbench.results.plan import PlanContext

SOURCES = (("published_top1", "published", "o", "#4C72B0"), ("measured_top1", "measured", "s", "#C44E52"))


def upstream_rows(models: pd.DataFrame, model: str) -> pd.DataFrame:
    """The model table's rows of ``model``, dense first, then by technique and growing compression."""
    if "model" not in models.columns:
        return pd.DataFrame(columns=["model", "variant", "is_dense", "compression_label"])
    rows = models.loc[models["model"].astype(str) == model].copy()
    if rows.empty:
        return rows
    for column in ("published_top1", "measured_top1", "sparsity", "weight_bits"):
        rows[column] = pd.to_numeric(rows[column], errors="coerce") if column in rows.columns else np.nan
    rows["is_dense"] = rows["is_dense"].astype(str).str.lower().isin(["true", "1"])
    rows["severity"] = rows["sparsity"].fillna(0.0) - rows["weight_bits"].fillna(32.0) / 1000
    rows["dense_rank"] = (~rows["is_dense"]).astype(int)
    return rows.sort_values(["dense_rank", "compression", "severity", "variant"], kind="stable")


@styled
def plot_upstream_top1(models: pd.DataFrame, model: str, *, cells: pd.DataFrame | None = None) -> Plot:
    """ImageNet-1k top-1 [%] per variant (dense left), published and measured, dense as a reference line."""
    rows = upstream_rows(models, model)
    figure, (axes,) = new_figure(1, panel_size=(max(4.0, 0.7 * len(rows) + 2.0), 3.2))
    label = model_label(model, cells)
    axes.set_title(f"{label}: upstream (ImageNet-1k) top-1 of each variant")
    shown = []
    for column, name, symbol, colour in SOURCES:
        values = rows[column] if column in rows.columns else pd.Series(dtype=float)
        if not values.notna().any():
            continue
        x = np.arange(len(rows))[values.notna().to_numpy()]
        axes.plot(x, values.dropna(), marker=symbol, linestyle="none", color=colour, label=name,
                  markerfacecolor=colour if name == "published" else "none")  # fmt: skip
        dense = values[rows["is_dense"].to_numpy()].dropna()
        if len(dense):
            axes.axhline(
                float(dense.iloc[0]), color=colour, linestyle=":", linewidth=1, label=f"dense ({name})"
            )
        shown.append(name)
    if not shown:
        mark_empty(axes, "no published or measured ImageNet top-1 for this model")
    else:
        axes.set_xticks(range(len(rows)))
        axes.set_xticklabels(rows["compression_label"].astype(str).tolist(), rotation=35, ha="right")
        axes.set_xlabel("variant (dense → most compressed)")
        axes.set_ylabel("ImageNet-1k top-1 [%]")
        axes.legend(loc="lower left", frameon=False)
    caption = (
        f"{label}: ImageNet-1k top-1 accuracy of every variant (dense left), as published for its checkpoint "
        "(filled circles; the model registry's value on the variant's card) and as measured on the study's "
        "ImageNet validation set where the study measures it (open squares); dotted lines mark the dense "
        "parent. In-pipeline compressed variants have no published value. Cf. paper Fig 14 (lottery tickets "
        "match or beat their parent upstream, yet lose accuracy under visual prompting)."
    )
    return Plot(figure, caption)


def _plan(context: PlanContext) -> list[FigureSpec]:
    specs = []
    for model in sorted(set(context.cells["model"])):
        rows = context.rows(model=model).drop_duplicates("variant")
        compressed = rows.loc[~rows["is_dense"]]
        if compressed.empty:
            continue
        if context.measured_top1 or (
            (rows["is_dense"] & rows["published_top1"].notna()).any()
            and (compressed["published_top1"].notna().any())
        ):
            specs.append(FigureSpec("imagenet_top1", f"{model}_imagenet_top1", model))
    return specs


register_figure_kind(
    FigureKind(
        name="imagenet_top1",
        label="upstream top-1",
        category="models",
        caption="fig_imagenet_top1.rst",
        plan=_plan,
        render=lambda spec, tables: plot_upstream_top1(tables.models, spec.model, cells=tables.cells),
        rank=60,
        reads=("cells", "models"),
    )
)
