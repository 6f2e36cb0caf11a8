"""Every new method end to end as a cell on real ImageNet weights (MobileNetV2) and real digits, tiny:
the same output files and metrics schema as a VP cell, its costs, and what it measured about itself."""

import copy
import json

import numpy as np
import pandas as pd
import pytest
import torch

from tests.engine.test_cell import SCHEMA_METRICS
from vpbench.compression import validate_spec
from vpbench.compression.variant_store import materialize_variant
from vpbench.data import build_cache, write_split
from vpbench.engine.cell import run_cell
from vpbench.engine.linear_probe import build_feature_file
from vpbench.models.acquire import acquire_weights
from vpbench.study.grid import Cell
from vpbench.study.loader import load_study

METHODS = ("blm", "blm_plus", "smm", "lor_vp", "lor_vp_ilm", "lp", "ff")
VARIANTS = {
    "dense": {},
    "mag50": {"compress": {"method": "magnitude", "sparsity": 0.5}},
    "w4a8": {"compress": {"method": "fake_quant", "weight_bits": 4, "act_bits": 8}},
}
CONFIG = {
    "study": "unit",
    "device": "cpu",
    "models": {"mobilenet_v2": {"family": "mobilenet_v2", "variants": {name: {} for name in VARIANTS}}},
    "datasets": {"digits": {"input_size": 16}},
    "methods": list(METHODS),
    "shots": [2],
    "seeds": [1],
    "prompt": {"canvas": 32},
    "training": {
        "epochs": 2,
        "batch_size": {"2": 8, "5": 16, "20": 32},
        "eval_batch_size": 128,
        "save_prompt_history": True,
    },
}
PROTOCOL_SHOTS = (5, 20)


@pytest.fixture(scope="module")
def workspace(tmp_path_factory):
    """Caches, a 2-shot split, three variants and their feature files, built once for the module."""
    root = tmp_path_factory.mktemp("beyond")
    weights = acquire_weights("mobilenet_v2", root / "weights", allow_network=False)
    for split in ("train", "test"):
        build_cache("digits", split, None, root / f"cache-{split}", input_size=16, progress=False,
                    limit_per_class=30 if split == "test" else None)  # fmt: skip
    labels = np.load(root / "cache-train" / "labels.npy")
    write_split(root / "split.json", "digits", 2, 1, labels)
    for shots in PROTOCOL_SHOTS:  # calibration prompts: 5 cross-fitted folds (5-shot), held out (20-shot)
        write_split(root / f"split-{shots}.json", "digits", shots, 1, labels)
    for variant, spec in VARIANTS.items():
        spec = {"compress": validate_spec(spec["compress"])} if spec else {}
        materialize_variant(
            model="mobilenet_v2", variant=variant, spec={"family": "mobilenet_v2", **spec},
            weights_path=weights, out_dir=root / "models" / variant, canvas=32,
        )  # fmt: skip
        for split in ("train", "test"):
            build_feature_file(
                variant_dir=root / "models" / variant, cache_dir=root / f"cache-{split}", size=32,
                out_path=root / "features" / variant / f"digits-{split}.npy", device=torch.device("cpu"),
            )  # fmt: skip
    return root, load_study(copy.deepcopy(CONFIG))


def _run(workspace, method: str, variant: str, out, shots: str = "2", study=None):
    root, default = workspace
    cell = Cell("unit", "digits", "mobilenet_v2", variant, method, shots, 1)
    extra = {f"features_{s}": root / "features" / variant / f"digits-{s}.npy" for s in ("train", "test")}
    split = root / ("split.json" if shots == "2" else f"split-{shots}.json")
    return run_cell(
        study=study or default, cell=cell, variant_dir=root / "models" / variant,
        train_cache=root / "cache-train", test_cache=root / "cache-test", split_path=split, out_dir=out,
        checkpoint_dir=out.parent / (out.name + "-ckpt"), extra_inputs=extra if method == "lp" else {},
        progress=False,
    )  # fmt: skip


@pytest.mark.parametrize("method", METHODS)
def test_each_method_writes_a_complete_cell_with_the_metrics_schema(workspace, tmp_path, method):
    out = tmp_path / method
    row = _run(workspace, method, "dense", out)
    names = {p.name for p in out.iterdir()}
    assert names == {"metrics.parquet", "epochs.parquet", "classes.parquet", "test_probs.npy",
                     "test_labels.npy", "prompt.pt", "cell.json", "prompt_history.npy"}  # fmt: skip
    metrics = pd.read_parquet(out / "metrics.parquet")
    assert sorted(metrics.columns) == sorted(SCHEMA_METRICS)
    assert 0.0 <= row["accuracy"] <= 1.0 and row["trainable_params"] > 0
    assert row["flops_train_total"] > 0 and row["flops_forward_per_sample"] > 1e5  # MobileNetV2 at 32 px
    epochs = pd.read_parquet(out / "epochs.parquet")
    assert len(epochs) == (1 if method == "lp" else 2)
    probs = np.load(out / "test_probs.npy").astype(np.float64)
    assert probs.shape == (300, 10) and np.allclose(probs.sum(1), 1, atol=1e-2)
    history = np.load(out / "prompt_history.npy")
    assert history.shape[1:] == (3, 32, 32)
    saved = torch.load(out / "prompt.pt", weights_only=True)
    assert set(saved) == {"delta", "effective", "mapping", "head"}
    outputs = json.loads((out / "cell.json").read_text())["method_outputs"]
    assert outputs["trainable_params"]["total"] == row["trainable_params"]
    if method == "lp":
        assert outputs["selection"] == "held-out" and outputs["C"] > 0
        assert saved["head"]["layer.linear.weight"].shape == (10, 1280)
        assert row["train_steps"] == outputs["iterations"]
    if method in ("lp", "lor_vp", "ff"):
        assert row["trainable_params_head"] == 1280 * 10 + 10


