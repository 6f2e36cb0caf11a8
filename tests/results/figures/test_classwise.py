"""Class-wise gains and drops."""

from __future__ import annotations

import numpy as np

from vpbench.results.figures.classwise import classwise_deltas, plot_classwise_delta
from vpbench.results.figures.style import empty_panels

OPTIONS = {
    "model": "resnet18",
    "dataset": "oxford_pets",
    "method": "ilm",
    "shots": "10",
    "dense_variant": "dense",
    "compressed_variant": "gmp90",
}


def test_deltas_average_seeds_before_differencing(study):
    classes = study["classes"]
    deltas = classwise_deltas(classes, **OPTIONS)
    rows = classes.loc[
        (classes.model == "resnet18")
        & (classes.dataset == "oxford_pets")
        & (classes.method == "ilm")
        & (classes.shots == "10")
        & (classes.class_index == 2)
    ]
    expected = (
        rows.loc[rows.variant == "dense", "accuracy"].mean()
        - rows.loc[rows.variant == "gmp90", "accuracy"].mean()
    ) * 100
    assert np.isclose(deltas.set_index("class_index").loc[2, "delta_pp"], expected)
    assert (deltas["n_dense"] == 3).all()


def test_two_panels_with_top_k_bars(study):
    deltas = classwise_deltas(study["classes"], **OPTIONS)
    plot = plot_classwise_delta(study["classes"], **OPTIONS, k=2)
    drops_axes, gains_axes = plot.figure.axes
    n_drops = min(2, int((deltas["delta_pp"] > 0).sum()))
    n_gains = min(2, int((deltas["delta_pp"] < 0).sum()))
    assert len(drops_axes.patches) == n_drops and len(gains_axes.patches) == n_gains
    assert drops_axes.get_xlabel() == "Δ accuracy, dense − compressed [pp]"
    assert "top-2 drops" in drops_axes.get_title()
    largest = deltas.nlargest(1, "delta_pp")["class_name"].iloc[0]
    if n_drops:
        assert largest in [t.get_text() for t in drops_axes.get_yticklabels()]
    assert "3 seeds" in plot.caption


def test_missing_variant_gives_a_marked_empty_panel(study):
    plot = plot_classwise_delta(study["classes"], **{**OPTIONS, "compressed_variant": "absent"})
    assert all(not axes.patches for axes in plot.figure.axes)
    assert empty_panels(plot.figure) and "no per-class accuracies" in plot.caption
