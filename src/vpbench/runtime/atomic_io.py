"""Atomic file writes: every output goes to a temporary name in the same folder and is renamed.

A killed process therefore leaves either the old file, or nothing, never a truncated one. Files get the
mode a plain ``open(path, "w")`` would give them (0666 minus the umask), so collaborators can read them,
and a write that fails because the filesystem is full raises :class:`~vpbench.errors.DiskFullError`,
which names the file and says "No space left on device", whatever library did the writing.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from vpbench.errors import DiskFullError

DISK_FULL_ERRNOS = (errno.ENOSPC, errno.EDQUOT)
DISK_FULL_TEXTS = ("No space left on device", "Disk quota exceeded")
NEARLY_FULL_BYTES = 1 << 20  # a failed write with less than this free is taken to be a full disk


def current_umask() -> int:
    """This process's umask, read without changing it where Linux allows (``/proc/self/status``)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def disk_full_cause(error: BaseException) -> OSError | None:
    """The out-of-space error behind ``error`` (itself, its cause or its context), if there is one."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, OSError) and (
            current.errno in DISK_FULL_ERRNOS or any(text in str(current) for text in DISK_FULL_TEXTS)
        ):
            return current
        current = current.__cause__ or current.__context__
    return None


def free_bytes(path: str | os.PathLike[str]) -> int | None:
    """Free bytes on the filesystem holding ``path`` (or its nearest existing parent), if known."""
    folder = Path(path)
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    try:
        return shutil.disk_usage(folder).free
    except OSError:
        return None


def as_disk_full(
    error: BaseException, path: str | os.PathLike[str], atomic: bool = True
) -> DiskFullError | None:
    """A :class:`DiskFullError` for ``path`` if ``error`` came from a full filesystem, else None.

    Libraries that write through C++ streams (``torch.save`` to a path) report a full disk as a bare
    position mismatch; a failure with (almost) no free space left is therefore taken as one too.
    ``atomic``: the write went to a temporary file (nothing partial is left).
    """
    if isinstance(error, DiskFullError):
        return error
    cause = disk_full_cause(error)
    free = free_bytes(path)
    nearly_full = free is not None and free < NEARLY_FULL_BYTES
    if cause is None and not (nearly_full and isinstance(error, OSError | RuntimeError)):
        return None
    number = cause.errno if cause is not None and cause.errno in DISK_FULL_ERRNOS else errno.ENOSPC
    detail = f"{type(error).__name__}: {error}".splitlines()[0][:300]
    return DiskFullError(str(path), detail, number, free, atomic)


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; rename it onto ``path`` only if the block succeeds."""
    final = Path(path)
    try:
        final.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(prefix=f".{final.name}.", suffix=".tmp", dir=final.parent)
    except OSError as error:
        full = as_disk_full(error, final)
        if full is None:
            raise
        raise full from error
    try:
        os.fchmod(fd, 0o666 & ~current_umask())  # mkstemp makes 0600; a normal write honours the umask
    finally:
        os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        with open(tmp, "rb+") as handle:
            os.fsync(handle.fileno())
        os.replace(tmp, final)
    except Exception as error:
        full = as_disk_full(error, final)
        if full is None or full is error:
            raise
        raise full from error
    finally:
        if tmp.exists():
            tmp.unlink()


def reserve_space(path: str | os.PathLike[str]) -> None:
    """Allocate the blocks of a sparse file now (e.g. a fresh memory map), so a full disk raises ENOSPC
    here instead of killing the process with SIGBUS when a page of the map is written later."""
    with open(path, "r+b") as handle:
        size = os.fstat(handle.fileno()).st_size
        try:
            os.posix_fallocate(handle.fileno(), 0, size)
        except OSError as error:
            if error.errno in DISK_FULL_ERRNOS:
                raise
        except AttributeError:  # no posix_fallocate on this platform
            pass


def write_bytes(path: str | os.PathLike[str], data: bytes) -> None:
    """Write ``data`` to ``path`` atomically."""
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def write_text(path: str | os.PathLike[str], text: str) -> None:
    """Write ``text`` (UTF-8) to ``path`` atomically."""
    write_bytes(path, text.encode("utf-8"))


def write_json(path: str | os.PathLike[str], obj: Any) -> None:
    """Write ``obj`` as indented, key-sorted JSON atomically (stable bytes for equal content)."""
    write_text(path, json.dumps(obj, indent=2, sort_keys=True, default=_json_default) + "\n")


def write_parquet(path: str | os.PathLike[str], frame: Any) -> None:
    """Write a pandas DataFrame to Parquet atomically (pyarrow engine, no index)."""
    with atomic_path(path) as tmp:
        frame.to_parquet(tmp, engine="pyarrow", index=False)


def save_torch(path: str | os.PathLike[str], obj: Any) -> None:
    """``torch.save`` atomically; ``obj`` must hold only tensors and plain containers."""
    import torch

    with atomic_path(path) as tmp:
        with open(tmp, "wb") as handle:  # through Python's file object, so a full disk raises ENOSPC
            torch.save(obj, handle)


def save_numpy(path: str | os.PathLike[str], array: Any) -> None:
    """``numpy.save`` atomically (``.npy``, memory-mappable, never pickled)."""
    import numpy as np

    with atomic_path(path) as tmp:
        with open(tmp, "wb") as handle:
            np.save(handle, array, allow_pickle=False)


def _json_default(value: Any) -> Any:
    """Make numpy scalars, paths and sets JSON-serialisable."""
    if hasattr(value, "item"):
        return value.item()
    if isinstance(value, (Path, os.PathLike)):
        return str(value)
    if isinstance(value, (set, frozenset)):
        return sorted(value)
    raise TypeError(f"not JSON-serialisable: {type(value).__name__}")
