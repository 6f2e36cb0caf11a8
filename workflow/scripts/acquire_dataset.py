"""Snakemake adapter: make sure one dataset's raw files are present (pre-staged or downloaded)."""

import sys
from pathlib import Path

# Make the package importable without installation (e.g. in a `--sdm conda` environment).
sys.path.insert(0, str(Path(snakemake.scriptdir).parents[1] / "src"))  # noqa: F821


from vpbench.data import acquire
from vpbench.runtime import atomic_io
from vpbench.runtime.rule_logging import redirect_to_log
from vpbench.study.loader import study_of

study = study_of(snakemake)  # noqa: F821  (registers plugin and user-checkpoint entries)
redirect_to_log(snakemake.log[0])  # noqa: F821
dataset = snakemake.wildcards.dataset  # noqa: F821
root = Path(snakemake.params.root)  # noqa: F821
acquire(dataset, root, download=snakemake.params.download)  # noqa: F821
atomic_io.write_json(snakemake.output[0], {"dataset": dataset, "root": str(root)})  # noqa: F821
