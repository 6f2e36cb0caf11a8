"""uint8 caches: layout, torchvision-equal resizing, manifest checksums and completeness."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image
from torchvision import transforms

import vpbench
from tests.data.native_formats import decode_label, write_cifar10, write_dtd
from vpbench.data import build_cache, load_cache, verify_cache
from vpbench.data import cache as cache_module
from vpbench.errors import CacheCorruptError, ConfigError


@pytest.fixture
def cifar_cache(tmp_path):
    write_cifar10(tmp_path / "data")
    manifest = build_cache(
        "cifar10", "train", tmp_path / "data", tmp_path / "cache", verify_md5=False, progress=False
    )
    return tmp_path / "cache", manifest


def test_cache_layout_and_manifest(cifar_cache):
    folder, manifest = cifar_cache
    cached = load_cache(folder)
    assert cached.images.shape == (30, 3, 32, 32) and cached.images.dtype == np.uint8
    assert isinstance(cached.images, np.memmap) and not cached.images.flags.writeable
    assert cached.labels.dtype == np.int64 and len(cached) == 30
    assert cached.class_names[0] == "airplane" and len(cached.class_names) == 10
    on_disk = json.loads((folder / "manifest.json").read_text())
    assert on_disk == manifest == cached.manifest
    assert manifest["dataset"] == "cifar10" and manifest["split"] == "train" and manifest["input_size"] == 32
    assert manifest["count"] == 30 and manifest["num_classes"] == 10 and manifest["class_counts"] == [3] * 10
    assert (
        "data_batch_1..5" in manifest["split_policy"] and manifest["vpbench_version"] == vpbench.__version__
    )
    assert set(manifest["sha256"]) == {"images.npy", "labels.npy"}
    for image, label in zip(cached.images, cached.labels, strict=True):
        assert decode_label(image[:, 16, 16]) == label


def test_flipping_one_byte_of_the_images_is_detected(cifar_cache):
    folder, _ = cifar_cache
    data = bytearray((folder / "images.npy").read_bytes())
    data[-100] ^= 0x01
    (folder / "images.npy").write_bytes(bytes(data))
    load_cache(folder)  # unverified loads stay cheap
    with pytest.raises(CacheCorruptError, match=r"images\.npy"):
        load_cache(folder, verify=True)
    with pytest.raises(CacheCorruptError, match=r"images\.npy"):
        verify_cache(folder)


def test_a_folder_without_manifest_is_incomplete(cifar_cache):
    folder, _ = cifar_cache
    (folder / "manifest.json").unlink()
    with pytest.raises(CacheCorruptError, match=r"no manifest\.json"):
        load_cache(folder)


def test_a_failed_rebuild_leaves_no_manifest(cifar_cache, monkeypatch):
    folder, _ = cifar_cache

    def broken_resize(image, size):
        raise OSError("decoder crashed")

    monkeypatch.setitem(cache_module.RESIZERS, "square", (broken_resize, "broken"))
    with pytest.raises(OSError, match="decoder crashed"):
        build_cache("cifar10", "train", folder.parent / "data", folder, verify_md5=False, progress=False)
    assert not (folder / "manifest.json").exists()
    assert not list(folder.glob(".*.tmp"))


@pytest.mark.parametrize("size", [32, 128, 17])
def test_resize_matches_torchvision_resize_on_pil(size):
    rng = np.random.default_rng(size)
    image = Image.fromarray(rng.integers(0, 256, size=(45, 60, 3), dtype=np.uint8))
    expected = transforms.Compose([transforms.Resize((size, size)), transforms.PILToTensor()])(image)
    ours = cache_module.resize_like_torchvision(image, size)
    np.testing.assert_array_equal(ours, expected.numpy())


def test_native_size_is_left_untouched():
    pixels = np.random.default_rng(0).integers(0, 256, size=(32, 32, 3), dtype=np.uint8)
    np.testing.assert_array_equal(
        cache_module.resize_like_torchvision(Image.fromarray(pixels), 32), pixels.transpose(2, 0, 1)
    )


def test_input_size_override_and_per_class_limit(tmp_path):
    write_dtd(tmp_path / "data")
    manifest = build_cache(
        "dtd", "test", tmp_path / "data", tmp_path / "c", input_size=24, limit_per_class=1, progress=False
    )
    cached = load_cache(tmp_path / "c", verify=True)
    assert cached.images.shape == (47, 3, 24, 24)
    assert (
        manifest["input_size"] == 24
        and manifest["limit_per_class"] == 1
        and manifest["class_counts"] == [1] * 47
    )
    np.testing.assert_array_equal(cached.labels, np.arange(47))


def test_bad_sizes_and_limits_are_config_errors(tmp_path):
    write_dtd(tmp_path / "data")
    with pytest.raises(ConfigError, match="input_size"):
        build_cache("dtd", "test", tmp_path / "data", tmp_path / "c", input_size=0, progress=False)
    with pytest.raises(ConfigError, match="limit_per_class"):
        build_cache("dtd", "test", tmp_path / "data", tmp_path / "c", limit_per_class=0, progress=False)


def test_demo_datasets_go_through_the_same_cache_path(tmp_path):
    digits = build_cache("digits", "test", None, tmp_path / "digits", progress=False)
    assert digits["count"] == 599 and digits["input_size"] == 32
    animals = build_cache(
        "animal_mnist", "train", None, tmp_path / "animals", limit_per_class=3, progress=False
    )
    assert animals["class_counts"] == [3] * 10 and animals["class_names"][0] == "bear"
    cached = load_cache(tmp_path / "animals", verify=True)
    assert cached.images.shape == (30, 3, 32, 32)
    assert np.array_equal(cached.images[:, 0], cached.images[:, 2])  # grayscale replicated
