"""Post-training fake quantization of any registry model: weights per output channel, inputs per tensor.

Every Conv2d/Linear (subclasses included, e.g. timm ``Conv2dSame``) is switched in place to its fake-quant
subclass, so state-dict keys of the float model are kept and only quantizer buffers are added. Linears owned
by ``nn.MultiheadAttention`` are left in float: MHA reads their weights directly and never calls them.
Calibration is one pass in eval mode with weights already quantized and every input quantizer observing.
No quantization-aware training happens (unlike VVTQ's W/A models); the card says so.
"""

from __future__ import annotations

import logging

import torch
from torch import nn

from vpbench.compression.fake_quant import (
    DEFAULT_PERCENTILE,
    OBSERVERS,
    ActivationFakeQuant,
    FakeQuantMixin,
    convert_to_fake_quant,
)
from vpbench.errors import ConfigError

log = logging.getLogger(__name__)

QUANTIZABLE_TYPES: tuple[type[nn.Module], ...] = (nn.Conv2d, nn.Linear)
BIT_RANGE = range(2, 9)


def quantizable_layers(model: nn.Module, skip_first_last: bool = False) -> list[tuple[str, nn.Module]]:
    """``(name, module)`` of the layers :func:`quantize_model` converts, in registration order.

    ``skip_first_last`` keeps the first and the last of them in float (stem conv / patch embedding and the
    classifier head), as low-bit recipes usually do.
    """
    attention_owned = {
        id(child)
        for module in model.modules()
        if isinstance(module, nn.MultiheadAttention)
        for child in module.children()
    }
    layers = [
        (name, module)
        for name, module in model.named_modules()
        if isinstance(module, QUANTIZABLE_TYPES) and id(module) not in attention_owned
    ]
    if skip_first_last:
        layers = layers[1:-1]
    return layers


def fake_quant_layers(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """``(name, module)`` of every fake-quantized layer of ``model``."""
    return [(name, module) for name, module in model.named_modules() if isinstance(module, FakeQuantMixin)]


def _check_bits(key: str, bits: int | None) -> int:
    """Bits as an int (0 for None = float); raise naming ``key`` if outside 2..8."""
    if bits is None:
        return 0
    if isinstance(bits, bool) or not isinstance(bits, int) or bits not in BIT_RANGE:
        raise ConfigError(f"{key} must be an integer in 2..8 or None (float), got {bits!r}")
    return bits


def insert_fake_quant(
    model: nn.Module, weight_bits: int | None, act_bits: int | None, skip_first_last: bool = False
) -> nn.Module:
    """Convert the quantizable layers in place to uncalibrated fake-quant layers; weights untouched.

    This is the module *structure* of a quantized variant; its saved state dict then loads strictly.
    """
    w_bits, a_bits = _check_bits("weight_bits", weight_bits), _check_bits("act_bits", act_bits)
    if not (w_bits or a_bits):
        raise ConfigError("fake_quant needs weight_bits or act_bits (or both); both are None")
    layers = quantizable_layers(model, skip_first_last)
    if not layers:
        raise ConfigError("the model has no Conv2d/Linear layer to quantize")
    for _, module in layers:
        convert_to_fake_quant(module, w_bits, a_bits)
    return model


def quantize_model(
    model: nn.Module,
    weight_bits: int | None,
    act_bits: int | None,
    calibration: torch.Tensor | None = None,
    skip_first_last: bool = False,
    observer: str = "minmax",
    percentile: float = DEFAULT_PERCENTILE,
    batch_size: int = 16,
) -> nn.Module:
    """Fake-quantize ``model`` in place and return it: quantize the stored weights, calibrate input ranges.

    ``calibration`` holds already-normalised images (N, 3, H, W); it is required when ``act_bits`` is set.
    ``None`` bits keep that part in fp32. Layers that no calibration batch reached stay uncalibrated and
    raise if they are ever called with activation quantization on.
    """
    if observer not in OBSERVERS:
        raise ConfigError(f"observer {observer!r} is not allowed; allowed values: {', '.join(OBSERVERS)}")
    if act_bits is not None and (calibration is None or len(calibration) == 0):
        raise ConfigError("act_bits is set, so quantize_model needs calibration images (N, 3, H, W)")
    insert_fake_quant(model, weight_bits, act_bits, skip_first_last)
    layers = fake_quant_layers(model)
    for _, module in layers:
        module.quantize_stored_weight()
    if act_bits is not None and calibration is not None:
        unreached = calibrate(model, calibration, observer, percentile, batch_size)
        if unreached:
            log.warning("no calibration batch reached %d layer(s); they stay uncalibrated: %s",
                        len(unreached), ", ".join(unreached))  # fmt: skip
    return model


@torch.no_grad()
def calibrate(
    model: nn.Module,
    calibration: torch.Tensor,
    observer: str = "minmax",
    percentile: float = DEFAULT_PERCENTILE,
    batch_size: int = 16,
) -> list[str]:
    """Observe every enabled input quantizer over ``calibration`` in eval mode and freeze the ranges.

    Returns the names of quantizers no batch reached.
    """
    quantizers = [
        (name, module)
        for name, module in model.named_modules()
        if isinstance(module, ActivationFakeQuant) and module.enabled
    ]
    for _, quantizer in quantizers:
        quantizer.start_observing(observer, percentile)
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    try:
        for start in range(0, len(calibration), batch_size):
            model(calibration[start : start + batch_size].to(device))
    finally:
        unreached = [name for name, quantizer in quantizers if not quantizer.finish_calibration()]
        model.train(was_training)
    return unreached


def distinct_levels_per_channel(weight: torch.Tensor) -> torch.Tensor:
    """Number of distinct values in each output channel (dim 0) of ``weight``."""
    rows = weight.detach().reshape(weight.shape[0], -1).sort(dim=1).values
    return 1 + (rows[:, 1:] != rows[:, :-1]).sum(dim=1)
