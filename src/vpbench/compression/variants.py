"""Compression method registry, spec validation, and saving / loading a compressed variant exactly.

A spec is a flat mapping ``{"method": name, **params}``. Adding a method is one :class:`CompressionMethod`
entry here plus the module that implements it. A variant on disk is ``model.pt`` (plain state dict) and
``card.json`` (written last, holding ``model_sha256``), so an interrupted save never looks complete.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from vpbench.compression.fake_quant import DEFAULT_PERCENTILE, OBSERVERS
from vpbench.compression.pruning import PRUNABLE_SCOPES, SCOPES, magnitude_prune, semi_structured_prune
from vpbench.compression.quantization import insert_fake_quant, quantize_model
from vpbench.errors import ChecksumError, ConfigError, MissingSourceError
from vpbench.runtime import atomic_io
from vpbench.sources.checksums import safe_torch_load, sha256_file

MODEL_FILE = "model.pt"
CARD_FILE = "card.json"

Spec = dict[str, Any]


@dataclass(frozen=True)
class CompressionMethod:
    """One way to compress a model: validate its parameters, apply it, and rebuild its module structure."""

    validate: Callable[[Mapping[str, Any]], Spec]
    apply: Callable[[nn.Module, Spec, torch.Tensor | None], nn.Module]
    prepare: Callable[[nn.Module, Spec], nn.Module]
    description: str


def _unknown_keys(spec: Mapping[str, Any], allowed: tuple[str, ...]) -> None:
    extra = sorted(set(spec) - {"method", *allowed})
    if extra:
        raise ConfigError(
            f"unknown key(s) {', '.join(map(repr, extra))} for method {spec['method']!r}; "
            f"allowed keys: method, {', '.join(allowed)}"
        )


def _choice(spec: Mapping[str, Any], key: str, allowed: tuple[str, ...], default: str) -> str:
    value = spec.get(key, default)
    if value not in allowed:
        raise ConfigError(f"{key} is {value!r}; allowed values: {', '.join(allowed)}")
    return value


def _integer(spec: Mapping[str, Any], key: str, default: int | None, low: int, high: int) -> int:
    value = spec.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ConfigError(f"{key} must be an integer in {low}..{high}, got {value!r}")
    return value


def _bits(spec: Mapping[str, Any], key: str) -> int | None:
    value = spec.get(key)
    if value is None:
        return None
    return _integer(spec, key, None, 2, 8)


def _validate_none(spec: Mapping[str, Any]) -> Spec:
    _unknown_keys(spec, ())
    return {"method": "none"}


def _validate_magnitude(spec: Mapping[str, Any]) -> Spec:
    _unknown_keys(spec, ("sparsity", "scope", "prunable"))
    sparsity = spec.get("sparsity")
    if isinstance(sparsity, bool) or not isinstance(sparsity, (int, float)) or not 0.0 < sparsity < 1.0:
        raise ConfigError(f"sparsity must be a number in the open interval (0, 1), got {sparsity!r}")
    return {
        "method": "magnitude",
        "sparsity": float(sparsity),
        "scope": _choice(spec, "scope", SCOPES, "global"),
        "prunable": _choice(spec, "prunable", tuple(PRUNABLE_SCOPES), "conv_linear"),
    }


def _validate_semi_structured(spec: Mapping[str, Any]) -> Spec:
    _unknown_keys(spec, ("n", "m", "prunable"))
    m = _integer(spec, "m", 4, 2, 64)
    n = _integer(spec, "n", 2, 1, m - 1)
    prunable = _choice(spec, "prunable", tuple(PRUNABLE_SCOPES), "conv_linear")
    return {"method": "semi_structured", "n": n, "m": m, "prunable": prunable}


def _validate_fake_quant(spec: Mapping[str, Any]) -> Spec:
    allowed = ("weight_bits", "act_bits", "calibration_images", "observer", "percentile", "skip_first_last")
    _unknown_keys(spec, allowed)
    weight_bits, act_bits = _bits(spec, "weight_bits"), _bits(spec, "act_bits")
    if weight_bits is None and act_bits is None:
        raise ConfigError("weight_bits and act_bits are both missing/None; set at least one (2..8)")
    percentile = spec.get("percentile", DEFAULT_PERCENTILE)
    if isinstance(percentile, bool) or not isinstance(percentile, (int, float)) or not 50 < percentile <= 100:
        raise ConfigError(f"percentile must be a number in (50, 100], got {percentile!r}")
    skip_first_last = spec.get("skip_first_last", False)
    if not isinstance(skip_first_last, bool):
        raise ConfigError(f"skip_first_last must be true or false, got {skip_first_last!r}")
    return {
        "method": "fake_quant",
        "weight_bits": weight_bits,
        "act_bits": act_bits,
        "calibration_images": _integer(spec, "calibration_images", 64, 1, 100_000),
        "observer": _choice(spec, "observer", OBSERVERS, "minmax"),
        "percentile": float(percentile),
        "skip_first_last": skip_first_last,
    }


def _apply_none(model: nn.Module, spec: Spec, calibration: torch.Tensor | None) -> nn.Module:
    return model


def _apply_magnitude(model: nn.Module, spec: Spec, calibration: torch.Tensor | None) -> nn.Module:
    include = PRUNABLE_SCOPES[spec["prunable"]](model)
    return magnitude_prune(model, spec["sparsity"], spec["scope"], include)


def _apply_semi_structured(model: nn.Module, spec: Spec, calibration: torch.Tensor | None) -> nn.Module:
    include = PRUNABLE_SCOPES[spec["prunable"]](model)
    return semi_structured_prune(model, spec["n"], spec["m"], include)[0]


def _apply_fake_quant(model: nn.Module, spec: Spec, calibration: torch.Tensor | None) -> nn.Module:
    images = None
    if spec["act_bits"] is not None:
        wanted = spec["calibration_images"]
        if calibration is None or len(calibration) < wanted:
            got = 0 if calibration is None else len(calibration)
            raise ConfigError(f"calibration_images is {wanted} but {got} calibration images were given")
        images = calibration[:wanted]
    return quantize_model(
        model, spec["weight_bits"], spec["act_bits"], images,
        skip_first_last=spec["skip_first_last"], observer=spec["observer"], percentile=spec["percentile"],
    )  # fmt: skip


def _same_structure(model: nn.Module, spec: Spec) -> nn.Module:
    return model


def _prepare_fake_quant(model: nn.Module, spec: Spec) -> nn.Module:
    return insert_fake_quant(model, spec["weight_bits"], spec["act_bits"], spec["skip_first_last"])


COMPRESSION_METHODS: dict[str, CompressionMethod] = {
    "none": CompressionMethod(_validate_none, _apply_none, _same_structure, "the model as loaded"),
    "magnitude": CompressionMethod(
        _validate_magnitude,
        _apply_magnitude,
        _same_structure,
        "one-shot unstructured L1 magnitude pruning (global or per layer), no recovery fine-tuning",
    ),
    "semi_structured": CompressionMethod(
        _validate_semi_structured,
        _apply_semi_structured,
        _same_structure,
        "one-shot N:M magnitude pruning along the input dimension, no recovery fine-tuning",
    ),
    "fake_quant": CompressionMethod(
        _validate_fake_quant,
        _apply_fake_quant,
        _prepare_fake_quant,
        "post-training fake quantization: per-channel symmetric weights, calibrated per-tensor inputs",
    ),
}


def validate_spec(spec: Mapping[str, Any]) -> Spec:
    """Check a compression spec and return it normalised (defaults filled in, numbers typed).

    Raises :class:`ConfigError` naming the bad key and its allowed values or range.
    """
    if not isinstance(spec, Mapping):
        raise ConfigError(f"a compression spec must be a mapping with a 'method' key, got {spec!r}")
    method = spec.get("method")
    if method not in COMPRESSION_METHODS:
        raise ConfigError(f"method is {method!r}; allowed values: {', '.join(sorted(COMPRESSION_METHODS))}")
    return COMPRESSION_METHODS[method].validate(spec)


def apply_compression(
    model: nn.Module, spec: Mapping[str, Any], calibration: torch.Tensor | None = None
) -> nn.Module:
    """Compress ``model`` in place as ``spec`` says and return it (calibration images: normalised N×3×H×W)."""
    normalised = validate_spec(spec)
    return COMPRESSION_METHODS[normalised["method"]].apply(model, normalised, calibration)


def prepare_structure(model: nn.Module, spec: Mapping[str, Any]) -> nn.Module:
    """Rebuild, in place, the module structure a saved variant of ``spec`` needs for a strict load."""
    normalised = validate_spec(spec)
    return COMPRESSION_METHODS[normalised["method"]].prepare(model, normalised)


def save_variant(model: nn.Module, out_dir: str | Path, card: Mapping[str, Any]) -> dict[str, Any]:
    """Write ``model.pt`` (plain state dict) then ``card.json`` with its sha256; returns the written card."""
    out_dir = Path(out_dir)
    state = {key: tensor.detach().cpu() for key, tensor in model.state_dict().items()}
    atomic_io.save_torch(out_dir / MODEL_FILE, state)
    written = {**card, "model_file": MODEL_FILE, "model_sha256": sha256_file(out_dir / MODEL_FILE)}
    atomic_io.write_json(out_dir / CARD_FILE, written)
    return written


def read_card(variant_dir: str | Path) -> dict[str, Any]:
    """The ``card.json`` of a saved variant, or :class:`MissingSourceError` naming the expected file."""
    path = Path(variant_dir) / CARD_FILE
    if not path.is_file():
        raise MissingSourceError(f"variant card not found: {path} (write the variant with save_variant)")
    return json.loads(path.read_text(encoding="utf-8"))


def load_variant(base_model: nn.Module, spec: Mapping[str, Any], variant_dir: str | Path) -> nn.Module:
    """Load a saved variant into ``base_model`` (modified in place): sha256 check, structure, strict, eval.

    ``base_model`` is the freshly built architecture of the variant's family; its weights are replaced.
    """
    normalised = validate_spec(spec)
    card = read_card(variant_dir)
    expected = card.get("model_sha256")
    if not expected:
        raise ChecksumError(f"{Path(variant_dir) / CARD_FILE} has no model_sha256; re-create the variant")
    saved_spec = card.get("compression_spec")
    if saved_spec is not None and saved_spec != normalised:
        raise ConfigError(
            f"spec {normalised} differs from the spec the variant in {variant_dir} was built with: "
            f"{saved_spec}"
        )
    state = safe_torch_load(Path(variant_dir) / MODEL_FILE, expected)
    model = prepare_structure(base_model, normalised)
    model.load_state_dict(state, strict=True)
    return model.eval()
