"""LoR-VP (Jin et al., ICLR 2025): a rank-r additive prompt B·A on the resized image.

``lor_vp`` is the published recipe: the frozen model's classifier is replaced by a new trainable linear
probe on its penultimate features, trained jointly with the prompt by SGD (lr 0.02, momentum 0.9,
weight decay 1e-4, per-step cosine). ``lor_vp_ilm`` keeps the model's own classifier with an ILM map, so
it compares with ILM-VP, BLM and SMM on equal terms; it uses ILM-VP's Adam recipe, because the
published SGD stalls with a fixed map (docs/methods/lor_vp.md).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from vpbench.engine.builders import BuildContext, CellSetup, has_convolutions, image_data
from vpbench.engine.lor_vp import LOR_VP_DEFAULTS, LowRankPrompt, feature_extractor
from vpbench.engine.methods.base import VPMethod, register_method
from vpbench.engine.methods.smm import input_side
from vpbench.engine.output_mapping import IndexMapping, LinearMapping
from vpbench.engine.vp_model import VisualPromptModel

HEADS = ("lp", "ilm")


def feature_names(width: int) -> list[str]:
    """Names of a linear probe's inputs (the penultimate features), for the classes table."""
    return [f"feature {i}" for i in range(width)]


@dataclass(frozen=True)
class LowRankVP(VPMethod):
    """Resize → + B·A (rank r) → normalise → frozen backbone → linear probe (``lp``) or ILM (``ilm``)."""

    prompt_rank: int = LOR_VP_DEFAULTS.rank  # r (``rank`` is the method's position in legends)
    init: tuple[str, str] = LOR_VP_DEFAULTS.init
    head: str = "lp"

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.head not in HEADS:
            raise ValueError(f"method {self.name!r}: head {self.head!r}; allowed: {HEADS}")

    def build(self, context: BuildContext) -> CellSetup:
        """Low-rank prompt at L (B = 0, A ~ N(0, 0.01²) from the cell seed) and the chosen head."""
        family, cell = context.family, context.cell
        size = input_side(context)
        prompt = LowRankPrompt(
            size, family.mean, family.std, rank=self.prompt_rank, init=self.init,
            generator=torch.Generator().manual_seed(cell.seed),
        )  # fmt: skip
        data = image_data(context)
        if self.head == "lp":
            source, width = feature_extractor(context.net)
            torch.manual_seed(cell.seed)  # the probe's PyTorch-default init, the same for every variant
            head = LinearMapping(width, data.num_classes)
            names = feature_names(width)
        else:
            source = context.net
            head = IndexMapping(family.num_classes, data.num_classes, init="identity", remap="every")
            names = family.source_class_names()
        model = VisualPromptModel(prompt, source, head, channels_last=has_convolutions(source))
        return CellSetup(model, data, names)


register_method(
    LowRankVP(
        name="lor_vp",
        label="LoR-VP",
        rank=41,
        colour="prompt_design",
        optimizer=LOR_VP_DEFAULTS.optimizer,
        lr=LOR_VP_DEFAULTS.lr,
        momentum=LOR_VP_DEFAULTS.momentum,
        weight_decay=LOR_VP_DEFAULTS.weight_decay,
        schedule=LOR_VP_DEFAULTS.schedule,
        description="LoR-VP (Jin et al. 2025), published recipe: rank-4 prompt B·A added to the resized "
        "image, new linear probe on the penultimate features, SGD 0.02 with per-step cosine",
    )
)
register_method(
    LowRankVP(
        name="lor_vp_ilm",
        label="LoR-VP (ILM)",
        rank=42,
        colour="prompt_design",
        head="ilm",
        mapping_figure=True,
        learns_map=True,
        description="LoR-VP's rank-4 prompt with the model's own classifier and an ILM label map (Adam 0.01, "
        "MultiStep, as ILM-VP), comparable with the label-mapping methods",
    )
)
