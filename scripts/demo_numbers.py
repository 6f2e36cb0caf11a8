"""Print the demo numbers the README quotes, and the machine that produced them.

Run after ``make demo`` (or ``snakemake --cores 2``): ``.venv/bin/python scripts/demo_numbers.py``.
Reads ``results/demo/tables/cells.parquet`` and one cell's ``cell.json`` (its ``runtime`` record).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pandas as pd

RESULTS = Path("results/demo")


def main() -> int:
    """Print ILM-VP 10-shot accuracy per dataset and variant, the cross-modal cell, and the machine."""
    cells = pd.read_parquet(RESULTS / "tables" / "cells.parquet")
    shots = cells["shots"].astype(str)
    ilm = cells[(cells["method"] == "ilm") & (shots == "10")]
    table = ilm.pivot_table(index="dataset", columns="variant", values="accuracy", aggfunc="mean")
    print("ILM-VP, 10 shots, accuracy (%):")
    print((100 * table).round(1).to_string())
    for row in cells[cells["method"] == "cmr"].itertuples():
        print(f"cross-modal ({row.dataset}, {row.variant}, {row.shots} shot): {100 * row.accuracy:.1f}%")
    runtime = json.loads(next((RESULTS / "cells").rglob("cell.json")).read_text())["runtime"]
    threads = sorted(set(cells["torch_threads"])) if "torch_threads" in cells else "?"
    cpu = runtime.get("cpu_model", runtime.get("device_name"))
    kernels = runtime.get("cpu_capability", "?")
    print(
        f"machine: {cpu} ({runtime.get('machine', '')}, {kernels} kernels), device {runtime['device']}, "
        f"torch threads {threads}, torch {runtime['versions']['torch']}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
