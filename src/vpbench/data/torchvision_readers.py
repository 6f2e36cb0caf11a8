"""Readers over torchvision's dataset classes: native on-disk layouts, md5 policy, split derivation.

torchvision is imported lazily so that importing the registry (e.g. from the Snakefile) stays cheap.
``verify_md5=False`` swaps in subclasses whose md5 entries are ``None`` (torchvision then only checks that
the files exist); it exists for tests on synthetic files, production keeps torchvision's checksums.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from vpbench.data import class_names
from vpbench.data.registry import SplitSource, to_rgb
from vpbench.errors import MissingSourceError

EUROSAT_URL = (
    "https://huggingface.co/datasets/torchgeo/eurosat/resolve/"
    "c877bcd43f099cd0196738f714544e355477f3fd/EuroSAT.zip"
)
EUROSAT_MD5 = "c8fa014336c82ac7804f0398fcb19387"
EUROSAT_TEST_FRACTION = 0.1
EUROSAT_SPLIT_SEED = 1
CALTECH_TRAIN_PER_CLASS = 30


class TorchvisionReader:
    """Common logic: build the torchvision dataset, read its labels, check its classes, map the split.

    Subclasses set ``name`` and ``num_classes`` and implement ``_build`` and ``_labels``; datasets without
    an official split override ``_positions`` to pick the split's items out of the full dataset.
    """

    name = ""
    num_classes = 0

    def _build(self, root: Path, split: str, download: bool, verify_md5: bool) -> Any:
        raise NotImplementedError

    def _labels(self, dataset: Any) -> Sequence[int]:
        raise NotImplementedError

    def _check(self, dataset: Any, root: Path) -> None:
        """Hook: raise :class:`MissingSourceError` if the staged data is not the registered source."""

    def _positions(self, dataset: Any, labels: np.ndarray, split: str) -> np.ndarray | None:
        """Indices of the split's items in ``dataset``; ``None`` means the whole dataset (official split)."""
        return None

    def is_staged(self, root: Path | None, split: str, verify_md5: bool) -> bool:
        """Try torchvision's own presence (and md5) check with ``download=False``; never downloads."""
        if root is None:
            return False
        try:
            self._build(Path(root), split, download=False, verify_md5=verify_md5)
        except (RuntimeError, OSError):
            return False
        return True

    def download(self, root: Path | None, split: str) -> None:
        """Let torchvision download and extract with its published md5s (TLS verified as usual)."""
        if root is None:
            raise MissingSourceError(f"dataset {self.name!r} needs a data root to download into")
        Path(root).mkdir(parents=True, exist_ok=True)
        try:
            self._build(Path(root), split, download=True, verify_md5=True)
        except RuntimeError as exc:  # torchvision's "not found or corrupted" after its own download
            raise MissingSourceError(
                f"dataset {self.name!r} split {split!r}: torchvision rejected the files under {root} after "
                f"downloading ({exc})"
            ) from exc

    def open_split(self, root: Path | None, split: str, verify_md5: bool) -> SplitSource:
        """Open a staged split; raises :class:`MissingSourceError` when torchvision cannot find it."""
        if root is None:
            raise MissingSourceError(f"dataset {self.name!r} needs a data root (none was given)")
        root = Path(root)
        try:
            dataset = self._build(root, split, download=False, verify_md5=verify_md5)
        except (RuntimeError, OSError) as exc:
            raise MissingSourceError(
                f"dataset {self.name!r} split {split!r} not readable under {root}: {exc}"
            ) from exc
        self._check(dataset, root)
        labels = np.asarray(self._labels(dataset), dtype=np.int64)
        if labels.size and (labels.min() < 0 or labels.max() >= self.num_classes):
            raise MissingSourceError(
                f"dataset {self.name!r} under {root} has labels outside 0..{self.num_classes - 1}; "
                "the staged files are not the registered source"
            )
        positions = self._positions(dataset, labels, split)
        if positions is None:
            positions = np.arange(len(labels), dtype=np.int64)
        return SplitSource(labels=labels[positions], load_image=functools.partial(_load, dataset, positions))


def _load(dataset: Any, positions: np.ndarray, position: int) -> Image.Image:
    """Decode item ``positions[position]`` of a torchvision dataset as an RGB PIL image."""
    return to_rgb(dataset[int(positions[position])][0])


