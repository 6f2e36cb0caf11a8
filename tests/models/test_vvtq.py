"""VVTQ-compatible LSQ modules: the quantization formula, STE gradients, and VVTQ's module/key layout."""

from __future__ import annotations

import pytest
import torch

from vpbench.models.vvtq import QuantAct, QuantLinear, VvtqDeiT
from vpbench.models.vvtq_swin import VvtqSwin


def initialised(module, alpha: float, beta: float | None = None):
    with torch.no_grad():
        module.alpha.fill_(alpha)
        if beta is not None:
            module.beta.fill_(beta)
        module.init_state.fill_(1)
    return module


def test_weight_lsq_formula_and_straight_through_gradient():
    layer = initialised(QuantLinear(16, 8, nbits=4), alpha=0.05)
    with torch.no_grad():
        layer.alpha[0] = 9.0  # steps of other bit-widths are ignored
    expected = torch.clamp(layer.weight / 0.05, -8, 7).round() * 0.05
    quantized = layer.quantized_weight()
    assert torch.allclose(quantized, expected)
    assert quantized.unique().numel() <= 16
    quantized.sum().backward()
    inside = (layer.weight / 0.05 > -8) & (layer.weight / 0.05 < 7)
    assert torch.equal(layer.weight.grad, inside.float())
    x = torch.randn(2, 16)
    assert torch.allclose(layer(x), x @ expected.T + layer.bias)


def test_unsigned_activation_with_offset():
    act = initialised(QuantAct(3, signed=False, offset=True), alpha=0.5, beta=0.2)
    x = torch.linspace(-1, 5, 50)
    expected = torch.clamp((x - 0.2) / 0.5, 0, 7).round() * 0.5 + 0.2
    assert torch.allclose(act(x), expected)
    assert act(x).unique().numel() <= 8


def test_float_quantizers_are_identity_and_uninitialised_ones_refuse():
    assert QuantAct(-1).alpha is None and torch.equal(QuantAct(-1)(torch.ones(3)), torch.ones(3))
    assert "init_state" not in QuantLinear(4, 4, nbits=-1).state_dict()
    with pytest.raises(RuntimeError, match="never initialised"):
        QuantAct(4)(torch.ones(3))
    with pytest.raises(RuntimeError, match="never initialised"):
        QuantLinear(4, 4, nbits=4)(torch.ones(1, 4))


# Keys read in HuangOwen/VVTQ quantization/DeiT_quant.py and _quan_base.py (not derived from this code).
VVTQ_DEIT_KEYS = {
    "cls_token",
    "pos_embed",
    "patch_embed.quant.nbits",
    "patch_embed.quant.alpha",
    "patch_embed.quant.init_state",
    "patch_embed.proj.weight",
    "patch_embed.proj.bias",
    "patch_embed.proj.nbits",
    "patch_embed.proj.alpha",
    "blocks.0.norm1.weight",
    "blocks.0.attn.quant_input.alpha",
    "blocks.0.attn.proj_q.weight",
    "blocks.0.attn.proj_q.bias",
    "blocks.0.attn.proj_k.alpha",
    "blocks.0.attn.proj_v.init_state",
    "blocks.0.attn.quant_q.alpha",
    "blocks.0.attn.quant_k.nbits",
    "blocks.0.attn.quant_v.init_state",
    "blocks.0.attn.quant_attn.alpha",
    "blocks.0.attn.quant_output.alpha",
    "blocks.0.attn.proj.weight",
    "blocks.0.attn.proj.bias",
    "blocks.0.mlp.quant1.alpha",
    "blocks.0.mlp.fc1.weight",
    "blocks.0.mlp.quant2.alpha",
    "blocks.0.mlp.quant2.beta",
    "blocks.0.mlp.fc2.nbits",
    "norm.weight",
    "quant.alpha",
    "head.weight",
    "head.alpha",
}


def test_deit_keys_follow_vvtq():
    keys = set(VvtqDeiT(4, depth=1, embed_dim=12, num_heads=3, img_size=32).state_dict())
    assert VVTQ_DEIT_KEYS <= keys
    assert not any(
        k.endswith(("quant1.beta", "quant_input.beta", "quant.beta")) for k in keys
    )  # offset=False
    # Nothing beyond VVTQ's layout. Quantized linear/conv: weight, bias, nbits, alpha, init_state (5);
    # act quantizer: nbits, alpha, init_state (3; +beta for quant2). Block: 2 norms (4) + attention
    # (input 3, q/k/v 15, quant_q/k/v 9, attn 3, output 3, proj 5) + MLP (3 + 5 + 4 + 5).
    block = 4 + (3 + 15 + 9 + 3 + 3 + 5) + (3 + 5 + 4 + 5)
    assert len(keys) == 2 + (3 + 5) + block + (2 + 3 + 5)


def set_all_quantizers(model, weight_alpha_scale: float = 1.0, act_alpha: float = 0.1):
    for module in model.modules():
        if getattr(module, "alpha", None) is not None:
            with torch.no_grad():
                scale = (
                    module.weight.abs().mean() * weight_alpha_scale
                    if hasattr(module, "weight")
                    else act_alpha
                )
                module.alpha.fill_(float(scale))
                module.init_state.fill_(1)
    return model


def test_small_deit_forward_is_quantized_and_differentiable_wrt_input():
    torch.manual_seed(0)
    model = set_all_quantizers(
        VvtqDeiT(2, depth=2, embed_dim=24, num_heads=3, img_size=32, num_classes=5)
    ).eval()
    x = torch.randn(2, 3, 32, 32, requires_grad=True)
    logits = model(x)
    assert logits.shape == (2, 5) and torch.isfinite(logits).all()
    logits.sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0
    assert model.blocks[0].mlp.fc1.quantized_weight().unique().numel() <= 4


def test_small_swin_layout_masks_and_forward():
    torch.manual_seed(0)
    model = VvtqSwin(3, img_size=56, embed_dim=12, depths=(2, 2), num_heads=(1, 2), num_classes=4)
    keys = set(model.state_dict())
    assert {"layers.0.blocks.1.attn_mask", "layers.0.blocks.0.attn.relative_position_index"} <= keys
    assert {
        "layers.0.downsample.reduction.alpha",
        "layers.0.downsample.norm.weight",
        "patch_embed.norm.bias",
    } <= keys
    assert "layers.1.blocks.1.attn_mask" not in keys  # 7×7 map == window: no shift, no mask
    assert (
        "layers.0.downsample.reduction.bias" not in keys
        and "layers.1.downsample.reduction.weight" not in keys
    )
    assert model.layers[0].blocks[1].attn_mask.shape == (4, 49, 49)
    set_all_quantizers(model).eval()
    with torch.no_grad():
        logits = model(torch.randn(1, 3, 56, 56))
    assert logits.shape == (1, 4) and torch.isfinite(logits).all()
