"""Input prompts: the trainable transformations applied to a target image before the frozen model.

Every prompt maps a batch of images in [0, 1] pixel space to the model's normalised input and exposes
``effective()``, the prompt as it acts on pixels (what is saved, plotted and measured, docs/metrics.md).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn
from torch.nn import functional as F  # noqa: N812


def padding_geometry(canvas: int, input_size: int) -> tuple[int, int]:
    """Return (left/top, right/bottom) zero padding that centres ``input_size`` in ``canvas``.

    The extra pixel of an odd difference goes left/top, as in ILM-VP's ``ExpansiveVisualPrompt``.
    """
    if input_size > canvas:
        raise ValueError(f"input size {input_size} exceeds canvas {canvas}")
    return (canvas - input_size + 1) // 2, (canvas - input_size) // 2


def _as_buffer(values: Sequence[float]) -> torch.Tensor:
    return torch.tensor(list(values), dtype=torch.float32).view(1, 3, 1, 1)


class PaddingPrompt(nn.Module):
    """ILM-VP's padding ("expansive") prompt: x̃ = Normalize(ZeroPad(x) + sigmoid(δ) ⊙ M)
    (docs/methods/padding_vp.md).

    δ starts at zero (a uniform grey border); the mask M is 1 on the border only, so the prompt never
    touches image pixels and needs no clamp.
    """

    def __init__(
        self,
        canvas: int,
        input_size: int,
        mean: Sequence[float],
        std: Sequence[float],
        init: str = "zero",
        generator: torch.Generator | None = None,
    ) -> None:
        super().__init__()
        self.canvas, self.input_size = canvas, input_size
        self.pad_before, self.pad_after = padding_geometry(canvas, input_size)
        mask = torch.ones(1, 3, canvas, canvas)
        end = self.pad_before + input_size
        mask[..., self.pad_before : end, self.pad_before : end] = 0
        self.register_buffer("mask", mask)
        self.register_buffer("mean", _as_buffer(mean))
        self.register_buffer("std", _as_buffer(std))
        if init == "zero":
            delta = torch.zeros(1, 3, canvas, canvas)
        elif init == "randn":
            delta = torch.randn(1, 3, canvas, canvas, generator=generator)
        else:
            raise ValueError(f"unknown prompt init {init!r}; allowed: zero, randn")
        self.delta = nn.Parameter(delta)

    def effective(self) -> torch.Tensor:
        """The pixel-space prompt P = sigmoid(δ) ⊙ M, shape 3×L×L."""
        return (torch.sigmoid(self.delta) * self.mask)[0]

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """Pad [B,3,in,in] images in [0,1] into the canvas, add the prompt, normalise."""
        padded = F.pad(images, (self.pad_before, self.pad_after, self.pad_before, self.pad_after))
        prompted = padded + torch.sigmoid(self.delta) * self.mask
        return (prompted - self.mean) / self.std


class AdditiveFramePrompt(nn.Module):
    """ILM-TP-VP's additive frame: Normalize(x) + δ ⊙ M; δ starts at zero, no sigmoid, no clamp
    (docs/methods/clip.md)."""

    def __init__(self, size: int, mean: Sequence[float], std: Sequence[float], frame: int = 30) -> None:
        super().__init__()
        if 2 * frame >= size:
            raise ValueError(f"frame width {frame} leaves no image in a {size}-px input")
        self.canvas, self.input_size, self.frame = size, size, frame
        mask = torch.ones(1, 3, size, size)
        mask[..., frame : size - frame, frame : size - frame] = 0
        self.register_buffer("mask", mask)
        self.register_buffer("mean", _as_buffer(mean))
        self.register_buffer("std", _as_buffer(std))
        self.delta = nn.Parameter(torch.zeros(1, 3, size, size))

    def effective(self) -> torch.Tensor:
        """The frame δ ⊙ M in normalised space, shape 3×n×n."""
        return (self.delta * self.mask)[0]

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """Normalise full-size [B,3,n,n] images in [0,1] and add the frame."""
        return (images - self.mean) / self.std + self.delta * self.mask


class PadPrompter(nn.Module):
    """Bahng et al.'s ``PadPrompter``: four random-normal pads forming a p-px frame, added to the
    normalised image (docs/methods/clip.md). Parameters are created up, down, left, right, as published."""

    def __init__(
        self,
        size: int,
        mean: Sequence[float],
        std: Sequence[float],
        pad: int = 30,
        generator: torch.Generator | None = None,
    ) -> None:
        super().__init__()
        if 2 * pad >= size:
            raise ValueError(f"pad width {pad} leaves no image in a {size}-px input")
        self.canvas, self.input_size, self.pad = size, size, pad
        inner = size - 2 * pad
        self.pad_up = nn.Parameter(torch.randn(1, 3, pad, size, generator=generator))
        self.pad_down = nn.Parameter(torch.randn(1, 3, pad, size, generator=generator))
        self.pad_left = nn.Parameter(torch.randn(1, 3, inner, pad, generator=generator))
        self.pad_right = nn.Parameter(torch.randn(1, 3, inner, pad, generator=generator))
        self.register_buffer("mean", _as_buffer(mean))
        self.register_buffer("std", _as_buffer(std))

    def effective(self) -> torch.Tensor:
        """The full frame (zero centre) in normalised space, shape 3×n×n."""
        inner = self.canvas - 2 * self.pad
        centre = self.pad_up.new_zeros(1, 3, inner, inner)
        middle = torch.cat([self.pad_left, centre, self.pad_right], dim=3)
        return torch.cat([self.pad_up, middle, self.pad_down], dim=2)[0]

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """Normalise full-size images in [0,1] and add the frame."""
        return (images - self.mean) / self.std + self.effective().unsqueeze(0)


PROMPTS = {"padding": PaddingPrompt, "additive_frame": AdditiveFramePrompt, "pad_prompter": PadPrompter}