def _require_same_classes(name: str, root: Path, found: Sequence[str], expected: Sequence[str]) -> None:
    """Fail loudly when the staged class list differs from the registry (labels would shift silently)."""
    if list(found) != list(expected):
        missing = sorted(set(expected) - set(found))
        unexpected = sorted(set(found) - set(expected))
        raise MissingSourceError(
            f"dataset {name!r} under {root} does not have the registered classes "
            f"(missing: {missing or 'none'}; unexpected: {unexpected or 'none'}; or a different order). "
            "Re-extract the official archive."
        )


@functools.cache
def _unverified(base: type) -> type:
    """A subclass of a torchvision dataset with every md5 replaced by ``None`` (existence check only)."""
    attributes: dict[str, Any] = {}
    if hasattr(base, "train_list"):  # CIFAR10
        attributes["train_list"] = [[filename, None] for filename, _ in base.train_list]
        attributes["test_list"] = [[filename, None] for filename, _ in base.test_list]
        attributes["meta"] = {**base.meta, "md5": None}
    if hasattr(base, "split_list"):  # SVHN
        attributes["split_list"] = {key: [url, fn, None] for key, (url, fn, _) in base.split_list.items()}
    if hasattr(base, "_file_dict"):  # Flowers102
        attributes["_file_dict"] = {key: (fn, None) for key, (fn, _) in base._file_dict.items()}
    return type(f"Unverified{base.__name__}", (base,), attributes)


def _pick(base: type, verify_md5: bool) -> type:
    return base if verify_md5 else _unverified(base)


class Cifar10Reader(TorchvisionReader):
    name, num_classes = "cifar10", 10

    def _build(self, root: Path, split: str, download: bool, verify_md5: bool) -> Any:
        from torchvision.datasets import CIFAR10

        return _pick(CIFAR10, verify_md5)(root, train=split == "train", download=download)

    def _labels(self, dataset: Any) -> Sequence[int]:
        return dataset.targets

    def _check(self, dataset: Any, root: Path) -> None:
        _require_same_classes(self.name, root, dataset.classes, class_names.CIFAR10)


class SvhnReader(TorchvisionReader):
    """SVHN ``{train,test}_32x32.mat`` under ``root/svhn`` (``extra`` unused); torchvision maps 10 -> 0."""

    name, num_classes = "svhn", 10

    def _build(self, root: Path, split: str, download: bool, verify_md5: bool) -> Any:
        from torchvision.datasets import SVHN

        return _pick(SVHN, verify_md5)(root / "svhn", split=split, download=download)

    def _labels(self, dataset: Any) -> Sequence[int]:
        return dataset.labels


class GtsrbReader(TorchvisionReader):
    name, num_classes = "gtsrb", 43

    def _build(self, root: Path, split: str, download: bool, verify_md5: bool) -> Any:
        from torchvision.datasets import GTSRB

        return GTSRB(root, split=split, download=download)

    def _labels(self, dataset: Any) -> Sequence[int]:
        return [target for _, target in dataset._samples]

    def _check(self, dataset: Any, root: Path) -> None:
        if dataset._split == "train":  # labels come from the sorted folder list: it must be 00000..00042
            folders = sorted(p.name for p in Path(dataset._target_folder).iterdir() if p.is_dir())
            _require_same_classes(self.name, root, folders, [f"{i:05d}" for i in range(self.num_classes)])


class DtdReader(TorchvisionReader):
    """DTD partition 1: ``train1.txt`` (40 per class) and ``test1.txt``; ``val1.txt`` is unused."""

    name, num_classes = "dtd", 47

    def _build(self, root: Path, split: str, download: bool, verify_md5: bool) -> Any:
        from torchvision.datasets import DTD

        return DTD(root, split=split, partition=1, download=download)

    def _labels(self, dataset: Any) -> Sequence[int]:
        return dataset._labels

    def _check(self, dataset: Any, root: Path) -> None:
        _require_same_classes(self.name, root, dataset.classes, class_names.DTD)


class Flowers102Reader(TorchvisionReader):
    """Flowers102 official ``trnid`` (10 per class) for train and ``tstid`` for test; ``valid`` unused."""

    name, num_classes = "flowers102", 102

    def _build(self, root: Path, split: str, download: bool, verify_md5: bool) -> Any:
        from torchvision.datasets import Flowers102

        return _pick(Flowers102, verify_md5)(root, split=split, download=download)

    def _labels(self, dataset: Any) -> Sequence[int]:
        return dataset._labels


