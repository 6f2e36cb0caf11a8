"""Snakemake adapter: concatenate every cell's outputs into the study's tables."""

import sys
from pathlib import Path

# Make the package importable without installation (e.g. in a `--sdm conda` environment).
sys.path.insert(0, str(Path(snakemake.scriptdir).parents[1] / "src"))  # noqa: F821


from vpbench.engine.keys import plan_json
from vpbench.results.aggregate import aggregate_study
from vpbench.runtime.rule_logging import redirect_to_log
from vpbench.study.dag import training_logs
from vpbench.study.grid import IDENTIFIERS
from vpbench.study.loader import study_of

study = study_of(snakemake)  # noqa: F821
redirect_to_log(snakemake.log[0])  # noqa: F821
aggregate_study(
    [Path(d) for d in snakemake.params.cell_dirs],  # noqa: F821
    Path(snakemake.output.cells).parent,  # noqa: F821
    expected_plans={tuple(c.fields()[k] for k in IDENTIFIERS): plan_json(study, c) for c in study.cells},
    logs=training_logs(study),
)
