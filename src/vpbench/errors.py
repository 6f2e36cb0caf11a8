"""Exception types that carry a user-facing message; each names what went wrong and how to fix it."""

from __future__ import annotations

import errno


class VpbenchError(Exception):
    """Base class for every error vpbench raises on purpose."""


class ConfigError(VpbenchError):
    """A study configuration is malformed; the message names the key and the allowed values."""


class ChecksumError(VpbenchError):
    """A file's sha256 differs from the expected one; the file is never loaded."""


class MissingSourceError(VpbenchError):
    """A checkpoint or dataset is neither pre-staged nor downloadable; says what to place where."""


class UnsafeCheckpointError(VpbenchError):
    """A checkpoint needs arbitrary code execution to unpickle and was refused."""


class CacheCorruptError(VpbenchError):
    """A cache file no longer matches its manifest checksum."""


class NumericalError(VpbenchError):
    """Training produced a NaN or Inf loss."""


class DiskFullError(VpbenchError, OSError):
    """A write failed because its filesystem is full (or over quota); names the path and the free space.

    Also an :class:`OSError` with ``errno`` ENOSPC (or EDQUOT), so code that handles OS errors still does.
    ``atomic`` says the write went through a temporary file, so nothing partial was left behind.
    """

    def __init__(
        self, path: str, detail: str, error_number: int, free_bytes: int | None, atomic: bool = True
    ) -> None:
        super().__init__(error_number, "No space left on device", path)
        self.detail, self.free_bytes, self.atomic = detail, free_bytes, atomic

    def __str__(self) -> str:
        free = "" if self.free_bytes is None else f"; {_size(self.free_bytes)} free there now"
        quota = " (disk quota exceeded)" if self.errno == errno.EDQUOT else ""
        kept = "; the failed write left no partial file and kept any previous version" if self.atomic else ""
        return (
            f"No space left on device{quota} while writing {self.filename}{free} ({self.detail}). Free space "
            f"on that filesystem (or point the study's paths elsewhere) and rerun{kept}"
        )


def _size(count: float) -> str:
    """A byte count for people: 512 B, 3.2 MiB."""
    if count < 1024:
        return f"{count:.0f} B"
    for unit in ("KiB", "MiB", "GiB", "TiB"):
        count /= 1024
        if count < 1024 or unit == "TiB":
            break
    return f"{count:.1f} {unit}"
