"""LoR-VP (Jin et al., ICLR 2025): a low-rank additive prompt on the resized image.

The target image is resized to the model's input size L (not padded). The prompt is the per-channel
product P = B·A of B ∈ R^{3×L×r} ("left bar") and A ∈ R^{3×r×L} ("right bar"), added to the resized
image in [0,1] pixel space *before* normalisation, with no sigmoid and no clamp:

    x̃ = Normalize(Resize_L(x) + B·A).

Published init (``zero,normal``): B = 0 and A ~ N(0, 0.01²), as in LoRA, so P starts at 0 and only B
receives gradient at the first step. Rank r = 4 ("bar_width"); 2·3·L·r parameters (5,376 at 224 px).

Head: the authors' default (``--downstream_mapping lp`` in the parser and in ``run/run_lorvp.sh``) is
linear probing: the frozen model's classifier is replaced by a fresh, trainable ``nn.Linear(feature
dim, C)`` with PyTorch's default init, trained jointly with the prompt by the same optimiser. Options
are ``fm`` (a trainable Linear on the 1000 source logits; silently turned into ``lp`` for torchvision
ViT-B/16 and ViT-L/16), ``ilm``/``flm`` (frequency maps) and ``origin`` (identity). With
:func:`feature_extractor` the ``lp`` head is vpbench's ``LinearMapping(feature_dim, C)`` on features.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F  # noqa: N812

from vpbench.errors import ConfigError

INITS = ("zero", "random", "xavier", "kaiming", "uniform", "normal")


@dataclass(frozen=True)
class LoRVPDefaults:
    """Published LoR-VP recipe (``run/run_lorvp.sh``; parser defaults in comments where they differ)."""

    rank: int = 4  # --bar_width
    init: tuple[str, str] = ("zero", "normal")  # B, A
    normal_std: float = 0.01
    input_size: int = 224
    head: str = "lp"  # linear probe on penultimate features; options fm, ilm, flm, origin
    mapping_freq: int = 1  # for ilm: re-mapped after every epoch
    optimizer: str = "sgd"
    lr: float = 0.02
    momentum: float = 0.9
    weight_decay: float = 1e-4  # parser default 0
    schedule: str = "cosine"  # per step, warm-up ratio 0: lr·½(1 + cos(π·step/T))
    warmup_ratio: float = 0.0
    epochs: int = 20  # parser default 3
    batch_size: int = 256  # parser default 64
    eval_batch_size: int = 256
    random_crop: bool = False  # train transform = Resize((L, L)) only
    network: str = "vit_b_16_21k (timm vit_base_patch16_224_miil_in21k)"
    normalisation: str = "none for *_21k sources, mean=std=0.5 for other ViTs, ImageNet mean/std for CNNs"
    amp: str = "fp16 autocast + GradScaler"


LOR_VP_DEFAULTS = LoRVPDefaults()


def _initialise(tensor: torch.Tensor, method: str, generator: torch.Generator | None) -> None:
    """The authors' named inits; every draw goes through ``generator`` (global RNG when None)."""
    with torch.no_grad():
        if method == "zero":
            tensor.zero_()
        elif method == "random":
            nn.init.normal_(tensor, 0.0, 1.0, generator=generator)
        elif method == "xavier":
            nn.init.xavier_uniform_(tensor, generator=generator)
        elif method == "kaiming":
            nn.init.kaiming_uniform_(tensor, nonlinearity="relu", generator=generator)
        elif method == "uniform":
            nn.init.uniform_(tensor, -0.1, 0.1, generator=generator)
        elif method == "normal":
            nn.init.normal_(tensor, 0.0, LOR_VP_DEFAULTS.normal_std, generator=generator)
        else:
            raise ConfigError(f"unknown LoR-VP init {method!r}; allowed: {', '.join(INITS)}")


def _as_buffer(values: Sequence[float]) -> torch.Tensor:
    return torch.tensor(list(values), dtype=torch.float32).view(1, 3, 1, 1)


def low_rank_prompt(left: torch.Tensor, right: torch.Tensor) -> torch.Tensor:
    """P = B·A per channel: [3, L, r] × [3, r, L] → [3, L, L]."""
    return torch.bmm(left, right)


