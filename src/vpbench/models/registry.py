"""Model registry: one :class:`ModelFamily` entry per checkpoint family, looked up by name.

Adding a family is one ``register_model(ModelFamily(...))`` call in one module; nothing else changes.
Loading always goes checksum → ``weights_only=True`` → key remap → ``load_state_dict(strict=True)`` →
assert the measured sparsity / bit-width the entry promises.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from fnmatch import fnmatch
from pathlib import Path
from typing import Any

import torch
from torch import nn

from vpbench.errors import ChecksumError, MissingSourceError, VpbenchError
from vpbench.registry import Registry
from vpbench.sources.checksums import safe_torch_load
from vpbench.sources.lock import LOCK_FILENAME, pinned_sha256_for

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
    # Builds the module from the remapped state dict, for checkpoints whose shapes vary (pruned widths).
    state_builder: Callable[[Mapping[str, torch.Tensor]], nn.Module] | None = None


class CheckpointMismatchError(VpbenchError):
    """A verified checkpoint does not fit its family (keys, shapes, sparsity or bit-widths differ)."""


# Which layers a family's sparsity is measured over: (layer types, excluded module names).
SPARSITY_SCOPES: dict[str, tuple[tuple[type[nn.Module], ...], tuple[str, ...]]] = {
    "conv_linear": ((nn.Conv2d, nn.Linear), ()),
    "conv_except_stem": ((nn.Conv2d,), ("conv1",)),
}


MODELS: Registry[ModelFamily] = Registry("model family")
register_model = MODELS.register
get_model_family = MODELS.lookup


def default_state_dict(checkpoint: Any) -> Mapping[str, torch.Tensor]:
    """Return the state dict inside common checkpoint containers (plain, ``state_dict``, ``model``)."""
    if isinstance(checkpoint, Mapping):
        for key in ("state_dict", "model_state_dict", "model"):
            inner = checkpoint.get(key)
            if isinstance(inner, Mapping) and inner and all(isinstance(k, str) for k in inner):
                return inner
        return checkpoint
    raise TypeError(f"checkpoint is a {type(checkpoint).__name__}, not a mapping of tensors")


def load_family_weights(
    family: ModelFamily, path: str | Path, *, pinned_sha256: str | None = None
) -> nn.Module:
    """Build ``family`` and load its verified weights from ``path`` strictly, in eval mode.

    Where the registry publishes no checksum, ``pinned_sha256`` (or the first-seen hash in the lock file
    next to ``path``) is enforced instead. The measured sparsity / bit-widths must match the entry.
    """
    if family.weights is None:
        raise ValueError(f"model family {family.name!r} has no weight source")
    path = Path(path)
    if not path.is_file():
        raise MissingSourceError(
            f"weights for {family.name!r} not found at {path}. Expected file {family.weights.filename!r} "
            f"(sha256 {family.weights.sha256 or 'unpublished'}). {family.weights.instructions}".strip()
        )
    published = family.weights.sha256
    if pinned_sha256 and published and not pinned_sha256.lower().startswith(published.lower()):
        raise ChecksumError(
            f"sha256 mismatch for {path}: recorded {pinned_sha256}, but the registry publishes {published} "
            f"for {family.name}; nothing was loaded"
        )
    # a recorded full hash refines a published prefix (torchvision names carry only 8 hex digits)
    expected = pinned_sha256 or published or pinned_sha256_for(path.parent / LOCK_FILENAME, family.name)
    checkpoint = safe_torch_load(path, expected)
    state = dict(family.remap(checkpoint) if family.remap else default_state_dict(checkpoint))
    model = family.state_builder(state) if family.state_builder else family.builder()
    load_state_strict(model, state, family=family.name, source=str(path))
    model.eval()
    verify_compression(family, model)
    return model


def load_state_strict(model: nn.Module, state: Mapping[str, Any], *, family: str, source: str) -> None:
    """``load_state_dict(strict=True)``; a mismatch names the family and the first bad keys/shapes."""
    try:
        model.load_state_dict(dict(state), strict=True)
    except RuntimeError as exc:
        expected = model.state_dict()
        missing = [k for k in expected if k not in state]
        unexpected = [k for k in state if k not in expected]
        shapes = [
            f"{k}: checkpoint {tuple(state[k].shape)} vs model {tuple(v.shape)}"
            for k, v in expected.items()
            if k in state and isinstance(state[k], torch.Tensor) and state[k].shape != v.shape
        ]
        raise CheckpointMismatchError(
            f"checkpoint {source} does not fit model family {family!r} (wrong key layout or architecture): "
            f"{len(missing)} missing keys {missing[:5]}, {len(unexpected)} unexpected keys {unexpected[:5]}, "
            f"{len(shapes)} shape mismatches {shapes[:3]}"
        ) from exc


def measure_sparsity(model: nn.Module, scope: str = "conv_linear") -> float:
    """Fraction of exact zeros among the weights of the layers in ``scope`` (biases and norms excluded)."""
    layer_types, excluded = SPARSITY_SCOPES[scope]
    nonzero = total = 0
    with torch.no_grad():
        for name, module in model.named_modules():
            if isinstance(module, layer_types) and name not in excluded:
                nonzero += int(torch.count_nonzero(module.weight))
                total += module.weight.numel()
    return 1 - nonzero / total if total else 0.0


def measure_bits(model: nn.Module) -> dict[str, int]:
    """Bit-width of every active quantizer (a module with an ``nbits`` tensor and a step size)."""
    bits = {}
    for name, module in model.named_modules():
        nbits = getattr(module, "nbits", None)
        if isinstance(nbits, torch.Tensor) and getattr(module, "alpha", None) is not None:
            bits[name] = round(float(nbits.detach().max()))
    return bits


def verify_compression(family: ModelFamily, model: nn.Module) -> dict[str, Any]:
    """Measure sparsity / bit-widths and raise :class:`CheckpointMismatchError` if the entry disagrees."""
    measured: dict[str, Any] = {"parameters": sum(p.numel() for p in model.parameters())}
    if family.expected_sparsity is not None or "sparsity_scope" in family.extra:
        scope = family.extra.get("sparsity_scope", "conv_linear")
        sparsity = measure_sparsity(model, scope)
        measured.update(sparsity=sparsity, sparsity_scope=scope)
        low, high = family.extra.get("sparsity_range", (0.0, 1.0))  # sanity bounds when the level is unknown
        expected = family.expected_sparsity
        if (expected is not None and abs(sparsity - expected) > family.sparsity_tolerance) or not (
            low <= sparsity <= high
        ):
            raise CheckpointMismatchError(
                f"model family {family.name!r}: measured sparsity {sparsity:.4f} over {scope} does not match "
                f"the registry (expected {expected} ± {family.sparsity_tolerance}, "
                f"allowed range [{low}, {high}])"
            )
    bits = measure_bits(model)
    if bits:
        measured["bits"] = sorted(set(bits.values()))
    if family.expected_bits is not None:
        eight_bit = tuple(family.extra.get("eight_bit_modules", ()))  # fnmatch patterns of module names
        wrong = {
            name: b
            for name, b in bits.items()
            if b != (8 if any(fnmatch(name, pattern) for pattern in eight_bit) else family.expected_bits)
        }
        if wrong or not bits:
            raise CheckpointMismatchError(
                f"model family {family.name!r}: expected {family.expected_bits}-bit quantizers "
                f"(8-bit for {list(eight_bit)}), found {dict(list(wrong.items())[:5]) or 'no quantizers'}"
            )
    return measured
