"""Report tables as registered kinds (:mod:`.kinds`); importing this package registers the built-in ones.

- :mod:`.output`: writing HTML/CSV/LaTeX and the shared cell texts;
- :mod:`.paper`: the paper's Tables 1–5 and the published comparison, planned from what the cells are;
- :mod:`.accuracy`: the accuracy table with 95% intervals;
- :mod:`.report`: the study's recipe, missing cells, comparisons and claims tables;
- :mod:`.builtin`: the registry entries of all of them.
"""

from vpbench.results.tables import builtin  # noqa: F401  (registers the built-in table kinds)
from vpbench.results.tables.accuracy import accuracy_table
from vpbench.results.tables.kinds import (
    TABLE_KINDS,
    TableInputs,
    TableKind,
    plan_tables,
    register_table_kind,
    table_kinds,
    write_study_tables,
)
from vpbench.results.tables.output import GAP, interval_text, mean_std_text, write_table
from vpbench.results.tables.paper import (
    published_comparison_table,
    table1_compression_summary,
    table2_clip,
    table4_quantized_cross_modal,
    table5_batch_sizes,
    table_cross_modal,
)
from vpbench.results.tables.report import (
    claims_table,
    comparisons_table,
    missing_cells_table,
    recipes_json,
    study_recipes,
    study_table,
)


def study_tables(study) -> list[str]:
    """The tables a study produces, planned from what its cells are (never from a model's or method's
    name): e.g. Table 2 when a cell adapts a CLIP-kind model, Tables 3–4 when a cell reprograms a
    non-image task."""
    from vpbench.results.plan import context_from_study

    return plan_tables(context_from_study(study))


__all__ = [
    "GAP",
    "TABLE_KINDS",
    "TableInputs",
    "TableKind",
    "accuracy_table",
    "claims_table",
    "comparisons_table",
    "interval_text",
    "mean_std_text",
    "missing_cells_table",
    "plan_tables",
    "published_comparison_table",
    "recipes_json",
    "register_table_kind",
    "study_recipes",
    "study_table",
    "study_tables",
    "table1_compression_summary",
    "table2_clip",
    "table4_quantized_cross_modal",
    "table5_batch_sizes",
    "table_cross_modal",
    "table_kinds",
    "write_study_tables",
    "write_table",
]
