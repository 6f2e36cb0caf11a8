"""Malformed studies fail before any job runs, with the key path and the allowed values in the message."""

import copy
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from vpbench.errors import ConfigError
from vpbench.study.loader import load_study

ROOT = Path(__file__).resolve().parents[2]
DEMO = yaml.safe_load((ROOT / "config.yaml").read_text())


def mutate(path: str, value=None, delete: bool = False) -> dict:
    config = copy.deepcopy(DEMO)
    *parents, last = path.split(".")
    node = config
    for key in parents:
        node = node[key]
    if delete:
        del node[last]
    else:
        node[last] = value
    return config


BAD_STUDIES = {
    "unknown top-level key": (mutate("modelz", {}), ["unknown key 'modelz'", "allowed keys:", "models"]),
    "unknown model family": (
        mutate("models.mobilenet_v2.family", "mobilenet_v9"),
        ["unknown model family 'mobilenet_v9'", "allowed values:", "mobilenet_v2"],
    ),
    "unknown compression method": (
        mutate("models.mobilenet_v2.variants.mag30", {"compress": {"method": "distill"}}),
        ["models.mobilenet_v2.variants.mag30.compress", "unknown compression method 'distill'", "magnitude"],
    ),
    "sparsity out of range": (
        mutate("models.mobilenet_v2.variants.mag30", {"compress": {"method": "magnitude", "sparsity": 1.5}}),
        ["models.mobilenet_v2.variants.mag30.compress", "sparsity"],
    ),
    "unknown pruning scope": (
        mutate(
            "models.mobilenet_v2.variants.mag30",
            {"compress": {"method": "magnitude", "sparsity": 0.5, "scope": "row"}},
        ),
        ["scope", "global", "layerwise"],
    ),
    "bits out of range": (
        mutate("models.mobilenet_v2.variants.w4a8", {"compress": {"method": "fake_quant", "weight_bits": 1}}),
        ["models.mobilenet_v2.variants.w4a8.compress", "weight_bits"],
    ),
    "unknown key in a variant": (
        mutate("models.mobilenet_v2.variants.mag30", {"prune": 0.3}),
        [
            "models.mobilenet_v2.variants.mag30",
            "unknown key 'prune'",
            "allowed keys: checkpoint, compress, family",
        ],
    ),
    "no dense variant": (
        mutate("models.mobilenet_v2.variants.dense", delete=True),
        ["models.mobilenet_v2.variants has no 'dense' entry"],
    ),
    "unknown variant family": (
        mutate("models.mobilenet_v2.variants.mag30", {"family": "resnet51"}),
        ["unknown model family 'resnet51'", "allowed values:"],
    ),
    "unknown dataset": (
        mutate("datasets.cifar100", {}),
        ["unknown dataset 'cifar100'", "cifar10"],
    ),
    "unknown key in dataset options": (
        mutate("datasets.digits", {"size": 32}),
        ["datasets.digits", "unknown key 'size'", "allowed keys: input_size, root"],
    ),
    "input size too small": (mutate("datasets.digits", {"input_size": 2}), ["datasets.digits.input_size"]),
    "unknown method": (
        mutate("methods", ["ilm", "xlm"]),
        ["methods: unknown VP method 'xlm'", "allowed values:", "ilm"],
    ),
    "non-integer shots": (mutate("shots", [1, "ten"]), ["shots.1", "'ten'", "full"]),
    "zero shots": (mutate("shots", [0, 10]), ["shots.0", "0"]),
    "duplicate seeds": (mutate("seeds", [1, 1]), ["seeds", "lists a value twice"]),
    "negative seed": (mutate("seeds", [-1]), ["seeds.0", "-1"]),
    "epochs of the wrong type": (mutate("training.epochs", "ten"), ["training.epochs", "'ten'", "integer"]),
    "unknown training key": (
        mutate("training.epoch", 5),
        ["training", "unknown key 'epoch'", "allowed keys:", "epochs"],
    ),
    "missing training section": (mutate("training", delete=True), ["'training' is a required property"]),
    "batch size missing for a shot": (
        mutate("shots", [1, 3, 10, "full"]),
        ["training.batch_size has no entry for shots '3'"],
    ),
    "unknown device": (mutate("device", "tpu"), ["device", "'tpu' is not allowed", "'auto', 'cpu', 'cuda'"]),
    "study name with a slash": (mutate("study", "a/b"), ["study", "does not match"]),
    "method that fits no model": (
        mutate("methods", ["bahng_vp"]),
        [
            "methods: 'bahng_vp' pairs with no model and dataset of the study, so it would have no cells",
            "method 'bahng_vp' adapts clip models, and 'mobilenet_v2' is a classifier",
        ],
    ),
    "missing dataset root": (
        mutate("datasets.cifar10", {"root": "/nonexistent/cifar"}),
        [
            "datasets.cifar10: root /nonexistent/cifar does not exist and download is false",
            "cifar-10-batches-py",
        ],
    ),
}


@pytest.mark.parametrize("case", sorted(BAD_STUDIES))
def test_malformed_study_names_the_key_and_the_allowed_values(case):
    config, fragments = BAD_STUDIES[case]
    with pytest.raises(ConfigError) as error:
        load_study(config)
    for fragment in fragments:
        assert fragment in str(error.value), f"{case}: {fragment!r} missing from: {error.value}"


def test_the_demo_study_is_valid_and_gets_defaults_filled():
    config = copy.deepcopy(DEMO)
    cells = load_study(config).cells
    assert len(cells) == 2 * 4 * 3 * 2 + 1  # (datasets × variants × image methods × shots) + 1 cross-modal
    assert config["split_mode"] == "vpbench" and config["training"]["eval_every"] == 0


def test_snakemake_refuses_a_bad_study_before_any_job(tmp_path):
    bad = mutate("shots", [1, "ten"])
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(bad))
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "snakemake",
            "-n",
            "--configfile",
            str(path),
            "--directory",
            str(tmp_path / "w"),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode != 0
    assert "shots.1" in result.stdout + result.stderr
    assert not (tmp_path / "w" / "results").exists()
