"""Snakemake adapter: paired dense-vs-compressed tests and intervals of the study (docs/statistics.md)."""

import sys
from pathlib import Path

# Make the package importable without installation (e.g. in a `--sdm conda` environment).
sys.path.insert(0, str(Path(snakemake.scriptdir).parents[1] / "src"))  # noqa: F821


import pandas as pd

from vpbench.results.aggregate import load_test_predictions, parse_cell_dir
from vpbench.results.stats import cell_id
from vpbench.results.stats.study import LazyPredictions, study_statistics
from vpbench.runtime import atomic_io
from vpbench.runtime.rule_logging import redirect_to_log
from vpbench.study.loader import study_of

study = study_of(snakemake)  # noqa: F821
redirect_to_log(snakemake.log[0])  # noqa: F821
cells = pd.read_parquet(snakemake.input.cells)  # noqa: F821
finished = {cell_id(row) for row in cells.to_dict("records")}  # failed cells are not in the cells table
folders = {cell_id(parse_cell_dir(d)): Path(d) for d in snakemake.params.cell_dirs}  # noqa: F821
predictions = LazyPredictions({k: v for k, v in folders.items() if k in finished}, load_test_predictions)
tables = study_statistics(
    cells,
    predictions,
    correction=snakemake.params.correction,  # noqa: F821
    alpha=float(snakemake.params.alpha),  # noqa: F821
    n_resamples=int(snakemake.params.resamples),  # noqa: F821
)
for name, frame in tables.items():
    atomic_io.write_parquet(Path(getattr(snakemake.output, name)), frame)  # noqa: F821
    print(f"{name}: {len(frame)} rows")
