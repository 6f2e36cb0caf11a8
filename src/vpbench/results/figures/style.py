"""Shared look of every figure: rc settings, one palette per method, markers per compression level, saving.

Figures are built on :class:`matplotlib.figure.Figure` directly (no pyplot state), so nothing leaks between
calls and the Agg backend is enough.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, NamedTuple, ParamSpec, TypeVar

import matplotlib as mpl

mpl.use("Agg")

from matplotlib import colormaps
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from vpbench.results.figures.labels import method_sort_key
from vpbench.runtime import atomic_io

RC_STYLE: dict[str, Any] = {
    "font.size": 9,
    "axes.titlesize": 10,
    "axes.labelsize": 9,
    "xtick.labelsize": 8,
    "ytick.labelsize": 8,
    "legend.fontsize": 8,
    "legend.title_fontsize": 8,
    "figure.titlesize": 11,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "grid.linewidth": 0.6,
    "lines.linewidth": 1.6,
    "lines.markersize": 4.5,
    "svg.fonttype": "none",
    "svg.hashsalt": "vpbench",
    "savefig.bbox": "tight",
}
# Hue ramps per method colour family (``VPMethod.colour``): the k-th method of a family (registry order)
# takes the family's k-th colour map, so related methods share a hue family and differ within it.
COLOUR_FAMILY_CMAPS: dict[str, tuple[str, ...]] = {
    "label_mapping": ("Blues", "Oranges", "Greens", "Purples"),
    "learned_map": ("PuBu", "BuGn", "GnBu"),
    "clip": ("Reds", "PuBu", "RdPu"),
    "cross_modal": ("Greys", "YlOrBr"),
    "prompt_design": ("YlGn", "OrRd", "PuRd"),
    "baseline": ("Greys", "YlOrRd"),
}
SPARE_CMAPS: tuple[str, ...] = ("YlOrBr", "BuGn", "RdPu", "GnBu", "YlGn")
MARKERS: tuple[str, ...] = ("o", "s", "^", "D", "v", "P", "X", "*", "h", "<", ">", "p")
DPI = 150

P = ParamSpec("P")
R = TypeVar("R")


class Plot(NamedTuple):
    """A finished figure and its caption (what was plotted, over how many seeds, what the band means)."""

    figure: Figure
    caption: str


def styled(function: Callable[P, R]) -> Callable[P, R]:
    """Run a figure builder under :data:`RC_STYLE` so every figure shares fonts, grid and spines."""

    @functools.wraps(function)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        with mpl.rc_context(RC_STYLE):
            return function(*args, **kwargs)

    return wrapper


def new_figure(
    n_panels: int = 1, *, ncols: int | None = None, panel_size: tuple[float, float] = (4.0, 3.0)
) -> tuple[Figure, list[Axes]]:
    """A constrained-layout figure with ``n_panels`` axes on a grid (row-major), plus the axes as a list."""
    n_panels = max(1, n_panels)
    ncols = min(n_panels, ncols or n_panels)
    nrows = -(-n_panels // ncols)
    figure = Figure(figsize=(panel_size[0] * ncols, panel_size[1] * nrows), layout="constrained")
    axes = [figure.add_subplot(nrows, ncols, i + 1) for i in range(n_panels)]
    return figure, axes


def method_cmap(method: str, *, methods_seen: Sequence[str] = ()) -> str:
    """The colour map of a method: its registry colour family's ramp, indexed by its position among the
    family's registered methods; an unregistered method takes a spare map by its position among the
    unregistered ones in ``methods_seen``."""
    from vpbench.engine.methods import METHODS, method_order

    if method in METHODS:
        family = METHODS[method].colour
        siblings = [m for m in method_order() if METHODS[m].colour == family]
        ramp = COLOUR_FAMILY_CMAPS.get(family, SPARE_CMAPS)
        return ramp[siblings.index(method) % len(ramp)]
    unknown = [m for m in dict.fromkeys(methods_seen) if m not in METHODS] or [method]
    index = unknown.index(method) if method in unknown else 0
    return SPARE_CMAPS[index % len(SPARE_CMAPS)]


def method_colors(method: str, n_levels: int, *, methods_seen: Sequence[str] = ()) -> list[tuple[float, ...]]:
    """``n_levels`` shades of the method's palette, darkest (dense) first to lightest (most compressed)."""
    cmap = colormaps[method_cmap(method, methods_seen=methods_seen)]
    if n_levels <= 1:
        return [cmap(0.85)]
    return [cmap(0.95 - 0.55 * i / (n_levels - 1)) for i in range(n_levels)]


