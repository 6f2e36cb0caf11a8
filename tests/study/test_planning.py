"""Planning shortcuts change nothing: the grid equals the cell-by-cell product minus `exclude` matches, and a
cell's plan from parts memoised per study equals its plan computed afresh (the training rules' params, so a
difference would rerun cells)."""

from __future__ import annotations

import copy
import dataclasses
import itertools
from pathlib import Path

import pytest
import yaml

from vpbench.engine.keys import canonical_json, cell_plan, plan_json
from vpbench.study.grid import Cell, expand_cells, matches, pairs_with
from vpbench.study.loader import load_study

ROOT = Path(__file__).resolve().parents[2]
STUDIES = [ROOT / "config.yaml", ROOT / "tests" / "data" / "studies" / "paper_small.yaml"]


def load(path: Path):
    return load_study(copy.deepcopy(yaml.safe_load(path.read_text())))


def brute_force_cells(study) -> list[Cell]:
    """The grid as the definition says: every combination, minus incompatible triples and excluded cells."""
    cells = []
    for dataset, model, method in itertools.product(study.datasets, study.models, study.methods):
        if pairs_with(study, model, dataset, method) is not None:
            continue
        for variant, shots, seed in itertools.product(study.models[model].variants, study.shots, study.seeds):
            cell = Cell(study.name, dataset, model, variant, method, shots, seed)
            if not any(matches(cell, rule) for rule in study.exclude):
                cells.append(cell)
    return sorted(cells)


@pytest.mark.parametrize("path", STUDIES, ids=lambda p: p.name)
def test_the_grid_is_the_product_minus_excluded_cells(path):
    study = load(path)
    assert expand_cells(study) == brute_force_cells(study) == list(study.cells)


def test_exclude_entries_on_inner_axes_and_whole_triples():
    config = yaml.safe_load((ROOT / "config.yaml").read_text())
    config["exclude"] = [
        {"method": "rlm"},  # a whole (dataset, model, method) triple
        {"variant": "dense", "shots": 1},  # inner axes only
        {"model": "mobilenet_v2", "method": "ilm", "seed": 1},  # outer and inner
        {"shots": "full", "dataset": "digits"},
    ]
    study = load_study(config)
    assert expand_cells(study) == brute_force_cells(study)
    assert not any(cell.method == "rlm" for cell in study.cells)


@pytest.mark.parametrize("path", STUDIES, ids=lambda p: p.name)
def test_a_memoised_plan_equals_the_plan_computed_afresh(path):
    study = load(path)
    planned = [plan_json(study, cell) for cell in study.cells]  # one study: its memo fills up
    for cell, plan in zip(study.cells, planned, strict=True):
        fresh = dataclasses.replace(study)  # the same study with an empty memo
        assert not fresh.memo
        assert plan == plan_json(fresh, cell) == canonical_json(cell_plan(fresh, cell))


def test_plans_differ_where_the_study_decides_differently():
    config = yaml.safe_load((ROOT / "config.yaml").read_text())
    config["training"]["method_overrides"] = {
        "ilm": {"lr": 0.05, "batch_size": {"1": 4, "10": 8, "full": 64}}
    }
    study = load_study(config)
    by_cell = {cell: yaml.safe_load(plan_json(study, cell)) for cell in study.cells}
    for cell, plan in by_cell.items():
        assert plan["settings"]["seed"] == cell.seed
        assert plan["cell"]["shots"] == cell.shots and plan["cell"]["variant"] == cell.variant
        if cell.method == "ilm":
            assert plan["settings"]["lr"] == 0.05
            assert plan["settings"]["batch_size"] == {"1": 4, "10": 8, "full": 64}[cell.shots]
    plan = cell_plan(study, study.cells[0])
    plan["settings"]["lr"] = -1.0  # a caller's copy: the study's memo is not affected
    assert cell_plan(study, study.cells[0])["settings"]["lr"] != -1.0
