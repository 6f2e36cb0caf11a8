"""Quantizer primitives: level counts, straight-through gradients, calibrated activation ranges."""

from __future__ import annotations

import pytest
import torch
from timm.layers import Conv2dSame
from torch import nn

from vpbench.compression.fake_quant import (
    ActivationFakeQuant,
    FakeQuantConv2d,
    FakeQuantLinear,
    convert_to_fake_quant,
    fake_quantize_weight,
)
from vpbench.compression.quantization import distinct_levels_per_channel


@pytest.mark.parametrize("bits", [2, 3, 4, 8])
def test_weight_quantization_levels_per_output_channel(bits):
    torch.manual_seed(bits)
    weight = torch.randn(6, 4, 5, 5) * torch.linspace(0.1, 3.0, 6).view(6, 1, 1, 1)
    quantized = fake_quantize_weight(weight, bits)
    levels = distinct_levels_per_channel(quantized)
    assert bool((levels <= 2**bits).all())
    evenly_spread = torch.linspace(-1, 1, 300).repeat(6, 1) * torch.linspace(0.1, 3.0, 6).view(6, 1)
    full_grid = distinct_levels_per_channel(fake_quantize_weight(evenly_spread, bits))
    assert full_grid.tolist() == [2**bits - 1] * 6  # the symmetric grid: −qmax..qmax
    # Symmetric per channel: the largest magnitude is kept exactly, values lie on the channel's grid.
    peak = weight.abs().amax(dim=(1, 2, 3))
    torch.testing.assert_close(quantized.abs().amax(dim=(1, 2, 3)), peak)
    steps = quantized / (peak / (2 ** (bits - 1) - 1)).view(6, 1, 1, 1)
    torch.testing.assert_close(steps, steps.round(), atol=1e-4, rtol=0)


def test_weight_quantization_handles_all_zero_channels():
    weight = torch.zeros(2, 3)
    weight[1] = torch.tensor([1.0, -0.6, 0.2])
    quantized = fake_quantize_weight(weight, 2)
    assert torch.equal(quantized[0], torch.zeros(3))
    assert torch.equal(quantized[1], torch.tensor([1.0, -1.0, 0.0]))


def test_weight_quantization_passes_gradients_straight_through():
    weight = torch.randn(3, 8, requires_grad=True)
    fake_quantize_weight(weight, 3).sum().backward()
    assert torch.equal(weight.grad, torch.ones_like(weight))


def _calibrated(
    bits: int, samples: torch.Tensor, observer: str = "minmax", batch: int = 50
) -> ActivationFakeQuant:
    quantizer = ActivationFakeQuant(bits)
    quantizer.start_observing(observer)
    for chunk in samples.split(batch):
        quantizer(chunk)
    assert quantizer.finish_calibration()
    return quantizer


def test_unsigned_range_after_relu():
    quantizer = _calibrated(4, torch.relu(torch.randn(200)) + torch.tensor([0.0] * 199 + [3.0]))
    assert not bool(quantizer.signed)
    assert float(quantizer.scale) == pytest.approx(3.0 / 15)
    out = quantizer(torch.linspace(-1, 4, 101))
    assert float(out.min()) == 0.0 and float(out.max()) == pytest.approx(3.0)
    assert len(torch.unique(out)) <= 16


def test_signed_range_uses_largest_magnitude():
    samples = torch.cat([torch.randn(99).clamp(-1, 1), torch.tensor([-2.0])])
    quantizer = _calibrated(3, samples)
    assert bool(quantizer.signed)
    assert float(quantizer.scale) == pytest.approx(2.0 / 3)
    out = quantizer(torch.linspace(-5, 5, 101))
    assert sorted(torch.unique(out).tolist()) == pytest.approx([k * 2.0 / 3 for k in range(-3, 4)])


def test_activation_gradient_is_one_inside_range_and_zero_where_clipped():
    quantizer = _calibrated(4, torch.linspace(0, 1, 100))
    values = torch.tensor([-0.5, 0.1, 0.52, 0.97, 1.5], requires_grad=True)
    quantizer(values).sum().backward()
    assert values.grad.tolist() == [0.0, 1.0, 1.0, 1.0, 0.0]


def test_percentile_observer_ignores_outliers():
    samples = torch.cat([torch.rand(19_999), torch.tensor([100.0])])
    minmax = _calibrated(8, samples, "minmax", batch=10_000)
    percentile = _calibrated(8, samples, "percentile", batch=10_000)
    assert float(minmax.scale) == pytest.approx(100.0 / 255)
    assert float(percentile.scale) < 1.0 / 255  # mean of the two batches' 99.99th percentiles


def test_uncalibrated_quantizer_refuses_to_run_and_disabled_one_is_identity():
    with pytest.raises(RuntimeError, match="before calibration"):
        ActivationFakeQuant(4)(torch.ones(3))
    values = torch.randn(5)
    assert ActivationFakeQuant(0)(values) is values
    assert not ActivationFakeQuant(4).finish_calibration()  # nothing observed


def test_conversion_keeps_parameters_and_matches_manual_computation():
    torch.manual_seed(0)
    conv = nn.Conv2d(3, 4, 3, padding=1)
    weight, bias = conv.weight, conv.bias
    convert_to_fake_quant(conv, 4, 0)
    assert isinstance(conv, FakeQuantConv2d) and conv.weight is weight and conv.bias is bias
    conv.quantize_stored_weight()
    image = torch.randn(2, 3, 6, 6)
    expected = nn.functional.conv2d(image, fake_quantize_weight(weight.detach(), 4), bias, padding=1)
    torch.testing.assert_close(conv(image), expected)
    with pytest.raises(ValueError, match="already"):
        convert_to_fake_quant(conv, 4, 0)


def test_subclass_with_own_forward_is_supported():
    torch.manual_seed(0)
    conv = Conv2dSame(3, 4, 3, stride=2)
    dense_output_shape = conv(torch.randn(1, 3, 7, 7)).shape
    convert_to_fake_quant(conv, 3, 4)
    assert type(conv).__name__ == "FakeQuantConv2dSame" and isinstance(conv, Conv2dSame)
    conv.input_quantizer.start_observing()
    conv(torch.randn(4, 3, 7, 7))
    conv.input_quantizer.finish_calibration()
    assert conv(torch.randn(1, 3, 7, 7)).shape == dense_output_shape


def test_trainable_weights_get_ste_gradients_and_same_output_as_frozen():
    torch.manual_seed(0)
    linear = convert_to_fake_quant(nn.Linear(8, 3), 3, 0)
    assert isinstance(linear, FakeQuantLinear)
    linear.quantize_stored_weight()
    values = torch.randn(5, 8)
    trainable = linear(values)
    trainable.sum().backward()
    assert linear.weight.grad is not None and "weight" in dict(linear.named_parameters())
    linear.requires_grad_(False)
    torch.testing.assert_close(linear(values), trainable.detach())
