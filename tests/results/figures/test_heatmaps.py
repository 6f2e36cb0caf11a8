"""Δ heatmaps with paired significance marks, correction named in the legend, missing cells marked."""

from __future__ import annotations

import numpy as np

from vpbench.results.figures.heatmaps import SAMPLE_MARK, SEED_MARK, delta_grid, plot_delta_heatmap
from vpbench.results.figures.style import empty_panels


def _annotations(axes):
    return [t.get_text() for t in axes.texts]


def test_heatmap_values_are_dense_minus_compressed_in_pp(study_with_stats):
    cells = study_with_stats["cells"]
    plot = plot_delta_heatmap(
        cells, "resnet18", "ilm", "cifar10", comparisons=study_with_stats["comparisons"]
    )
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
    assert "paired" in plot.caption and "Holm" in plot.caption and "3 seeds" in plot.caption
    assert "Welch" not in plot.caption
    assert not empty_panels(plot.figure)


def test_marks_follow_the_paired_tests_after_correction(study_with_stats):
    deltas = delta_grid(
        study_with_stats["cells"], "resnet18", "ilm", "cifar10", comparisons=study_with_stats["comparisons"]
    )
    assert (deltas["seed_test"] == "paired_t").all()
    assert (deltas["seed_significant"] == (deltas["seed_p_adjusted"] <= 0.05)).all()
    # the 90%-sparse penalty (20 pp) against seed noise of 2 pp is significant across seeds
    assert deltas.loc[deltas.variant == "gmp90", "seed_significant"].all()
    plot = plot_delta_heatmap(
        study_with_stats["cells"], "resnet18", "ilm", "cifar10", comparisons=study_with_stats["comparisons"]
    )
    texts = _annotations(plot.figure.axes[0])
    assert sum(SEED_MARK in text for text in texts) == int(deltas["seed_significant"].sum())
    assert sum(SAMPLE_MARK in text for text in texts) == int(deltas["sample_significant"].sum())


def test_single_seed_carries_only_the_bootstrap_mark(study_with_stats):
    deltas = delta_grid(
        study_with_stats["cells"],
        "deit_tiny",
        "flm",
        "oxford_pets",
        comparisons=study_with_stats["comparisons"],
    )
    assert not deltas["seed_significant"].any() and deltas["seed_p_adjusted"].isna().all()
    assert deltas["sample_p_adjusted"].notna().all()  # the paired bootstrap works with one seed
    plot = plot_delta_heatmap(
        study_with_stats["cells"],
        "deit_tiny",
        "flm",
        "oxford_pets",
        comparisons=study_with_stats["comparisons"],
    )
    texts = _annotations(plot.figure.axes[0])
    assert len(texts) == 6 and not any("n/a" in text or SEED_MARK in text for text in texts)
    # deit_tiny's W3A3 exists only in the cross-modal cells, so it is no row here
    assert [t.get_text() for t in plot.figure.axes[0].get_yticklabels()] == ["W4A4", "W2A2"]
    assert "1 seed" in plot.caption


def test_without_a_comparisons_table_the_paired_test_is_computed(study):
    deltas = delta_grid(study["cells"], "resnet18", "ilm", "cifar10")
    assert len(deltas) == 6 and (deltas["seed_test"] == "paired_t").all()
    assert deltas["sample_p_adjusted"].isna().all()


def test_missing_cells_are_marked_and_named(study_with_stats):
    plot = plot_delta_heatmap(
        study_with_stats["cells"], "resnet18", "flm", "oxford_pets",
        comparisons=study_with_stats["comparisons"], missing=study_with_stats["missing"],
    )  # fmt: skip
    values = np.ma.filled(plot.figure.axes[0].collections[0].get_array(), np.nan).reshape(2, 3)
    assert np.isnan(values[1, 1]) and np.isfinite(values[0]).all()
    texts = _annotations(plot.figure.axes[0])
    assert "missing" in texts and len(texts) == 6
    assert "gmp90 × 10-shot seed 1" in plot.caption and "3 seeds" not in plot.caption.split("missing")[-1][:0]


def test_no_pairs_gives_a_labelled_empty_figure(study):
    plot = plot_delta_heatmap(study["cells"], "resnet18", "rlm", "cifar10")
    assert "no dense/compressed pairs" in _annotations(plot.figure.axes[0])
    assert empty_panels(plot.figure)
