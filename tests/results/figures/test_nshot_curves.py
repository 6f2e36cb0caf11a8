"""Accuracy-versus-N-shot curves."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import numpy as np
import pytest

from vpbench.results.figures.nshot_curves import (
    plot_accuracy_vs_shots,
    plot_accuracy_vs_shots_grid,
    shot_positions,
)
from vpbench.results.figures.style import save_figure


def _data_lines(axes):
    return [line for line in axes.get_lines() if not line.get_label().startswith("_")]


def test_one_line_per_method_and_compression_with_bands(study, tmp_path):
    plot = plot_accuracy_vs_shots(study["cells"], "resnet18", "cifar10")
    (axes,) = plot.figure.axes
    lines = _data_lines(axes)
    assert len(lines) == 2 * 3  # ILM/FLM × dense/50%/90%
    assert {line.get_label() for line in lines} >= {"ILM-VP · dense", "FLM-VP · 90% sparse"}
    assert len(axes.collections) == 6  # one 95% CI band per line (3 seeds everywhere)
    assert axes.get_xscale() == "log"
    assert [t.get_text().split("\n")[0] for t in axes.get_xticklabels()] == ["1", "10", "full"]
    assert axes.get_ylabel() == "top-1 accuracy [%]"
    assert "ResNet-18" in axes.get_title() and "CIFAR-10" in axes.get_title()
    assert "3 seeds" in plot.caption and "95% t-interval" in plot.caption
    svg, png = save_figure(plot.figure, tmp_path / "curve")
    assert ET.parse(svg).getroot().tag.endswith("svg") and png.stat().st_size > 0


def test_plotted_means_match_the_data(study):
    cells = study["cells"]
    plot = plot_accuracy_vs_shots(cells, "resnet18", "cifar10", methods=["ilm"], variants=["dense"])
    (line,) = _data_lines(plot.figure.axes[0])
    rows = cells.loc[
        (cells.model == "resnet18")
        & (cells.dataset == "cifar10")
        & (cells.method == "ilm")
        & (cells.variant == "dense")
    ]
    expected = [rows.loc[rows.shots == s, "accuracy"].mean() * 100 for s in ("1", "10", "full")]
    np.testing.assert_allclose(line.get_ydata(), expected)


def test_gap_and_single_seed_do_not_crash(study):
    # resnet18/gmp90/flm/10-shot on oxford_pets is missing; deit_tiny has a single seed (no bands)
    gap = plot_accuracy_vs_shots(study["cells"], "resnet18", "oxford_pets")
    line = next(line for line in _data_lines(gap.figure.axes[0]) if line.get_label() == "FLM-VP · 90% sparse")
    assert len(line.get_xdata()) == 2
    single = plot_accuracy_vs_shots(study["cells"], "deit_tiny", "cifar10", band="std")
    assert len(_data_lines(single.figure.axes[0])) == 6
    assert len(single.figure.axes[0].collections) == 0
    assert "1 seed" in single.caption and "standard deviation" in single.caption


def test_missing_model_gives_an_empty_panel(study):
    plot = plot_accuracy_vs_shots(study["cells"], "no_such_model", "cifar10")
    assert "no finished cells" in plot.caption
    assert _data_lines(plot.figure.axes[0]) == []


def test_grid_has_one_panel_per_dataset_and_shared_legend(study):
    plot = plot_accuracy_vs_shots_grid(study["cells"], "resnet18", datasets=["cifar10", "oxford_pets", "dtd"])
    assert len(plot.figure.axes) == 3
    assert [a.get_title() for a in plot.figure.axes] == ["CIFAR-10", "OxfordPets", "DTD"]
    assert len(plot.figure.legends) == 1


def test_unknown_band_is_rejected(study):
    with pytest.raises(ValueError, match="band must be one of"):
        plot_accuracy_vs_shots(study["cells"], "resnet18", "cifar10", band="iqr")


def test_full_sits_right_of_the_largest_shot():
    positions = shot_positions(["1", "10", "100", "full"])
    assert positions["full"] == 250.0 and positions["1"] == 1.0
