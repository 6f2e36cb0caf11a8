"""Padding-prompt VP on a frozen classifier with an output label map: RLM, FLM, ILM and FullyMap.

The prompt is ILM-VP's padding ("expansive") prompt on the study's canvas; the map from the classifier's
outputs to the target classes is a random permutation (RLM), a frequency map computed once (FLM) or at
the start of every epoch (ILM), or a trainable linear layer (AutoVP's FullyMap). docs/methods/padding_vp.md.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from vpbench.engine.builders import BuildContext, CellSetup, has_convolutions, image_data
from vpbench.engine.methods.base import VPMethod, register_method
from vpbench.engine.output_mapping import IndexMapping, LinearMapping
from vpbench.engine.prompts import PaddingPrompt
from vpbench.engine.vp_model import VisualPromptModel


@dataclass(frozen=True)
class PaddingVP(VPMethod):
    """Padding prompt → frozen classifier → index map (``init``/``remap`` policy) or linear map."""

    mapping: str = "index"  # "index" or "linear"
    mapping_init: str = "identity"  # index maps: "random" (RLM) or "identity" (replaced by FLM/ILM)
    remap: str = "never"  # "never", "once" (FLM), "every" (ILM)

    def build(self, context: BuildContext) -> CellSetup:
        """Pad the target image into the canvas, learn the border, map S source logits to C targets."""
        family, cell = context.family, context.cell
        data = image_data(context)
        input_size = int(context.train_split.images.shape[-1])
        prompt = PaddingPrompt(context.study.canvas or family.input_size, input_size, family.mean, family.std)
        num_sources = family.num_classes
        if self.mapping == "linear":
            torch.manual_seed(cell.seed)
            head = LinearMapping(num_sources, data.num_classes)
        else:
            head = IndexMapping(
                num_sources, data.num_classes, init=self.mapping_init, remap=self.remap, seed=cell.seed
            )
        model = VisualPromptModel(prompt, context.net, head, channels_last=has_convolutions(context.net))
        return CellSetup(model, data, family.source_class_names())


register_method(
    PaddingVP(
        name="ilm",
        label="ILM-VP",
        rank=10,
        remap="every",
        mapping_figure=True,
        learns_map=True,
        description="ILM-VP: padding prompt, frequency label map recomputed at the start of every epoch",
    )
)
register_method(
    PaddingVP(
        name="flm",
        label="FLM-VP",
        rank=11,
        remap="once",
        mapping_figure=True,
        learns_map=True,
        description="FLM-VP: padding prompt, frequency label map computed once with the initial prompt",
    )
)
register_method(
    PaddingVP(
        name="rlm",
        label="RLM-VP",
        rank=12,
        mapping_init="random",
        mapping_figure=True,
        description="RLM-VP: padding prompt, random one-to-one label map from a seeded generator",
    )
)
register_method(
    PaddingVP(
        name="fullymap",
        label="FullyMap-VP",
        rank=13,
        mapping="linear",
        description="AutoVP FullyMap: padding prompt and a trainable linear map from source logits",
    )
)
