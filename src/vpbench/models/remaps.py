"""Key remaps from each checkpoint's on-disk layout to torchvision / timm names (docs/sources/models.md).

Every function takes the raw loaded checkpoint (or a state dict) and returns a plain state dict; nothing
here guesses silently: a layout the remap does not recognise is left as is, so the strict load names it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import torch

from vpbench.models.registry import CheckpointMismatchError, default_state_dict

State = dict[str, torch.Tensor]


def strip_prefix(state: Mapping[str, Any], prefix: str) -> State:
    """Remove ``prefix`` (e.g. ``module.`` from DataParallel) from every key that has it."""
    return {(k[len(prefix) :] if k.startswith(prefix) else k): v for k, v in state.items()}


def rename_keys(state: Mapping[str, Any], rules: list[tuple[str, Any]]) -> State:
    """Rename keys by ordered regex ``(pattern, replacement)`` rules; the first rule that matches wins."""
    compiled = [(re.compile(pattern), replacement) for pattern, replacement in rules]
    out: State = {}
    for key, value in state.items():
        for pattern, replacement in compiled:
            new_key, count = pattern.subn(replacement, key, count=1)
            if count:
                key = new_key
                break
        out[key] = value
    return out


# --- SparseML / SparseZoo ResNet-18/34 (docs/sources/models.md)
# -------------------------------------------------

_SPARSEML_RULES = [
    (r"^input\.conv\.", "conv1."),
    (r"^input\.bn\.", "bn1."),
    (r"^sections\.(\d+)\.(\d+)\.identity\.conv\.", lambda m: f"layer{int(m[1]) + 1}.{m[2]}.downsample.0."),
    (r"^sections\.(\d+)\.(\d+)\.identity\.bn\.", lambda m: f"layer{int(m[1]) + 1}.{m[2]}.downsample.1."),
    (r"^sections\.(\d+)\.(\d+)\.", lambda m: f"layer{int(m[1]) + 1}.{m[2]}."),
    (r"^classifier\.fc\.", "fc."),
]
_QAT_KEY = re.compile(
    r"(activation_post_process|fake_quant|observer)|(^|\.)(quant|dequant)\.|\.(scale|zero_point)$"
)


def sparseml_resnet(checkpoint: Any) -> State:
    """SparseML ``{state_dict, recipe, epoch, ...}`` ResNet → torchvision names; QAT buffers are dropped."""
    state = strip_prefix(default_state_dict(checkpoint), "module.")
    state = {k: v for k, v in state.items() if not _QAT_KEY.search(k)}
    return rename_keys(state, _SPARSEML_RULES)


# --- IST-DASLab wrapped/masked layers: AC/DC and the converted RigL bundle (docs/sources/models.md) ---------


def unwrap_masked_layers(state: Mapping[str, Any]) -> State:
    """``X._layer.weight`` × ``X._weight_mask`` → ``X.weight`` (same for bias); mask keys are dropped."""
    out: State = {}
    for key, value in state.items():
        if key.endswith(("._weight_mask", "._bias_mask")):
            continue
        if "._layer." not in key:
            out[key] = value
            continue
        base, param = key.rsplit("._layer.", 1)
        mask = state.get(f"{base}._{param}_mask")
        if mask is not None:
            if mask.shape != value.shape:
                raise CheckpointMismatchError(
                    f"mask {base}._{param}_mask has shape {tuple(mask.shape)}, "
                    f"but {key} has {tuple(value.shape)}"
                )
            value = value * mask.to(value.dtype)
        out[f"{base}.{param}"] = value
    return out


def acdc_resnet(checkpoint: Any) -> State:
    """AC/DC ``{model_config, model_state_dict, ...}`` → torchvision ResNet-50 names with masks applied."""
    return unwrap_masked_layers(strip_prefix(default_state_dict(checkpoint), "module."))


_RIGL_RULES = [
    (r"^initial_conv\.conv\.", "conv1."),
    (r"^initial_conv\.bn\.", "bn1."),
    (r"^(layer\d)\.block\.(\d+)\.shortcut\.conv\.", r"\1.\2.downsample.0."),
    (r"^(layer\d)\.block\.(\d+)\.shortcut\.bn\.", r"\1.\2.downsample.1."),
    (r"^(layer\d)\.block\.(\d+)\.conv(\d)\.conv\.", r"\1.\2.conv\3."),
    (r"^(layer\d)\.block\.(\d+)\.conv(\d)\.bn\.", r"\1.\2.bn\3."),
]


def rigl_resnet_tf(checkpoint: Any) -> State:
    """Converted RigL ``ResnetTF`` (wrapped or plain) → torchvision ResNet-50 names with masks applied."""
    state = unwrap_masked_layers(strip_prefix(default_state_dict(checkpoint), "module."))
    return rename_keys(state, _RIGL_RULES)


# --- Lottery-ticket checkpoint + mask pairs (docs/sources/models.md) ----------------------------------------


def apply_lottery_mask(checkpoint: Mapping[str, Any], mask: Mapping[str, Any]) -> State:
    """weight = mask × weight for every key in the mask, other keys copied; ``model.`` prefix removed."""
    state = dict(default_state_dict(checkpoint))
    masks = default_state_dict(mask)
    for key, keep in masks.items():
        if key not in state:
            raise CheckpointMismatchError(
                f"lottery-ticket mask key {key!r} has no weight in the checkpoint "
                f"(its first keys: {list(state)[:3]})"
            )
        if keep.shape != state[key].shape:
            raise CheckpointMismatchError(
                f"lottery-ticket mask {key!r} has shape {tuple(keep.shape)}, weight {tuple(state[key].shape)}"
            )
        state[key] = state[key] * keep.to(state[key].dtype)
    return strip_prefix(state, "model.")


# --- EfficientNet-Lite0, lukemelas layout → timm (docs/sources/offline_assets.md) ---------------------------

EFFICIENTNET_LITE0_STAGES = (1, 2, 2, 3, 3, 4, 1)
_LITE_TOP = {
    "_conv_stem": "conv_stem",
    "_bn0": "bn1",
    "_conv_head": "conv_head",
    "_bn1": "bn2",
    "_fc": "classifier",
}
_LITE_FIRST_BLOCK = {"_depthwise_conv": "conv_dw", "_bn1": "bn1", "_project_conv": "conv_pw", "_bn2": "bn2"}
_LITE_BLOCK = {
    "_expand_conv": "conv_pw",
    "_bn0": "bn1",
    "_depthwise_conv": "conv_dw",
    "_bn1": "bn2",
    "_project_conv": "conv_pwl",
    "_bn2": "bn3",
}


def lukemelas_efficientnet_lite(
    checkpoint: Any, stages: tuple[int, ...] = EFFICIENTNET_LITE0_STAGES
) -> State:
    """lukemelas-style ``_blocks.{b}._depthwise_conv`` keys → timm ``blocks.{stage}.{index}.conv_dw``."""
    flat = [(stage, index) for stage, count in enumerate(stages) for index in range(count)]
    out: State = {}
    for key, value in default_state_dict(checkpoint).items():
        if key.startswith("_blocks."):
            _, block, module, param = key.split(".", 3)
            if int(block) >= len(flat):
                raise CheckpointMismatchError(
                    f"{key}: block {block} beyond the {len(flat)} blocks of {stages}"
                )
            stage, index = flat[int(block)]
            names = _LITE_FIRST_BLOCK if stage == 0 else _LITE_BLOCK
            out[f"blocks.{stage}.{index}.{names.get(module, module)}.{param}"] = value
        else:
            module, param = key.split(".", 1)
            out[f"{_LITE_TOP.get(module, module)}.{param}"] = value
    return out


# --- Official Swin (Microsoft release) → timm >= 0.9 (docs/sources/models.md) -------------------------------


def swin_official_to_timm(checkpoint: Any) -> State:
    """Microsoft Swin ``{"model": ...}`` → timm: merging moves to the next stage, ``head`` → ``head.fc``.

    ``relative_position_index`` and ``attn_mask`` are dropped (timm rebuilds them as non-persistent buffers).
    """
    out: State = {}
    for key, value in default_state_dict(checkpoint).items():
        if key.endswith(("relative_position_index", "attn_mask")):
            continue
        key = re.sub(r"^layers\.(\d+)\.downsample\.", lambda m: f"layers.{int(m[1]) + 1}.downsample.", key)
        out[re.sub(r"^head\.", "head.fc.", key)] = value
    return out
