"""Which dense and compressed variant a per-class figure compares, and where such figures are planned."""

from __future__ import annotations

from collections.abc import Callable

import pandas as pd

from vpbench.results.figures.kinds import FigureSpec
from vpbench.results.figures.style import Plot, mark_empty, new_figure
from vpbench.results.frames import select, variant_table
from vpbench.results.plan import PlanContext, analysis_shots, paired_shots


def dense_and_compressed(cells: pd.DataFrame, spec: FigureSpec) -> dict[str, str | None]:
    """The model's dense variant and the compressed one to compare at the spec's (dataset, method, N):
    ``spec.variant`` when planned, else the most compressed variant with cells there."""
    info = variant_table(cells.loc[cells["model"] == spec.model])
    present = set(
        select(cells, model=spec.model, dataset=spec.dataset, method=spec.method, shots=spec.shots)["variant"]
    )
    dense = [v for v in info.loc[info["is_dense"], "variant"] if v in present]
    compressed = [v for v in info.loc[~info["is_dense"], "variant"] if v in present]
    chosen = spec.variant if spec.variant in compressed else (compressed[-1] if compressed else None)
    label = ""
    if chosen is not None:
        label = str(info.set_index("variant").at[chosen, "compression_label"])
    return {
        "dense_variant": ("dense" if "dense" in dense else dense[0]) if dense else None,
        "compressed_variant": chosen,
        "compressed_label": label,
    }


def plan_per_class(
    kind: str, suffix: str, context: PlanContext, method_filter: Callable[[str], bool] = lambda method: True
) -> list[FigureSpec]:
    """One figure per (model, dataset, method) with a dense and a compressed cell at one N-shot: the
    per-class analysis N (paper: 5, else the nearest above, else the largest paired N)."""
    specs = []
    for model, dataset, method in context.triples():
        if not method_filter(method):
            continue
        shots = analysis_shots(paired_shots(context.rows(model=model, dataset=dataset, method=method)))
        if shots is None:
            continue
        name = f"{model}_{dataset}_{method}_{shots}shot_{suffix}"
        specs.append(FigureSpec(kind, name, model, dataset, method, shots=shots))
    return specs


def unfinished(spec: FigureSpec, what: str) -> Plot:
    """The figure drawn where planned cells did not finish: one marked panel naming what is missing, and a
    caption pointing at the report's failed-or-missing-cells table."""
    figure, (axes,) = new_figure(1, panel_size=(5.0, 2.0))
    mark_empty(axes, f"no finished {what} at N = {spec.shots}")
    caption = f"{spec.name}: the planned cells did not finish (see the failed or missing cells table)."
    return Plot(figure, caption)
