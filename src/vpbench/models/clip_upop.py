"""UPop-compressed CLIP
(docs/sources/models.md): open_clip models resized to the pruned widths in a state dict.

UPop prunes one attention head-dim mask shared by all heads and by Q/K/V, and the MLP hidden units, per
layer and in both towers. :func:`build_upop_clip` infers d′ = rows(in_proj_weight) / (3·heads) and the MLP
width h′ per block, swaps in :class:`PrunedAttention` (softmax scale 1/√d′) and resized linears, so the
checkpoint then loads strictly. UPop's own ``clip`` package patches torch internals and does not run on
torch 2.x, which is why the architecture is rebuilt here.
"""

from __future__ import annotations

import math
import re
import warnings
from collections.abc import Mapping
from typing import Any

import torch
import torch.nn.functional as F  # noqa: N812
from torch import nn

from vpbench.models.registry import CheckpointMismatchError, default_state_dict
from vpbench.models.remaps import strip_prefix

UPOP_QUEUES = ("image_queue", "text_queue", "idx_queue", "ptr_queue")
_MOMENTUM = re.compile(r"^[^.]*_m(\.|$)")  # visual_m., transformer_m., text_projection_m, ...
_OPENAI_METADATA = ("input_resolution", "context_length", "vocab_size")


def upop_state_dict(checkpoint: Any) -> dict[str, torch.Tensor]:
    """UPop ``{"model": ...}`` → open_clip keys: momentum copies (``*_m``), queues and metadata dropped."""
    state = strip_prefix(default_state_dict(checkpoint), "module.")
    return {
        key: value
        for key, value in state.items()
        if not _MOMENTUM.match(key) and key not in UPOP_QUEUES and key not in _OPENAI_METADATA
    }


def pruned_linear(in_features: int, out_features: int) -> nn.Linear:
    """``nn.Linear`` that may have zero inputs or outputs (a fully pruned block) without init warnings."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Initializing zero-element tensors is a no-op")
        return nn.Linear(in_features, out_features)


class PrunedAttention(nn.Module):
    """Batch-first multi-head attention whose per-head width d′ may be smaller than embed_dim / heads.

    Same parameters and call signature as the ``nn.MultiheadAttention`` open_clip uses, so keys and
    ``ResidualAttentionBlock.attention`` work unchanged; d′ = 0 (fully pruned) outputs the bias only.
    """

    def __init__(self, embed_dim: int, num_heads: int, head_dim: int) -> None:
        super().__init__()
        self.embed_dim, self.num_heads, self.head_dim = embed_dim, num_heads, head_dim
        inner = num_heads * head_dim
        self.in_proj_weight = nn.Parameter(torch.empty(3 * inner, embed_dim))
        self.in_proj_bias = nn.Parameter(torch.zeros(3 * inner))
        self.out_proj = pruned_linear(inner, embed_dim)
        if inner:
            nn.init.xavier_uniform_(self.in_proj_weight)

    def forward(
        self,
        query: torch.Tensor,
        key: torch.Tensor,
        value: torch.Tensor,
        need_weights: bool = False,
        attn_mask: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, None]:
        batch, length, _ = query.shape
        if self.head_dim == 0:
            return self.out_proj.bias.expand(batch, length, self.embed_dim), None
        w_q, w_k, w_v = self.in_proj_weight.chunk(3)
        b_q, b_k, b_v = self.in_proj_bias.chunk(3)

        def heads(x: torch.Tensor, w: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
            return (
                F.linear(x, w, b).view(x.shape[0], x.shape[1], self.num_heads, self.head_dim).transpose(1, 2)
            )

        q, k, v = heads(query, w_q, b_q), heads(key, w_k, b_k), heads(value, w_v, b_v)
        out = F.scaled_dot_product_attention(
            q, k, v, attn_mask=attn_mask, scale=1.0 / math.sqrt(self.head_dim)
        )
        out = out.transpose(1, 2).reshape(batch, length, self.num_heads * self.head_dim)
        return self.out_proj(out), None


def build_clip(config: Mapping[str, Any]) -> nn.Module:
    """An open_clip ``CLIP`` from a model config dict (``embed_dim``, ``vision_cfg``, ``text_cfg``, …)."""
    from open_clip.model import CLIP

    return CLIP(**dict(config))


def openai_clip_config(name: str) -> dict[str, Any]:
    """The open_clip config of a named model (e.g. ``ViT-L-14-336-quickgelu``)."""
    import open_clip

    config = open_clip.get_model_config(name)
    if config is None:
        raise ValueError(f"open_clip has no model config {name!r}")
    return config


def _towers(model: nn.Module) -> list[tuple[str, nn.Module]]:
    return [("visual.transformer", model.visual.transformer), ("transformer", model.transformer)]


def resize_to_state(model: nn.Module, state: Mapping[str, torch.Tensor]) -> nn.Module:
    """Replace attention and MLP linears of every block whose pruned shape in ``state`` differs."""
    for prefix, transformer in _towers(model):
        for index, block in enumerate(transformer.resblocks):
            key = f"{prefix}.resblocks.{index}"
            try:
                in_proj = state[f"{key}.attn.in_proj_weight"]
                hidden = state[f"{key}.mlp.c_fc.weight"].shape[0]
            except KeyError as exc:
                raise CheckpointMismatchError(f"UPop CLIP state dict lacks {exc.args[0]!r}") from None
            width, heads = block.ln_1.normalized_shape[0], block.attn.num_heads
            if in_proj.shape[0] % (3 * heads) or in_proj.shape[1] != width:
                raise CheckpointMismatchError(
                    f"{key}.attn.in_proj_weight has shape {tuple(in_proj.shape)}, "
                    f"expected [3·{heads}·d′, {width}]"
                )
            head_dim = in_proj.shape[0] // (3 * heads)
            if head_dim * heads != width:
                block.attn = PrunedAttention(width, heads, head_dim)
            if hidden != block.mlp.c_fc.out_features:
                block.mlp.c_fc = pruned_linear(width, hidden)
                block.mlp.c_proj = pruned_linear(hidden, width)
    return model


def build_upop_clip(state: Mapping[str, torch.Tensor], config: Mapping[str, Any]) -> nn.Module:
    """An open_clip CLIP of ``config`` with attention head-dims and MLP widths taken from ``state``."""
    return resize_to_state(build_clip(config), state)


def pruned_widths(model: nn.Module) -> dict[str, list[tuple[int, int]]]:
    """Per tower, the (head-dim d′, MLP width h′) of every block: the structure UPop left."""
    widths = {}
    for prefix, transformer in _towers(model):
        widths[prefix] = [
            (
                getattr(block.attn, "head_dim", block.attn.embed_dim // block.attn.num_heads),
                block.mlp.c_fc.out_features,
            )
            for block in transformer.resblocks
        ]
    return widths
