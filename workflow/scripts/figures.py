"""Snakemake adapter: render every planned figure of the study from its aggregated tables."""

import sys
from pathlib import Path

# Make the package importable without installation (e.g. in a `--sdm conda` environment).
sys.path.insert(0, str(Path(snakemake.scriptdir).parents[1] / "src"))  # noqa: F821


import matplotlib

matplotlib.use("Agg")

import pandas as pd

from vpbench.results.figures.render import render_study_figures
from vpbench.runtime.rule_logging import redirect_to_log
from vpbench.study.loader import study_of

study = study_of(snakemake)  # noqa: F821  (registers plugin entries: methods, figure kinds, …)
redirect_to_log(snakemake.log[0])  # noqa: F821


def read(path: str) -> pd.DataFrame:
    if path.endswith(".csv"):
        return pd.read_csv(path, dtype={"shots": str}, keep_default_na=False, na_values=[""])
    return pd.read_parquet(path)


frames = {name: read(path) for name, path in snakemake.input.items()}  # noqa: F821
render_study_figures(
    frames,
    Path(snakemake.output[0]).parents[1],  # noqa: F821  (<figures>/<category>/<name>.svg)
    plan=snakemake.params.plan,  # noqa: F821
    options=snakemake.params.options,  # noqa: F821
)
