"""Prompt divergence / loss curves and prompt images."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import numpy as np
import pytest
import torch

from vpbench.results.aggregate import IDENTIFIERS, add_prompt_divergence
from vpbench.results.figures.prompt_evolution import plot_prompt_evolution, prompt_image

OPTIONS = {"model": "resnet18", "dataset": "cifar10", "method": "ilm", "shots": "1"}


def _lines(axes):
    return [line for line in axes.get_lines() if not line.get_label().startswith("_")]


def _with_divergence(study):
    """Epochs with prompt_dense_l2 computed from synthetic histories of the ILM 1-shot cells."""
    cells = study["cells"]
    chosen = cells.loc[
        (cells.model == "resnet18")
        & (cells.dataset == "cifar10")
        & (cells.method == "ilm")
        & (cells.shots == "1")
    ]
    histories = {}
    for _, row in chosen.iterrows():
        scale = {"dense": 0.0, "gmp50": 1.0, "gmp90": 2.0}[row["variant"]]
        steps = np.arange(5, dtype=np.float32)[:, None, None, None] * scale
        histories[tuple(row[c] for c in IDENTIFIERS)] = np.ones((5, 3, 4, 4), np.float16) * 0.5 + steps / 100
    return add_prompt_divergence(study["epochs"], histories, cells)


def test_divergence_and_loss_panels(study):
    epochs = _with_divergence(study)
    plot = plot_prompt_evolution(epochs, **OPTIONS, cells=study["cells"])
    divergence_axes, loss_axes = plot.figure.axes
    assert [line.get_label() for line in _lines(divergence_axes)] == ["50% sparse", "90% sparse"]
    assert [line.get_label() for line in _lines(loss_axes)] == ["dense", "50% sparse", "90% sparse"]
    ninety = _lines(divergence_axes)[1]
    assert ninety.get_xdata().tolist() == [1, 2, 3, 4]
    # history row e+1 differs from dense by 2·(e+1)/100 in each of 48 entries
    np.testing.assert_allclose(
        ninety.get_ydata(), [2 * e / 100 * np.sqrt(48) for e in (1, 2, 3, 4)], rtol=2e-2
    )
    assert loss_axes.get_xlabel() == "epochs completed"
    assert "3 seeds" in plot.caption


def test_without_histories_or_cells_it_still_draws(study):
    plot = plot_prompt_evolution(study["epochs"].drop(columns=["prompt_dense_l2"]), **OPTIONS)
    divergence_axes, loss_axes = plot.figure.axes
    assert not _lines(divergence_axes)
    assert len(_lines(loss_axes)) == 3


def test_prompt_image_side_by_side_and_history_grid(tmp_path):
    dense = torch.rand(3, 8, 8)
    sparse = np.random.default_rng(0).uniform(-1, 2, size=(1, 3, 8, 8))
    plot = prompt_image({"dense": dense, "90% sparse": sparse}, tmp_path / "prompts")
    assert [a.get_title() for a in plot.figure.axes] == ["dense", "90% sparse"]
    image = plot.figure.axes[1].images[0].get_array()
    assert image.shape == (8, 8, 3) and image.min() >= 0 and image.max() <= 1
    assert ET.parse(tmp_path / "prompts.svg").getroot().tag.endswith("svg")
    assert (tmp_path / "prompts.png").is_file()
    history = np.random.default_rng(1).uniform(size=(5, 3, 8, 8))
    grid = prompt_image({"dense": history, "sparse": history}, epochs=[0, 4], normalise=True)
    assert len(grid.figure.axes) == 4 and "init" in grid.figure.axes[0].get_title()
    assert "min–max" in grid.caption


def test_prompt_image_rejects_wrong_shapes():
    with pytest.raises(ValueError, match="C×H×W"):
        prompt_image({"flat": np.zeros((8, 8))})
