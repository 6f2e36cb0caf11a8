"""The study's model table: one row per variant from its card, plus an offline sanity check against
the dense parent (top-5 agreement on the sample photos that matplotlib and scikit-learn ship), and each
variant's ImageNet-1k top-1 as published and, when the study names ``paths.imagenet_val``, as measured by
the ``imagenet_top1`` rule (:func:`measure_variant_top1`, the paper's Fig. 14)."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd
import torch

from vpbench.compression import sample_photos, sanity_top5_agreement
from vpbench.compression.variant_store import load_variant_model
from vpbench.models import get_model_family

TOP1_FILE = "imagenet_top1.json"  # beside a variant's card.json


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


def _measured_top1(directory: Path) -> float:
    path = Path(directory) / TOP1_FILE
    if not path.is_file():
        return float("nan")
    value = json.loads(path.read_text()).get("top1")
    return float("nan") if value is None else float(value)


def _bits(card: Mapping[str, Any]) -> str:
    spec = card.get("compression_spec") or {}
    weight, act = spec.get("weight_bits"), spec.get("act_bits")
    if weight is None and act is None:
        return "fp32"
    return f"W{weight or 32}A{act or 32}"


def model_table(variant_dirs: Sequence[Path], dense_variants: Mapping[str, str]) -> pd.DataFrame:
    """One row per variant: compression, measured sparsity, bit-widths, size, FLOPs, checksum, sanity."""
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
        sparsity, remaining = card.get("sparsity"), card.get("remaining_pct_paper")
        rows.append(
            {
                "model": card["model"],
                "variant": card["variant"],
                "family": card["family"],
                "compression": card.get("compression_label", "dense"),
                "parameters (M)": card.get("parameter_count", 0) / 1e6,
                "sparsity (%)": float("nan") if sparsity is None else 100 * sparsity,
                "remaining % (paper S)": float("nan") if remaining is None else remaining,
                "bits": _bits(card),
                "GFLOPs @canvas": card.get("flops", float("nan")) / 1e9,
                "effective GFLOPs": card.get("effective_flops", float("nan")) / 1e9,
                "top-5 agreement with dense": agreement,
                "ImageNet top-1 published (%)": float(card.get("published_top1") or float("nan")),
                "ImageNet top-1 measured (%)": _measured_top1(directory),
                "sha256": (card.get("model_sha256") or card.get("weights_sha256") or "")[:12],
                "source": card.get("source", ""),
                "note": card.get("note", ""),
            }
        )
    return pd.DataFrame(rows)


def write_model_table(table: pd.DataFrame, html_path: Path) -> None:
    """HTML for the report and a CSV beside it."""
    from vpbench.runtime import atomic_io

    caption = (
        "Model variants of the study, from their cards: measured sparsity over Conv/Linear weights, the "
        "paper's S (% of Conv2d weights remaining, first conv excluded), bit-widths, FLOPs at the prompt "
        "canvas (dense count, and scaled by density), and the mean top-5 overlap with the dense parent on "
        "three sample photos (1.0 = identical top-5)."
    )
    styled = table.to_html(index=False, float_format=lambda v: f"{v:,.3f}", na_rep="—", border=0)
    atomic_io.write_text(html_path, f"<p>{caption}</p>\n{styled}\n")
    atomic_io.write_text(html_path.with_suffix(".csv"), table.to_csv(index=False))
