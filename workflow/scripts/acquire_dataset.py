"""Snakemake adapter: make sure one dataset's raw files are present (pre-staged or downloaded)."""

import sys
from pathlib import Path

# Make the package importable without installation (e.g. in a `--sdm conda` environment).
sys.path.insert(0, str(Path(snakemake.scriptdir).parents[1] / "src"))  # noqa: F821


import numpy as np

from vpbench.data import acquire, read_labels
from vpbench.runtime import atomic_io
from vpbench.runtime.rule_logging import redirect_to_log
from vpbench.study.loader import study_of

study = study_of(snakemake)  # noqa: F821  (registers plugin and user-checkpoint entries)
redirect_to_log(snakemake.log[0])  # noqa: F821
dataset = snakemake.wildcards.dataset  # noqa: F821
root = Path(study.dataset_root(dataset))
acquire(dataset, root, download=study.download)
# class sizes let later plans check N-shots against the smallest class without reading the data again
counts = np.bincount(read_labels(dataset, "train", root)).tolist()
record = {"dataset": dataset, "root": str(root), "train_class_counts": counts}
atomic_io.write_json(snakemake.output[0], record)  # noqa: F821
