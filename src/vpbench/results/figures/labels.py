"""How figures and tables name things: registry names through their registries, metrics through one table.

Methods, datasets, model families and compression techniques carry their own label, order and colour in
their registries (``VPMethod.label``/``rank``/``colour``, ``DatasetSpec.display_label``,
``ModelFamily.display_label``, ``Technique.label``/``structure``/``rank``); an entry a registry does not know
(an unregistered user technique, a name in a synthetic table) is shown by its name. Only the metrics, which
are columns of the cells table rather than registry entries, are labelled here.
"""

from __future__ import annotations

import pandas as pd

METRIC_LABELS: dict[str, str] = {
    "accuracy": "top-1 accuracy [%]",
    "ece": "ECE, 15 bins [%]",
    "adaptive_ece": "adaptive ECE, 15 bins [%]",
    "classwise_ece": "class-wise ECE, 15 bins [%]",
    "ece_temperature_scaled": "ECE after temperature scaling [%]",
    "ece_ts": "ECE after temperature scaling [%]",
    "mean_conf_correct": "mean confidence of correct predictions [%]",
    "mean_confidence": "mean confidence [%]",
    "kl_uniform_wrong": "KL(p‖U) of wrong predictions [nats]",
    "kl_uniform_wrong_norm": "KL(p‖U) / log C of wrong predictions",
    "kl_uniform_wrong_paper_compat": "paper-compatible KL(U‖p)/C of wrong predictions",
    "nll": "NLL [nats]",
    "brier": "Brier score",
    "ece_paper_compat": "paper-compatible 'ECE' (raw logits, Σ per-batch ECE / N)",
    "imagenet_top1": "ImageNet-1k top-1 [%]",
}
PERCENT_METRICS = frozenset(
    {
        "accuracy",
        "ece",
        "adaptive_ece",
        "classwise_ece",
        "ece_temperature_scaled",
        "ece_ts",
        "mean_conf_correct",
        "mean_confidence",
        "imagenet_top1_fraction",
    }
)


def method_label(method: str) -> str:
    """Display name of a VP method (its registry ``label``)."""
    from vpbench.engine.methods import METHODS

    return METHODS[method].label if method in METHODS else method


def dataset_label(dataset: str) -> str:
    """Display name of a dataset or cross-modal task (its registry ``display_label``)."""
    from vpbench.data import DATASETS

    return DATASETS[dataset].display_label if dataset in DATASETS else dataset


def family_label(family: str) -> str:
    """Display name of a model-registry family."""
    from vpbench.models import MODELS

    return MODELS[family].display_label if family in MODELS else family


def model_label(model: str, cells: pd.DataFrame | None = None) -> str:
    """Display name of a study model: its dense variant's family label (``family_label`` of the cells
    table, else the family registry), else the registry family of the same name, else the name."""
    if cells is not None and not cells.empty and "model" in cells.columns:
        rows = cells.loc[cells["model"] == model]
        if "is_dense" in rows.columns and rows["is_dense"].astype(bool).any():
            rows = rows.loc[rows["is_dense"].astype(bool)]
        for column, lookup in (("family_label", str), ("family", family_label)):
            if column in rows.columns and rows[column].notna().any():
                return lookup(str(rows[column].dropna().iloc[0]))
    return family_label(model)


def technique_label(technique: str) -> str:
    """Display name of a compression technique (its registry ``label``)."""
    from vpbench.compression.techniques import TECHNIQUES

    return TECHNIQUES[technique].label if technique in TECHNIQUES else technique


compression_label = technique_label  # the `compression` column holds a technique name


def technique_structure(technique: str) -> str:
    """Table 1's "Type" of a technique (its registry ``structure``), "" when unknown."""
    from vpbench.compression.techniques import TECHNIQUES

    return TECHNIQUES[technique].structure if technique in TECHNIQUES else ""


def technique_sort_key(technique: str) -> tuple[int, str]:
    """Registry ``rank`` order of techniques (Table 1 rows), unknown ones last and alphabetical."""
    from vpbench.compression.techniques import TECHNIQUES

    rank = TECHNIQUES[technique].rank if technique in TECHNIQUES else 10_000
    return (rank, technique)


def method_sort_key(method: str) -> tuple[int, int, str]:
    """Registry order of methods (``rank``, then registration), unknown methods last and alphabetical."""
    from vpbench.engine.methods import METHODS, method_order

    order = method_order()
    if method in METHODS:
        return (0, order.index(method), method)
    return (1, 0, method)


def metric_label(metric: str) -> str:
    """Axis label (with unit) of a metric column."""
    return METRIC_LABELS.get(metric, metric)


def metric_scale(metric: str) -> float:
    """Factor turning stored fractions into the displayed unit (100 for percentages, else 1)."""
    return 100.0 if metric in PERCENT_METRICS else 1.0
