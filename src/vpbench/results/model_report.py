"""The study's model table: one row per variant from its card, plus an offline sanity check against
the dense parent (top-5 agreement on the sample photos that matplotlib and scikit-learn ship), and every
variant's ImageNet-1k top-1 — as published for its checkpoint and, where the study measures it, measured
(``imagenet_top1.json`` beside the card)."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd
import torch

from vpbench.compression import sample_photos, sanity_top5_agreement
from vpbench.compression.variant_store import load_variant_model
from vpbench.models import get_model_family

MEASURED_TOP1 = "imagenet_top1.json"  # written beside card.json when the study sets paths.imagenet_val
# Machine column → report header (the CSV keeps the machine names; figures read it).
DISPLAY_COLUMNS: dict[str, str] = {
    "model": "model",
    "variant": "variant",
    "family_label": "checkpoint",
    "compression_label": "compression",
    "parameters_m": "parameters (M)",
    "sparsity_pct": "sparsity (%)",
    "remaining_pct_paper": "remaining % (paper S)",
    "bits": "bits",
    "gflops": "GFLOPs @canvas",
    "effective_gflops": "effective GFLOPs",
    "published_top1": "ImageNet top-1, published (%)",
    "measured_top1": "ImageNet top-1, measured (%)",
    "top5_agreement": "top-5 agreement with dense",
    "sha256": "sha256",
    "source": "source",
    "note": "note",
}


def measure_variant_top1(
    variant_dir: Path,
    imagenet_val: str | Path,
    *,
    device: str = "cpu",
    batch_size: int = 100,
    workers: int = 0,
) -> dict[str, Any]:
    """A variant's ImageNet-1k top-1/top-5 [%] on a validation folder, with its card's published top-1.

    Models without a classifier over the folder's classes (CLIP, other heads) get ``top1: null`` and a
    ``reason``.
    """
    from vpbench.models.imagenet import imagenet_val_folder, imagenet_wnids, measure_top1

    net, card = load_variant_model(Path(variant_dir))
    family = get_model_family(card["family"])
    record = {k: card.get(k) for k in ("model", "variant", "family", "published_top1")}
    classes = sorted(p.name for p in imagenet_val_folder(imagenet_val).iterdir() if p.is_dir())
    wnids = imagenet_wnids()
    if len(classes) == len(wnids) and classes != wnids:
        wrong = next(c for c, w in zip(classes, wnids, strict=True) if c != w)
        raise ValueError(
            f"paths.imagenet_val: {imagenet_val} has 1000 class folders but they are not the ImageNet-1k "
            f"WordNet ids (e.g. {wrong!r}), so their order is not the models' output order"
        )
    reason = ""
    if family.kind != "classifier":
        reason = f"a {family.kind} model has no ImageNet classifier head"
    elif family.num_classes != len(classes):
        reason = f"{family.num_classes} model outputs but {len(classes)} class folders in {imagenet_val}"
    if reason:
        return record | {"top1": None, "top5": None, "reason": reason}
    measured = measure_top1(
        net, imagenet_val, input_size=family.input_size, mean=family.mean, std=family.std,
        batch_size=batch_size, device=device, workers=workers,
    )  # fmt: skip
    return record | measured | {"reason": ""}


def _bits(card: Mapping[str, Any]) -> str:
    spec = card.get("compression_spec") or {}
    weight, act = spec.get("weight_bits"), spec.get("act_bits")
    if weight is None and act is None:
        return "fp32"
    return f"W{weight or 32}A{act or 32}"


def _number(value: Any) -> float:
    return math.nan if value is None else float(value)


def measured_top1(variant_dir: Path) -> float:
    """The measured ImageNet-1k top-1 [%] of a variant (:func:`measure_variant_top1`'s record), NaN when
    the study did not measure it or the model has no ImageNet head."""
    path = Path(variant_dir) / MEASURED_TOP1
    if not path.is_file():
        return math.nan
    value = json.loads(path.read_text(encoding="utf-8")).get("top1")
    return math.nan if value is None else float(value)


def model_table(variant_dirs: Sequence[Path], dense_variants: Mapping[str, str]) -> pd.DataFrame:
    """One row per variant: compression, measured sparsity, bit-widths, size, FLOPs, ImageNet top-1
    (published and measured), checksum, sanity (machine column names, see :data:`DISPLAY_COLUMNS`)."""
    cards = {Path(d): json.loads((Path(d) / "card.json").read_text()) for d in variant_dirs}
    photos: dict[str, torch.Tensor] = {}
    dense_models: dict[str, torch.nn.Module] = {}
    for directory, card in cards.items():
        if card["variant"] == dense_variants.get(card["model"]):
            dense_models[card["model"]], _ = load_variant_model(directory)
    rows = []
    for directory, card in sorted(cards.items(), key=lambda item: (item[1]["model"], item[1]["variant"])):
        family = get_model_family(card["family"])
        if card["family"] not in photos:
            photos[card["family"]] = sample_photos(size=family.input_size, mean=family.mean, std=family.std)
        agreement = float("nan")
        dense = dense_models.get(card["model"])
        if dense is not None and family.kind == "classifier":
            net, _ = load_variant_model(directory)
            agreement = sanity_top5_agreement(dense, net, photos[card["family"]])
        sparsity = card.get("sparsity")
        spec = card.get("compression_spec") or {}
        rows.append(
            {
                "model": card["model"],
                "variant": card["variant"],
                "is_dense": card["variant"] == dense_variants.get(card["model"]),
                "family": card["family"],
                "family_label": card.get("family_label", family.display_label),
                "compression": card.get("technique", "none"),
                "compression_kind": card.get("compression_kind", "dense"),
                "compression_label": card.get("compression_label", "dense"),
                "parameters_m": card.get("parameter_count", 0) / 1e6,
                "sparsity": _number(sparsity),
                "sparsity_pct": _number(sparsity) * 100,
                "remaining_pct_paper": _number(card.get("remaining_pct_paper")),
                "weight_bits": _number(spec.get("weight_bits") or card.get("weight_bits_measured")),
                "bits": _bits(card),
                "gflops": card.get("flops", float("nan")) / 1e9,
                "effective_gflops": card.get("effective_flops", float("nan")) / 1e9,
                "published_top1": _number(card.get("published_top1")),
                "published_top1_source": card.get("published_top1_source", ""),
                "measured_top1": measured_top1(directory),
                "top5_agreement": agreement,
                "sha256": (card.get("model_sha256") or card.get("weights_sha256") or "")[:12],
                "source": card.get("source", ""),
                "note": card.get("note", ""),
            }
        )
    return pd.DataFrame(rows)


def write_model_table(table: pd.DataFrame, html_path: Path) -> None:
    """HTML for the report (display headers) and the machine table as CSV beside it (figures read it)."""
    from vpbench.runtime import atomic_io

    caption = (
        "Model variants of the study, from their cards: measured sparsity over Conv/Linear weights, the "
        "paper's S (% of Conv2d weights remaining, first conv excluded), bit-widths, FLOPs at the prompt "
        "canvas (dense count, and scaled by density), ImageNet-1k top-1 as published for the checkpoint "
        "(in-pipeline compressed variants have none) and as measured on the study's ImageNet validation set "
        "(when paths.imagenet_val is set), and the mean top-5 overlap with the dense parent on three sample "
        "photos (1.0 = identical top-5)."
    )
    shown = table.reindex(columns=list(DISPLAY_COLUMNS)).rename(columns=DISPLAY_COLUMNS)
    if shown["ImageNet top-1, measured (%)"].isna().all():
        shown = shown.drop(columns=["ImageNet top-1, measured (%)"])
    styled = shown.to_html(index=False, float_format=lambda v: f"{v:,.3f}", na_rep="—", border=0)
    atomic_io.write_text(html_path, f"<p>{caption}</p>\n{styled}\n")
    atomic_io.write_text(html_path.with_suffix(".csv"), table.to_csv(index=False))
