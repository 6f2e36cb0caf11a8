"""The trained object of every cell: prompt → frozen source model → output mapping, and its data."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn


@dataclass
class CellData:
    """A cell's inputs with int64 labels: uint8 images N×3×H×W (``image``; pixels become [0,1] per batch)
    or int64 token ids N×L (``tokens``, passed through as they are)."""

    train_images: torch.Tensor
    train_labels: torch.Tensor
    test_images: torch.Tensor
    test_labels: torch.Tensor
    num_classes: int
    input_kind: str = "image"


def fold_batch_norms(module: nn.Module) -> int:
    """Fold every eval-mode BatchNorm2d that directly follows a plain Conv2d in a Sequential into the conv.

    The frozen model's BN is an affine map, so the result is the same function (up to float rounding)
    with one pass less per layer: +53% evaluation throughput on MobileNetV2 at 64 px on this CPU.
    Fake-quantized convs (subclasses) are left alone, since folding would change their quantized weights.
    Returns how many pairs were folded; folding twice folds nothing.
    """
    from torch.nn.utils.fusion import fuse_conv_bn_eval

    folded = 0
    for child in module.children():
        folded += fold_batch_norms(child)
    if isinstance(module, nn.Sequential):
        layers = list(module)
        for index in range(len(layers) - 1):
            conv, norm = layers[index], layers[index + 1]
            if type(conv) is nn.Conv2d and type(norm) is nn.BatchNorm2d and not norm.training:
                module[index] = fuse_conv_bn_eval(conv, norm).requires_grad_(False)
                module[index + 1] = nn.Identity()
                layers[index + 1] = module[index + 1]
                folded += 1
    return folded


class VisualPromptModel(nn.Module):
    """prompt → frozen source model → output mapping; only the prompt (and a learned head) train.

    ``train_source`` (full fine-tuning) keeps the source model's ``requires_grad`` flags as the caller set
    them and its BatchNorms unfolded, so its parameters train too; it still stays in eval mode (frozen
    BatchNorm statistics, no dropout). Optional hooks a component may define, used by the loop when
    present: ``param_groups()`` on the prompt or head (optimiser groups with ``lr_factor``/``gamma``),
    ``remap_pass(run)`` on the head (its own re-estimation pass), and on a subclass
    ``after_optimizer_step()`` and ``fit_outcome(member, device)`` (a method trained outside the loop).
    """

    def __init__(
        self,
        prompt: nn.Module,
        source_model: nn.Module,
        head: nn.Module,
        *,
        channels_last: bool = False,
        train_source: bool = False,
    ) -> None:
        super().__init__()
        self.prompt, self.source_model, self.head = prompt, source_model, head
        self.train_source = train_source
        self.source_model.eval()
        if not train_source:
            self.source_model.requires_grad_(False)
            fold_batch_norms(self.source_model)
        # NHWC roughly doubles CPU throughput of depthwise-conv nets (MobileNetV2) and helps ResNets on GPU.
        self.channels_last = channels_last
        if channels_last:
            self.source_model.to(memory_format=torch.channels_last)

    def train(self, mode: bool = True) -> VisualPromptModel:
        """Keep the frozen model in eval mode (BN running stats) whatever the caller asks."""
        super().train(mode)
        self.source_model.eval()
        return self

    def trainable_parts(self) -> dict[str, nn.Module]:
        """The parts whose parameters the optimiser updates: the prompt, a learned head, a trained source."""
        parts = {"prompt": self.prompt}
        if getattr(self.head, "trainable", False):
            parts["head"] = self.head
        if self.train_source:
            parts["model"] = self.source_model
        return parts

    def trainable_parameters(self) -> list[nn.Parameter]:
        """The prompt's parameters plus the head's, if the head is learned (and the source's, if trained)."""
        return [p for part in self.trainable_parts().values() for p in part.parameters() if p.requires_grad]

    def trainable_parameter_count(self) -> dict[str, int]:
        """Trainable entries per part (``prompt``, ``head``, ``model``) and their ``total``.

        Entries the method holds fixed inside a trained tensor (a pruned weight's zeros under full
        fine-tuning, see :meth:`fixed_entries`) are not trainable and are not counted.
        """
        counts = {name: 0 for name in ("prompt", "head", "model")}
        for name, part in self.trainable_parts().items():
            counts[name] = sum(p.numel() for p in part.parameters() if p.requires_grad)
        counts["model"] -= self.fixed_entries()
        counts["total"] = sum(counts.values())
        return counts

    def fixed_entries(self) -> int:
        """Entries of trained source tensors that the method keeps fixed (none by default)."""
        return 0

    def method_report(self) -> dict:
        """What the method measured about its own run (recorded in cell.json; see engine/cell_costs.py)."""
        return {}

    def param_groups(self) -> list[dict]:
        """Optimiser parameter groups: one group of every trainable parameter, unless a part defines its own
        ``param_groups()`` (each group may carry ``lr_factor`` and ``gamma``, read by the schedule)."""
        plain: list[nn.Parameter] = []
        groups: list[dict] = []
        for part in self.trainable_parts().values():
            custom = getattr(part, "param_groups", None)
            if custom is None:
                plain += [p for p in part.parameters() if p.requires_grad]
            else:
                groups += [g for g in custom() if g["params"]]
        return ([{"params": plain}] if plain else []) + groups

    def source_forward(self, prompted: torch.Tensor) -> torch.Tensor:
        """The frozen model on already-prompted inputs (shared by every cell of a pack)."""
        if self.channels_last:
            prompted = prompted.contiguous(memory_format=torch.channels_last)
        return self.source_model(prompted)

    def source_logits(self, images: torch.Tensor) -> torch.Tensor:
        """Logits over the S source classes for [0,1] images (or token ids)."""
        return self.source_forward(self.prompt(images))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """Mapped logits over the C target classes."""
        return self.head(self.source_logits(images))
