"""Synthetic aggregated tables (and cell folders) in the exact docs/SCHEMA.md layout, for figure/table tests.

The study has image models with pruning and quantization variants (1–3 seeds), CLIP for Table 2 (one variant
missing), cross-modal cells for Tables 3–4, and deliberately missing cells.
"""

from __future__ import annotations

import zlib
from pathlib import Path

import numpy as np
import pandas as pd

from vpbench.results.aggregate import cell_path
from vpbench.runtime import atomic_io

STUDY = "synth"
EPOCHS = 4
# model → [(variant, is_dense, compression, level, label, weight_bits, penalty)]
IMAGE_VARIANTS = {
    "resnet18": [
        ("dense", True, "none", 0.0, "dense", np.nan, 0.00),
        ("gmp50", False, "gmp", 0.5, "50% sparse", np.nan, 0.05),
        ("gmp90", False, "gmp", 0.9, "90% sparse", np.nan, 0.20),
    ],
    "deit_tiny": [
        ("dense", True, "none", 32.0, "32-bit", np.nan, 0.00),
        ("w4a4", False, "vvtq", 4.0, "W4A4", 4.0, 0.02),
        ("w2a2", False, "vvtq", 2.0, "W2A2", 2.0, 0.12),
    ],
}
CLIP_VARIANTS = [
    ("dense", True, "none", 0.0, "dense", np.nan, 0.0),
    ("upop2x", False, "upop", 2.0, "UPop 2×", np.nan, 0.1),
]
CMR_VARIANTS = {
    "resnet34": [
        ("dense", True, "none", 0.0, "dense", np.nan, 0.0),
        ("gmp", False, "gmp", 0.9, "sparse", np.nan, 0.08),
    ],
    "deit_tiny": [
        ("dense", True, "none", 32.0, "32-bit", np.nan, 0.0),
        ("w3a3", False, "vvtq", 3.0, "W3A3", 3.0, 0.01),
    ],
}
DATASETS = {"cifar10": 3, "oxford_pets": 4}
CLASS_NAMES = {
    "cifar10": ["airplane", "automobile", "bird"],
    "oxford_pets": ["Abyssinian", "Bombay", "Sphynx", "pug"],
    "yelp_polarity": ["negative", "positive"],
    "splice": ["EI", "IE", "N"],
}
SOURCE_NAMES = ["tench", "goldfish", "schipperke", "carton", "tub", "Mexican hairless", "chiffonier"]
SHOTS = ("1", "10", "full")
FULL_PER_CLASS = {"cifar10": 5000.0, "oxford_pets": 100.0, "yelp_polarity": 1000.0, "splice": 500.0}
# cells that were configured but never finished (dataset, model, variant, method, shots)
MISSING = {("oxford_pets", "resnet18", "gmp90", "flm", "10")}


def _rng(*key: object) -> np.random.Generator:
    """Deterministic generator per identifier tuple."""
    return np.random.default_rng(zlib.crc32(repr(key).encode()))


def _metrics_row(dataset, model, variant_spec, method, shots, seed, num_classes) -> dict:
    """One metrics.parquet row with every schema column."""
    variant, is_dense, compression, level, label, bits, penalty = variant_spec
    rng = _rng(dataset, model, variant, method, shots, seed)
    base = {"ilm": 0.8, "flm": 0.7, "bahng_vp": 0.85, "ilm_tp_vp": 0.86, "cmr": 0.9}[method]
    shots_num = FULL_PER_CLASS[dataset] if shots == "full" else float(shots)
    accuracy = float(np.clip(base - penalty - 0.2 / np.log2(shots_num + 2) + rng.normal(0, 0.02), 0, 1))
    log_c = float(np.log(num_classes))
    kl = float(rng.uniform(0.1, 0.9) * log_c)
    return {
        "study": STUDY,
        "dataset": dataset,
        "model": model,
        "variant": variant,
        "method": method,
        "shots": shots,
        "seed": seed,
        "shots_num": shots_num,
        "family": model,
        "compression": compression,
        "compression_level": level,
        "compression_label": label,
        "is_dense": is_dense,
        "sparsity": level if compression == "gmp" else 0.0,
        "remaining_pct_paper": 100 * (1 - level) if compression == "gmp" else 100.0,
        "weight_bits": bits,
        "act_bits": bits,
        "num_classes": num_classes,
        "train_size": int(shots_num * num_classes),
        "test_size": 50,
        "effective_shots": int(shots_num),
        "is_full": shots == "full",
        "accuracy": accuracy,
        "ece": float(rng.uniform(0.02, 0.2) + penalty / 2),
        "adaptive_ece": float(rng.uniform(0.02, 0.2)),
        "nll": float(rng.uniform(0.3, 1.5)),
        "brier": float(rng.uniform(0.1, 0.6)),
        "mean_confidence": float(rng.uniform(0.5, 0.9)),
        "mean_conf_correct": float(rng.uniform(0.6, 0.95)),
        "kl_uniform_wrong": kl,
        "kl_uniform_wrong_norm": kl / log_c,
        "temperature": float(rng.uniform(0.8, 1.5)),
        "ece_temperature_scaled": float(rng.uniform(0.01, 0.1)),
        "nll_temperature_scaled": float(rng.uniform(0.3, 1)),
        "ece_paper_compat": float(rng.uniform(1, 5)),
        "acc_best_logged_epoch": np.nan,
        "epochs": EPOCHS,
        "batch_size": {"1": 8, "10": 32, "full": 128}[shots],
        "lr": 0.01,
        "device": "cpu",
        "precision": "fp32",
        "wall_total_s": 1.0,
        "wall_load_s": 0.1,
        "wall_mapping_s": 0.1,
        "wall_train_s": 0.6,
        "wall_eval_s": 0.1,
        "wall_write_s": 0.1,
        "vpbench_version": "0.1.0",
    }


