"""Plan and render every report figure of a study, with an index of captions.

The plan comes from the registered figure kinds (:mod:`vpbench.results.figures.kinds`); figures go to
``{out_dir}/{category}/{name}.svg|.png`` and ``index.json`` lists category, file stem and caption of each.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
import pandas as pd

import vpbench.results.figures  # noqa: F401  (registers the built-in figure kinds)
from vpbench.results.figures.kinds import FigureSpec, Tables, plan_figures, render_figure
from vpbench.results.figures.style import save_figure
from vpbench.results.plan import analysis_shots, context_from_study, context_from_tables
from vpbench.runtime import atomic_io

__all__ = ["RenderedFigure", "analysis_shots", "render_study_figures", "study_figure_plan"]


@dataclass(frozen=True)
class RenderedFigure:
    """Where one figure was written and what its caption says."""

    category: str
    stem: str
    caption: str


def study_figure_plan(study: Any) -> list[FigureSpec]:
    """Every figure of a study, planned from its cells and the registries (known before any cell runs)."""
    return plan_figures(context_from_study(study))


def render_study_figures(
    frames: Mapping[str, pd.DataFrame],
    out_dir: str | Path,
    *,
    plan: Sequence[FigureSpec] | None = None,
    options: Mapping[str, Any] | None = None,
) -> list[RenderedFigure]:
    """Save every planned figure from the aggregated tables in ``frames`` and ``index.json``; return the
    entries. Without ``plan`` the figures are planned from the finished cells themselves."""
    out_dir = Path(out_dir)
    tables = Tables.of(frames, options)
    if plan is None:
        plan = plan_figures(context_from_tables(frames, options))
    rendered = []
    for spec in plan:
        plot = render_figure(spec, tables)
        save_figure(plot.figure, out_dir / spec.stem)
        plt.close(plot.figure)
        rendered.append(RenderedFigure(spec.category, spec.stem, plot.caption))
    atomic_io.write_json(out_dir / "index.json", [asdict(entry) for entry in rendered])
    return rendered
