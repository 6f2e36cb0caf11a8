"""Label-mapping figure (paper Fig 1): the ImageNet class each target class maps to, dense vs compressed."""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from vpbench.results.figures.kinds import FigureKind, FigureSpec, Tables, register_figure_kind
from vpbench.results.figures.labels import dataset_label, method_label, model_label
from vpbench.results.figures.pairing import dense_and_compressed, plan_per_class, unfinished
from vpbench.results.figures.style import Plot, mark_empty, new_figure, styled
from vpbench.results.frames import select

CHANGED_COLOR = "#C44E52"


def mapping_pairs(
    classes: pd.DataFrame,
    *,
    model: str,
    dataset: str,
    method: str,
    shots: str,
    dense_variant: str,
    compressed_variant: str,
    seed: int | None = None,
) -> tuple[pd.DataFrame, int | None]:
    """One row per target class with the dense and compressed source names, and the seed used.

    ``seed`` defaults to the smallest seed both variants have; without one the frame is empty.
    """
    rows = select(classes, model=model, dataset=dataset, method=method, shots=shots)
    seeds = [set(rows.loc[rows["variant"] == v, "seed"]) for v in (dense_variant, compressed_variant)]
    common = sorted(seeds[0] & seeds[1])
    if seed is None:
        seed = common[0] if common else None
    columns = ["class_index", "class_name", "dense_source", "compressed_source", "changed"]
    if seed is None or seed not in common:
        return pd.DataFrame(columns=columns), seed

    def sources(variant: str) -> pd.DataFrame:
        part = rows.loc[(rows["variant"] == variant) & (rows["seed"] == seed)]
        names = [_source_text(i, n) for i, n in zip(part["source_index"], part["source_name"], strict=True)]
        return pd.DataFrame(
            {
                "class_index": part["class_index"].to_numpy(),
                "class_name": part["class_name"].to_numpy(),
                "source": names,
                "source_index": part["source_index"].to_numpy(),
            }
        )

    dense, compressed = sources(dense_variant), sources(compressed_variant)
    pairs = dense.merge(
        compressed[["class_index", "source", "source_index"]],
        on="class_index",
        suffixes=("_dense", "_compressed"),
    )
    pairs = pairs.sort_values("class_index").rename(
        columns={"source_dense": "dense_source", "source_compressed": "compressed_source"}
    )
    pairs["changed"] = pairs["source_index_dense"] != pairs["source_index_compressed"]
    return pairs[columns].reset_index(drop=True), seed


def _source_text(index: int, name: object) -> str:
    """Source class name, or a note for FullyMap (no single source class)."""
    if int(index) < 0:
        return "— (FullyMap: all sources)"
    return f"{name} (#{int(index)})"


def select_classes(pairs: pd.DataFrame, k: int, target_classes: Sequence[str | int] | None) -> pd.DataFrame:
    """Requested classes (names or indices), else the first ``k`` changed ones, else the first ``k``."""
    if target_classes is not None:
        wanted = {str(c) for c in target_classes}
        mask = pairs["class_name"].astype(str).isin(wanted) | pairs["class_index"].astype(str).isin(wanted)
        return pairs.loc[mask]
    changed = pairs.loc[pairs["changed"]]
    return (changed if not changed.empty else pairs).head(k)


@styled
def plot_label_mapping(
    classes: pd.DataFrame,
    *,
    model: str,
    dataset: str,
    method: str,
    shots: str,
    dense_variant: str,
    compressed_variant: str,
    seed: int | None = None,
    k: int = 8,
    target_classes: Sequence[str | int] | None = None,
    dense_label: str = "dense",
    compressed_label: str | None = None,
    cells: pd.DataFrame | None = None,
) -> Plot:
    """A two-column, table-like figure: target class → source class for the dense and compressed model."""
    pairs, seed = mapping_pairs(
        classes,
        model=model,
        dataset=dataset,
        method=method,
        shots=shots,
        dense_variant=dense_variant,
        compressed_variant=compressed_variant,
        seed=seed,
    )
    shown = select_classes(pairs, k, target_classes)
    compressed_label = compressed_label or compressed_variant
    figure, (axes,) = new_figure(1, panel_size=(8.6, 0.34 * (max(len(shown), 1) + 1) + 0.6))
    axes.set_axis_off()
    title = f"{model_label(model, cells)} · {method_label(method)} · {dataset_label(dataset)} · N = {shots}"
    axes.set_title(title, loc="left")
    n_rows = len(shown) + 1
    x_columns = (0.0, 0.30, 0.65)
    headers = ("target class", f"{dense_label} → ImageNet class", f"{compressed_label} → ImageNet class")
    for x, header in zip(x_columns, headers, strict=True):
        axes.text(x, 1 - 0.5 / n_rows, header, fontweight="bold", va="center", transform=axes.transAxes)
    for row_number, row in enumerate(shown.itertuples(index=False), start=1):
        y = 1 - (row_number + 0.5) / n_rows
        if row_number % 2:
            axes.axhspan(y - 0.5 / n_rows, y + 0.5 / n_rows, color="0.95", zorder=0)
        color = CHANGED_COLOR if row.changed else "0.1"
        axes.text(x_columns[0], y, str(row.class_name), va="center", transform=axes.transAxes)
        axes.text(x_columns[1], y, row.dense_source, va="center", transform=axes.transAxes)
        axes.text(
            x_columns[2],
            y,
            row.compressed_source,
            va="center",
            color=color,
            transform=axes.transAxes,
            fontweight="bold" if row.changed else "normal",
        )
    axes.set_ylim(0, 1)
    if shown.empty:
        mark_empty(axes, "no class mappings for both variants", clear_ticks=False)
    selection = (
        "the requested classes"
        if target_classes is not None
        else f"the first {k} classes whose source differs (or the first {k} when none differ)"
    )
    caption = (
        f"{title}: ImageNet source class (first mapped source, with its index) that each target class maps "
        "to "
        f"after visual prompting, for the {dense_label} model and {compressed_label}, seed {seed}. Showing "
        f"{len(shown)} of {len(pairs)} target classes ({selection}); red entries differ from the dense "
        "mapping "
        f"({int(pairs['changed'].sum()) if len(pairs) else 0} of {len(pairs)} classes differ in total)."
    )
    return Plot(figure, caption)


def _maps_one_source(method: str) -> bool:
    """Whether the method maps each target class to one source class (its registry says)."""
    from vpbench.engine.methods import METHODS

    return method in METHODS and METHODS[method].mapping_figure


def _render(spec: FigureSpec, tables: Tables) -> Plot:
    pair = dense_and_compressed(tables.cells, spec)
    if pair["dense_variant"] is None or pair["compressed_variant"] is None:
        return unfinished(spec, "dense and compressed cells")
    return plot_label_mapping(
        tables.classes, model=spec.model, dataset=spec.dataset, method=spec.method, shots=spec.shots,
        k=int(tables.options.get("mapping_classes", 10)), cells=tables.cells, **pair,
    )  # fmt: skip


register_figure_kind(
    FigureKind(
        name="mapping",
        label="label mapping",
        category="label_mapping",
        caption="fig_mapping.rst",
        plan=lambda context: plan_per_class("mapping", "mapping", context, _maps_one_source),
        render=_render,
        rank=40,
    )
)
