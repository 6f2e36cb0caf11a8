"""Model registry: one :class:`ModelFamily` entry per checkpoint family, looked up by name.

Adding a family is one ``register_model(ModelFamily(...))`` call in one module; nothing else changes.
Loading always goes checksum → ``weights_only=True`` → key remap → ``load_state_dict(strict=True)`` →
assert the measured sparsity / bit-width the entry promises.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from fnmatch import fnmatch
from pathlib import Path
from typing import Any

import torch
from torch import nn

from vpbench.compression.pruning import measure_sparsity
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
    local_path: str | None = None  # a user's own file, verified where it lies (never copied or fetched)
    status: str = "public"
    instructions: str = ""


@dataclass(frozen=True)
class ModelFamily:
    """A loadable model: architecture builder, weight source, remap, preprocessing and expectations.

    ``kind`` is ``classifier`` (``num_classes`` logits, ImageNet-1k's 1000 by default) or ``clip``.
    ``technique`` names the publishers' compression (:mod:`vpbench.compression.techniques`);
    ``expected_sparsity`` / ``expected_bits`` are checked on every load, sparsity over ``sparsity_scope``
    (a key of ``vpbench.compression.pruning.PRUNABLE_SCOPES``) and within ``sparsity_range`` when the
    level is not published; ``eight_bit_modules`` are fnmatch patterns of quantizers kept at 8 bits.
    """

    name: str
    builder: Callable[[], nn.Module]
    weights: WeightSource | None
    mean: tuple[float, float, float] = IMAGENET_MEAN
    std: tuple[float, float, float] = IMAGENET_STD
    input_size: int = 224
    kind: str = "classifier"
    num_classes: int = 1000
    class_names: Callable[[], list[str]] | None = None  # None: ImageNet-1k names for 1000 outputs
    label: str = ""  # display name; empty: the family name
    remap: Callable[[Any], Mapping[str, torch.Tensor]] | None = None
    technique: str = "none"
    technique_kind: str | None = (
        None  # kind/label of a technique vpbench does not register (user checkpoints)
    )
    technique_label: str | None = None
    expected_sparsity: float | None = None  # fraction of zeros among prunable weights, if compressed
    sparsity_tolerance: float = 0.01
    sparsity_scope: str = "conv_linear"
    sparsity_range: tuple[float, float] = (0.0, 1.0)
    measure_sparsity_on_load: bool = False  # check sparsity_range even when no level is published
    expected_bits: int | None = None
    expected_value_bits: int | None = None  # bits implied by distinct weight values (plain quantized files)
    eight_bit_modules: tuple[str, ...] = ()
    dense_parent: str | None = None
    published_top1: float | None = None  # ImageNet-1k top-1 [%] as published
    published_top1_source: str = ""
    licence: str = ""
    description: str = ""
    # Builds the module from the remapped state dict, for checkpoints whose shapes vary (pruned widths).
    state_builder: Callable[[Mapping[str, torch.Tensor]], nn.Module] | None = None
    # Produces the weights file from several published files (e.g. a lottery ticket's weights and mask).
    assemble: Callable[[ModelFamily, Path, Path], Path] | None = None

    def source_class_names(self) -> list[str]:
        """Names of the model's output classes (ImageNet-1k for a 1000-way head, else numbered)."""
        if self.class_names is not None:
            return list(self.class_names())
        if self.num_classes == 1000:
            from vpbench.models.imagenet import imagenet_class_names

            return imagenet_class_names()
        return [f"class {i}" for i in range(self.num_classes)]

    @property
    def display_label(self) -> str:
        """How figures and tables name the family."""
        return self.label or self.name


class CheckpointMismatchError(VpbenchError):
    """A verified checkpoint does not fit its family (keys, shapes, sparsity or bit-widths differ)."""


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
    if family.expected_sparsity is not None or family.measure_sparsity_on_load:
        scope = family.sparsity_scope
        sparsity = measure_sparsity(model, scope)
        measured.update(sparsity=sparsity, sparsity_scope=scope)
        low, high = family.sparsity_range  # sanity bounds when the level is unknown
        expected = family.expected_sparsity
        if (expected is not None and abs(sparsity - expected) > family.sparsity_tolerance) or not (
            low <= sparsity <= high
        ):
            raise CheckpointMismatchError(
                f"model family {family.name!r}: measured sparsity {sparsity:.4f} over {scope} does not match "
                f"the declared {expected} ± {family.sparsity_tolerance} (allowed range [{low}, {high}])"
            )
    bits = measure_bits(model)
    if bits:
        measured["bits"] = sorted(set(bits.values()))
    if family.expected_bits is not None:
        eight_bit = family.eight_bit_modules
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
    if family.expected_value_bits is not None:
        value_bits = measure_value_bits(model)
        measured["value_bits"] = value_bits
        if value_bits > family.expected_value_bits:
            raise CheckpointMismatchError(
                f"model family {family.name!r}: the weights take up to 2^{value_bits} distinct values per "
                f"output channel ({value_bits} bits), more than the declared "
                f"{family.expected_value_bits}-bit quantization"
            )
    return measured


def measure_value_bits(model: nn.Module) -> int:
    """Bits needed for the distinct weight values per output channel, over Conv2d/Linear layers except the
    first and the last (which quantized models commonly keep at 8 bits)."""
    from vpbench.compression.pruning import prunable_layers
    from vpbench.compression.quantization import distinct_levels_per_channel

    layers = prunable_layers(model)
    inner = layers[1:-1] if len(layers) > 2 else layers
    levels = max((int(distinct_levels_per_channel(module.weight).max()) for _, module in inner), default=1)
    return max(1, math.ceil(math.log2(levels))) if levels > 1 else 1
