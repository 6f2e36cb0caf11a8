"""Per-rule logging for Snakemake ``script:`` adapters: stderr, warnings and logging go to ``log[0]``.

A log on a full filesystem must not hide why the job failed: when a write to the log fails for lack of
space, logging continues on the job's original stderr (Snakemake's console), saying so, and a job that
dies of a full disk ends with one line naming the file and "No space left on device" on both.
"""

from __future__ import annotations

import io
import logging
import os
import sys
import traceback
from pathlib import Path
from types import TracebackType
from typing import TextIO

from vpbench.errors import DiskFullError
from vpbench.runtime.atomic_io import as_disk_full, disk_full_cause


class _LogStream(io.TextIOBase):
    """The rule's log file, falling back to the console for good when the log cannot be written."""

    def __init__(self, path: Path, console: TextIO) -> None:
        super().__init__()
        self.path, self.console = path, console
        self.log: TextIO | None = open(path, "a", buffering=1, encoding="utf-8")

    @property
    def on_console(self) -> bool:
        """Whether the log failed and output now goes to the console."""
        return self.log is None

    def _give_up_log(self, error: OSError) -> None:
        log, self.log = self.log, None
        try:
            os.dup2(self.console.fileno(), 2)  # C-level writes (torch warnings) follow
        except OSError:
            pass
        if log is not None:
            try:
                log.close()
            except OSError:
                pass
        reason = "No space left on device" if disk_full_cause(error) else f"{type(error).__name__}: {error}"
        self.to_console(f"vpbench: cannot write the log {self.path} ({reason}); logging continues here\n")

    def to_console(self, text: str) -> None:
        """Write to the job's original stderr, never raising."""
        try:
            self.console.write(text)
            self.console.flush()
        except (OSError, ValueError):
            pass

    def write(self, text: str) -> int:
        if self.log is not None:
            try:
                self.log.write(text)
                return len(text)
            except OSError as error:
                self._give_up_log(error)
        self.to_console(text)
        return len(text)

    def flush(self) -> None:
        if self.log is not None:
            try:
                self.log.flush()
            except OSError as error:
                self._give_up_log(error)

    def fileno(self) -> int:
        return self.log.fileno() if self.log is not None else self.console.fileno()

    def isatty(self) -> bool:
        return False

    def writable(self) -> bool:
        return True


def disk_full_message(error: BaseException) -> str | None:
    """One line for a failure caused by a full filesystem (naming the file where known), else None."""
    if isinstance(error, DiskFullError):
        return str(error)
    cause = disk_full_cause(error)
    if cause is None:
        return None
    path = cause.filename or getattr(error, "filename", None)
    if path:
        full = as_disk_full(error, path, atomic=False)
        return str(full) if full is not None else None
    return (
        f"No space left on device ({type(error).__name__}: {error}); the failing call did not name the "
        f"file. The job writes under {os.getcwd()}: free space there and rerun"
    )


def _report(stream: _LogStream) -> object:
    def hook(kind: type[BaseException], error: BaseException, tb: TracebackType | None) -> None:
        stream.write("".join(traceback.format_exception(kind, error, tb)))
        message = disk_full_message(error)
        if message is not None:
            line = f"vpbench: {message}\n"
            stream.write(line)
            if not stream.on_console:  # the log may be cut short on a full disk: say it on the console too
                stream.to_console(line)
        stream.flush()

    return hook


def redirect_to_log(log_path: str | os.PathLike[str]) -> None:
    """Send this process's stderr (tracebacks, progress bars) and ``logging`` to the rule's log file."""
    path = Path(log_path)
    console = os.fdopen(os.dup(2), "w", buffering=1, encoding="utf-8", errors="replace")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        stream = _LogStream(path, console)
    except OSError as error:
        full = as_disk_full(error, path)
        console.write(f"vpbench: cannot open the log {path}: {full or error}; logging to the console\n")
        return
    sys.stderr = stream  # type: ignore[assignment]
    os.dup2(stream.fileno(), 2)
    logging.basicConfig(
        stream=stream,
        level=logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        force=True,
    )
    logging.captureWarnings(True)
    sys.excepthook = _report(stream)  # type: ignore[assignment]
