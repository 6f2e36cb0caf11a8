"""Model-card numbers equal hand-computed values; labels, top-5 agreement and the sample photos."""

from __future__ import annotations

import json

import pytest
import timm
import torch
import torchvision
from torch import nn

from vpbench.compression.model_card import (
    compression_level_on_axis,
    count_flops,
    model_card,
    sample_photos,
    sanity_top5_agreement,
)
from vpbench.compression.pruning import measure_sparsity
from vpbench.compression.quantization import quantize_model
from vpbench.compression.variants import apply_compression


class TwoConvNet(nn.Module):
    """3→4 conv (3×3, same), ReLU, 4→8 conv (3×3, stride 2), global pool, 8→5 linear."""

    def __init__(self) -> None:
        super().__init__()
        self.conv_a = nn.Conv2d(3, 4, 3, padding=1)
        self.conv_b = nn.Conv2d(4, 8, 3, padding=1, stride=2)
        self.fc = nn.Linear(8, 5)

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        features = self.conv_b(torch.relu(self.conv_a(image)))
        return self.fc(features.mean(dim=(2, 3)))


def _card(model: nn.Module, spec: dict, input_size: int = 8) -> dict:
    return model_card(
        model, family="tiny", variant="v", spec=spec, input_size=input_size, source="test", checksum="ab" * 32
    )


@pytest.fixture
def sparse_tiny() -> TwoConvNet:
    torch.manual_seed(0)
    model = TwoConvNet()
    with torch.no_grad():
        model.conv_a.weight[0] = 0  # 27 zeros in the first conv: excluded from the paper's S
        model.conv_b.weight[:2] = 0  # 72 of 288
        model.fc.weight.view(-1)[:10] = 0  # 10 of 40
    return model


def test_card_numbers_equal_hand_computed_values(sparse_tiny):
    card = _card(sparse_tiny, {})
    assert card["parameter_count"] == (108 + 4) + (288 + 8) + (40 + 5)
    assert card["prunable_parameter_count"] == 108 + 288 + 40
    assert card["sparsity"] == pytest.approx((27 + 72 + 10) / 436)
    assert card["remaining_pct_paper"] == pytest.approx(100 * (288 - 72) / 288)
    # MACs at 8×8: conv_a 4·8·8 outputs × 27, conv_b 8·4·4 × 36, fc 5 × 8.
    macs = 256 * 27 + 128 * 36 + 5 * 8
    assert card["macs"] == macs and card["flops"] == 2 * macs
    assert card["effective_flops"] == pytest.approx(
        2 * (256 * 27 * 81 / 108 + 128 * 36 * 216 / 288 + 40 * 30 / 40)
    )
    assert [(entry["layer"], entry["zeros"]) for entry in card["per_layer"]] == [
        ("conv_a", 27), ("conv_b", 72), ("fc", 10),
    ]  # fmt: skip
    assert card["per_layer"][1]["shape"] == [8, 4, 3, 3] and card["per_layer"][1]["sparsity"] == 0.25
    assert card["source_sha256"] == "ab" * 32 and card["compression_spec"] is None
    json.dumps(card)  # JSON-serialisable as it stands


def test_labels_from_measurement_and_from_spec(sparse_tiny):
    measured = _card(sparse_tiny, {"family": "tiny"})
    assert (measured["compression_axis"], measured["compression_label"]) == ("sparsity", "25% sparse")
    assert measured["recovery_finetuned"] is None
    dense = _card(TwoConvNet(), {})
    assert (dense["compression_label"], dense["compression_level"]) == ("dense", 0.0)
    assert compression_level_on_axis(dense, "sparsity") == 0.0
    assert compression_level_on_axis(dense, "weight_bits") == 32.0
    spec = {"method": "magnitude", "sparsity": 0.5}
    pruned = _card(apply_compression(TwoConvNet(), spec), spec)
    assert (pruned["compression_label"], pruned["compression_level"]) == ("50% sparse", 0.5)
    assert pruned["recovery_finetuned"] is False and pruned["compression_spec"]["scope"] == "global"
    assert pruned["sparsity"] == pytest.approx(0.5, abs=1 / 436)
    semi = _card(
        apply_compression(TwoConvNet(), {"method": "semi_structured"}), {"method": "semi_structured"}
    )
    assert semi["compression_label"] == "2:4 sparse" and semi["n_m_dense_layers"] == ["conv_a"]


