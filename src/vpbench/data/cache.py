"""uint8 image caches: each split decoded and resized once
(docs/methods/padding_vp.md), memory-mapped by every cell.

A cache folder holds ``images.npy`` (uint8 N×3×S×S RGB), ``labels.npy`` (int64 N) and ``manifest.json``.
The manifest is written last, so a folder with a manifest is complete; its sha256s detect later corruption.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

import vpbench
from vpbench.data.access import open_split
from vpbench.data.registry import get_dataset, to_rgb
from vpbench.errors import CacheCorruptError, ConfigError
from vpbench.runtime.atomic_io import atomic_path, reserve_space, save_numpy, write_json
from vpbench.runtime.progress import progress_bar
from vpbench.sources.checksums import sha256_file

IMAGES_FILE = "images.npy"
LABELS_FILE = "labels.npy"
MANIFEST_FILE = "manifest.json"
CACHE_FORMAT_VERSION = 1
RESIZE_RULE = (
    "convert('RGB'); PIL bilinear resize to (S, S) when the size differs (= torchvision Resize((S, S)))"
)


def resize_like_torchvision(image: Image.Image, size: int) -> np.ndarray:
    """RGB, then ``Resize((size, size))`` as torchvision does on PIL images (bilinear, antialiased); 3×S×S."""
    image = to_rgb(image)
    if image.size != (size, size):
        image = image.resize((size, size), Image.Resampling.BILINEAR)
    return np.asarray(image, dtype=np.uint8).transpose(2, 0, 1)


def resize_like_clip(image: Image.Image, size: int) -> np.ndarray:
    """CLIP's ``_transform`` before ``ToTensor``: ``Resize(size, BICUBIC)``, ``CenterCrop(size)``, then RGB.

    The geometry is torchvision's, to the pixel: the shorter side becomes ``size`` and the longer side
    ``int(size * long / short)`` (truncated); the crop offsets are ``int(round((side - size) / 2))`` (Python's
    round, halves to even). As in CLIP, the image is resized in its own mode and converted to RGB last (PIL
    resizes palette images with nearest-neighbour whatever filter is asked).
    """
    width, height = image.size
    short, long = (width, height) if width <= height else (height, width)
    new_short, new_long = size, int(size * long / short)
    new_size = (new_short, new_long) if width <= height else (new_long, new_short)
    if new_size != image.size:
        image = image.resize(new_size, Image.Resampling.BICUBIC)
    left = round((image.size[0] - size) / 2.0)  # Python's round, as torchvision's CenterCrop
    top = round((image.size[1] - size) / 2.0)
    cropped = to_rgb(image.crop((left, top, left + size, top + size)))
    return np.asarray(cropped, dtype=np.uint8).transpose(2, 0, 1)


CLIP_RESIZE_RULE = (
    "CLIP: torchvision Resize(S, BICUBIC) (long side truncated) + CenterCrop(S) (offsets rounded), then RGB "
    "(= clip._transform before ToTensor)"
)
RESIZERS = {"square": (resize_like_torchvision, RESIZE_RULE), "clip": (resize_like_clip, CLIP_RESIZE_RULE)}


def _limited_positions(labels: np.ndarray, limit_per_class: int | None) -> np.ndarray:
    """All positions, or the first ``limit_per_class`` of each class in split order (smoke runs, tests)."""
    if limit_per_class is None:
        return np.arange(len(labels), dtype=np.int64)
    if limit_per_class < 1:
        raise ConfigError(f"limit_per_class must be a positive integer or None, got {limit_per_class!r}")
    keep = np.zeros(len(labels), dtype=bool)
    for label in np.unique(labels):
        keep[np.flatnonzero(labels == label)[:limit_per_class]] = True
    return np.flatnonzero(keep).astype(np.int64)


def build_cache(
    name: str,
    split: str,
    root: Path | None,
    out_dir: Path,
    input_size: int | None = None,
    verify_md5: bool = True,
    progress: bool = True,
    limit_per_class: int | None = None,
    resize: str = "square",
) -> dict[str, Any]:
    """Decode, resize and store one split of a registered dataset; return the manifest written.

    ``input_size`` overrides the registry's size; ``resize`` is ``square`` (ILM-VP: squash to S×S) or
    ``clip`` (CLIP's bicubic shorter side + centre crop); ``limit_per_class`` keeps only the first images of
    each class (recorded in the manifest) for smoke runs and tests.
    """
    if resize not in RESIZERS:
        raise ConfigError(f"unknown resize rule {resize!r}; allowed: {', '.join(RESIZERS)}")
    resize_image, resize_rule = RESIZERS[resize]
    spec = get_dataset(name)
    if spec.modality != "image":  # text/DNA: token ids, input_size is the token length, resize unused
        from vpbench.data.token_cache import build_token_cache

        return build_token_cache(
            name, split, root, out_dir, input_size=input_size, verify_md5=verify_md5, progress=progress,
            limit_per_class=limit_per_class,
        )  # fmt: skip
    size = spec.input_size if input_size is None else int(input_size)
    if size < 1:
        raise ConfigError(f"input_size must be a positive integer, got {input_size!r}")
    source = open_split(name, split, root, verify_md5)
    positions = _limited_positions(source.labels, limit_per_class)
    labels = source.labels[positions].astype(np.int64)

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / MANIFEST_FILE).unlink(missing_ok=True)  # the folder is incomplete until the new manifest lands
    with atomic_path(out_dir / IMAGES_FILE) as tmp:
        images = np.lib.format.open_memmap(
            tmp, mode="w+", dtype=np.uint8, shape=(len(positions), 3, size, size)
        )
        reserve_space(tmp)  # a full disk fails here with ENOSPC, not with SIGBUS while filling the map
        with progress_bar(total=len(positions), desc=f"cache {name}/{split}", enabled=progress) as bar:
            for row, position in enumerate(positions):
                images[row] = resize_image(source.load_image(int(position)), size)
                bar.update(1)
        images.flush()
        del images
    save_numpy(out_dir / LABELS_FILE, labels)

    manifest = {
        "format_version": CACHE_FORMAT_VERSION,
        "dataset": name,
        "split": split,
        "input_size": size,
        "count": len(labels),
        "shape": [len(labels), 3, size, size],
        "num_classes": spec.num_classes,
        "class_names": list(spec.class_names()),
        "class_counts": np.bincount(labels, minlength=spec.num_classes).tolist(),
        "split_policy": spec.split_policy,
        "resize": resize_rule,
        "limit_per_class": limit_per_class,
        "sha256": {
            IMAGES_FILE: sha256_file(out_dir / IMAGES_FILE),
            LABELS_FILE: sha256_file(out_dir / LABELS_FILE),
        },
        "vpbench_version": vpbench.__version__,
    }
    write_json(out_dir / MANIFEST_FILE, manifest)
    return manifest


@dataclass(frozen=True)
class CachedSplit:
    """A loaded cache: memory-mapped images, labels, class names and the manifest."""

    images: np.ndarray  # uint8 N×3×S×S (int64 N×L token ids for text/DNA caches), read-only memory map
    labels: np.ndarray  # int64 N
    class_names: tuple[str, ...]
    manifest: dict[str, Any]

    def __len__(self) -> int:
        return len(self.labels)


def read_manifest(cache_dir: Path) -> dict[str, Any]:
    """The manifest of a complete cache folder, or :class:`CacheCorruptError` if there is none."""
    path = Path(cache_dir) / MANIFEST_FILE
    if not path.is_file():
        raise CacheCorruptError(f"incomplete cache {cache_dir}: no {MANIFEST_FILE}; rebuild it")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise CacheCorruptError(f"unreadable {path}: {exc}; rebuild the cache") from exc


def verify_cache(cache_dir: Path) -> dict[str, Any]:
    """Check every file's sha256 against the manifest; return the manifest or raise naming the bad file."""
    cache_dir = Path(cache_dir)
    manifest = read_manifest(cache_dir)
    for filename, expected in manifest["sha256"].items():
        path = cache_dir / filename
        if not path.is_file():
            raise CacheCorruptError(f"cache file missing: {path}; rebuild the cache")
        actual = sha256_file(path)
        if actual != expected:
            raise CacheCorruptError(
                f"cache file {path} is corrupt: sha256 {actual} differs from the manifest's {expected}; "
                "rebuild it"
            )
    return manifest


def load_cache(cache_dir: Path, verify: bool = False) -> CachedSplit:
    """Open a cache (images or tokens memory-mapped read-only); ``verify=True`` checks the sha256s first.

    The manifest's ``array_file``/``dtype`` name the data array (token caches); image caches omit them.
    """
    cache_dir = Path(cache_dir)
    manifest = verify_cache(cache_dir) if verify else read_manifest(cache_dir)
    dtype = np.dtype(manifest.get("dtype", "uint8"))
    try:
        images = np.load(
            cache_dir / manifest.get("array_file", IMAGES_FILE), mmap_mode="r", allow_pickle=False
        )
        labels = np.load(cache_dir / LABELS_FILE, allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise CacheCorruptError(f"cache {cache_dir} is unreadable ({exc}); rebuild it") from exc
    if (
        list(images.shape) != manifest["shape"]
        or images.dtype != dtype
        or labels.shape != (manifest["count"],)
    ):
        raise CacheCorruptError(
            f"cache {cache_dir} does not match its manifest: images {images.shape} {images.dtype}, "
            f"labels {labels.shape}, manifest shape {manifest['shape']}; rebuild it"
        )
    return CachedSplit(
        images=images, labels=labels, class_names=tuple(manifest["class_names"]), manifest=manifest
    )
