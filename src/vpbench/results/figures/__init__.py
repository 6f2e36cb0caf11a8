"""Report figures as registered kinds (:mod:`.kinds`); one module per family of kinds registers its own.

Importing this package registers the built-in kinds; a plugin adds one with
:func:`~vpbench.results.figures.kinds.register_figure_kind`. Every builder returns a
:class:`~vpbench.results.figures.style.Plot`; ``labels`` has no plotting dependency.
"""

from vpbench.results.figures import (  # noqa: F401  (each module registers its figure kinds)
    calibration,
    classwise,
    heatmaps,
    label_mapping_fig,
    nshot_curves,
    prompt_evolution,
    reliability,
    upstream,
)
from vpbench.results.figures.kinds import (
    FIGURE_KINDS,
    FigureKind,
    FigureSpec,
    Tables,
    figure_kinds,
    plan_figures,
    register_figure_kind,
    render_figure,
    tables_read,
)

__all__ = [
    "FIGURE_KINDS",
    "FigureKind",
    "FigureSpec",
    "Tables",
    "figure_kinds",
    "plan_figures",
    "register_figure_kind",
    "render_figure",
    "tables_read",
]
