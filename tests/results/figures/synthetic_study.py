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
# study model → (registry family of its dense variant, its display label)
FAMILIES = {
    "resnet18": ("resnet18", "ResNet-18"),
    "resnet34": ("resnet34", "ResNet-34"),
    "deit_tiny": ("deit_tiny", "DeiT-T"),
    "clip_vit_l14": ("clip_vit_l14_openai", "CLIP ViT-L/14"),
}
# ImageNet top-1 [%] on the variants' cards (published checkpoints; the others have none)
PUBLISHED_TOP1 = {("resnet18", "dense"): 69.758, ("resnet18", "gmp50"): 70.1, ("resnet18", "gmp90"): 66.2}
KINDS = {"none": "dense", "gmp": "sparse", "vvtq": "quantized", "upop": "structured"}
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
        "family": FAMILIES[model][0],
        "family_label": FAMILIES[model][1],
        "compression": compression,
        "compression_kind": KINDS[compression],
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
        "classwise_ece": float(rng.uniform(0.01, 0.1) + penalty / 4),
        "kl_uniform_wrong_paper_compat": float(rng.uniform(0.1, 2.0)),
        "published_top1": PUBLISHED_TOP1.get((model, variant), np.nan),
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
    result["missing"] = _missing_rows(result["cells"])
    result["models"] = models_table(result["cells"])
    epochs = result["epochs"]
    dense = epochs["variant"] == "dense"
    result["epochs"] = epochs.assign(prompt_dense_l2=np.where(dense, np.nan, 0.1 * (epochs["epoch"] + 1)))
    predictions = make_predictions(result["cells"])
    result["reliability"] = _reliability(result["cells"], predictions)
    return result


def _missing_rows(cells: pd.DataFrame) -> pd.DataFrame:
    """missing.csv rows of the MISSING cells (every seed the model runs), with the plan's columns."""
    rows = []
    for dataset, model, variant, method, shots in sorted(MISSING):
        like = cells.loc[(cells.model == model) & (cells.variant == variant)].iloc[0]
        where = f"{dataset}/{model}/{variant}/{method}"
        for seed in sorted(set(cells.loc[cells.model == model, "seed"])):
            ids = {"study": STUDY, "dataset": dataset, "model": model, "variant": variant, "method": method,
                   "shots": shots, "seed": int(seed)}  # fmt: skip
            rows.append(
                ids
                | {
                    "cell_dir": f"results/{STUDY}/cells/{where}/{shots}shot/seed{seed}",
                    "file": "metrics.parquet",
                    "reason": "failed: NumericalError: non-finite training loss",
                    "rule": "train_cell",
                    "log": f"logs/train_cell/{STUDY}/{where}/{shots}shot/seed{seed}.log",
                    "is_dense": bool(like["is_dense"]),
                    "compression": like["compression"],
                    "compression_kind": like["compression_kind"],
                }
            )
    return pd.DataFrame(rows)


def make_predictions(cells: pd.DataFrame, n_test: int = 60) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Test predictions per cell id whose accuracy follows the cell's: the same labels for every cell of a
    dataset, correct on a seeded subset of the cell's accuracy fraction."""
    from vpbench.results.stats import cell_id

    predictions = {}
    for row in cells.to_dict("records"):
        rng = _rng(
            "predictions",
            row["dataset"],
            row["model"],
            row["variant"],
            row["method"],
            row["shots"],
            row["seed"],
        )
        classes = int(row["num_classes"])
        labels = _rng("labels", row["dataset"]).integers(0, classes, n_test)
        correct = rng.random(n_test) < row["accuracy"]
        predicted = np.where(correct, labels, (labels + 1 + rng.integers(0, classes - 1, n_test)) % classes)
        confidence = rng.uniform(1 / classes + 0.05, 0.99, n_test)
        probs = np.full((n_test, classes), 0.0)
        probs[:] = ((1 - confidence) / (classes - 1))[:, None]
        probs[np.arange(n_test), predicted] = confidence
        predictions[cell_id(row)] = (probs, labels.astype(np.int64))
    return predictions


def _reliability(cells: pd.DataFrame, predictions: dict) -> pd.DataFrame:
    """The aggregated reliability table of the synthetic predictions."""
    from vpbench import metrics
    from vpbench.results.stats import cell_id

    frames = []
    for row in cells.to_dict("records"):
        probs, labels = predictions[cell_id(row)]
        bins = pd.DataFrame(metrics.reliability_bins(probs, labels))
        ids = {k: row[k] for k in ("study", "dataset", "model", "variant", "method", "shots", "seed")}
        frames.append(bins.assign(bin=range(len(bins)), **ids))
    return pd.concat(frames, ignore_index=True)


def with_statistics(study: dict[str, pd.DataFrame], n_resamples: int = 200) -> dict[str, pd.DataFrame]:
    """The study's frames plus the stats rule's tables (comparisons, intervals) from synthetic predictions."""
    from vpbench.results.stats.study import study_statistics

    tables = study_statistics(study["cells"], make_predictions(study["cells"]), n_resamples=n_resamples)
    return {**study, **tables}


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


def models_table(cells: pd.DataFrame) -> pd.DataFrame:
    """The model table's CSV columns (``model_report.model_table``) of every (model, variant) in ``cells``."""
    columns = ["model", "variant", "is_dense", "family", "family_label", "compression", "compression_kind",
               "compression_label", "sparsity", "weight_bits", "published_top1"]  # fmt: skip
    table = cells.drop_duplicates(["model", "variant"])[columns].reset_index(drop=True)
    return table.assign(measured_top1=np.nan, bits="fp32", note="")
