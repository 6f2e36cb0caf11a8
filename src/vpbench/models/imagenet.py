"""ImageNet-1k: class names, offline (torchvision ships them in its weight metadata), and the top-1 of a
model measured on a local validation folder (the paper's Fig. 14 measurement side)."""

from __future__ import annotations

import time
from functools import cache
from pathlib import Path
from typing import Any

import torch


@cache
def imagenet_class_names() -> list[str]:
    """The 1000 ImageNet-1k class names in logit order (e.g. index 457 is 'bow tie')."""
    from torchvision.models import ResNet50_Weights

    return list(ResNet50_Weights.IMAGENET1K_V1.meta["categories"])


@cache
def imagenet_wnids() -> list[str]:
    """The 1000 ImageNet-1k WordNet ids in logit order (timm ships them), e.g. index 0 is 'n01440764' (tench).

    They are sorted, so the sorted class folders of torchvision's ``ImageNet`` layout are the logit order."""
    from timm.data import ImageNetInfo

    return list(ImageNetInfo("imagenet-1k").label_names())


# torchvision's ImageNet evaluation: Resize(256) + CenterCrop(224), i.e. the crop keeps 87.5% of the side.
EVAL_CROP_FRACTION = 0.875
IMAGE_SUFFIXES = (".jpeg", ".jpg", ".png", ".bmp", ".ppm", ".pgm", ".tif", ".tiff", ".webp")


def imagenet_val_folder(root: str | Path) -> Path:
    """The class folders of an ImageNet validation set: ``<root>/val`` (torchvision ``ImageNet`` layout, one
    folder per WordNet id) when it exists, else ``<root>`` itself (``ImageFolder`` layout)."""
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"paths.imagenet_val: {root} is not a folder")
    return root / "val" if (root / "val").is_dir() else root


def eval_transform_text(input_size: int) -> str:
    """The preprocessing :func:`measure_top1` applies, as recorded next to its result."""
    resize = round(input_size / EVAL_CROP_FRACTION)
    return f"RGB, Resize({resize}, bilinear), CenterCrop({input_size}), ToTensor, Normalize(family mean/std)"


@torch.inference_mode()
def measure_top1(
    net: torch.nn.Module,
    root: str | Path,
    *,
    input_size: int,
    mean: tuple[float, float, float],
    std: tuple[float, float, float],
    batch_size: int = 100,
    device: torch.device | str = "cpu",
    workers: int = 0,
) -> dict[str, Any]:
    """Top-1 and top-5 accuracy [%] of a classifier on an ImageNet-style validation folder.

    Classes are the sorted class folders (``ImageFolder``), which for ImageNet's WordNet-id folders is the
    ImageNet-1k logit order; their number must equal the network's outputs. A folder may be empty, so a
    subset of the validation images (every class folder present) measures a subset top-1. Preprocessing is
    torchvision's ImageNet evaluation at the family's input size (:func:`eval_transform_text`).
    """
    from torch.utils.data import DataLoader
    from torchvision import datasets, transforms

    folder = imagenet_val_folder(root)
    started = time.perf_counter()
    transform = transforms.Compose([
        transforms.Lambda(lambda image: image.convert("RGB")),
        transforms.Resize(round(input_size / EVAL_CROP_FRACTION)),
        transforms.CenterCrop(input_size),
        transforms.ToTensor(),
        transforms.Normalize(mean, std),
    ])  # fmt: skip
    data = datasets.ImageFolder(
        str(folder), transform, is_valid_file=lambda p: p.lower().endswith(IMAGE_SUFFIXES), allow_empty=True
    )
    loader = DataLoader(data, batch_size=batch_size, shuffle=False, num_workers=workers)
    device = torch.device(device)
    net = net.eval().to(device)
    hits1 = hits5 = seen = 0
    for images, labels in loader:
        logits = net(images.to(device)).float().cpu()
        if logits.shape[1] != len(data.classes):
            raise ValueError(
                f"{folder} has {len(data.classes)} class folders but the model has {logits.shape[1]} outputs"
            )
        top = logits.topk(min(5, logits.shape[1]), dim=1).indices
        hits1 += int((top[:, 0] == labels).sum())
        hits5 += int((top == labels[:, None]).any(dim=1).sum())
        seen += len(labels)
    if not seen:
        raise ValueError(f"{folder} holds no images")
    return {
        "top1": 100.0 * hits1 / seen,
        "top5": 100.0 * hits5 / seen,
        "images": seen,
        "classes": len(data.classes),
        "folder": str(folder),
        "transform": eval_transform_text(input_size),
        "seconds": time.perf_counter() - started,
    }
