"""Report tables: content, gaps, intervals, planning from what the cells are, and the HTML/CSV/LaTeX files."""

from __future__ import annotations

import pandas as pd
import pytest

from tests.results.figures.synthetic_study import make_study, with_statistics
from vpbench.errors import ConfigError
from vpbench.results.claims import evaluate_claims
from vpbench.results.plan import cells_as_plan
from vpbench.results.tables import (
    GAP,
    TABLE_KINDS,
    TableInputs,
    accuracy_table,
    claims_table,
    comparisons_table,
    mean_std_text,
    missing_cells_table,
    plan_tables,
    published_comparison_table,
    study_table,
    table1_compression_summary,
    table2_clip,
    table4_quantized_cross_modal,
    table5_batch_sizes,
    table_cross_modal,
    write_study_tables,
)

PAPER_BATCH_SIZES = {1: 8, 2: 8, 5: 16, 10: 32, 20: 32, 50: 64, 100: 128, "full": 128}


@pytest.fixture(scope="module")
def frames():
    return with_statistics(make_study())


@pytest.fixture(scope="module")
def cells(frames):
    return frames["cells"]


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
    assert "<table" in html and "<caption>" in html
    tex = (tmp_path / "table2.tex").read_text()
    assert r"\begin{tabular}" in tex and r"$\pm$" in tex and r"\%" in tex and "±" not in tex
    assert table.attrs["caption"].startswith("Visual prompting on CLIP models")


def test_table2_is_every_clip_kind_model_with_its_variants_and_drops(cells):
    table = table2_clip(cells)
    assert table.columns.tolist() == ["dense", "UPop 2×"]  # the study's variants, labelled by their cards
    assert set(table.index.get_level_values("Model")) == {"CLIP ViT-L/14"}  # the family's registry label
    dense, dense_std = _mean(cells, model="clip_vit_l14", variant="dense", method="bahng_vp")
    half, _ = _mean(cells, model="clip_vit_l14", variant="upop2x", method="bahng_vp")
    row = ("CLIP ViT-L/14", "CIFAR-10 (N = full)", "VP (Bahng)")
    assert table.loc[row, "dense"] == f"{dense:.2f} ± {dense_std:.2f} %"
    assert table.loc[row, "UPop 2×"].endswith(f"({dense - half:.2f} ↓)")


def test_cross_modal_tables_group_variants_by_compression_kind(cells, tmp_path):
    table3 = table_cross_modal(cells, out_stem=tmp_path / "table3")
    assert table3.index.tolist() == ["Splice (N = full)", "Yelp (N = full)"]
    assert table3.columns.get_level_values(0).tolist() == ["Dense", "Dense", "Sparse", "Quantized"]
    mean, std = _mean(cells, model="resnet34", variant="gmp", dataset="splice")
    assert table3.loc["Splice (N = full)", ("Sparse", "ResNet-34 sparse")] == f"{mean:.2f} ± {std:.2f}"
    table4 = table4_quantized_cross_modal(cells)
    assert table4.columns.get_level_values(1).tolist() == ["DeiT-T 32-bit", "ResNet-34 dense", "DeiT-T W3A3"]
    assert set(table4.columns.get_level_values(0)) == {"Dense", "Quantized"}


def test_table1_classifies_paired_drops_with_stated_thresholds(cells, frames, tmp_path):
    table = table1_compression_summary(
        cells, low_pp=5, high_pp=15, comparisons=frames["comparisons"], out_stem=tmp_path / "table1"
    )
    drop_column = "Performance drop (Low < 5 pp ≤ Moderate < 15 pp ≤ High)"
    assert table.index.tolist() == ["GMP", "UPop", "VVTQ"]  # the technique registry's rank order
    assert table.loc["UPop", "Type"] == "Structured" and table.loc["VVTQ", "Type"] == "Quantization"
    assert table.loc["GMP", "Models"] == "ResNet-18, ResNet-34"
    assert table.loc["GMP", "Paper"] == "High" and table.loc["VVTQ", "Paper"] == "Moderate"
    for name, row in table.iterrows():
        value = float(row["Mean Δ accuracy [pp]"])
        expected = "Low" if value < 5 else "Moderate" if value < 15 else "High"
        assert row[drop_column] == expected, name
    strict = table1_compression_summary(cells, low_pp=0.0, high_pp=0.1)  # paired tests computed here
    assert set(strict["Performance drop (Low < 0 pp ≤ Moderate < 0.1 pp ≤ High)"]) == {"High"}
    assert "Low < 5 pp" in (tmp_path / "table1.html").read_text().replace("&lt;", "<")
    with pytest.raises(ConfigError, match="low_pp"):
        table1_compression_summary(cells, low_pp=20, high_pp=10)


