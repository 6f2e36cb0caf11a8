"""Per-rule logging for Snakemake ``script:`` adapters: stderr, warnings and logging go to ``log[0]``."""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path


def redirect_to_log(log_path: str | os.PathLike[str]) -> None:
    """Send this process's stderr (tracebacks, progress bars) and ``logging`` to the rule's log file."""
    path = Path(log_path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle = open(path, "a", buffering=1, encoding="utf-8")
    sys.stderr = handle
    os.dup2(handle.fileno(), 2)
    logging.basicConfig(
        stream=handle,
        level=logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        force=True,
    )
    logging.captureWarnings(True)
