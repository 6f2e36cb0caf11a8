"""Snakemake adapter: train and evaluate one cell, writing all of its outputs or none."""

import sys
from pathlib import Path

# Make the package importable without installation (e.g. in a `--sdm conda` environment).
sys.path.insert(0, str(Path(snakemake.scriptdir).parents[1] / "src"))  # noqa: F821


import torch

from vpbench.engine.cell import run_cell
from vpbench.runtime.rule_logging import redirect_to_log
from vpbench.study.grid import Cell

redirect_to_log(snakemake.log[0])  # noqa: F821
torch.set_num_threads(snakemake.threads)  # noqa: F821
w = snakemake.wildcards  # noqa: F821
cell = Cell(w.study, w.dataset, w.model, w.variant, w.method, w.shots, int(w.seed))
run_cell(
    config=snakemake.config,  # noqa: F821
    cell=cell,
    variant_dir=Path(snakemake.input.card).parent,  # noqa: F821
    train_cache=Path(snakemake.input.train).parent,  # noqa: F821
    test_cache=Path(snakemake.input.test).parent,  # noqa: F821
    split_path=Path(snakemake.input.split),  # noqa: F821
    out_dir=Path(snakemake.params.cell_dir),  # noqa: F821
    checkpoint_dir=Path(snakemake.params.checkpoint_dir),  # noqa: F821
    extra_inputs={
        name: Path(path)
        for name, path in snakemake.input.items()  # noqa: F821
        if name not in ("card", "train", "test", "split")
    },
)
