"""Fixed, seeded inputs shared by ``benchmarks/check_against_authors.py`` and the golden tests.

Both sides rebuild every input from these functions, so the golden files hold only the authors'
outputs. Large outputs are stored as a *sketch* (fixed random projections plus per-channel means),
which any semantic difference moves far beyond float32 rounding.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import torch
from torch import nn

GOLDEN_DIR = Path(__file__).parent / "golden"
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

# BLM: (num_sources, num_targets, num_samples, seed)
BLM_CASES = {"c10": (50, 10, 200, 0), "c5": (20, 5, 30, 1)}
BLM_BATCH = 64  # batch size of the authors' loader pass and of our streaming accumulator
BLM_TOPK = {"k1": 1, "k3": 3, "k10": 10}  # k1 = int(0.15 · 10), the published k for C = 10

# SMM: name -> (size, layers, patch_size, channels, batch); "full" cases keep whole arrays
SMM_CASES = {
    "tiny": (8, 5, 2, 3, 2),
    "one_channel": (32, 6, 8, 1, 2),
    "resnet_default": (224, 5, 8, 3, 2),
    "vit_default": (224, 6, 8, 3, 1),
    "patch32": (64, 6, 32, 3, 2),
}
SMM_FULL = ("tiny",)

# LoR-VP: name -> (size, rank, batch, normalise)
LORVP_CASES = {"tiny": (8, 4, 2, True), "tiny_no_norm": (16, 2, 2, False), "default": (224, 4, 2, True)}
LORVP_FULL = ("tiny",)
LORVP_INIT_SEED = 0


def blm_inputs(case: str) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(train logits [N,S] float32, labels [N] int64 covering every class, test logits [16,S])."""
    num_sources, num_targets, num_samples, seed = BLM_CASES[case]
    generator = torch.Generator().manual_seed(seed)
    labels = (torch.arange(num_samples) % num_targets)[torch.randperm(num_samples, generator=generator)]
    logits = 2.0 * torch.randn(num_samples, num_sources, generator=generator)
    # each class leans towards a few sources, so the joint has structure (and some exact-zero rows)
    favourite = (labels * 7) % num_sources
    logits[torch.arange(num_samples), favourite] += 3.0
    logits[torch.arange(num_samples), (favourite + 1) % num_sources] += 1.5
    test_logits = 2.0 * torch.randn(16, num_sources, generator=generator)
    return logits, labels.long(), test_logits


def fill_module(module: nn.Module, seed: int) -> None:
    """Overwrite every float parameter and buffer in registration order with seeded values.

    Running variances get U[0.5, 1.5), running means and everything else scaled normals, so BatchNorm,
    masks and patterns are all far from their trivial initial values.
    """
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, tensor in module.state_dict(keep_vars=True).items():
            if not tensor.is_floating_point():
                continue
            if name.endswith("running_var"):
                tensor.copy_(0.5 + torch.rand(tensor.shape, generator=generator))
            elif name.endswith("running_mean"):
                tensor.copy_(0.1 * torch.randn(tensor.shape, generator=generator))
            elif name in ("mean", "std"):
                continue
            else:
                tensor.copy_(0.3 * torch.randn(tensor.shape, generator=generator))


def images(batch: int, size: int, seed: int) -> torch.Tensor:
    """Seeded images in [0,1], shape [batch, 3, size, size]."""
    return torch.rand(batch, 3, size, size, generator=torch.Generator().manual_seed(seed))


def sketch(array: torch.Tensor, count: int = 32, seed: int = 12345) -> torch.Tensor:
    """float64 [count + B·C]: ``count`` normalised random projections of the flattened array, then the
    mean of each (sample, channel) plane of a [B, C, H, W] or [C, H, W] array."""
    flat = array.detach().to(torch.float64).reshape(-1)
    generator = torch.Generator().manual_seed(seed)
    projections = torch.randn(count, flat.numel(), generator=generator, dtype=torch.float64)
    projected = projections @ flat / flat.numel() ** 0.5
    batched = array.detach().to(torch.float64)
    batched = batched.unsqueeze(0) if batched.dim() == 3 else batched  # a single [3, H, W] pattern
    planes = batched.flatten(2).mean(dim=2).reshape(-1)
    return torch.cat([projected, planes])


def backward_weights(shape: tuple[int, ...], seed: int) -> torch.Tensor:
    """Seeded weights w of the scalar Σ w ⊙ output whose gradients the checks compare."""
    return torch.randn(shape, generator=torch.Generator().manual_seed(seed))


def smm_outputs(
    prompt: nn.Module,
    inputs: torch.Tensor,
    patch_fn: Callable[[], torch.Tensor],
    grad_params: dict[str, torch.Tensor],
    seed: int,
) -> dict[str, torch.Tensor]:
    """Eval forward and patch values, then one train-mode forward (which updates BatchNorm running stats)
    and the gradients of Σ w ⊙ output, in that order for both implementations."""
    out: dict[str, torch.Tensor] = {}
    prompt.eval()
    with torch.no_grad():
        out["eval"] = prompt(inputs).clone()
        out["patches_eval"] = patch_fn().clone()
    prompt.train()
    for tensor in grad_params.values():
        tensor.grad = None
    train = prompt(inputs)
    (train * backward_weights(tuple(train.shape), seed + 1)).sum().backward()
    out["train"] = train.detach().clone()
    for name, tensor in grad_params.items():
        out[f"grad_{name}"] = tensor.grad.detach().clone()
    return out
