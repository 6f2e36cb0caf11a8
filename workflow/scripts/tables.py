"""Snakemake adapter: the paper's tables and the reproduced-vs-published comparison for this study."""

import sys
from pathlib import Path

# Make the package importable without installation (e.g. in a `--sdm conda` environment).
sys.path.insert(0, str(Path(snakemake.scriptdir).parents[1] / "src"))  # noqa: F821


import pandas as pd

from vpbench.results.tables import write_study_tables
from vpbench.runtime.rule_logging import redirect_to_log
from vpbench.study.loader import study_of

study = study_of(snakemake)  # noqa: F821
redirect_to_log(snakemake.log[0])  # noqa: F821
cells = pd.read_parquet(snakemake.input.cells)  # noqa: F821
write_study_tables(cells, study.as_config(), Path(snakemake.output[0]).parent, snakemake.params.tables)  # noqa: F821
