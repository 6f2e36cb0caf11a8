"""SMM (Cai et al., ICML 2024): sample-specific multi-channel masks for a resize-based visual prompt.

The target image is resized to the model's input size L (not padded) and normalised; a small CNN
("mask generator") maps that normalised image to one mask value per (channel, p×p patch); the values
are spread over their patches ("patch-wise interpolation", a nearest-neighbour upsampling by p) and
multiply a shared, zero-initialised pattern δ ∈ R^{3×L×L}:

    x̃ = Normalize(Resize_L(x)) + δ ⊙ Up_p(f_mask(Normalize(Resize_L(x)))).

δ and the mask CNN both train; the mask is unbounded (no sigmoid) and there is no clamp, as published.
The mask CNN has BatchNorm, so it uses batch statistics in ``train()`` mode and running statistics in
``eval()`` mode; the training loop's evaluation and re-mapping passes must put the prompt in eval mode.

Published architecture (``tmlr-group/SMM``, ``instance_model.py``): 3×3 convs 3→8→16→32→64 (ResNets,
5 layers) or 3→8→16→32→64→128 (ViT, 6 layers), each followed by BatchNorm and ReLU, a 2×2 max-pool
after block i whenever p ≥ 2^i, then a 3×3 conv to 3 channels (or a channel mean for one-channel masks).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F  # noqa: N812

from vpbench.errors import ConfigError

WIDTHS = (8, 16, 32, 64, 128)
PATCH_SIZES = (1, 2, 4, 8, 16, 32)


@dataclass(frozen=True)
class SMMDefaults:
    """Published SMM recipe (``cfg.py::get_config``, ``instancewise_vp.py``)."""

    patch_size: int = 8
    mask_channels: int = 3
    layers_cnn: int = 5  # ResNet-18 / ResNet-50 sources
    layers_vit: int = 6  # ViT-B/32 source
    input_size_cnn: int = 224
    input_size_vit: int = 384  # pytorch_pretrained_vit "B_32_imagenet1k"
    optimizer: str = "adam"  # two Adam optimisers: one for δ, one for the mask CNN
    lr: float = 0.01  # δ
    mask_lr_cnn: float = 0.01
    mask_lr_vit: float = 0.001
    gamma: float = 0.1  # δ's MultiStepLR factor
    mask_gamma_cnn: float = 0.1
    mask_gamma_vit: float = 1.0  # i.e. the ViT mask CNN keeps lr 0.001 throughout
    schedule: str = "multistep"
    milestones: tuple[float, ...] = (0.5, 0.72)
    epochs: int = 200
    batch_size: int = 256
    mapping: str = "ilm"  # re-mapped before every epoch; rlm and flm are options
    train_transform: str = "Resize(L+32) → RandomCrop(L) → RandomHorizontalFlip → Normalize"
    test_transform: str = "Resize(L) → Normalize"
    normalisation: str = "ImageNet mean/std for every source, ViT included"
    amp: str = "fp16 autocast + GradScaler for training"


SMM_DEFAULTS = SMMDefaults()


def default_layers(family: str) -> int:
    """The published mask-CNN depth for a source family: ``cnn`` (ResNets) → 5, ``vit`` → 6."""
    if family not in ("cnn", "vit"):
        raise ConfigError(f"unknown source family {family!r}; allowed: cnn, vit")
    return SMM_DEFAULTS.layers_vit if family == "vit" else SMM_DEFAULTS.layers_cnn


def _check_architecture(layers: int, patch_size: int, channels: int, size: int | None = None) -> None:
    if layers not in (5, 6):
        raise ConfigError(f"mask CNN depth must be 5 or 6, got {layers}")
    if patch_size not in PATCH_SIZES:
        raise ConfigError(f"patch size must be one of {PATCH_SIZES}, got {patch_size}")
    if channels not in (1, 3):
        raise ConfigError(f"mask channels must be 1 or 3, got {channels}")
    if patch_size == 32 and layers != 6:
        raise ConfigError("patch size 32 needs 5 poolings, i.e. the 6-layer mask CNN")
    if size is not None and size % patch_size:
        raise ConfigError(f"input size {size} is not a multiple of the patch size {patch_size}")


class MaskGenerator(nn.Module):
    """SMM's mask CNN: normalised [B,3,L,L] → [B, channels, L/p, L/p] mask values (one per patch)."""

    def __init__(self, layers: int = 5, patch_size: int = 8, channels: int = 3) -> None:
        super().__init__()
        _check_architecture(layers, patch_size, channels)
        self.layers, self.patch_size, self.channels = layers, patch_size, channels
        blocks, width_in = [], 3
        for index in range(layers - 1):
            width = WIDTHS[index]
            parts: list[nn.Module] = [nn.Conv2d(width_in, width, 3, 1, 1), nn.BatchNorm2d(width), nn.ReLU()]
            if patch_size >= 2 ** (index + 1):
                parts.append(nn.MaxPool2d(2, 2))
            blocks.append(nn.Sequential(*parts))
            width_in = width
        self.blocks = nn.Sequential(*blocks)
        self.head = nn.Conv2d(width_in, 3, 3, 1, 1) if channels == 3 else None

    def forward(self, normalised: torch.Tensor) -> torch.Tensor:
        """Per-patch mask values; one-channel masks are the mean over the last block's channels."""
        features = self.blocks(normalised)
        if self.head is not None:
            return self.head(features)
        return features.mean(dim=1, keepdim=True)


