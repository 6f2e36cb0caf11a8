"""Tiny synthetic datasets in each source's real on-disk layout (environment.md §6), for offline tests.

Every ``write_*`` function takes the shared data root (as vpbench readers do), writes a few small images per
class and returns the labels a reader must produce, per vpbench split, in reader order (``"all"`` for
datasets whose split vpbench derives). Each image is a solid colour that encodes its label
(:func:`label_color` / :func:`decode_label`), so tests can check that decoded images stay aligned with
labels. Reuse from any suite: ``from tests.data.native_formats import NATIVE_WRITERS``.
"""

from __future__ import annotations

import pickle
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import scipy.io
from PIL import Image

from vpbench.data import class_names

MARKER_BLUE = 200


def label_color(label: int) -> tuple[int, int, int]:
    """A colour that survives JPEG and resizing and decodes back to ``label`` (labels 0..109)."""
    return 30 + (label % 10) * 20, 30 + (label // 10) * 20, MARKER_BLUE


def decode_label(pixel: Sequence[int]) -> int | None:
    """Inverse of :func:`label_color` for an RGB pixel; ``None`` for pixels not written by it (grayscale)."""
    red, green, blue = (int(v) for v in pixel)
    if abs(blue - MARKER_BLUE) > 12:
        return None
    return round((red - 30) / 20) + 10 * round((green - 30) / 20)


def _image(label: int, size: tuple[int, int] = (12, 9)) -> Image.Image:
    return Image.new("RGB", size, label_color(label))


def _labels(counts: Sequence[int]) -> np.ndarray:
    """Class-blocked labels: ``counts[c]`` copies of each class c."""
    return np.repeat(np.arange(len(counts)), counts).astype(np.int64)


def write_cifar10(root: Path, train_per_class: int = 3, test_per_class: int = 2) -> dict[str, np.ndarray]:
    """``cifar-10-batches-py/data_batch_1..5``, ``test_batch`` (pickled dicts) and ``batches.meta``."""
    folder = Path(root) / "cifar-10-batches-py"
    folder.mkdir(parents=True, exist_ok=True)

    def rows(labels: np.ndarray) -> np.ndarray:
        colours = np.array([label_color(int(label)) for label in labels], dtype=np.uint8)  # N×3
        return np.repeat(colours, 1024, axis=1)  # R plane, G plane, B plane (1024 each)

    train = np.tile(np.arange(10), train_per_class)  # interleaved classes, as in the real batches
    batches = np.array_split(train, 5)
    for number, batch in enumerate(batches, start=1):
        entry = {
            "batch_label": f"training batch {number} of 5",
            "labels": batch.tolist(),
            "data": rows(batch),
        }
        (folder / f"data_batch_{number}").write_bytes(pickle.dumps(entry, protocol=2))
    test = np.tile(np.arange(10), test_per_class)
    entry = {"batch_label": "testing batch 1 of 1", "labels": test.tolist(), "data": rows(test)}
    (folder / "test_batch").write_bytes(pickle.dumps(entry, protocol=2))
    meta = {"label_names": list(class_names.CIFAR10), "num_cases_per_batch": 10000, "num_vis": 3072}
    (folder / "batches.meta").write_bytes(pickle.dumps(meta, protocol=2))
    return {"train": np.concatenate(batches).astype(np.int64), "test": test.astype(np.int64)}


def write_svhn(root: Path, train_per_class: int = 3, test_per_class: int = 2) -> dict[str, np.ndarray]:
    """``svhn/{train,test}_32x32.mat``: ``X`` uint8 (32, 32, 3, N), ``y`` (N, 1) with 10 meaning digit 0."""
    folder = Path(root) / "svhn"
    folder.mkdir(parents=True, exist_ok=True)
    expected = {}
    for split, per_class in (("train", train_per_class), ("test", test_per_class)):
        digits = np.tile(np.arange(10), per_class)
        pixels = np.array([label_color(int(d)) for d in digits], dtype=np.uint8)  # N×3
        images = np.broadcast_to(pixels.T[None, None], (32, 32, 3, len(digits))).copy()
        stored = np.where(digits == 0, 10, digits).reshape(-1, 1).astype(np.uint8)
        scipy.io.savemat(folder / f"{split}_32x32.mat", {"X": images, "y": stored})
        expected[split] = digits.astype(np.int64)
    return expected


def write_gtsrb(root: Path, train_per_class: int = 2, test_per_class: int = 1) -> dict[str, np.ndarray]:
    """GTSRB: ``gtsrb/GTSRB/Training/000NN/*.ppm``, ``gtsrb/GTSRB/Final_Test/Images/*.ppm`` and CSV.

    ``gtsrb/GT-final_test.csv`` is ``;``-separated with the real header (``Filename`` ... ``ClassId``).
    """
    base = Path(root) / "gtsrb"
    for label in range(43):
        folder = base / "GTSRB" / "Training" / f"{label:05d}"
        folder.mkdir(parents=True, exist_ok=True)
        lines = ["Filename;Width;Height;Roi.X1;Roi.Y1;Roi.X2;Roi.Y2;ClassId"]
        for item in range(train_per_class):
            _image(label, (11, 13)).save(folder / f"00000_{item:05d}.ppm")
            lines.append(f"00000_{item:05d}.ppm;11;13;1;1;10;12;{label}")
        (folder / f"GT-{label:05d}.csv").write_text("\n".join(lines) + "\n")
    test_dir = base / "GTSRB" / "Final_Test" / "Images"
    test_dir.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    test = rng.permutation(np.repeat(np.arange(43), test_per_class))  # the real test set is not class-ordered
    lines = ["Filename;Width;Height;Roi.X1;Roi.Y1;Roi.X2;Roi.Y2;ClassId"]
    for number, label in enumerate(test):
        _image(int(label), (13, 11)).save(test_dir / f"{number:05d}.ppm")
        lines.append(f"{number:05d}.ppm;13;11;1;1;12;10;{label}")
    (base / "GT-final_test.csv").write_text("\n".join(lines) + "\n")
    return {"train": _labels([train_per_class] * 43), "test": test.astype(np.int64)}


def write_dtd(root: Path, per_class: int = 2) -> dict[str, np.ndarray]:
    """``dtd/dtd/images/<class>/*.jpg`` and ``dtd/dtd/labels/{train,val,test}1.txt`` (``class/file.jpg``)."""
    data = Path(root) / "dtd" / "dtd"
    (data / "labels").mkdir(parents=True, exist_ok=True)
    lists: dict[str, list[str]] = {"train": [], "val": [], "test": []}
    for label, name in enumerate(class_names.DTD):
        (data / "images" / name).mkdir(parents=True, exist_ok=True)
        for split_index, split in enumerate(lists):
            for item in range(per_class):
                filename = f"{name}_{split_index:02d}{item:02d}.jpg"
                _image(label).save(data / "images" / name / filename)
                lists[split].append(f"{name}/{filename}")
    for split, lines in lists.items():
        (data / "labels" / f"{split}1.txt").write_text("\n".join(lines) + "\n")
    return {"train": _labels([per_class] * 47), "test": _labels([per_class] * 47)}


def write_flowers102(
    root: Path, train_per_class: int = 2, val_per_class: int = 1, test_per_class: int = 1
) -> dict[str, np.ndarray]:
    """``flowers-102/jpg/image_NNNNN.jpg``, ``imagelabels.mat`` (labels 1..102), ``setid.mat`` (id lists)."""
    base = Path(root) / "flowers-102"
    (base / "jpg").mkdir(parents=True, exist_ok=True)
    per_image_label: list[int] = []
    ids: dict[str, list[int]] = {"trnid": [], "valid": [], "tstid": []}
    for label in range(102):
        for key, count in (("trnid", train_per_class), ("valid", val_per_class), ("tstid", test_per_class)):
            for _ in range(count):
                per_image_label.append(label)
                image_id = len(per_image_label)  # 1-based
                _image(label).save(base / "jpg" / f"image_{image_id:05d}.jpg")
                ids[key].append(image_id)
    rng = np.random.default_rng(0)
    order = {key: rng.permutation(np.array(values)) for key, values in ids.items()}
    scipy.io.savemat(base / "imagelabels.mat", {"labels": np.array([per_image_label]) + 1})
    scipy.io.savemat(base / "setid.mat", {key: values.reshape(1, -1) for key, values in order.items()})
    labels = np.array(per_image_label)
    return {"train": labels[order["trnid"] - 1], "test": labels[order["tstid"] - 1]}


_PET_CATS = {
    "Abyssinian", "Bengal", "Birman", "Bombay", "British Shorthair", "Egyptian Mau", "Maine Coon", "Persian",
    "Ragdoll", "Russian Blue", "Siamese", "Sphynx",
}  # fmt: skip


def write_oxford_pets(
    root: Path, trainval_per_class: int = 2, test_per_class: int = 1
) -> dict[str, np.ndarray]:
    """``oxford-iiit-pet/images/<Breed>_<n>.jpg`` and ``annotations/{trainval,test}.txt``.

    Annotation lines read ``<id> <class 1..37> <species 1=cat 2=dog> <breed id>``; cat breeds are capitalised.
    """
    base = Path(root) / "oxford-iiit-pet"
    (base / "images").mkdir(parents=True, exist_ok=True)
    (base / "annotations").mkdir(parents=True, exist_ok=True)
    lines: dict[str, list[str]] = {"trainval": [], "test": []}
    for label, pretty in enumerate(class_names.OXFORD_PETS):
        is_cat = pretty in _PET_CATS
        raw = pretty.replace(" ", "_") if is_cat else pretty.lower().replace(" ", "_")
        number = 0
        for split, count in (("trainval", trainval_per_class), ("test", test_per_class)):
            for _ in range(count):
                number += 1
                _image(label).save(base / "images" / f"{raw}_{number}.jpg")
                lines[split].append(f"{raw}_{number} {label + 1} {1 if is_cat else 2} {number}")
    for split, rows in lines.items():
        (base / "annotations" / f"{split}.txt").write_text("\n".join(rows) + "\n")
    return {"train": _labels([trainval_per_class] * 37), "test": _labels([test_per_class] * 37)}


def write_eurosat(root: Path, per_class: int = 10) -> dict[str, np.ndarray]:
    """``eurosat/2750/<Class>/<Class>_<n>.jpg``; returns ``"all"`` labels in ImageFolder order."""
    for label, name in enumerate(class_names.EUROSAT):
        folder = Path(root) / "eurosat" / "2750" / name
        folder.mkdir(parents=True, exist_ok=True)
        for item in range(1, per_class + 1):
            _image(label, (16, 16)).save(folder / f"{name}_{item}.jpg")
    return {"all": _labels([per_class] * 10)}


def write_caltech101(
    root: Path, per_class: int = 2, long_classes: Sequence[int] = (0, 5), long_count: int = 32
) -> dict[str, np.ndarray]:
    """``caltech101/101_ObjectCategories/<category>/image_NNNN.jpg`` plus ``BACKGROUND_Google``.

    Classes in ``long_classes`` get ``long_count`` images (so some reach the test split); the last image of
    each long class is grayscale, as some real Caltech101 images are.
    """
    categories = Path(root) / "caltech101" / "101_ObjectCategories"
    counts = [long_count if label in long_classes else per_class for label in range(101)]
    for label, name in enumerate(class_names.CALTECH101):
        (categories / name).mkdir(parents=True, exist_ok=True)
        for number in range(1, counts[label] + 1):
            image = _image(label, (10, 14))
            if label in long_classes and number == counts[label]:
                image = image.convert("L")
            image.save(categories / name / f"image_{number:04d}.jpg")
    (categories / "BACKGROUND_Google").mkdir(parents=True, exist_ok=True)
    _image(0).save(categories / "BACKGROUND_Google" / "image_0001.jpg")
    train = [min(count, 30) for count in counts]
    return {
        "train": _labels(train),
        "test": _labels([count - t for count, t in zip(counts, train, strict=True)]),
    }


NATIVE_WRITERS: dict[str, Callable[[Path], dict[str, np.ndarray]]] = {
    "cifar10": write_cifar10,
    "svhn": write_svhn,
    "gtsrb": write_gtsrb,
    "dtd": write_dtd,
    "flowers102": write_flowers102,
    "oxford_pets": write_oxford_pets,
    "eurosat": write_eurosat,
    "caltech101": write_caltech101,
}
