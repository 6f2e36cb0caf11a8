"""Calibration and model selection in real cells (docs/calibration.md): MobileNetV2 on 16-px digits, ILM.

2 shots → not estimable, 5 → 5-fold cross-fitting, 20 → a held-out 20%; selection last, val and test.
"""

import copy
import json
import math

import numpy as np
import pandas as pd
import pytest

from tests.engine.test_cell import CONFIG, _run, _stable, selection_config, workspace  # noqa: F401
from vpbench.data import get_dataset
from vpbench.engine.keys import cell_plan
from vpbench.study.loader import load_study

EPOCHS = 4


@pytest.fixture(scope="module")
def cells(workspace, tmp_path_factory):  # noqa: F811
    """Run (variant, shots, selection, temperature) cells once per module, on demand."""
    root, _ = workspace
    done: dict[tuple, tuple] = {}

    def run(
        variant: str = "dense", shots: str = "20", selection: str = "last", temperature: str = "protocol"
    ):
        key = (variant, shots, selection, temperature)
        if key not in done:
            out = tmp_path_factory.mktemp("-".join(key)) / "cell"
            row = _run(root, selection_config(selection, temperature, EPOCHS), variant, out, shots=shots)
            done[key] = (row, out)
        return done[key]

    return run


@pytest.mark.parametrize(
    ("shots", "strategy", "prompts", "n"), [("2", "not_estimable", 0, 0), ("5", "cross_fit", 5, 50),
                                            ("20", "held_out", 1, 40)],
)  # fmt: skip
def test_each_cell_calibrates_by_the_rule_of_its_training_subset(cells, shots, strategy, prompts, n):
    row, out = cells(shots=shots)
    assert row["calibration_strategy"] == strategy and row["calibration_prompts"] == prompts
    assert row["calibration_n"] == n and row["train_size"] == 10 * int(shots)  # reported prompt: all N
    estimable = math.isfinite(row["temperature"])
    assert estimable == (row["calibration_reason"] == "")
    assert estimable == math.isfinite(row["ece_temperature_scaled"])
    if strategy == "not_estimable":
        assert "no image is left" in row["calibration_reason"] and row["wall_calibration_s"] == 0
    else:
        assert row["wall_calibration_s"] > 0
        assert estimable or row["temperature_hit_bound"]
    record = json.loads((out / "cell.json").read_text())["calibration"]
    assert record["strategy"] == strategy and len(record["prompts"]) == prompts
    assert sum(p["heldout_size"] for p in record["prompts"]) == n
    metrics = pd.read_parquet(out / "metrics.parquet")
    assert metrics.loc[0, "calibration_strategy"] == strategy and 0 <= metrics.loc[0, "classwise_ece"] <= 1


def test_the_protocol_leaves_the_reported_prompt_untouched(cells):
    """The calibration prompts are extra: accuracy, curves and probabilities equal those with it off."""
    (on, out_on), (off, out_off) = cells(), cells(temperature="off")
    for name in ("epochs.parquet", "classes.parquet"):
        pd.testing.assert_frame_equal(
            _stable(pd.read_parquet(out_on / name)), _stable(pd.read_parquet(out_off / name))
        )
    assert np.array_equal(np.load(out_on / "test_probs.npy"), np.load(out_off / "test_probs.npy"))
    assert on["accuracy"] == off["accuracy"] and on["ece"] == off["ece"]
    assert (
        off["calibration_strategy"] == "off" and math.isnan(off["temperature"]) and off["calibration_reason"]
    )
    assert off["calibration_prompts"] == 0 and off["wall_calibration_s"] == 0


def test_dense_and_compressed_cells_hold_out_the_same_images(cells):
    records = [
        json.loads((cells(variant=v)[1] / "cell.json").read_text())["calibration"] for v in ("dense", "mag50")
    ]
    assert records[0]["prompts"][0]["heldout_sha256"] == records[1]["prompts"][0]["heldout_sha256"]


def test_test_selection_reports_the_epoch_with_the_best_test_accuracy(cells):
    row, out = cells(selection="test")
    epochs = pd.read_parquet(out / "epochs.parquet")
    accuracy = epochs["eval_accuracy"].to_numpy()
    assert not np.isnan(accuracy).any() and row["selection"] == "test" and row["selection_reason"] == ""
    assert row["selected_epoch"] == int(np.argmax(accuracy))
    assert row["accuracy"] == pytest.approx(accuracy.max(), abs=1e-6)  # epoch evaluations are float32
    prompts = json.loads((out / "cell.json").read_text())["calibration"]["prompts"]
    assert prompts[0]["selected_epoch"] == row["selected_epoch"]  # T is fitted at the reported epoch


def test_val_selection_reports_the_epoch_best_on_the_held_out_part(cells):
    row, out = cells(selection="val")
    epochs = pd.read_parquet(out / "epochs.parquet")
    val = epochs["val_accuracy"].to_numpy()
    assert not np.isnan(val).any() and row["selection"] == "val"
    assert row["selected_epoch"] == int(np.argmax(val))
    assert epochs["eval_accuracy"].isna().all()  # val selection never looks at the test set
    last, _ = cells()
    if row["selected_epoch"] == EPOCHS - 1:
        assert row["accuracy"] == last["accuracy"]


def test_val_selection_without_a_held_out_split_reports_the_last_epoch_and_says_why(cells):
    row, _ = cells(shots="5", selection="val")
    assert row["selection"] == "last" and row["selected_epoch"] == EPOCHS - 1
    assert (
        "held-out split" in row["selection_reason"] and "5 in its smallest class" in row["selection_reason"]
    )
    assert row["calibration_strategy"] == "cross_fit"  # temperature is still cross-fitted


def test_paper_ece_uses_the_authors_test_batch_of_64_for_oxford_pets():
    """The fork's OxfordPets test loader used batch 64 (docs/calibration.md): in the registry and the plan."""
    config = {**copy.deepcopy(CONFIG), "datasets": {"oxford_pets": {"input_size": 16}}, "download": True}
    study = load_study(config)
    assert cell_plan(study, study.cells[0])["dataset"]["paper_ece_batch"] == 64
    assert get_dataset("oxford_pets").paper_ece_batch == 64
    others = ("cifar10", "svhn", "gtsrb", "dtd", "flowers102", "eurosat", "caltech101")
    assert {get_dataset(d).paper_ece_batch for d in others} == {128}


def test_an_unquoted_yaml_off_turns_the_protocol_off():
    import yaml

    config = {**copy.deepcopy(CONFIG), **yaml.safe_load("calibration: {temperature: off}")}
    assert config["calibration"]["temperature"] is False  # YAML 1.1 reads off as a boolean
    assert load_study(config).calibration["temperature"] == "off"
    assert load_study(copy.deepcopy(CONFIG)).calibration["temperature"] == "protocol"  # the default
