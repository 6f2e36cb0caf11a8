"""Offline demo datasets read from installed PyPI packages: animal-mnist and scikit-learn's digits.

Neither has an official split, so each gets a seeded, stratified, disjoint one (recorded in its
``split_policy``). Both are grayscale; readers return RGB images (the channel is replicated). The ``root``
argument is ignored: the data live inside the installed packages.
"""

from __future__ import annotations

import functools
import gzip
import importlib.util
from pathlib import Path

import numpy as np
from PIL import Image

from vpbench.data import class_names
from vpbench.data.registry import DatasetSpec, SplitSource, register_dataset
from vpbench.errors import MissingSourceError
from vpbench.sources.checksums import verify_sha256
from vpbench.sources.safe_pickle import load_numpy_pickle

ANIMAL_MNIST_PACKAGE = "animal_mnist"
ANIMAL_MNIST_INSTALL = "pip install --no-deps animal-mnist==0.4"
ANIMAL_MNIST_FILES = {  # path inside the package -> sha256 (docs/sources/offline_assets.md)
    "images": (
        "data/Animal_MNIST/animal_data_version_3.gz",
        "68a30346781a0984f839463a4615d2decb899d1ce65091bb92586311754a34ce",
    ),
    "labels": (
        "data/Animal_MNIST/animal_label_version_3.gz",
        "dec8dba7c469830989fbab46825021a08a38470753a512f27ada847eced97b57",
    ),
}
ANIMAL_MNIST_TEST_PER_CLASS = 200
DIGITS_TEST_FRACTION = 1 / 3
DEMO_SPLIT_SEED = 0


def _stratified_split(labels: np.ndarray, test_size: float | int, seed: int) -> dict[str, np.ndarray]:
    """A disjoint stratified train/test partition of ``range(len(labels))``, each part sorted ascending."""
    from sklearn.model_selection import train_test_split

    everything = np.arange(len(labels), dtype=np.int64)
    train, test = train_test_split(everything, test_size=test_size, stratify=labels, random_state=seed)
    train, test = np.sort(train), np.sort(test)
    if np.intersect1d(train, test).size or train.size + test.size != everything.size:
        raise AssertionError("demo split is not a disjoint partition")
    return {"train": train, "test": test}


class _ArrayReader:
    """A reader over in-memory uint8 grayscale arrays split by fixed index lists."""

    name = ""
    _install = ""
    packaged = True  # data ships inside an installed PyPI package: no data root is needed

    def _arrays(self) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]:
        raise NotImplementedError

    def is_staged(self, root: Path | None, split: str, verify_md5: bool) -> bool:
        """Whether the package data load (a tampered file still raises its checksum error)."""
        try:
            self._arrays()
        except MissingSourceError:
            return False
        return True

    def download(self, root: Path | None, split: str) -> None:
        """Nothing to download: the data come with a PyPI package, so say which one to install."""
        raise MissingSourceError(
            f"dataset {self.name!r} ships in a PyPI package; install it ({self._install})"
        )

    def open_split(self, root: Path | None, split: str, verify_md5: bool) -> SplitSource:
        """The split's labels and a loader giving RGB images (grayscale replicated)."""
        images, labels, splits = self._arrays()
        positions = splits[split]
        return SplitSource(
            labels=labels[positions].astype(np.int64),
            load_image=lambda position: Image.fromarray(images[positions[position]]).convert("RGB"),
        )


class AnimalMnistReader(_ArrayReader):
    """animal-mnist 0.4: files checksummed first, then read with the numpy-only unpickler."""

    name = "animal_mnist"
    _install = ANIMAL_MNIST_INSTALL

    def _arrays(self) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]:
        return _animal_mnist_arrays()


