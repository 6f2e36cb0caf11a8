"""Render every report figure of a study from its aggregated tables, with an index of captions.

One call for the workflow: figures go to ``{out_dir}/{category}/{name}.svg|.png`` and ``index.json`` lists
category, file stem and caption of each (the report's captions).
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import matplotlib.pyplot as plt
import pandas as pd

from vpbench.runtime import atomic_io
from vpbench.results.aggregate import CellOutputError
from vpbench.results.frames import (dense_variant_of, most_compressed_variant, ordered_shots, shots_sort_key, variant_table)
from vpbench.results.figures.calibration import plot_metric_vs_compression, plot_reliability, reliability_inputs
from vpbench.results.figures.classwise import plot_classwise_delta
from vpbench.results.figures.heatmaps import plot_delta_heatmap
from vpbench.results.figures.label_mapping_fig import plot_label_mapping
from vpbench.results.figures.labels import dataset_label, method_label, model_label
from vpbench.results.figures.nshot_curves import plot_accuracy_vs_shots, plot_accuracy_vs_shots_grid
from vpbench.results.figures.prompt_evolution import plot_prompt_evolution
from vpbench.results.figures.style import Plot, save_figure

CALIBRATION_METRICS = ("ece", "mean_conf_correct", "kl_uniform_wrong")
MAPPED_METHODS = ("ilm", "flm", "rlm")  # methods with one source class per target (not FullyMap)


@dataclass(frozen=True)
class RenderedFigure:
    """Where one figure was written and what its caption says."""

    category: str
    stem: str
    caption: str


def analysis_shots(shots: Sequence[str], preferred: int = 5) -> str:
    """N-shot of the per-class analyses (paper: N = 5): the smallest N ≥ ``preferred``, else the largest."""
    ordered = ordered_shots(shots)
    numeric = [s for s in ordered if shots_sort_key(s) >= preferred and s != "full"]
    return numeric[0] if numeric else ordered[-1]


@dataclass(frozen=True)
class FigureSpec:
    """One planned figure: where it goes and what it shows (known from the study config alone)."""

    category: str
    name: str
    kind: str
    model: str
    dataset: str | None = None
    method: str | None = None
    metric: str | None = None
    shots: str | None = None

    @property
    def stem(self) -> str:
        """Path of the figure below the figures folder, without extension."""
        return f"{self.category}/{self.name}"


def figure_plan(
    variants: Mapping[str, Sequence[str]],
    datasets: Sequence[str],
    methods: Sequence[str],
    shots: Sequence[str],
    *,
    prompt_history: bool,
    reliability: bool = True,
    combos: Iterable[tuple[str, str, str]] | None = None,
) -> list[FigureSpec]:
    """Every figure a study produces, from its config: models → variants, datasets, methods, N-shots.

    The workflow declares exactly these files as report outputs, so the plan never depends on results.
    """
    shots = [str(s) for s in shots]
    present = set(combos) if combos is not None else None  # (model, dataset, method) with cells

    def has(model: str, dataset: str, method: str | None = None) -> bool:
        if present is None:
            return True
        return any(m == model and d == dataset and (method is None or x == method) for m, d, x in present)

    plan: list[FigureSpec] = []
    for model in sorted(variants):
        plan.append(FigureSpec("accuracy", f"{model}_nshot_grid", "nshot_grid", model))
        plan += [
            FigureSpec("accuracy", f"{model}_{d}_nshot", "nshot", model, d)
            for d in sorted(datasets)
            if has(model, d)
        ]
        calibration_shots = "full" if "full" in shots else None
        plan += [
            FigureSpec("calibration", f"{model}_{metric}", "metric_vs_compression", model, metric=metric,
                       shots=calibration_shots)
            for metric in CALIBRATION_METRICS
        ]  # fmt: skip
        if len(variants[model]) < 2:
            continue
        per_class, largest = analysis_shots(shots), ordered_shots(shots)[-1]
        for dataset in sorted(datasets):
            for method in sorted(methods):
                if not has(model, dataset, method):
                    continue
                name = f"{model}_{dataset}_{method}"
                common = {"model": model, "dataset": dataset, "method": method}
                plan.append(FigureSpec("compression_cost", f"{name}_delta", "delta", **common))
                plan.append(
                    FigureSpec("compression_cost", f"{name}_{per_class}shot_classwise", "classwise",
                               shots=per_class, **common)
                )  # fmt: skip
                if method in MAPPED_METHODS:
                    plan.append(
                        FigureSpec("label_mapping", f"{name}_{per_class}shot_mapping", "mapping",
                                   shots=per_class, **common)
                    )  # fmt: skip
                if prompt_history:
                    plan.append(
                        FigureSpec("prompts", f"{name}_{per_class}shot_evolution", "prompt_evolution",
                                   shots=per_class, **common)
                    )  # fmt: skip
                if reliability:
                    plan.append(
                        FigureSpec(
                            "calibration", f"{name}_reliability", "reliability", shots=largest, **common
                        )
                    )
    return plan


def study_figure_plan(study: Any) -> list[FigureSpec]:
    """Every figure of a study, planned from its cells (known before any cell runs)."""
    from vpbench.study.spec import shots_key

    return figure_plan(
        {name: list(model.variants) for name, model in study.models.items()},
        list(study.datasets),
        list(study.methods),
        [shots_key(s) for s in study.shots],
        prompt_history=study.training.save_prompt_history,
        combos={(cell.model, cell.dataset, cell.method) for cell in study.cells},
    )


def _pair(cells: pd.DataFrame, model: str) -> tuple[str | None, str | None, str]:
    dense, compressed = dense_variant_of(cells, model), most_compressed_variant(cells, model)
    label = ""
    if compressed is not None:
        label = (
            variant_table(cells.loc[cells["model"] == model])
            .set_index("variant")
            .at[compressed, "compression_label"]
        )
    return dense, compressed, label


def render_figure(spec: FigureSpec, frames: Mapping[str, pd.DataFrame], mapping_classes: int) -> Plot:
    """Draw one planned figure from the aggregated tables (gaps are shown, never a crash)."""
    cells, epochs, classes = frames["cells"], frames["epochs"], frames["classes"]
    if spec.kind == "nshot_grid":
        return plot_accuracy_vs_shots_grid(cells, spec.model)
    if spec.kind == "nshot":
        return plot_accuracy_vs_shots(cells, spec.model, spec.dataset)
    if spec.kind == "metric_vs_compression":
        return plot_metric_vs_compression(cells, spec.model, metric=spec.metric, shots=spec.shots)
    if spec.kind == "delta":
        return plot_delta_heatmap(cells, spec.model, spec.method, spec.dataset)
    options = {"model": spec.model, "dataset": spec.dataset, "method": spec.method, "shots": spec.shots}
    if spec.kind == "prompt_evolution":
        return plot_prompt_evolution(epochs, **options, cells=cells)
    if spec.kind == "reliability":
        inputs = reliability_inputs(
            cells, frames["reliability"], spec.model, spec.dataset, spec.method, shots=spec.shots
        )
        title = (
            f"{model_label(spec.model)} · {method_label(spec.method)} · {dataset_label(spec.dataset)} · "
            f"N = {spec.shots}"
        )
        return plot_reliability(inputs, title=title)
    dense, compressed, label = _pair(cells, spec.model)
    pair = {"dense_variant": dense, "compressed_variant": compressed, "compressed_label": label}
    if spec.kind == "classwise":
        return plot_classwise_delta(classes, **options, **pair)
    if spec.kind == "mapping":
        return plot_label_mapping(classes, **options, **pair, k=mapping_classes)
    raise ValueError(f"unknown figure kind {spec.kind!r}")


def variant_lists(cells: pd.DataFrame) -> dict[str, list[str]]:
    """Model → its variants present in the cells table."""
    return {model: sorted(rows["variant"].unique()) for model, rows in cells.groupby("model")}


def render_study_figures(
    frames: Mapping[str, pd.DataFrame],
    out_dir: str | Path,
    *,
    mapping_classes: int = 10,
    plan: Sequence[FigureSpec] | None = None,
) -> list[RenderedFigure]:
    """Save every figure for ``frames`` (the aggregated cells/epochs/classes/reliability tables) and
    ``index.json``; return the entries."""
    out_dir = Path(out_dir)
    if plan is None:
        plan = figure_plan(
            variant_lists(frames["cells"]),
            sorted(frames["cells"]["dataset"].unique()),
            sorted(frames["cells"]["method"].unique()),
            ordered_shots(frames["cells"]["shots"].unique()),
            prompt_history="prompt_dense_l2" in frames["epochs"]
            and frames["epochs"]["prompt_dense_l2"].notna().any(),
            reliability="reliability" in frames,
        )
    rendered = []
    for spec in plan:
        plot = render_figure(spec, frames, mapping_classes)
        save_figure(plot.figure, out_dir / spec.stem)
        plt.close(plot.figure)
        rendered.append(RenderedFigure(spec.category, spec.stem, plot.caption))
    atomic_io.write_json(out_dir / "index.json", [asdict(entry) for entry in rendered])
    return rendered
