"""In-pipeline compression methods: each one validates its spec, compresses a model, rebuilds the module
structure a strict reload needs, says whether it needs calibration images, and describes the result.

Adding a method is one :class:`CompressionMethod` subclass registered with
:func:`register_compression_method` (here or in a plugin); the study schema, model cards, figures and
tables all ask the method, never its name.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from vpbench.compression.fake_quant import DEFAULT_PERCENTILE, OBSERVERS
from vpbench.compression.pruning import PRUNABLE_SCOPES, SCOPES, magnitude_prune, semi_structured_prune
from vpbench.compression.quantization import insert_fake_quant, quantize_model
from vpbench.compression.techniques import Technique, technique
from vpbench.errors import ConfigError
from vpbench.registry import Registry

Spec = dict[str, Any]


def unknown_keys(spec: Mapping[str, Any], allowed: tuple[str, ...]) -> None:
    """Refuse keys a method does not take, listing the ones it does."""
    extra = sorted(set(spec) - {"method", *allowed})
    if extra:
        raise ConfigError(
            f"unknown key(s) {', '.join(map(repr, extra))} for method {spec['method']!r}; "
            f"allowed keys: method, {', '.join(allowed)}"
        )


def choice(spec: Mapping[str, Any], key: str, allowed: tuple[str, ...], default: str) -> str:
    """A string option that must be one of ``allowed``."""
    value = spec.get(key, default)
    if value not in allowed:
        raise ConfigError(f"{key} is {value!r}; allowed values: {', '.join(allowed)}")
    return value


def integer(spec: Mapping[str, Any], key: str, default: int | None, low: int, high: int) -> int:
    """An integer option within [low, high]."""
    value = spec.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ConfigError(f"{key} must be an integer in {low}..{high}, got {value!r}")
    return value


def fraction(spec: Mapping[str, Any], key: str) -> float:
    """A number in the open interval (0, 1)."""
    value = spec.get(key)
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0.0 < value < 1.0:
        raise ConfigError(f"{key} must be a number in the open interval (0, 1), got {value!r}")
    return float(value)


@dataclass(frozen=True)
class CompressionMethod:
    """One way to compress a model inside the pipeline (subclasses implement the hooks)."""

    name: str
    description: str
    example: Mapping[str, Any] = field(default_factory=dict)  # a valid spec (minus "method"): docs, tests

    @property
    def technique(self) -> Technique:
        """Label, kind and structure of what this method produces."""
        return technique(self.name)

    def validate(self, spec: Mapping[str, Any]) -> Spec:
        """The spec normalised (defaults filled, types checked); ConfigError names the bad key."""
        raise NotImplementedError

    def apply(self, model: nn.Module, spec: Spec, calibration: torch.Tensor | None) -> nn.Module:
        """Compress ``model`` in place and return it."""
        raise NotImplementedError

    def prepare(self, model: nn.Module, spec: Spec) -> nn.Module:
        """Rebuild the module structure a saved variant needs for a strict load (default: unchanged)."""
        del spec
        return model

    def calibration_images(self, spec: Spec) -> int:
        """How many calibration images :meth:`apply` needs (0: none)."""
        del spec
        return 0

    def card_fields(self, spec: Spec) -> dict[str, Any]:
        """Axis, level, label, ``recovery_finetuned`` and a note for the model card."""
        raise NotImplementedError


@dataclass(frozen=True)
class MagnitudePruning(CompressionMethod):
    """One-shot unstructured L1 magnitude pruning (global or per layer), no recovery fine-tuning."""

    def validate(self, spec: Mapping[str, Any]) -> Spec:
        unknown_keys(spec, ("sparsity", "scope", "prunable"))
        return {
            "method": self.name,
            "sparsity": fraction(spec, "sparsity"),
            "scope": choice(spec, "scope", SCOPES, "global"),
            "prunable": choice(spec, "prunable", tuple(PRUNABLE_SCOPES), "conv_linear"),
        }

    def apply(self, model: nn.Module, spec: Spec, calibration: torch.Tensor | None) -> nn.Module:
        return magnitude_prune(
            model, spec["sparsity"], spec["scope"], PRUNABLE_SCOPES[spec["prunable"]](model)
        )

    def card_fields(self, spec: Spec) -> dict[str, Any]:
        level = spec["sparsity"]
        return {
            "compression_axis": "sparsity", "compression_level": level,
            "compression_label": f"{level * 100:g}% sparse", "recovery_finetuned": False,
            "note": f"one-shot {spec['scope']} magnitude pruning without ImageNet recovery fine-tuning; "
            "not equivalent to a GMP-trained model (Zhu & Gupta cubic schedule with fine-tuning)",
        }  # fmt: skip


@dataclass(frozen=True)
class SemiStructuredPruning(CompressionMethod):
    """One-shot N:M magnitude pruning along the input dimension, no recovery fine-tuning."""

    def validate(self, spec: Mapping[str, Any]) -> Spec:
        unknown_keys(spec, ("n", "m", "prunable"))
        m = integer(spec, "m", 4, 2, 64)
        n = integer(spec, "n", 2, 1, m - 1)
        prunable = choice(spec, "prunable", tuple(PRUNABLE_SCOPES), "conv_linear")
        return {"method": self.name, "n": n, "m": m, "prunable": prunable}

    def apply(self, model: nn.Module, spec: Spec, calibration: torch.Tensor | None) -> nn.Module:
        include = PRUNABLE_SCOPES[spec["prunable"]](model)
        return semi_structured_prune(model, spec["n"], spec["m"], include)[0]

    def card_fields(self, spec: Spec) -> dict[str, Any]:
        return {
            "compression_axis": "sparsity", "compression_level": 1.0 - spec["n"] / spec["m"],
            "compression_label": f"{spec['n']}:{spec['m']} sparse", "recovery_finetuned": False,
            "note": "one-shot N:M magnitude pruning without ImageNet recovery fine-tuning",
        }  # fmt: skip


@dataclass(frozen=True)
class FakeQuantization(CompressionMethod):
    """Post-training fake quantization: per-channel symmetric weights, calibrated per-tensor inputs."""

    def validate(self, spec: Mapping[str, Any]) -> Spec:
        allowed = (
            "weight_bits",
            "act_bits",
            "calibration_images",
            "observer",
            "percentile",
            "skip_first_last",
        )
        unknown_keys(spec, allowed)
        bits = {key: None if spec.get(key) is None else integer(spec, key, None, 2, 8)
                for key in ("weight_bits", "act_bits")}  # fmt: skip
        if bits["weight_bits"] is None and bits["act_bits"] is None:
            raise ConfigError("weight_bits and act_bits are both missing/None; set at least one (2..8)")
        percentile = spec.get("percentile", DEFAULT_PERCENTILE)
        if (
            isinstance(percentile, bool)
            or not isinstance(percentile, int | float)
            or not 50 < percentile <= 100
        ):
            raise ConfigError(f"percentile must be a number in (50, 100], got {percentile!r}")
        skip_first_last = spec.get("skip_first_last", False)
        if not isinstance(skip_first_last, bool):
            raise ConfigError(f"skip_first_last must be true or false, got {skip_first_last!r}")
        return {
            "method": self.name,
            **bits,
            "calibration_images": integer(spec, "calibration_images", 64, 1, 100_000),
            "observer": choice(spec, "observer", OBSERVERS, "minmax"),
            "percentile": float(percentile),
            "skip_first_last": skip_first_last,
        }

    def calibration_images(self, spec: Spec) -> int:
        return spec["calibration_images"] if spec["act_bits"] is not None else 0

    def apply(self, model: nn.Module, spec: Spec, calibration: torch.Tensor | None) -> nn.Module:
        images = None
        wanted = self.calibration_images(spec)
        if wanted:
            got = 0 if calibration is None else len(calibration)
            if got < wanted:
                raise ConfigError(f"calibration_images is {wanted} but {got} calibration images were given")
            images = calibration[:wanted]
        return quantize_model(
            model, spec["weight_bits"], spec["act_bits"], images,
            skip_first_last=spec["skip_first_last"], observer=spec["observer"], percentile=spec["percentile"],
        )  # fmt: skip

    def prepare(self, model: nn.Module, spec: Spec) -> nn.Module:
        return insert_fake_quant(model, spec["weight_bits"], spec["act_bits"], spec["skip_first_last"])

    def card_fields(self, spec: Spec) -> dict[str, Any]:
        w_bits, a_bits = spec["weight_bits"] or 32, spec["act_bits"] or 32
        return {
            "compression_axis": "weight_bits", "compression_level": float(w_bits),
            "compression_label": f"W{w_bits}A{a_bits}", "recovery_finetuned": False,
            "note": "post-training fake quantization (calibrated activation ranges), no quantization-aware "
            "training, unlike VVTQ",
        }  # fmt: skip


COMPRESSION_METHODS: Registry[CompressionMethod] = Registry("compression method")
register_compression_method = COMPRESSION_METHODS.register


def get_compression_method(name: Any) -> CompressionMethod:
    """The method called ``name``; a ConfigError lists the registered methods otherwise."""
    return COMPRESSION_METHODS.lookup(str(name) if name is not None else "<missing 'method' key>")


register_compression_method(
    MagnitudePruning("magnitude", MagnitudePruning.__doc__ or "", example={"sparsity": 0.5})
)
register_compression_method(
    SemiStructuredPruning("semi_structured", SemiStructuredPruning.__doc__ or "", example={"n": 2, "m": 4})
)
register_compression_method(
    FakeQuantization(
        "fake_quant",
        FakeQuantization.__doc__ or "",
        example={"weight_bits": 4, "act_bits": 8, "calibration_images": 4},
    )
)
