"""sha256 checks and the only way vpbench loads a checkpoint: verify first, then ``weights_only=True``."""

from __future__ import annotations

import hashlib
import os
import pickle
from pathlib import Path
from typing import Any

from vpbench.errors import ChecksumError, MissingSourceError, UnsafeCheckpointError

_CHUNK = 1 << 20


def sha256_file(path: str | os.PathLike[str]) -> str:
    """Return the hex sha256 of a file, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def sha256_file_cached(path: str | os.PathLike[str], cache: str | os.PathLike[str]) -> str:
    """sha256 of ``path``, reusing a value recorded in the JSON ``cache`` for the same size and mtime.

    For checks that run on every workflow start (a user checkpoint named by a study); the cache is advisory:
    the hash is recomputed whenever the file's size or modification time changes.
    """
    import json

    path, cache = Path(path).resolve(), Path(cache)
    stat = path.stat()
    stamp = f"{stat.st_size}:{stat.st_mtime_ns}"
    try:
        known = json.loads(cache.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        known = {}
    entry = known.get(str(path))
    if isinstance(entry, dict) and entry.get("stamp") == stamp:
        return str(entry["sha256"])
    digest = sha256_file(path)
    known[str(path)] = {"stamp": stamp, "sha256": digest}
    try:
        from vpbench.runtime import atomic_io

        atomic_io.write_json(cache, known)
    except OSError:
        pass  # an unwritable cache only costs a recomputation next time
    return digest


def verify_sha256(path: str | os.PathLike[str], expected: str | None) -> str:
    """Check ``path`` against ``expected`` (a full hash or a prefix of at least 8 hex digits).

    Returns the full sha256. ``expected=None`` only records the hash (first-seen policy).
    """
    path = Path(path)
    if not path.is_file():
        raise MissingSourceError(f"file not found: {path}")
    actual = sha256_file(path)
    if expected is not None:
        expected = expected.lower()
        if len(expected) < 8:
            raise ValueError(f"checksum prefix too short to be meaningful: {expected!r}")
        if not actual.startswith(expected):
            raise ChecksumError(
                f"sha256 mismatch for {path}: expected {expected}, got {actual}. "
                "The file is corrupt, truncated or not the one the registry names; it was not loaded."
            )
    return actual


def safe_torch_load(path: str | os.PathLike[str], expected_sha256: str | None) -> Any:
    """Verify the checksum, then ``torch.load(weights_only=True, map_location='cpu')``.

    A pickle that needs anything beyond tensors and plain containers is refused with
    :class:`UnsafeCheckpointError`, never executed.
    """
    import torch

    verify_sha256(path, expected_sha256)
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        raise UnsafeCheckpointError(
            f"refused to load {path}: it needs code execution to unpickle (weights_only=True "
            f"rejected it: {str(exc).splitlines()[0]}). Convert it to a plain state dict in a "
            "sandbox and register the sha256 of the converted file."
        ) from exc
