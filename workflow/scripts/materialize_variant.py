"""Snakemake adapter: write one model variant (and its card) from verified registry weights."""

import sys
from pathlib import Path

# Make the package importable without installation (e.g. in a `--sdm conda` environment).
sys.path.insert(0, str(Path(snakemake.scriptdir).parents[1] / "src"))  # noqa: F821

import json

from vpbench.compression.variant_store import materialize_variant
from vpbench.runtime.rule_logging import redirect_to_log

redirect_to_log(snakemake.log[0])  # noqa: F821
acquired = json.loads(Path(snakemake.input[0]).read_text())  # noqa: F821
materialize_variant(
    model=snakemake.wildcards.model,  # noqa: F821
    variant=snakemake.wildcards.variant,  # noqa: F821
    spec=dict(snakemake.params.spec),  # noqa: F821
    weights_path=Path(acquired["path"]),
    out_dir=Path(snakemake.output[0]).parent,  # noqa: F821
    canvas=int(snakemake.params.canvas),  # noqa: F821
)
