"""Δ heatmaps with significance markers."""

from __future__ import annotations

import numpy as np

from vpbench.results.figures.heatmaps import delta_grid, plot_delta_heatmap


def _annotations(axes):
    return [t.get_text() for t in axes.texts]


def test_heatmap_values_are_dense_minus_compressed_in_pp(study):
    cells = study["cells"]
    plot = plot_delta_heatmap(cells, "resnet18", "ilm", "cifar10")
    heat_axes, colorbar_axes = plot.figure.axes
    mesh = heat_axes.collections[0]
    values = np.asarray(mesh.get_array()).reshape(2, 3)  # 50% / 90% sparse × 1 / 10 / full
    rows = cells.loc[(cells.model == "resnet18") & (cells.dataset == "cifar10") & (cells.method == "ilm")]
    mean = rows.groupby(["variant", "shots"])["accuracy"].mean()
    assert np.isclose(values[1, 2], (mean[("dense", "full")] - mean[("gmp90", "full")]) * 100)
    assert [t.get_text() for t in heat_axes.get_yticklabels()] == ["50% sparse", "90% sparse"]
    assert [t.get_text() for t in heat_axes.get_xticklabels()] == ["1", "10", "full"]
    assert heat_axes.get_ylabel() == "compression level"
    assert "[pp]" in colorbar_axes.get_ylabel()
    assert all(text.rstrip("*") for text in _annotations(heat_axes))
    assert "Welch" in plot.caption and "3 seeds" in plot.caption


def test_significance_follows_welch_test(study):
    deltas = delta_grid(study["cells"], "resnet18", "ilm", "cifar10")
    assert deltas["testable"].all()
    assert (deltas["significant"] == (deltas["p_value"] < 0.05)).all()
    # the 90%-sparse penalty (20 pp) against noise of 2 pp must be significant
    assert deltas.loc[deltas.variant == "gmp90", "significant"].all()
    plot = plot_delta_heatmap(study["cells"], "resnet18", "ilm", "cifar10")
    starred = sum(text.endswith("*") for text in _annotations(plot.figure.axes[0]))
    assert starred == int(deltas["significant"].sum())


def test_single_seed_is_marked_not_testable(study):
    plot = plot_delta_heatmap(study["cells"], "deit_tiny", "flm", "oxford_pets")
    texts = _annotations(plot.figure.axes[0])
    assert len(texts) == 6 and all(text.endswith("\nn/a") for text in texts)
    # deit_tiny's W3A3 exists only in the cross-modal cells, so it is no row here
    assert [t.get_text() for t in plot.figure.axes[0].get_yticklabels()] == ["W4A4", "W2A2"]
    assert "1 seed" in plot.caption


def test_missing_cell_is_left_blank(study):
    plot = plot_delta_heatmap(study["cells"], "resnet18", "flm", "oxford_pets")
    values = np.ma.filled(plot.figure.axes[0].collections[0].get_array(), np.nan).reshape(2, 3)
    assert np.isnan(values[1, 1]) and np.isfinite(values[0]).all()
    assert len(_annotations(plot.figure.axes[0])) == 5


def test_no_pairs_gives_a_labelled_empty_figure(study):
    plot = plot_delta_heatmap(study["cells"], "resnet18", "rlm", "cifar10")
    assert "no dense/compressed pairs" in _annotations(plot.figure.axes[0])
