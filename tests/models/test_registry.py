"""The verified loading path: checksum before unpickling, weights_only, strict load, compression asserts."""

from __future__ import annotations

import pathlib

import pytest
import torch
from torch import nn

from vpbench.compression.pruning import measure_sparsity
from vpbench.errors import ChecksumError, MissingSourceError, UnsafeCheckpointError
from vpbench.models.registry import (
    CheckpointMismatchError,
    ModelFamily,
    WeightSource,
    load_family_weights,
    measure_bits,
    verify_compression,
)
from vpbench.models.vvtq import QuantAct, QuantLinear
from vpbench.sources.checksums import sha256_file
from vpbench.sources.lock import LOCK_FILENAME, record_first_seen


class TinyNet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 4, 3)
        self.conv2 = nn.Conv2d(4, 4, 3)
        self.fc = nn.Linear(4, 2)


def tiny_family(sha256: str | None = None, **kwargs) -> ModelFamily:
    return ModelFamily(
        name="tiny", builder=TinyNet, weights=WeightSource("tiny.pth", sha256=sha256), **kwargs
    )


def test_strict_load_and_eval_mode(tmp_path):
    state = TinyNet().state_dict()
    torch.save({"state_dict": state, "epoch": 3}, tmp_path / "tiny.pth")
    model = load_family_weights(tiny_family(sha256_file(tmp_path / "tiny.pth")), tmp_path / "tiny.pth")
    assert not model.training
    assert torch.equal(model.conv2.weight, state["conv2.weight"])


def test_wrong_checksum_is_rejected_before_unpickling(tmp_path, forbid_torch_load):
    (tmp_path / "tiny.pth").write_bytes(b"not the registered file")
    with pytest.raises(ChecksumError, match="expected 00000000"):
        load_family_weights(tiny_family("0" * 64), tmp_path / "tiny.pth")


def test_lock_next_to_the_file_is_enforced(tmp_path, forbid_torch_load):
    (tmp_path / "tiny.pth").write_bytes(b"replaced on the share")
    record_first_seen(tmp_path / LOCK_FILENAME, "tiny", "ab" * 32)
    with pytest.raises(ChecksumError):
        load_family_weights(tiny_family(), tmp_path / "tiny.pth")


def test_missing_file_names_file_and_checksum(tmp_path):
    with pytest.raises(MissingSourceError, match=r"tiny\.pth.*sha256 deadbeef"):
        load_family_weights(tiny_family("deadbeef"), tmp_path / "absent" / "tiny.pth")


def test_code_executing_pickle_is_refused_and_not_run(tmp_path):
    marker = tmp_path / "code-ran"

    class Payload:
        def __reduce__(self):
            return (pathlib.Path.touch, (marker,))

    torch.save({"state_dict": Payload()}, tmp_path / "tiny.pth")
    with pytest.raises(UnsafeCheckpointError, match="refused to load"):
        load_family_weights(tiny_family(), tmp_path / "tiny.pth")
    assert not marker.exists()


def test_wrong_key_layout_names_family_and_keys(tmp_path):
    state = {f"module.{k}": v for k, v in TinyNet().state_dict().items()}
    torch.save(state, tmp_path / "tiny.pth")
    with pytest.raises(CheckpointMismatchError) as info:
        load_family_weights(tiny_family(), tmp_path / "tiny.pth")
    message = str(info.value)
    assert "'tiny'" in message and "'conv1.weight'" in message and "'module.conv1.weight'" in message


def test_wrong_shape_is_reported(tmp_path):
    state = TinyNet().state_dict()
    state["fc.weight"] = torch.zeros(3, 4)
    torch.save(state, tmp_path / "tiny.pth")
    with pytest.raises(CheckpointMismatchError, match=r"fc\.weight: checkpoint \(3, 4\) vs model \(2, 4\)"):
        load_family_weights(tiny_family(), tmp_path / "tiny.pth")


def test_measure_sparsity_scopes():
    net = TinyNet()
    with torch.no_grad():
        for module in (net.conv1, net.conv2, net.fc):
            module.weight.fill_(1.0)
        net.conv1.weight.zero_()  # 81 zeros, not counted without the stem
        net.conv2.weight[:2] = 0.0  # 72 of 144
    assert measure_sparsity(net, "conv_except_first") == pytest.approx(72 / 144)
    assert measure_sparsity(net, "conv_linear") == pytest.approx((108 + 72) / (108 + 144 + 8))


def test_sparsity_mismatch_is_an_error():
    family = tiny_family(expected_sparsity=0.5, sparsity_scope="conv_except_first")
    net = TinyNet()
    with pytest.raises(CheckpointMismatchError, match=r"measured sparsity 0\.0000"):
        verify_compression(family, net)
    with torch.no_grad():
        net.conv2.weight[:2] = 0.0
    assert verify_compression(family, net)["sparsity"] == pytest.approx(0.5)


def test_sparsity_range_rejects_a_dense_model():
    family = tiny_family(sparsity_range=(0.2, 0.995), measure_sparsity_on_load=True)
    with pytest.raises(CheckpointMismatchError, match=r"allowed range \[0.2, 0.995\]"):
        verify_compression(family, TinyNet())


def test_bits_are_measured_and_asserted():
    net = nn.Sequential()
    net.add_module("quant", QuantAct(8))
    net.add_module("body", QuantLinear(4, 4, nbits=3))
    net.add_module("full_precision", QuantLinear(4, 4, nbits=-1))
    assert measure_bits(net) == {"quant": 8, "body": 3}
    family = tiny_family(expected_bits=3, eight_bit_modules=("quant",))
    assert verify_compression(family, net)["bits"] == [3, 8]
    with pytest.raises(CheckpointMismatchError, match="expected 4-bit"):
        verify_compression(tiny_family(expected_bits=4, eight_bit_modules=("quant",)), net)


def test_every_registered_family_is_documented_and_consistent():
    from vpbench.compression.techniques import TECHNIQUES
    from vpbench.models import MODELS

    for family in MODELS.values():
        if family.weights is not None and family.weights.local_path is not None:
            continue  # a user checkpoint a study declared (tests/models/test_checkpoints.py)
        assert family.technique in TECHNIQUES, family.name
        assert family.licence and family.description and family.weights is not None, family.name
        assert family.dense_parent is None or family.dense_parent in MODELS, family.name
        assert family.weights.status in {"public", "at risk", "not public"}, family.name
        fetchable = family.weights.urls or family.weights.gdrive_id or family.weights.pip_package
        assert fetchable or family.weights.instructions, f"{family.name}: no source and no instructions"
        if family.technique in {"acdc", "rigl", "lt"}:
            assert family.expected_sparsity is not None and 0.2 < family.expected_sparsity < 0.99
        if family.technique == "vvtq":
            assert family.expected_bits in {2, 3, 4} and family.eight_bit_modules
