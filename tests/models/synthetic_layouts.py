"""Synthetic checkpoints in every model family's on-disk layout, for the family contract tests.

:data:`LAYOUTS` maps fnmatch patterns of family names to a :class:`Layout`: a factory that writes the
file(s) a publisher ships (same container, key names, wrappers, masks, quantizer state) from random
weights, and says which tensors the loaded model must then hold. The layouts reuse the per-family test
builders (``tests/models/families/``, ``tests/models/test_clip_upop.py``), so one description of each
publisher's format serves both.

Adding a family: add (or extend) a pattern here. ``tests/models/test_family_contract.py`` fails for any
registered family that no pattern (or more than one) matches, and for a pattern that matches none.
Families with ``weights.local_path`` (a user's checkpoint, declared by a study) are tested where they are
declared and need no layout.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from fnmatch import fnmatch
from functools import cache, partial
from pathlib import Path

import torch
from torch import nn
from torchvision import models

from tests.models.conftest import keep_first
from tests.models.families.test_sparse_resnets import prunable, to_resnet_tf_key, to_sparseml_key, wrap_masked
from tests.models.families.test_vit_quantized import to_official_swin, vvtq_checkpoint
from tests.models.test_clip_upop import TINY, WIDTHS, upop_checkpoint
from tests.models.test_vvtq import set_all_quantizers
from vpbench.models.clip_upop import build_clip, build_upop_clip, pruned_widths
from vpbench.models.families.sparse_resnets import LT_REMAINING_PERCENT, lottery_ticket_files
from vpbench.models.registry import ModelFamily
from vpbench.models.remaps import EFFICIENTNET_LITE0_STAGES

State = dict[str, torch.Tensor]
Factory = Callable[[ModelFamily, Path], Mapping[str, torch.Tensor]]


def _classifier_forward(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    return model(x)


@dataclass(frozen=True)
class Layout:
    """How to fake one publisher's file and exercise the loaded model.

    ``write(family, folder)`` writes the published file(s) into ``folder`` — the family's
    ``weights.filename``, or the inputs its ``assemble`` hook combines — and returns the tensors the
    loaded model must hold (in the model's own key names; a subset is fine). ``architecture`` may swap
    in a smaller architecture while keeping the rest of the entry (remap, container, expectations);
    ``forward(model, x)`` returns a tensor whose sum reaches every parameter but those ``unreachable``
    names (e.g. the norm in front of a fully pruned attention block, whose output is its bias alone).
    """

    description: str
    write: Factory
    input_size: int = 32
    architecture: Callable[[ModelFamily], ModelFamily] = lambda family: family
    forward: Callable[[nn.Module, torch.Tensor], torch.Tensor] = _classifier_forward
    verify: Callable[[ModelFamily, nn.Module], None] = lambda family, model: None
    unreachable: Callable[[nn.Module], set[str]] = lambda model: set()


@cache
def reference_state(architecture: str) -> State:
    """Seeded random weights of a torchvision architecture, built once and shared by its families."""
    torch.manual_seed(0)
    return getattr(models, architecture)(weights=None).state_dict()


def _architecture_of(family: ModelFamily) -> str:
    """The torchvision architecture behind a ResNet family's name (``acdc_resnet50_s90`` → ``resnet50``)."""
    found = re.search(r"resnet(18|34|50)", family.name)
    assert found, f"{family.name}: no ResNet depth in its name"
    return f"resnet{found[1]}"


def _save(family: ModelFamily, folder: Path, checkpoint: object) -> None:
    assert family.weights is not None
    torch.save(checkpoint, folder / family.weights.filename)


# --- torchvision / timm plain state dicts ---------------------------------------------------------------


def plain_state_dict(family: ModelFamily, folder: Path) -> State:
    """torchvision's release format: a bare state dict, no container, no prefix."""
    state = family.builder().state_dict()
    _save(family, folder, state)
    return state


def torchvision_resnet(family: ModelFamily, folder: Path) -> State:
    """torchvision's release format for a ResNet, from the weights its sparse siblings share."""
    state = reference_state(_architecture_of(family))
    _save(family, folder, state)
    return state


def deit_official(family: ModelFamily, folder: Path) -> State:
    """facebookresearch/deit release: ``{"model": state_dict}`` in timm's key names."""
    state = family.builder().state_dict()
    _save(family, folder, {"model": state})
    return state


def swin_official(family: ModelFamily, folder: Path) -> State:
    """microsoft/Swin-Transformer release: merging layers at the end of a stage, ``head.*``, buffers."""
    state = family.builder().state_dict()
    _save(family, folder, {"model": to_official_swin(state)})
    return state


def to_lukemelas_key(key: str, stages: tuple[int, ...] = EFFICIENTNET_LITE0_STAGES) -> str:
    """timm EfficientNet-Lite → lukemelas ``EfficientNet`` names (the inverse of the family's remap)."""
    top = {"conv_stem": "_conv_stem", "bn1": "_bn0", "conv_head": "_conv_head", "bn2": "_bn1",
           "classifier": "_fc"}  # fmt: skip
    if not key.startswith("blocks."):
        module, param = key.split(".", 1)
        return f"{top[module]}.{param}"
    _, stage, index, module, param = key.split(".", 4)
    flat = sum(stages[: int(stage)]) + int(index)
    first = {"conv_dw": "_depthwise_conv", "bn1": "_bn1", "conv_pw": "_project_conv", "bn2": "_bn2"}
    block = {"conv_pw": "_expand_conv", "bn1": "_bn0", "conv_dw": "_depthwise_conv", "bn2": "_bn1",
             "conv_pwl": "_project_conv", "bn3": "_bn2"}  # fmt: skip
    return f"_blocks.{flat}.{(first if stage == '0' else block)[module]}.{param}"


def lukemelas_efficientnet(family: ModelFamily, folder: Path) -> State:
    """The PyPI EfficientNet-Lite0 file: a bare state dict in lukemelas/EfficientNet-PyTorch names."""
    state = family.builder().state_dict()
    _save(family, folder, {to_lukemelas_key(k): v for k, v in state.items()})
    return state


# --- sparse ResNets ---------------------------------------------------------------------------------------


def _masked(state: State, keep: float) -> State:
    """``state`` with every conv/fc weight multiplied by ``keep_first`` (what ``wrap_masked`` masks)."""
    masked = dict(state)
    for name in prunable(state):
        masked[f"{name}.weight"] = state[f"{name}.weight"] * keep_first(state[f"{name}.weight"], keep)
    return masked


def sparseml_gmp(family: ModelFamily, folder: Path) -> State:
    """SparseZoo pruned-conservative: SparseML names under ``module.``, QAT leftovers, a recipe; 80% zeros."""
    state = _masked(reference_state(_architecture_of(family)), keep=0.2)
    sparseml = {f"module.{to_sparseml_key(k)}": v for k, v in state.items()}
    sparseml["module.input.conv.weight_fake_quant.scale"] = torch.ones(1)
    sparseml["module.sections.0.0.conv1.activation_post_process.min_val"] = torch.zeros(())
    _save(family, folder, {"state_dict": sparseml, "epoch": 99, "recipe": "version: 1.1.0\nmodifiers: []",
                           "arch_key": _architecture_of(family)})  # fmt: skip
    return state


def ist_acdc(family: ModelFamily, folder: Path) -> State:
    """IST-DASLab AC/DC: ``model_state_dict`` of ``module.X._layer.weight`` + ``X._weight_mask`` wrappers."""
    assert family.expected_sparsity is not None
    state, keep = reference_state(_architecture_of(family)), 1.0 - family.expected_sparsity
    _save(family, folder, {"model_config": {"arch": "resnet50", "dataset": "imagenet"}, "epoch": 100,
                           "model_state_dict": wrap_masked(state, keep)})  # fmt: skip
    return _masked(state, keep)


def resnet_tf_rigl(family: ModelFamily, folder: Path) -> State:
    """Iofinova et al.'s converted RigL: ``ResnetTF`` names, wrapped with masks, in ``model_state_dict``."""
    assert family.expected_sparsity is not None
    state, keep = reference_state(_architecture_of(family)), 1.0 - family.expected_sparsity
    tf_layout = {to_resnet_tf_key(k): v for k, v in state.items()}
    _save(family, folder, {"model_config": {"arch": "resnet50_rigl"},
                           "model_state_dict": wrap_masked(tf_layout, keep)})  # fmt: skip
    return _masked(state, keep)


def lottery_ticket_pair(family: ModelFamily, folder: Path) -> State:
    """The authors' IMP pair: ``model.``-prefixed checkpoint and a mask over every conv but ``conv1``."""
    k = int(family.name.rsplit("_k", 1)[1])
    remaining = LT_REMAINING_PERCENT[k] / 100
    state = reference_state("resnet50")
    masks = {}
    for name in prunable(state):
        if name != "fc":
            weight = state[f"{name}.weight"]
            masks[name] = torch.ones_like(weight) if name == "conv1" else keep_first(weight, remaining)
    checkpoint_name, mask_name = lottery_ticket_files(k)
    torch.save({f"model.{key}": value for key, value in state.items()}, folder / checkpoint_name)
    torch.save({f"model.{name}.weight": mask for name, mask in masks.items()}, folder / mask_name)
    return {**state, **{f"{name}.weight": state[f"{name}.weight"] * m for name, m in masks.items()}}


# --- VVTQ ---------------------------------------------------------------------------------------------------


def vvtq_ddp(family: ModelFamily, folder: Path) -> State:
    """``train_VVTQ.py::save_checkpoint``: DDP ``state_dict`` with LSQ steps, epoch, best_acc1, optimizer."""
    torch.manual_seed(0)
    source = set_all_quantizers(family.builder())
    checkpoint = vvtq_checkpoint(source)
    _save(family, folder, checkpoint)
    return {k.removeprefix("module."): v for k, v in checkpoint["state_dict"].items()}


def _vvtq_bits(family: ModelFamily, model: nn.Module) -> None:
    from vpbench.models.registry import measure_bits

    bits = measure_bits(model)
    assert family.expected_bits in set(bits.values()) and set(bits.values()) <= {family.expected_bits, 8}


# --- CLIP ViT-L/14 (tested on a tiny open_clip architecture with the same entry) ------------------------


def tiny_clip(family: ModelFamily) -> ModelFamily:
    """The entry with open_clip's ViT-L/14 swapped for a 2-layer CLIP (``TINY``); all else unchanged."""
    return replace(
        family,
        builder=partial(build_clip, TINY),
        state_builder=partial(build_upop_clip, config=TINY) if family.state_builder else None,
        input_size=TINY["vision_cfg"]["image_size"],
    )


def clip_forward(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """Scaled image-text similarities: reaches both towers, both projections and the logit scale."""
    tokens = torch.randint(0, TINY["text_cfg"]["vocab_size"], (2, TINY["text_cfg"]["context_length"]),
                           generator=torch.Generator().manual_seed(0))  # fmt: skip
    return model.logit_scale.exp() * model.encode_image(x) @ model.encode_text(tokens).T


def hf_openai_clip(family: ModelFamily, folder: Path) -> State:
    """open_clip's Hugging Face mirror: a bare open_clip state dict (the OpenAI .pt is TorchScript)."""
    return plain_state_dict(family, folder)


def upop_coco(family: ModelFamily, folder: Path) -> State:
    """sdc17/UPop: ``{"model", "epoch", "config"}`` with momentum towers, queues and, when compressed,
    per-block pruned head-dims and MLP widths (``WIDTHS``)."""
    torch.manual_seed(0)
    dense = family.builder().state_dict()
    checkpoint = upop_checkpoint(dense)
    if family.technique == "none":  # the uncompressed UPop model: same container, dense shapes
        checkpoint["model"].update(dense)
    _save(family, folder, checkpoint)
    return {k: v for k, v in checkpoint["model"].items() if k in dense}


def _upop_widths(family: ModelFamily, model: nn.Module) -> None:
    widths = pruned_widths(model)
    if family.technique == "none":
        assert widths == pruned_widths(build_clip(TINY)), widths
    else:
        assert widths == WIDTHS, widths


def _dead_upop_norms(model: nn.Module) -> set[str]:
    """LayerNorms feeding only a fully pruned attention (d′ = 0) or MLP (h′ = 0): nothing reads them."""
    dead = set()
    for tower, blocks in pruned_widths(model).items():
        for index, (head_dim, hidden) in enumerate(blocks):
            for norm, gone in (("ln_1", head_dim == 0), ("ln_2", hidden == 0)):
                if gone:
                    dead |= {f"{tower}.resblocks.{index}.{norm}.{p}" for p in ("weight", "bias")}
    return dead


LAYOUTS: dict[str, Layout] = {
    "resnet18": Layout("torchvision bare state dict", torchvision_resnet),
    "resnet34": Layout("torchvision bare state dict", torchvision_resnet),
    "resnet50_v[12]": Layout("torchvision bare state dict", torchvision_resnet),
    "mobilenet_v2": Layout("torchvision bare state dict", plain_state_dict),
    "efficientnet_lite0": Layout("lukemelas bare state dict (PyPI)", lukemelas_efficientnet),
    "gmp_resnet*": Layout("SparseML state_dict container, module. prefix, QAT leftovers", sparseml_gmp),
    "acdc_resnet50_s*": Layout("IST wrapped layers with masks, module. prefix", ist_acdc),
    "rigl_resnet50_s*": Layout("ResnetTF names, IST wrapped layers with masks", resnet_tf_rigl),
    "lt_resnet50_k*": Layout("checkpoint + mask pair, model. prefix, assembled", lottery_ticket_pair),
    "deit_tiny": Layout("{'model': timm state dict}", deit_official, input_size=224),
    "swin_tiny": Layout("official Swin release layout", swin_official, input_size=224),
    "vvtq_deit_tiny_w*a*": Layout("VVTQ DDP checkpoint", vvtq_ddp, input_size=224, verify=_vvtq_bits),
    # VVTQ's Swin keeps an 8-bit patch-embedding quantizer for its keys but never applies it
    "vvtq_swin_tiny_w*a*": Layout("VVTQ DDP checkpoint", vvtq_ddp, input_size=224, verify=_vvtq_bits,
                                  unreachable=lambda model: {"patch_embed.quant.alpha"}),
    "clip_vit_l14_openai": Layout(
        "open_clip HF-mirror bare state dict (tiny CLIP)", hf_openai_clip,
        input_size=TINY["vision_cfg"]["image_size"], architecture=tiny_clip, forward=clip_forward,
    ),
    "upop_clip_vit_l14_336_coco_*": Layout(
        "UPop {'model'} with momentum towers and queues (tiny CLIP)", upop_coco,
        input_size=TINY["vision_cfg"]["image_size"], architecture=tiny_clip, forward=clip_forward,
        verify=_upop_widths, unreachable=_dead_upop_norms,
    ),
}  # fmt: skip


def layout_for(name: str) -> Layout:
    """The one layout whose pattern matches ``name``; AssertionError saying what to add otherwise."""
    matches = [pattern for pattern in LAYOUTS if fnmatch(name, pattern)]
    assert matches, (
        f"model family {name!r} has no synthetic checkpoint layout: add a pattern matching it to LAYOUTS "
        "in tests/models/synthetic_layouts.py (a factory writing the publisher's file from random weights)"
    )
    assert len(matches) == 1, f"model family {name!r} matches several layouts {matches}: make them disjoint"
    return LAYOUTS[matches[0]]
