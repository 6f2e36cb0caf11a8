"""Kill and resume with calibration prompts and model selection: a real cell process (20-shot digits, a
held-out calibration prompt trained beside the reported one) is SIGKILLed in the first and in the second
training phase of each selection mode; the rerun gives exactly the uninterrupted outputs, selected epoch
and temperature included.

Phases (vpbench.engine.calibrate): ``last`` trains the reported prompt, then the calibration prompt;
``test`` trains the reported prompt (evaluated every epoch, the best kept in its checkpoint), then the
calibration prompt up to that epoch; ``val`` trains the calibration prompt first (its best epoch on the
held-out images kept), then the reported prompt.
"""

from __future__ import annotations

import json
import signal
from pathlib import Path

import pytest

from tests.engine.test_cell import _run, selection_config
from tests.faults.cell_processes import (
    CellProcess,
    assert_same_outputs,
    checkpoint_dir,
    count_optimizer_steps,
)
from vpbench.sources.checksums import safe_torch_load

pytestmark = pytest.mark.slow

SHOTS = "20"
MODES = ("last", "test", "val")
# which checkpoint trains in each phase: the reported prompt's (the folder itself) or the calibration one's
PHASES = {
    "last": ("", "calibration-held_out"),
    "test": ("", "calibration-held_out"),
    "val": ("calibration-held_out", ""),
}
EPOCHS = 4
# 200 images in batches of 32 for the reported prompt, the fit 160 for the calibration prompt
STEPS_PER_EPOCH = {"": 7, "calibration-held_out": 5}


def _epoch_saved(out: Path, folder: str) -> int:
    """The epoch recorded by a checkpoint (-1 while there is none)."""
    state = checkpoint_dir(out) / folder / "state.pt"
    sidecar = state.with_name("state.pt.sha256")
    if not (state.exists() and sidecar.exists()):
        return -1
    try:
        return int(safe_torch_load(state, None)["epoch"])
    except Exception:  # being replaced right now
        return -1


@pytest.fixture(scope="module")
def references(workspace, tmp_path_factory) -> dict[str, Path]:
    root, _ = workspace
    done = {}
    for mode in MODES:
        out = tmp_path_factory.mktemp(f"reference-{mode}") / "cell"
        _run(root, selection_config(mode), "dense", out, shots=SHOTS)
        done[mode] = out
    return done


@pytest.mark.parametrize("phase", [0, 1], ids=["first-phase", "second-phase"])
@pytest.mark.parametrize("mode", MODES)
def test_a_cell_killed_in_either_training_phase_reruns_to_the_uninterrupted_result(
    workspace, references, tmp_path, monkeypatch, mode, phase
):
    """Fault: SIGKILL once the phase's prompt has checkpointed epoch 1 (second phase: the first phase's
    prompt is finished and checkpointed). Expected: the rerun resumes both and writes the uninterrupted
    outputs, with the same selected epoch, temperature and calibration record."""
    root, _ = workspace
    out = tmp_path / "cell"
    folder = PHASES[mode][phase]
    with CellProcess(root, out, tmp_path / "status", slow_checkpoint_s=0.5,
                     selection=(SHOTS, mode, "protocol")) as child:  # fmt: skip
        child.wait_until(
            lambda: _epoch_saved(out, folder) >= 1, f"epoch 1 of {folder or 'the reported prompt'}"
        )
        child.signal(signal.SIGKILL)
        assert child.join() == -signal.SIGKILL
    assert not (out / "metrics.parquet").exists()
    saved = {name: max(_epoch_saved(out, name), 0) for name in PHASES[mode]}
    if phase == 1:
        assert saved[PHASES[mode][0]] == EPOCHS  # the first phase's prompt finished before the kill
    counted = count_optimizer_steps(monkeypatch)
    _run(root, selection_config(mode), "dense", out, shots=SHOTS)
    # the rerun resumes every prompt from its checkpoint instead of starting over
    assert counted["n"] == sum((EPOCHS - saved[name]) * STEPS_PER_EPOCH[name] for name in saved)
    assert_same_outputs(references[mode], out)
    record = json.loads((out / "cell.json").read_text())["calibration"]
    assert record == json.loads((references[mode] / "cell.json").read_text())["calibration"]
    assert not checkpoint_dir(out).exists()