def test_accuracy_table_shows_intervals_across_seeds_or_over_test_samples(cells, frames):
    table = accuracy_table(cells, intervals=frames["intervals"])
    assert table.index.names == ["Model", "Compression", "Method"]
    assert ("ResNet-18", "90% sparse", "FLM-VP") in table.columns or (
        "ResNet-18",
        "90% sparse",
        "FLM-VP",
    ) in table.index
    assert ("OxfordPets", "full") in table.columns
    three_seeds = table.loc[("ResNet-18", "dense", "ILM-VP"), ("CIFAR-10", "1")]
    rows = frames["intervals"]
    mask = (rows.model == "resnet18") & (rows.variant == "dense") & (rows.method == "ilm")
    row = rows.loc[
        mask & (rows.dataset == "cifar10") & (rows.shots == "1") & (rows.metric == "accuracy")
    ].iloc[0]
    assert three_seeds == f"{row['mean'] * 100:.2f} [{row['ci_low'] * 100:.2f}, {row['ci_high'] * 100:.2f}]"
    assert table.loc[("ResNet-18", "90% sparse", "FLM-VP"), ("OxfordPets", "10")] == GAP  # missing cell
    single = table.loc[("DeiT-T", "W2A2", "ILM-VP"), ("CIFAR-10", "1")]
    assert single.endswith("]†")  # one seed: the bootstrap interval over its test samples
    without = accuracy_table(cells)  # no stats table: t-intervals where there are seeds, else the mean
    assert "[" not in without.loc[("DeiT-T", "W2A2", "ILM-VP"), ("CIFAR-10", "1")]


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
    assert table2_clip(empty).empty
    assert table_cross_modal(empty).empty
    assert table1_compression_summary(empty).empty
    accuracy_table(empty, out_stem=tmp_path / "empty")
    comparisons_table(pd.DataFrame(), out_stem=tmp_path / "comparisons")
    missing_cells_table(pd.DataFrame(), planned=3, out_stem=tmp_path / "missing")
    assert (tmp_path / "empty.tex").is_file() and "none failed" in (tmp_path / "missing.html").read_text()


def test_published_comparison_table(cells, tmp_path):
    table = published_comparison_table(cells, out_stem=tmp_path / "comparison")
    assert set(table["Verdict"]) <= {"within", "outside", "spread unknown", "no run", "no published value"}
    assert "no run" in set(table["Verdict"])
    assert (tmp_path / "comparison.html").is_file()


def test_mean_std_text():
    assert mean_std_text(0.9101, 0.0121) == "91.01 ± 1.21"
    assert mean_std_text(0.5, float("nan")) == "50.00"
    assert mean_std_text(float("nan"), 0.1) == GAP


def test_comparisons_table_shows_both_paired_tests(frames, tmp_path):
    table = comparisons_table(frames["comparisons"], cells=frames["cells"], out_stem=tmp_path / "comparisons")
    row = table.loc[("ResNet-18", "CIFAR-10", "ILM-VP", "gmp90", "full")]
    assert row["Seeds"] == 3 and row["Δ [95% CI], across seeds (paired t)"].count("[") == 1
    assert row["p adj., test samples (bootstrap)"] != GAP
    single = table.loc[("DeiT-T", "CIFAR-10", "FLM-VP", "w2a2", "1")]
    assert "one seed" in single["p adj., across seeds (paired t)"]  # the reason, not a number
    assert "Holm-adjusted" in table.attrs["caption"]


