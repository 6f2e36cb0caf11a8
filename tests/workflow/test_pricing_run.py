"""Predicted next to measured: the tiny study's real run (its Snakemake benchmark files) against its price."""

from __future__ import annotations

import copy
import math
from pathlib import Path

from vpbench.cluster import price_report, pricing
from vpbench.study.loader import load_study

from .support import Study


def test_the_tiny_runs_benchmark_files_sit_next_to_their_prediction(tiny_local_run: Path, tiny_study: Study):
    actual = price_report.read_benchmarks(tiny_local_run / "logs" / "benchmarks", tiny_study.config["study"])
    assert {name for _, name in actual} == {cell.label for cell in tiny_study.cells}
    study = load_study(copy.deepcopy(tiny_study.config))
    priced = pricing.price_study(study, overhead_s=5.0)  # the CPU fallback table
    rows = price_report.compare(priced, actual)
    assert len(rows) == len(tiny_study.cells)
    for row in rows:
        assert row["actual_s"] > 0 and row["predicted_s"] > 0 and math.isfinite(row["actual_over_predicted"])
    assert price_report.calibration(rows) > 0
    html = price_report.render(priced, fmt="html")
    assert "cpu-x86_64-1t" in html and "CPU fallback" in html
