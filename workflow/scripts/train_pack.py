"""Snakemake adapter: train a pack of few-shot cells of one (model variant, dataset) in one process."""

import sys
from pathlib import Path

# Make the package importable without installation (e.g. in a `--sdm conda` environment).
sys.path.insert(0, str(Path(snakemake.scriptdir).parents[1] / "src"))  # noqa: F821

import torch

from vpbench.engine.cell import CellPaths, run_pack
from vpbench.runtime import atomic_io
from vpbench.runtime.rule_logging import redirect_to_log
from vpbench.study.grid import CHECKPOINT_DIR, Cell

redirect_to_log(snakemake.log[0])  # noqa: F821
torch.set_num_threads(snakemake.threads)  # noqa: F821
cells = [Cell(**fields) for fields in snakemake.params.cells]  # noqa: F821
extras = {
    name: Path(path)
    for name, path in snakemake.input.items()  # noqa: F821
    if name not in ("card", "train", "test", "splits")
}
paths = [
    CellPaths(Path(split), Path(cell.directory), Path(CHECKPOINT_DIR.format(**cell.__dict__)), extras)
    for cell, split in zip(cells, snakemake.input.splits, strict=True)  # noqa: F821
]
rows = run_pack(
    config=snakemake.config,  # noqa: F821
    cells=cells,
    paths=paths,
    variant_dir=Path(snakemake.input.card).parent,  # noqa: F821
    train_cache=Path(snakemake.input.train).parent,  # noqa: F821
    test_cache=Path(snakemake.input.test).parent,  # noqa: F821
    skip_complete=True,
)
atomic_io.write_json(
    snakemake.output[0],  # noqa: F821
    {
        "cells": [c.directory for c in cells],
        "trained": [c.directory for c, r in zip(cells, rows, strict=True) if r],
    },
)
