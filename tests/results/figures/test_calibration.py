"""Calibration/confidence versus compression and reliability diagrams."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from vpbench import metrics
from vpbench.results.figures.calibration import plot_metric_vs_compression
from vpbench.results.figures.reliability import (
    expected_calibration_error,
    plot_reliability,
    reliability_inputs,
)
from vpbench.results.figures.style import empty_panels


def reliability_bins(probs, labels) -> pd.DataFrame:
    """The bins of one cell as the aggregated reliability table holds them."""
    return pd.DataFrame(metrics.reliability_bins(probs, labels))


def _lines(axes):
    return [line for line in axes.get_lines() if not line.get_label().startswith("_")]


def test_ece_panels_per_dataset_with_ordered_compression_axis(study):
    plot = plot_metric_vs_compression(study["cells"], "resnet18", metric="ece")
    assert len(plot.figure.axes) == 2
    for axes in plot.figure.axes:
        assert [t.get_text() for t in axes.get_xticklabels()] == ["dense", "50% sparse", "90% sparse"]
        assert axes.get_ylabel() == "ECE, 15 bins [%]"
        assert len(axes.containers) == 2  # one error-bar line per method
    assert "N-shot = CIFAR-10: full; OxfordPets: full" in plot.caption and "3 seeds" in plot.caption


def test_quantized_axis_runs_from_full_precision_to_fewest_bits(study):
    plot = plot_metric_vs_compression(study["cells"], "deit_tiny", metric="mean_conf_correct")
    labels = [t.get_text() for t in plot.figure.axes[0].get_xticklabels()]
    assert labels == ["32-bit", "W4A4", "W2A2"]
    assert plot.figure.axes[0].get_ylabel() == "mean confidence of correct predictions [%]"


def test_kl_panels_name_the_class_count(study):
    plot = plot_metric_vs_compression(study["cells"], "resnet18", metric="kl_uniform_wrong")
    titles = [a.get_title() for a in plot.figure.axes]
    assert titles == ["CIFAR-10 (C = 3) · N = full", "OxfordPets (C = 4) · N = full"]
    assert "log C" in plot.caption


def test_missing_shots_and_none_fallback(study):
    cells = study["cells"]
    empty = plot_metric_vs_compression(cells, "resnet18", shots="2")
    assert all(not axes.containers for axes in empty.figure.axes)
    assert len(empty_panels(empty.figure)) == 2
    largest = plot_metric_vs_compression(cells.loc[cells.shots != "full"], "resnet18", shots=None)
    assert "N-shot = CIFAR-10: 10; OxfordPets: 10" in largest.caption


def test_each_dataset_panel_uses_its_planned_budget(study):
    cells = study["cells"]
    plot = plot_metric_vs_compression(cells, "resnet18", panels=[("cifar10", "full"), ("oxford_pets", "10")])
    assert [a.get_title() for a in plot.figure.axes] == ["CIFAR-10 · N = full", "OxfordPets · N = 10"]
    assert not empty_panels(plot.figure)


def test_classwise_ece_without_the_column_is_marked_not_drawn(study):
    cells = study["cells"].drop(columns=["classwise_ece"])
    plot = plot_metric_vs_compression(cells, "resnet18", metric="classwise_ece")
    assert len(empty_panels(plot.figure)) == 2


def test_paper_compatible_quantities_sit_under_the_corrected_ones(study):
    from vpbench.results.figures.calibration import plot_metric_rows

    plot = plot_metric_rows(study["cells"], "resnet18", ["ece", "ece_paper_compat"])
    assert len(plot.figure.axes) == 4 and not empty_panels(plot.figure)
    assert plot.figure.axes[2].get_ylabel().startswith("paper-compatible 'ECE'")


def test_reliability_bins_are_right_closed_and_ece_matches_hand_value():
    probs = np.array([[0.9, 0.1], [0.9, 0.1], [0.5, 0.5], [2 / 15, 13 / 15]])
    labels = np.array([0, 1, 0, 1])
    bins = reliability_bins(probs, labels)
    assert bins.loc[13, "count"] == 2 and bins.loc[7, "count"] == 1
    assert bins.loc[12, "count"] == 1  # exactly 13/15 belongs to (12/15, 13/15]
    assert bins["count"].sum() == 4
    expected = (2 * 0.4 + 0.5 + (1 - 13 / 15)) / 4
    assert expected_calibration_error(bins) == pytest.approx(expected)


@pytest.mark.parametrize("seed", [0, 1])
def test_ece_agrees_with_an_independent_loop(seed):
    rng = np.random.default_rng(seed)
    probs = rng.dirichlet(np.ones(6) * 0.5, size=400)
    labels = rng.integers(0, 6, size=400)
    conf, pred = probs.max(1), probs.argmax(1)
    ece = 0.0
    for k in range(15):
        members = (conf > k / 15) & (conf <= (k + 1) / 15)
        if members.any():
            ece += members.mean() * abs((pred[members] == labels[members]).mean() - conf[members].mean())
    assert expected_calibration_error(reliability_bins(probs, labels)) == pytest.approx(ece)


def test_reliability_figure_has_one_panel_per_input(tmp_path):
    rng = np.random.default_rng(0)
    probs = rng.dirichlet(np.ones(4), size=100)
    labels = rng.integers(0, 4, size=100)
    bins = reliability_bins(probs, labels)
    plot = plot_reliability({"dense": bins, "W2A2": bins}, title="DeiT-T on CIFAR-10")
    assert [a.get_title() for a in plot.figure.axes] == ["dense", "W2A2"]
    assert plot.figure.axes[0].get_xlabel() == "confidence (max softmax probability)"
    assert "15 equal-width bins" in plot.caption


def test_reliability_inputs_pool_seeds_of_every_variant(study):
    inputs = reliability_inputs(study["cells"], study["reliability"], "resnet18", "cifar10", "ilm")
    assert list(inputs) == [
        "dense (3 seeds pooled)",
        "50% sparse (3 seeds pooled)",
        "90% sparse (3 seeds pooled)",
    ]
    pooled = inputs["dense (3 seeds pooled)"]
    rows = study["reliability"]
    rows = rows.loc[(rows.model == "resnet18") & (rows.dataset == "cifar10") & (rows.method == "ilm")
                    & (rows.shots == "full") & (rows.variant == "dense")]  # fmt: skip
    assert pooled["count"].sum() == rows["count"].sum()
    weighted = (rows["accuracy"].fillna(0) * rows["count"]).sum() / rows["count"].sum()
    assert (pooled["accuracy"].fillna(0) * pooled["count"]).sum() / pooled["count"].sum() == pytest.approx(
        weighted
    )


def test_reliability_inputs_read_dense_and_most_compressed_from_the_table(study):
    cells = study["cells"]
    row = cells.loc[
        (cells.model == "resnet18")
        & (cells.dataset == "cifar10")
        & (cells.method == "ilm")
        & (cells.shots == "full")
        & (cells.seed == 1)
    ]
    tables = []
    for variant, value in (("dense", 0.7), ("gmp90", 0.4)):
        ids = row.loc[row.variant == variant].iloc[0][
            ["study", "dataset", "model", "variant", "method", "shots", "seed"]
        ]
        probs = np.tile([value, (1 - value) / 2, (1 - value) / 2], (5, 1))
        bins = reliability_bins(probs, np.zeros(5, dtype=np.int64))
        tables.append(bins.assign(bin=range(len(bins)), **ids.to_dict()))
    inputs = reliability_inputs(cells, pd.concat(tables), "resnet18", "cifar10", "ilm", seed=1)
    assert list(inputs) == ["dense (seed 1)", "90% sparse (seed 1)"]
    assert inputs["90% sparse (seed 1)"]["count"].sum() == 5
