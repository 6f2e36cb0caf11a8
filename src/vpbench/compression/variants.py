"""Saving and loading a compressed variant exactly, with its spec checked by its compression method.

A spec is a flat mapping ``{"method": name, **params}`` (methods: :mod:`vpbench.compression.methods`).
A variant on disk is ``model.pt`` (plain state dict) and ``card.json`` (written last, holding
``model_sha256``), so an interrupted save never looks complete.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

from vpbench.compression.methods import Spec, get_compression_method
from vpbench.errors import ChecksumError, ConfigError, MissingSourceError
from vpbench.runtime import atomic_io
from vpbench.sources.checksums import safe_torch_load, sha256_file

MODEL_FILE = "model.pt"
CARD_FILE = "card.json"


def validate_spec(spec: Mapping[str, Any]) -> Spec:
    """Check a compression spec and return it normalised (defaults filled in, numbers typed).

    Raises :class:`ConfigError` naming the bad key and its allowed values or range.
    """
    if not isinstance(spec, Mapping):
        raise ConfigError(f"a compression spec must be a mapping with a 'method' key, got {spec!r}")
    return get_compression_method(spec.get("method")).validate(spec)


def apply_compression(
    model: nn.Module, spec: Mapping[str, Any], calibration: torch.Tensor | None = None
) -> nn.Module:
    """Compress ``model`` in place as ``spec`` says and return it (calibration images: normalised N×3×H×W)."""
    normalised = validate_spec(spec)
    return get_compression_method(normalised["method"]).apply(model, normalised, calibration)


def prepare_structure(model: nn.Module, spec: Mapping[str, Any]) -> nn.Module:
    """Rebuild, in place, the module structure a saved variant of ``spec`` needs for a strict load."""
    normalised = validate_spec(spec)
    return get_compression_method(normalised["method"]).prepare(model, normalised)


def state_digest(state: Mapping[str, torch.Tensor]) -> str:
    """sha256 over a state dict's names, dtypes, shapes and values: the weights' identity.

    ``torch.save`` stamps every file with a random id, so a rebuilt ``model.pt`` never has the same file
    hash; this digest is the same whenever the tensors are, which is what a cell's key must depend on.
    """
    import hashlib

    digest = hashlib.sha256()
    for key in sorted(state):
        tensor = state[key].detach().cpu().contiguous()
        digest.update(f"{key}|{tensor.dtype}|{tuple(tensor.shape)}|".encode())
        digest.update(tensor.reshape(-1).view(torch.uint8).numpy().tobytes() if tensor.numel() else b"")
    return digest.hexdigest()


def save_variant(model: nn.Module, out_dir: str | Path, card: Mapping[str, Any]) -> dict[str, Any]:
    """Write ``model.pt`` (plain state dict) then ``card.json`` with its sha256; returns the written card."""
    out_dir = Path(out_dir)
    state = {key: tensor.detach().cpu() for key, tensor in model.state_dict().items()}
    atomic_io.save_torch(out_dir / MODEL_FILE, state)
    written = {
        **card,
        "model_file": MODEL_FILE,
        "model_sha256": sha256_file(out_dir / MODEL_FILE),
        "state_sha256": state_digest(state),
    }
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
