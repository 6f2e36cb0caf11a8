"""SMM (Cai et al., ICML 2024): sample-specific multi-channel masks on the resized image, ILM output map.

The target image is resized (not padded) to the model's input side L (the study's canvas, else the
model's input size); a small mask CNN on the normalised image weights a shared pattern δ per channel and
p×p patch. Both train; the published recipe is ILM re-mapped before every epoch and Adam at lr 0.01 with
MultiStep γ 0.1, and on transformer sources a 6-layer mask CNN with its own lr 0.001, never decayed (the
prompt's ``param_groups`` hook). Its trainable budget is δ plus the mask CNN (docs/methods/smm.md).
"""

from __future__ import annotations

from dataclasses import dataclass

from torch import nn

from vpbench.engine.builders import BuildContext, CellSetup, has_convolutions, image_data
from vpbench.engine.methods.base import VPMethod, register_method
from vpbench.engine.output_mapping import IndexMapping
from vpbench.engine.smm import SMM_DEFAULTS, SampleSpecificMaskPrompt, default_layers
from vpbench.engine.vp_model import VisualPromptModel
from vpbench.errors import ConfigError


def is_transformer(net: nn.Module) -> bool:
    """Whether ``net`` is a vision transformer (any attention module): SMM's published ViT recipe applies."""
    return any(
        isinstance(module, nn.MultiheadAttention) or type(module).__name__.endswith("Attention")
        for module in net.modules()
    )


def input_side(context: BuildContext) -> int:
    """L, the side the target image is resized to: the study's canvas, else the model's input size."""
    return int(context.study.canvas or context.family.input_size)


@dataclass(frozen=True)
class SampleSpecificMasks(VPMethod):
    """Resize → δ ⊙ Up_p(mask CNN(image)) → frozen classifier → ILM."""

    patch_size: int = SMM_DEFAULTS.patch_size
    mask_channels: int = SMM_DEFAULTS.mask_channels
    remap: str = "every"
    vit_mask_lr_factor: float = 0.1  # published: the mask CNN at lr 0.001 while δ starts at 0.01
    vit_mask_gamma: float = SMM_DEFAULTS.mask_gamma_vit

    def build(self, context: BuildContext) -> CellSetup:
        """Mask prompt at L (5-layer mask CNN on CNNs, 6 layers and its own lr on transformers) and ILM."""
        family, cell = context.family, context.cell
        size = input_side(context)
        if size % self.patch_size:
            raise ConfigError(
                f"cell {cell.label}: method {self.name!r} needs an input side divisible by its patch size "
                f"{self.patch_size}; the canvas is {size} px (set prompt.canvas to a multiple of it)"
            )
        transformer = is_transformer(context.net)
        prompt = SampleSpecificMaskPrompt(
            size, family.mean, family.std,
            layers=default_layers("vit" if transformer else "cnn"),
            patch_size=self.patch_size, channels=self.mask_channels, seed=cell.seed,
            mask_lr_factor=self.vit_mask_lr_factor if transformer else 1.0,
            mask_gamma=self.vit_mask_gamma if transformer else None,
        )  # fmt: skip
        data = image_data(context)
        head = IndexMapping(family.num_classes, data.num_classes, init="identity", remap=self.remap)
        model = VisualPromptModel(prompt, context.net, head, channels_last=has_convolutions(context.net))
        return CellSetup(model, data, family.source_class_names())


register_method(
    SampleSpecificMasks(
        name="smm",
        label="SMM",
        rank=40,
        colour="prompt_design",
        mapping_figure=True,
        learns_map=True,
        description="SMM (Cai et al. 2024): image resized to the model input, shared pattern weighted by "
        "sample-specific patch masks from a small CNN; ILM label map re-computed every epoch",
    )
)
