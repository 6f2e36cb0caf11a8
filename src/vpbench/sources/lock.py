"""First-seen sha256 lock for checkpoints whose publishers give no checksum (sources.md loading policy).

The first verified download (or the first file a user places) is pinned under its key; every later
acquisition or load must match it, so a silently replaced file on a share link is caught.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from vpbench.errors import CacheCorruptError, ChecksumError
from vpbench.runtime import atomic_io

LOCK_FILENAME = "weights.lock.json"


def read_lock(lock_path: str | os.PathLike[str]) -> dict[str, dict[str, Any]]:
    """Return ``{key: {"sha256", "file", "recorded"}}``; a missing lock file is an empty lock."""
    path = Path(lock_path)
    if not path.is_file():
        return {}
    try:
        entries = json.loads(path.read_text())["entries"]
    except (ValueError, KeyError, TypeError) as exc:
        raise CacheCorruptError(
            f"lock file {path} is not valid vpbench lock JSON ({exc}); restore it from version control"
        ) from None
    return dict(entries)


def pinned_sha256_for(lock_path: str | os.PathLike[str], key: str) -> str | None:
    """The sha256 pinned for ``key``, or None if nothing has been recorded yet."""
    entry = read_lock(lock_path).get(key)
    return entry["sha256"] if entry else None


def record_first_seen(
    lock_path: str | os.PathLike[str], key: str, sha256: str, *, filename: str = "", replace: bool = False
) -> str:
    """Pin ``sha256`` for ``key`` unless one is pinned already; a different hash raises ChecksumError.

    ``replace=True`` re-pins (for files vpbench derives itself from already-verified inputs).
    Returns the pinned hash.
    """
    sha256 = sha256.lower()
    with _exclusive(Path(lock_path)):
        entries = read_lock(lock_path)
        pinned = entries.get(key, {}).get("sha256")
        if pinned is not None and pinned != sha256 and not replace:
            raise ChecksumError(
                f"{filename or key}: sha256 {sha256} differs from the first-seen {pinned} pinned for {key!r} "
                f"in {lock_path}. The file changed since it was first used; it was not loaded. Restore the "
                "original file, or delete the entry if the change is intended."
            )
        if pinned != sha256:
            entries[key] = {
                "sha256": sha256,
                "file": filename,
                "recorded": datetime.now(UTC).isoformat(timespec="seconds"),
            }
            atomic_io.write_json(lock_path, {"entries": entries})
    return sha256


@contextlib.contextmanager
def _exclusive(lock_path: Path) -> Iterator[None]:
    """Serialise read-modify-write of the lock between concurrent jobs (advisory flock on a side file)."""
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with open(lock_path.with_name(lock_path.name + ".flock"), "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
