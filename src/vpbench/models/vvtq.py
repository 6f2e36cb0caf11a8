"""VVTQ-compatible LSQ fake-quantized modules and DeiT
(docs/sources/models.md), so VVTQ state dicts load strictly.

Module and parameter names mirror HuangOwen/VVTQ (``quantization/_quan_base.py``, ``lsq_layer.py``,
``DeiT_quant.py``) with the authors' flags: offset=False, learned=True, mixpre=False, headwise=False.
Quantization is LSQ: ``round(clamp((x - β) / α, Qn, Qp)) · α + β`` with a straight-through round and
one step size α per bit-width 2..8 (``alpha[nbits - 2]``). Bit-widths are read from the checkpoint's
``nbits`` and are not learnable here (mixpre is unsupported).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import torch
import torch.nn.functional as F  # noqa: N812
from torch import nn

from vpbench.models.registry import default_state_dict
from vpbench.models.remaps import strip_prefix


def round_ste(x: torch.Tensor) -> torch.Tensor:
    """Round in the forward pass, identity gradient in the backward pass."""
    return (x.round() - x).detach() + x


def grad_scale(x: torch.Tensor, scale: float) -> torch.Tensor:
    """Identity in the forward pass; scales the gradient by ``scale`` (LSQ step-size gradient scaling)."""
    scaled = x * scale
    return (x - scaled).detach() + scaled


def bit_width(nbits: torch.Tensor) -> int:
    """The integer bit-width stored in an ``nbits`` parameter, clamped to VVTQ's 2..8 range."""
    return round(min(max(float(nbits.detach().max()), 2.0), 8.0))


def quant_range(bits: int, signed: bool) -> tuple[int, int]:
    """(Qn, Qp): the integer grid of a signed or unsigned ``bits``-bit quantizer."""
    return (-(2 ** (bits - 1)), 2 ** (bits - 1) - 1) if signed else (0, 2**bits - 1)


def lsq_fake_quant(
    x: torch.Tensor,
    alpha: torch.Tensor,
    bits: int,
    *,
    signed: bool,
    gradient_scale: float,
    beta: torch.Tensor | None = None,
) -> torch.Tensor:
    """LSQ fake quantization of ``x`` with step ``alpha[bits - 2]`` (floored at 1e-4, as VVTQ clamps it)."""
    qn, qp = quant_range(bits, signed)
    step = grad_scale(alpha[bits - 2].clamp(min=1e-4), gradient_scale)
    offset = beta[bits - 2] if beta is not None else 0.0
    return round_ste(torch.clamp((x - offset) / step, qn, qp)) * step + offset


class DropPath(nn.Module):
    """Stochastic depth (timm's ``DropPath``): drops whole residual branches in training, identity in eval."""

    def __init__(self, rate: float) -> None:
        super().__init__()
        self.rate = rate

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.rate == 0:
            return x
        keep = 1 - self.rate
        return x * x.new_empty((x.shape[0],) + (1,) * (x.ndim - 1)).bernoulli_(keep) / keep


class _WeightQuantMixin:
    """Shared state of VVTQ ``_LinearQ`` / ``_Conv2dQ``: ``nbits``, ``alpha[7]``, ``init_state``."""

    weight: nn.Parameter
    alpha: nn.Parameter | None
    nbits: nn.Parameter
    init_state: torch.Tensor

    def _init_quant_state(self, nbits: int) -> None:
        self.nbits = nn.Parameter(torch.tensor([float(nbits)]), requires_grad=False)
        if nbits < 0:
            self.register_parameter("alpha", None)  # type: ignore[attr-defined]
            return
        self.alpha = nn.Parameter(torch.zeros(7))
        self.register_buffer("init_state", torch.zeros(1))  # type: ignore[attr-defined]

    def quantized_weight(self) -> torch.Tensor:
        """The fake-quantized weight (the float weight if this layer is not quantized)."""
        if self.alpha is None:
            return self.weight
        if not bool(self.init_state.item()):
            raise RuntimeError(
                f"{type(self).__name__}: weight quantizer was never initialised (init_state=0), so this "
                "is not a trained VVTQ checkpoint"
            )
        bits = bit_width(self.nbits)
        qp = quant_range(bits, signed=True)[1]
        with torch.no_grad():
            gradient_scale = 1.0 / math.sqrt(float(self.weight.abs().sum()) * qp)
        return lsq_fake_quant(self.weight, self.alpha, bits, signed=True, gradient_scale=gradient_scale)


