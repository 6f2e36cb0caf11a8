"""Snakemake adapter: choose and store the N-shot training indices of one (dataset, N, seed)."""

import sys
from pathlib import Path

# Make the package importable without installation (e.g. in a `--sdm conda` environment).
sys.path.insert(0, str(Path(snakemake.scriptdir).parents[1] / "src"))  # noqa: F821


import numpy as np

from vpbench.data import load_cache, write_split
from vpbench.errors import ConfigError
from vpbench.runtime.rule_logging import redirect_to_log
from vpbench.study.environment import shots_problem
from vpbench.study.loader import study_of

study = study_of(snakemake)  # noqa: F821  (registers plugin and user-checkpoint entries)
redirect_to_log(snakemake.log[0])  # noqa: F821
wildcards = snakemake.wildcards  # noqa: F821
train = load_cache(Path(snakemake.input.manifest).parent, verify=True)  # noqa: F821
if study.shots_above_class_size == "refuse" and wildcards.shots != "full":  # unknown when it was planned
    problem = shots_problem(wildcards.dataset, np.bincount(train.labels), [wildcards.shots])
    if problem:
        raise ConfigError(problem + "; shots_above_class_size is refuse")
write_split(
    Path(snakemake.output[0]),  # noqa: F821
    wildcards.dataset,
    None if wildcards.shots == "full" else int(wildcards.shots),
    int(wildcards.seed),
    train.labels,
    paper_compat=wildcards.mode == "paper",
)