class LowRankPrompt(nn.Module):
    """LoR-VP prompt: resize to L, add B·A in pixel space, normalise with the frozen model's constants.

    ``init`` names the inits of B and A (published ``("zero", "normal")``); ``generator`` makes them
    reproducible without the global RNG (None draws from it, in the authors' order: B, then A).
    """

    def __init__(
        self,
        size: int,
        mean: Sequence[float],
        std: Sequence[float],
        *,
        rank: int = LOR_VP_DEFAULTS.rank,
        init: tuple[str, str] = LOR_VP_DEFAULTS.init,
        generator: torch.Generator | None = None,
    ) -> None:
        super().__init__()
        if not 1 <= rank <= size:
            raise ConfigError(f"LoR-VP rank must lie in 1..{size}, got {rank}")
        self.canvas, self.input_size, self.rank = size, size, rank
        self.register_buffer("mean", _as_buffer(mean))
        self.register_buffer("std", _as_buffer(std))
        self.left = nn.Parameter(torch.empty(3, size, rank))
        self.right = nn.Parameter(torch.empty(3, rank, size))
        _initialise(self.left, init[0], generator)
        _initialise(self.right, init[1], generator)

    def resize(self, images: torch.Tensor) -> torch.Tensor:
        """[B,3,h,w] in [0,1] → [B,3,L,L] (bilinear, antialiased; identity when already L×L)."""
        if images.shape[-2:] == (self.input_size, self.input_size):
            return images
        size = (self.input_size, self.input_size)
        return F.interpolate(images, size=size, mode="bilinear", align_corners=False, antialias=True)

    def effective(self) -> torch.Tensor:
        """The pixel-space prompt B·A, shape 3×L×L."""
        return low_rank_prompt(self.left, self.right)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """[B,3,h,w] images in [0,1] → the frozen model's normalised input [B,3,L,L]."""
        prompted = self.resize(images) + self.effective().unsqueeze(0)
        return (prompted - self.mean) / self.std


def lor_vp_parameter_count(size: int, rank: int = LOR_VP_DEFAULTS.rank) -> int:
    """Trainable prompt parameters: 2·3·L·r."""
    return 2 * 3 * size * rank


def linear_probe_parameter_count(feature_dim: int, num_classes: int) -> int:
    """Parameters of the default ``lp`` head: a Linear(feature_dim → C) with bias."""
    return feature_dim * num_classes + num_classes


def classifier_name(network: nn.Module) -> str:
    """The dotted name of ``network``'s final classifier Linear (timm's ``get_classifier()``, ``fc``,
    ``heads.head``, ``head``, the last layer of a plain Sequential or of a ``classifier`` Sequential)."""
    getter = getattr(network, "get_classifier", None)
    if callable(getter):
        target = getter()
        for name, module in network.named_modules():
            if module is target and isinstance(module, nn.Linear):
                return name
    candidates = ["fc", "heads.head", "head", "classifier"]
    if isinstance(network, nn.Sequential):
        candidates.insert(0, str(len(network) - 1))
    classifier = getattr(network, "classifier", None)
    if isinstance(classifier, nn.Sequential):
        candidates.append(f"classifier.{len(classifier) - 1}")
    modules = dict(network.named_modules())
    for name in candidates:
        if isinstance(modules.get(name), nn.Linear):
            return name
    raise ConfigError(f"cannot find the final classifier of {type(network).__name__} to replace")


def feature_extractor(network: nn.Module) -> tuple[nn.Module, int]:
    """A copy of ``network`` whose final classifier is removed, and its feature width (for ``lp``).

    The classifier (:func:`classifier_name`) becomes an ``Identity``, or, for a fake-quantized classifier,
    its input quantizer, so the features are exactly what the compressed classifier would have read
    (VVTQ models quantize the classifier input in a separate module, which stays). The original is
    untouched.
    """
    name = classifier_name(network)
    model = copy.deepcopy(network)
    parent_name, _, child = name.rpartition(".")
    parent = model.get_submodule(parent_name) if parent_name else model
    linear = getattr(parent, child) if not child.isdigit() else parent[int(child)]
    replacement = getattr(linear, "input_quantizer", None)
    replacement = replacement if isinstance(replacement, nn.Module) else nn.Identity()
    if child.isdigit():
        parent[int(child)] = replacement
    else:
        setattr(parent, child, replacement)
    return model, int(linear.in_features)
