"""Sparse ResNets from synthetic files in each publisher's on-disk layout: remap, strict load, sparsity."""

from __future__ import annotations

import pytest
import torch
from torchvision import models

from tests.models.conftest import keep_first
from vpbench.compression.pruning import measure_sparsity
from vpbench.errors import ChecksumError, MissingSourceError
from vpbench.models import get_model_family, load_family_weights
from vpbench.models.acquire import acquire_weights, load_pretrained
from vpbench.models.registry import CheckpointMismatchError
from vpbench.sources.checksums import sha256_file
from vpbench.sources.lock import LOCK_FILENAME, pinned_sha256_for


@pytest.fixture(scope="module")
def resnet50_state() -> dict[str, torch.Tensor]:
    torch.manual_seed(0)
    return models.resnet50(weights=None).state_dict()


def prunable(state: dict[str, torch.Tensor]) -> list[str]:
    """Module names of the conv and fc layers (the layers AC/DC, RigL and IMP prune)."""
    return [k[: -len(".weight")] for k, v in state.items() if k.endswith(".weight") and v.ndim in (2, 4)]


# --- SparseZoo GMP ResNet-18 -------------------------------------------------------------------------


def to_sparseml_key(key: str) -> str:
    """torchvision → SparseML ResNet names (sparseml/pytorch/models/classification/resnet.py)."""
    if key.startswith(("conv1.", "bn1.")):
        return ("input.conv." if key.startswith("conv1.") else "input.bn.") + key.split(".", 1)[1]
    if key.startswith("fc."):
        return "classifier." + key
    layer, block, rest = key.split(".", 2)
    rest = rest.replace("downsample.0.", "identity.conv.").replace("downsample.1.", "identity.bn.")
    return f"sections.{int(layer[len('layer') :]) - 1}.{block}.{rest}"


@pytest.mark.parametrize("depth", [18, 34])
def test_gmp_resnet_sparseml_checkpoint(tmp_path, depth):
    torch.manual_seed(1)
    reference = getattr(models, f"resnet{depth}")(weights=None).state_dict()
    for name in prunable(reference):
        reference[f"{name}.weight"] *= keep_first(reference[f"{name}.weight"], 0.2)
    state = {f"module.{to_sparseml_key(k)}": v for k, v in reference.items()}
    assert {
        "module.sections.1.0.identity.conv.weight",
        "module.classifier.fc.bias",
        "module.input.bn.running_var",
    } <= set(state)
    state["module.input.conv.weight_fake_quant.scale"] = torch.ones(1)  # QAT leftovers are dropped
    state["module.sections.0.0.conv1.activation_post_process.min_val"] = torch.zeros(())
    checkpoint = {
        "state_dict": state,
        "epoch": 99,
        "recipe": "version: 1.1.0\nmodifiers: []",
        "arch_key": f"resnet{depth}",
    }
    torch.save(checkpoint, tmp_path / f"resnet{depth}_pruned_conservative.pth")

    model = load_pretrained(f"gmp_resnet{depth}", tmp_path, allow_network=False)
    for key, value in reference.items():
        assert torch.equal(model.state_dict()[key], value), key
    assert measure_sparsity(model) == pytest.approx(0.8, abs=1e-3)
    assert pinned_sha256_for(tmp_path / LOCK_FILENAME, f"gmp_resnet{depth}") == sha256_file(
        tmp_path / f"resnet{depth}_pruned_conservative.pth"
    )


def test_gmp_rejects_a_dense_model_loaded_into_it(tmp_path):
    reference = models.resnet18(weights=None).state_dict()
    torch.save({"state_dict": {to_sparseml_key(k): v for k, v in reference.items()}}, tmp_path / "r18.pth")
    with pytest.raises(CheckpointMismatchError, match=r"measured sparsity 0\.0000"):
        load_family_weights(get_model_family("gmp_resnet18"), tmp_path / "r18.pth")


