"""Disk faults and concurrent writers: every output is written to a temporary name and renamed, so a
reader never sees a truncated or interleaved file, and a failed write (e.g. a full disk) keeps the old one.
A full disk is reported as such, naming the file (issue 19), and outputs get the umask's mode."""

from __future__ import annotations

import errno
import io
import json
import multiprocessing
import os
import stat
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from tests.engine.test_cell import _run
from tests.faults.cell_processes import (
    assert_same_outputs,
    checkpoint_dir,
    checkpoint_position,
    count_optimizer_steps,
    remaining_steps,
)
from tests.faults.writers import payload_bytes, write_repeatedly
from vpbench.errors import DiskFullError
from vpbench.runtime import atomic_io
from vpbench.sources.checksums import safe_torch_load

WRITERS = 3
WRITE_SECONDS = 1.5


def test_concurrent_processes_writing_one_json_never_expose_a_partial_file(tmp_path):
    """Fault: three processes rewrite the same JSON file (1.5 MB each, distinct content) at once while
    this process reads it. Expected: every read is exactly one writer's complete payload; no temp files."""
    folder, flags = tmp_path / "out", tmp_path / "flags"
    folder.mkdir()
    flags.mkdir()
    target = folder / "shared.json"
    expected = {payload_bytes(writer): writer for writer in range(WRITERS)}
    context = multiprocessing.get_context("spawn")
    writers = [
        context.Process(target=write_repeatedly, args=(str(target), w, WRITE_SECONDS, str(flags)))
        for w in range(WRITERS)
    ]
    for process in writers:
        process.start()
    seen, reads = set(), 0
    try:
        deadline = time.monotonic() + 120
        while len(list(flags.glob("ready-*"))) < WRITERS:
            alive = all(process.is_alive() for process in writers)
            assert alive and time.monotonic() < deadline, "a writer did not start"
            time.sleep(0.01)
        (flags / "start").touch()
        while any(process.is_alive() for process in writers):
            if target.exists():
                content = target.read_bytes()
                assert content in expected, f"read {len(content)} bytes that are no writer's payload"
                seen.add(expected[content])
                reads += 1
    finally:
        for process in writers:
            process.join(60)
            if process.is_alive():
                process.kill()
    assert [process.exitcode for process in writers] == [0] * WRITERS
    assert reads > 10 and len(seen) >= 2, (reads, seen)  # the writers really took turns under the reader
    assert [path.name for path in folder.iterdir()] == ["shared.json"]


def _disk_full_after(
    fraction: float, original: Callable, target_first: bool, applies: Callable[[str], bool] | None = None
) -> Callable:
    """Stand-in for a save function (``np.save(file, obj)``, ``torch.save(obj, file)``,
    ``DataFrame.to_parquet(self, path)``) that writes only ``fraction`` of the bytes, then raises ENOSPC."""

    def save(*args, **kwargs):
        target = args[0] if target_first else args[1]
        name = str(getattr(target, "name", target))
        if applies is not None and not applies(name):
            return original(*args, **kwargs)
        buffer = io.BytesIO()
        original(*((buffer, *args[1:]) if target_first else (args[0], buffer, *args[2:])), **kwargs)
        data = buffer.getvalue()
        if hasattr(target, "write"):
            target.write(data[: int(len(data) * fraction)])
        else:
            Path(target).write_bytes(data[: int(len(data) * fraction)])
        raise OSError(errno.ENOSPC, "No space left on device", name)

    return save


@dataclass(frozen=True)
class Writer:
    """One atomic_io writer, the library call underneath it (to fill the disk there), and a reader."""

    write: Callable[[Path, int], None]
    read: Callable[[Path], int]
    library_call: str
    original: Callable
    target_first: bool


WRITERS_BY_FORMAT = {
    "parquet": Writer(
        lambda path, version: atomic_io.write_parquet(path, pd.DataFrame({"version": [version] * 1000})),
        lambda path: int(pd.read_parquet(path)["version"].iloc[-1]),
        "pandas.DataFrame.to_parquet", pd.DataFrame.to_parquet, False,
    ),
    "numpy": Writer(
        lambda path, version: atomic_io.save_numpy(path, np.full(1000, version)),
        lambda path: int(np.load(path)[-1]),
        "numpy.save", np.save, True,
    ),
    "torch": Writer(
        lambda path, version: atomic_io.save_torch(path, {"version": torch.full((1000,), version)}),
        lambda path: int(safe_torch_load(path, None)["version"][-1]),
        "torch.save", torch.save, False,
    ),
}  # fmt: skip


