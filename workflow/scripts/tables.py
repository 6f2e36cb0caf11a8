"""Snakemake adapter: the study's report tables (planned by the table kinds) from its aggregated tables."""

import json
import sys
from pathlib import Path

# Make the package importable without installation (e.g. in a `--sdm conda` environment).
sys.path.insert(0, str(Path(snakemake.scriptdir).parents[1] / "src"))  # noqa: F821


import pandas as pd

from vpbench.results.plan import missing_with_plan
from vpbench.results.tables import TableInputs, write_study_tables
from vpbench.runtime.rule_logging import redirect_to_log
from vpbench.study.loader import study_of

study = study_of(snakemake)  # noqa: F821
redirect_to_log(snakemake.log[0])  # noqa: F821
missing = pd.read_csv(snakemake.input.missing, dtype={"shots": str}, keep_default_na=False)  # noqa: F821
inputs = TableInputs(
    cells=pd.read_parquet(snakemake.input.cells),  # noqa: F821
    classes=pd.read_parquet(snakemake.input.classes),  # noqa: F821
    comparisons=pd.read_parquet(snakemake.input.comparisons),  # noqa: F821
    intervals=pd.read_parquet(snakemake.input.intervals),  # noqa: F821
    missing=missing_with_plan(missing, study),
    config=study.as_config(),
    recipes=json.loads(snakemake.params.recipes),  # noqa: F821
    planned=len(study.cells),
)
write_study_tables(inputs, Path(snakemake.output[0]).parent, snakemake.params.tables)  # noqa: F821