@pytest.mark.parametrize("bits", [2, 4])
def test_quantized_card_measures_bit_widths(bits):
    torch.manual_seed(0)
    spec = {"method": "fake_quant", "weight_bits": bits, "act_bits": 8, "calibration_images": 4}
    model = apply_compression(TwoConvNet(), spec, torch.randn(4, 3, 8, 8))
    card = _card(model, spec)
    assert card["weight_bits_measured"] == bits and card["act_bits"] == 8
    assert (card["compression_label"], card["compression_level"]) == (f"W{bits}A8", float(bits))
    assert card["quantized_layer_count"] == 3 and card["float_layers"] == []
    for entry in card["per_layer"]:
        assert entry["weight_levels_max"] <= 2**bits and entry["act_calibrated"] is True
    assert compression_level_on_axis(card, "weight_bits") == bits


def test_float_layers_listed_when_first_and_last_are_skipped():
    model = quantize_model(TwoConvNet(), 4, 4, torch.randn(2, 3, 8, 8), skip_first_last=True)
    card = _card(model, {})
    assert card["float_layers"] == ["conv_a", "fc"] and card["compression_label"] == "W4"


def test_resnet18_flops_match_published_value():
    flops = count_flops(torchvision.models.resnet18(weights=None), 224)
    assert flops["macs"] == pytest.approx(1.814e9, rel=1e-3)  # torchvision lists 1.81 GFLOPS (= MACs)
    assert flops["effective_flops"] == pytest.approx(flops["flops"])


def test_vit_has_no_paper_remaining_pct_and_zero_sparsity():
    model = timm.create_model("deit_tiny_patch16_224", pretrained=False, img_size=32)
    card = _card(model, {}, input_size=32)
    assert card["remaining_pct_paper"] is None and card["compression_label"] == "dense"
    assert measure_sparsity(model) == 0.0


class FixedLogits(nn.Module):
    def __init__(self, logits: torch.Tensor) -> None:
        super().__init__()
        self.register_buffer("logits", logits)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.logits[: len(images)]


def test_top5_agreement_is_mean_overlap_over_five():
    ramp = torch.arange(10.0)
    dense = FixedLogits(torch.stack([ramp, ramp]))
    partly = torch.stack([ramp, torch.tensor([9.0, 8.0, 0, 1, 2, 3, 4, 5, 6, 7])])  # top-5 {0,1,7,8,9}
    images = torch.zeros(2, 3, 4, 4)
    assert sanity_top5_agreement(dense, dense, images) == 1.0
    assert sanity_top5_agreement(dense, FixedLogits(-dense.logits), images) == 0.0
    assert sanity_top5_agreement(dense, FixedLogits(partly), images) == pytest.approx((1.0 + 0.6) / 2)


def test_sample_photos_are_cropped_and_optionally_normalised():
    photos = sample_photos(64)
    assert photos.shape == (3, 3, 64, 64) and photos.dtype == torch.float32
    assert float(photos.min()) >= 0.0 and float(photos.max()) <= 1.0
    assert not torch.equal(photos[0], photos[1]) and not torch.equal(photos[1], photos[2])
    mean, std = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
    normalised = sample_photos(64, mean, std)
    expected = (photos - torch.tensor(mean).view(1, 3, 1, 1)) / torch.tensor(std).view(1, 3, 1, 1)
    torch.testing.assert_close(normalised, expected)
    with pytest.raises(ValueError, match="both"):
        sample_photos(64, mean=mean)
