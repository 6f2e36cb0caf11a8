"""Report tables: content, gaps, and the HTML/CSV/LaTeX files."""

from __future__ import annotations

import pandas as pd
import pytest

from tests.results.figures.synthetic_study import make_study
from vpbench.errors import ConfigError
from vpbench.results.tables import (
    GAP,
    TABLE4_COLUMNS,
    accuracy_table,
    mean_std_text,
    published_comparison_table,
    table1_compression_summary,
    table2_clip,
    table5_batch_sizes,
    table_cross_modal,
)

PAPER_BATCH_SIZES = {1: 8, 2: 8, 5: 16, 10: 32, 20: 32, 50: 64, 100: 128, "full": 128}


@pytest.fixture(scope="module")
def cells():
    return make_study()["cells"]


def _mean(cells, **ids):
    mask = pd.Series(True, index=cells.index)
    for key, value in ids.items():
        mask &= cells[key] == value
    rows = cells.loc[mask, "accuracy"] * 100
    return rows.mean(), rows.std()


def test_written_files_exist_and_render_gaps(cells, tmp_path):
    table = table2_clip(cells, out_stem=tmp_path / "table2")
    for suffix in ("html", "csv", "tex"):
        assert (tmp_path / f"table2.{suffix}").stat().st_size > 0
    html = (tmp_path / "table2.html").read_text()
    assert "<table" in html and "<caption>" in html and GAP in html
    tex = (tmp_path / "table2.tex").read_text()
    assert r"\begin{tabular}" in tex and r"$\pm$" in tex and r"\%" in tex and "±" not in tex
    assert table.attrs["caption"].startswith("Visual prompting on CLIP ViT-L/14")


def test_table2_reports_means_and_drops(cells):
    table = table2_clip(cells)
    assert table.columns.tolist() == ["Dense", "2×", "4×"]
    dense, dense_std = _mean(cells, model="clip_vit_l14", variant="dense", method="bahng_vp")
    half, _ = _mean(cells, model="clip_vit_l14", variant="upop2x", method="bahng_vp")
    assert table.loc[("CIFAR-10", "VP"), "Dense"] == f"{dense:.2f} ± {dense_std:.2f} %"
    assert table.loc[("CIFAR-10", "VP"), "2×"].endswith(f"({dense - half:.2f} ↓)")
    assert table.loc[("CIFAR-10", "VP"), "4×"] == GAP  # never ran
    assert (table.loc["DTD"] == GAP).all().all()


def test_cross_modal_tables_have_paper_layout(cells, tmp_path):
    table3 = table_cross_modal(cells, out_stem=tmp_path / "table3")
    assert table3.index.tolist() == ["Yelp", "IMDB", "AG News", "DBPedia", "Splice"]
    assert table3.columns.get_level_values(0).tolist() == ["Dense"] * 2 + ["Sparse"] * 2 + ["Quantized"] * 2
    mean, std = _mean(cells, model="resnet34", variant="gmp", dataset="splice")
    assert table3.loc["Splice", ("Sparse", "ResNet-34")] == f"{mean:.2f} ± {std:.2f}"
    assert table3.loc["Yelp", ("Dense", "ResNet-50")] == GAP
    table4 = table_cross_modal(cells, columns=TABLE4_COLUMNS)
    assert table4.columns.get_level_values(1).tolist() == [
        "DeiT 32-bit",
        "DeiT 4-bit",
        "DeiT 3-bit",
        "DeiT 2-bit",
    ]
    assert table4.loc["Yelp", ("Quantized", "DeiT 4-bit")] == GAP


def test_table1_classifies_drops_with_stated_thresholds(cells, tmp_path):
    table = table1_compression_summary(cells, low_pp=5, high_pp=15, out_stem=tmp_path / "table1")
    drop_column = "Performance drop (Low < 5 pp ≤ Moderate < 15 pp ≤ High)"
    assert table.index.tolist() == ["GMP", "UPop", "VVTQ"]
    assert table.loc["UPop", "Type"] == "Structured" and table.loc["VVTQ", "Type"] == "Quantization"
    assert table.loc["GMP", "Models"] == "ResNet-18, ResNet-34"
    for name, row in table.iterrows():
        value = float(row["Mean Δ accuracy [pp]"])
        expected = "Low" if value < 5 else "Moderate" if value < 15 else "High"
        assert row[drop_column] == expected, name
    strict = table1_compression_summary(cells, low_pp=0.0, high_pp=0.1)
    assert set(strict["Performance drop (Low < 0 pp ≤ Moderate < 0.1 pp ≤ High)"]) == {"High"}
    assert "Low < 5 pp" in (tmp_path / "table1.html").read_text().replace("&lt;", "<")
    with pytest.raises(ConfigError, match="low_pp"):
        table1_compression_summary(cells, low_pp=20, high_pp=10)


def test_accuracy_table_rows_and_columns(cells):
    table = accuracy_table(cells)
    assert table.index.names == ["Model", "Compression", "Method"]
    assert ("ResNet-18", "90% sparse", "FLM-VP") in table.index
    assert ("OxfordPets", "full") in table.columns
    mean, std = _mean(cells, model="resnet18", variant="dense", method="ilm", dataset="cifar10", shots="1")
    assert table.loc[("ResNet-18", "dense", "ILM-VP"), ("CIFAR-10", "1")] == f"{mean:.2f} ± {std:.2f}"
    assert table.loc[("ResNet-18", "90% sparse", "FLM-VP"), ("OxfordPets", "10")] == GAP  # missing cell
    single = table.loc[("DeiT-T", "W2A2", "ILM-VP"), ("CIFAR-10", "1")]
    assert "±" not in single and single != GAP  # one seed: mean only


def test_table5_from_config_and_runs(cells, tmp_path):
    table = table5_batch_sizes(
        {"training": {"batch_size": PAPER_BATCH_SIZES}}, cells=cells, out_stem=tmp_path / "table5"
    )
    assert table.columns.tolist() == ["1", "2", "5", "10", "20", "50", "100", "Full"]
    assert table.loc["Batch size (config)"].tolist() == [8, 8, 16, 32, 32, 64, 128, 128]
    assert table.loc["Batch size (runs)", "10"] == "32" and table.loc["Batch size (runs)", "2"] == GAP
    flat = table5_batch_sizes({"training": {"batch_size": 16}, "shots": ["full", 1]})
    assert flat.columns.tolist() == ["1", "Full"] and flat.iloc[0].tolist() == [16, 16]
    with pytest.raises(ConfigError, match=r"'training\.batch_size'"):
        table5_batch_sizes({"training": {}})


def test_empty_study_does_not_crash(cells, tmp_path):
    empty = cells.iloc[0:0]
    assert (table2_clip(empty) == GAP).all().all()
    assert (table_cross_modal(empty) == GAP).all().all()
    assert table1_compression_summary(empty).empty
    accuracy_table(empty, out_stem=tmp_path / "empty")
    assert (tmp_path / "empty.tex").is_file()


def test_published_comparison_table(cells, tmp_path):
    table = published_comparison_table(cells, out_stem=tmp_path / "comparison")
    assert set(table["Verdict"]) <= {"within", "outside", "spread unknown", "no run", "no published value"}
    assert "no run" in set(table["Verdict"])
    assert (tmp_path / "comparison.html").is_file()


def test_mean_std_text():
    assert mean_std_text(0.9101, 0.0121) == "91.01 ± 1.21"
    assert mean_std_text(0.5, float("nan")) == "50.00"
    assert mean_std_text(float("nan"), 0.1) == GAP