def test_full_fine_tuning_keeps_the_pruned_variant_sparse_and_records_it(workspace, tmp_path):
    row = _run(workspace, "ff", "mag50", tmp_path / "ff-mag50")
    outputs = json.loads((tmp_path / "ff-mag50" / "cell.json").read_text())["method_outputs"]
    assert outputs["masked_entries"] > 0 and outputs["trained_sparsity"] == outputs["sparsity_before"]
    assert (
        row["trained_sparsity"] == pytest.approx(outputs["sparsity_before"]) and row["trained_sparsity"] > 0.4
    )
    assert np.isnan(row["trained_weight_bits"])
    dense = _run(workspace, "ff", "dense", tmp_path / "ff-dense")
    assert row["trainable_params_model"] < dense["trainable_params_model"]  # pruned entries do not train


def test_full_fine_tuning_keeps_the_fake_quantized_variant_at_its_bits(workspace, tmp_path):
    row = _run(workspace, "ff", "w4a8", tmp_path / "ff-w4a8")
    outputs = json.loads((tmp_path / "ff-w4a8" / "cell.json").read_text())["method_outputs"]
    assert outputs["masked_entries"] == 0  # quantization zeros are not pruning
    assert row["trained_weight_bits"] == outputs["weight_bits_before"] <= 4


def test_features_are_computed_once_per_split_and_carry_their_provenance(workspace):
    root, _ = workspace
    meta = json.loads((root / "features" / "mag50" / "digits-train.json").read_text())
    features = np.load(root / "features" / "mag50" / "digits-train.npy")
    assert features.shape == (meta["count"], 1280) and meta["input_size"] == 32
    assert meta["classifier_removed"] == "classifier.1" and meta["flops_per_image"] > 0
    card = json.loads((root / "models" / "mag50" / "card.json").read_text())
    assert meta["model_sha256"] in {
        card.get("state_sha256"),
        card.get("model_sha256"),
        card["weights_sha256"],
    }


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize(("shots", "selection", "strategy", "prompts"), [
    ("5", "test", "cross_fit", 5), ("20", "val", "held_out", 1),
])  # fmt: skip
def test_each_method_runs_the_calibration_protocol_and_selection(
    workspace, tmp_path, method, shots, selection, strategy, prompts
):
    """Calibration prompts (5 folds or one held-out prompt) and an epoch selection for every method: the
    reported metrics are the selected epoch's (full fine-tuning: its whole network), T is fitted on the
    calibration prompts, and the linear probe, fitted once without epochs, reports its fit and says why."""
    config = copy.deepcopy(CONFIG)
    config["training"]["selection"] = selection
    study = load_study(config)
    out = tmp_path / method
    row = _run(workspace, method, "mag50", out, shots=shots, study=study)
    assert row["calibration_strategy"] == strategy and row["calibration_prompts"] == prompts
    assert row["calibration_n"] == (50 if prompts == 5 else 40) and row["wall_calibration_s"] > 0
    # fitted on the calibration prompts' held-out logits; NaN only with the fit's reason (flat logits)
    assert np.isfinite(row["temperature"]) or "not inside the log T bounds" in row["calibration_reason"]
    record = json.loads((out / "cell.json").read_text())["calibration"]
    assert [p["name"] for p in record["prompts"]] == (
        ["held_out"] if prompts == 1 else [f"fold{k}" for k in range(5)]
    )
    if method == "lp":
        assert row["selection"] == "last" and "fitted once, without epochs" in row["selection_reason"]
        assert row["selected_epoch"] == 0
        return
    assert row["selection"] == selection and row["selection_reason"] == ""
    epochs = pd.read_parquet(out / "epochs.parquet")
    assert 0 <= row["selected_epoch"] < len(epochs) == 2
    if selection == "test":  # the reported accuracy is the selected epoch's own evaluation
        assert row["accuracy"] == pytest.approx(epochs["eval_accuracy"].iloc[row["selected_epoch"]])
        assert row["accuracy"] == pytest.approx(epochs["eval_accuracy"].max())
    else:
        assert epochs["val_accuracy"].notna().all()