def test_missing_cells_table_lists_rule_log_and_reason(frames, tmp_path):
    table = missing_cells_table(frames["missing"], planned=500, out_stem=tmp_path / "missing")
    assert len(table) == 3 and set(table["Rule"]) == {"train_cell"}
    assert table["Reason"].str.contains("NumericalError").all() and table["Log"].str.endswith(".log").all()
    assert table.attrs["caption"].startswith("3 of 500 planned cells failed")


def test_claims_table_has_a_verdict_per_claim_and_the_full_csv(frames, tmp_path):
    evaluated = evaluate_claims(frames["cells"], frames["classes"], missing=frames["missing"])
    table = claims_table(evaluated, out_stem=tmp_path / "claims")
    assert len(table) == len(evaluated) and set(table["Verdict"]) <= {
        "supported",
        "contradicted",
        "not enough data",
    }
    full = pd.read_csv(tmp_path / "claims.csv")
    assert list(full.columns) == list(evaluated.columns) and "cells_used" in full.columns
    assert table.loc["table1_drop_gmp", "Cells missing"] == 3  # the missing gmp90 FLM cells


def test_study_table_states_the_resolved_recipe_and_what_cells_recorded(cells, tmp_path):
    from tests.studies import loaded_study
    from vpbench.results.tables import study_recipes

    study = loaded_study({"training": {"epochs": 12}})
    recipes = study_recipes(study)
    table = study_table(recipes, {"study": study.name}, cells=cells, out_stem=tmp_path / "study")
    method = next(iter(recipes))
    from vpbench.results.figures.labels import method_label

    assert table.loc["epochs", method_label(method)] == "12"
    assert "epochs (recorded by the cells)" in table.index
    assert "12" in (tmp_path / "study.html").read_text()


def test_tables_are_planned_from_what_the_cells_are_not_from_names(cells):
    from tests.studies import loaded_study
    from vpbench.results.tables import study_tables

    image = loaded_study({"models": {"anything": {"family": "mobilenet_v2", "variants": {"dense": {}}}}})
    assert study_tables(image) == ["accuracy", "claims", "table5", "study", "failed_cells"]  # no compression
    text = loaded_study(
        {"datasets": {"synthetic_dna": {}}, "methods": ["cmr"], "shots": ["full"],
         "training": {"batch_size": {"full": 8}}}
    )  # fmt: skip
    assert "table3" in study_tables(text) and "table2" not in study_tables(text)
    from vpbench.results.plan import PlanContext

    planned = plan_tables(PlanContext(cells=cells_as_plan(cells)))
    assert {"table1", "table2", "table3", "table4", "comparisons", "published_comparison"} <= set(planned)


def test_write_study_tables_writes_every_planned_table(frames, tmp_path):
    inputs = TableInputs(
        cells=frames["cells"], classes=frames["classes"], comparisons=frames["comparisons"],
        intervals=frames["intervals"], missing=frames["missing"],
        config={"training": {"batch_size": {"1": 8, "10": 32, "full": 128}}, "shots": [1, 10, "full"]},
        recipes={"recipes": {"ilm": {"epochs": "4"}}, "context": {"study": "synth"}}, planned=600,
    )  # fmt: skip
    from vpbench.results.aggregate import write_tables

    # the tables share their folder with the aggregation's files (missing.csv is read at the end of a run)
    aggregated = {
        path: path.read_bytes() for path in write_tables({"missing": frames["missing"]}, tmp_path).values()
    }
    names = [name for name in TABLE_KINDS if name != "published_comparison"]
    tables = write_study_tables(inputs, tmp_path, names)
    assert set(tables) == set(names)
    for name in names:
        assert (tmp_path / f"{name}.html").is_file(), name
    overwritten = [path.name for path, content in aggregated.items() if path.read_bytes() != content]
    assert not overwritten, f"report tables overwrote the aggregation's {overwritten}"
