"""Snakemake adapter: train every cell of one pack in one process (model and data loaded once)."""

import sys
from pathlib import Path

# Make the package importable without installation (e.g. in a `--sdm conda` environment).
sys.path.insert(0, str(Path(snakemake.scriptdir).parents[1] / "src"))  # noqa: F821

from vpbench.engine.cell import run_pack
from vpbench.engine.jobs import job_context
from vpbench.runtime.rule_logging import redirect_to_log

study, cells, inputs = job_context(snakemake, pack=True)  # noqa: F821
redirect_to_log(snakemake.log[0])  # noqa: F821
run_pack(study=study, cells=cells, **inputs.pack_arguments(cells))
