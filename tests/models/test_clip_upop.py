"""UPop CLIP on a tiny open_clip config: pruned attention, UPop-shaped checkpoints, strict loading."""

from __future__ import annotations

import math
from functools import partial

import pytest
import torch
from torch import nn

from vpbench.models import get_model_family
from vpbench.models.clip_upop import (
    PrunedAttention,
    build_clip,
    build_upop_clip,
    pruned_widths,
    upop_state_dict,
)
from vpbench.models.registry import (
    CLIP_MEAN,
    CLIP_STD,
    CheckpointMismatchError,
    ModelFamily,
    WeightSource,
    load_family_weights,
)

TINY = {
    "embed_dim": 16,
    "quick_gelu": True,
    "vision_cfg": {"image_size": 28, "layers": 2, "width": 32, "patch_size": 14, "head_width": 16},
    "text_cfg": {"context_length": 8, "vocab_size": 50, "width": 24, "heads": 2, "layers": 2},
}
# Per block (head-dim d′, MLP width h′) left by "pruning"; dense is (16, 128) visual and (12, 96) text.
WIDTHS = {"visual.transformer": [(16, 128), (5, 40)], "transformer": [(7, 96), (0, 0)]}


def test_pruned_attention_equals_multihead_attention_when_unpruned():
    torch.manual_seed(0)
    reference = nn.MultiheadAttention(24, 2, batch_first=True)
    pruned = PrunedAttention(24, 2, 12)
    pruned.load_state_dict(reference.state_dict())
    x = torch.randn(3, 8, 24)
    mask = torch.full((8, 8), float("-inf")).triu(1)
    expected = reference(x, x, x, need_weights=False, attn_mask=mask)[0]
    assert torch.allclose(pruned(x, x, x, need_weights=False, attn_mask=mask)[0], expected, atol=1e-5)


def test_pruned_attention_uses_the_pruned_head_dim_scale():
    torch.manual_seed(0)
    attention = PrunedAttention(24, 2, 5)
    x = torch.randn(1, 4, 24)
    q, k, v = (
        nn.functional.linear(x, w, b)
        for w, b in zip(attention.in_proj_weight.chunk(3), attention.in_proj_bias.chunk(3), strict=True)
    )
    heads = []
    for h in range(2):
        part = slice(5 * h, 5 * h + 5)
        weights = torch.softmax(q[..., part] @ k[..., part].transpose(-1, -2) / math.sqrt(5), dim=-1)
        heads.append(weights @ v[..., part])
    expected = attention.out_proj(torch.cat(heads, dim=-1))
    assert torch.allclose(attention(x, x, x)[0], expected, atol=1e-6)
    fully_pruned = PrunedAttention(24, 2, 0)
    assert torch.equal(fully_pruned(x, x, x)[0], fully_pruned.out_proj.bias.expand(1, 4, 24))


def head_dim_rows(heads: int, head_dim: int, keep: int) -> torch.Tensor:
    """Row indices of the first ``keep`` dims of every head in a [heads·head_dim] projection."""
    return torch.tensor([h * head_dim + i for h in range(heads) for i in range(keep)], dtype=torch.long)


