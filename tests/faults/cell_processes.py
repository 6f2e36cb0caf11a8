"""Real cell processes for fault tests: run one tiny cell (tests/engine/test_cell.py's workspace) in a child,
stop it at an exact point, and kill it there.

Children are forked from a forkserver that has already imported torch and vpbench (if this module is the
first to start the forkserver of the test process; otherwise each child imports them itself, slower but
the same), so each costs well under a second instead of the ~8 s of a fresh interpreter; they are still
separate processes that a signal kills for real. A child reports through files in its status folder:
``paused`` when it reached its pause point (it then waits for ``release`` or for a signal) and
``error.json`` when it raised.
"""

from __future__ import annotations

import copy
import json
import multiprocessing
import os
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from tests.engine.test_cell import CONFIG, _run, _stable, selection_config
from vpbench.engine.checkpointing import CheckpointStore
from vpbench.runtime import atomic_io
from vpbench.sources.checksums import safe_torch_load
from vpbench.study.schema import validate_config

STEPS_PER_EPOCH = 3  # CONFIG: 2 shots x 10 digits = 20 training images in batches of 8
EPOCHS = CONFIG["training"]["epochs"]
# a finished cell folder holds exactly these (CONFIG saves the prompt history)
EXPECTED_FILES = {
    "metrics.parquet", "epochs.parquet", "classes.parquet", "test_probs.npy", "test_labels.npy", "prompt.pt",
    "cell.json", "prompt_history.npy",
}  # fmt: skip
COMPARED_FILES = ("metrics.parquet", "epochs.parquet", "classes.parquet")
PAUSE_POINTS = ("optimizer_step", "checkpoint_rename", "checkpoint_sidecar", "output_staging", "output_move")
WAIT_S = 120.0  # generous: the machine is shared; a healthy child reaches any point within seconds


@dataclass(frozen=True)
class Pause:
    """Stop the child just before (or, for ``optimizer_step``, just after) the ``nth`` event at ``point``.

    ``optimizer_step``: an Adam step; ``checkpoint_rename``: the rename of a new ``state.pt`` into place;
    ``checkpoint_sidecar``: the write of ``state.pt.sha256`` (the new state.pt is already in place);
    ``output_staging``: a rename inside the cell's staging folder; ``output_move``: the move of a finished
    output from the staging folder into the cell folder.
    """

    point: str
    nth: int = 1

    def __post_init__(self) -> None:
        if self.point not in PAUSE_POINTS:
            raise ValueError(f"unknown pause point {self.point!r}; allowed: {', '.join(PAUSE_POINTS)}")


def checkpoint_dir(out: Path) -> Path:
    """Where tests.engine.test_cell._run keeps the cell's resumable state."""
    return out.parent / (out.name + "-ckpt")


def checkpoint_position(out: Path) -> tuple[int, int] | None:
    """(epoch, step) of the checkpoint a rerun would resume from, or None if it would start over."""
    state = CheckpointStore(checkpoint_dir(out)).load()
    return None if state is None else (int(state["epoch"]), int(state["step"]))


def raw_checkpoint_position(out: Path) -> tuple[int, int]:
    """(epoch, step) stored in ``state.pt`` itself, read with ``weights_only=True`` whatever its sidecar."""
    state = safe_torch_load(checkpoint_dir(out) / "state.pt", None)
    return int(state["epoch"]), int(state["step"])


def remaining_steps(position: tuple[int, int] | None) -> int:
    """Optimizer steps a rerun must take from ``position`` to finish all epochs."""
    epoch, step = position or (0, 0)
    return STEPS_PER_EPOCH * (EPOCHS - epoch) - step


def count_optimizer_steps(monkeypatch: Any) -> dict[str, int]:
    """Count Adam steps in this process from now on (``["n"]``), to tell a resume from a fresh start."""
    counted = {"n": 0}
    step = torch.optim.Adam.step

    def counting_step(self, *args, **kwargs):
        counted["n"] += 1
        return step(self, *args, **kwargs)

    monkeypatch.setattr(torch.optim.Adam, "step", counting_step)
    return counted


def assert_same_outputs(reference: Path, out: Path) -> None:
    """The cell's tables (``wall_*`` timings aside), probabilities, labels and prompt equal the reference."""
    for name in COMPARED_FILES:
        pd.testing.assert_frame_equal(
            _stable(pd.read_parquet(reference / name)), _stable(pd.read_parquet(out / name))
        )
    for name in ("test_probs.npy", "test_labels.npy", "prompt_history.npy"):
        assert np.array_equal(np.load(reference / name), np.load(out / name)), name
    expected = safe_torch_load(reference / "prompt.pt", None)
    actual = safe_torch_load(out / "prompt.pt", None)
    assert torch.equal(expected["effective"], actual["effective"])
    assert torch.equal(expected["mapping"], actual["mapping"])


# ---------------------------------------------------------------------------------------------- child side


def _pause_here(status: Path, where: str) -> None:
    """Announce the pause, then wait until released (a signal handler may run meanwhile) or killed."""
    announce = status / "paused.partial"
    announce.write_text(where)
    announce.rename(status / "paused")  # os.rename: os.replace may be the hooked one
    deadline = time.monotonic() + WAIT_S
    while not (status / "release").exists():
        if time.monotonic() > deadline:
            raise TimeoutError(f"paused at {where} for {WAIT_S}s and never killed or released")
        time.sleep(0.01)