def test_foreign_layout_names_family_and_first_keys(tmp_path):
    torch.save({"state_dict": {"features.0.weight": torch.zeros(1)}}, tmp_path / "foreign.pth")
    with pytest.raises(CheckpointMismatchError, match=r"'gmp_resnet18'.*missing keys \['conv1.weight'"):
        load_family_weights(get_model_family("gmp_resnet18"), tmp_path / "foreign.pth")


# --- AC/DC ResNet-50 -----------------------------------------------------------------------------------


def wrap_masked(
    state: dict[str, torch.Tensor], keep: float, prefix: str = "module."
) -> dict[str, torch.Tensor]:
    """IST-DASLab ``WrappedLayer`` layout: ``X._layer.weight`` plus ``X._weight_mask`` (and bias masks)."""
    wrapped = {}
    layers = set(prunable(state))
    for key, value in state.items():
        name, param = key.rsplit(".", 1)
        if name in layers:
            mask = keep_first(value, keep) if param == "weight" else torch.ones_like(value)
            wrapped[f"{prefix}{name}._{param}_mask"] = mask
            wrapped[f"{prefix}{name}._layer.{param}"] = value
        else:
            wrapped[f"{prefix}{key}"] = value
    return wrapped


def test_acdc_resnet50_wrapped_checkpoint(tmp_path, resnet50_state):
    wrapped = wrap_masked(resnet50_state, keep=0.1)
    assert {"module.fc._bias_mask", "module.layer1.0.downsample.0._weight_mask"} <= set(wrapped)
    optimizer = {"state": {}, "param_groups": [{"lr": 0.256, "momentum": 0.875, "params": [0, 1]}]}
    checkpoint = {
        "model_config": {"arch": "resnet50", "dataset": "imagenet"},
        "model_state_dict": wrapped,
        "optimizer": optimizer,
        "lr_scheduler": {"last_epoch": 100},
        "epoch": 100,
    }
    torch.save(checkpoint, tmp_path / "acdc_resnet50_s90.pth")
    model = load_pretrained("acdc_resnet50_s90", tmp_path, allow_network=False)
    loaded = model.state_dict()
    mask = wrapped["module.layer3.2.conv2._weight_mask"]
    assert torch.equal(loaded["layer3.2.conv2.weight"], resnet50_state["layer3.2.conv2.weight"] * mask)
    assert torch.equal(loaded["bn1.running_mean"], resnet50_state["bn1.running_mean"])
    assert measure_sparsity(model) == pytest.approx(0.9, abs=1e-4)


def test_acdc_wrong_sparsity_level_is_caught(tmp_path, resnet50_state):
    torch.save(
        {"model_state_dict": wrap_masked(resnet50_state, keep=0.2)}, tmp_path / "acdc_resnet50_s90.pth"
    )
    with pytest.raises(CheckpointMismatchError, match=r"'acdc_resnet50_s90': measured sparsity 0\.8000"):
        load_pretrained("acdc_resnet50_s90", tmp_path, allow_network=False)


# --- RigL ResNet-50 (converted ResnetTF layout) --------------------------------------------------------


def to_resnet_tf_key(key: str) -> str:
    """torchvision → Iofinova's ``ResnetTF`` names (models/external/rigl/resnet.py)."""
    if key.startswith(("conv1.", "bn1.")):
        return ("initial_conv.conv." if key.startswith("conv1.") else "initial_conv.bn.") + key.split(".", 1)[
            1
        ]
    if key.startswith("fc."):
        return key
    layer, block, module, param = key.split(".", 3)
    if module == "downsample":
        index, param = param.split(".", 1)
        return f"{layer}.block.{block}.shortcut.{'conv' if index == '0' else 'bn'}.{param}"
    kind, number = module[:-1], module[-1]
    return f"{layer}.block.{block}.conv{number}.{kind}.{param}"


