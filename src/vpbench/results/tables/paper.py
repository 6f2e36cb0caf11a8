"""Report tables (paper Tables 1–5, a per-study accuracy table, the published comparison) as HTML/CSV/LaTeX.

Every builder returns a display DataFrame (strings, "—" for gaps) and, given ``out_stem``, writes
``{out_stem}.html``, ``.csv`` and ``.tex`` atomically.
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from vpbench.runtime import atomic_io
from vpbench.results.frames import (dense_deltas, ordered_shots, summarise, variant_table)
from vpbench.errors import ConfigError
from vpbench.results.figures.labels import (
    COMPRESSION_TYPES,
    compression_label,
    dataset_label,
    method_label,
    method_sort_key,
    model_label,
)
from vpbench.results.published import compare_to_published

GAP = "—"
TABLE1_ORDER = ("gmp", "lt", "acdc", "rigl", "upop", "vvtq", "magnitude", "semi_structured", "fake_quant")
TABLE2_MODEL = "clip_vit_l14"
TABLE2_VARIANTS: tuple[tuple[str, str], ...] = (("dense", "Dense"), ("upop2x", "2×"), ("upop4x", "4×"))
TABLE2_METHODS: tuple[tuple[str, str], ...] = (("bahng_vp", "VP"), ("ilm_tp_vp", "ILM-VP"))
TABLE2_DATASETS = ("cifar10", "caltech101", "oxford_pets", "svhn", "gtsrb", "dtd", "eurosat")
CROSS_MODAL_TASKS = ("yelp_polarity", "imdb", "ag_news", "dbpedia_14", "splice")
# (column group, column header, model, variant)
TABLE3_COLUMNS: tuple[tuple[str, str, str, str], ...] = (
    ("Dense", "ResNet-34", "resnet34", "dense"),
    ("Dense", "ResNet-50", "resnet50", "dense"),
    ("Sparse", "ResNet-34", "resnet34", "gmp"),
    ("Sparse", "ResNet-50", "resnet50", "acdc90"),
    ("Quantized", "DeiT 32-bit", "deit_tiny", "dense"),
    ("Quantized", "DeiT 3-bit", "deit_tiny", "w3a3"),
)
TABLE4_COLUMNS: tuple[tuple[str, str, str, str], ...] = (
    ("Quantized", "DeiT 32-bit", "deit_tiny", "dense"),
    ("Quantized", "DeiT 4-bit", "deit_tiny", "w4a4"),
    ("Quantized", "DeiT 3-bit", "deit_tiny", "w3a3"),
    ("Quantized", "DeiT 2-bit", "deit_tiny", "w2a2"),
)
HTML_STYLES: list[dict[str, Any]] = [
    {"selector": "", "props": "border-collapse: collapse; font-family: sans-serif; font-size: 0.85em;"},
    {"selector": "caption", "props": "caption-side: top; text-align: left; padding: 0.4em 0; color: #333;"},
    {"selector": "th", "props": "background: #f0f3f7; padding: 0.3em 0.6em; border-bottom: 1px solid #bbb;"},
    {"selector": "td", "props": "padding: 0.25em 0.6em; text-align: right; white-space: nowrap;"},
    {"selector": "tbody tr:nth-child(even)", "props": "background: #fafafa;"},
]
LATEX_REPLACEMENTS = {
    "±": r"$\pm$",
    "↓": r"$\downarrow$",
    "↑": r"$\uparrow$",
    "—": "--",
    "×": r"$\times$",
    "Δ": r"$\Delta$",
    "≤": r"$\leq$",
    "→": r"$\rightarrow$",
    "−": "-",
}


# --------------------------------------------------------------------------------------------- output


def write_table(table: pd.DataFrame, out_stem: str | Path, *, caption: str) -> dict[str, Path]:
    """Write ``table`` as pretty HTML (with caption), CSV and LaTeX next to ``out_stem``; return the paths."""
    stem = Path(out_stem)
    paths = {fmt: stem.with_name(f"{stem.name}.{fmt}") for fmt in ("html", "csv", "tex")}
    styler = (
        table.style.format(escape="html")
        .format_index(escape="html", axis=0)
        .format_index(escape="html", axis=1)
        .set_caption(html.escape(caption))
        .set_table_styles(HTML_STYLES)
    )
    atomic_io.write_text(paths["html"], styler.to_html())
    atomic_io.write_text(paths["csv"], table.to_csv())
    latex = table.to_latex(
        escape=True, caption=_latex_escape(caption), multicolumn=True, multirow=True, multicolumn_format="c"
    )
    for symbol, replacement in LATEX_REPLACEMENTS.items():
        latex = latex.replace(symbol, replacement)
    atomic_io.write_text(paths["tex"], latex)
    return paths


def _latex_escape(text: str) -> str:
    """Escape LaTeX specials in free text (captions are not escaped by ``to_latex``)."""
    for char in ("\\", "&", "%", "$", "#", "_", "{", "}"):
        text = text.replace(char, "\\" + char)
    return text


def _finish(table: pd.DataFrame, caption: str, out_stem: str | Path | None) -> pd.DataFrame:
    """Fill gaps with "—", attach the caption, write when asked."""
    table = table.astype(object).where(table.notna(), GAP)
    table.attrs["caption"] = caption
    if out_stem is not None:
        write_table(table, out_stem, caption=caption)
    return table


def mean_std_text(mean: float, std: float, *, scale: float = 100.0, digits: int = 2) -> str:
    """``"91.01 ± 1.21"`` (std only with ≥ 2 seeds), or "—" for a missing mean."""
    if mean is None or pd.isna(mean):
        return GAP
    text = f"{mean * scale:.{digits}f}"
    if std is not None and not pd.isna(std):
        text += f" ± {std * scale:.{digits}f}"
    return text


def _summary_lookup(
    cells: pd.DataFrame, keys: Sequence[str], metric: str = "accuracy"
) -> dict[tuple, pd.Series]:
    """``key tuple → summary row`` of :func:`summarise` for quick cell lookup."""
    summary = summarise(cells, list(keys), metric)
    return {tuple(row[k] for k in keys): row for _, row in summary.iterrows()}


# --------------------------------------------------------------------------------------------- tables


def accuracy_table(
    cells: pd.DataFrame, *, metric: str = "accuracy", out_stem: str | Path | None = None, digits: int = 2
) -> pd.DataFrame:
    """Rows model / compression / method, columns dataset × N-shot, cells mean ± std over seeds (%)."""
    lookup = _summary_lookup(cells, ["model", "variant", "method", "dataset", "shots"], metric)
    info = variant_table(cells)
    datasets = sorted(cells["dataset"].unique())
    columns = [
        (dataset_label(d), s)
        for d in datasets
        for s in ordered_shots(cells.loc[cells["dataset"] == d, "shots"])
    ]
    keys = [(d, s) for d in datasets for s in ordered_shots(cells.loc[cells["dataset"] == d, "shots"])]
    rows, index = [], []
    for model_row in info.itertuples(index=False):
        methods = sorted(
            cells.loc[
                (cells["model"] == model_row.model) & (cells["variant"] == model_row.variant), "method"
            ].unique(),
            key=method_sort_key,
        )
        for method in methods:
            entries = []
            for dataset, shots in keys:
                row = lookup.get((model_row.model, model_row.variant, method, dataset, shots))
                entries.append(GAP if row is None else mean_std_text(row["mean"], row["std"], digits=digits))
            rows.append(entries)
            index.append((model_label(model_row.model), model_row.compression_label, method_label(method)))
    table = pd.DataFrame(
        rows,
        index=pd.MultiIndex.from_tuples(index, names=["Model", "Compression", "Method"]) if index else None,
        columns=pd.MultiIndex.from_tuples(columns, names=["Dataset", "N-shot"]) if columns else None,
    )
    caption = (
        f"Test {metric} [%] after visual prompting, mean ± sample std over seeds (std omitted for a single "
        "seed); — marks configurations without a finished cell."
    )
    return _finish(table, caption, out_stem)


def table1_compression_summary(
    cells: pd.DataFrame,
    *,
    low_pp: float = 5.0,
    high_pp: float = 15.0,
    metric: str = "accuracy",
    out_stem: str | Path | None = None,
) -> pd.DataFrame:
    """Paper Table 1: per compression method, its type, models, and the performance drop classified from data.

    Drop = mean over (model, variant, dataset, method, N-shot) of dense − compressed seed means, in pp:
    Low if < ``low_pp``, Moderate if < ``high_pp``, else High.
    """
    if not 0 <= low_pp <= high_pp:
        raise ConfigError(
            f"Table 1 thresholds need 0 ≤ low_pp ≤ high_pp, got low_pp={low_pp}, high_pp={high_pp}"
        )
    rule = f"Low < {low_pp:g} pp ≤ Moderate < {high_pp:g} pp ≤ High"
    deltas = dense_deltas(cells, metric)
    info = variant_table(cells)[["model", "variant", "compression"]]
    deltas = deltas.merge(info, on=["model", "variant"], how="left")
    order = list(TABLE1_ORDER)
    rows = []
    for compression, group in sorted(
        deltas.groupby("compression"),
        key=lambda g: (order.index(g[0]) if g[0] in order else len(order), g[0]),
    ):
        mean_pp = float(group["delta"].mean() * 100)
        level = "Low" if mean_pp < low_pp else "Moderate" if mean_pp < high_pp else "High"
        rows.append(
            {
                "Compression": compression_label(compression),
                "Type": COMPRESSION_TYPES.get(compression, GAP),
                "Models": ", ".join(model_label(m) for m in sorted(group["model"].unique())),
                "Mean Δ accuracy [pp]": f"{mean_pp:.2f}",
                "Comparisons": len(group),
                f"Performance drop ({rule})": level,
            }
        )
    table = pd.DataFrame(
        rows,
        columns=[
            "Compression",
            "Type",
            "Models",
            "Mean Δ accuracy [pp]",
            "Comparisons",
            f"Performance drop ({rule})",
        ],
    )
    caption = (
        f"Summary by compression method: mean over all dense/compressed pairs (same model, dataset, method, "
        f"N-shot) of dense minus compressed mean {metric} in percentage points, classified as {rule}."
    )
    return _finish(table.set_index("Compression"), caption, out_stem)


def table2_clip(
    cells: pd.DataFrame,
    *,
    model: str = TABLE2_MODEL,
    variants: Sequence[tuple[str, str]] = TABLE2_VARIANTS,
    methods: Sequence[tuple[str, str]] = TABLE2_METHODS,
    datasets: Sequence[str] = TABLE2_DATASETS,
    shots: str = "full",
    out_stem: str | Path | None = None,
) -> pd.DataFrame:
    """Paper Table 2: CLIP dense/2×/4× accuracy per dataset for VP and ILM-VP, with drops from dense."""
    rows_cells = cells.loc[(cells["model"] == model) & (cells["shots"] == shots)]
    lookup = _summary_lookup(rows_cells, ["dataset", "method", "variant"])
    rows, index = [], []
    for dataset in datasets:
        for method, method_header in methods:
            dense = lookup.get((dataset, method, variants[0][0]))
            entries = []
            for variant, _ in variants:
                row = lookup.get((dataset, method, variant))
                text = GAP if row is None else mean_std_text(row["mean"], row["std"]) + " %"
                if row is not None and dense is not None and variant != variants[0][0]:
                    drop = (dense["mean"] - row["mean"]) * 100
                    text += f" ({abs(drop):.2f} {'↓' if drop >= 0 else '↑'})"
                entries.append(text)
            rows.append(entries)
            index.append((dataset_label(dataset), method_header))
    table = pd.DataFrame(
        rows,
        index=pd.MultiIndex.from_tuples(index, names=["Dataset", "Method"]),
        columns=[header for _, header in variants],
    )
    caption = (
        f"Visual prompting on {model_label(model)} and its compressed variants (N-shot = {shots}): test "
        "accuracy, mean ± std over seeds, with the drop from dense in parentheses (↓ worse, ↑ better)."
    )
    return _finish(table, caption, out_stem)


def table_cross_modal(
    cells: pd.DataFrame,
    *,
    columns: Sequence[tuple[str, str, str, str]] = TABLE3_COLUMNS,
    tasks: Sequence[str] = CROSS_MODAL_TASKS,
    method: str = "cmr",
    shots: str = "full",
    out_stem: str | Path | None = None,
) -> pd.DataFrame:
    """Paper Tables 3–4: cross-modal reprogramming accuracy (mean ± std, %) per task × model/variant."""
    lookup = _summary_lookup(
        cells.loc[(cells["method"] == method) & (cells["shots"] == shots)], ["dataset", "model", "variant"]
    )
    rows = []
    for task in tasks:
        entries = []
        for _, _, model, variant in columns:
            row = lookup.get((task, model, variant))
            entries.append(GAP if row is None else mean_std_text(row["mean"], row["std"]))
        rows.append(entries)
    table = pd.DataFrame(
        rows,
        index=pd.Index([dataset_label(t) for t in tasks], name="Task"),
        columns=pd.MultiIndex.from_tuples([(g, h) for g, h, _, _ in columns]),
    )
    caption = (
        "Cross-modal reprogramming accuracy [%] of vision models on text/DNA classification tasks, mean ± "
        "std over seeds; — marks configurations without a finished cell."
    )
    return _finish(table, caption, out_stem)


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
    if cells is not None:
        used = cells.groupby("shots")["batch_size"].agg(
            lambda v: ", ".join(str(int(x)) for x in sorted(set(v)))
        )
        data["Batch size (runs)"] = [used.get(s) for s in shots]
    table = pd.DataFrame(data, index=pd.Index(["Full" if s == "full" else s for s in shots], name="N-shot")).T
    caption = "Training batch size per N-shot configuration (the paper's Table 5 is 8/8/16/32/32/64/128/128)."
    return _finish(table, caption, out_stem)


def published_comparison_table(
    cells: pd.DataFrame, *, out_stem: str | Path | None = None, **options: Any
) -> pd.DataFrame:
    """:func:`vpbench.results.published.compare_to_published` formatted for the report."""
    comparison = compare_to_published(cells, **options)
    table = pd.DataFrame(
        {
            "Table": comparison["table"],
            "Dataset/task": comparison["dataset_or_task"].map(dataset_label),
            "Model": comparison["model"].map(model_label),
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
    return _finish(table.set_index(["Table", "Dataset/task"]), caption, out_stem)


def study_tables(study: Any) -> list[str]:
    """The tables a study produces, planned from what its cells are (never from a model's or method's name):
    Table 2 when a cell adapts a CLIP model, Tables 3–4 when a cell reprograms a non-image task."""
    from vpbench.data import get_dataset
    from vpbench.models import get_model_family

    kinds = {get_model_family(study.model(cell.model).family).kind for cell in study.cells}
    modalities = {get_dataset(cell.dataset).modality for cell in study.cells}
    names = ["accuracy", "table1", "table5", "published_comparison"]
    if "clip" in kinds:
        names.append("table2")
    if modalities - {"image"}:
        names += ["table3", "table4"]
    return names


def write_study_tables(
    cells: pd.DataFrame, config: Mapping[str, Any], out_dir: str | Path, names: Sequence[str]
) -> dict[str, pd.DataFrame]:
    """Write the planned tables into ``out_dir`` (HTML/CSV/LaTeX each); return them by name."""
    out_dir = Path(out_dir)
    builders = {
        "accuracy": lambda: accuracy_table(cells, out_stem=out_dir / "accuracy"),
        "table1": lambda: table1_compression_summary(cells, out_stem=out_dir / "table1"),
        "table5": lambda: table5_batch_sizes(config, cells=cells, out_stem=out_dir / "table5"),
        "published_comparison": lambda: published_comparison_table(
            cells, out_stem=out_dir / "published_comparison"
        ),
        "table2": lambda: table2_clip(cells, out_stem=out_dir / "table2"),
        "table3": lambda: table_cross_modal(cells, out_stem=out_dir / "table3"),
        "table4": lambda: table_cross_modal(cells, columns=TABLE4_COLUMNS, out_stem=out_dir / "table4"),
    }
    return {name: builders[name]() for name in names}