def test_an_error_inside_atomic_path_keeps_the_previous_file_and_no_temporary(tmp_path):
    """Fault: the block of ``atomic_path`` writes half a JSON file and then fails (ENOSPC). Expected: the
    error propagates, the previous version is untouched and no temporary file is left."""
    path = tmp_path / "cell.json"
    atomic_io.write_json(path, {"version": 1})
    with pytest.raises(OSError, match="No space left"):
        with atomic_io.atomic_path(path) as tmp:
            tmp.write_bytes(b'{"version": 2, "trunc')
            raise OSError(errno.ENOSPC, "No space left on device", str(tmp))
    assert json.loads(path.read_text()) == {"version": 1}
    assert [p.name for p in tmp_path.iterdir()] == [path.name]


@pytest.mark.parametrize("kind", list(WRITERS_BY_FORMAT))
def test_a_full_disk_mid_write_keeps_the_previous_file_and_no_temporary(tmp_path, monkeypatch, kind):
    """Fault: the disk fills up halfway through rewriting a Parquet / .npy / .pt file. Expected: ENOSPC
    propagates, the previous version still reads back whole, and no temporary file is left."""
    writer = WRITERS_BY_FORMAT[kind]
    path = tmp_path / f"out.{kind}"
    writer.write(path, 1)
    monkeypatch.setattr(writer.library_call, _disk_full_after(0.5, writer.original, writer.target_first))
    with pytest.raises(OSError, match="No space left"):
        writer.write(path, 2)
    monkeypatch.undo()
    assert writer.read(path) == 1
    assert [p.name for p in tmp_path.iterdir()] == [path.name]


def test_full_disk_while_writing_cell_outputs_leaves_nothing_and_the_rerun_completes(
    workspace, reference, tmp_path, monkeypatch
):
    """Fault: ENOSPC while run_cell writes its outputs (test_probs.npy half written in the staging
    folder). Expected: OSError; the cell folder is empty (no partial output, staging folder removed);
    the finished training's checkpoint is kept, so the rerun trains no step and matches the reference."""
    root, config = workspace
    out = tmp_path / "cell"
    staged = lambda name: ".staging-" in name  # noqa: E731
    monkeypatch.setattr("numpy.save", _disk_full_after(0.5, np.save, True, staged))
    with pytest.raises(OSError) as info:
        _run(root, config, "dense", out)
    assert info.value.errno == errno.ENOSPC
    monkeypatch.undo()
    assert list(out.iterdir()) == []
    assert checkpoint_position(out) == (4, 0)
    counted = count_optimizer_steps(monkeypatch)
    _run(root, config, "dense", out)
    assert counted["n"] == 0
    assert_same_outputs(reference, out)


def test_full_disk_while_saving_a_checkpoint_keeps_the_previous_one(
    workspace, reference, tmp_path, monkeypatch
):
    """Fault: ENOSPC halfway through the third checkpoint (after epoch 2). Expected: OSError; the
    epoch-2 checkpoint and its sidecar are intact, no temporary file, no outputs; the rerun resumes at
    epoch 2 and matches the reference."""
    root, config = workspace
    out = tmp_path / "cell"
    saves = {"n": 0}

    def third_checkpoint(name: str) -> bool:
        if Path(name).name.startswith(".state.pt."):
            saves["n"] += 1
        return saves["n"] == 3 and Path(name).name.startswith(".state.pt.")

    monkeypatch.setattr("torch.save", _disk_full_after(0.5, torch.save, False, third_checkpoint))
    with pytest.raises(OSError) as info:
        _run(root, config, "dense", out)
    assert info.value.errno == errno.ENOSPC
    monkeypatch.undo()
    assert checkpoint_position(out) == (2, 0)
    assert sorted(p.name for p in checkpoint_dir(out).iterdir()) == ["state.pt", "state.pt.sha256"]
    assert not out.exists() or list(out.iterdir()) == []
    counted = count_optimizer_steps(monkeypatch)
    _run(root, config, "dense", out)
    assert counted["n"] == remaining_steps((2, 0))
    assert_same_outputs(reference, out)


# ------------------------------------------------------------- issue 19: a full disk explains itself