class QuantLinear(_WeightQuantMixin, nn.Linear):
    """``nn.Linear`` with an LSQ-quantized weight (VVTQ ``QuantLinear``); ``nbits < 0`` keeps it float."""

    def __init__(self, in_features: int, out_features: int, bias: bool = True, nbits: int = -1) -> None:
        super().__init__(in_features, out_features, bias=bias)
        self._init_quant_state(nbits)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(x, self.quantized_weight(), self.bias)


class QuantConv2d(_WeightQuantMixin, nn.Conv2d):
    """``nn.Conv2d`` with an LSQ-quantized weight (VVTQ ``QuantConv2d``, layer-wise step size)."""

    def __init__(
        self, in_channels: int, out_channels: int, kernel_size: Any, stride: Any = 1, nbits: int = -1
    ) -> None:
        super().__init__(in_channels, out_channels, kernel_size, stride=stride)
        self._init_quant_state(nbits)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self._conv_forward(x, self.quantized_weight(), self.bias)


class QuantAct(nn.Module):
    """LSQ activation quantizer (VVTQ ``QuantAct``): ``nbits``, ``alpha[7]``, optional ``beta[7]`` offset."""

    def __init__(self, nbits: int = -1, signed: bool = True, offset: bool = False) -> None:
        super().__init__()
        self.signed = signed
        self.offset = offset
        self.nbits = nn.Parameter(torch.tensor([float(nbits)]), requires_grad=False)
        if nbits < 0:
            self.register_parameter("alpha", None)
            return
        self.alpha = nn.Parameter(torch.zeros(7))
        if offset:
            self.beta = nn.Parameter(torch.zeros(7))
        self.register_buffer("init_state", torch.zeros(1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.alpha is None:
            return x
        if not bool(self.init_state.item()):
            raise RuntimeError(
                "QuantAct: activation quantizer was never initialised (init_state=0); VVTQ would "
                "calibrate it from the first batch, which a frozen benchmark model must not do"
            )
        bits = bit_width(self.nbits)
        qp = quant_range(bits, self.signed)[1]
        gradient_scale = 1.0 / math.sqrt(x.numel()) / qp
        beta = self.beta if self.offset else None
        return lsq_fake_quant(
            x, self.alpha, bits, signed=self.signed, gradient_scale=gradient_scale, beta=beta
        )


class VvtqMlp(nn.Module):
    """VVTQ MLP: quant1 → fc1 → GELU → quant2 (unsigned, with offset) → fc2."""

    def __init__(self, dim: int, hidden: int, bits: int) -> None:
        super().__init__()
        self.quant1 = QuantAct(bits)
        self.fc1 = QuantLinear(dim, hidden, nbits=bits)
        self.act = nn.GELU()
        self.quant2 = QuantAct(bits, signed=False, offset=True)
        self.fc2 = QuantLinear(hidden, dim, nbits=bits)
        self.drop = nn.Dropout(0.0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.drop(self.act(self.fc1(self.quant1(x))))
        return self.drop(self.fc2(self.quant2(x)))


class VvtqAttention(nn.Module):
    """VVTQ attention: separate quantized q/k/v projections and quantized q, k, v, attention and output."""

    def __init__(self, dim: int, num_heads: int, bits: int, qkv_bias: bool = True) -> None:
        super().__init__()
        self.num_heads = num_heads
        self.scale = (dim // num_heads) ** -0.5
        self.quant_input = QuantAct(bits)
        self.proj_q = QuantLinear(dim, dim, bias=qkv_bias, nbits=bits)
        self.proj_k = QuantLinear(dim, dim, bias=qkv_bias, nbits=bits)
        self.proj_v = QuantLinear(dim, dim, bias=qkv_bias, nbits=bits)
        self.attn_drop = nn.Dropout(0.0)
        self.quant_q = QuantAct(bits)
        self.quant_k = QuantAct(bits)
        self.quant_v = QuantAct(bits)
        self.quant_attn = QuantAct(bits, signed=False)
        self.quant_output = QuantAct(bits)
        self.proj = QuantLinear(dim, dim, nbits=bits)
        self.proj_drop = nn.Dropout(0.0)

    def heads(self, x: torch.Tensor) -> torch.Tensor:
        """(B, N, C) → (B, heads, N, C / heads)."""
        b, n, c = x.shape
        return x.reshape(b, n, self.num_heads, c // self.num_heads).permute(0, 2, 1, 3)

    def attend(
        self, x: torch.Tensor, bias: torch.Tensor | None = None, mask: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Quantized attention with an optional additive bias (Swin relative positions) and window mask."""
        b, n, c = x.shape
        x = self.quant_input(x)
        q = self.quant_q(self.heads(self.proj_q(x)))
        k = self.quant_k(self.heads(self.proj_k(x)))
        v = self.quant_v(self.heads(self.proj_v(x)))
        attn = (q @ k.transpose(-2, -1)) * self.scale
        if bias is not None:
            attn = attn + bias.unsqueeze(0)
        if mask is not None:
            windows = mask.shape[0]
            attn = attn.view(b // windows, windows, self.num_heads, n, n) + mask.unsqueeze(1).unsqueeze(0)
            attn = attn.view(-1, self.num_heads, n, n)
        attn = self.quant_attn(self.attn_drop(attn.softmax(dim=-1)))
        out = self.quant_output(attn @ v).transpose(1, 2).reshape(b, n, c)
        return self.proj_drop(self.proj(out))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.attend(x)


class VvtqBlock(nn.Module):
    """Pre-norm transformer block with VVTQ attention and MLP."""

    def __init__(self, dim: int, num_heads: int, bits: int, drop_path: float = 0.0) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=1e-6)
        self.attn = VvtqAttention(dim, num_heads, bits)
        self.drop_path = DropPath(drop_path) if drop_path > 0 else nn.Identity()
        self.norm2 = nn.LayerNorm(dim, eps=1e-6)
        self.mlp = VvtqMlp(dim, 4 * dim, bits)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.drop_path(self.attn(self.norm1(x)))
        return x + self.drop_path(self.mlp(self.norm2(x)))


class VvtqPatchEmbed(nn.Module):
    """8-bit input quantizer and 8-bit patchify convolution."""

    def __init__(self, img_size: int, patch_size: int, embed_dim: int) -> None:
        super().__init__()
        self.img_size = img_size
        self.num_patches = (img_size // patch_size) ** 2
        self.quant = QuantAct(8)
        self.proj = QuantConv2d(3, embed_dim, kernel_size=patch_size, stride=patch_size, nbits=8)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[-2:] != (self.img_size, self.img_size):
            raise ValueError(
                f"input is {tuple(x.shape[-2:])}, the model expects {self.img_size}x{self.img_size}"
            )
        return self.proj(self.quant(x)).flatten(2).transpose(1, 2)


class VvtqDeiT(nn.Module):
    """VVTQ ``QuantVisionTransformer`` (class token, no distillation token), 8-bit patch embed and head."""

    def __init__(
        self,
        bits: int,
        *,
        img_size: int = 224,
        patch_size: int = 16,
        embed_dim: int = 192,
        depth: int = 12,
        num_heads: int = 3,
        num_classes: int = 1000,
        drop_path_rate: float = 0.1,
    ) -> None:
        super().__init__()
        self.patch_embed = VvtqPatchEmbed(img_size, patch_size, embed_dim)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, embed_dim))
        self.pos_embed = nn.Parameter(torch.zeros(1, self.patch_embed.num_patches + 1, embed_dim))
        self.pos_drop = nn.Dropout(0.0)
        rates = torch.linspace(0, drop_path_rate, depth).tolist()
        self.blocks = nn.ModuleList(VvtqBlock(embed_dim, num_heads, bits, rate) for rate in rates)
        self.norm = nn.LayerNorm(embed_dim, eps=1e-6)
        self.quant = QuantAct(8)
        self.head = QuantLinear(embed_dim, num_classes, nbits=8)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.patch_embed(x)
        x = torch.cat((self.cls_token.expand(x.shape[0], -1, -1), x), dim=1)
        x = self.pos_drop(x + self.pos_embed)
        for block in self.blocks:
            x = block(x)
        return self.head(self.quant(self.norm(x)[:, 0]))


def vvtq_state_dict(checkpoint: Any) -> dict[str, torch.Tensor]:
    """VVTQ ``{epoch, arch, state_dict, best_acc1, optimizer}`` (DDP) → plain keys, ``module.`` removed."""
    state: Mapping[str, Any] = default_state_dict(checkpoint)
    return strip_prefix(state, "module.")


DEIT_EIGHT_BIT = ("patch_embed.*", "quant", "head")
