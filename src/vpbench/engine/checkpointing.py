"""Resumable training state: saved atomically with a sha256 sidecar and loaded with ``weights_only``.

SLURM sends SIGTERM before killing a job at its time limit; :class:`PreemptionGuard` turns it into a
flag the training loop checks after every step, so the loop can flush a checkpoint and exit.
"""

from __future__ import annotations

import contextlib
import signal
import types
from pathlib import Path
from typing import Any

from vpbench.errors import ChecksumError, MissingSourceError, VpbenchError
from vpbench.runtime import atomic_io
from vpbench.sources.checksums import safe_torch_load, sha256_file


class PreemptedError(VpbenchError):
    """Training stopped on SIGTERM after saving a checkpoint; rerunning the cell resumes it."""


class CheckpointStore:
    """One resumable checkpoint file (``state.pt``) plus its ``state.pt.sha256`` sidecar."""

    def __init__(self, directory: str | Path) -> None:
        self.directory = Path(directory)
        self.path = self.directory / "state.pt"
        self.sidecar = self.directory / "state.pt.sha256"

    def save(self, state: dict[str, Any]) -> None:
        """Write ``state`` atomically, then its checksum (a state without a sidecar is ignored)."""
        atomic_io.save_torch(self.path, state)
        atomic_io.write_text(self.sidecar, sha256_file(self.path) + "\n")

    def load(self) -> dict[str, Any] | None:
        """Return the saved state, or None when there is none or it fails its checksum."""
        if not (self.path.is_file() and self.sidecar.is_file()):
            return None
        try:
            expected = self.sidecar.read_text().strip()
            return safe_torch_load(self.path, expected)
        except (ChecksumError, MissingSourceError, FileNotFoundError):  # stale, or cleared meanwhile
            return None

    def clear(self) -> None:
        """Remove the checkpoint once the cell's outputs are written."""
        for path in (self.sidecar, self.path, *self.directory.glob(".state.pt*.tmp")):
            path.unlink(missing_ok=True)  # temporaries too: a kill during a save leaves one behind
        with contextlib.suppress(OSError):  # not empty, or removed by a concurrent run of the same cell
            self.directory.rmdir()


class PreemptionGuard:
    """Context manager that records SIGTERM instead of dying, so the loop can checkpoint first."""

    def __init__(self) -> None:
        self.requested = False
        self._previous: Any = None

    def _handle(self, signum: int, frame: types.FrameType | None) -> None:
        self.requested = True

    def __enter__(self) -> PreemptionGuard:
        try:
            self._previous = signal.signal(signal.SIGTERM, self._handle)
        except ValueError:  # not the main thread: leave signal handling alone
            self._previous = None
        return self

    def __exit__(self, *exc: object) -> None:
        if self._previous is not None:
            signal.signal(signal.SIGTERM, self._previous)
