"""Progress bars for long work (tqdm on stderr), silent when disabled or not wanted in logs."""

from __future__ import annotations

import os
import sys
from typing import Any

from tqdm.auto import tqdm


def progress_bar(
    *, total: int | None, desc: str, enabled: bool = True, initial: int = 0, **kwargs: Any
) -> Any:
    """A tqdm bar writing to stderr; ``VPBENCH_PROGRESS=0`` turns every bar off."""
    disabled = not enabled or os.environ.get("VPBENCH_PROGRESS", "1") == "0"
    return tqdm(
        total=total, desc=desc, initial=initial, disable=disabled, file=sys.stderr, dynamic_ncols=True,
        mininterval=1.0, **kwargs,
    )  # fmt: skip
