"""Aggregated tables for any planned study, synthesised from its cell plan: every planned cell finished.

Used to render a study's own figure plan (the demo's) without training anything: each planned cell gets a
metrics row, per-class rows, epochs, test predictions (so reliability bins and the stats rule's tables are
real computations) and each variant a model-table row.
"""

from __future__ import annotations

import zlib

import numpy as np
import pandas as pd

from tests.results.figures.synthetic_study import models_table
from vpbench import metrics
from vpbench.results.plan import PLAN_COLUMNS
from vpbench.results.stats import cell_id
from vpbench.results.stats.study import study_statistics
from vpbench.study.grid import IDENTIFIERS

N_TEST = 60
EPOCHS = 3


def _rng(*key: object) -> np.random.Generator:
    return np.random.default_rng(zlib.crc32(repr(key).encode()))


def frames_for_plan(plan: pd.DataFrame, *, n_resamples: int = 100) -> dict[str, pd.DataFrame]:
    """Aggregated tables (cells, epochs, classes, reliability, missing, models, comparisons, intervals) in
    which every cell of ``plan`` (``vpbench.results.plan.PLAN_COLUMNS``) finished."""
    from vpbench.data import DATASETS

    cells, epochs, classes, bins, predictions = [], [], [], [], {}
    for row in plan[list(PLAN_COLUMNS)].to_dict("records"):
        ids = {k: row[k] for k in IDENTIFIERS}
        rng = _rng(*ids.values())
        n_classes = DATASETS[row["dataset"]].num_classes if row["dataset"] in DATASETS else 4
        penalty = 0.0 if row["is_dense"] else 0.1
        accuracy = float(np.clip(0.7 - penalty + rng.normal(0, 0.03), 0.05, 0.99))
        labels = _rng("labels", row["dataset"]).integers(0, n_classes, N_TEST)
        correct = rng.random(N_TEST) < accuracy
        predicted = np.where(correct, labels, (labels + 1) % n_classes)
        confidence = rng.uniform(1 / n_classes + 0.05, 0.99, N_TEST)
        probs = np.tile(((1 - confidence) / (n_classes - 1))[:, None], (1, n_classes))
        probs[np.arange(N_TEST), predicted] = confidence
        predictions[cell_id(ids)] = (probs, labels)
        values = metrics.compute_metrics(np.log(probs), labels)
        bits = 4.0 if row["compression_kind"] == "quantized" else np.nan
        cells.append(
            ids
            | {k: row[k] for k in ("is_dense", "family", "compression", "compression_kind", "published_top1")}
            | {
                "family_label": row["family"],
                "compression_level": 0.0 if row["is_dense"] else 0.5,
                "compression_label": "dense" if row["is_dense"] else row["variant"],
                "sparsity": 0.5 if row["compression_kind"] == "sparse" else 0.0,
                "weight_bits": bits,
                "num_classes": n_classes,
                "shots_num": 100.0 if row["shots"] == "full" else float(row["shots"]),
                "accuracy": float(correct.mean()),
                "ece": float(values.get("ece", rng.uniform(0.02, 0.2))),
                "adaptive_ece": float(rng.uniform(0.02, 0.2)),
                "classwise_ece": float(rng.uniform(0.01, 0.1)),
                "mean_conf_correct": float(rng.uniform(0.5, 0.9)),
                "kl_uniform_wrong": float(rng.uniform(0.1, 1.0)),
                "kl_uniform_wrong_paper_compat": float(rng.uniform(0.1, 1.0)),
                "ece_paper_compat": float(rng.uniform(0.001, 0.01)),
                "epochs": EPOCHS,
                "batch_size": 8,
                "lr": 0.01,
            }
        )
        for epoch in range(EPOCHS):
            epochs.append(
                ids
                | {"epoch": epoch, "train_loss": 2.0 / (epoch + 1) + penalty,
                   "prompt_dense_l2": np.nan if row["is_dense"] else 0.1 * (epoch + 1)}
            )  # fmt: skip
        for index in range(n_classes):
            source = index if row["is_dense"] or index % 2 == 0 else index + 100
            classes.append(
                ids
                | {"class_index": index, "class_name": f"class {index}", "source_index": source,
                   "source_name": f"source {source}", "accuracy": float(rng.uniform(0.2, 1.0)), "count": 10}
            )  # fmt: skip
        table = pd.DataFrame(metrics.reliability_bins(probs, labels))
        bins.append(table.assign(bin=range(len(table)), **ids))
    frames = {
        "cells": pd.DataFrame(cells).astype({"seed": "int64"}),
        "epochs": pd.DataFrame(epochs),
        "classes": pd.DataFrame(classes),
        "reliability": pd.concat(bins, ignore_index=True),
        "missing": pd.DataFrame(columns=[*IDENTIFIERS, "cell_dir", "file", "reason", "rule", "log"]),
    }
    frames["models"] = models_table(frames["cells"])
    return frames | study_statistics(frames["cells"], predictions, n_resamples=n_resamples)
