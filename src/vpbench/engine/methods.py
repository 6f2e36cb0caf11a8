"""VP method registry: a method is a prompt kind, an output mapping and an optimisation recipe.

Adding a method is one :func:`register_method` call. Recipes hold the published defaults
(vp_methods.md §3, §5, §6); a study may override epochs, lr and batch sizes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from vpbench.registry import Registry


@dataclass(frozen=True)
class VPMethod:
    """What a VP method trains and how."""

    name: str
    prompt: str  # key of vpbench.engine.prompts.PROMPTS
    mapping: str  # "index" or "linear"
    mapping_init: str = "identity"  # "random", "identity" (index maps)
    remap: str = "never"  # "never", "once" (FLM), "every" (ILM)
    per_target: int = 1
    reduction: str = "mean"
    optimizer: str = "adam"
    lr: float = 0.01
    momentum: float = 0.0
    weight_decay: float = 0.0
    schedule: str = "multistep"
    warmup_steps: int = 0
    model_kinds: tuple[str, ...] = ("classifier",)
    text_templates: str | None = None  # CLIP: "bahng" (one template) or "ilm_tp" (81 templates)
    builder: str = "image"  # key of vpbench.engine.builders.CELL_BUILDERS: how a cell's parts are assembled
    description: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


METHODS: Registry[VPMethod] = Registry("VP method")
register_method = METHODS.register
get_method = METHODS.lookup


_ILM_RECIPE = {"optimizer": "adam", "lr": 0.01, "schedule": "multistep"}

register_method(
    VPMethod(
        name="rlm",
        prompt="padding",
        mapping="index",
        mapping_init="random",
        description="RLM-VP: padding prompt, random one-to-one label map from a seeded generator",
        **_ILM_RECIPE,
    )
)
register_method(
    VPMethod(
        name="flm",
        prompt="padding",
        mapping="index",
        remap="once",
        description="FLM-VP: padding prompt, frequency label map computed once with the initial prompt",
        **_ILM_RECIPE,
    )
)
register_method(
    VPMethod(
        name="ilm",
        prompt="padding",
        mapping="index",
        remap="every",
        description="ILM-VP: padding prompt, frequency label map recomputed at the start of every epoch",
        **_ILM_RECIPE,
    )
)
register_method(
    VPMethod(
        name="fullymap",
        prompt="padding",
        mapping="linear",
        description="AutoVP FullyMap: padding prompt and a trainable linear map from source logits",
        **_ILM_RECIPE,
    )
)
register_method(
    VPMethod(
        name="bahng_vp",
        prompt="pad_prompter",
        mapping="index",
        optimizer="sgd",
        lr=40.0,
        momentum=0.9,
        schedule="warmup_cosine",
        warmup_steps=1000,
        model_kinds=("clip",),
        text_templates="bahng",
        builder="clip",
        description="Bahng et al. VP on CLIP: random-normal 30-px pad, one text template, no label mapping",
    )
)
register_method(
    VPMethod(
        name="ilm_tp_vp",
        prompt="additive_frame",
        mapping="index",
        remap="every",
        optimizer="sgd",
        lr=40.0,
        momentum=0.9,
        schedule="cosine",
        model_kinds=("clip",),
        text_templates="ilm_tp",
        builder="clip",
        description="ILM-TP-VP on CLIP: zero-init 30-px frame, ILM over 81 templates × C class texts",
    )
)
register_method(
    VPMethod(
        name="cmr",
        prompt="token_program",
        mapping="index",
        mapping_init="round_robin",
        per_target=10,
        reduction="max",
        optimizer="adam",
        lr=0.001,
        schedule="constant",
        builder="cross_modal",
        description="Cross-modal reprogramming (Neekhara et al.): token patches tiled on the canvas, "
        "m ImageNet labels per class assigned round-robin from a random image's logit order",
    )
)
