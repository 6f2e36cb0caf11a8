"""VVTQ-compatible quantized Swin Transformer (``quantization/Swin_quant.py``, original Swin layout).

Keys follow the Microsoft Swin layout VVTQ kept: the patch merging sits at the *end* of each stage
(``layers.{i}.downsample``) with an 8-bit ``reduction``; ``relative_position_index`` and the shifted-window
``attn_mask`` are persistent buffers; the patch embedding's 8-bit ``quant`` exists but is not applied.
"""

from __future__ import annotations

import torch
from torch import nn

from vpbench.models.vvtq import DropPath, QuantAct, QuantConv2d, QuantLinear, VvtqAttention, VvtqMlp


def window_partition(x: torch.Tensor, window: int) -> torch.Tensor:
    """(B, H, W, C) → (B · H/w · W/w, w, w, C)."""
    b, h, w, c = x.shape
    x = x.view(b, h // window, window, w // window, window, c)
    return x.permute(0, 1, 3, 2, 4, 5).contiguous().view(-1, window, window, c)


def window_reverse(windows: torch.Tensor, window: int, h: int, w: int) -> torch.Tensor:
    """Inverse of :func:`window_partition`."""
    b = windows.shape[0] // (h * w // window // window)
    x = windows.view(b, h // window, w // window, window, window, -1)
    return x.permute(0, 1, 3, 2, 4, 5).contiguous().view(b, h, w, -1)


def relative_position_index(window: int) -> torch.Tensor:
    """Index into the (2w−1)² relative-position bias table for every pair of tokens in a window."""
    coords = torch.stack(torch.meshgrid(torch.arange(window), torch.arange(window), indexing="ij")).flatten(1)
    relative = (coords[:, :, None] - coords[:, None, :]).permute(1, 2, 0).contiguous()
    relative[:, :, 0] += window - 1
    relative[:, :, 1] += window - 1
    relative[:, :, 0] *= 2 * window - 1
    return relative.sum(-1)


def shifted_window_mask(h: int, w: int, window: int, shift: int) -> torch.Tensor:
    """The −100/0 additive mask that stops attention across the cyclic-shift seams."""
    regions = torch.zeros((1, h, w, 1))
    count = 0
    for hs in (slice(0, -window), slice(-window, -shift), slice(-shift, None)):
        for ws in (slice(0, -window), slice(-window, -shift), slice(-shift, None)):
            regions[:, hs, ws, :] = count
            count += 1
    windows = window_partition(regions, window).view(-1, window * window)
    mask = windows.unsqueeze(1) - windows.unsqueeze(2)
    return mask.masked_fill(mask != 0, -100.0).masked_fill(mask == 0, 0.0)


class VvtqWindowAttention(VvtqAttention):
    """VVTQ window attention: quantized attention plus a learned relative-position bias."""

    def __init__(self, dim: int, window: int, num_heads: int, bits: int) -> None:
        super().__init__(dim, num_heads, bits)
        self.window = window
        self.relative_position_bias_table = nn.Parameter(torch.zeros((2 * window - 1) ** 2, num_heads))
        self.register_buffer("relative_position_index", relative_position_index(window))

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        tokens = self.window * self.window
        bias = self.relative_position_bias_table[self.relative_position_index.view(-1)].view(
            tokens, tokens, -1
        )
        return self.attend(x, bias=bias.permute(2, 0, 1).contiguous(), mask=mask)


class VvtqSwinBlock(nn.Module):
    """Swin block (window or shifted-window attention, then MLP), quantized as in VVTQ."""

    def __init__(
        self, dim: int, resolution: int, num_heads: int, window: int, shift: int, bits: int, drop_path: float
    ):
        super().__init__()
        if resolution <= window:  # the window covers the whole map: no partition, no shift
            shift, window = 0, resolution
        self.resolution, self.window, self.shift = resolution, window, shift
        self.norm1 = nn.LayerNorm(dim)
        self.attn = VvtqWindowAttention(dim, window, num_heads, bits)
        self.drop_path = DropPath(drop_path) if drop_path > 0 else nn.Identity()
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = VvtqMlp(dim, 4 * dim, bits)
        mask = shifted_window_mask(resolution, resolution, window, shift) if shift > 0 else None
        self.register_buffer("attn_mask", mask)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, length, c = x.shape
        h = w = self.resolution
        shortcut = x
        x = self.norm1(x).view(b, h, w, c)
        if self.shift > 0:
            x = torch.roll(x, shifts=(-self.shift, -self.shift), dims=(1, 2))
        windows = window_partition(x, self.window).view(-1, self.window * self.window, c)
        windows = self.attn(windows, mask=self.attn_mask).view(-1, self.window, self.window, c)
        x = window_reverse(windows, self.window, h, w)
        if self.shift > 0:
            x = torch.roll(x, shifts=(self.shift, self.shift), dims=(1, 2))
        x = shortcut + self.drop_path(x.reshape(b, length, c))
        return x + self.drop_path(self.mlp(self.norm2(x)))


class VvtqPatchMerging(nn.Module):
    """2×2 patch merging with VVTQ's 8-bit, bias-free ``reduction``."""

    def __init__(self, resolution: int, dim: int) -> None:
        super().__init__()
        self.resolution = resolution
        self.reduction = QuantLinear(4 * dim, 2 * dim, bias=False, nbits=8)
        self.norm = nn.LayerNorm(4 * dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, _, c = x.shape
        x = x.view(b, self.resolution, self.resolution, c)
        x = torch.cat([x[:, 0::2, 0::2], x[:, 1::2, 0::2], x[:, 0::2, 1::2], x[:, 1::2, 1::2]], -1)
        return self.reduction(self.norm(x.view(b, -1, 4 * c)))


class VvtqSwinStage(nn.Module):
    """One stage (``BasicLayer``): blocks alternating plain/shifted windows, then optional merging."""

    def __init__(self, dim, resolution, depth, num_heads, window, bits, rates, downsample: bool) -> None:
        super().__init__()
        self.blocks = nn.ModuleList(
            VvtqSwinBlock(
                dim, resolution, num_heads, window, 0 if i % 2 == 0 else window // 2, bits, rates[i]
            )
            for i in range(depth)
        )
        self.downsample = VvtqPatchMerging(resolution, dim) if downsample else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for block in self.blocks:
            x = block(x)
        return self.downsample(x) if self.downsample is not None else x


class VvtqSwinPatchEmbed(nn.Module):
    """8-bit patchify convolution and LayerNorm (the 8-bit ``quant`` is kept for the keys but unused)."""

    def __init__(self, img_size: int, patch_size: int, embed_dim: int) -> None:
        super().__init__()
        self.img_size = img_size
        self.quant = QuantAct(8)
        self.proj = QuantConv2d(3, embed_dim, kernel_size=patch_size, stride=patch_size, nbits=8)
        self.norm = nn.LayerNorm(embed_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[-2:] != (self.img_size, self.img_size):
            raise ValueError(
                f"input is {tuple(x.shape[-2:])}, the model expects {self.img_size}x{self.img_size}"
            )
        return self.norm(self.proj(x).flatten(2).transpose(1, 2))


class VvtqSwin(nn.Module):
    """VVTQ ``SwinTransformer`` (no absolute position embedding, patch norm on), 8-bit head."""

    def __init__(
        self,
        bits: int,
        *,
        img_size: int = 224,
        patch_size: int = 4,
        embed_dim: int = 96,
        depths: tuple[int, ...] = (2, 2, 6, 2),
        num_heads: tuple[int, ...] = (3, 6, 12, 24),
        window: int = 7,
        num_classes: int = 1000,
        drop_path_rate: float = 0.1,
    ) -> None:
        super().__init__()
        self.patch_embed = VvtqSwinPatchEmbed(img_size, patch_size, embed_dim)
        self.pos_drop = nn.Dropout(0.0)
        rates = torch.linspace(0, drop_path_rate, sum(depths)).tolist()
        resolution = img_size // patch_size
        self.layers = nn.ModuleList()
        for i, depth in enumerate(depths):
            stage_rates = rates[sum(depths[:i]) : sum(depths[: i + 1])]
            self.layers.append(
                VvtqSwinStage(
                    embed_dim * 2**i,
                    resolution // 2**i,
                    depth,
                    num_heads[i],
                    window,
                    bits,
                    stage_rates,
                    downsample=i < len(depths) - 1,
                )
            )
        self.num_features = embed_dim * 2 ** (len(depths) - 1)
        self.norm = nn.LayerNorm(self.num_features)
        self.avgpool = nn.AdaptiveAvgPool1d(1)
        self.quant = QuantAct(8)
        self.head = QuantLinear(self.num_features, num_classes, nbits=8)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.pos_drop(self.patch_embed(x))
        for layer in self.layers:
            x = layer(x)
        x = torch.flatten(self.avgpool(self.norm(x).transpose(1, 2)), 1)
        return self.head(self.quant(x))


SWIN_EIGHT_BIT = ("patch_embed.*", "quant", "head", "layers.*.downsample.reduction")
