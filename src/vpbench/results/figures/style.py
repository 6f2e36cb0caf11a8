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

from vpbench.runtime import atomic_io
from vpbench.results.figures.labels import METHOD_ORDER

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
METHOD_CMAPS: dict[str, str] = {
    "ilm": "Blues",
    "flm": "Oranges",
    "rlm": "Greens",
    "fullymap": "Purples",
    "bahng_vp": "Reds",
    "ilm_tp_vp": "PuBu",
    "cmr": "Greys",
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


def method_colors(method: str, n_levels: int, *, methods_seen: Sequence[str] = ()) -> list[tuple[float, ...]]:
    """``n_levels`` shades of the method's palette, darkest (dense) first to lightest (most compressed)."""
    name = METHOD_CMAPS.get(method)
    if name is None:
        unknown = [m for m in methods_seen if m not in METHOD_CMAPS] or [method]
        index = unknown.index(method) if method in unknown else 0
        name = SPARE_CMAPS[index % len(SPARE_CMAPS)]
    cmap = colormaps[name]
    if n_levels <= 1:
        return [cmap(0.85)]
    return [cmap(0.95 - 0.55 * i / (n_levels - 1)) for i in range(n_levels)]


def ordered_methods(methods: Sequence[str]) -> list[str]:
    """Distinct methods in paper order (ILM, FLM, RLM, …), unknown ones last."""
    unique = list(dict.fromkeys(methods))
    return sorted(unique, key=lambda m: (METHOD_ORDER.index(m) if m in METHOD_ORDER else 99, m))


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
