"""What a training job's script needs from its ``snakemake`` object: the study, its cell(s), the paths.

Keeps the workflow scripts to a few lines: the typed study is rebuilt from the job's config (plugins
included, so entries they register exist in this process too), the thread count is applied, and the
declared inputs become the arguments of :func:`vpbench.engine.cell.run_cell` / ``run_pack``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vpbench.engine.cell import CellPaths
from vpbench.study import paths
from vpbench.study.grid import Cell
from vpbench.study.loader import study_of
from vpbench.study.spec import Study

SHARED_INPUTS = ("card", "train", "test", "split", "splits")


@dataclass(frozen=True)
class JobInputs:
    """The declared inputs of a training job."""

    card: Path
    train: Path
    test: Path
    splits: list[Path]
    extras: dict[str, Path]

    def _common(self) -> dict[str, Any]:
        return {
            "variant_dir": self.card.parent,
            "train_cache": self.train.parent,
            "test_cache": self.test.parent,
        }

    def cell_arguments(self, cell: Cell) -> dict[str, Any]:
        """Keyword arguments of ``run_cell`` for ``cell``."""
        return {
            **self._common(),
            "split_path": self.splits[0],
            "out_dir": Path(paths.cell_dir(cell)),
            "checkpoint_dir": Path(paths.checkpoint_dir(cell)),
            "extra_inputs": self.extras,
        }

    def pack_arguments(self, cells: list[Cell]) -> dict[str, Any]:
        """Keyword arguments of ``run_pack`` for ``cells`` (in the order of the declared splits)."""
        where = [
            CellPaths(split, Path(paths.cell_dir(c)), Path(paths.checkpoint_dir(c)), self.extras)
            for c, split in zip(cells, self.splits, strict=True)
        ]
        return {**self._common(), "paths": where}


def job_context(snakemake: Any, pack: bool = False) -> tuple[Study, Any, JobInputs]:
    """(study, cell or pack members, inputs) of a ``train_cell`` / ``train_pack`` job."""
    from vpbench.engine.settings import resolve_device
    from vpbench.runtime.numerics import apply_threads
    from vpbench.study import dag

    study = study_of(snakemake)
    apply_threads(study.cpu_threads, int(snakemake.threads), resolve_device(study.device).type)
    wildcards = dict(snakemake.wildcards.items())
    inputs = dict(snakemake.input.items())
    splits = inputs["splits"] if pack else [inputs["split"]]
    job_inputs = JobInputs(
        card=Path(inputs["card"]),
        train=Path(inputs["train"]),
        test=Path(inputs["test"]),
        splits=[Path(s) for s in ([splits] if isinstance(splits, str) else splits)],
        extras={k: Path(v) for k, v in inputs.items() if k not in SHARED_INPUTS},
    )
    if pack:
        return study, dag.pack_cells(study, wildcards), job_inputs
    return study, dag.cell_of(study, wildcards), job_inputs
