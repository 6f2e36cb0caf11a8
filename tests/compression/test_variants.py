"""Spec validation, and save → load_variant round trips that are strict, checksummed and exact."""

from __future__ import annotations

import json

import pytest
import torch
import torchvision
from torch import nn

from vpbench.compression import variants
from vpbench.compression.fake_quant import FakeQuantMixin
from vpbench.compression.methods import COMPRESSION_METHODS
from vpbench.compression.model_card import model_card
from vpbench.compression.variants import (
    apply_compression,
    load_variant,
    prepare_structure,
    save_variant,
    validate_spec,
)
from vpbench.errors import ChecksumError, ConfigError, MissingSourceError
from vpbench.sources.checksums import sha256_file


def test_validate_spec_fills_defaults():
    assert validate_spec({"method": "magnitude", "sparsity": 0.5}) == {
        "method": "magnitude", "sparsity": 0.5, "scope": "global", "prunable": "conv_linear",
    }  # fmt: skip
    assert validate_spec({"method": "semi_structured"}) == {
        "method": "semi_structured", "n": 2, "m": 4, "prunable": "conv_linear",
    }  # fmt: skip
    quant = validate_spec({"method": "fake_quant", "weight_bits": 4, "act_bits": 8})
    assert quant["calibration_images"] == 64 and quant["observer"] == "minmax"
    assert quant["skip_first_last"] is False
    assert {"magnitude", "semi_structured", "fake_quant"} <= set(COMPRESSION_METHODS)


@pytest.mark.parametrize(
    ("spec", "named"),
    [
        ({"method": "prune"}, "method"),
        ({"sparsity": 0.5}, "method"),
        ({"method": "magnitude"}, "sparsity"),
        ({"method": "magnitude", "sparsity": 1.5}, "sparsity"),
        ({"method": "magnitude", "sparsity": 0.5, "scope": "blockwise"}, "scope"),
        ({"method": "magnitude", "sparsity": 0.5, "prunable": "everything"}, "prunable"),
        ({"method": "magnitude", "sparsity": 0.5, "amount": 0.5}, "amount"),
        ({"method": "semi_structured", "n": 4, "m": 4}, "n"),
        ({"method": "fake_quant", "weight_bits": 9, "act_bits": 8}, "weight_bits"),
        ({"method": "fake_quant", "weight_bits": 4, "act_bits": 1}, "act_bits"),
        ({"method": "fake_quant", "weight_bits": True}, "weight_bits"),
        ({"method": "fake_quant"}, "weight_bits"),
        ({"method": "fake_quant", "weight_bits": 4, "calibration_images": 0}, "calibration_images"),
        ({"method": "fake_quant", "weight_bits": 4, "observer": "mse"}, "observer"),
    ],
)
def test_validate_spec_errors_name_the_key(spec, named):
    with pytest.raises(ConfigError, match=named):
        validate_spec(spec)


def test_validate_spec_errors_list_allowed_values():
    with pytest.raises(ConfigError, match="fake_quant, magnitude, semi_structured"):
        validate_spec({"method": "prune"})
    with pytest.raises(ConfigError, match=r"2\.\.8"):
        validate_spec({"method": "fake_quant", "weight_bits": 16})


def _fresh_mobilenet(seed: int) -> nn.Module:
    torch.manual_seed(seed)
    return torchvision.models.mobilenet_v2(weights=None, num_classes=10).eval()


SPECS = {
    "magnitude": {"method": "magnitude", "sparsity": 0.6, "scope": "layerwise"},
    "semi_structured": {"method": "semi_structured"},
    "fake_quant": {"method": "fake_quant", "weight_bits": 4, "act_bits": 8, "calibration_images": 3},
}


def _save(tmp_path, spec, model=None) -> tuple[nn.Module, torch.Tensor]:
    calibration = torch.randn(4, 3, 32, 32, generator=torch.Generator().manual_seed(3))
    model = apply_compression(model or _fresh_mobilenet(0), spec, calibration)
    card = model_card(
        model, family="mobilenet_v2", variant="v", spec=spec, input_size=32, source="t", checksum=None
    )
    save_variant(model, tmp_path, card)
    return model, calibration


