"""A tiny frozen conv net and a colour-coded task: fast, separable, and nonlinear enough for VP."""

from __future__ import annotations

import torch
from torch import nn

from vpbench.engine.output_mapping import IndexMapping, LinearMapping
from vpbench.engine.prompts import PaddingPrompt
from vpbench.engine.training import CellData, VisualPromptModel

COLOURS = torch.tensor([[1.0, 0, 0], [0, 1.0, 0], [0, 0, 1.0], [1.0, 1.0, 0]])
METHOD_HEADS = {
    "rlm": {"init": "random", "remap": "never"},
    "flm": {"init": "identity", "remap": "once"},
    "ilm": {"init": "identity", "remap": "every"},
}


def tiny_source_model(num_sources: int = 20, seed: int = 0) -> nn.Module:
    """A random 2-layer conv net with BN; stands in for an ImageNet classifier with S outputs."""
    torch.manual_seed(seed)
    return nn.Sequential(
        nn.Conv2d(3, 16, 3, padding=1),
        nn.BatchNorm2d(16),
        nn.ReLU(),
        nn.Conv2d(16, 16, 3, stride=2, padding=1),
        nn.ReLU(),
        nn.AdaptiveAvgPool2d(2),
        nn.Flatten(),
        nn.Linear(64, num_sources),
    )


def colour_task(per_class: int, num_classes: int = 3, seed: int = 0, size: int = 8) -> tuple:
    """uint8 images whose class is their (noisy) colour."""
    generator = torch.Generator().manual_seed(seed)
    labels = torch.arange(num_classes).repeat_interleave(per_class)
    images = COLOURS[labels].view(-1, 3, 1, 1).expand(-1, 3, size, size) * 200
    images = images + torch.randint(0, 55, images.shape, generator=generator)
    return images.clamp(0, 255).to(torch.uint8), labels


def colour_data(train_per_class: int = 10, test_per_class: int = 30, num_classes: int = 3) -> CellData:
    train, train_labels = colour_task(train_per_class, num_classes, seed=0)
    test, test_labels = colour_task(test_per_class, num_classes, seed=1)
    return CellData(train, train_labels, test, test_labels, num_classes)


def tiny_vp_model(method: str, seed: int, num_classes: int = 3, num_sources: int = 20) -> VisualPromptModel:
    """Padding prompt (8-px image in a 16-px canvas) → tiny net → the method's output mapping."""
    prompt = PaddingPrompt(16, 8, (0.5, 0.5, 0.5), (0.25, 0.25, 0.25))
    if method == "fullymap":
        torch.manual_seed(seed)
        head = LinearMapping(num_sources, num_classes)
    else:
        head = IndexMapping(num_sources, num_classes, seed=seed, **METHOD_HEADS[method])
    return VisualPromptModel(prompt, tiny_source_model(num_sources), head)