def ordered_methods(methods: Sequence[str]) -> list[str]:
    """Distinct methods in registry order (``rank``), unknown ones last."""
    return sorted(dict.fromkeys(methods), key=method_sort_key)


def marker(level_index: int) -> str:
    """Marker of the ``level_index``-th compression level (0 = dense)."""
    return MARKERS[level_index % len(MARKERS)]


def legend_outside(axes: Axes, *, title: str | None = None, ncol: int = 1) -> None:
    """Place the legend to the right of ``axes`` (compact, no frame) when it has entries."""
    handles, labels = axes.get_legend_handles_labels()
    if handles:
        axes.legend(
            handles,
            labels,
            title=title,
            loc="upper left",
            bbox_to_anchor=(1.02, 1.0),
            frameon=False,
            ncol=ncol,
        )


def seed_phrase(n_seeds: Sequence[int]) -> str:
    """'3 seeds' or '1–3 seeds (varies by point)' for captions."""
    values = sorted({int(n) for n in n_seeds if n == n})
    if not values:
        return "no seeds"
    if len(values) == 1:
        return f"{values[0]} seed{'s' if values[0] != 1 else ''}"
    return f"{values[0]}–{values[-1]} seeds (varies by point)"


@contextlib.contextmanager
def _styled_context() -> Iterator[None]:
    with mpl.rc_context(RC_STYLE):
        yield


def save_figure(figure: Figure, path_stem: str | Path) -> tuple[Path, Path]:
    """Write ``{path_stem}.svg`` and ``{path_stem}.png`` (dpi 150) atomically; return both paths."""
    stem = Path(path_stem)
    paths = (stem.with_name(stem.name + ".svg"), stem.with_name(stem.name + ".png"))
    with _styled_context():
        for path, fmt in zip(paths, ("svg", "png"), strict=True):
            with atomic_io.atomic_path(path) as tmp:
                figure.savefig(tmp, format=fmt, dpi=DPI, metadata=_metadata(fmt))
    return paths


def _metadata(fmt: str) -> dict[str, Any]:
    """Drop creation dates so equal figures give equal bytes."""
    if fmt == "svg":
        return {"Date": None}
    return {}


EMPTY_GID = "vpbench-no-data"  # the gid of every "no data" note: tests find empty panels by it


def mark_empty(axes: Axes, message: str, *, clear_ticks: bool = True) -> None:
    """Mark a panel that has nothing to show (a gap in the study), in one recognisable way."""
    note = axes.text(0.5, 0.5, message, ha="center", va="center", transform=axes.transAxes, color="0.4")
    note.set_gid(EMPTY_GID)
    if clear_ticks:
        axes.set_xticks([])
        axes.set_yticks([])


def empty_panels(figure: Figure) -> list[str]:
    """Titles (or indices) of the panels of ``figure`` that hold no data: a "no data" note, or no data
    artist at all (lines, collections, patches, images; text for table-like panels without axes)."""
    empty = []
    for index, axes in enumerate(figure.axes):
        name = axes.get_title() or axes.get_label() or f"panel {index}"
        if any(text.get_gid() == EMPTY_GID for text in axes.texts):
            empty.append(name)
            continue
        drawn = axes.lines or axes.collections or axes.patches or axes.images or axes.containers
        if not drawn and not (not axes.axison and axes.texts):
            empty.append(name)
    return empty
