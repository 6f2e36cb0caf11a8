"""What the report of a study will hold, decided from its cells and the registries (never from names).

Figure and table kinds plan their outputs from a :class:`PlanContext`: one row per planned cell with what the
registries say about it (dense or not, technique and its kind, model kind, dataset modality, published
ImageNet top-1). The context is built from the typed study before any cell runs (what the workflow declares),
or from an aggregated cells table (re-planning from results, e.g. in tests and notebooks); both give the same
columns, so a planner cannot tell them apart.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from vpbench.registry import Registry
from vpbench.results.frames import ordered_shots, shots_sort_key
from vpbench.study.grid import IDENTIFIERS

PLAN_COLUMNS: tuple[str, ...] = (
    *IDENTIFIERS,
    "is_dense",
    "family",
    "model_kind",
    "modality",
    "compression",
    "compression_kind",
    "published_top1",
)


@dataclass(frozen=True)
class ReportCategory:
    """A section of the report's menu: figures and tables name one by ``name``."""

    name: str
    label: str
    rank: int = 100


CATEGORIES: Registry[ReportCategory] = Registry("report category")
register_category = CATEGORIES.register
for _entry in (
    ReportCategory("accuracy", "Accuracy", 10),
    ReportCategory("compression_cost", "Compression cost", 20),
    ReportCategory("calibration", "Calibration", 30),
    ReportCategory("label_mapping", "Label mapping", 40),
    ReportCategory("prompts", "Prompts", 50),
    ReportCategory("claims", "Claims", 60),
    ReportCategory("models", "Models", 70),
    ReportCategory("study", "Study", 80),
    ReportCategory("tables", "Tables", 90),
):
    register_category(_entry)


def category_label(name: str) -> str:
    """The menu label of a report category (its registry entry)."""
    return CATEGORIES.lookup(name).label


@dataclass(frozen=True)
class PlanContext:
    """Everything a planner may read: the planned cells and the study's report-relevant options."""

    cells: pd.DataFrame  # PLAN_COLUMNS, one row per planned cell
    prompt_history: bool = False
    measured_top1: bool = False  # the study measures every variant's ImageNet-1k top-1
    options: Mapping[str, Any] = field(default_factory=dict)  # the study's `report` section

    def triples(self) -> list[tuple[str, str, str]]:
        """Sorted distinct (model, dataset, method) with planned cells."""
        keys = self.cells[["model", "dataset", "method"]].drop_duplicates()
        return sorted(map(tuple, keys.astype(str).to_numpy()))

    def rows(self, **identifiers: object) -> pd.DataFrame:
        """Planned cells whose identifier columns equal the given values."""
        mask = pd.Series(True, index=self.cells.index)
        for column, value in identifiers.items():
            mask &= self.cells[column].astype(str) == str(value)
        return self.cells.loc[mask]


# ------------------------------------------------------------------------------------------- building


def _technique(study: Any, model: str, variant: str) -> tuple[str, str]:
    """(technique name, kind) of a study variant, as its card will record them."""
    from vpbench.compression.techniques import technique
    from vpbench.models import get_model_family

    spec = study.variant(model, variant)
    if spec.compress:
        found = technique(spec.compress["method"])
    else:
        family = get_model_family(spec.family)
        found = technique(family.technique, family.technique_kind, family.technique_label)
    return found.name, found.kind


def planned_cells(study: Any) -> pd.DataFrame:
    """One :data:`PLAN_COLUMNS` row per cell of a typed study (registries decide every column)."""
    from vpbench.data import get_dataset
    from vpbench.models import get_model_family

    variants: dict[tuple[str, str], dict[str, Any]] = {}
    for spec in study.all_variants():
        family = get_model_family(spec.family)
        name, kind = _technique(study, spec.model, spec.name)
        published = None if spec.compress else family.published_top1
        variants[(spec.model, spec.name)] = {
            "is_dense": study.model(spec.model).is_dense(spec.name),
            "family": spec.family,
            "model_kind": get_model_family(study.model(spec.model).family).kind,
            "compression": name,
            "compression_kind": kind,
            "published_top1": math.nan if published is None else float(published),
        }
    rows = [
        {
            **cell.fields(),
            **variants[(cell.model, cell.variant)],
            "modality": get_dataset(cell.dataset).modality,
        }
        for cell in study.cells
    ]
    return _typed(pd.DataFrame(rows, columns=list(PLAN_COLUMNS)))


