"""Δ heatmaps: dense minus compressed accuracy over (compression level × N-shot) (paper Figs 15–17).

Significance comes from the comparisons table (:mod:`vpbench.results.stats`): dense and compressed cells are
paired by seed (same N-shot subset), tested across seeds (paired t) and over test samples (paired
bootstrap), and p-values are adjusted within the heatmap (one family). Planned cells that failed or never
ran are marked in the grid and named under it.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np
import pandas as pd
import seaborn as sns

from vpbench.results.figures.kinds import FigureKind, FigureSpec, Tables, register_figure_kind
from vpbench.results.figures.labels import (
    dataset_label,
    method_label,
    metric_label,
    metric_scale,
    model_label,
)
from vpbench.results.figures.style import Plot, mark_empty, new_figure, seed_phrase, styled
from vpbench.results.frames import ordered_shots, select, variant_table
from vpbench.results.plan import PlanContext, paired_shots
from vpbench.results.stats import compare_to_dense

SEED_MARK = "*"  # significant in the across-seed paired test
SAMPLE_MARK = "†"  # significant in the paired bootstrap over test samples
CORRECTION_NAMES = {"holm": "Holm", "bh": "Benjamini–Hochberg", "none": "no"}
SEED_TESTS = ("paired_t", "wilcoxon")
MAX_LISTED_MISSING = 6


def delta_grid(
    cells: pd.DataFrame,
    model: str,
    method: str,
    dataset: str,
    *,
    metric: str = "accuracy",
    comparisons: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """One row per (compressed variant, N-shot): Δ in display units, seeds, and each test's verdict.

    Columns: ``variant``, ``shots``, ``delta`` (dense − compressed seed means over paired seeds),
    ``n_seeds``, ``seed_test``/``seed_p_adjusted``/``seed_significant`` (across seeds) and
    ``sample_p_adjusted``/``sample_significant`` (paired bootstrap; NaN/False without predictions),
    ``correction``. Without a comparisons table the across-seed paired test is computed here.
    """
    subset = select(cells, model=model, method=method, dataset=dataset)
    if comparisons is None or comparisons.empty or "test" not in comparisons.columns:
        comparisons = compare_to_dense(subset, metric=metric, test="paired_t") if len(subset) else None
    columns = ["variant", "shots", "delta", "n_seeds", "seed_test", "seed_p_adjusted", "seed_significant",
               "sample_p_adjusted", "sample_significant", "correction"]  # fmt: skip
    if comparisons is None or comparisons.empty:
        return pd.DataFrame(columns=columns)
    mine = select(comparisons, model=model, method=method, dataset=dataset)
    mine = mine.loc[mine["metric"] == metric]
    seed_rows = mine.loc[mine["test"].isin(SEED_TESTS)].drop_duplicates(["variant", "shots"])
    sample_rows = mine.loc[mine["test"] == "paired_bootstrap"].drop_duplicates(["variant", "shots"])
    base = seed_rows if len(seed_rows) else sample_rows
    grid = pd.DataFrame(
        {
            "variant": base["variant"].astype(str).to_numpy(),
            "shots": base["shots"].astype(str).to_numpy(),
            "delta": ((base["dense_mean"] - base["compressed_mean"]) * metric_scale(metric)).to_numpy(float),
            "n_seeds": base["n_seeds"].to_numpy(),
            "correction": base["correction"].astype(str).to_numpy(),
        }
    )
    seed = seed_rows.set_index(["variant", "shots"])
    sample = sample_rows.set_index(["variant", "shots"])
    keys = list(zip(grid["variant"], grid["shots"], strict=True))
    grid["seed_test"] = [seed.at[k, "test"] if k in seed.index else "" for k in keys]
    grid["seed_p_adjusted"] = [seed.at[k, "p_adjusted"] if k in seed.index else np.nan for k in keys]
    grid["seed_significant"] = [bool(seed.at[k, "significant"]) if k in seed.index else False for k in keys]
    grid["sample_p_adjusted"] = [sample.at[k, "p_adjusted"] if k in sample.index else np.nan for k in keys]
    grid["sample_significant"] = [
        bool(sample.at[k, "significant"]) if k in sample.index else False for k in keys
    ]
    return grid[columns]


def _cell_text(row: pd.Series) -> str:
    """Annotation: Δ with ``*`` (across seeds) and ``†`` (over test samples) where significant."""
    if not np.isfinite(row["delta"]):
        return ""
    marks = (SEED_MARK if row["seed_significant"] else "") + (
        SAMPLE_MARK if row["sample_significant"] else ""
    )
    return f"{row['delta']:.1f}{marks}"


def missing_cells(missing: pd.DataFrame, **identifiers: object) -> pd.DataFrame:
    """Planned cells of the given identifiers that failed or never finished (``missing.csv`` rows)."""
    if missing is None or missing.empty:
        return pd.DataFrame(columns=["variant", "shots", "seed", "reason"])
    rows = missing
    for column, value in identifiers.items():
        rows = rows.loc[rows[column].astype(str) == str(value)]
    return rows


@styled
def plot_delta_heatmap(
    cells: pd.DataFrame,
    model: str,
    method: str,
    dataset: str,
    *,
    metric: str = "accuracy",
    shots: Sequence[str] | None = None,
    comparisons: pd.DataFrame | None = None,
    missing: pd.DataFrame | None = None,
) -> Plot:
    """Heatmap of dense − compressed ``metric`` (percentage points) per compression level and N-shot."""
    grid = delta_grid(cells, model, method, dataset, metric=metric, comparisons=comparisons)
    lacking = missing_cells(missing, model=model, method=method, dataset=dataset)
    scope = cells.loc[(cells["model"] == model) & (cells["dataset"] == dataset)]
    info = variant_table(scope)
    rows = info.loc[~info["is_dense"], ["variant", "compression_label"]]
    extra = sorted(set(lacking["variant"].astype(str)) - set(info["variant"]) - {""})
    rows = pd.concat([rows, pd.DataFrame({"variant": extra, "compression_label": extra})], ignore_index=True)
    dense_names = set(info.loc[info["is_dense"], "variant"])
    rows = rows.loc[~rows["variant"].isin(dense_names)]
    columns = (
        list(shots) if shots is not None else ordered_shots([*scope["shots"], *lacking["shots"].astype(str)])
    )
    values = np.full((len(rows), len(columns)), np.nan)
    notes = np.full((len(rows), len(columns)), "", dtype=object)
    lookup = grid.set_index(["variant", "shots"])
    lost = {(str(v), str(s)) for v, s in zip(lacking["variant"], lacking["shots"], strict=True)}
    lost_dense = {
        str(s) for v, s in zip(lacking["variant"], lacking["shots"], strict=True) if v in dense_names
    }
    for i, variant in enumerate(rows["variant"]):
        for j, shot in enumerate(columns):
            if (variant, shot) in lookup.index:
                row = lookup.loc[(variant, shot)]
                values[i, j] = row["delta"]
                notes[i, j] = _cell_text(row)
                if (variant, shot) in lost or shot in lost_dense:
                    notes[i, j] += "\n(part)"
            elif (variant, shot) in lost or shot in lost_dense:
                notes[i, j] = "missing"
    title = f"{model_label(model, cells)} · {method_label(method)} · {dataset_label(dataset)}"
    unit = "pp" if metric_scale(metric) == 100.0 else "units"
    figure, (axes,) = new_figure(
        1, panel_size=(0.8 * max(len(columns), 3) + 2.4, 0.5 * max(len(rows), 2) + 1.6)
    )
    frame = pd.DataFrame(values, index=rows["compression_label"].tolist(), columns=columns)
    if frame.size and (np.isfinite(values).any() or (notes != "").any()):
        finite = values[np.isfinite(values)]
        limit = float(np.abs(finite).max()) if finite.size else 1.0
        with warnings.catch_warnings():  # seaborn 0.13 calls the soon-deprecated Colormap.set_bad
            warnings.simplefilter("ignore", PendingDeprecationWarning)
            sns.heatmap(
                frame, ax=axes, annot=notes, fmt="", cmap="RdBu_r", vmin=-(limit or 1.0), vmax=limit or 1.0,
                center=0, linewidths=0.5, linecolor="white", annot_kws={"fontsize": 7},
                cbar_kws={"label": f"Δ {metric} (dense − compressed) [{unit}]"},
            )  # fmt: skip
        for i, j in zip(*np.nonzero(~np.isfinite(values) & (notes != "")), strict=True):
            axes.text(j + 0.5, i + 0.5, notes[i, j], ha="center", va="center", fontsize=7, color="0.35")
    else:
        mark_empty(axes, "no dense/compressed pairs")
    axes.grid(False)
    axes.set_title(title)
    axes.set_xlabel("N-shot (training samples per class)")
    axes.set_ylabel("compression level")
    legend = _legend(grid, lacking)
    figure.text(0.0, -0.02, legend, ha="left", va="top", fontsize=7, wrap=True, transform=figure.transFigure)
    caption = (
        f"{title}: Δ = dense minus compressed test {metric_label(metric)} in {unit} per compression level "
        "(rows, mildest first) and N-shot (columns); red means the dense model is better. Each Δ is the "
        f"difference of seed means over the seeds both variants share ({seed_phrase(grid['n_seeds'])}). "
        + legend
    )
    return Plot(figure, caption)


def _legend(grid: pd.DataFrame, lacking: pd.DataFrame) -> str:
    """What the marks mean, which correction was applied, and which planned cells the heatmap lacks."""
    correction = CORRECTION_NAMES.get(str(grid["correction"].iloc[0]), "?") if len(grid) else "Holm"
    seed_test = next((t for t in grid.get("seed_test", []) if t), "paired_t").replace("_", " ")
    text = (
        f"{SEED_MARK} = significant in the across-seed {seed_test} test (dense and compressed paired by "
        f"seed, i.e. the same N-shot subset; needs ≥ 2 seeds); {SAMPLE_MARK} = significant in the paired "
        "bootstrap over test samples (valid with one seed, conditional on the trained prompts); both at "
        f"α = 0.05 after {correction} correction across this heatmap. Blank: no configured cell."
    )
    if lacking.empty:
        return text
    listed = [
        f"{v} × {s}-shot seed {int(seed)}"
        for v, s, seed in lacking[["variant", "shots", "seed"]].itertuples(index=False)
    ]
    more = f" and {len(listed) - MAX_LISTED_MISSING} more" if len(listed) > MAX_LISTED_MISSING else ""
    return (
        text + f" 'missing' / '(part)': planned cells that failed or did not run ({len(listed)}: "
        f"{', '.join(listed[:MAX_LISTED_MISSING])}{more}; see the report's failed or missing cells table)."
    )


# ------------------------------------------------------------------------------------------ figure kind


def _plan_delta(context: PlanContext) -> list[FigureSpec]:
    return [
        FigureSpec("delta", f"{model}_{dataset}_{method}_delta", model, dataset, method)
        for model, dataset, method in context.triples()
        if paired_shots(context.rows(model=model, dataset=dataset, method=method))
    ]


def _render_delta(spec: FigureSpec, tables: Tables) -> Plot:
    return plot_delta_heatmap(
        tables.cells,
        spec.model,
        spec.method,
        spec.dataset,
        comparisons=tables.comparisons,
        missing=tables.missing,
    )


register_figure_kind(
    FigureKind(
        name="delta",
        label="Δ heatmap",
        category="compression_cost",
        caption="fig_delta.rst",
        plan=_plan_delta,
        render=_render_delta,
        rank=20,
    )
)
