"""Model variants on disk: materialise one (registry weights, optionally compressed in the pipeline)
and load it back exactly, so every later step treats a compressed variant like a downloaded one."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

from vpbench.errors import ChecksumError
from vpbench.models import get_model_family, load_family_weights
from vpbench.runtime import atomic_io
from vpbench.sources.checksums import verify_sha256


def calibration_images(count: int, size: int, mean: Any, std: Any, seed: int = 0) -> torch.Tensor:
    """``count`` normalised random crops of the sample photos matplotlib and scikit-learn ship.

    Used to calibrate activation ranges of fake-quantized variants independently of any target task.
    """
    from vpbench.compression import sample_photos

    photos = sample_photos(size=2 * size, mean=(0.0, 0.0, 0.0), std=(1.0, 1.0, 1.0))
    generator = torch.Generator().manual_seed(seed)
    crops = []
    for _ in range(count):
        photo = photos[int(torch.randint(len(photos), (1,), generator=generator))]
        top, left = (int(v) for v in torch.randint(photo.shape[-1] - size + 1, (2,), generator=generator))
        crops.append(photo[:, top : top + size, left : left + size])
    batch = torch.stack(crops)
    mean_t = torch.tensor(mean).view(1, 3, 1, 1)
    std_t = torch.tensor(std).view(1, 3, 1, 1)
    return (batch - mean_t) / std_t


def variant_sha256(card: Mapping[str, Any]) -> str:
    """The checksum that identifies a variant's weights: the tensors of a materialised ``model.pt``
    (stable across rebuilds), else the source file's sha256."""
    return str(card.get("state_sha256") or card.get("model_sha256") or card["weights_sha256"])


def _technique_fields(family: Any, compress: Mapping[str, Any] | None) -> dict[str, Any]:
    """Technique name, kind and structure of a variant (in-pipeline method, else the family's)."""
    from vpbench.compression.techniques import technique

    if compress:
        found = technique(compress["method"])
    else:
        found = technique(family.technique, family.technique_kind, family.technique_label)
    return {
        "technique": found.name,
        "technique_label": found.label,
        "compression_kind": found.kind,
        "compression_structure": found.structure,
    }


def materialize_variant(
    *,
    model: str,
    variant: str,
    spec: Mapping[str, Any],
    weights_path: Path,
    out_dir: Path,
    canvas: int,
) -> dict[str, Any]:
    """Write ``card.json`` (and ``model.pt`` for in-pipeline compression) for one study variant.

    ``spec`` holds ``family`` and, for in-pipeline compression, ``compress`` (a normalised spec).
    """
    from vpbench.compression import apply_compression, model_card, save_variant
    from vpbench.compression.methods import get_compression_method

    family = get_model_family(spec["family"])
    try:
        weights_sha256 = verify_sha256(weights_path, family.weights.sha256 if family.weights else None)
        net = load_family_weights(family, weights_path, pinned_sha256=weights_sha256)
    except ChecksumError as error:
        from vpbench.models.acquire import quarantine_corrupt_weights

        note = quarantine_corrupt_weights(family.name, weights_path, None)
        raise ChecksumError(f"{error}; {note}" if note else str(error)) from None
    compress = dict(spec["compress"]) if spec.get("compress") else None
    base = {
        "model": model,
        "variant": variant,
        "family": family.name,
        "family_label": family.display_label,
        "published_top1": None if compress else family.published_top1,
        "published_top1_source": "" if compress else family.published_top1_source,
        **_technique_fields(family, compress),
        "weights_path": str(weights_path),
        "weights_sha256": weights_sha256,
        "spec": dict(spec),
    }
    if compress is None:
        card = model_card(
            net, family=family.name, variant=variant, spec=dict(spec), input_size=canvas,
            source=str(weights_path), checksum=weights_sha256,
        )  # fmt: skip
        card.update(base)
        if family.technique_label:  # what the user declared their checkpoint to be
            card["compression_label"] = family.technique_label
        atomic_io.write_json(out_dir / "card.json", card)
        return card
    method = get_compression_method(compress["method"])
    calibration = None
    if count := method.calibration_images(compress):
        calibration = calibration_images(count, canvas, family.mean, family.std)
    compressed = apply_compression(net, compress, calibration)
    card = model_card(
        compressed, family=family.name, variant=variant, spec=compress, input_size=canvas,
        source=f"{weights_path} + in-pipeline {compress['method']}", checksum=None,
    )  # fmt: skip
    card.update(base)
    save_variant(compressed, out_dir, card)
    return card


def load_variant_model(variant_dir: Path) -> tuple[nn.Module, dict[str, Any]]:
    """Rebuild a materialised variant (checksums verified, strict load) in eval mode, with its card."""
    import json

    from vpbench.compression import load_variant

    card = json.loads((Path(variant_dir) / "card.json").read_text())
    family = get_model_family(card["family"])
    weights_path = Path(card["weights_path"])
    if card["spec"].get("compress"):
        net = load_variant(family.builder(), card["spec"]["compress"], Path(variant_dir))
    else:
        # one hash of the file per load: the card's full sha256 refines the registry's (prefix) checksum
        net = load_family_weights(family, weights_path, pinned_sha256=card["weights_sha256"])
    net.eval().requires_grad_(False)
    return net, card


def recover_corrupt_variant(variant_dir: Path, error: Exception, *, allow_network: bool = True) -> str:
    """After a checksum failure while loading a variant, drop what the workflow can rebuild (the card;
    a corrupt acquired weights file is moved aside with its acquisition record) and return a message
    saying what happened and what the user must do."""
    import json

    card_path = Path(variant_dir) / "card.json"
    try:
        card = json.loads(card_path.read_text())
    except (OSError, ValueError):
        card = {}
    card_path.unlink(missing_ok=True)
    message = f"{error} The variant's card was removed"
    if card.get("weights_path") and card.get("family"):
        from vpbench.models.acquire import quarantine_corrupt_weights

        note = quarantine_corrupt_weights(
            card["family"], card["weights_path"], card.get("weights_sha256"), allow_network=allow_network
        )
        if note:
            return f"{message}; {note}."
    return f"{message}; rerun to rebuild {variant_dir}."
