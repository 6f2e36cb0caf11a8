"""Visual prompting on CLIP (Bahng VP, ILM-TP-VP, §5): prompt → frozen image tower → scaled cosine
similarity against cached text embeddings → identity map (Bahng) or ILM over the J·C texts (ILM-TP).

The text tower never runs at train time: its embeddings come from the ``text_embeddings`` rule's file,
and :func:`build_clip_cell` removes the tower from the loaded model, so neither memory nor gradients
reach it. The image tower is frozen (``requires_grad_(False)``, ``eval()``).
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F  # noqa: N812

from vpbench.engine.builders import BuildContext, CellSetup, image_data
from vpbench.engine.output_mapping import IndexMapping
from vpbench.engine.prompts import PROMPTS
from vpbench.engine.text_embeddings import load_text_embeddings, variant_sha256
from vpbench.engine.text_templates import classname_mode, clip_class_names, source_names
from vpbench.engine.training import VisualPromptModel
from vpbench.errors import ConfigError

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


def _check_input_size(context: BuildContext) -> int:
    size = int(context.train_split.images.shape[-1])
    test_size = int(context.test_split.images.shape[-1])
    if size != context.family.input_size or test_size != size:
        raise ConfigError(
            f"cell {context.cell.label}: caches are {size}/{test_size} px but {context.family.name} takes "
            f"{context.family.input_size} px; CLIP cells need caches built with resize='clip' at the "
            "family's input size"
        )
    return size


def build_clip_cell(context: BuildContext) -> CellSetup:
    """Bahng pad prompter or ILM-TP additive frame → frozen CLIP image tower vs cached texts → index map."""
    method, cell, family = context.method, context.cell, context.family
    path = context.extra_inputs.get("text")
    if method.text_templates is None or path is None:
        raise ConfigError(
            f"cell {cell.label}: CLIP method {method.name!r} needs text_templates and the input 'text' "
            f"(results/{cell.study}/text/{cell.model}/{cell.variant}/{cell.dataset}-<templates>.pt)"
        )
    names = clip_class_names(cell.dataset, context.train_split.class_names, classname_mode(context.config))
    text = load_text_embeddings(
        path, templates_id=method.text_templates, class_names=names, model_sha256=variant_sha256(context.card)
    )
    size = _check_input_size(context)
    if method.prompt == "pad_prompter":  # random-normal init from the cell seed (§5.2)
        generator = torch.Generator().manual_seed(cell.seed)
        prompt = PROMPTS[method.prompt](size, family.mean, family.std, generator=generator)
    elif method.prompt == "additive_frame":
        prompt = PROMPTS[method.prompt](size, family.mean, family.std)
    else:
        raise ConfigError(
            f"method {method.name!r}: prompt {method.prompt!r} is not a CLIP prompt; "
            "allowed: pad_prompter, additive_frame"
        )
    source = ClipImageSource.from_clip(context.net, text.sources)
    drop_text_tower(context.net)
    head = IndexMapping(
        source.num_sources, len(names), init=method.mapping_init, remap=method.remap,
        per_target=method.per_target, reduction=method.reduction, seed=cell.seed,
    )  # fmt: skip
    model = VisualPromptModel(prompt, source, head)
    return CellSetup(model, image_data(context), source_names(text.templates, text.class_names))
