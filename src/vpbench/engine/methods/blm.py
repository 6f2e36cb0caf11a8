"""BLM and BLM+ (Cai et al., NeurIPS 2024): ILM-VP's padding prompt with a Bayesian-guided label map.

The head (:class:`vpbench.engine.blm.BayesianMapping`) keeps a many-to-many map ω ∈ R^{S×C}, re-estimated
before every epoch from the joint of predicted source labels (BLM: argmax counts; BLM+: top-k softmax
probabilities) and true labels, with Laplace smoothing λ; target logits are ``source logits @ ω``. The
head's ``remap_pass`` hook replaces the loop's frequency pass. Calibration metrics read the softmax over
these mapped logits, as for every method (docs/methods/blm.md).
"""

from __future__ import annotations

from dataclasses import dataclass

from vpbench.engine.blm import BLM_DEFAULTS, BayesianMapping
from vpbench.engine.builders import BuildContext, CellSetup, has_convolutions, image_data
from vpbench.engine.methods.base import VPMethod, register_method
from vpbench.engine.prompts import PaddingPrompt
from vpbench.engine.vp_model import VisualPromptModel


@dataclass(frozen=True)
class BayesianLabelMappingVP(VPMethod):
    """Padding prompt → frozen classifier → ω re-estimated before every ``remap_interval``-th epoch."""

    variant: str = "blm"  # "blm" (argmax counts) or "blm+" (top-k probability sums)
    lap: float = BLM_DEFAULTS.lap
    topk_ratio: float = BLM_DEFAULTS.topk_ratio
    remap_interval: int = BLM_DEFAULTS.remap_interval

    def build(self, context: BuildContext) -> CellSetup:
        """The published image recipe: ILM-VP's padding prompt (δ = 0) and a BLM/BLM+ head."""
        family = context.family
        data = image_data(context)
        input_size = int(context.train_split.images.shape[-1])
        prompt = PaddingPrompt(context.study.canvas or family.input_size, input_size, family.mean, family.std)
        head = BayesianMapping(
            family.num_classes,
            data.num_classes,
            variant=self.variant,
            lap=self.lap,
            topk_ratio=self.topk_ratio,
            interval=self.remap_interval,
        )
        model = VisualPromptModel(prompt, context.net, head, channels_last=has_convolutions(context.net))
        return CellSetup(model, data, family.source_class_names())


register_method(
    BayesianLabelMappingVP(
        name="blm",
        label="BLM",
        rank=14,
        variant="blm",
        learns_map=True,
        description="BLM (Cai et al. 2024): padding prompt, many-to-many label map ω from argmax counts with "
        "Laplace smoothing, re-estimated before every epoch; target logits = source logits @ ω",
    )
)
register_method(
    BayesianLabelMappingVP(
        name="blm_plus",
        label="BLM+",
        rank=15,
        variant="blm+",
        learns_map=True,
        description="BLM+ (Cai et al. 2024): as BLM, but ω from sums of the top-k (k = 0.15·C) source "
        "probabilities per sample instead of argmax counts",
    )
)
