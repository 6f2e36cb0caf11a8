"""Demo datasets from installed packages: animal-mnist (checksummed, safe unpickling) and sklearn digits."""

from __future__ import annotations

import gzip
import hashlib
import os
import pickle
import shutil

import numpy as np
import pytest

from vpbench.data import acquire, open_split, read_labels
from vpbench.data import demo as demo_module
from vpbench.errors import ChecksumError, UnsafeCheckpointError


def test_animal_mnist_reads_the_installed_files_into_a_stratified_disjoint_split():
    train = read_labels("animal_mnist", "train", None)
    test = read_labels("animal_mnist", "test", None)
    assert train.dtype == test.dtype == np.int64
    np.testing.assert_array_equal(np.bincount(train), [800] * 10)
    np.testing.assert_array_equal(np.bincount(test), [200] * 10)
    _, _, splits = demo_module._animal_mnist_arrays()
    assert np.intersect1d(splits["train"], splits["test"]).size == 0
    assert len(splits["train"]) + len(splits["test"]) == 10000


def test_animal_mnist_images_are_grayscale_replicated_to_rgb():
    image = open_split("animal_mnist", "test", None).load_image(0)
    assert image.mode == "RGB" and image.size == (28, 28)
    pixels = np.asarray(image)
    assert np.array_equal(pixels[..., 0], pixels[..., 1]) and np.array_equal(pixels[..., 1], pixels[..., 2])
    assert pixels.max() > 0


def test_demo_datasets_need_no_root_and_no_download():
    assert acquire("animal_mnist", None, download=False) is None
    assert acquire("digits", None, download=False) is None


def test_digits_split_and_pixel_scaling():
    train, test = open_split("digits", "train", None), open_split("digits", "test", None)
    assert len(train) + len(test) == 1797
    assert len(test) == 599
    per_class_total = np.bincount(train.labels) + np.bincount(test.labels)
    assert np.abs(np.bincount(test.labels) * 3 - per_class_total).max() <= 3  # stratified: a third of each
    images, _, _ = demo_module._digits_arrays()
    assert images.dtype == np.uint8 and images.max() == 255 and images.min() == 0


@pytest.fixture
def staged_copy(tmp_path, monkeypatch):
    """A writable copy of the animal-mnist package files; the reader is pointed at it."""
    copy = tmp_path / "animal_mnist"
    shutil.copytree(demo_module.animal_mnist_dir() / "data", copy / "data")
    monkeypatch.setattr(demo_module, "animal_mnist_dir", lambda: copy)
    demo_module._animal_mnist_arrays.cache_clear()
    yield copy
    demo_module._animal_mnist_arrays.cache_clear()


def test_a_tampered_file_fails_its_checksum_before_unpickling(staged_copy):
    labels_file = staged_copy / demo_module.ANIMAL_MNIST_FILES["labels"][0]
    data = bytearray(labels_file.read_bytes())
    data[-5] ^= 0xFF
    labels_file.write_bytes(bytes(data))
    with pytest.raises(ChecksumError, match=r"animal_label_version_3\.gz"):
        read_labels("animal_mnist", "train", None)


def test_a_malicious_pickle_with_a_matching_checksum_is_still_refused(staged_copy, monkeypatch, tmp_path):
    marker = tmp_path / "pwned"

    class Payload:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    labels_file = staged_copy / demo_module.ANIMAL_MNIST_FILES["labels"][0]
    labels_file.write_bytes(gzip.compress(pickle.dumps(Payload())))
    digest = hashlib.sha256(labels_file.read_bytes()).hexdigest()
    files = {
        **demo_module.ANIMAL_MNIST_FILES,
        "labels": (demo_module.ANIMAL_MNIST_FILES["labels"][0], digest),
    }
    monkeypatch.setattr(demo_module, "ANIMAL_MNIST_FILES", files)
    with pytest.raises(UnsafeCheckpointError, match="system"):
        read_labels("animal_mnist", "train", None)
    assert not marker.exists()