def _epoch_rows(ids: dict, penalty: float) -> list[dict]:
    """epochs.parquet rows: falling loss, growing prompt norm."""
    rng = _rng("epochs", *ids.values())
    rows = []
    for epoch in range(EPOCHS):
        rows.append(
            {
                **ids,
                "epoch": epoch,
                "train_loss": float(2.0 / (epoch + 1) + penalty + rng.uniform(0, 0.05)),
                "train_accuracy": float(0.3 + 0.1 * epoch),
                "lr": 0.01,
                "prompt_l2": float(1 + epoch),
                "prompt_step_l2": 1.0,
                "mapping_changes": int(epoch == 0),
                "eval_accuracy": np.nan,
                "wall_s": 0.1,
            }
        )
    return rows


def _class_rows(ids: dict, num_classes: int, dense: bool) -> list[dict]:
    """classes.parquet rows: compressed variants map some classes elsewhere."""
    rng = _rng("classes", *ids.values())
    names = CLASS_NAMES[ids["dataset"]]
    rows = []
    for index in range(num_classes):
        source = index if dense or index % 2 == 0 else (index + 3) % len(SOURCE_NAMES)
        rows.append(
            {
                **ids,
                "class_index": index,
                "class_name": names[index],
                "source_index": source,
                "source_name": SOURCE_NAMES[source],
                "accuracy": float(rng.uniform(0.2, 1.0)),
                "count": 10,
            }
        )
    return rows


def _add(frames: dict, dataset, model, spec, method, shots, seed, num_classes) -> None:
    """Append one cell to the frames."""
    row = _metrics_row(dataset, model, spec, method, shots, seed, num_classes)
    ids = {k: row[k] for k in ("study", "dataset", "model", "variant", "method", "shots", "seed")}
    frames["cells"].append(row)
    frames["epochs"].extend(_epoch_rows(ids, spec[-1]))
    frames["classes"].extend(_class_rows(ids, num_classes, spec[1]))


def make_study() -> dict[str, pd.DataFrame]:
    """Aggregated ``cells``/``epochs``/``classes`` frames of the synthetic study."""
    frames: dict[str, list] = {"cells": [], "epochs": [], "classes": []}
    for model, specs in IMAGE_VARIANTS.items():
        seeds = (1, 2, 3) if model == "resnet18" else (1,)
        for spec in specs:
            for dataset, num_classes in DATASETS.items():
                for method in ("ilm", "flm"):
                    for shots in SHOTS:
                        if (dataset, model, spec[0], method, shots) in MISSING:
                            continue
                        for seed in seeds:
                            _add(frames, dataset, model, spec, method, shots, seed, num_classes)
    for spec in CLIP_VARIANTS:
        for method in ("bahng_vp", "ilm_tp_vp"):
            for seed in (1, 2, 3):
                _add(frames, "cifar10", "clip_vit_l14", spec, method, "full", seed, 3)
    for model, specs in CMR_VARIANTS.items():
        for spec in specs:
            for task, classes in (("yelp_polarity", 2), ("splice", 3)):
                for seed in (1, 2, 3):
                    _add(frames, task, model, spec, "cmr", "full", seed, classes)
    result = {key: pd.DataFrame(rows) for key, rows in frames.items()}
    result["cells"]["seed"] = result["cells"]["seed"].astype("int64")
    return result


def write_cell_dirs(
    study: dict[str, pd.DataFrame], results_root: Path, *, limit: int | None = None
) -> list[Path]:
    """Write cells of ``study`` as real cell folders (parquet files); return their paths."""
    identifiers = ["study", "dataset", "model", "variant", "method", "shots", "seed"]
    dirs = []
    for _, row in study["cells"].head(limit).iterrows():
        ids = {k: row[k] for k in identifiers}
        cell_dir = cell_path(results_root, ids)
        for key, name in (
            ("cells", "metrics.parquet"),
            ("epochs", "epochs.parquet"),
            ("classes", "classes.parquet"),
        ):
            frame = study[key]
            mask = np.logical_and.reduce([frame[k] == v for k, v in ids.items()])
            atomic_io.write_parquet(cell_dir / name, frame.loc[mask].reset_index(drop=True))
        dirs.append(cell_dir)
    return dirs
