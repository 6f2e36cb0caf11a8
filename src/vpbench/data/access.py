"""Getting at a registered dataset: acquire (pre-staged, else download, else a clear error) and read splits.

Pre-staged data always wins and needs no network; ``download=True`` only runs for what is missing; with
neither, :class:`MissingSourceError` names the dataset, the files expected under the root and their sources.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
from PIL import Image

from vpbench.data.registry import DatasetSpec, SplitSource, get_dataset
from vpbench.errors import MissingSourceError


def missing_source_message(spec: DatasetSpec, root: Path | None, split: str) -> str:
    """The user-facing text for a dataset that is neither staged nor allowed to download."""
    where = f"under {root}" if root is not None else "(no data root given)"
    sources = "; ".join(spec.sources) or "see the dataset registry"
    return (
        f"dataset {spec.name!r} split {split!r} not found {where}. "
        f"Expected layout relative to the data root: {spec.prestage_help}. Sources: {sources}. "
        "Place the files there, or enable download."
    )


def acquire(name: str, root: str | Path | None, download: bool, verify_md5: bool = True) -> Path | None:
    """Make every split of ``name`` available under ``root`` and return the root.

    Uses pre-staged files as they are; downloads (with the source's checksums) only when ``download`` is
    true and something is missing; otherwise raises :class:`MissingSourceError` naming what to put where.
    """
    spec = get_dataset(name)
    root = Path(root) if root is not None else None
    for split in spec.splits:
        if spec.reader.is_staged(root, split, verify_md5):
            continue
        if not download:
            raise MissingSourceError(missing_source_message(spec, root, split))
        spec.reader.download(root, split)
        if not spec.reader.is_staged(root, split, verify_md5):
            raise MissingSourceError(
                "download finished but the files are still not readable. "
                + missing_source_message(spec, root, split)
            )
    return root


def open_split(name: str, split: str, root: str | Path | None, verify_md5: bool = True) -> SplitSource:
    """Open one staged split of a registered dataset (never downloads)."""
    spec = get_dataset(name)
    spec.check_split(split)
    root = Path(root) if root is not None else None
    if not spec.reader.is_staged(root, split, verify_md5):
        raise MissingSourceError(missing_source_message(spec, root, split))
    source = spec.reader.open_split(root, split, verify_md5)
    if len(source) and (source.labels.min() < 0 or source.labels.max() >= spec.num_classes):
        raise MissingSourceError(
            f"dataset {name!r} split {split!r}: labels outside 0..{spec.num_classes - 1}"
        )
    return source


def read_labels(name: str, split: str, root: str | Path | None, verify_md5: bool = True) -> np.ndarray:
    """The int64 labels of a split in cache order, read without decoding any image."""
    return open_split(name, split, root, verify_md5).labels


def iter_images(
    name: str, split: str, root: str | Path | None, verify_md5: bool = True
) -> Iterator[tuple[Image.Image, int]]:
    """Yield ``(RGB PIL image, label)`` for every item of a split, in cache order."""
    yield from open_split(name, split, root, verify_md5)
