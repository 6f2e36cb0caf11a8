"""Contract of every registered figure kind: planned only where its cells exist, it renders a figure with
data in every panel; rendered from tables without results, it does not crash. And the demo's own plan,
rendered from tables in which every planned cell finished, has no empty panel."""

from __future__ import annotations

import copy
from pathlib import Path

import matplotlib.pyplot as plt
import pandas as pd
import pytest
import yaml

import vpbench.results.figures  # noqa: F401  (registers the built-in kinds)
from tests.results.figures.planned_study import frames_for_plan
from vpbench.results.figures.kinds import FIGURE_KINDS, Tables, figure_kinds, plan_figures, render_figure
from vpbench.results.figures.style import empty_panels
from vpbench.results.plan import PlanContext, cells_as_plan, context_from_study

KINDS = [kind.name for kind in figure_kinds()]
REPO = Path(__file__).resolve().parents[3]
MAX_PER_KIND = 4  # figures rendered per kind (the plan of the synthetic study holds dozens)


@pytest.fixture(scope="module")
def context(study_with_stats) -> PlanContext:
    """The synthetic study's finished cells as a plan (prompt histories and measured top-1 present)."""
    return PlanContext(
        cells=cells_as_plan(study_with_stats["cells"]), prompt_history=True, measured_top1=False
    )


def _empty_tables(frames: dict[str, pd.DataFrame]) -> Tables:
    return Tables.of(
        {name: frame.iloc[0:0] for name, frame in frames.items() if isinstance(frame, pd.DataFrame)}
    )


@pytest.mark.parametrize("kind", KINDS)
def test_every_kind_plans_from_cells_and_renders_data_in_every_panel(kind, context, study_with_stats):
    specs = list(FIGURE_KINDS[kind].plan(context))
    assert specs, f"figure kind {kind!r} plans nothing for a study with every kind of cell"
    tables = Tables.of(study_with_stats, {"mapping_classes": 5})
    complete = [s for s in specs if not (s.dataset == "oxford_pets" and s.model == "resnet18")]  # a gap
    for spec in complete[:MAX_PER_KIND]:
        plot = render_figure(spec, tables)
        assert plot.caption, spec
        assert not empty_panels(plot.figure), f"{spec.stem}: empty panels {empty_panels(plot.figure)}"
        plt.close(plot.figure)


@pytest.mark.parametrize("kind", KINDS)
def test_every_kind_renders_from_tables_without_results(kind, context, study_with_stats):
    tables = _empty_tables(study_with_stats)
    for spec in list(FIGURE_KINDS[kind].plan(context))[:MAX_PER_KIND]:
        plot = render_figure(spec, tables)  # gaps are drawn as gaps, never a crash
        assert plot.caption
        plt.close(plot.figure)


@pytest.mark.parametrize("kind", KINDS)
def test_nothing_is_planned_without_cells(kind):
    empty = cells_as_plan(
        pd.DataFrame(columns=["study", "dataset", "model", "variant", "method", "shots", "seed"])
    )
    assert list(FIGURE_KINDS[kind].plan(PlanContext(cells=empty, prompt_history=True))) == []


def test_a_dense_only_configuration_plans_no_compression_figure(context):
    dense_only = context.cells.loc[context.cells["is_dense"]]
    plan = plan_figures(PlanContext(cells=dense_only, prompt_history=True))
    kinds = {spec.kind for spec in plan}
    assert kinds.isdisjoint({"delta", "classwise", "mapping", "prompt_evolution", "metric_vs_compression"})
    assert {"nshot_grid", "nshot", "reliability"} <= kinds


def test_upstream_top1_is_planned_only_where_the_model_table_has_values(context):
    def planned(cells, measured):
        plan = plan_figures(PlanContext(cells=cells, prompt_history=True, measured_top1=measured))
        return {spec.model for spec in plan if spec.kind == "imagenet_top1"}

    published = planned(context.cells, measured=False)
    assert published, "the synthetic study's registry models have published top-1 values"
    assert planned(context.cells.assign(published_top1=float("nan")), measured=False) == set()
    assert planned(context.cells.assign(published_top1=float("nan")), measured=True) >= published


@pytest.fixture(scope="module", params=["config.yaml", "studies/demo_full.yaml", "studies/beyond_demo.yaml"])
def demo_study(request):
    """The demo (config.yaml) and the other offline demo-sized studies."""
    from vpbench.study.loader import load_study

    return load_study(copy.deepcopy(yaml.safe_load((REPO / request.param).read_text())))


def test_the_demo_plan_renders_from_its_own_cells_without_an_empty_panel(demo_study):
    context = context_from_study(demo_study)
    plan = plan_figures(context)
    frames = frames_for_plan(context.cells)
    tables = Tables.of(frames, dict(demo_study.report))
    empty = {}
    for spec in plan:
        plot = render_figure(spec, tables)
        if empty_panels(plot.figure):
            empty[spec.stem] = empty_panels(plot.figure)
        plt.close(plot.figure)
    assert not empty, f"figures of the demo's plan with empty panels: {empty}"
    calibration = [spec for spec in plan if spec.kind == "metric_vs_compression"]
    for spec in calibration:  # every dataset's panel at that dataset's largest N-shot
        shots = dict(spec.panels)
        for dataset, budget in shots.items():
            planned = context.rows(model=spec.model, dataset=dataset)["shots"]
            assert budget == max(planned, key=lambda s: float("inf") if s == "full" else float(s))


def test_prompt_figures_are_planned_only_for_methods_that_train_a_prompt():
    """The beyond demo has the probe and fine-tuning, which train no prompt: no prompt-evolution figure."""
    from vpbench.engine.methods import METHODS
    from vpbench.study.loader import load_study

    study = load_study(yaml.safe_load((REPO / "studies/beyond_demo.yaml").read_text()))
    methods = {
        spec.method for spec in plan_figures(context_from_study(study)) if spec.kind == "prompt_evolution"
    }
    assert methods and all(METHODS[m].trains_prompt for m in methods)
    assert {"lp", "ff"} <= set(study.methods) and methods.isdisjoint({"lp", "ff"})
