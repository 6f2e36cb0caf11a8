"""Model registry: one :class:`ModelFamily` entry per checkpoint family, looked up by name.

Adding a family is one ``register_model(ModelFamily(...))`` call in one module; nothing else changes.
Loading always goes checksum → ``weights_only=True`` → key remap → ``load_state_dict(strict=True)`` →
assert the measured sparsity / bit-width the entry promises.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from vpbench.checksums import safe_torch_load
from vpbench.errors import ConfigError, MissingSourceError

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)


@dataclass(frozen=True)
class WeightSource:
    """Where a family's weights come from and how to check them.

    ``status`` is ``public`` (stable URL), ``at risk`` (share link / retiring service) or ``not public``
    (the user must place the file); ``instructions`` is shown when the file cannot be fetched.
    """

    filename: str
    urls: tuple[str, ...] = ()
    sha256: str | None = None
    gdrive_id: str | None = None
    pip_package: tuple[str, str] | None = None  # (importable package, path of the file inside it)
    status: str = "public"
    instructions: str = ""


@dataclass(frozen=True)
class ModelFamily:
    """A loadable model: architecture builder, weight source, remap, preprocessing and expectations."""

    name: str
    builder: Callable[[], nn.Module]
    weights: WeightSource | None
    mean: tuple[float, float, float] = IMAGENET_MEAN
    std: tuple[float, float, float] = IMAGENET_STD
    input_size: int = 224
    kind: str = "classifier"  # "classifier" (1000 ImageNet logits) or "clip"
    remap: Callable[[Any], Mapping[str, torch.Tensor]] | None = None
    expected_sparsity: float | None = None  # fraction of zeros among prunable weights, if compressed
    sparsity_tolerance: float = 0.01
    expected_bits: int | None = None
    compression: str = "none"  # e.g. "none", "gmp", "acdc", "rigl", "lt", "vvtq", "upop"
    dense_parent: str | None = None
    licence: str = ""
    description: str = ""
    extra: Mapping[str, Any] = field(default_factory=dict)


MODELS: dict[str, ModelFamily] = {}


def register_model(family: ModelFamily) -> ModelFamily:
    """Add ``family`` to the registry; a duplicate name is a programming error."""
    if family.name in MODELS:
        raise ValueError(f"model family {family.name!r} is registered twice")
    MODELS[family.name] = family
    return family


def get_model_family(name: str) -> ModelFamily:
    """Look up a family, or raise :class:`ConfigError` naming the allowed values."""
    try:
        return MODELS[name]
    except KeyError:
        raise ConfigError(
            f"unknown model family {name!r}; allowed values: {', '.join(sorted(MODELS))}"
        ) from None


def default_state_dict(checkpoint: Any) -> Mapping[str, torch.Tensor]:
    """Return the state dict inside common checkpoint containers (plain, ``state_dict``, ``model``)."""
    if isinstance(checkpoint, Mapping):
        for key in ("state_dict", "model_state_dict", "model"):
            inner = checkpoint.get(key)
            if isinstance(inner, Mapping) and inner and all(isinstance(k, str) for k in inner):
                return inner
        return checkpoint
    raise TypeError(f"checkpoint is a {type(checkpoint).__name__}, not a mapping of tensors")


def load_family_weights(family: ModelFamily, path: str | Path) -> nn.Module:
    """Build ``family`` and load its verified weights from ``path`` strictly, in eval mode."""
    if family.weights is None:
        raise ValueError(f"model family {family.name!r} has no weight source")
    path = Path(path)
    if not path.is_file():
        raise MissingSourceError(
            f"weights for {family.name!r} not found at {path}. Expected file {family.weights.filename!r} "
            f"(sha256 {family.weights.sha256 or 'unpublished'}). {family.weights.instructions}".strip()
        )
    checkpoint = safe_torch_load(path, family.weights.sha256)
    state = family.remap(checkpoint) if family.remap else default_state_dict(checkpoint)
    model = family.builder()
    model.load_state_dict(dict(state), strict=True)
    model.eval()
    return model
