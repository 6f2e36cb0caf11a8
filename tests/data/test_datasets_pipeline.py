"""Reader -> cache -> N-shot split, end to end, for each of the eight image datasets in its native layout."""

from __future__ import annotations

import numpy as np
import pytest

from tests.data.native_formats import NATIVE_WRITERS, decode_label
from vpbench.data import build_cache, get_dataset, load_cache, load_split, write_split


@pytest.mark.parametrize("name", sorted(NATIVE_WRITERS))
def test_native_files_to_cache_to_split(name, tmp_path):
    spec = get_dataset(name)
    data = tmp_path / "data"
    expected = NATIVE_WRITERS[name](data)
    caches = {}
    for split in ("train", "test"):
        manifest = build_cache(name, split, data, tmp_path / split, verify_md5=False, progress=False)
        caches[split] = load_cache(tmp_path / split, verify=True)
        assert manifest["input_size"] == spec.input_size
        assert caches[split].images.shape[1:] == (3, spec.input_size, spec.input_size)
        if split in expected:
            np.testing.assert_array_equal(caches[split].labels, expected[split])
        centre = spec.input_size // 2
        decoded = [decode_label(image[:, centre, centre]) for image in caches[split].images]
        assert all(d in (label, None) for d, label in zip(decoded, caches[split].labels, strict=True))
    train_labels = caches["train"].labels

    shots = 3  # above the per-class count of most synthetic train splits: effective N must be recorded
    for model in ("dense", "pruned"):  # every model reads the same split file
        write_split(tmp_path / f"{model}.json", name, shots, seed=0, labels=train_labels)
    assert (tmp_path / "dense.json").read_bytes() == (tmp_path / "pruned.json").read_bytes()
    split = load_split(tmp_path / "dense.json", labels=train_labels)
    counts = np.bincount(train_labels, minlength=spec.num_classes)
    present = counts > 0
    np.testing.assert_array_equal(
        np.bincount(train_labels[split.indices], minlength=spec.num_classes)[present],
        np.minimum(counts[present], shots),
    )
    assert split.effective_shots == min(shots, counts[present].min())
    assert split.is_full == bool(counts.max() <= shots)

    other_seed = write_split(tmp_path / "seed1.json", name, shots, seed=1, labels=train_labels)
    if counts.max() > shots:
        assert other_seed["indices"] != split.record["indices"]
