"""Label-mapping figure (dense vs compressed source classes)."""

from __future__ import annotations

from vpbench.results.figures.label_mapping_fig import CHANGED_COLOR, mapping_pairs, plot_label_mapping

OPTIONS = {
    "model": "resnet18",
    "dataset": "oxford_pets",
    "method": "ilm",
    "shots": "10",
    "dense_variant": "dense",
    "compressed_variant": "gmp90",
}


def test_pairs_flag_classes_whose_source_changed(study):
    pairs, seed = mapping_pairs(study["classes"], **OPTIONS)
    assert seed == 1
    assert pairs["class_name"].tolist() == ["Abyssinian", "Bombay", "Sphynx", "pug"]
    assert pairs["changed"].tolist() == [False, True, False, True]  # the synthetic model remaps odd classes
    assert pairs.loc[1, "dense_source"] == "goldfish (#1)" and pairs.loc[1, "compressed_source"] == "tub (#4)"


def test_default_shows_changed_classes_in_red(study):
    plot = plot_label_mapping(study["classes"], **OPTIONS, compressed_label="90% sparse")
    (axes,) = plot.figure.axes
    texts = {t.get_text(): t for t in axes.texts}
    assert {"target class", "dense → ImageNet class", "90% sparse → ImageNet class"} <= set(texts)
    assert {"Bombay", "pug"} <= set(texts) and "Sphynx" not in texts
    assert texts["tub (#4)"].get_color() == CHANGED_COLOR
    assert "2 of 4 classes differ" in plot.caption and "seed 1" in plot.caption


def test_requested_classes_by_name_or_index(study):
    plot = plot_label_mapping(study["classes"], **OPTIONS, target_classes=["Sphynx", 0])
    texts = {t.get_text() for t in plot.figure.axes[0].texts}
    assert {"Sphynx", "Abyssinian"} <= texts and "Bombay" not in texts


def test_no_common_seed_gives_an_empty_table(study):
    plot = plot_label_mapping(study["classes"], **{**OPTIONS, "compressed_variant": "missing"})
    assert "no class mappings for both variants" in {t.get_text() for t in plot.figure.axes[0].texts}
    assert "Showing 0 of 0" in plot.caption