def upop_checkpoint(dense: dict[str, torch.Tensor]) -> dict:
    """A UPop-format file: pruned main towers under ``model``, plus momentum copies and queues."""
    state = dict(dense)
    for tower, blocks in WIDTHS.items():
        width = dense[f"{tower}.resblocks.0.ln_1.weight"].shape[0]
        for index, (head_dim, hidden) in enumerate(blocks):
            key = f"{tower}.resblocks.{index}"
            rows = head_dim_rows(2, width // 2, head_dim)
            qkv = torch.cat([rows + offset * width for offset in range(3)])
            state[f"{key}.attn.in_proj_weight"] = dense[f"{key}.attn.in_proj_weight"][qkv]
            state[f"{key}.attn.in_proj_bias"] = dense[f"{key}.attn.in_proj_bias"][qkv]
            state[f"{key}.attn.out_proj.weight"] = dense[f"{key}.attn.out_proj.weight"][:, rows]
            state[f"{key}.mlp.c_fc.weight"] = dense[f"{key}.mlp.c_fc.weight"][:hidden]
            state[f"{key}.mlp.c_fc.bias"] = dense[f"{key}.mlp.c_fc.bias"][:hidden]
            state[f"{key}.mlp.c_proj.weight"] = dense[f"{key}.mlp.c_proj.weight"][:, :hidden]
    for key, value in dense.items():
        first, _, rest = key.partition(".")
        if first in ("visual", "transformer", "token_embedding", "ln_final"):
            state[f"{first}_m.{rest}"] = value.clone()
    state["text_projection_m"] = dense["text_projection"].clone()
    state["positional_embedding_m"] = dense["positional_embedding"].clone()
    state["image_queue"] = torch.randn(16, 20)
    state["text_queue"] = torch.randn(16, 20)
    state["idx_queue"] = torch.full((1, 20), -100)
    state["ptr_queue"] = torch.zeros(1, dtype=torch.long)
    return {"model": state, "epoch": 5, "config": {"image_res": 336, "batch_size_train": 32}}


def tiny_upop_family() -> ModelFamily:
    return ModelFamily(
        name="upop_tiny",
        builder=partial(build_clip, TINY),
        weights=WeightSource("upop_tiny.pth"),
        remap=upop_state_dict,
        state_builder=partial(build_upop_clip, config=TINY),
        mean=CLIP_MEAN,
        std=CLIP_STD,
        input_size=28,
        kind="clip",
    )


def test_upop_state_dict_drops_momentum_and_queues_only():
    torch.manual_seed(0)
    dense = build_clip(TINY).state_dict()
    state = upop_state_dict(upop_checkpoint(dense))
    assert set(state) == set(dense)


def test_pruned_upop_checkpoint_loads_strictly_and_encodes(tmp_path):
    torch.manual_seed(0)
    dense = build_clip(TINY).state_dict()
    checkpoint = upop_checkpoint(dense)
    torch.save(checkpoint, tmp_path / "upop_tiny.pth")
    model = load_family_weights(tiny_upop_family(), tmp_path / "upop_tiny.pth")
    assert pruned_widths(model) == WIDTHS
    block = model.visual.transformer.resblocks[1]
    assert torch.equal(
        block.attn.in_proj_weight, checkpoint["model"]["visual.transformer.resblocks.1.attn.in_proj_weight"]
    )
    with torch.no_grad():
        image = model.encode_image(torch.randn(2, 3, 28, 28))
        text = model.encode_text(torch.randint(0, 50, (2, 8)))
    assert image.shape == text.shape == (2, 16)
    assert torch.isfinite(image).all() and torch.isfinite(text).all()


def test_unpruned_upop_checkpoint_matches_the_dense_model(tmp_path):
    torch.manual_seed(0)
    dense_model = build_clip(TINY).eval()
    state = {"model": {**dense_model.state_dict(), "ptr_queue": torch.zeros(1, dtype=torch.long)}}
    torch.save(state, tmp_path / "upop_tiny.pth")
    model = load_family_weights(tiny_upop_family(), tmp_path / "upop_tiny.pth")
    tokens = torch.randint(0, 50, (2, 8))
    with torch.no_grad():
        assert torch.allclose(model.encode_text(tokens), dense_model.encode_text(tokens), atol=1e-6)
    assert all(isinstance(b.attn, nn.MultiheadAttention) for b in model.transformer.resblocks)


def test_bad_attention_shape_is_a_clear_error():
    dense = build_clip(TINY).state_dict()
    dense["transformer.resblocks.1.attn.in_proj_weight"] = torch.zeros(10, 24)
    with pytest.raises(
        CheckpointMismatchError, match=r"transformer\.resblocks\.1\.attn\.in_proj_weight has shape \(10, 24\)"
    ):
        build_upop_clip(dense, TINY)


def test_registered_upop_families_are_wired_for_shape_inference():
    for level in ("uncompressed", "2x", "4x"):
        family = get_model_family(f"upop_clip_vit_l14_336_coco_{level}")
        assert family.state_builder is not None and family.remap is upop_state_dict
        assert (family.kind, family.input_size, family.weights.status) == ("clip", 336, "at risk")
    assert (
        get_model_family("upop_clip_vit_l14_336_coco_4x").dense_parent
        == "upop_clip_vit_l14_336_coco_uncompressed"
    )


def test_openai_clip_family_loads_the_hf_mirror_layout_strictly(tmp_path):
    """The zero-shot ViT-L/14 family reads open_clip's HF-mirror file: a plain state dict with open_clip
    keys (no container, no prefix). Same family entry, only the architecture shrunk to keep the test fast."""
    import dataclasses

    family = dataclasses.replace(get_model_family("clip_vit_l14_openai"), builder=partial(build_clip, TINY))
    source = build_clip(TINY)
    path = tmp_path / family.weights.filename
    torch.save(source.state_dict(), path)
    model = load_family_weights(family, path, pinned_sha256=None)
    for key, value in source.state_dict().items():
        assert torch.equal(model.state_dict()[key], value), key
    assert model.visual.transformer.resblocks[0].mlp.c_fc.weight.shape == (128, 32)
    broken = {f"module.{key}": value for key, value in source.state_dict().items()}
    torch.save(broken, path)
    with pytest.raises(CheckpointMismatchError, match="clip_vit_l14_openai"):
        load_family_weights(family, path, pinned_sha256=None)
