"""N-shot subsets (vp_methods §4): balance, determinism, effective N, paper-compatible RNG, split files."""

from __future__ import annotations

import json

import numpy as np
import pytest

from vpbench.data import labels_digest, load_split, nshot_indices, parse_shots, write_split
from vpbench.errors import CacheCorruptError, ConfigError

LABELS = np.repeat(np.arange(5), [12, 7, 30, 3, 9])[np.random.default_rng(3).permutation(61)]


def _fork_replica(labels: np.ndarray, shots: int, seed: int) -> np.ndarray:
    """The fork's sampling as written: the global numpy RNG seeded right before, same calls, same order."""
    np.random.seed(seed)
    kept = []
    for label in range(int(labels.max()) + 1):
        members = np.where(labels == label)[0]
        np.random.shuffle(members)
        kept.append(members[:shots])
    chosen = np.concatenate(kept)
    np.random.shuffle(chosen)
    return chosen


@pytest.mark.parametrize("paper_compat", [False, True])
def test_subset_is_balanced_and_draws_only_from_each_class(paper_compat):
    indices = nshot_indices(LABELS, 5, seed=0, paper_compat=paper_compat)
    np.testing.assert_array_equal(np.bincount(LABELS[indices]), [5, 5, 5, 3, 5])  # class 3 has only 3
    assert len(np.unique(indices)) == len(indices)
    assert indices.dtype == np.int64


def test_subset_is_deterministic_per_seed_and_changes_with_it():
    first = nshot_indices(LABELS, 4, seed=7)
    np.testing.assert_array_equal(first, nshot_indices(LABELS, 4, seed=7))
    assert not np.array_equal(first, nshot_indices(LABELS, 4, seed=8))


def test_final_order_is_shuffled_not_class_blocked():
    indices = nshot_indices(LABELS, 3, seed=0)
    assert not np.all(np.diff(LABELS[indices]) >= 0)


def test_paper_compat_reproduces_the_forks_global_rng_calls():
    for seed in (0, 1, 2):
        np.testing.assert_array_equal(
            nshot_indices(LABELS, 5, seed, paper_compat=True), _fork_replica(LABELS, 5, seed)
        )


def test_default_generator_differs_from_the_legacy_one():
    assert not np.array_equal(nshot_indices(LABELS, 5, 0), nshot_indices(LABELS, 5, 0, paper_compat=True))


def test_full_is_every_index_sorted():
    np.testing.assert_array_equal(nshot_indices(LABELS, None, seed=3), np.arange(len(LABELS)))


@pytest.mark.parametrize("bad", [0, -1, 2.5, True, "ten"])
def test_invalid_shots_are_config_errors(bad):
    with pytest.raises(ConfigError, match="shots must be a positive integer or 'full'"):
        nshot_indices(LABELS, bad, seed=0)
    with pytest.raises(ConfigError):
        parse_shots(bad)


def test_parse_shots_accepts_full_and_integers():
    assert parse_shots("full") is None and parse_shots(None) is None
    assert parse_shots(10) == 10 and parse_shots("10") == 10


def test_split_file_records_effective_shots_and_round_trips(tmp_path):
    path = tmp_path / "split.json"
    record = write_split(path, "toy", 10, seed=1, labels=LABELS)
    assert record["shots"] == 10 and record["effective_shots"] == 3  # smallest class has 3
    assert record["per_class_shots"] == [10, 7, 10, 3, 9]
    assert record["train_class_counts"] == [12, 7, 30, 3, 9]
    assert record["is_full"] is False and record["paper_compat"] is False
    loaded = load_split(path, labels=LABELS)
    np.testing.assert_array_equal(loaded.indices, nshot_indices(LABELS, 10, seed=1))
    assert loaded.shots == 10 and loaded.seed == 1 and loaded.labels_sha256 == labels_digest(LABELS)


def test_n_at_least_every_class_count_is_flagged_full(tmp_path):
    record = write_split(tmp_path / "s.json", "toy", 30, seed=0, labels=LABELS)
    assert record["is_full"] is True and record["count"] == len(LABELS) and record["effective_shots"] == 3
    full = write_split(tmp_path / "f.json", "toy", None, seed=0, labels=LABELS)
    assert full["shots"] == "full" and full["is_full"] is True
    assert load_split(tmp_path / "f.json").shots is None


def test_split_files_are_byte_identical_across_calls(tmp_path):
    for name in ("a.json", "b.json"):
        write_split(tmp_path / name, "toy", 5, seed=4, labels=LABELS, paper_compat=True)
    assert (tmp_path / "a.json").read_bytes() == (tmp_path / "b.json").read_bytes()


def test_loading_against_other_labels_is_refused(tmp_path):
    path = tmp_path / "split.json"
    write_split(path, "toy", 2, seed=0, labels=LABELS)
    other = LABELS.copy()
    other[0] = (other[0] + 1) % 5
    with pytest.raises(CacheCorruptError, match="drawn from other train labels"):
        load_split(path, labels=other)


def test_a_damaged_split_file_is_reported(tmp_path):
    path = tmp_path / "split.json"
    write_split(path, "toy", 2, seed=0, labels=LABELS)
    record = json.loads(path.read_text())
    del record["indices"]
    path.write_text(json.dumps(record))
    with pytest.raises(CacheCorruptError, match=r"split\.json"):
        load_split(path)
