"""Aggregation of cell outputs into study tables."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from tests.results.figures.synthetic_study import make_study, write_cell_dirs
from vpbench.errors import VpbenchError
from vpbench.results.aggregate import (
    IDENTIFIERS,
    CellOutputError,
    add_prompt_divergence,
    aggregate_study,
    cell_path,
    collect_cells,
    load_prompt_histories,
    load_test_predictions,
    parse_cell_dir,
    write_tables,
)
from vpbench.results.frames import (
    dense_variant_of,
    most_compressed_variant,
    ordered_shots,
    summarise,
    variant_order,
)
from vpbench.runtime import atomic_io


@pytest.fixture(scope="module")
def study():
    return make_study()


@pytest.fixture
def cell_dirs(study, tmp_path):
    return write_cell_dirs(study, tmp_path / "results", limit=6)


def test_collect_reads_every_table_with_schema_dtypes(study, cell_dirs):
    frames = collect_cells(cell_dirs)
    assert set(frames) == {"cells", "epochs", "classes", "missing"}
    assert len(frames["cells"]) == 6 and frames["missing"].empty
    assert len(frames["epochs"]) == 6 * 4
    assert frames["cells"]["seed"].dtype == "int64"
    assert pd.api.types.is_string_dtype(frames["cells"]["shots"])
    expected = study["cells"].head(6)["accuracy"].to_numpy()
    np.testing.assert_allclose(frames["cells"]["accuracy"].to_numpy(), expected)


def test_missing_file_raises_an_error_naming_it(cell_dirs):
    (cell_dirs[1] / "classes.parquet").unlink()
    with pytest.raises(CellOutputError, match=r"seed\d+/classes\.parquet is missing") as info:
        collect_cells(cell_dirs)
    assert isinstance(info.value, VpbenchError)
    assert info.value.path == cell_dirs[1] / "classes.parquet"


def test_corrupt_file_raises_an_error_naming_it(cell_dirs):
    (cell_dirs[2] / "epochs.parquet").write_bytes(b"PAR1 not really parquet")
    with pytest.raises(CellOutputError, match=r"epochs\.parquet is unreadable"):
        collect_cells(cell_dirs)


def test_allow_missing_lists_skipped_cells(cell_dirs, tmp_path):
    (cell_dirs[0] / "metrics.parquet").unlink()
    (cell_dirs[3] / "epochs.parquet").write_bytes(b"garbage")
    never_ran = cell_path(
        tmp_path / "results",
        {
            "study": "synth",
            "dataset": "dtd",
            "model": "resnet18",
            "variant": "dense",
            "method": "rlm",
            "shots": "full",
            "seed": 7,
        },
    )
    frames = collect_cells([*cell_dirs, never_ran], allow_missing=True)
    assert len(frames["cells"]) == 4
    missing = frames["missing"].set_index("cell_dir")
    assert missing.loc[str(cell_dirs[0]), "file"] == "metrics.parquet"
    assert missing.loc[str(cell_dirs[3]), "reason"].startswith("unreadable")
    row = missing.loc[str(never_ran)]
    assert (row["dataset"], row["method"], row["shots"], row["seed"]) == ("dtd", "rlm", "full", 7)
    assert list(frames["missing"].columns[: len(IDENTIFIERS)]) == list(IDENTIFIERS)


def test_metrics_without_identifiers_are_rejected(cell_dirs):
    atomic_io.write_parquet(cell_dirs[0] / "metrics.parquet", pd.DataFrame({"accuracy": [0.5]}))
    with pytest.raises(CellOutputError, match=r"lacking the identifier columns \['study'"):
        collect_cells(cell_dirs)


def test_write_tables_round_trips(cell_dirs, tmp_path):
    frames = collect_cells(cell_dirs)
    paths = write_tables(frames, tmp_path / "tables")
    assert {p.name for p in paths.values()} == {
        "cells.parquet",
        "epochs.parquet",
        "classes.parquet",
        "reliability.parquet",
        "missing.csv",
    }
    pd.testing.assert_frame_equal(pd.read_parquet(paths["cells"]), frames["cells"])
    assert pd.read_csv(paths["missing"]).columns.tolist()[-5:] == [
        "cell_dir",
        "file",
        "reason",
        "rule",
        "log",
    ]


def test_parse_cell_dir_and_cell_path_are_inverse(tmp_path):
    ids = {
        "study": "s",
        "dataset": "dtd",
        "model": "m",
        "variant": "v",
        "method": "ilm",
        "shots": "10",
        "seed": 2,
    }
    assert parse_cell_dir(cell_path(tmp_path, ids)) == ids
    with pytest.raises(CellOutputError, match="not a cell folder"):
        parse_cell_dir(tmp_path / "somewhere" / "else")


def test_summarise_gives_mean_std_and_t_interval():
    frame = pd.DataFrame({"g": ["a", "a", "a", "b"], "acc": [0.5, 0.6, 0.7, 0.9]})
    summary = summarise(frame, ["g"], "acc").set_index("g")
    assert summary.loc["a", "mean"] == pytest.approx(0.6)
    assert summary.loc["a", "std"] == pytest.approx(0.1)
    assert summary.loc["a", "ci95"] == pytest.approx(stats.t.ppf(0.975, 2) * 0.1 / np.sqrt(3))
    assert summary.loc["b", "n_seeds"] == 1
    assert np.isnan(summary.loc["b", "std"]) and np.isnan(summary.loc["b", "ci95"])
    assert summarise(frame.iloc[0:0], ["g"], "acc").empty


def _ids(variant, seed=1):
    return ("synth", "cifar10", "resnet18", variant, "ilm", "1", seed)


def test_prompt_divergence_aligns_history_rows_with_epochs(study):
    init = np.zeros((5, 3, 2, 2), np.float16)
    moved = init.copy()
    moved[1:] = np.arange(1, 5, dtype=np.float16)[:, None, None, None]  # row e: every entry = e
    histories = {_ids("dense"): init, _ids("gmp90"): moved, _ids("gmp50", seed=2): moved}
    epochs = add_prompt_divergence(study["epochs"], histories, study["cells"])
    key = (
        (epochs.dataset == "cifar10")
        & (epochs.model == "resnet18")
        & (epochs.method == "ilm")
        & (epochs.shots == "1")
    )
    sparse = epochs.loc[key & (epochs.variant == "gmp90") & (epochs.seed == 1)].sort_values("epoch")
    np.testing.assert_allclose(sparse["prompt_dense_l2"], [e * np.sqrt(12) for e in (1, 2, 3, 4)])
    dense = epochs.loc[key & (epochs.variant == "dense") & (epochs.seed == 1), "prompt_dense_l2"]
    assert (dense == 0).all()
    # seed 2 has no dense history → NaN; untouched cells → NaN
    assert epochs.loc[key & (epochs.variant == "gmp50") & (epochs.seed == 2), "prompt_dense_l2"].isna().all()
    assert epochs.loc[epochs.dataset == "oxford_pets", "prompt_dense_l2"].isna().all()
    assert len(epochs) == len(study["epochs"])


def test_prompt_divergence_uses_the_shorter_history(study):
    histories = {_ids("dense"): np.zeros((3, 2), np.float16), _ids("gmp90"): np.ones((5, 2), np.float16)}
    epochs = add_prompt_divergence(study["epochs"], histories, study["cells"])
    rows = epochs.loc[
        (epochs.model == "resnet18")
        & (epochs.variant == "gmp90")
        & (epochs.dataset == "cifar10")
        & (epochs.method == "ilm")
        & (epochs.shots == "1")
        & (epochs.seed == 1)
    ].sort_values("epoch")
    assert rows["prompt_dense_l2"].iloc[:2].tolist() == pytest.approx([np.sqrt(2)] * 2)
    assert rows["prompt_dense_l2"].iloc[2:].isna().all()


def test_histories_are_loaded_and_aggregate_study_writes_divergence(study, tmp_path):
    dirs = write_cell_dirs(
        study, tmp_path / "results", limit=3
    )  # resnet18 dense cifar10 ilm 1-shot seeds 1–3
    for cell_dir in dirs:
        atomic_io.save_numpy(cell_dir / "prompt_history.npy", np.zeros((5, 3), np.float16))
    histories = load_prompt_histories(dirs)
    assert set(histories) == {_ids("dense", seed) for seed in (1, 2, 3)}
    frames = aggregate_study(dirs, tmp_path / "tables")
    written = pd.read_parquet(tmp_path / "tables" / "epochs.parquet")
    assert (written["prompt_dense_l2"] == 0).all() and len(written) == len(frames["epochs"]) == 12
    (dirs[0] / "prompt_history.npy").write_bytes(b"broken")
    with pytest.raises(CellOutputError, match=r"prompt_history\.npy is unreadable"):
        load_prompt_histories(dirs)
    with pytest.warns(UserWarning, match="skipping unreadable prompt history"):
        assert len(load_prompt_histories(dirs, allow_missing=True)) == 2


def test_variant_order_runs_from_dense_to_most_compressed(study):
    cells = study["cells"]
    assert variant_order(cells, "resnet18") == ["dense", "gmp50", "gmp90"]
    assert variant_order(cells, "deit_tiny") == ["dense", "w4a4", "w3a3", "w2a2"]
    assert most_compressed_variant(cells, "deit_tiny") == "w2a2"
    assert dense_variant_of(cells, "clip_vit_l14") == "dense"
    assert most_compressed_variant(cells, "nothing") is None
    assert ordered_shots(["full", "10", "2", "1"]) == ["1", "2", "10", "full"]


def test_dense_compressed_differences_are_paired_by_seed(study):
    from vpbench.results.stats import compare_to_dense

    cells = study["cells"]
    deltas = compare_to_dense(cells, test="paired_t").set_index(
        ["dataset", "model", "variant", "method", "shots"]
    )
    rows = cells.loc[
        (cells.dataset == "cifar10")
        & (cells.model == "resnet18")
        & (cells.method == "flm")
        & (cells.shots == "10")
    ]
    dense = rows.loc[rows.variant == "dense"].sort_values("seed")["accuracy"].to_numpy()
    sparse = rows.loc[rows.variant == "gmp50"].sort_values("seed")["accuracy"].to_numpy()
    row = deltas.loc[("cifar10", "resnet18", "gmp50", "flm", "10")]
    assert row["delta"] == pytest.approx(dense.mean() - sparse.mean())
    assert row["p_value"] == pytest.approx(stats.ttest_rel(dense, sparse).pvalue)  # paired, not Welch
    assert np.isnan(deltas.loc[("cifar10", "deit_tiny", "w2a2", "ilm", "1"), "p_value"])  # single seed


def test_aggregate_adds_classwise_ece_from_the_test_predictions(tmp_path, study):
    from vpbench.calibration import classwise_ece
    from vpbench.results.aggregate import add_classwise_ece, prediction_summaries

    dirs = write_cell_dirs(study, tmp_path / "results", limit=2)
    rng = np.random.default_rng(0)
    probs = rng.dirichlet(np.ones(3), size=40)
    labels = rng.integers(0, 3, 40)
    for cell_dir in dirs:
        atomic_io.save_numpy(cell_dir / "test_probs.npy", probs.astype(np.float16))
        atomic_io.save_numpy(cell_dir / "test_labels.npy", labels)
    reliability, classwise = prediction_summaries(dirs)
    assert len(reliability) == 2 * 15 and len(classwise) == 2
    cells = study["cells"].head(2).drop(columns=["classwise_ece"])
    added = add_classwise_ece(cells, classwise)
    expected = classwise_ece(probs.astype(np.float16).astype(np.float64), labels)
    assert added["classwise_ece"].tolist() == pytest.approx([expected, expected])
    engine = add_classwise_ece(
        cells.assign(classwise_ece=[0.5, np.nan]), classwise
    )  # the engine's value wins
    assert engine["classwise_ece"].tolist() == pytest.approx([0.5, expected])


def test_load_test_predictions_names_a_missing_file(tmp_path):
    atomic_io.save_numpy(tmp_path / "test_probs.npy", np.full((2, 2), 0.5, np.float16))
    with pytest.raises(CellOutputError, match=r"test_labels\.npy is missing"):
        load_test_predictions(tmp_path)
