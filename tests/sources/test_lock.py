"""First-seen sha256 pinning for checkpoints without a published checksum."""

from __future__ import annotations

import json

import pytest

from vpbench.errors import CacheCorruptError, ChecksumError
from vpbench.sources.lock import pinned_sha256_for, read_lock, record_first_seen


def test_first_seen_is_pinned_and_later_hashes_must_match(tmp_path):
    lock = tmp_path / "weights.lock.json"
    assert pinned_sha256_for(lock, "acdc") is None
    assert record_first_seen(lock, "acdc", "AB" * 32, filename="a.pth") == "ab" * 32
    assert record_first_seen(lock, "acdc", "ab" * 32) == "ab" * 32
    with pytest.raises(ChecksumError, match="differs from the first-seen"):
        record_first_seen(lock, "acdc", "cd" * 32)
    assert read_lock(lock)["acdc"]["file"] == "a.pth"


def test_replace_repins_derived_files(tmp_path):
    lock = tmp_path / "weights.lock.json"
    record_first_seen(lock, "lt", "ab" * 32)
    record_first_seen(lock, "lt", "cd" * 32, replace=True)
    assert pinned_sha256_for(lock, "lt") == "cd" * 32
    assert json.loads(lock.read_text())["entries"]["lt"]["sha256"] == "cd" * 32


def test_corrupt_lock_is_reported(tmp_path):
    lock = tmp_path / "weights.lock.json"
    lock.write_text("{not json")
    with pytest.raises(CacheCorruptError, match="not valid vpbench lock JSON"):
        pinned_sha256_for(lock, "acdc")
