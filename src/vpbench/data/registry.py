"""Dataset registry: one :class:`DatasetSpec` per target dataset, looked up by name.

Adding a dataset is one ``register_dataset(DatasetSpec(...))`` call plus one reader (an object with
``is_staged``, ``download`` and ``open_split``); caches, N-shot splits and the workflow pick it up from here.
Split names are vpbench's own (``train``/``test`` everywhere); each reader maps them onto the source's.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np
from PIL import Image

from vpbench.errors import ConfigError
from vpbench.registry import Registry


@dataclass(frozen=True)
class SplitSource:
    """One split of a dataset: labels known up front (no decoding), images decoded one at a time."""

    labels: np.ndarray  # int64, shape (N,)
    load_image: Callable[[int], Image.Image]  # position within the split -> RGB PIL image

    def __len__(self) -> int:
        return len(self.labels)

    def __iter__(self) -> Iterator[tuple[Image.Image, int]]:
        """Yield ``(RGB image, label)`` in split order."""
        for position, label in enumerate(self.labels):
            yield self.load_image(position), int(label)


class DatasetReader(Protocol):
    """What a dataset module provides: a presence check, a download, and split access by vpbench name."""

    def is_staged(self, root: Path | None, split: str, verify_md5: bool) -> bool:
        """Whether ``root`` already holds this split in the native layout (never touches the network)."""
        ...

    def download(self, root: Path | None, split: str) -> None:
        """Fetch the split's source files into ``root`` with the source's own checksums."""
        ...

    def open_split(self, root: Path | None, split: str, verify_md5: bool) -> SplitSource:
        """Open a staged split; labels are read without decoding any image."""
        ...


@dataclass(frozen=True)
class DatasetSpec:
    """A target dataset: size, classes, reader and the provenance a report needs.

    ``split_policy`` is one sentence saying exactly how train/test are defined (official split, or the
    seeded rule vpbench applies); ``prestage_help`` says which files go where under the data root.
    """

    name: str
    num_classes: int
    input_size: int
    reader: DatasetReader
    class_names_fn: Callable[[], tuple[str, ...]]
    split_policy: str
    prestage_help: str
    sources: tuple[str, ...] = ()
    licence: str = ""
    citation: str = ""
    modality: str = "image"
    splits: tuple[str, ...] = ("train", "test")
    label: str = ""  # display name; empty: the registry name
    paper_ece_batch: int = 128  # the authors' test-loader batch, which their batch-averaged "ECE" depends on
    # (train, test) images of vpbench's splits as split_policy defines them; what vpbench.cluster.pricing
    # prices a cell's data with (None: the dataset cannot be priced)
    split_sizes: tuple[int, int] | None = None

    @property
    def display_label(self) -> str:
        """How figures and tables name the dataset."""
        return self.label or self.name

    def class_names(self) -> tuple[str, ...]:
        """The real class names in label order (used for CLIP text prompts and reports)."""
        names = tuple(self.class_names_fn())
        if len(names) != self.num_classes:
            raise ValueError(
                f"dataset {self.name!r}: {len(names)} class names for {self.num_classes} classes"
            )
        return names

    def check_split(self, split: str) -> None:
        """Raise :class:`ConfigError` unless ``split`` is one of this dataset's splits."""
        if split not in self.splits:
            raise ConfigError(
                f"unknown split {split!r} for dataset {self.name!r}; allowed values: {', '.join(self.splits)}"
            )


DATASETS: Registry[DatasetSpec] = Registry("dataset")
register_dataset = DATASETS.register
get_dataset = DATASETS.lookup


def to_rgb(image: Image.Image) -> Image.Image:
    """Return ``image`` in RGB mode (Caltech101 and the demos have grayscale / palette / CMYK images)."""
    return image if image.mode == "RGB" else image.convert("RGB")
