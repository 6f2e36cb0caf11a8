"""The priced grid as a report (text, CSV, HTML), predicted next to measured, and the ``price`` command.

    python -m vpbench.cluster price --configfile studies/paper.yaml [--throughput T.json] [--device KEY]
                                    [--assume-gpu A100:312:0.2] [--benchmarks logs/benchmarks] [--csv F]

After a run, :func:`read_benchmarks` and :func:`compare` put the prediction next to Snakemake's
benchmark files (``logs/benchmarks/train_cell/**.tsv``, ``train_pack/**.tsv``, column ``s``).
"""

from __future__ import annotations

import argparse
import csv
import html
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from vpbench.cluster.pricing import PricedGrid, price_study
from vpbench.cluster.throughput import MEASURED_TABLES, ThroughputTable, assumed_gpu_table
from vpbench.study.spec import Study


def _benchmark_seconds(path: Path) -> float:
    """Mean wall seconds (column ``s``) of a Snakemake benchmark TSV."""
    with path.open(newline="", encoding="utf-8") as handle:
        values = [float(row["s"]) for row in csv.DictReader(handle, delimiter="\t") if row.get("s")]
    if not values:
        raise ValueError(f"{path}: no 's' values")
    return sum(values) / len(values)


def read_benchmarks(root: str | Path, study: str) -> dict[tuple[str, str], float]:
    """Actual seconds per (rule, job name) from ``<root>/train_cell/<study>/**.tsv`` and ``train_pack``:
    a cell's label, a pack's id (the names :func:`vpbench.cluster.pricing.price_study` gives its jobs)."""
    root = Path(root)
    found = {}
    for path in sorted((root / "train_cell" / study).glob("*/*/*/*/*shot/seed*.tsv")):
        dataset, model, variant, method, shots, seed = path.relative_to(root / "train_cell" / study).parts
        name = f"{dataset}/{model}/{variant}/{method}/{shots}/{seed.removesuffix('.tsv')}"
        found[("train_cell", name)] = _benchmark_seconds(path)
    for path in sorted((root / "train_pack" / study).glob("*/*/*/*/seed*.tsv")):
        name = str(path.relative_to(root / "train_pack" / study).with_suffix(""))
        found[("train_pack", name)] = _benchmark_seconds(path)
    return found


def compare(priced: PricedGrid, actual: Mapping[tuple[str, str], float]) -> list[dict[str, Any]]:
    """Predicted next to measured seconds for every job that has a benchmark file."""
    rows = []
    for job in priced.jobs:
        seconds = actual.get((job.rule, job.name))
        if seconds is None:
            continue
        rows.append(
            {
                "rule": job.rule,
                "job": job.name,
                "family": job.family,
                "predicted_s": job.seconds,
                "actual_s": seconds,
                "actual_over_predicted": None if not job.seconds else seconds / job.seconds,
            }
        )
    return rows


def calibration(rows: Iterable[Mapping[str, Any]]) -> float | None:
    """Median actual/predicted ratio: multiply predictions by it to calibrate the table to a cluster."""
    ratios = sorted(r["actual_over_predicted"] for r in rows if r.get("actual_over_predicted"))
    if not ratios:
        return None
    middle = len(ratios) // 2
    return ratios[middle] if len(ratios) % 2 else (ratios[middle - 1] + ratios[middle]) / 2


def family_table(priced: PricedGrid) -> list[dict[str, Any]]:
    """The priced grid as rows (one per model family, then a total row), for CSV/HTML and the report."""
    rows = [dict(r) for r in priced.by_family()]
    rows.append(
        {
            "family": "total",
            "arch": "",
            "cells": priced.cells,
            "cell_jobs": sum(r["cell_jobs"] for r in rows),
            "pack_jobs": sum(r["pack_jobs"] for r in rows),
            "gpu_hours": priced.gpu_hours,
            "longest_job_h": max((r["longest_job_h"] for r in rows), default=0.0),
            "unpriced_jobs": len(priced.unpriced),
        }
    )
    return rows


def render(priced: PricedGrid, path: str | Path | None = None, fmt: str | None = None) -> str:
    """The family table as CSV or HTML (by ``fmt`` or the file suffix); written to ``path`` if given.
    The HTML names the device and whether its numbers were measured on a CPU or assumed."""
    import pandas as pd

    fmt = fmt or (Path(path).suffix.lstrip(".") if path else "csv")
    frame = pd.DataFrame(family_table(priced))
    frame["gpu_hours"] = frame["gpu_hours"].round(1)
    frame["longest_job_h"] = frame["longest_job_h"].round(2)
    if fmt == "csv":
        text = frame.to_csv(index=False)
    elif fmt == "html":
        label = priced.device_info.get("label") or priced.device_info.get("name", "")
        caption = (
            f"Study {priced.study}: {priced.cells} cells, {len(priced.jobs)} SLURM training jobs, "
            f"priced on {priced.device} ({label})"
        )
        table = frame.to_html(index=False, border=0, classes="priced-grid")
        opening = table.index(">") + 1  # after <table ...>
        text = f"{table[:opening]}\n  <caption>{html.escape(caption)}</caption>{table[opening:]}"
    else:
        raise ValueError(f"unknown format {fmt!r}; allowed: csv, html")
    if path:
        Path(path).write_text(text, encoding="utf-8")
    return text