def cells_as_plan(cells: pd.DataFrame) -> pd.DataFrame:
    """:data:`PLAN_COLUMNS` of an aggregated cells table (registry lookups fill what it lacks)."""
    from vpbench.data import DATASETS
    from vpbench.models import MODELS

    frame = cells.reindex(columns=list(PLAN_COLUMNS)).copy()
    if "is_dense" not in cells.columns:
        frame["is_dense"] = False
    frame["compression"] = frame["compression"].fillna("none")
    frame["compression_kind"] = frame["compression_kind"].where(
        frame["compression_kind"].notna(), frame["is_dense"].map({True: "dense", False: "sparse"})
    )

    def kind_of(family: object) -> str:
        return MODELS[family].kind if family in MODELS else "classifier"

    dense_family = frame.loc[frame["is_dense"].astype(bool)].drop_duplicates("model")
    model_families = dict(zip(dense_family["model"], dense_family["family"], strict=True))
    pairs = zip(frame["model"], frame["family"], strict=True)
    frame["model_kind"] = [kind_of(model_families.get(m, f)) for m, f in pairs]
    frame["modality"] = [DATASETS[d].modality if d in DATASETS else "image" for d in frame["dataset"]]
    return _typed(frame)


def _typed(frame: pd.DataFrame) -> pd.DataFrame:
    frame = frame.copy()
    for column in PLAN_COLUMNS:
        if column == "seed":
            frame[column] = frame[column].astype("int64")
        elif column == "is_dense":
            frame[column] = frame[column].fillna(False).astype(bool)
        elif column == "published_top1":
            frame[column] = pd.to_numeric(frame[column], errors="coerce").astype(float)
        else:
            frame[column] = frame[column].astype(str)
    return frame.reset_index(drop=True)


def context_from_study(study: Any) -> PlanContext:
    """The plan context of a typed study: what the workflow declares before any cell runs."""
    return PlanContext(
        cells=planned_cells(study),
        prompt_history=bool(study.training.save_prompt_history),
        measured_top1=bool(study.imagenet_val),
        options=dict(study.report),
    )


def context_from_tables(
    frames: Mapping[str, pd.DataFrame], options: Mapping[str, Any] | None = None
) -> PlanContext:
    """The plan context of aggregated tables: the finished cells as the plan."""
    epochs = frames.get("epochs")
    history = (
        epochs is not None
        and "prompt_dense_l2" in epochs.columns
        and bool(epochs["prompt_dense_l2"].notna().any())
    )
    return PlanContext(
        cells=cells_as_plan(frames["cells"]), prompt_history=history, options=dict(options or {})
    )


# ------------------------------------------------------------------------------------ planner helpers


def largest_shots(rows: pd.DataFrame) -> str | None:
    """The largest N-shot among ``rows`` (``full`` beats every number), or None."""
    shots = ordered_shots(rows["shots"]) if len(rows) else []
    return shots[-1] if shots else None


def analysis_shots(shots: Iterable[str], preferred: int = 5) -> str | None:
    """N-shot of the per-class analyses (paper: N = 5): the smallest N ≥ ``preferred``, else the largest."""
    ordered = ordered_shots(shots)
    if not ordered:
        return None
    numeric = [s for s in ordered if s != "full" and shots_sort_key(s) >= preferred]
    return numeric[0] if numeric else ordered[-1]


def paired_shots(rows: pd.DataFrame) -> list[str]:
    """N-shots at which ``rows`` (one model, dataset and method) hold a dense and a compressed cell."""
    dense = set(rows.loc[rows["is_dense"], "shots"])
    compressed = set(rows.loc[~rows["is_dense"], "shots"])
    return ordered_shots(dense & compressed)


def has_compressed(rows: pd.DataFrame) -> bool:
    """Whether ``rows`` hold a dense and at least one compressed variant."""
    return bool(rows["is_dense"].any() and (~rows["is_dense"]).any())


def missing_with_plan(missing: pd.DataFrame, study: Any) -> pd.DataFrame:
    """``missing.csv`` rows with the plan's columns (dense or not, technique, kind, …) from the study, so
    that claims and figures can tell which of their cells are missing."""
    if missing.empty:
        return missing.reindex(columns=[*missing.columns, *[c for c in PLAN_COLUMNS if c not in missing]])
    plan = planned_cells(study)
    ids = missing.copy()
    ids["seed"] = pd.to_numeric(ids["seed"], errors="coerce").astype("Int64")
    for column in ("study", "dataset", "model", "variant", "method", "shots"):
        ids[column] = ids[column].astype(str)
    merged = ids.merge(plan.astype({"seed": "Int64"}), on=list(IDENTIFIERS), how="left")
    merged["is_dense"] = merged["is_dense"].fillna(False).astype(bool)
    return merged
