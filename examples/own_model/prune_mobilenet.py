"""Make "your own" compressed checkpoint: the demo's ImageNet MobileNetV2 pruned to 70% with
``torch.nn.utils.prune`` (global L1 magnitude over every Conv2d and Linear weight), saved as a plain
state dict, with its sha256 printed for the study file.

    python examples/own_model/prune_mobilenet.py checkpoints/mobilenet_v2_pruned70.pth

Any checkpoint of a torchvision or timm architecture works the same way (docs/own_model.md).
"""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path

import torch
from torch import nn
from torch.nn.utils import prune
from torchvision import models


def pruned_mobilenet(amount: float = 0.7) -> nn.Module:
    """ImageNet MobileNetV2 (the offline copy of torchvision's file) pruned globally to ``amount``."""
    from vpbench.models.acquire import acquire_weights

    weights = acquire_weights("mobilenet_v2", Path("resources/weights/mobilenet_v2"), allow_network=False)
    model = models.mobilenet_v2(weights=None)
    model.load_state_dict(torch.load(weights, map_location="cpu", weights_only=True))
    layers = [(m, "weight") for m in model.modules() if isinstance(m, nn.Conv2d | nn.Linear)]
    prune.global_unstructured(layers, pruning_method=prune.L1Unstructured, amount=amount)
    for module, name in layers:
        prune.remove(module, name)
    return model


def main(out: str) -> None:
    path = Path(out)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(pruned_mobilenet().state_dict(), path)
    print(f"wrote {path}\nsha256: {hashlib.sha256(path.read_bytes()).hexdigest()}")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "checkpoints/mobilenet_v2_pruned70.pth")
