"""Saving and shared styling of figures."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from vpbench.results.figures.style import (
    Plot,
    method_colors,
    new_figure,
    ordered_methods,
    save_figure,
    seed_phrase,
    styled,
)


@styled
def _line_plot() -> Plot:
    figure, (axes,) = new_figure(1)
    axes.plot([1, 2, 3], [1, 4, 9], label="squares")
    axes.set_xlabel("x")
    return Plot(figure, "a test plot")


def test_save_figure_writes_parseable_svg_and_png(tmp_path):
    plot = _line_plot()
    svg, png = save_figure(plot.figure, tmp_path / "sub" / "squares")
    assert svg.name == "squares.svg" and png.name == "squares.png"
    assert ET.parse(svg).getroot().tag.endswith("svg")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert sorted(p.name for p in svg.parent.iterdir()) == [
        "squares.png",
        "squares.svg",
    ]  # no temp files left


def test_save_figure_is_byte_stable(tmp_path):
    plot = _line_plot()
    first, _ = save_figure(plot.figure, tmp_path / "a")
    second, _ = save_figure(plot.figure, tmp_path / "b")
    assert first.read_bytes() == second.read_bytes()


def test_new_figure_grid_has_requested_panel_count():
    figure, axes = new_figure(5, ncols=2)
    assert len(axes) == len(figure.axes) == 5


def test_method_colors_go_from_dark_to_light():
    colors = method_colors("ilm", 4)
    brightness = [sum(c[:3]) for c in colors]
    assert brightness == sorted(brightness)
    assert method_colors("ilm", 1) != method_colors("flm", 1)
    assert len(method_colors("unknown_method", 3, methods_seen=["unknown_method"])) == 3


def test_ordered_methods_follow_paper_order():
    assert ordered_methods(["rlm", "zeta", "ilm", "flm", "ilm"]) == ["ilm", "flm", "rlm", "zeta"]


@pytest.mark.parametrize(
    ("counts", "text"),
    [([3, 3], "3 seeds"), ([1], "1 seed"), ([1, 3], "1–3 seeds (varies by point)"), ([], "no seeds")],
)
def test_seed_phrase(counts, text):
    assert seed_phrase(counts) == text
