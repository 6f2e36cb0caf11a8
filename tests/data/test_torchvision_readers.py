"""The eight torchvision-backed readers on synthetic files in each native layout (no network)."""

from __future__ import annotations

import shutil
import socket

import numpy as np
import pytest

from tests.data.native_formats import (
    NATIVE_WRITERS,
    decode_label,
    write_caltech101,
    write_cifar10,
    write_eurosat,
)
from vpbench.data import acquire, get_dataset, open_split, read_labels
from vpbench.data.torchvision_readers import EUROSAT_MD5, EUROSAT_URL, caltech101_split, eurosat_split
from vpbench.errors import MissingSourceError


@pytest.fixture
def no_network(monkeypatch):
    """Any socket connection fails the test (AssertionError is not swallowed by presence checks)."""

    def refuse(*args, **kwargs):
        raise AssertionError("a test tried to use the network")

    monkeypatch.setattr(socket.socket, "connect", refuse)


@pytest.mark.parametrize("name", sorted(NATIVE_WRITERS))
def test_reader_yields_aligned_rgb_images_and_labels(name, tmp_path, no_network):
    expected = NATIVE_WRITERS[name](tmp_path)
    assert acquire(name, tmp_path, download=False, verify_md5=False) == tmp_path
    for split in ("train", "test"):
        source = open_split(name, split, tmp_path, verify_md5=False)
        if split in expected:
            np.testing.assert_array_equal(source.labels, expected[split])
        assert source.labels.dtype == np.int64
        for position, (image, label) in enumerate(source):
            assert image.mode == "RGB"
            decoded = decode_label(image.getpixel((image.width // 2, image.height // 2)))
            assert decoded in (label, None), (
                f"{name}/{split} item {position}: image of {decoded}, label {label}"
            )


@pytest.mark.parametrize("name", ["cifar10", "svhn", "flowers102"])
def test_production_checks_md5_so_synthetic_files_are_rejected(name, tmp_path):
    NATIVE_WRITERS[name](tmp_path)
    with pytest.raises(MissingSourceError, match=name):
        read_labels(name, "train", tmp_path, verify_md5=True)


@pytest.mark.parametrize("name", sorted(NATIVE_WRITERS))
def test_missing_root_without_download_names_expected_files(name, tmp_path, no_network):
    spec = get_dataset(name)
    with pytest.raises(MissingSourceError) as caught:
        acquire(name, tmp_path / "data", download=False)
    message = str(caught.value)
    assert repr(name) in message and str(tmp_path / "data") in message
    assert spec.prestage_help in message and spec.sources[0] in message
    assert not (tmp_path / "data").exists()  # a failed check leaves the filesystem alone


def test_prestaged_root_is_used_without_network_even_when_download_is_allowed(tmp_path, no_network):
    write_eurosat(tmp_path)
    write_caltech101(tmp_path)
    assert acquire("eurosat", tmp_path, download=True) == tmp_path  # offline-ok: pre-staged, network blocked
    assert acquire("caltech101", tmp_path, download=True) == tmp_path  # offline-ok: pre-staged


def test_eurosat_download_uses_the_pinned_mirror_and_md5(tmp_path, monkeypatch):
    import torchvision.datasets.utils as tv_utils

    calls = []

    def fake_download(url, download_root, md5=None, **kwargs):
        calls.append((url, md5))
        write_eurosat(tmp_path, per_class=10)

    monkeypatch.setattr(tv_utils, "download_and_extract_archive", fake_download)
    acquire("eurosat", tmp_path, download=True)  # offline-ok: the download function is replaced
    assert calls == [(EUROSAT_URL, EUROSAT_MD5)]  # once: the second split finds the files staged
    assert len(read_labels("eurosat", "test", tmp_path)) == 10


def test_a_download_that_fails_its_checksums_is_refused(tmp_path, monkeypatch):
    import torchvision.datasets.cifar as tv_cifar

    monkeypatch.setattr(tv_cifar, "download_and_extract_archive", lambda *a, **k: write_cifar10(tmp_path))
    with pytest.raises(MissingSourceError, match="rejected the files"):
        acquire("cifar10", tmp_path, download=True)  # offline-ok: the download function is replaced


def test_eurosat_split_is_disjoint_stratified_90_10_and_fixed():
    sizes = [3000, 3000, 3000, 2500, 2500, 2000, 2500, 3000, 2500, 3000]  # the real class sizes
    labels = np.repeat(np.arange(10), sizes)
    train, test = eurosat_split(labels)
    assert (len(train), len(test)) == (24300, 2700)
    assert np.intersect1d(train, test).size == 0
    np.testing.assert_array_equal(np.sort(np.concatenate([train, test])), np.arange(27000))
    np.testing.assert_array_equal(np.bincount(labels[test]), np.array(sizes) // 10)
    again_train, again_test = eurosat_split(labels)
    np.testing.assert_array_equal(train, again_train)
    np.testing.assert_array_equal(test, again_test)


def test_eurosat_reader_splits_the_staged_images_disjointly(tmp_path):
    write_eurosat(tmp_path, per_class=10)
    train = open_split("eurosat", "train", tmp_path)
    test = open_split("eurosat", "test", tmp_path)
    np.testing.assert_array_equal(np.bincount(train.labels), [9] * 10)
    np.testing.assert_array_equal(np.bincount(test.labels), [1] * 10)


def test_caltech101_split_takes_the_first_30_files_of_each_category(tmp_path):
    file_numbers = np.concatenate([np.arange(1, 41), np.arange(1, 32), np.arange(1, 6)])  # 40, 31, 5 images
    train, test = caltech101_split(file_numbers)
    np.testing.assert_array_equal(
        file_numbers[train], np.concatenate([np.arange(1, 31)] * 2 + [np.arange(1, 6)])
    )
    np.testing.assert_array_equal(file_numbers[test], np.concatenate([np.arange(31, 41), [31]]))
    assert np.intersect1d(train, test).size == 0


def test_caltech101_grayscale_images_come_out_rgb(tmp_path):
    write_caltech101(tmp_path, long_classes=(3,), long_count=31)
    test = open_split("caltech101", "test", tmp_path)
    np.testing.assert_array_equal(test.labels, [3])  # image_0031 of class 3, stored grayscale
    image = test.load_image(0)
    assert image.mode == "RGB"
    red, green, blue = image.getpixel((2, 2))
    assert red == green == blue


def test_caltech101_with_a_missing_category_fails_loudly(tmp_path):
    write_caltech101(tmp_path)
    shutil.rmtree(tmp_path / "caltech101" / "101_ObjectCategories" / "okapi")
    with pytest.raises(MissingSourceError, match="missing: \\['okapi'\\]"):
        read_labels("caltech101", "train", tmp_path)


def test_gtsrb_with_unexpected_class_folders_fails_loudly(tmp_path):
    NATIVE_WRITERS["gtsrb"](tmp_path)
    training = tmp_path / "gtsrb" / "GTSRB" / "Training"
    (training / "00042").rename(training / "00043")
    with pytest.raises(MissingSourceError, match="unexpected: \\['00043'\\]"):
        read_labels("gtsrb", "train", tmp_path)


def test_dtd_split_file_missing_a_class_fails_loudly(tmp_path):
    NATIVE_WRITERS["dtd"](tmp_path)
    train_list = tmp_path / "dtd" / "dtd" / "labels" / "train1.txt"
    kept = [line for line in train_list.read_text().splitlines() if not line.startswith("zigzagged/")]
    train_list.write_text("\n".join(kept) + "\n")
    with pytest.raises(MissingSourceError, match="zigzagged"):
        read_labels("dtd", "train", tmp_path)
