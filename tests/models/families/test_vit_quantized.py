"""DeiT-Tiny / Swin-Tiny full precision (official release layouts) and VVTQ checkpoints (DDP containers)."""

from __future__ import annotations

import re
from dataclasses import replace

import pytest
import torch

from tests.models.test_vvtq import set_all_quantizers
from vpbench.models import get_model_family, load_family_weights
from vpbench.models.acquire import load_pretrained
from vpbench.models.registry import CheckpointMismatchError, measure_bits


def unpinned(name: str):
    """The registry entry with its published hash removed (a synthetic file cannot match it)."""
    family = get_model_family(name)
    return replace(family, weights=replace(family.weights, sha256=None))


def test_deit_tiny_official_checkpoint(tmp_path):
    family = unpinned("deit_tiny")
    state = family.builder().state_dict()
    assert {"blocks.11.attn.qkv.weight", "head.bias", "cls_token"} <= set(state)
    torch.save({"model": state}, tmp_path / family.weights.filename)
    model = load_family_weights(family, tmp_path / family.weights.filename)
    assert torch.equal(model.pos_embed, state["pos_embed"])


def to_official_swin(timm_state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """timm Swin → Microsoft release layout: merging at the end of a stage, ``head.*``, persistent buffers."""
    official = {}
    for key, value in timm_state.items():
        key = re.sub(r"^layers\.(\d+)\.downsample\.", lambda m: f"layers.{int(m[1]) - 1}.downsample.", key)
        official[key.replace("head.fc.", "head.")] = value
    for stage, depth, tokens in ((0, 2, 64), (1, 2, 16), (2, 6, 4), (3, 2, 1)):
        for block in range(depth):
            official[f"layers.{stage}.blocks.{block}.attn.relative_position_index"] = torch.zeros(
                49, 49, dtype=torch.long
            )
            if block % 2 and stage < 3:
                official[f"layers.{stage}.blocks.{block}.attn_mask"] = torch.zeros(tokens, 49, 49)
    return official


def test_swin_tiny_official_checkpoint(tmp_path):
    family = get_model_family("swin_tiny")
    reference = family.builder().state_dict()
    official = to_official_swin(reference)
    assert {"layers.0.downsample.reduction.weight", "head.weight", "layers.2.blocks.5.attn_mask"} <= set(
        official
    )
    torch.save({"model": official}, tmp_path / family.weights.filename)
    model = load_pretrained("swin_tiny", tmp_path, allow_network=False)
    loaded = model.state_dict()
    assert torch.equal(
        loaded["layers.1.downsample.reduction.weight"], official["layers.0.downsample.reduction.weight"]
    )
    assert torch.equal(loaded["head.fc.bias"], official["head.bias"])


def vvtq_checkpoint(model: torch.nn.Module) -> dict:
    """``train_VVTQ.py::save_checkpoint`` from a DDP model, with a real (small) AdamW state."""
    trainable = [p for p in model.parameters() if p.requires_grad][:3]
    optimizer = torch.optim.AdamW(trainable, lr=2e-3)
    sum(p.sum() for p in trainable).backward()
    optimizer.step()
    return {
        "epoch": 300,
        "arch": "deit_tiny_patch16_224_quant",
        "state_dict": {f"module.{k}": v for k, v in model.state_dict().items()},
        "best_acc1": torch.tensor(74.71),
        "optimizer": optimizer.state_dict(),
    }


def test_vvtq_deit_w4a4_loads_strictly_and_runs(tmp_path):
    torch.manual_seed(0)
    source = set_all_quantizers(get_model_family("vvtq_deit_tiny_w4a4").builder())
    torch.save(vvtq_checkpoint(source), tmp_path / "deit_t_w4a4.tar")
    model = load_pretrained("vvtq_deit_tiny_w4a4", tmp_path, allow_network=False)
    bits = measure_bits(model)
    assert bits["blocks.3.attn.quant_attn"] == 4 and bits["patch_embed.proj"] == 8 and bits["head"] == 8
    x = torch.randn(1, 3, 224, 224)
    with torch.no_grad():
        logits = model(x)
        assert torch.equal(logits, source.eval()(x))
    assert logits.shape == (1, 1000) and torch.isfinite(logits).all()


def test_vvtq_bit_width_mismatch_is_caught(tmp_path):
    source = set_all_quantizers(get_model_family("vvtq_deit_tiny_w4a4").builder())
    torch.save(vvtq_checkpoint(source), tmp_path / "deit_t_w3a3.tar")
    with pytest.raises(CheckpointMismatchError, match="expected 3-bit quantizers"):
        load_pretrained("vvtq_deit_tiny_w3a3", tmp_path, allow_network=False)


def test_vvtq_swin_w2a2_loads_strictly(tmp_path):
    source = set_all_quantizers(get_model_family("vvtq_swin_tiny_w2a2").builder())
    state = source.state_dict()
    assert "layers.2.blocks.5.attn_mask" in state and "layers.3.blocks.1.attn_mask" not in state
    torch.save(
        {"epoch": 1, "state_dict": {f"module.{k}": v for k, v in state.items()}}, tmp_path / "swin_t_w2a2.tar"
    )
    model = load_pretrained("vvtq_swin_tiny_w2a2", tmp_path, allow_network=False)
    bits = measure_bits(model)
    assert bits["layers.1.blocks.0.mlp.fc2"] == 2 and bits["layers.1.downsample.reduction"] == 8
