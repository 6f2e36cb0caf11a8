"""CLIP as a frozen source model: the image tower scored against cached text embeddings.

The text tower never runs at train time: its embeddings come from the ``text_embeddings`` rule's file,
and :func:`drop_text_tower` removes it from the loaded model, so neither memory nor gradients reach it.
The image tower is frozen (``requires_grad_(False)``, ``eval()``).
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F  # noqa: N812

# Attributes of open_clip's CLIP (and ``text`` of CustomTextCLIP) that make up the text tower.
TEXT_TOWER = ("text", "transformer", "token_embedding", "positional_embedding", "ln_final",
              "text_projection", "attn_mask")  # fmt: skip


class ClipImageSource(nn.Module):
    """Frozen CLIP image side: logits_k = logit_scale · ⟨normalize(visual(x)), t_k⟩ for S cached texts t_k."""

    def __init__(self, visual: nn.Module, text_embeddings: torch.Tensor, logit_scale: float) -> None:
        super().__init__()
        self.visual = visual
        self.register_buffer("text_embeddings", F.normalize(text_embeddings.detach().float(), dim=-1))
        self.register_buffer("logit_scale", torch.tensor(float(logit_scale)))
        self.requires_grad_(False)
        self.eval()

    @classmethod
    def from_clip(cls, net: nn.Module, text_embeddings: torch.Tensor) -> ClipImageSource:
        """Take ``net.visual`` and ``exp(net.logit_scale)`` from an open_clip model."""
        return cls(net.visual, text_embeddings, float(net.logit_scale.detach().exp()))

    @property
    def num_sources(self) -> int:
        """S, the number of text sources."""
        return int(self.text_embeddings.shape[0])

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """Source logits [B, S] for normalised (prompted) images [B, 3, n, n]."""
        features = F.normalize(self.visual(images).float(), dim=-1)
        return self.logit_scale * features @ self.text_embeddings.t()


def drop_text_tower(net: nn.Module) -> int:
    """Delete an open_clip model's text tower in place; returns the number of parameters removed."""
    removed = 0
    for name in TEXT_TOWER:
        if name in net._modules:
            removed += sum(p.numel() for p in net._modules[name].parameters())
        elif name in net._parameters and net._parameters[name] is not None:
            removed += net._parameters[name].numel()
        elif name not in net._buffers:
            continue
        delattr(net, name)
    return removed