@pytest.mark.parametrize("kind", list(WRITERS_BY_FORMAT))
def test_a_full_disk_is_reported_with_the_path_and_no_space_left(tmp_path, monkeypatch, kind):
    """Fault: ENOSPC halfway through a Parquet / .npy / .pt write. Expected: a DiskFullError (still an
    OSError with errno ENOSPC) whose message names the file being written and says "No space left"."""
    writer = WRITERS_BY_FORMAT[kind]
    path = tmp_path / f"out.{kind}"
    monkeypatch.setattr(writer.library_call, _disk_full_after(0.5, writer.original, writer.target_first))
    with pytest.raises(DiskFullError) as info:
        writer.write(path, 2)
    assert info.value.errno == errno.ENOSPC and info.value.filename == str(path)
    assert f"No space left on device while writing {path}" in str(info.value)
    assert "free space on that filesystem" in str(info.value).lower()


class _FillingFile(io.FileIO):
    """A file that accepts ``room`` bytes, then fails like a full disk."""

    room = 4096

    def write(self, data):
        if self.tell() + len(data) > self.room:
            raise OSError(errno.ENOSPC, "No space left on device")
        return super().write(data)


def test_torch_save_on_a_full_disk_says_no_space_left_not_unexpected_pos(tmp_path, monkeypatch):
    """Fault: the real ``torch.save`` writing a checkpoint runs out of space after 4 KiB. torch itself
    reports ``unexpected pos … vs …``. Expected: DiskFullError naming the file; no temporary left."""
    real_open = open

    def filling_open(file, mode="r", *args, **kwargs):
        return _FillingFile(file, "wb") if mode == "wb" else real_open(file, mode, *args, **kwargs)

    monkeypatch.setattr(atomic_io, "open", filling_open, raising=False)
    path = tmp_path / "state.pt"
    with pytest.raises(DiskFullError) as info:
        atomic_io.save_torch(path, {"prompt": torch.zeros(100_000)})
    assert "unexpected pos" in str(info.value.__cause__) or "unexpected pos" in info.value.detail
    assert f"No space left on device while writing {path}" in str(info.value)
    assert list(tmp_path.iterdir()) == []


LOG_PROBE = """
import errno, logging, sys
from vpbench.runtime.rule_logging import redirect_to_log
redirect_to_log(sys.argv[1])
logging.getLogger("job").info("materialising a variant")
print("progress", file=sys.stderr)
raise OSError(errno.ENOSPC, "No space left on device", "results/demo/models/m/v/model.pt")
"""


def test_a_job_whose_log_is_on_a_full_disk_still_says_why_it_failed(tmp_path):
    """Fault: the rule's log cannot be written (``/dev/full``), then the job dies of ENOSPC. Before, the
    job exited with status 120 and an empty log. Expected: exit status 1, and on the job's console a note
    that the log failed plus one line naming the file and "No space left on device"."""
    script = tmp_path / "job.py"
    script.write_text(LOG_PROBE)
    env = {**os.environ, "PYTHONPATH": str(Path(atomic_io.__file__).parents[2])}
    done = subprocess.run(
        [sys.executable, str(script), "/dev/full"], capture_output=True, text=True, timeout=120, env=env
    )
    assert done.returncode == 1, done.stderr
    assert "vpbench: cannot write the log /dev/full (No space left on device)" in done.stderr
    assert "progress" in done.stderr  # what the log would have held is on the console instead
    assert "vpbench: No space left on device while writing results/demo/models/m/v/model.pt" in done.stderr


# ------------------------------------------------------------ issue 19: files readable by collaborators


@pytest.mark.parametrize("umask", [0o022, 0o002, 0o077])
def test_outputs_honour_the_umask_like_a_normal_write(tmp_path, umask):
    """Before: every output was 0600 (``tempfile.mkstemp``). Expected: 0666 minus the umask."""
    previous = os.umask(umask)
    try:
        for name, write in {
            "plain.txt": lambda p: Path(p).write_text("x"),
            "a.json": lambda p: atomic_io.write_json(p, {"a": 1}),
            "b.pt": lambda p: atomic_io.save_torch(p, {"a": torch.zeros(2)}),
            "c.npy": lambda p: atomic_io.save_numpy(p, np.zeros(2)),
            "d.parquet": lambda p: atomic_io.write_parquet(p, pd.DataFrame({"a": [1]})),
        }.items():
            write(tmp_path / name)
    finally:
        os.umask(previous)
    modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in tmp_path.iterdir()}
    assert modes == dict.fromkeys(modes, 0o666 & ~umask), modes


def test_a_cell_folder_is_readable_by_the_group_and_others_under_umask_022(workspace, tmp_path):
    root, config = workspace
    previous = os.umask(0o022)
    try:
        _run(root, config, "dense", tmp_path / "cell")
    finally:
        os.umask(previous)
    modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in (tmp_path / "cell").iterdir()}
    assert set(modes.values()) == {0o644}, modes
