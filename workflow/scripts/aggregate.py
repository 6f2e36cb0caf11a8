"""Snakemake adapter: concatenate every cell's outputs into the study's tables."""

from pathlib import Path

from vpbench.aggregate import aggregate_study
from vpbench.rule_logging import redirect_to_log

redirect_to_log(snakemake.log[0])  # noqa: F821
aggregate_study(
    [Path(d) for d in snakemake.params.cell_dirs],  # noqa: F821
    Path(snakemake.output.cells).parent,  # noqa: F821
)
