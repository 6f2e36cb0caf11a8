"""Figure kinds as registry entries: each one plans its figures, renders them and names its caption.

A kind owns everything about itself the workflow asks:

- ``plan(context)``: which figures a study produces (:class:`FigureSpec` list), from the planned cells and the
  registries in a :class:`vpbench.results.plan.PlanContext`; a planner plans a figure only where the cells it
  shows exist (no empty figure);
- ``render(spec, tables)``: draws one planned figure from the aggregated tables only (:class:`Tables`), and
  shows a gap (a failed or missing cell) as a gap, never a crash;
- ``caption``: the report caption file (reStructuredText, Jinja with ``snakemake``): a name under the
  workflow's ``report/`` folder, or an absolute path (plugins).

Adding a kind is one :func:`register_figure_kind` call, from a module of vpbench or from a study plugin.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from vpbench.registry import Registry
from vpbench.results.figures.style import Plot
from vpbench.results.plan import CATEGORIES, PlanContext

TABLE_NAMES: tuple[str, ...] = (
    "cells",
    "epochs",
    "classes",
    "reliability",
    "comparisons",
    "missing",
    "models",
)
# What a renderer may read unless its kind says otherwise (``models`` — the model table — costs the
# model-table job, so only kinds that need it ask for it).
DEFAULT_READS: tuple[str, ...] = ("cells", "epochs", "classes", "reliability", "comparisons", "missing")


@dataclass(frozen=True)
class FigureSpec:
    """One planned figure: its kind and what it shows (known from the study alone).

    ``panels`` holds (dataset, N-shot) pairs for figures with one panel per dataset; ``variant`` a chosen
    compressed variant (empty: the renderer's choice); ``detail`` a short text for the report's labels.
    """

    kind: str
    name: str
    model: str
    dataset: str | None = None
    method: str | None = None
    metric: str | None = None
    shots: str | None = None
    variant: str | None = None
    panels: tuple[tuple[str, str], ...] = ()

    @property
    def category(self) -> str:
        """The report category of this figure's kind."""
        return FIGURE_KINDS.lookup(self.kind).category

    @property
    def stem(self) -> str:
        """Path of the figure below the figures folder, without extension."""
        return f"{self.category}/{self.name}"

    @property
    def detail(self) -> str:
        """What distinguishes figures of one kind beyond model, dataset and method (a report label)."""
        if self.metric:
            return self.metric
        if self.shots:
            return f"{self.shots}-shot"
        if self.panels:
            return ", ".join(f"{d}: {s}-shot" for d, s in self.panels)
        return "—"


@dataclass(frozen=True)
class Tables:
    """The aggregated tables a renderer reads (empty frames where a table is absent) and report options."""

    cells: pd.DataFrame
    epochs: pd.DataFrame = field(default_factory=pd.DataFrame)
    classes: pd.DataFrame = field(default_factory=pd.DataFrame)
    reliability: pd.DataFrame = field(default_factory=pd.DataFrame)
    comparisons: pd.DataFrame = field(default_factory=pd.DataFrame)
    missing: pd.DataFrame = field(default_factory=pd.DataFrame)
    models: pd.DataFrame = field(default_factory=pd.DataFrame)
    options: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def of(cls, frames: Mapping[str, pd.DataFrame], options: Mapping[str, Any] | None = None) -> Tables:
        """From a name → frame mapping (unknown names are ignored, absent ones empty)."""
        given = {name: frames[name] for name in TABLE_NAMES if name in frames and frames[name] is not None}
        return cls(**given, options=dict(options or {}))


@dataclass(frozen=True)
class FigureKind:
    """A kind of report figure (see the module docstring)."""

    name: str
    label: str
    category: str
    caption: str | Path
    plan: Callable[[PlanContext], Iterable[FigureSpec]]
    render: Callable[[FigureSpec, Tables], Plot]
    rank: int = 100  # order of the kinds in the plan (ties: registration order)
    reads: tuple[str, ...] = DEFAULT_READS  # the aggregated tables its renderer reads (TABLE_NAMES)

    def __post_init__(self) -> None:
        if self.category not in CATEGORIES:
            raise ValueError(
                f"figure kind {self.name!r}: category {self.category!r}; registered: {', '.join(CATEGORIES)}"
            )
        unknown = sorted(set(self.reads) - set(TABLE_NAMES))
        if unknown:
            raise ValueError(
                f"figure kind {self.name!r} reads unknown tables {unknown}; known: {TABLE_NAMES}"
            )

    def caption_path(self, report_dir: str | Path = "report") -> str:
        """The caption file: absolute as given, else under ``report_dir``."""
        path = Path(self.caption)
        return str(path if path.is_absolute() else Path(report_dir) / path)


FIGURE_KINDS: Registry[FigureKind] = Registry("figure kind")
register_figure_kind = FIGURE_KINDS.register


def figure_kinds() -> list[FigureKind]:
    """Registered kinds in plan order (``rank``, then registration)."""
    names = list(FIGURE_KINDS)
    return sorted(FIGURE_KINDS.values(), key=lambda kind: (kind.rank, names.index(kind.name)))


def plan_figures(context: PlanContext) -> list[FigureSpec]:
    """Every figure of every registered kind for ``context``, in kind order then each planner's order."""
    plan: list[FigureSpec] = []
    for kind in figure_kinds():
        specs = list(kind.plan(context))
        for spec in specs:
            if spec.kind != kind.name:
                raise ValueError(f"figure kind {kind.name!r} planned a figure of kind {spec.kind!r}")
        plan += specs
    stems = [spec.stem for spec in plan]
    duplicates = sorted({stem for stem in stems if stems.count(stem) > 1})
    if duplicates:
        raise ValueError(f"two planned figures share a file name: {duplicates}")
    return plan


def render_figure(spec: FigureSpec, tables: Tables) -> Plot:
    """Draw one planned figure with its kind's renderer."""
    return FIGURE_KINDS.lookup(spec.kind).render(spec, tables)


def tables_read(plan: Iterable[FigureSpec]) -> list[str]:
    """The aggregated tables the renderers of ``plan`` read (:data:`TABLE_NAMES` order)."""
    needed = {name for spec in plan for name in FIGURE_KINDS.lookup(spec.kind).reads}
    return [name for name in TABLE_NAMES if name in needed]
