"""Child-process side of the concurrent-writer tests: write one payload to a shared path, over and over."""

from __future__ import annotations

import json
import time
from pathlib import Path

from vpbench.runtime import atomic_io


def payload(writer: int) -> dict:
    """A large JSON object (about 1.5 MB once written) that differs between writers in every chunk."""
    return {"writer": writer, "rows": [[writer, index, f"w{writer}-{index:06d}"] for index in range(40_000)]}


def payload_bytes(writer: int) -> bytes:
    """Exactly the bytes ``atomic_io.write_json`` writes for ``payload(writer)``."""
    return (json.dumps(payload(writer), indent=2, sort_keys=True) + "\n").encode("utf-8")


def write_repeatedly(path: str, writer: int, seconds: float, flags: str) -> None:
    """Say ``ready-<writer>`` in ``flags``, wait for ``start`` there, then rewrite ``path`` with this
    writer's payload for ``seconds`` (so all writers overlap however long each took to start)."""
    data = payload(writer)
    (Path(flags) / f"ready-{writer}").touch()
    deadline = time.monotonic() + 120
    while not (Path(flags) / "start").exists():
        if time.monotonic() > deadline:
            raise TimeoutError("never told to start")
        time.sleep(0.005)
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        atomic_io.write_json(path, data)
