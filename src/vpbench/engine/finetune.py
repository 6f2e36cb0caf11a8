"""Full fine-tuning that keeps the compression: the whole network trains, and stays as sparse and as
quantized as it was loaded.

- **Input**: the image resized to L (bilinear, antialiased) and normalised; no prompt.
- **Network**: the variant's network with its classifier replaced by a new ``Linear(D → C)``
  (:func:`vpbench.engine.lor_vp.feature_extractor`; a fake-quantized classifier leaves its 8-bit input
  quantizer in place). Every parameter trains except VVTQ's bit-widths (``nbits``).
- **Pruned variants** (card kind ``sparse``): a keep-mask per Conv2d/Linear weight is taken from the zeros
  at load, and re-applied after every optimiser step (``after_optimizer_step``, called by the loop through
  an optimiser post-step hook); at the end every masked entry must still be exactly zero.
- **Quantized variants**: fake-quantized layers re-quantize their weights in every forward with a
  straight-through estimator (their calibrated activation ranges stay fixed); VVTQ layers train through
  their LSQ quantizers, step sizes included. The bit-widths are measured again after training.
- **BatchNorm**: frozen running statistics (the network stays in eval mode, as for every method), affine
  parameters trained; dropout and drop-path are off. Few-shot batches of 8 would make batch statistics
  noise, and eval mode keeps samples independent inside a packed step. docs/methods/full_finetune.md.
"""

from __future__ import annotations

import hashlib
import math
from typing import Any

import torch
from torch import nn

from vpbench.compression.fake_quant import FakeQuantMixin, fake_quantize_weight
from vpbench.compression.pruning import prunable_layers
from vpbench.compression.quantization import distinct_levels_per_channel
from vpbench.engine.linear_probe import ResizeInput
from vpbench.engine.output_mapping import LinearMapping
from vpbench.engine.vp_model import VisualPromptModel
from vpbench.errors import NumericalError

FROZEN_PARAMETER_NAMES = ("nbits",)  # VVTQ bit-widths: part of the architecture, not learnable here


def _bits(levels: int) -> int:
    return max(1, math.ceil(math.log2(levels))) if levels > 1 else 1


def quantized_weight_bits(network: nn.Module) -> dict[str, int]:
    """Bits needed by the weights each quantized layer actually uses (distinct values per output channel)."""
    bits = {}
    with torch.no_grad():
        for name, module in network.named_modules():
            if isinstance(module, FakeQuantMixin) and int(module.weight_bits):
                used = fake_quantize_weight(module.weight, int(module.weight_bits))
            elif getattr(module, "alpha", None) is not None and hasattr(module, "quantized_weight"):
                used = module.quantized_weight()
            else:
                continue
            bits[name] = _bits(int(distinct_levels_per_channel(used).max()))
    return bits


def sparsity_of(layers: list[tuple[str, nn.Module]]) -> float:
    """Fraction of exact zeros over the weights of ``layers``."""
    with torch.no_grad():
        total = sum(module.weight.numel() for _, module in layers)
        zeros = sum(int((module.weight == 0).sum()) for _, module in layers)
    return zeros / total if total else 0.0


class FineTuneModel(VisualPromptModel):
    """resize → the whole (compressed) network, trainable → a new linear head; masks kept after each step."""

    def __init__(
        self,
        backbone: nn.Module,
        width: int,
        num_classes: int,
        size: int,
        mean: Any,
        std: Any,
        *,
        keep_zeros: bool,
        channels_last: bool = False,
    ) -> None:
        backbone.requires_grad_(True)
        for name, parameter in backbone.named_parameters():
            if name.rsplit(".", 1)[-1] in FROZEN_PARAMETER_NAMES:
                parameter.requires_grad_(False)
        super().__init__(
            ResizeInput(size, mean, std), backbone, LinearMapping(width, num_classes),
            channels_last=channels_last, train_source=True,
        )  # fmt: skip
        self.layers = prunable_layers(backbone)
        self.masked: list[tuple[nn.Module, str]] = []  # (layer, name of its keep-mask buffer)
        for index, (_, module) in enumerate(self.layers):
            keep = module.weight.detach() != 0
            if keep_zeros and not bool(keep.all()):
                self.register_buffer(f"keep_{index}", keep, persistent=False)
                self.masked.append((module, f"keep_{index}"))
        self.keep_zeros = keep_zeros
        self.sparsity_before = sparsity_of(self.layers)
        self.bits_before = quantized_weight_bits(backbone)

    def fixed_entries(self) -> int:
        """Pruned entries held at zero: not trainable."""
        return sum(int((~getattr(self, name)).sum()) for _, name in self.masked)

    @torch.no_grad()
    def after_optimizer_step(self) -> None:
        """Re-apply every keep-mask (the optimiser and weight decay may have moved pruned entries)."""
        for module, name in self.masked:
            module.weight.mul_(getattr(self, name))

    def method_report(self) -> dict[str, Any]:
        """Measured sparsity and weight bit-widths after training; refuses a run whose masks leaked."""
        leaked = sum(
            int((module.weight.detach() != 0)[~getattr(self, name)].sum()) for module, name in self.masked
        )
        if leaked:
            raise NumericalError(f"full fine-tuning left {leaked} pruned weights non-zero")
        after = sparsity_of(self.layers)
        bits = quantized_weight_bits(self.source_model)
        digest = hashlib.sha256()
        for key, value in sorted(self.source_model.state_dict().items()):
            digest.update(key.encode())
            digest.update(value.detach().cpu().contiguous().numpy().tobytes())
        return {
            "keep_zeros": self.keep_zeros,
            "masked_layers": len(self.masked),
            "masked_entries": self.fixed_entries(),
            "sparsity_before": self.sparsity_before,
            "trained_sparsity": after,
            "weight_bits_before": max(self.bits_before.values(), default=None),
            "trained_weight_bits": max(bits.values(), default=None),
            "quantized_layers": len(bits),
            "trained_state_sha256": digest.hexdigest(),
        }