def _counter(pause: Pause, status: Path) -> Callable[[str], None]:
    seen = {"n": 0}

    def hit(where: str) -> None:
        seen["n"] += 1
        if seen["n"] == pause.nth:
            _pause_here(status, f"{pause.point} #{pause.nth}: {where}")

    return hit


def _install_pause(pause: Pause, status: Path, out: Path) -> None:
    hit = _counter(pause, status)
    if pause.point == "optimizer_step":
        step = torch.optim.Adam.step

        def paused_step(self, *args, **kwargs):
            result = step(self, *args, **kwargs)
            hit("after an Adam step")
            return result

        torch.optim.Adam.step = paused_step
    elif pause.point == "checkpoint_sidecar":
        write_text = atomic_io.write_text

        def paused_write_text(path, text):
            if Path(path).name == "state.pt.sha256":
                hit(str(path))
            return write_text(path, text)

        atomic_io.write_text = paused_write_text
    else:
        replace = os.replace

        def wanted(destination: Path) -> bool:
            if pause.point == "checkpoint_rename":
                return destination.name == "state.pt"
            if pause.point == "output_staging":
                return destination.parent.name.startswith(".staging-")
            return destination.parent == out

        def paused_replace(source, destination, **kwargs):
            if wanted(Path(destination)):
                hit(str(destination))
            return replace(source, destination, **kwargs)

        os.replace = paused_replace


def _slow_checkpoints(seconds: float) -> None:
    """Sleep after every checkpoint save, so a parent polling ``state.pt`` can kill between epochs."""
    save = CheckpointStore.save

    def slow_save(self, state):
        save(self, state)
        time.sleep(seconds)

    CheckpointStore.save = slow_save


def cell_child(
    root: str,
    out: str,
    variant: str,
    status: str,
    pause: Pause | None,
    slow_checkpoint_s: float,
    selection: tuple[str, str, str] | None = None,
) -> None:
    """Child entry point: run the cell of tests/engine/test_cell.py into ``out``, with the requested hooks.

    ``selection`` = (shots, training.selection, calibration.temperature) runs a calibration/selection cell
    (``tests.engine.test_cell.selection_config``) instead of the 2-shot one."""
    torch.set_num_threads(1)
    status_dir, out_dir = Path(status), Path(out)
    if pause is not None:
        _install_pause(pause, status_dir, out_dir)
    if slow_checkpoint_s:
        _slow_checkpoints(slow_checkpoint_s)
    config = copy.deepcopy(CONFIG)
    validate_config(config)
    shots = "2"
    if selection is not None:
        shots, mode, temperature = selection
        config = selection_config(mode, temperature)
    try:
        _run(Path(root), config, variant, out_dir, shots=shots)
    except BaseException as error:
        kind = f"{type(error).__module__}.{type(error).__qualname__}"
        (status_dir / "error.json").write_text(json.dumps({"type": kind, "message": str(error)}))
        raise


# ---------------------------------------------------------------------------------------------- parent side


def _context() -> Any:
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload([__name__])
    return context


class CellProcess:
    """A cell running in a child process; a context manager that never leaves the child behind."""

    def __init__(
        self,
        root: Path,
        out: Path,
        status: Path,
        *,
        variant: str = "dense",
        pause: Pause | None = None,
        slow_checkpoint_s: float = 0.0,
        selection: tuple[str, str, str] | None = None,
    ) -> None:
        status.mkdir(parents=True, exist_ok=True)
        self.status = status
        self.process = _context().Process(
            target=cell_child,
            args=(str(root), str(out), variant, str(status), pause, slow_checkpoint_s, selection),
            daemon=True,
        )

    def __enter__(self) -> CellProcess:
        self.process.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.process.is_alive():
            self.process.kill()
        self.process.join(WAIT_S)

    def wait_until(self, condition: Callable[[], bool], what: str) -> None:
        """Poll ``condition`` while the child runs; fail if the child ends or time runs out first."""
        deadline = time.monotonic() + WAIT_S
        while not condition():
            if not self.process.is_alive():
                raise AssertionError(f"the cell process ended (exit {self.process.exitcode}) before {what}")
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out waiting for {what}")
            time.sleep(0.01)

    def wait_paused(self) -> str:
        """Wait for the child to reach its pause point; returns where it paused."""
        self.wait_until(lambda: (self.status / "paused").exists(), "the pause point")
        return (self.status / "paused").read_text()

    def release(self) -> None:
        """Let a paused child continue."""
        (self.status / "release").touch()

    def signal(self, signum: signal.Signals) -> None:
        """Send ``signum`` to the child."""
        os.kill(self.process.pid, signum)

    def join(self) -> int:
        """Wait for the child to end; returns its exit code (negative: killed by that signal)."""
        self.process.join(WAIT_S)
        assert self.process.exitcode is not None, "the cell process did not end"
        return self.process.exitcode

    def error(self) -> dict[str, str] | None:
        """The exception the child raised (type and message), if any."""
        path = self.status / "error.json"
        return json.loads(path.read_text()) if path.exists() else None
