"""The end of a run: if any cell failed, say which, where its log is and why, and remove its failure
record so that the next run retries it (a failure is visible, never cached)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from vpbench.errors import VpbenchError
from vpbench.runtime import atomic_io
from vpbench.study import paths
from vpbench.study.grid import IDENTIFIERS


class FailedCellsError(VpbenchError):
    """Some cells of the study failed; the message lists them."""


def finish_study(missing_csv: str | Path, out: str | Path, cell_files: tuple[str, ...]) -> dict:
    """Write ``out`` (a status record) when every cell succeeded; else remove the failure records of the
    failed cells (and their checkpoints) and the aggregation's ``missing.csv`` so that the next run
    retries them, and raise :class:`FailedCellsError` naming each one with its rule, log and reason."""
    missing = pd.read_csv(missing_csv, dtype={"shots": str}, keep_default_na=False)
    if missing.empty:
        status = {"status": "complete", "failed": []}
        atomic_io.write_json(out, status)
        return status
    lines = []
    for _, row in missing.iterrows():
        folder = Path(str(row["cell_dir"]))
        for name in cell_files:
            (folder / name).unlink(missing_ok=True)
        ids = {k: row[k] for k in IDENTIFIERS}
        checkpoint = Path(paths.CHECKPOINT_DIR.format(**ids))
        for stale in checkpoint.glob("*") if checkpoint.is_dir() else []:
            stale.unlink(missing_ok=True)
        lines.append(f"{folder} [{row['rule'] or 'rule?'}, log {row['log'] or '?'}]: {row['reason']}")
    # Snakemake regenerates a missing intermediate file only when something downstream needs it: without
    # its missing.csv the aggregation is incomplete, so the next run retrains these cells and re-aggregates.
    Path(missing_csv).unlink()
    raise FailedCellsError(
        f"{len(lines)} cell(s) failed; tables, figures and the report were built without them. Their failure "
        "records were removed, so the next `snakemake` run retries exactly these cells:\n  "
        + "\n  ".join(lines)
    )
