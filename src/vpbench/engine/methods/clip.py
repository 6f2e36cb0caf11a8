"""Visual prompting on CLIP: Bahng et al.'s pad prompter and ILM-TP-VP's additive frame.

prompt → frozen CLIP image tower → scaled cosine similarity against cached text embeddings (computed
once per variant, dataset and template set by the ``text_embeddings`` rule) → the identity map over the
C class texts (Bahng) or ILM over the J·C template × class texts (ILM-TP-VP). docs/methods/clip.md.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from vpbench.compression.variant_store import variant_sha256
from vpbench.engine.builders import BuildContext, CellSetup, image_data
from vpbench.engine.clip_source import ClipImageSource, drop_text_tower
from vpbench.engine.methods.base import VPMethod, register_method
from vpbench.engine.output_mapping import IndexMapping
from vpbench.engine.prompts import AdditiveFramePrompt, PadPrompter
from vpbench.engine.text_embeddings import load_text_embeddings
from vpbench.engine.text_templates import clip_class_names, source_names
from vpbench.engine.vp_model import VisualPromptModel
from vpbench.errors import ConfigError
from vpbench.study import paths

PROMPT_KINDS = ("pad_prompter", "additive_frame")


@dataclass(frozen=True)
class ClipVP(VPMethod):
    """A prompt on CLIP's input, scored against text embeddings of one template set."""

    prompt: str = "pad_prompter"
    text_templates: str = "bahng"  # key of vpbench.engine.text_templates.TEMPLATE_SETS
    remap: str = "never"

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.prompt not in PROMPT_KINDS:
            raise ValueError(f"method {self.name!r}: prompt {self.prompt!r}; allowed: {PROMPT_KINDS}")

    def cache_geometry(self, study, family, dataset):
        """CLIP's own bicubic resize + centre crop at the variant's input size (224 or 336 px)."""
        del study, dataset
        return family.input_size, "clip"

    def extra_inputs(self, study, cell):
        """The cached text embeddings of the cell's (variant, dataset, template set)."""
        return {"text": paths.text_embeddings(study.name, cell.model, cell.variant, cell.dataset,
                                              self.text_templates)}  # fmt: skip

    def build(self, context: BuildContext) -> CellSetup:
        """Prompt → frozen image tower vs cached texts → identity map (or ILM over template × class)."""
        cell, family = context.cell, context.family
        path = context.extra_inputs.get("text")
        if path is None:
            raise ConfigError(
                f"cell {cell.label}: CLIP method {self.name!r} needs its text embeddings as the input 'text'"
            )
        names = clip_class_names(cell.dataset, context.train_split.class_names, context.study.clip_classnames)
        text = load_text_embeddings(
            path,
            templates_id=self.text_templates,
            class_names=names,
            model_sha256=variant_sha256(context.card),
        )
        size = int(context.train_split.images.shape[-1])
        if size != family.input_size or int(context.test_split.images.shape[-1]) != size:
            raise ConfigError(
                f"cell {cell.label}: caches are {size} px but {family.name} takes {family.input_size} px; "
                "CLIP cells need caches built with resize='clip' at the family's input size"
            )
        if self.prompt == "pad_prompter":  # random-normal init from the cell seed
            prompt = PadPrompter(
                size, family.mean, family.std, generator=torch.Generator().manual_seed(cell.seed)
            )
        else:
            prompt = AdditiveFramePrompt(size, family.mean, family.std)
        source = ClipImageSource.from_clip(context.net, text.sources)
        drop_text_tower(context.net)
        head = IndexMapping(source.num_sources, len(names), init="identity", remap=self.remap, seed=cell.seed)
        model = VisualPromptModel(prompt, source, head)
        return CellSetup(model, image_data(context), source_names(text.templates, text.class_names))


register_method(
    ClipVP(
        name="bahng_vp",
        label="VP (Bahng)",
        rank=20,
        colour="clip",
        model_kinds=("clip",),
        prompt="pad_prompter",
        text_templates="bahng",
        optimizer="sgd",
        lr=40.0,
        momentum=0.9,
        schedule="warmup_cosine",
        warmup_steps=1000,
        packable=False,
        description="Bahng et al. VP on CLIP: random-normal 30-px pad, one text template, no label mapping",
    )
)
register_method(
    ClipVP(
        name="ilm_tp_vp",
        label="ILM-VP (CLIP)",
        rank=21,
        colour="clip",
        model_kinds=("clip",),
        prompt="additive_frame",
        text_templates="ilm_tp",
        remap="every",
        optimizer="sgd",
        lr=40.0,
        momentum=0.9,
        schedule="cosine",
        packable=False,
        mapping_figure=True,
        learns_map=True,
        description="ILM-TP-VP on CLIP: zero-init 30-px frame, ILM over 81 templates × C class texts",
    )
)