def patchwise_interpolate(patch_values: torch.Tensor, patch_size: int) -> torch.Tensor:
    """Spread [B, 1|3, P, P] patch values over p×p pixels → [B, 3, P·p, P·p] (one channel is repeated)."""
    if patch_values.dim() != 4 or patch_values.shape[1] not in (1, 3):
        raise ValueError(f"expected patch values [B, 1|3, P, P], got {tuple(patch_values.shape)}")
    values = patch_values.expand(-1, 3, -1, -1)
    return values.repeat_interleave(patch_size, dim=2).repeat_interleave(patch_size, dim=3)


def _as_buffer(values: Sequence[float]) -> torch.Tensor:
    return torch.tensor(list(values), dtype=torch.float32).view(1, 3, 1, 1)


class SampleSpecificMaskPrompt(nn.Module):
    """SMM prompt: resize to L, normalise, add δ ⊙ (sample-specific patch-wise mask).

    ``images`` are in [0,1] at any square size; they are resized (bilinear, antialiased, corners not
    aligned, like torchvision's ``Resize`` on tensors) only when not already L×L. ``seed`` draws the mask
    CNN's PyTorch-default initialisation from a private generator, leaving the global RNG untouched.
    """

    def __init__(
        self,
        size: int,
        mean: Sequence[float],
        std: Sequence[float],
        *,
        layers: int = SMM_DEFAULTS.layers_cnn,
        patch_size: int = SMM_DEFAULTS.patch_size,
        channels: int = SMM_DEFAULTS.mask_channels,
        seed: int | None = None,
        mask_lr_factor: float = 1.0,
        mask_gamma: float | None = None,
    ) -> None:
        super().__init__()
        _check_architecture(layers, patch_size, channels, size)
        self.canvas, self.input_size, self.patch_size = size, size, patch_size
        # the mask CNN's lr relative to δ's and its MultiStep γ (None: the cell's γ), see param_groups
        self.mask_lr_factor, self.mask_gamma = float(mask_lr_factor), mask_gamma
        self.register_buffer("mean", _as_buffer(mean))
        self.register_buffer("std", _as_buffer(std))
        if seed is None:
            self.mask_generator = MaskGenerator(layers, patch_size, channels)
        else:
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(seed)
                self.mask_generator = MaskGenerator(layers, patch_size, channels)
        self.program = nn.Parameter(torch.zeros(3, size, size))

    def param_groups(self) -> list[dict]:
        """Optimiser groups for the loop: δ, and the mask CNN with its own ``lr_factor`` and ``gamma``.

        One group when the mask CNN follows δ's recipe (ResNets: one Adam equals the published two).
        """
        if self.mask_lr_factor == 1.0 and self.mask_gamma is None:
            return [{"params": list(self.parameters())}]
        mask = {"params": list(self.mask_generator.parameters()), "lr_factor": self.mask_lr_factor}
        if self.mask_gamma is not None:
            mask["gamma"] = self.mask_gamma
        return [{"params": [self.program]}, mask]

    def resize(self, images: torch.Tensor) -> torch.Tensor:
        """[B,3,h,w] in [0,1] → [B,3,L,L] (identity when already L×L)."""
        if images.shape[-2:] == (self.input_size, self.input_size):
            return images
        size = (self.input_size, self.input_size)
        return F.interpolate(images, size=size, mode="bilinear", align_corners=False, antialias=True)

    def masks(self, normalised: torch.Tensor) -> torch.Tensor:
        """Sample-specific masks [B,3,L,L] for already resized and normalised images."""
        return patchwise_interpolate(self.mask_generator(normalised), self.patch_size)

    def effective(self) -> torch.Tensor:
        """The shared pattern δ (3×L×L, normalised space); the masks are per sample and not included."""
        return self.program

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """[B,3,h,w] images in [0,1] → the frozen model's normalised input [B,3,L,L]."""
        normalised = (self.resize(images) - self.mean) / self.std
        return normalised + self.program * self.masks(normalised)


def smm_parameter_count(
    size: int,
    layers: int = SMM_DEFAULTS.layers_cnn,
    patch_size: int = SMM_DEFAULTS.patch_size,
    channels: int = SMM_DEFAULTS.mask_channels,
) -> dict[str, int]:
    """Trainable parameters of an SMM prompt: δ, the mask CNN (BatchNorm affine included) and their sum."""
    _check_architecture(layers, patch_size, channels, size)
    generator = MaskGenerator(layers, patch_size, channels)
    mask = sum(p.numel() for p in generator.parameters() if p.requires_grad)
    program = 3 * size * size
    return {"program": program, "mask_generator": mask, "total": program + mask}


def smm_param_groups(prompt: SampleSpecificMaskPrompt, family: str = "cnn") -> list[dict]:
    """Optimiser groups with the published per-part lr and MultiStep γ (``gamma`` is for the scheduler).

    For ResNets both parts use lr 0.01 and γ 0.1, which equals one Adam over all parameters; for ViT the
    mask CNN uses lr 0.001 with no decay (γ = 1) while δ decays from 0.01.
    """
    default_layers(family)  # rejects unknown families
    mask_lr = SMM_DEFAULTS.mask_lr_vit if family == "vit" else SMM_DEFAULTS.mask_lr_cnn
    mask_gamma = SMM_DEFAULTS.mask_gamma_vit if family == "vit" else SMM_DEFAULTS.mask_gamma_cnn
    return [
        {"name": "program", "params": [prompt.program], "lr": SMM_DEFAULTS.lr, "gamma": SMM_DEFAULTS.gamma},
        {
            "name": "mask_generator",
            "params": list(prompt.mask_generator.parameters()),
            "lr": mask_lr,
            "gamma": mask_gamma,
        },
    ]
