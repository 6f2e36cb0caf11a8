"""Rendering a whole study's figures and tables in one call."""

from __future__ import annotations

import json

import numpy as np

from vpbench.runtime import atomic_io
from vpbench.results.aggregate import IDENTIFIERS, add_prompt_divergence, cell_path
from vpbench.results.figures.render import analysis_shots, render_study_figures
from vpbench.results.tables import write_study_tables


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
    for _, row in cells.loc[(cells.shots == "full") & (cells.seed == 1)].iterrows():
        folder = cell_path(tmp_path / "results", row.to_dict())
        atomic_io.save_numpy(folder / "test_probs.npy", np.full((4, 3), 1 / 3, np.float16))
        atomic_io.save_numpy(folder / "test_labels.npy", np.arange(4) % 3)
    rendered = render_study_figures(frames, tmp_path / "figures", results_root=tmp_path / "results")
    categories = {entry.category for entry in rendered}
    assert categories == {"accuracy", "calibration", "compression_cost", "label_mapping", "prompts"}
    stems = {entry.stem for entry in rendered}
    assert "prompts/resnet18_cifar10_ilm_10shot_evolution" in stems
    assert "calibration/resnet18_cifar10_flm_reliability" in stems
    for entry in rendered:
        assert (tmp_path / "figures" / f"{entry.stem}.svg").is_file() and entry.caption
    index = json.loads((tmp_path / "figures" / "index.json").read_text())
    assert len(index) == len(rendered)


def test_write_study_tables_only_writes_supported_tables(study, tmp_path):
    config = {"training": {"batch_size": {"1": 8, "10": 32, "full": 128}}, "shots": [1, 10, "full"]}
    tables = write_study_tables(study["cells"], config, tmp_path)
    assert set(tables) == {
        "accuracy",
        "table1_compression_summary",
        "table5_batch_sizes",
        "published_comparison",
        "table2_clip",
        "table3_cross_modal",
        "table4_cross_modal_quantized",
    }
    image_only = study["cells"].loc[study["cells"].model == "resnet18"]
    assert "table2_clip" not in write_study_tables(image_only, config, tmp_path / "image_only")
    assert (tmp_path / "table4.tex").is_file()
