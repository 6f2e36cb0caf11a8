"""quantize_model on registry-style models: levels, calibration buffers, gradients to the input only."""

from __future__ import annotations

import copy

import pytest
import timm
import torch
import torchvision
from torch import nn

from vpbench.compression.fake_quant import FakeQuantMixin
from vpbench.compression.quantization import (
    distinct_levels_per_channel,
    fake_quant_layers,
    quantizable_layers,
    quantize_model,
)
from vpbench.errors import ConfigError


@pytest.fixture(scope="module")
def resnet18() -> nn.Module:
    torch.manual_seed(0)
    return torchvision.models.resnet18(weights=None, num_classes=10).eval()


@pytest.fixture(scope="module")
def images() -> torch.Tensor:
    return torch.randn(4, 3, 32, 32, generator=torch.Generator().manual_seed(1))


def _input_gradient(model: nn.Module, image: torch.Tensor) -> torch.Tensor:
    model.requires_grad_(False)
    image = image.clone().requires_grad_(True)
    model(image).logsumexp(dim=1).sum().backward()
    assert all(parameter.grad is None for parameter in model.parameters())
    assert image.grad is not None
    return image.grad


@pytest.mark.parametrize("bits", [2, 3, 4, 8])
def test_every_layer_has_at_most_2_to_b_levels_and_backpropagates_to_input(resnet18, images, bits):
    model = quantize_model(copy.deepcopy(resnet18), bits, bits, images)
    layers = fake_quant_layers(model)
    assert len(layers) == 21  # 20 convs + fc
    for name, module in layers:
        assert int(distinct_levels_per_channel(module.weight).max()) <= 2**bits, name
        assert bool(module.input_quantizer.calibrated), name
    gradient = _input_gradient(model, images[:1])
    assert bool(torch.isfinite(gradient).all()) and bool(gradient.abs().sum() > 0)


def test_output_error_grows_as_bits_shrink(resnet18, images):
    with torch.no_grad():
        reference = resnet18(images)
    similarity = {}
    for bits in (8, 4, 2):
        with torch.no_grad():
            output = quantize_model(copy.deepcopy(resnet18), bits, bits, images)(images)
        similarity[bits] = float(
            nn.functional.cosine_similarity(output.flatten(), reference.flatten(), dim=0)
        )
    assert similarity[8] > 0.999
    assert similarity[8] > similarity[4] > similarity[2]


def test_calibration_is_stored_in_the_state_dict(images):
    torch.manual_seed(0)
    model = quantize_model(torchvision.models.mobilenet_v2(weights=None).eval(), 4, 8, images)
    state = model.state_dict()
    scales = {key: value for key, value in state.items() if key.endswith("input_quantizer.scale")}
    assert len(scales) == 53 and all(float(value) > 0 for value in scales.values())
    assert all(bool(value) for key, value in state.items() if key.endswith("input_quantizer.calibrated"))
    assert (
        int(state["features.0.0.weight_bits"]) == 4 and int(state["features.0.0.input_quantizer.bits"]) == 8
    )
    # Normalised images can be negative; the depthwise conv after ReLU6 only sees non-negative inputs.
    assert bool(state["features.0.0.input_quantizer.signed"])
    assert not bool(state["features.1.conv.1.input_quantizer.signed"])


def test_weight_only_quantization_needs_no_calibration(resnet18, images):
    model = quantize_model(copy.deepcopy(resnet18), 4, None)
    assert all(not module.input_quantizer.enabled for _, module in fake_quant_layers(model))
    assert int(distinct_levels_per_channel(model.fc.weight).max()) <= 15
    with pytest.raises(ConfigError, match="calibration"):
        quantize_model(copy.deepcopy(resnet18), 4, 4, calibration=None)
    with pytest.raises(ConfigError, match="weight_bits"):
        quantize_model(copy.deepcopy(resnet18), 9, None)


def test_skip_first_last_keeps_stem_and_head_float(resnet18, images):
    model = quantize_model(copy.deepcopy(resnet18), 4, 4, images, skip_first_last=True)
    assert not isinstance(model.conv1, FakeQuantMixin) and not isinstance(model.fc, FakeQuantMixin)
    assert len(fake_quant_layers(model)) == 19


def test_percentile_observer_narrows_ranges(resnet18, images):
    minmax = quantize_model(copy.deepcopy(resnet18), 8, 8, images, observer="minmax")
    percentile = quantize_model(copy.deepcopy(resnet18), 8, 8, images, observer="percentile", percentile=99.0)
    assert float(percentile.layer1[0].conv1.input_quantizer.scale) < float(
        minmax.layer1[0].conv1.input_quantizer.scale
    )


def test_deit_tiny_quantizes_and_backpropagates_to_input():
    torch.manual_seed(0)
    model = timm.create_model("deit_tiny_patch16_224", pretrained=False, img_size=32).eval()
    calibration = torch.randn(2, 3, 32, 32)
    quantize_model(model, 4, 4, calibration)
    assert isinstance(model.patch_embed.proj, FakeQuantMixin) and isinstance(model.head, FakeQuantMixin)
    assert len(fake_quant_layers(model)) == 50  # 49 Linear + the patch-embedding conv
    gradient = _input_gradient(model, calibration[:1])
    assert bool(torch.isfinite(gradient).all()) and bool(gradient.abs().sum() > 0)


def test_multihead_attention_projections_stay_float():
    class TinyEncoder(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.attention = nn.MultiheadAttention(8, 2, batch_first=True)
            self.head = nn.Linear(8, 3)

        def forward(self, tokens: torch.Tensor) -> torch.Tensor:
            return self.head(self.attention(tokens, tokens, tokens)[0].mean(dim=1))

    model = TinyEncoder()
    assert [name for name, _ in quantizable_layers(model)] == ["head"]
    quantize_model(model, 4, 4, torch.randn(2, 5, 8))
    assert not isinstance(model.attention.out_proj, FakeQuantMixin)
    assert model(torch.randn(1, 5, 8)).shape == (1, 3)