def test_rigl_tf_stem_variant_from_wrapped_resnet_tf(tmp_path, resnet50_state):
    tf_layout = {to_resnet_tf_key(k): v for k, v in resnet50_state.items()}
    assert {"layer2.block.0.shortcut.bn.running_mean", "layer4.block.2.conv3.conv.weight"} <= set(tf_layout)
    wrapped = wrap_masked(tf_layout, keep=0.05)
    torch.save(
        {"model_config": {"arch": "resnet50_rigl"}, "model_state_dict": wrapped},
        tmp_path / "rigl_resnet50_erk5x_s95.pth",
    )
    model = load_pretrained("rigl_resnet50_s95_tfstem", tmp_path, allow_network=False)
    assert measure_sparsity(model) == pytest.approx(0.95, abs=1e-4)
    assert isinstance(model.maxpool[0], torch.nn.ZeroPad2d)
    with torch.no_grad():
        features = model.maxpool(model.relu(model.bn1(model.conv1(torch.rand(1, 3, 64, 64)))))
    assert features.shape == (1, 64, 16, 16)


def test_rigl_plain_resnet_tf_into_torchvision_stem(tmp_path, resnet50_state):
    tf_layout = {}
    for key, value in resnet50_state.items():
        if value.ndim == 4 or key == "fc.weight":
            value = value * keep_first(value, 0.2)
        tf_layout[to_resnet_tf_key(key)] = value
    torch.save({"model_state_dict": tf_layout}, tmp_path / "rigl_resnet50_erk5x_s80.pth")
    model = load_pretrained("rigl_resnet50_s80", tmp_path, allow_network=False)
    assert isinstance(model.maxpool, torch.nn.MaxPool2d) and model.maxpool.padding == 1
    assert measure_sparsity(model) == pytest.approx(0.8, abs=1e-4)


# --- Lottery-ticket ResNet-50 ---------------------------------------------------------------------------


def test_lottery_ticket_pair_is_assembled_and_measured(tmp_path, resnet50_state):
    remaining = 0.4935  # k = 3
    checkpoint = {f"model.{k}": v for k, v in resnet50_state.items()}
    masks = {}
    for name in prunable(resnet50_state):
        if name == "fc":
            continue
        weight = resnet50_state[f"{name}.weight"]
        masks[f"model.{name}.weight"] = (
            torch.ones_like(weight) if name == "conv1" else keep_first(weight, remaining)
        )
    torch.save(checkpoint, tmp_path / "resnet50_dyn4_3_checkpoint.pth")
    torch.save(masks, tmp_path / "resnet50_dyn4_3_mask.pth")

    model = load_pretrained("lt_resnet50_k3", tmp_path, allow_network=False)
    loaded = model.state_dict()
    assert torch.equal(
        loaded["layer1.0.conv2.weight"],
        resnet50_state["layer1.0.conv2.weight"] * masks["model.layer1.0.conv2.weight"],
    )
    assert torch.equal(loaded["fc.weight"], resnet50_state["fc.weight"])
    assert measure_sparsity(model, "conv_except_first") == pytest.approx(1 - remaining, abs=1e-4)
    lock = tmp_path / LOCK_FILENAME
    assert pinned_sha256_for(lock, "lt_resnet50_k3:mask") == sha256_file(
        tmp_path / "resnet50_dyn4_3_mask.pth"
    )

    torch.save({k: 1 - v for k, v in masks.items()}, tmp_path / "resnet50_dyn4_3_mask.pth")
    (tmp_path / "resnet50_lt_k3_masked.pt").unlink()
    with pytest.raises(ChecksumError, match=r"resnet50_dyn4_3_mask\.pth"):
        acquire_weights("lt_resnet50_k3", tmp_path)


def test_lottery_ticket_missing_pair_names_both_files(tmp_path):
    with pytest.raises(MissingSourceError) as info:
        acquire_weights("lt_resnet50_k7", tmp_path)
    message = str(info.value)
    assert "resnet50_dyn4_7_checkpoint.pth" in message and "resnet50_dyn4_7_mask.pth" in message
    assert str(tmp_path) in message and "unpublished" in message


def test_lottery_ticket_levels_follow_the_paper_table():
    family = get_model_family("lt_resnet50_k9")
    assert family.expected_sparsity == pytest.approx(1 - 0.11571)
    assert family.sparsity_scope == "conv_except_first" and family.technique == "lt"
