"""Table kinds as registry entries: each one says when a study has it, how to build it, and its caption.

- ``plan(context)``: whether the study produces the table, from its planned cells and the registries
  (:class:`vpbench.results.plan.PlanContext`) — e.g. Table 2 when a cell adapts a CLIP-kind model;
- ``build(inputs, out_stem)``: the display table from the aggregated tables (:class:`TableInputs`), written
  as ``{out_stem}.html`` (the report's), ``.csv`` and ``.tex``;
- ``caption``: the report caption file (a name under ``report/``, or an absolute path).

Adding a table is one :func:`register_table_kind` call (a vpbench module or a study plugin).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from vpbench.registry import Registry
from vpbench.results.plan import CATEGORIES, PlanContext, has_compressed, paired_shots


@dataclass(frozen=True)
class TableInputs:
    """What a table builder reads: the aggregated tables, the stats rule's, and the study's settings."""

    cells: pd.DataFrame
    classes: pd.DataFrame = field(default_factory=pd.DataFrame)
    comparisons: pd.DataFrame = field(default_factory=pd.DataFrame)
    intervals: pd.DataFrame = field(default_factory=pd.DataFrame)
    missing: pd.DataFrame = field(default_factory=pd.DataFrame)  # missing.csv with the plan's columns
    config: Mapping[str, Any] = field(default_factory=dict)
    recipes: Mapping[str, Any] = field(default_factory=dict)  # tables.report.recipes_json, parsed
    planned: int | None = None  # number of planned cells


@dataclass(frozen=True)
class TableKind:
    """A kind of report table (see the module docstring)."""

    name: str
    label: str
    category: str
    caption: str | Path
    plan: Callable[[PlanContext], bool]
    build: Callable[[TableInputs, Path], pd.DataFrame]
    rank: int = 100

    def __post_init__(self) -> None:
        if self.category not in CATEGORIES:
            raise ValueError(
                f"table kind {self.name!r}: category {self.category!r}; registered: {', '.join(CATEGORIES)}"
            )

    def caption_path(self, report_dir: str | Path = "report") -> str:
        """The caption file: absolute as given, else under ``report_dir``."""
        path = Path(self.caption)
        return str(path if path.is_absolute() else Path(report_dir) / path)


TABLE_KINDS: Registry[TableKind] = Registry("table kind")
register_table_kind = TABLE_KINDS.register


def table_kinds() -> list[TableKind]:
    """Registered kinds in report order (``rank``, then registration)."""
    names = list(TABLE_KINDS)
    return sorted(TABLE_KINDS.values(), key=lambda kind: (kind.rank, names.index(kind.name)))


def plan_tables(context: PlanContext) -> list[str]:
    """The names of the tables a study produces."""
    return [kind.name for kind in table_kinds() if kind.plan(context)]


def write_study_tables(
    inputs: TableInputs, out_dir: str | Path, names: Sequence[str]
) -> dict[str, pd.DataFrame]:
    """Build and write the planned tables into ``out_dir`` (HTML/CSV/LaTeX each); return them by name."""
    out_dir = Path(out_dir)
    return {name: TABLE_KINDS.lookup(name).build(inputs, out_dir / name) for name in names}


# ------------------------------------------------------------------------------------------- planners


def any_comparison(context: PlanContext) -> bool:
    """Some (model, dataset, method) has a dense and a compressed cell at one N-shot."""
    return any(paired_shots(context.rows(model=m, dataset=d, method=x)) for m, d, x in context.triples())


def any_compressed(context: PlanContext) -> bool:
    """Some model has a dense and a compressed variant."""
    return any(has_compressed(context.rows(model=m)) for m in set(context.cells["model"]))


def covers_published(context: PlanContext) -> bool:
    """The study has a (dataset, model, method) that the paper's transcribed tables report."""
    from vpbench.results.published import load_published

    published = load_published()
    paper = set(zip(published["dataset_or_task"], published["model"], published["method"], strict=True))
    mine = set(zip(context.cells["dataset"], context.cells["model"], context.cells["method"], strict=True))
    return bool(paper & mine)