def animal_mnist_dir() -> Path:
    """The installed package folder, found without importing the package (its loader imports tensorflow)."""
    spec = importlib.util.find_spec(ANIMAL_MNIST_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise MissingSourceError(
            f"dataset 'animal_mnist' needs the animal-mnist package: {ANIMAL_MNIST_INSTALL}"
        )
    return Path(next(iter(spec.submodule_search_locations)))


@functools.cache
def _animal_mnist_arrays() -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]:
    base = animal_mnist_dir()
    arrays = {}
    for key, (relative, sha256) in ANIMAL_MNIST_FILES.items():
        path = base / relative
        if not path.is_file():
            raise MissingSourceError(
                f"animal-mnist file missing: {path}; reinstall with {ANIMAL_MNIST_INSTALL}"
            )
        verify_sha256(path, sha256)  # before any byte is unpickled
        with gzip.open(path, "rb") as stream:
            arrays[key] = load_numpy_pickle(stream, source=str(path))
    images, labels = arrays["images"], arrays["labels"].astype(np.int64)
    if images.dtype != np.uint8 or images.shape != (10000, 28, 28) or labels.shape != (10000,):
        raise MissingSourceError(f"animal-mnist arrays have unexpected shapes {images.shape}, {labels.shape}")
    n_test = ANIMAL_MNIST_TEST_PER_CLASS * len(class_names.ANIMAL_MNIST)
    return images, labels, _stratified_split(labels, n_test, DEMO_SPLIT_SEED)


class DigitsReader(_ArrayReader):
    """scikit-learn's 1,797 8×8 digits, 0..16 scaled to uint8 by round(v*255/16)."""

    name = "digits"
    _install = "pip install scikit-learn"

    def _arrays(self) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]:
        return _digits_arrays()


@functools.cache
def _digits_arrays() -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]:
    try:
        from sklearn.datasets import load_digits
    except ImportError as exc:
        raise MissingSourceError("dataset 'digits' needs scikit-learn: pip install scikit-learn") from exc
    bunch = load_digits()
    images = np.round(bunch.images * 255.0 / 16.0).astype(np.uint8)
    labels = bunch.target.astype(np.int64)
    return images, labels, _stratified_split(labels, DIGITS_TEST_FRACTION, DEMO_SPLIT_SEED)


ANIMAL_MNIST = register_dataset(
    DatasetSpec(
        name="animal_mnist",
        split_sizes=(8_000, 2_000),  # 800 / 200 per class
        label="Animal-MNIST",
        num_classes=10,
        input_size=32,
        reader=AnimalMnistReader(),
        class_names_fn=lambda: class_names.ANIMAL_MNIST,
        split_policy="no official split: seeded stratified disjoint split of the 10,000 images "
        "(sklearn train_test_split, test_size=2000, stratify=labels, random_state=0, indices sorted), "
        "800 train / 200 test per class; 28x28 grayscale replicated to RGB, resized to 32",
        prestage_help=f"nothing to place: install the package ({ANIMAL_MNIST_INSTALL})",
        sources=("PyPI animal-mnist==0.4, files animal_data_version_3.gz / animal_label_version_3.gz",),
        licence="MIT",
        citation="animal-mnist 0.4 (PyPI), Animal-MNIST silhouettes of 10 animals.",
    )
)

DIGITS = register_dataset(
    DatasetSpec(
        name="digits",
        split_sizes=(1_198, 599),  # 1,797 images, test_size=1/3 rounded up
        label="Digits (sklearn)",
        num_classes=10,
        input_size=32,
        reader=DigitsReader(),
        class_names_fn=lambda: class_names.DIGITS,
        split_policy="no official split: seeded stratified disjoint split of sklearn load_digits() "
        "(1,797 images; train_test_split, test_size=1/3, stratify=labels, random_state=0, indices sorted); "
        "values 0..16 scaled to 0..255, 8x8 grayscale replicated to RGB, resized to 32",
        prestage_help="nothing to place: scikit-learn ships the data (sklearn/datasets/data/digits.csv.gz)",
        sources=(
            "scikit-learn sklearn.datasets.load_digits (UCI Optical Recognition of Handwritten Digits)",
        ),
        licence="CC BY 4.0 (UCI)",
        citation="Alpaydin, E., Kaynak, C. (1998). Optical Recognition of Handwritten Digits. "
        "UCI Machine Learning Repository.",
    )
)
