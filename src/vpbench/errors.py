"""Exception types that carry a user-facing message; each names what went wrong and how to fix it."""

from __future__ import annotations


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
