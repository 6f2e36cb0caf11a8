"""Paths and small types shared by the workflow tests and their fixtures (kept out of conftest.py so that
test modules can import them)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from vpbench.study.grid import Cell

REPO_ROOT = Path(__file__).resolve().parents[2]
SNAKEFILE = REPO_ROOT / "Snakefile"
TINY_STUDY = REPO_ROOT / "tests" / "data" / "studies" / "tiny.yaml"
ARTIFACTS_DIR = REPO_ROOT / "test-artifacts"  # git-ignored; CI uploads it
OUTPUT_TAIL_CHARS = 6000


@dataclass(frozen=True)
class Study:
    """A study file, its parsed config and the cells it expands to."""

    path: Path
    config: dict
    cells: list[Cell]


@dataclass(frozen=True)
class SlurmCluster:
    """The running local cluster: what a job must request to land on it."""

    partition: str
    gpu_type: str


def output_tail(text: str) -> str:
    """The end of a long command output, enough to see why it failed."""
    return text if len(text) <= OUTPUT_TAIL_CHARS else "…" + text[-OUTPUT_TAIL_CHARS:]
