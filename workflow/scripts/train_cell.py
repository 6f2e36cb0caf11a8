"""Snakemake adapter: train and evaluate one cell, writing all of its outputs or none."""

import sys
from pathlib import Path

# Make the package importable without installation (e.g. in a `--sdm conda` environment).
sys.path.insert(0, str(Path(snakemake.scriptdir).parents[1] / "src"))  # noqa: F821

from vpbench.engine.cell import run_cell
from vpbench.engine.jobs import job_context
from vpbench.runtime.rule_logging import redirect_to_log

study, cell, inputs = job_context(snakemake)  # noqa: F821
redirect_to_log(snakemake.log[0])  # noqa: F821
run_cell(study=study, cell=cell, **inputs.cell_arguments(cell))
