"""CLIP text embeddings, computed once per (model variant, dataset, template set) and cached as a file.

The file is a plain dict of tensors, strings and lists (``weights_only=True`` loads it) written atomically,
with a ``<name>.sha256`` sidecar that every load verifies first. Its metadata (template set, class names,
sha256 of the variant's weights) is checked against what a cell expects, so a stale file fails loudly.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.nn import functional as F  # noqa: N812

from vpbench.engine.text_templates import clip_class_names, prompt_texts, templates_for
from vpbench.errors import CacheCorruptError, MissingSourceError
from vpbench.runtime import atomic_io
from vpbench.sources.checksums import safe_torch_load, sha256_file

FORMAT_VERSION = 1
_KEYS = ("format_version", "embeddings", "logit_scale", "templates_id", "templates", "class_names",
         "dataset", "model_sha256", "family")  # fmt: skip


@dataclass(frozen=True)
class TextEmbeddings:
    """L2-normalised text embeddings ``[J, C, D]`` (template j, class c) and what they were made from."""

    embeddings: torch.Tensor
    logit_scale: float
    templates_id: str
    templates: tuple[str, ...]
    class_names: tuple[str, ...]
    dataset: str
    model_sha256: str
    family: str

    @property
    def sources(self) -> torch.Tensor:
        """The ``[J·C, D]`` source embeddings in template-major order (k = j·C + c)."""
        return self.embeddings.reshape(-1, self.embeddings.shape[-1])

    def to_record(self) -> dict[str, Any]:
        """The plain dict written to disk."""
        return {
            "format_version": FORMAT_VERSION,
            "embeddings": self.embeddings.float().contiguous(),
            "logit_scale": torch.tensor(self.logit_scale, dtype=torch.float32),
            "templates_id": self.templates_id,
            "templates": list(self.templates),
            "class_names": list(self.class_names),
            "dataset": self.dataset,
            "model_sha256": self.model_sha256,
            "family": self.family,
        }


@torch.inference_mode()
def encode_texts(
    model: nn.Module, texts: Sequence[str], *, batch_size: int = 256, device: torch.device | None = None
) -> torch.Tensor:
    """L2-normalised fp32 ``encode_text`` features of ``texts`` ([N, D], on the CPU), in batches."""
    import open_clip

    device = device or torch.device("cpu")
    tokens = open_clip.tokenize(list(texts), context_length=model.context_length)
    features = [
        model.encode_text(tokens[start : start + batch_size].to(device)).float().cpu()
        for start in range(0, len(tokens), batch_size)
    ]
    return F.normalize(torch.cat(features), dim=-1)


def compute_text_embeddings(
    model: nn.Module,
    *,
    templates_id: str,
    class_names: Sequence[str],
    dataset: str,
    model_sha256: str,
    family: str,
    batch_size: int = 256,
    device: torch.device | None = None,
) -> TextEmbeddings:
    """Encode every (template, class) text once with ``model``'s text tower; ``class_names`` are final."""
    templates = templates_for(templates_id)
    flat = encode_texts(model, prompt_texts(templates, class_names), batch_size=batch_size, device=device)
    return TextEmbeddings(
        embeddings=flat.view(len(templates), len(class_names), -1),
        logit_scale=float(model.logit_scale.detach().exp().cpu()),
        templates_id=templates_id,
        templates=templates,
        class_names=tuple(class_names),
        dataset=dataset,
        model_sha256=model_sha256,
        family=family,
    )


def sidecar_path(path: Path) -> Path:
    """Where the sha256 of an embeddings file is kept (``<name>.sha256``, sha256sum format)."""
    return path.with_name(path.name + ".sha256")


def save_text_embeddings(path: Path, embeddings: TextEmbeddings) -> None:
    """Write the embeddings file, then its sha256 sidecar, each atomically."""
    path = Path(path)
    atomic_io.save_torch(path, embeddings.to_record())
    atomic_io.write_text(sidecar_path(path), f"{sha256_file(path)}  {path.name}\n")


def _check(path: Path, field: str, found: Any, expected: Any) -> None:
    if expected is not None and found != expected:
        raise CacheCorruptError(
            f"{path}: {field} is {found!r} but this cell expects {expected!r}; the file is stale, delete it "
            "so the text_embeddings rule recomputes it"
        )


def load_text_embeddings(
    path: Path,
    *,
    templates_id: str | None = None,
    class_names: Sequence[str] | None = None,
    model_sha256: str | None = None,
) -> TextEmbeddings:
    """Verify the sidecar checksum, load with ``weights_only=True`` and check the metadata given."""
    path = Path(path)
    sidecar = sidecar_path(path)
    if not sidecar.is_file():
        raise MissingSourceError(
            f"{sidecar} not found: text embeddings {path} have no checksum; recompute them"
        )
    expected_sha = sidecar.read_text(encoding="utf-8").split()[0]
    record = safe_torch_load(path, expected_sha)
    missing = [key for key in _KEYS if key not in record] if isinstance(record, dict) else list(_KEYS)
    if missing or record["format_version"] != FORMAT_VERSION:
        raise CacheCorruptError(
            f"{path} is not a format-{FORMAT_VERSION} text-embeddings file (missing {missing}); recompute it"
        )
    loaded = TextEmbeddings(
        embeddings=record["embeddings"].float(),
        logit_scale=float(record["logit_scale"]),
        templates_id=record["templates_id"],
        templates=tuple(record["templates"]),
        class_names=tuple(record["class_names"]),
        dataset=record["dataset"],
        model_sha256=record["model_sha256"],
        family=record["family"],
    )
    shape = (len(loaded.templates), len(loaded.class_names))
    if loaded.embeddings.dim() != 3 or tuple(loaded.embeddings.shape[:2]) != shape:
        raise CacheCorruptError(
            f"{path}: embeddings have shape {tuple(loaded.embeddings.shape)}, expected {shape} × D; "
            "recompute it"
        )
    _check(path, "templates_id", loaded.templates_id, templates_id)
    _check(path, "class_names", list(loaded.class_names), None if class_names is None else list(class_names))
    _check(path, "model_sha256", loaded.model_sha256, model_sha256)
    if templates_id is not None:
        _check(path, "templates", loaded.templates, templates_for(templates_id))
    return loaded


def build_text_embeddings_file(
    *,
    variant_dir: Path,
    dataset: str,
    templates_id: str,
    classname_mode: str,
    out_path: Path,
    device: torch.device,
    batch_size: int = 256,
) -> TextEmbeddings:
    """Load a materialised CLIP variant, encode the dataset's class texts and write ``out_path``."""
    from vpbench.compression.variant_store import load_variant_model, variant_sha256
    from vpbench.data import get_dataset

    net, card = load_variant_model(Path(variant_dir))
    names = clip_class_names(dataset, get_dataset(dataset).class_names(), classname_mode)
    embeddings = compute_text_embeddings(
        net.to(device), templates_id=templates_id, class_names=names, dataset=dataset,
        model_sha256=variant_sha256(card), family=card["family"], batch_size=batch_size, device=device,
    )  # fmt: skip
    save_text_embeddings(Path(out_path), embeddings)
    logging.getLogger(__name__).info(
        "wrote %s: %s × %d classes of %s, shape %s, model sha256 %s", out_path, templates_id,
        len(names), dataset, list(embeddings.embeddings.shape), embeddings.model_sha256[:12],
    )  # fmt: skip
    return embeddings