@pytest.mark.parametrize("method", sorted(SPECS))
def test_round_trip_is_strict_and_exact(tmp_path, method):
    compressed, images = _save(tmp_path, SPECS[method])
    loaded = load_variant(_fresh_mobilenet(1), SPECS[method], tmp_path)
    assert not loaded.training
    assert set(loaded.state_dict()) == set(compressed.state_dict())
    for key, value in compressed.state_dict().items():
        assert torch.equal(loaded.state_dict()[key], value), key
    with torch.no_grad():
        assert torch.equal(loaded(images), compressed.eval()(images))
    card = json.loads((tmp_path / "card.json").read_text())
    assert card["model_sha256"] == sha256_file(tmp_path / "model.pt")


def test_prepare_structure_is_what_makes_a_strict_load_possible(tmp_path):
    _save(tmp_path, SPECS["fake_quant"])
    state = torch.load(tmp_path / "model.pt", weights_only=True)
    with pytest.raises(RuntimeError, match="Unexpected key"):
        _fresh_mobilenet(1).load_state_dict(state, strict=True)
    prepared = prepare_structure(_fresh_mobilenet(1), SPECS["fake_quant"])
    assert isinstance(prepared.features[0][0], FakeQuantMixin)
    assert not bool(prepared.features[0][0].input_quantizer.calibrated)
    prepared.load_state_dict(state, strict=True)


def test_checksum_mismatch_is_refused_before_anything_is_loaded(tmp_path):
    _save(tmp_path, SPECS["fake_quant"])
    card_path = tmp_path / "card.json"
    card = json.loads(card_path.read_text())
    card["model_sha256"] = "0" * 64
    card_path.write_text(json.dumps(card))
    base = _fresh_mobilenet(1)
    before = {key: value.clone() for key, value in base.state_dict().items()}
    with pytest.raises(ChecksumError, match="sha256 mismatch"):
        load_variant(base, SPECS["fake_quant"], tmp_path)
    assert not isinstance(base.features[0][0], FakeQuantMixin)
    assert all(torch.equal(value, before[key]) for key, value in base.state_dict().items())


def test_card_is_written_after_the_model(tmp_path, monkeypatch):
    seen = []
    original = variants.atomic_io.write_json

    def recording_write_json(path, obj):
        seen.append((tmp_path / "model.pt").is_file())
        original(path, obj)

    monkeypatch.setattr(variants.atomic_io, "write_json", recording_write_json)
    _save(tmp_path, SPECS["magnitude"])
    assert seen == [True]


def test_load_errors_name_what_is_wrong(tmp_path):
    with pytest.raises(MissingSourceError, match=r"card\.json"):
        load_variant(_fresh_mobilenet(1), SPECS["magnitude"], tmp_path)
    _save(tmp_path, SPECS["magnitude"])
    with pytest.raises(ConfigError, match="differs"):
        load_variant(_fresh_mobilenet(1), {"method": "magnitude", "sparsity": 0.5}, tmp_path)
    card = json.loads((tmp_path / "card.json").read_text())
    del card["model_sha256"]
    (tmp_path / "card.json").write_text(json.dumps(card))
    with pytest.raises(ChecksumError, match="model_sha256"):
        load_variant(_fresh_mobilenet(1), SPECS["magnitude"], tmp_path)


def test_fake_quant_needs_enough_calibration_images():
    spec = {"method": "fake_quant", "weight_bits": 4, "act_bits": 4, "calibration_images": 8}
    with pytest.raises(ConfigError, match="calibration_images is 8 but 2"):
        apply_compression(_fresh_mobilenet(0), spec, torch.randn(2, 3, 32, 32))
    weight_only = {"method": "fake_quant", "weight_bits": 4}
    assert isinstance(apply_compression(_fresh_mobilenet(0), weight_only).classifier[1], FakeQuantMixin)
