"""Kill and resume at the cell level: a real cell process is SIGKILLed (or SIGTERMed, as SLURM does at a
time limit) at many points; rerunning it gives exactly the outputs of an uninterrupted run on CPU.

The cell is the engine cell test's (MobileNetV2, 16-px digits in a 32-px canvas, ILM, 2 shots, 4 epochs of
3 steps). Each rerun also counts its optimizer steps, which proves it resumed from the last valid
checkpoint rather than starting over.
"""

from __future__ import annotations

import signal
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.engine.test_cell import _run
from tests.faults.cell_processes import (
    EPOCHS,
    EXPECTED_FILES,
    STEPS_PER_EPOCH,
    CellProcess,
    Pause,
    assert_same_outputs,
    checkpoint_dir,
    checkpoint_position,
    count_optimizer_steps,
    raw_checkpoint_position,
    remaining_steps,
)

pytestmark = pytest.mark.slow


@dataclass(frozen=True)
class KillPoint:
    """Where the child dies: once ``state.pt`` records epoch ``after_epoch`` (polled, so the kill lands
    anywhere after that checkpoint) or at an exact ``pause`` point. ``checkpoint`` is the (epoch, step)
    that ``state.pt`` then holds, ``resume`` what a rerun resumes from (None: starts over)."""

    after_epoch: int | None = None
    pause: Pause | None = None
    checkpoint: tuple[int, int] | None = None
    resume: tuple[int, int] | None = None


TRAINED = (EPOCHS, 0)  # the checkpoint after the last epoch
KILL_POINTS = {
    "after-epoch-1": KillPoint(after_epoch=1),
    "after-epoch-3": KillPoint(after_epoch=3),
    # after 2 of the 3 steps of epoch 2: the last checkpoint is the start of epoch 2
    "mid-epoch-2": KillPoint(
        pause=Pause("optimizer_step", nth=2 * STEPS_PER_EPOCH + 2), checkpoint=(2, 0), resume=(2, 0)
    ),
    # the epoch-2 state is written to its temporary name but not renamed: the epoch-1 state stays valid
    "renaming-checkpoint": KillPoint(
        pause=Pause("checkpoint_rename", nth=2), checkpoint=(1, 0), resume=(1, 0)
    ),
    # the epoch-3 state.pt is in place but its sidecar still holds the epoch-2 hash: ignored, start over
    "checkpoint-without-sidecar": KillPoint(pause=Pause("checkpoint_sidecar", nth=3), checkpoint=(3, 0)),
    # training finished (checkpoint at the end), killed while writing outputs into the staging folder
    "staging-outputs": KillPoint(pause=Pause("output_staging"), checkpoint=TRAINED, resume=TRAINED),
    # killed after the first output was moved into the cell folder, before the others (metrics last)
    "moving-outputs": KillPoint(pause=Pause("output_move", nth=2), checkpoint=TRAINED, resume=TRAINED),
}


@dataclass(frozen=True)
class Interrupted:
    """One killed-and-rerun cell: what the checkpoint held after the kill and what the rerun did."""

    name: str
    out: Path
    raw_position: tuple[int, int] | None
    resume_position: tuple[int, int] | None
    rerun_steps: int


def _kill(root: Path, out: Path, point: KillPoint) -> None:
    """Run the cell in a child and SIGKILL it at ``point``."""
    slow = 1.0 if point.after_epoch is not None else 0.0  # a window for the polling parent
    with CellProcess(root, out, out.parent / "status", pause=point.pause, slow_checkpoint_s=slow) as child:
        if point.after_epoch is not None:
            child.wait_until(
                lambda: (checkpoint_position(out) or (0, 0))[0] >= point.after_epoch,
                f"the checkpoint of epoch {point.after_epoch}",
            )
        else:
            child.wait_paused()
        child.signal(signal.SIGKILL)
        assert child.join() == -signal.SIGKILL
    assert not (out / "metrics.parquet").exists()  # metrics land last: the cell does not look finished


@pytest.fixture(scope="module")
def interrupted(request, workspace, tmp_path_factory) -> Interrupted:
    """The cell killed at ``request.param``, then rerun in this process to completion."""
    root, config = workspace
    out = tmp_path_factory.mktemp(request.param) / "cell"
    _kill(root, out, KILL_POINTS[request.param])
    state_file = checkpoint_dir(out) / "state.pt"
    raw = raw_checkpoint_position(out) if state_file.exists() else None
    resume = checkpoint_position(out)
    with pytest.MonkeyPatch.context() as monkeypatch:
        counted = count_optimizer_steps(monkeypatch)
        _run(root, config, "dense", out)
    return Interrupted(request.param, out, raw, resume, counted["n"])


@pytest.mark.parametrize("interrupted", list(KILL_POINTS), indirect=True)
def test_sigkilled_cell_reruns_to_the_uninterrupted_result(interrupted, reference):
    """Fault: SIGKILL at an epoch boundary, mid-epoch, inside a checkpoint write, or while writing outputs.
    Expected: the checkpoint holds the last completed state, the rerun resumes from the last valid one
    (counted in optimizer steps) and its outputs equal those of an uninterrupted run."""
    point = KILL_POINTS[interrupted.name]
    if point.after_epoch is not None:
        assert interrupted.raw_position[0] >= point.after_epoch and interrupted.raw_position[1] == 0
        assert interrupted.resume_position == interrupted.raw_position
    else:
        assert interrupted.raw_position == point.checkpoint
        assert interrupted.resume_position == point.resume
    assert interrupted.rerun_steps == remaining_steps(interrupted.resume_position)
    assert_same_outputs(reference, interrupted.out)


@pytest.mark.parametrize("interrupted", list(KILL_POINTS), indirect=True)
def test_rerun_leaves_only_the_documented_outputs(interrupted):
    """Fault: SIGKILL, then a successful rerun. Expected: the cell folder holds exactly the documented
    outputs (no staging folder or temporary file of the killed run) and the checkpoint folder is gone."""
    assert {path.name for path in interrupted.out.iterdir()} == EXPECTED_FILES
    assert not checkpoint_dir(interrupted.out).exists()


def test_sigterm_flushes_a_mid_epoch_checkpoint_and_the_rerun_matches(
    workspace, reference, tmp_path, monkeypatch
):
    """Fault: SIGTERM (SLURM's time-limit signal) in the middle of epoch 1. Expected: the process exits
    non-zero with PreemptedError after saving a checkpoint at that step; the rerun continues from there
    and gives the uninterrupted outputs."""
    root, config = workspace
    out = tmp_path / "cell"
    second_step_of_epoch_1 = Pause("optimizer_step", nth=STEPS_PER_EPOCH + 2)
    with CellProcess(root, out, tmp_path / "status", pause=second_step_of_epoch_1) as child:
        child.wait_paused()
        child.signal(signal.SIGTERM)
        time.sleep(0.2)  # the handler only records the request; the step then finishes and checkpoints
        child.release()
        exit_code = child.join()
    assert exit_code != 0
    error = child.error()
    assert error["type"] == "vpbench.engine.checkpointing.PreemptedError", error
    assert "SIGTERM" in error["message"] and "checkpoint saved" in error["message"]
    assert checkpoint_position(out) == (1, 2)  # mid-epoch: 2 of epoch 1's 3 steps are in the checkpoint
    assert not (out / "metrics.parquet").exists()
    counted = count_optimizer_steps(monkeypatch)
    _run(root, config, "dense", out)
    assert counted["n"] == remaining_steps((1, 2))
    assert_same_outputs(reference, out)
