"""A user's own checkpoint, declared in a study, becomes a model family like any registry entry.

Declaration (a variant's ``checkpoint:`` key; docs/own_model.md walks through it)::

    checkpoint:
      architecture: torchvision:mobilenet_v2      # or timm:<name>
      path: checkpoints/mobilenet_v2_pruned70.pth
      sha256: <64 hex digits>
      compression: {kind: sparse, sparsity: 0.7, method: torch_prune, label: "70% (torch prune)"}

Preprocessing (mean, std, input size) comes from the architecture's published metadata (timm's
``pretrained_cfg``, torchvision's weight enum) unless the declaration overrides it. Loading is the
registry's: sha256 first, ``weights_only=True``, containers unwrapped, strict, then the measured sparsity
or bit-width checked against the declaration.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping
from functools import partial
from pathlib import Path
from typing import Any

from torch import nn

from vpbench.errors import ConfigError
from vpbench.models.registry import MODELS, ModelFamily, WeightSource, register_model

ARCHITECTURE_SOURCES = ("torchvision", "timm")
KINDS = ("dense", "sparse", "quantized", "structured")
_ALLOWED = {"architecture", "path", "sha256", "compression", "num_classes", "class_names", "mean", "std",
            "input_size", "sparsity_scope", "label"}  # fmt: skip
_COMPRESSION_KEYS = {"kind", "sparsity", "weight_bits", "method", "label", "tolerance"}


def _build(source: str, name: str, num_classes: int) -> nn.Module:
    if source == "torchvision":
        import torchvision

        return torchvision.models.get_model(name, weights=None, num_classes=num_classes)
    import timm

    return timm.create_model(name, pretrained=False, num_classes=num_classes)


def architecture_metadata(architecture: str) -> dict[str, Any]:
    """Published preprocessing of ``source:name``: mean, std, input size (no download)."""
    source, name = parse_architecture(architecture)
    if source == "timm":
        import timm

        if name not in timm.list_models():
            raise ConfigError(f"timm has no architecture {name!r} (timm.list_models() lists them)")
        config = timm.models.get_pretrained_cfg(name)
        if config is None:
            return {}
        return {
            "mean": tuple(config.mean),
            "std": tuple(config.std),
            "input_size": int(config.input_size[-1]),
        }
    import torchvision

    if name not in torchvision.models.list_models():
        raise ConfigError(f"torchvision has no architecture {name!r} (torchvision.models.list_models())")
    try:
        weights = torchvision.models.get_model_weights(name).DEFAULT
    except (ValueError, AttributeError):
        return {}
    transforms = weights.transforms()
    return {
        "mean": tuple(transforms.mean),
        "std": tuple(transforms.std),
        "input_size": int(transforms.crop_size[0]),
    }


def parse_architecture(architecture: Any) -> tuple[str, str]:
    """``"torchvision:resnet50"`` → ("torchvision", "resnet50"); ConfigError names the allowed sources."""
    if not isinstance(architecture, str) or ":" not in architecture:
        raise ConfigError(
            f"architecture {architecture!r} must read '<source>:<name>' with source one of "
            f"{', '.join(ARCHITECTURE_SOURCES)} (e.g. torchvision:resnet50, timm:deit_tiny_patch16_224)"
        )
    source, name = architecture.split(":", 1)
    if source not in ARCHITECTURE_SOURCES:
        raise ConfigError(f"architecture source {source!r}; allowed: {', '.join(ARCHITECTURE_SOURCES)}")
    return source, name


def _compression(declared: Mapping[str, Any], where: str) -> dict[str, Any]:
    unknown = sorted(set(declared) - _COMPRESSION_KEYS)
    if unknown:
        raise ConfigError(
            f"{where}.compression: unknown key(s) {unknown}; allowed: {sorted(_COMPRESSION_KEYS)}"
        )
    kind = declared.get("kind", "dense")
    if kind not in KINDS:
        raise ConfigError(f"{where}.compression.kind: {kind!r}; allowed: {', '.join(KINDS)}")
    sparsity, bits = declared.get("sparsity"), declared.get("weight_bits")
    if kind == "sparse" and not (isinstance(sparsity, int | float) and 0 < sparsity < 1):
        raise ConfigError(
            f"{where}.compression.sparsity: a sparse checkpoint declares its sparsity in (0, 1)"
        )
    if kind == "quantized" and not (isinstance(bits, int) and 1 <= bits <= 16):
        raise ConfigError(
            f"{where}.compression.weight_bits: a quantized checkpoint declares its bits (1..16)"
        )
    return dict(declared)


def _class_names(path: str | None, count: int) -> Callable[[], list[str]] | None:
    if path is None:
        return None
    return partial(_read_class_names, path, count)


def _read_class_names(path: str, count: int) -> list[str]:
    names = [line.strip() for line in Path(path).read_text(encoding="utf-8").splitlines() if line.strip()]
    if len(names) != count:
        raise ConfigError(f"class-name file {path} lists {len(names)} names for {count} outputs")
    return names


def checkpoint_family_name(declaration: Mapping[str, Any]) -> str:
    """A stable family name keyed by the declaration's content (architecture and checksum readable)."""
    canonical = json.dumps(dict(declaration), sort_keys=True, default=str)
    _, name = parse_architecture(declaration.get("architecture"))
    return f"user_{name.replace('.', '_')}_{hashlib.sha256(canonical.encode()).hexdigest()[:10]}"


