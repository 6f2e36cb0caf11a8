"""Snakemake adapter: a model variant's penultimate features of one dataset split, computed once."""

import sys
from pathlib import Path

# Make the package importable without installation (e.g. in a `--sdm conda` environment).
sys.path.insert(0, str(Path(snakemake.scriptdir).parents[1] / "src"))  # noqa: F821

import torch

from vpbench.engine.linear_probe import build_feature_file
from vpbench.engine.settings import resolve_device
from vpbench.runtime.rule_logging import redirect_to_log
from vpbench.study.loader import study_of

study = study_of(snakemake)  # noqa: F821  (registers plugin and user-checkpoint entries)
redirect_to_log(snakemake.log[0])  # noqa: F821
torch.set_num_threads(snakemake.threads)  # noqa: F821
build_feature_file(
    variant_dir=Path(snakemake.input.card).parent,  # noqa: F821
    cache_dir=Path(snakemake.input.cache).parent,  # noqa: F821
    size=int(snakemake.params.size),  # noqa: F821
    out_path=Path(snakemake.output.features),  # noqa: F821
    device=resolve_device(snakemake.params.device),  # noqa: F821
)
