"""The built-in table kinds (the paper's Tables 1–5, the study's accuracy, comparisons, claims, missing
cells and recipe), registered in report order."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from vpbench.results.plan import PlanContext
from vpbench.results.tables.accuracy import accuracy_table
from vpbench.results.tables.kinds import (
    TableInputs,
    TableKind,
    any_comparison,
    any_compressed,
    covers_published,
    register_table_kind,
)
from vpbench.results.tables.paper import (
    published_comparison_table,
    table1_compression_summary,
    table2_clip,
    table4_quantized_cross_modal,
    table5_batch_sizes,
    table_cross_modal,
)
from vpbench.results.tables.report import claims_table, comparisons_table, missing_cells_table, study_table


def _claims(inputs: TableInputs, out_stem: Path) -> pd.DataFrame:
    from vpbench.results.claims import evaluate_claims

    missing = inputs.missing if len(inputs.missing) and "is_dense" in inputs.missing.columns else None
    evaluated = evaluate_claims(inputs.cells, inputs.classes, missing=missing)
    return claims_table(evaluated, out_stem=out_stem)


def _non_image(context: PlanContext) -> bool:
    return bool((context.cells["modality"] != "image").any())


def _quantized_non_image(context: PlanContext) -> bool:
    cells = context.cells
    return bool(((cells["modality"] != "image") & (cells["compression_kind"] == "quantized")).any())


def _study(inputs: TableInputs, out_stem: Path) -> pd.DataFrame:
    return study_table(
        inputs.recipes.get("recipes", {}),
        inputs.recipes.get("context", {}),
        cells=inputs.cells,
        out_stem=out_stem,
    )


def _always(context: PlanContext) -> bool:
    return True


def _clip(context: PlanContext) -> bool:
    return bool((context.cells["model_kind"] == "clip").any())


BUILDERS = {
    "accuracy": lambda i, o: accuracy_table(i.cells, intervals=i.intervals, out_stem=o),
    "comparisons": lambda i, o: comparisons_table(i.comparisons, cells=i.cells, out_stem=o),
    "table1": lambda i, o: table1_compression_summary(i.cells, comparisons=i.comparisons, out_stem=o),
    "table2": lambda i, o: table2_clip(i.cells, out_stem=o),
    "table3": lambda i, o: table_cross_modal(i.cells, out_stem=o),
    "table4": lambda i, o: table4_quantized_cross_modal(i.cells, out_stem=o),
    "table5": lambda i, o: table5_batch_sizes(i.config, cells=i.cells, out_stem=o),
    "published_comparison": lambda i, o: published_comparison_table(i.cells, out_stem=o),
    "failed_cells": lambda i, o: missing_cells_table(i.missing, planned=i.planned, out_stem=o),
}

# (name, label, category, plan, build, rank); the caption is report/table_<name>.rst
for _name, _label, _category, _plan, _build, _rank in (
    ("accuracy", "accuracy with intervals", "accuracy", _always, BUILDERS["accuracy"], 10),
    (
        "comparisons",
        "dense vs compressed tests",
        "compression_cost",
        any_comparison,
        BUILDERS["comparisons"],
        20,
    ),
    ("claims", "the paper's claims", "claims", _always, _claims, 30),
    ("table1", "paper Table 1", "tables", any_compressed, BUILDERS["table1"], 40),
    ("table2", "paper Table 2 (CLIP)", "tables", _clip, BUILDERS["table2"], 41),
    ("table3", "paper Table 3 (cross-modal)", "tables", _non_image, BUILDERS["table3"], 42),
    (
        "table4",
        "paper Table 4 (quantized cross-modal)",
        "tables",
        _quantized_non_image,
        BUILDERS["table4"],
        43,
    ),
    ("table5", "paper Table 5 (batch sizes)", "tables", _always, BUILDERS["table5"], 44),
    (
        "published_comparison",
        "reproduced vs published",
        "tables",
        covers_published,
        BUILDERS["published_comparison"],
        45,
    ),
    ("study", "study recipe", "study", _always, _study, 50),
    # not "missing": the aggregation's missing.csv, which the end of the run reads, has that name
    ("failed_cells", "failed or missing cells", "study", _always, BUILDERS["failed_cells"], 51),
):
    register_table_kind(TableKind(_name, _label, _category, f"table_{_name}.rst", _plan, _build, rank=_rank))
