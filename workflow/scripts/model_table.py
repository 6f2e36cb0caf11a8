"""Snakemake adapter: the study's model-card table (report category Models) and its CSV for figures."""

import sys
from pathlib import Path

# Make the package importable without installation (e.g. in a `--sdm conda` environment).
sys.path.insert(0, str(Path(snakemake.scriptdir).parents[1] / "src"))  # noqa: F821


from vpbench.results.model_report import model_table, write_model_table
from vpbench.runtime.rule_logging import redirect_to_log
from vpbench.study.loader import study_of

study = study_of(snakemake)  # noqa: F821  (registers plugin and user-checkpoint entries)
redirect_to_log(snakemake.log[0])  # noqa: F821
table = model_table([Path(p).parent for p in snakemake.input.cards], snakemake.params.dense)  # noqa: F821
write_model_table(table, Path(snakemake.output.html))  # noqa: F821
