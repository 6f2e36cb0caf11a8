"""Snakemake adapter: write one model variant (and its card) from verified weights."""

import sys
from pathlib import Path

# Make the package importable without installation (e.g. in a `--sdm conda` environment).
sys.path.insert(0, str(Path(snakemake.scriptdir).parents[1] / "src"))  # noqa: F821

import json

from vpbench.compression.variant_store import materialize_variant
from vpbench.runtime.numerics import apply_threads
from vpbench.runtime.rule_logging import redirect_to_log
from vpbench.study.loader import study_of

study = study_of(snakemake)  # noqa: F821
redirect_to_log(snakemake.log[0])  # noqa: F821
apply_threads(study.cpu_threads, snakemake.threads, "cpu")  # noqa: F821  (calibration runs on the CPU)
variant = study.variant(snakemake.wildcards.model, snakemake.wildcards.variant)  # noqa: F821
materialize_variant(
    model=variant.model,
    variant=variant.name,
    spec=variant.canonical(),
    weights_path=Path(json.loads(Path(snakemake.input[0]).read_text())["path"]),  # noqa: F821
    out_dir=Path(snakemake.output[0]).parent,  # noqa: F821
    canvas=int(snakemake.params.canvas),  # noqa: F821
)
