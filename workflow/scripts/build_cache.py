"""Snakemake adapter: decode and resize one (dataset, split) once into a uint8 cache."""

import sys
from pathlib import Path

# Make the package importable without installation (e.g. in a `--sdm conda` environment).
sys.path.insert(0, str(Path(snakemake.scriptdir).parents[1] / "src"))  # noqa: F821

import json

from vpbench.data import build_cache
from vpbench.runtime.rule_logging import redirect_to_log
from vpbench.study.loader import study_of

study = study_of(snakemake)  # noqa: F821  (registers plugin and user-checkpoint entries)
redirect_to_log(snakemake.log[0])  # noqa: F821
acquired = json.loads(Path(snakemake.input[0]).read_text())  # noqa: F821
build_cache(
    snakemake.wildcards.dataset,  # noqa: F821
    snakemake.wildcards.split,  # noqa: F821
    Path(acquired["root"]),
    Path(snakemake.output.manifest).parent,  # noqa: F821
    input_size=int(snakemake.wildcards.size),  # noqa: F821
    resize=snakemake.wildcards.resize,  # noqa: F821
)