class OxfordPetsReader(TorchvisionReader):
    """Oxford-IIIT Pet: vpbench ``train`` is the official ``trainval`` list, ``test`` the test list."""

    name, num_classes = "oxford_pets", 37

    def _build(self, root: Path, split: str, download: bool, verify_md5: bool) -> Any:
        from torchvision.datasets import OxfordIIITPet

        source_split = "trainval" if split == "train" else split
        return OxfordIIITPet(root, split=source_split, download=download)

    def _labels(self, dataset: Any) -> Sequence[int]:
        return dataset._labels

    def _check(self, dataset: Any, root: Path) -> None:
        _require_same_classes(self.name, root, dataset.classes, class_names.OXFORD_PETS)


class EurosatReader(TorchvisionReader):
    """EuroSAT RGB (all 27,000 images) with vpbench's fixed, disjoint, stratified 90/10 split
    (docs/deviations.md)."""

    name, num_classes = "eurosat", 10

    def _build(self, root: Path, split: str, download: bool, verify_md5: bool) -> Any:
        from torchvision.datasets import EuroSAT

        if download and not (root / "eurosat" / "2750").is_dir():
            from torchvision.datasets.utils import download_and_extract_archive

            # Pinned Hugging Face mirror (the original host's TLS certificate is broken; never bypass TLS).
            download_and_extract_archive(EUROSAT_URL, download_root=str(root / "eurosat"), md5=EUROSAT_MD5)
        return EuroSAT(root, download=False)

    def _labels(self, dataset: Any) -> Sequence[int]:
        return [target for _, target in dataset.samples]

    def _check(self, dataset: Any, root: Path) -> None:
        _require_same_classes(self.name, root, dataset.classes, class_names.EUROSAT)

    def _positions(self, dataset: Any, labels: np.ndarray, split: str) -> np.ndarray:
        train, test = eurosat_split(labels)
        return train if split == "train" else test


def eurosat_split(labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Disjoint stratified 90/10 split of EuroSAT's ``samples`` (``random_state=1``), each sorted."""
    from sklearn.model_selection import train_test_split

    everything = np.arange(len(labels), dtype=np.int64)
    train, test = train_test_split(
        everything, test_size=EUROSAT_TEST_FRACTION, stratify=labels, random_state=EUROSAT_SPLIT_SEED
    )
    train, test = np.sort(train), np.sort(test)
    if np.intersect1d(train, test).size or train.size + test.size != everything.size:
        raise AssertionError("EuroSAT split is not a disjoint partition")
    return train, test


class Caltech101Reader(TorchvisionReader):
    """Caltech101 (101 categories, ``BACKGROUND_Google`` dropped by torchvision), split by file number."""

    name, num_classes = "caltech101", 101

    def _build(self, root: Path, split: str, download: bool, verify_md5: bool) -> Any:
        from torchvision.datasets import Caltech101

        if not download and not (root / "caltech101" / "101_ObjectCategories").is_dir():
            # torchvision would create root/caltech101 before failing; keep a missing root untouched.
            raise RuntimeError("Dataset not found: caltech101/101_ObjectCategories is missing")
        return Caltech101(root, target_type="category", download=download)

    def _labels(self, dataset: Any) -> Sequence[int]:
        return dataset.y

    def _check(self, dataset: Any, root: Path) -> None:
        _require_same_classes(self.name, root, dataset.categories, class_names.CALTECH101)

    def _positions(self, dataset: Any, labels: np.ndarray, split: str) -> np.ndarray:
        train, test = caltech101_split(np.asarray(dataset.index))
        return train if split == "train" else test


def caltech101_split(file_numbers: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Train = ``image_0001..0030`` of every category (torchvision's per-class order), test = the rest."""
    train = np.flatnonzero(file_numbers <= CALTECH_TRAIN_PER_CLASS).astype(np.int64)
    test = np.flatnonzero(file_numbers > CALTECH_TRAIN_PER_CLASS).astype(np.int64)
    if np.intersect1d(train, test).size or train.size + test.size != file_numbers.size:
        raise AssertionError("Caltech101 split is not a disjoint partition")
    return train, test
