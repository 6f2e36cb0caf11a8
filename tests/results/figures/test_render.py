"""Rendering a whole study's figures and tables in one call."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd

from vpbench import metrics
from vpbench.results.aggregate import IDENTIFIERS, add_prompt_divergence
from vpbench.results.figures.render import analysis_shots, render_study_figures


def test_analysis_shots_prefers_five_shot_budgets():
    assert analysis_shots(["1", "5", "10", "full"]) == "5"
    assert analysis_shots(["1", "10", "full"]) == "10"
    assert analysis_shots(["1", "2"]) == "2"
    assert analysis_shots(["full"]) == "full"


def test_render_one_model_writes_every_category(study, tmp_path):
    keep = lambda frame: frame.loc[(frame.model == "resnet18") & (frame.dataset == "cifar10")]  # noqa: E731
    frames = {key: keep(study[key]) for key in ("cells", "epochs", "classes")}
    cells = frames["cells"]
    history_rows = cells.loc[(cells.method == "ilm") & (cells.shots == "10")]
    histories = {
        tuple(row[c] for c in IDENTIFIERS): np.full((5, 3, 2, 2), 0.1 * i, np.float16)
        for i, (_, row) in enumerate(history_rows.iterrows())
    }
    frames["epochs"] = add_prompt_divergence(frames["epochs"], histories, cells)
    bins = pd.DataFrame(metrics.reliability_bins(np.full((4, 3), 1 / 3), np.arange(4) % 3))
    frames["reliability"] = pd.concat(
        [bins.assign(bin=range(len(bins)), **{c: row[c] for c in IDENTIFIERS})
         for _, row in cells.loc[(cells.shots == "full") & (cells.seed == 1)].iterrows()]
    )  # fmt: skip
    rendered = render_study_figures(frames, tmp_path / "figures")
    categories = {entry.category for entry in rendered}
    assert categories == {"accuracy", "calibration", "compression_cost", "label_mapping", "prompts", "models"}
    for part in ("_delta", "_classwise", "_reliability", "_mapping", "_evolution", "_paper_compat_", "_top1"):
        assert any(part in entry.stem for entry in rendered), part
    stems = {entry.stem for entry in rendered}
    assert "prompts/resnet18_cifar10_ilm_10shot_evolution" in stems
    assert "calibration/resnet18_cifar10_flm_reliability" in stems
    for entry in rendered:
        assert (tmp_path / "figures" / f"{entry.stem}.svg").is_file() and entry.caption
    index = json.loads((tmp_path / "figures" / "index.json").read_text())
    assert len(index) == len(rendered)