def checkpoint_family(declaration: Mapping[str, Any], where: str = "checkpoint") -> ModelFamily:
    """The model family a checkpoint declaration describes (validated; nothing is read from disk)."""
    declaration = {k: (dict(v) if isinstance(v, Mapping) else v) for k, v in declaration.items()}
    unknown = sorted(set(declaration) - _ALLOWED)
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {unknown}; allowed: {sorted(_ALLOWED)}")
    for key in ("architecture", "path", "sha256"):
        if not declaration.get(key):
            raise ConfigError(f"{where}: '{key}' is required (architecture, path and sha256 of the file)")
    sha = str(declaration["sha256"]).lower()
    if len(sha) != 64 or any(c not in "0123456789abcdef" for c in sha):
        raise ConfigError(f"{where}.sha256: {declaration['sha256']!r} is not a 64-digit hex sha256")
    source, name = parse_architecture(declaration["architecture"])
    try:
        metadata = architecture_metadata(declaration["architecture"])
    except ConfigError as error:
        raise ConfigError(f"{where}.architecture: {error}") from None
    compression = _compression(declaration.get("compression") or {}, where)
    num_classes = int(declaration.get("num_classes", 1000))
    if num_classes != 1000 and not declaration.get("class_names"):
        raise ConfigError(
            f"{where}: a {num_classes}-class head needs class_names (a text file, one per line)"
        )
    kind = compression.get("kind", "dense")
    path = str(declaration["path"])
    return ModelFamily(
        name=checkpoint_family_name(declaration),
        builder=partial(_build, source, name, num_classes),
        weights=WeightSource(
            Path(path).name, sha256=sha, local_path=path, instructions=f"declared in the study at {where}"
        ),
        mean=tuple(declaration.get("mean") or metadata.get("mean") or (0.485, 0.456, 0.406)),
        std=tuple(declaration.get("std") or metadata.get("std") or (0.229, 0.224, 0.225)),
        input_size=int(declaration.get("input_size") or metadata.get("input_size") or 224),
        num_classes=num_classes,
        class_names=_class_names(declaration.get("class_names"), num_classes),
        label=str(declaration.get("label") or name),
        technique=str(compression.get("method") or ("none" if kind == "dense" else f"user_{kind}")),
        technique_kind=kind,
        technique_label=compression.get("label"),
        expected_sparsity=float(compression["sparsity"])
        if kind == "sparse"
        else (0.0 if kind == "dense" else None),
        sparsity_tolerance=float(compression.get("tolerance", 0.01)),
        sparsity_scope=str(declaration.get("sparsity_scope", "conv_linear")),
        expected_value_bits=int(compression["weight_bits"]) if kind == "quantized" else None,
        description=f"user checkpoint {path} ({declaration['architecture']})",
    )


def register_checkpoint(declaration: Mapping[str, Any], where: str = "checkpoint") -> str:
    """Register (once) the family of a checkpoint declaration and return its name."""
    family = checkpoint_family(declaration, where)
    if family.name not in MODELS:
        register_model(family)
    return family.name