def write_priced_grid(
    study: Study,
    path: str | Path,
    throughput: str | Path | None = None,
    device: str | None = None,
) -> PricedGrid:
    """For the report: price ``study`` (the CPU fallback unless ``throughput`` names a table) and write
    the family table to ``path`` (``.html`` or ``.csv``)."""
    table = ThroughputTable.load(throughput) if throughput else ThroughputTable.load()
    priced = price_study(study, table, device=device)
    render(priced, path)
    return priced


def summary(priced: PricedGrid) -> str:
    """A plain-text report: counts, a markdown family table, the longest jobs."""
    info = priced.device_info
    lines = [
        f"study {priced.study}: {priced.cells} cells -> {len(priced.jobs)} SLURM training jobs "
        f"({sum(j.rule == 'train_cell' for j in priced.jobs)} train_cell, "
        f"{sum(j.rule == 'train_pack' for j in priced.jobs)} train_pack)",
        f"device {priced.device}: {info.get('label') or info.get('name', '')}; packs priced "
        + ("in lockstep" if priced.lockstep else "one member after another, one start-up per pack"),
        "",
        "| family | arch | cells | cell jobs | pack jobs | GPU-hours | longest job (h) |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in family_table(priced):
        unpriced = f" (+{r['unpriced_jobs']} jobs unpriced)" if r["unpriced_jobs"] else ""
        lines.append(
            f"| {r['family']} | {r['arch'] or ''} | {r['cells']} | {r['cell_jobs']} | {r['pack_jobs']} | "
            f"{r['gpu_hours']:,.1f}{unpriced} | {r['longest_job_h']:.2f} |"
        )
    for rule in ("train_cell", "train_pack"):
        job = priced.longest(rule)
        if job:
            lines.append(
                f"longest {rule}: {job.name} {job.hours:.2f} h" + (f" ({job.note})" if job.note else "")
            )
    if priced.unpriced:
        missing = sorted({j.note for j in priced.unpriced})
        lines.append(f"unpriced: {len(priced.unpriced)} jobs ({'; '.join(missing)})")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m vpbench.cluster price", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--configfile", required=True, type=Path, help="the study YAML")
    parser.add_argument(
        "--throughput",
        type=Path,
        action="append",
        help="throughput table(s) from benchmarks/throughput.py (default: the committed CPU and H100 tables)",
    )
    parser.add_argument("--device", help="device key in the table (default: a measured GPU, else the CPU)")
    parser.add_argument(
        "--assume-gpu",
        metavar="NAME:PEAK_TFLOPS:MFU",
        help="price on a FLOP-derived table for an unmeasured GPU, e.g. A100:312:0.3",
    )
    parser.add_argument("--overhead-s", type=float, default=60.0, help="seconds added to every SLURM job")
    parser.add_argument(
        "--benchmarks", type=Path, help="compare with Snakemake benchmark TSVs under this folder"
    )
    parser.add_argument("--csv", type=Path, help="write the family table as CSV")
    parser.add_argument("--html", type=Path, help="write the family table as HTML")
    args = parser.parse_args(argv)

    from vpbench.cluster.cli import load_study_file

    study = load_study_file(args.configfile)
    table = ThroughputTable()
    for path in args.throughput or MEASURED_TABLES:
        table = table.merge(ThroughputTable.load(path))
    device = args.device
    if args.assume_gpu:
        name, peak, mfu = args.assume_gpu.split(":")
        assumed = assumed_gpu_table(table, name, float(peak), float(mfu))
        table, device = table.merge(assumed), f"assumed-{name}"
    priced = price_study(study, table, device=device, overhead_s=args.overhead_s)
    print(summary(priced))
    if args.csv:
        render(priced, args.csv)
    if args.html:
        render(priced, args.html)
    if args.benchmarks:
        rows = compare(priced, read_benchmarks(args.benchmarks, priced.study))
        factor = calibration(rows)
        print(f"\npredicted vs actual ({len(rows)} jobs with benchmark files)")
        print("| rule | job | predicted (s) | actual (s) | actual/predicted |\n|---|---|---|---|---|")
        for r in rows:
            ratio = "" if r["actual_over_predicted"] is None else f"{r['actual_over_predicted']:.2f}"
            predicted = "?" if r["predicted_s"] is None else f"{r['predicted_s']:.1f}"
            print(f"| {r['rule']} | {r['job']} | {predicted} | {r['actual_s']:.1f} | {ratio} |")
        if factor:
            print(
                f"median actual/predicted: {factor:.2f} "
                "(calibrates this table to the machine that ran the cells)"
            )
    return 0
