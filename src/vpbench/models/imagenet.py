"""ImageNet-1k class names, offline (torchvision ships them in its weight metadata)."""

from __future__ import annotations

from functools import cache


@cache
def imagenet_class_names() -> list[str]:
    """The 1000 ImageNet-1k class names in logit order (e.g. index 457 is 'bow tie')."""
    from torchvision.models import ResNet50_Weights

    return list(ResNet50_Weights.IMAGENET1K_V1.meta["categories"])
