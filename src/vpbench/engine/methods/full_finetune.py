"""Full fine-tuning (FF): the whole network and a new linear head train on the target task, with the
variant's compression kept: pruned weights stay zero (masks re-applied after every step, checked at the
end), fake-quantized and VVTQ layers train through their quantizers, BatchNorm statistics stay frozen.
The measured sparsity and weight bit-widths after training go into the cell's outputs.
docs/methods/full_finetune.md.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from vpbench.engine.builders import BuildContext, CellSetup, has_convolutions, image_data
from vpbench.engine.finetune import FineTuneModel
from vpbench.engine.lor_vp import feature_extractor
from vpbench.engine.methods.base import VPMethod, register_method
from vpbench.engine.methods.lor_vp import feature_names
from vpbench.engine.methods.smm import input_side

KEEP_ZEROS = ("auto", "always", "never")


@dataclass(frozen=True)
class FullFineTune(VPMethod):
    """Resize → the variant's network (trainable, compression kept) → a new Linear(D → C)."""

    trains_prompt = False

    keep_zeros: str = "auto"  # auto: mask the zeros of variants whose card says they are sparse

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.keep_zeros not in KEEP_ZEROS:
            raise ValueError(f"method {self.name!r}: keep_zeros {self.keep_zeros!r}; allowed: {KEEP_ZEROS}")

    def build(self, context: BuildContext) -> CellSetup:
        """A private copy of the network (cells of a pack never share trained weights) and a seeded head."""
        family, cell = context.family, context.cell
        backbone, width = feature_extractor(context.net)  # a deep copy without the classifier
        keep = self.keep_zeros == "always" or (
            self.keep_zeros == "auto" and context.card.get("compression_kind") == "sparse"
        )
        data = image_data(context)
        torch.manual_seed(cell.seed)  # the new head's PyTorch-default init, the same for every variant
        model = FineTuneModel(
            backbone, width, data.num_classes, input_side(context), family.mean, family.std,
            keep_zeros=keep, channels_last=has_convolutions(backbone),
        )  # fmt: skip
        return CellSetup(model, data, feature_names(width))


register_method(
    FullFineTune(
        name="ff",
        label="Full fine-tuning",
        rank=51,
        colour="baseline",
        optimizer="sgd",
        lr=0.001,  # 0.01 and 0.003 diverged on MobileNetV2 at batch 32 (docs/methods/full_finetune.md)
        momentum=0.9,
        weight_decay=1e-4,
        schedule="cosine",
        description="Full fine-tuning: every weight and a new linear head, SGD 0.001 with per-step cosine; "
        "pruned weights kept at zero, quantized layers trained through their quantizers",
    )
)
