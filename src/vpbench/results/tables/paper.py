"""The paper's tables recomputed from any study's cells (Tables 1–5) and the published comparison.

Nothing here names a model, variant or dataset: Table 2 is every CLIP-kind model's variants, Tables 3–4 the
variants that reprogram a non-image task, Table 1 every compression technique in the study (rows in the
technique registry's order, its label and structure), each labelled through the registries.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from vpbench.errors import ConfigError
from vpbench.results.figures.labels import (
    dataset_label,
    method_label,
    method_sort_key,
    model_label,
    technique_label,
    technique_sort_key,
    technique_structure,
)
from vpbench.results.frames import ordered_shots, variant_table
from vpbench.results.plan import cells_as_plan
from vpbench.results.published import compare_to_published
from vpbench.results.tables.output import GAP, finish, mean_std_text, summary_lookup

KIND_GROUPS = {"dense": "Dense", "sparse": "Sparse", "structured": "Structured", "quantized": "Quantized"}


def _paired_accuracy(cells: pd.DataFrame, comparisons: pd.DataFrame | None) -> pd.DataFrame:
    """Across-seed paired accuracy comparisons (the stats rule's, else computed here)."""
    from vpbench.results.stats import compare_to_dense

    if comparisons is not None and len(comparisons) and "test" in comparisons.columns:
        rows = comparisons.loc[(comparisons["metric"] == "accuracy") & (comparisons["test"] == "paired_t")]
        if len(rows):
            return rows
    if cells.empty:
        return compare_to_dense(cells, test="paired_t")
    return compare_to_dense(cells, metric="accuracy", test="paired_t")


def table1_compression_summary(
    cells: pd.DataFrame,
    *,
    low_pp: float = 5.0,
    high_pp: float = 15.0,
    comparisons: pd.DataFrame | None = None,
    out_stem: str | Path | None = None,
) -> pd.DataFrame:
    """Paper Table 1: per compression technique, its type, models, and the accuracy drop classified.

    Drop = mean over paired comparisons (same model, dataset, method, N-shot and seed) of the dense −
    compressed accuracy, in pp: Low if < ``low_pp``, Moderate if < ``high_pp``, else High; beside the
    level the paper gives the technique, where it gives one.
    """
    from vpbench.results.claims import PAPER_TABLE1

    if not 0 <= low_pp <= high_pp:
        raise ConfigError(
            f"Table 1 thresholds need 0 ≤ low_pp ≤ high_pp, got low_pp={low_pp}, high_pp={high_pp}"
        )
    rule = f"Low < {low_pp:g} pp ≤ Moderate < {high_pp:g} pp ≤ High"
    paired = _paired_accuracy(cells, comparisons)
    info = variant_table(cells)[["model", "variant", "compression"]] if len(cells) else None
    rows = []
    if info is not None and len(paired):
        paired = paired.merge(info, on=["model", "variant"], how="left").dropna(subset=["delta"])
        for compression in sorted(set(paired["compression"].astype(str)), key=technique_sort_key):
            group = paired.loc[paired["compression"] == compression]
            mean_pp = float(group["delta"].mean() * 100)
            level = "Low" if mean_pp < low_pp else "Moderate" if mean_pp < high_pp else "High"
            rows.append(
                {
                    "Compression": technique_label(compression),
                    "Type": technique_structure(compression) or GAP,
                    "Models": ", ".join(sorted({model_label(m, cells) for m in group["model"]})),
                    "Mean Δ accuracy [pp]": f"{mean_pp:.2f}",
                    "Comparisons": len(group),
                    f"Performance drop ({rule})": level,
                    "Paper": PAPER_TABLE1.get(compression, GAP),
                }
            )
    columns = ["Compression", "Type", "Models", "Mean Δ accuracy [pp]", "Comparisons",
               f"Performance drop ({rule})", "Paper"]  # fmt: skip
    table = pd.DataFrame(rows, columns=columns)
    caption = (
        "Summary by compression technique: mean over all dense/compressed comparisons (same model, dataset, "
        "method and N-shot, paired by seed: the same N-shot subset) of the dense minus compressed accuracy "
        f"in percentage points, classified as {rule}; 'Paper' is the level of the paper's Table 1. The "
        "claims table tests these levels with intervals."
    )
    return finish(table.set_index("Compression"), caption, out_stem)


def _budget(rows: pd.DataFrame) -> str | None:
    """Full data when the rows have it, else their largest N-shot."""
    shots = ordered_shots(rows["shots"]) if len(rows) else []
    return shots[-1] if shots else None


def table2_clip(
    cells: pd.DataFrame, *, models: Sequence[str] | None = None, out_stem: str | Path | None = None
) -> pd.DataFrame:
    """Paper Table 2: every CLIP-kind model's variants (columns, dense first) per dataset and method, at
    full data (else the largest N), accuracy mean ± std over seeds with the drop from dense."""
    plan = cells_as_plan(cells)
    clip_models = (
        sorted(set(plan.loc[plan["model_kind"] == "clip", "model"])) if models is None else list(models)
    )
    rows, index, headers = [], [], []
    for model in clip_models:
        model_cells = cells.loc[cells["model"] == model]
        info = variant_table(model_cells)
        labels = dict(zip(info["variant"], info["compression_label"].astype(str), strict=True))
        headers += [labels[v] for v in info["variant"] if labels[v] not in headers]
    for model in clip_models:
        model_cells = cells.loc[cells["model"] == model]
        info = variant_table(model_cells)
        dense = next(iter(info.loc[info["is_dense"], "variant"]), None)
        labels = dict(zip(info["variant"], info["compression_label"].astype(str), strict=True))
        for dataset in sorted(set(model_cells["dataset"])):
            data_cells = model_cells.loc[model_cells["dataset"] == dataset]
            shots = _budget(data_cells)
            lookup = summary_lookup(data_cells.loc[data_cells["shots"] == shots], ["method", "variant"])
            for method in sorted(set(data_cells["method"]), key=method_sort_key):
                entries = dict.fromkeys(headers, GAP)
                base = lookup.get((method, dense))
                for variant in info["variant"]:
                    row = lookup.get((method, variant))
                    if row is None:
                        continue
                    text = mean_std_text(row["mean"], row["std"]) + " %"
                    if base is not None and variant != dense:
                        drop = (base["mean"] - row["mean"]) * 100
                        text += f" ({abs(drop):.2f} {'↓' if drop >= 0 else '↑'})"
                    entries[labels[variant]] = text
                rows.append([entries[h] for h in headers])
                index.append(
                    (
                        model_label(model, cells),
                        f"{dataset_label(dataset)} (N = {shots})",
                        method_label(method),
                    )
                )
    table = pd.DataFrame(
        rows,
        index=pd.MultiIndex.from_tuples(index, names=["Model", "Dataset", "Method"]) if index else None,
        columns=headers or None,
    )
    caption = (
        "Visual prompting on CLIP models and their compressed variants, at full data (else the dataset's "
        "largest N-shot, given per row): test accuracy, mean ± std over seeds, with the drop from dense in "
        "parentheses (↓ worse, ↑ better). Cf. paper Table 2."
    )
    return finish(table, caption, out_stem)


def _cross_modal_columns(cells: pd.DataFrame, kinds: Sequence[str] | None) -> list[tuple[str, str, str, str]]:
    """(group, header, model, variant) of every variant with non-image cells, grouped by compression kind."""
    plan = cells_as_plan(cells)
    text_cells = cells.loc[(plan["modality"] != "image").to_numpy()]
    columns = []
    kind_of = dict(
        zip(zip(plan["model"], plan["variant"], strict=True), plan["compression_kind"], strict=True)
    )
    for model in sorted(set(text_cells["model"])):
        info = variant_table(text_cells.loc[text_cells["model"] == model])
        for variant, label, dense in info[["variant", "compression_label", "is_dense"]].itertuples(
            index=False
        ):
            kind = "dense" if dense else str(kind_of.get((model, variant), "sparse"))
            if kinds is None or kind in kinds:
                columns.append(
                    (KIND_GROUPS.get(kind, kind), f"{model_label(model, cells)} {label}", model, variant)
                )
    order = list(KIND_GROUPS.values())
    return sorted(columns, key=lambda c: order.index(c[0]) if c[0] in order else len(order))


def table_cross_modal(
    cells: pd.DataFrame,
    *,
    columns: Sequence[tuple[str, str, str, str]] | None = None,
    kinds: Sequence[str] | None = None,
    out_stem: str | Path | None = None,
    caption_lead: str = "Cross-modal reprogramming",
) -> pd.DataFrame:
    """Paper Tables 3–4: accuracy (mean ± std over seeds, %) per non-image task (rows, at full data, else
    its largest N) and (compression kind, model · variant) column; ``kinds`` keeps only those kinds."""
    plan = cells_as_plan(cells)
    text_cells = cells.loc[(plan["modality"] != "image").to_numpy()]
    columns = list(columns) if columns is not None else _cross_modal_columns(cells, kinds)
    rows, index = [], []
    for task in sorted(set(text_cells["dataset"])):
        task_cells = text_cells.loc[text_cells["dataset"] == task]
        shots = _budget(task_cells)
        lookup = summary_lookup(task_cells.loc[task_cells["shots"] == shots], ["model", "variant"])
        entries = []
        for _, _, model, variant in columns:
            row = lookup.get((model, variant))
            entries.append(GAP if row is None else mean_std_text(row["mean"], row["std"]))
        rows.append(entries)
        index.append(f"{dataset_label(task)} (N = {shots})")
    table = pd.DataFrame(
        rows,
        index=pd.Index(index, name="Task"),
        columns=pd.MultiIndex.from_tuples([(g, h) for g, h, _, _ in columns]) if columns else None,
    )
    methods = ", ".join(method_label(m) for m in sorted(set(text_cells["method"]), key=method_sort_key))
    caption = (
        f"{caption_lead} accuracy [%] of vision models on non-image classification tasks ({methods or 'no '} "
        "cells), mean ± std over seeds at full data (else the task's largest N-shot); columns grouped by "
        "compression kind; — marks configurations without a finished cell."
    )
    return finish(table, caption, out_stem)


def table4_quantized_cross_modal(cells: pd.DataFrame, *, out_stem: str | Path | None = None) -> pd.DataFrame:
    """Paper Table 4: the cross-modal accuracy of each model's dense and quantized variants (bit sweep)."""
    return table_cross_modal(
        cells,
        kinds=("dense", "quantized"),
        out_stem=out_stem,
        caption_lead="Quantized cross-modal reprogramming",
    )


def _lookup_key(config: Mapping[str, Any], path: Sequence[str]) -> Any:
    """``config[path[0]][path[1]]…`` or ConfigError naming the missing key path."""
    node: Any = config
    for depth, key in enumerate(path):
        if not isinstance(node, Mapping) or key not in node:
            raise ConfigError(
                f"study config lacks {'.'.join(path[: depth + 1])!r} (needed for the batch-size table)"
            )
        node = node[key]
    return node


def table5_batch_sizes(
    config: Mapping[str, Any],
    *,
    batch_size_key: Sequence[str] = ("training", "batch_size"),
    shots_key: Sequence[str] = ("shots",),
    cells: pd.DataFrame | None = None,
    out_stem: str | Path | None = None,
) -> pd.DataFrame:
    """Paper Table 5: training batch size per N-shot from the study config (a per-shot mapping or one int).

    With ``cells``, a second row lists the batch sizes the finished cells actually used.
    """
    batch_sizes = _lookup_key(config, batch_size_key)
    if isinstance(batch_sizes, Mapping):
        per_shot = {str(k): v for k, v in batch_sizes.items()}
        shots = ordered_shots(per_shot)
    else:
        shots = ordered_shots(_lookup_key(config, shots_key))
        per_shot = dict.fromkeys(shots, batch_sizes)
    data = {"Batch size (config)": [per_shot.get(s) for s in shots]}
    if cells is not None and "batch_size" in cells.columns:
        used = cells.groupby("shots")["batch_size"].agg(
            lambda v: ", ".join(str(int(x)) for x in sorted(set(v)))
        )
        data["Batch size (runs)"] = [used.get(s) for s in shots]
    table = pd.DataFrame(data, index=pd.Index(["Full" if s == "full" else s for s in shots], name="N-shot")).T
    caption = "Training batch size per N-shot configuration (the paper's Table 5 is 8/8/16/32/32/64/128/128)."
    return finish(table, caption, out_stem)


def published_comparison_table(
    cells: pd.DataFrame, *, out_stem: str | Path | None = None, **options: Any
) -> pd.DataFrame:
    """:func:`vpbench.results.published.compare_to_published` formatted for the report."""
    comparison = compare_to_published(cells, **options)
    table = pd.DataFrame(
        {
            "Table": comparison["table"],
            "Dataset/task": comparison["dataset_or_task"].map(dataset_label),
            "Model": [model_label(m, cells) for m in comparison["model"]],
            "Variant": comparison["variant"],
            "Method": comparison["method"].map(method_label),
            "Published [%]": [
                mean_std_text(v, s, scale=1)
                for v, s in zip(comparison["published"], comparison["published_std"], strict=True)
            ],
            "Run [%]": [
                mean_std_text(v, s, scale=1)
                for v, s in zip(comparison["run_mean"], comparison["run_std"], strict=True)
            ],
            "Seeds": comparison["n_seeds"],
            "Run − published [pp]": comparison["difference"].map(
                lambda d: GAP if pd.isna(d) else f"{d:+.2f}"
            ),
            "Verdict": comparison["status"],
        }
    )
    caption = (
        "Reproduced versus published accuracy. A run agrees ('within') when |run mean − published| ≤ "
        "max(published std, t(0.975, n−1) · run std over seeds); 'spread unknown' when neither spread exists."
    )
    return finish(table.set_index(["Table", "Dataset/task"]), caption, out_stem)
