"""Prompt training dynamics (paper Fig 20): divergence from the dense prompt, loss curves, prompt images."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.ticker import MaxNLocator

from vpbench.results.figures.kinds import FigureKind, FigureSpec, Tables, register_figure_kind
from vpbench.results.figures.labels import dataset_label, method_label, model_label
from vpbench.results.figures.pairing import plan_per_class, unfinished
from vpbench.results.figures.style import (
    Plot,
    marker,
    method_colors,
    new_figure,
    save_figure,
    seed_phrase,
    styled,
)
from vpbench.results.frames import select, summarise, variant_table
from vpbench.results.plan import PlanContext


@styled
def plot_prompt_evolution(
    epochs: pd.DataFrame,
    *,
    model: str,
    dataset: str,
    method: str,
    shots: str,
    cells: pd.DataFrame | None = None,
) -> Plot:
    """Left: ‖P_e − P_e^dense‖₂ per epoch, one line per compression level; right: training loss per epoch.

    ``cells`` (the aggregated metrics) supplies compression labels and order; else variant names are used.
    """
    rows = select(epochs, model=model, dataset=dataset, method=method, shots=shots)
    rows = rows.assign(epochs_done=rows["epoch"] + 1)
    labels, order, dense = _variant_labels(rows, cells, model)
    colors = method_colors(method, max(len(order), 1))
    figure, (divergence_axes, loss_axes) = new_figure(2, panel_size=(4.2, 3.1))
    seeds: list[int] = []
    for column, axes in (("prompt_dense_l2", divergence_axes), ("train_loss", loss_axes)):
        if column not in rows.columns:
            continue
        summary = summarise(rows, ["variant", "epochs_done"], column)
        seeds += summary["n_seeds"].tolist()
        for rank, variant in enumerate(order):
            if column == "prompt_dense_l2" and variant in dense:
                continue
            line = summary.loc[summary["variant"] == variant].sort_values("epochs_done")
            if line.empty:
                continue
            x = line["epochs_done"].to_numpy(dtype=float)
            mean = line["mean"].to_numpy(dtype=float)
            axes.plot(
                x,
                mean,
                color=colors[rank],
                marker=marker(rank),
                markevery=max(1, len(x) // 10),
                label=labels[variant],
                linestyle="-" if variant in dense else "--",
            )
            half = line["ci95"].to_numpy(dtype=float)
            if np.isfinite(half).any():
                axes.fill_between(x, mean - half, mean + half, color=colors[rank], alpha=0.15, linewidth=0)
        axes.set_xlabel("epochs completed")
        axes.xaxis.set_major_locator(MaxNLocator(integer=True))
    divergence_axes.set_title("prompt divergence from dense")
    divergence_axes.set_ylabel(r"$\|P_e - P_e^{\mathrm{dense}}\|_2$ (effective prompt)")
    loss_axes.set_title("training loss")
    loss_axes.set_ylabel("mean cross-entropy [nats]")
    handles, names = loss_axes.get_legend_handles_labels()
    if handles:
        figure.legend(handles, names, loc="outside right upper", frameon=False, title="compression")
    title = f"{model_label(model, cells)} · {method_label(method)} · {dataset_label(dataset)} · N = {shots}"
    figure.suptitle(title)
    caption = (
        f"{title}: left, L2 norm of the difference between the effective prompt learned by each compressed "
        "variant and by the dense model after each epoch (same data subset and seed; 0 at initialisation); "
        "right, "
        f"mean training cross-entropy per epoch. Lines are means over {seed_phrase(seeds)}; the band is the "
        "95% "
        "t-interval across seeds (absent for a single seed). Divergence needs saved prompt histories."
    )
    return Plot(figure, caption)


def _variant_labels(
    rows: pd.DataFrame, cells: pd.DataFrame | None, model: str
) -> tuple[dict[str, str], list[str], set[str]]:
    """Display label per variant, variants from dense to most compressed, and the dense variants."""
    present = list(dict.fromkeys(rows["variant"]))
    if cells is None or cells.empty:
        return {v: v for v in present}, sorted(present), {v for v in present if v == "dense"}
    info = variant_table(cells.loc[cells["model"] == model]).set_index("variant")
    order = [v for v in info.index if v in present] + sorted(v for v in present if v not in info.index)
    labels = {v: str(info.at[v, "compression_label"]) if v in info.index else v for v in order}
    dense = {v for v in order if v in info.index and bool(info.at[v, "is_dense"])}
    return labels, order, dense


def _as_array(prompt: Any) -> np.ndarray:
    """A tensor or array as float64 numpy (moving torch tensors to CPU first)."""
    if hasattr(prompt, "detach"):
        prompt = prompt.detach().cpu().float().numpy()
    return np.asarray(prompt, dtype=np.float64)


def _to_image(prompt: np.ndarray, normalise: bool) -> np.ndarray:
    """C×H×W (or 1×C×H×W) prompt → H×W×3 image in [0, 1] (clipped, or min–max scaled)."""
    array = prompt.squeeze(0) if prompt.ndim == 4 and prompt.shape[0] == 1 else prompt
    if array.ndim != 3:
        raise ValueError(f"prompt must be C×H×W, got shape {prompt.shape}")
    image = np.moveaxis(array, 0, -1) if array.shape[0] in (1, 3) else array
    if image.shape[-1] == 1:
        image = np.repeat(image, 3, axis=-1)
    if normalise:
        low, high = float(image.min()), float(image.max())
        return (image - low) / (high - low) if high > low else np.zeros_like(image)
    return np.clip(image, 0.0, 1.0)


@styled
def prompt_image(
    prompts: Mapping[str, Any],
    path_stem: str | Path | None = None,
    *,
    epochs: Sequence[int] | None = None,
    normalise: bool = False,
    title: str = "",
) -> Plot:
    """Render learned effective prompts side by side (e.g. dense vs compressed) as RGB images.

    Each value is a C×H×W prompt, or with ``epochs`` an (E+1)×C×H×W history whose listed rows become columns
    (paper Fig 20a). Values are clipped to [0, 1] unless ``normalise`` min–max scales each image. Saves to
    ``path_stem`` (.svg/.png) when given.
    """
    arrays = {label: _as_array(prompt) for label, prompt in prompts.items()}
    columns = list(epochs) if epochs is not None else [None]
    n_rows = max(len(arrays), 1)
    figure, panels = new_figure(n_rows * len(columns), ncols=len(columns), panel_size=(2.2, 2.3))
    for row, (label, array) in enumerate(arrays.items()):
        for col, epoch in enumerate(columns):
            axes = panels[row * len(columns) + col]
            axes.imshow(
                _to_image(array if epoch is None else array[epoch], normalise), interpolation="nearest"
            )
            axes.set_xticks([])
            axes.set_yticks([])
            axes.grid(False)
            axes.set_title(
                label if epoch is None else f"{label}\nafter epoch {epoch}" if epoch else f"{label}\ninit"
            )
    if title:
        figure.suptitle(title)
    scaling = "min–max scaled per image" if normalise else "clipped to [0, 1]"
    caption = (
        f"{title + ': ' if title else ''}learned effective visual prompts ({', '.join(arrays)}) rendered as "
        "RGB "
        f"images, {scaling}"
        + (
            f", at history rows {', '.join(map(str, columns))} (row 0 = initialisation)."
            if epochs is not None
            else "."
        )
    )
    result = Plot(figure, caption)
    if path_stem is not None:
        save_figure(figure, path_stem)
    return result


def _plan(context: PlanContext) -> list[FigureSpec]:
    if not context.prompt_history:
        return []
    return plan_per_class("prompt_evolution", "evolution", context, method_filter=_trains_prompt)


def _trains_prompt(method: str) -> bool:
    """Whether the method trains an input prompt (its registry says; the probe and fine-tuning do not)."""
    from vpbench.engine.methods import METHODS

    return method in METHODS and METHODS[method].trains_prompt


def _render(spec: FigureSpec, tables: Tables) -> Plot:
    rows = select(tables.epochs, model=spec.model, dataset=spec.dataset, method=spec.method, shots=spec.shots)
    if rows.empty:
        return unfinished(spec, "cells")
    return plot_prompt_evolution(
        tables.epochs, model=spec.model, dataset=spec.dataset, method=spec.method, shots=spec.shots,
        cells=tables.cells,
    )  # fmt: skip


register_figure_kind(
    FigureKind(
        name="prompt_evolution",
        label="prompt evolution",
        category="prompts",
        caption="fig_prompt_evolution.rst",
        plan=_plan,
        render=_render,
        rank=50,
    )
)
