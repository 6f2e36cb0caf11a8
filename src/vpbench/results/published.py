"""The paper's published numbers (Tables 2–4) and a reproduced-versus-published comparison.

``data/published_results.csv`` is a literal transcription (paper names, percent); this module maps paper
names to vpbench identifiers so that the file stays a faithful copy of the source.
"""

from __future__ import annotations

from collections.abc import Mapping
from importlib import resources
from io import StringIO

import numpy as np
import pandas as pd
from scipy import stats

from vpbench.errors import ConfigError
from vpbench.results.frames import summarise

PUBLISHED_COLUMNS = (
    "table",
    "dataset_or_task",
    "model",
    "variant",
    "method",
    "metric",
    "value",
    "std",
    "source",
)
PAPER = "Misra et al., arXiv:2308.14969v3"

DATASET_IDS: dict[str, str] = {
    "CIFAR-10": "cifar10",
    "Caltech101": "caltech101",
    "OxfordPets": "oxford_pets",
    "SVHN": "svhn",
    "GTSRB": "gtsrb",
    "DTD": "dtd",
    "EuroSAT": "eurosat",
    "Yelp": "yelp_polarity",
    "IMDB": "imdb",
    "AG": "ag_news",
    "DBPedia": "dbpedia_14",
    "Splice": "splice",
}
MODEL_IDS: dict[str, str] = {
    "CLIP ViT-L": "clip_vit_l14",
    "Resnet-34": "resnet34",
    "Resnet-50": "resnet50",
    "Deit": "deit_tiny",
}
VARIANT_IDS: dict[str, str] = {
    "Dense": "dense",
    "2x": "upop2x",
    "4x": "upop4x",
    "Sparse": "sparse",
    "32-bit": "dense",
    "4-bit": "w4a4",
    "3-bit": "w3a3",
    "2-bit": "w2a2",
}
METHOD_IDS: dict[str, str] = {
    "VP": "bahng_vp",
    "ILM-VP": "ilm_tp_vp",
    "Cross Modal Reprogramming": "cmr",
}
SPARSE_VARIANTS: dict[str, str] = {"resnet34": "gmp", "resnet50": "acdc90"}
IDENTIFIER_MAPS: dict[str, dict[str, str]] = {
    "dataset_or_task": DATASET_IDS,
    "model": MODEL_IDS,
    "variant": VARIANT_IDS,
    "method": METHOD_IDS,
}
KEYS = ["dataset_or_task", "model", "variant", "method"]


def load_published(*, map_identifiers: bool = True) -> pd.DataFrame:
    """The transcribed Tables 2–4; with ``map_identifiers`` the name columns hold vpbench identifiers.

    The paper's names are kept in ``paper_*`` columns. ``value``/``std`` are percent (``accuracy_pct``) or
    percentage points (``drop_pp``, Table 2's printed drops); a ``-`` in the paper is NaN.
    """
    text = resources.files("vpbench.results").joinpath("published_results.csv").read_text(encoding="utf-8")
    frame = pd.read_csv(StringIO(text), dtype={"value": "float64", "std": "float64", "table": "int64"})
    if tuple(frame.columns) != PUBLISHED_COLUMNS:
        raise ConfigError(
            f"published_results.csv has columns {list(frame.columns)}, expected {PUBLISHED_COLUMNS}"
        )
    if not map_identifiers:
        return frame
    for column, mapping in IDENTIFIER_MAPS.items():
        unknown = sorted(set(frame[column]) - set(mapping))
        if unknown:
            raise ConfigError(
                f"published_results.csv: no vpbench identifier for {column} {unknown}; "
                f"known: {sorted(mapping)}"
            )
        frame[f"paper_{column}"] = frame[column]
        frame[column] = frame[column].map(mapping)
    # The paper's "Sparse" column is a different checkpoint per model (studies/paper.yaml).
    sparse = frame["variant"] == "sparse"
    frame.loc[sparse, "variant"] = frame.loc[sparse, "model"].map(SPARSE_VARIANTS).fillna("sparse")
    return frame


def _t_quantile(n: pd.Series) -> np.ndarray:
    """Two-sided 95% Student-t quantile for n − 1 degrees of freedom (NaN below two seeds)."""
    values = n.to_numpy(dtype=float)
    out = np.full_like(values, np.nan)
    ok = values >= 2
    out[ok] = stats.t.ppf(0.975, values[ok] - 1)
    return out


def compare_to_published(
    cells_df: pd.DataFrame,
    published: pd.DataFrame | None = None,
    *,
    shots: str = "full",
    aliases: Mapping[str, Mapping[str, str]] | None = None,
) -> pd.DataFrame:
    """Each published accuracy beside the run's mean over seeds (percent), their difference and a verdict.

    Rule: tolerance = max(published std, t₀.₉₇₅,ₙ₋₁ · run std) with missing terms as 0; the run agrees
    (``within_spread``) when |run mean − published| ≤ tolerance. With neither a published std nor two seeds
    the tolerance is 0 and the verdict is ``spread unknown`` (NA). Only ``shots`` cells are used (the paper's
    tables are full-data). ``aliases`` renames run identifiers per column before matching, e.g.
    ``{"variant": {"gmp90": "sparse"}}``. Rows without run data have status ``no run``.
    """
    published = load_published() if published is None else published
    targets = published.loc[published["metric"] == "accuracy_pct"].copy()
    runs = cells_df.loc[cells_df["shots"].astype(str) == str(shots)].rename(
        columns={"dataset": "dataset_or_task"}
    )
    for column, mapping in (aliases or {}).items():
        column = "dataset_or_task" if column == "dataset" else column
        runs[column] = runs[column].replace(dict(mapping))
    summary = (
        summarise(runs, KEYS, "accuracy")
        if not runs.empty
        else pd.DataFrame(columns=[*KEYS, "mean", "std", "n_seeds", "ci95"])
    )
    summary = summary.rename(columns={"mean": "run_mean", "std": "run_std"})
    summary[["run_mean", "run_std"]] = summary[["run_mean", "run_std"]].astype(float) * 100
    merged = targets.merge(summary[[*KEYS, "run_mean", "run_std", "n_seeds"]], on=KEYS, how="left")
    merged = merged.rename(columns={"value": "published", "std": "published_std"})
    merged["n_seeds"] = merged["n_seeds"].fillna(0).astype("int64")
    merged["difference"] = merged["run_mean"] - merged["published"]
    run_spread = _t_quantile(merged["n_seeds"]) * merged["run_std"].to_numpy(dtype=float)
    merged["tolerance"] = np.fmax(
        np.nan_to_num(merged["published_std"].to_numpy(dtype=float)), np.nan_to_num(run_spread)
    )
    merged["status"] = _status(merged)
    merged["within_spread"] = merged["status"].map({"within": True, "outside": False}).astype("boolean")
    columns = [
        "table",
        *KEYS,
        "published",
        "published_std",
        "run_mean",
        "run_std",
        "n_seeds",
        "difference",
        "tolerance",
        "within_spread",
        "status",
        "source",
    ]
    return merged[columns].reset_index(drop=True)


def _status(merged: pd.DataFrame) -> list[str]:
    """``no published value``, ``no run``, ``spread unknown``, ``within`` or ``outside`` per row."""
    statuses = []
    for published, run, tolerance in zip(
        merged["published"], merged["run_mean"], merged["tolerance"], strict=True
    ):
        if pd.isna(published):
            statuses.append("no published value")
        elif pd.isna(run):
            statuses.append("no run")
        elif tolerance == 0:
            statuses.append("spread unknown")
        else:
            statuses.append("within" if abs(run - published) <= tolerance else "outside")
    return statuses
