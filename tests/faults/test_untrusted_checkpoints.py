"""Untrusted checkpoints end to end: a pickle that runs code on load is refused (``weights_only=True``) and
never runs, and a file failing its recorded sha256 is rejected before ``torch.load`` is even called.

tests/models/test_registry.py covers the registry loader on a tiny net; here the files are a real
MobileNetV2 variant folder, a cell checkpoint and a tampered model card, loaded the way a cell loads them.
"""

from __future__ import annotations

import json
import os
import pickletools
import shlex
import shutil
import zipfile
from pathlib import Path

import pytest
import torch

from tests.engine.test_cell import _run
from tests.faults.cell_processes import checkpoint_dir
from vpbench.compression.variant_store import load_variant_model
from vpbench.errors import ChecksumError, UnsafeCheckpointError
from vpbench.sources.checksums import sha256_file


class CodeOnLoad:
    """Unpickling this runs a shell command creating ``marker``: what a malicious checkpoint does."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {shlex.quote(str(self.marker))}",))


def _write_malicious_checkpoint(path: Path, marker: Path) -> str:
    """A torch.save file whose unpickling calls os.system; returns its sha256. Asserts the payload is live
    (the pickle really imports and calls os.system) without ever unpickling it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"features.0.0.weight": CodeOnLoad(marker)}, path)
    with zipfile.ZipFile(path) as archive:
        stream = archive.read(next(name for name in archive.namelist() if name.endswith("data.pkl")))
    globals_called = {str(arg) for op, arg, _ in pickletools.genops(stream) if op.name == "GLOBAL"}
    assert f"{os.system.__module__} system" in globals_called
    return sha256_file(path)


def _workspace_with_variant(root: Path, tmp_path: Path, variant: str) -> tuple[Path, Path]:
    """A copy of the engine cell test.s workspace whose ``variant`` folder may be tampered with (caches and
    split are linked, not copied). Returns (new root, the variant folder)."""
    new_root = tmp_path / "workspace"
    new_root.mkdir()
    for name in ("cache-train", "cache-test", "split.json"):
        (new_root / name).symlink_to(root / name)
    shutil.copytree(root / "models" / variant, new_root / "models" / variant)
    return new_root, new_root / "models" / variant


def _edit_card(variant_dir: Path, **changes: str) -> None:
    card = json.loads((variant_dir / "card.json").read_text())
    card.update(changes)
    (variant_dir / "card.json").write_text(json.dumps(card))


def test_a_code_executing_variant_with_a_matching_checksum_is_refused_and_not_run(workspace, tmp_path):
    """Fault: a compressed variant's model.pt is a malicious pickle and card.json records its sha256.
    Expected: loading it directly and running a cell on it both raise UnsafeCheckpointError saying
    weights_only refused it; the payload never runs; the cell writes nothing."""
    root, config = workspace
    new_root, variant_dir = _workspace_with_variant(root, tmp_path, "mag50")
    marker = tmp_path / "payload-ran"
    _edit_card(variant_dir, model_sha256=_write_malicious_checkpoint(variant_dir / "model.pt", marker))
    with pytest.raises(UnsafeCheckpointError, match=r"refused to load .*model\.pt.*weights_only=True"):
        load_variant_model(variant_dir)
    out = tmp_path / "cell"
    with pytest.raises(UnsafeCheckpointError, match="weights_only"):
        _run(new_root, config, "mag50", out)
    assert not marker.exists()
    assert not out.exists() or not any(out.iterdir())


def test_a_variant_failing_its_checksum_is_never_unpickled(workspace, tmp_path, forbid_torch_load):
    """Fault: a variant's model.pt was replaced (here by a malicious pickle) but card.json keeps the old
    sha256. Expected: ChecksumError naming the file before any torch.load; the payload never runs; a cell
    run on it removes the card (so the workflow rebuilds the variant) and says so."""
    root, config = workspace
    new_root, variant_dir = _workspace_with_variant(root, tmp_path, "mag50")
    marker = tmp_path / "payload-ran"
    _write_malicious_checkpoint(variant_dir / "model.pt", marker)
    with pytest.raises(ChecksumError, match=r"sha256 mismatch for .*model\.pt.*it was not loaded"):
        load_variant_model(variant_dir)
    with pytest.raises(ChecksumError, match="card was removed; rerun to rebuild"):
        _run(new_root, config, "mag50", tmp_path / "cell")
    assert not (variant_dir / "card.json").exists()
    assert not marker.exists()


def test_a_tampered_dense_card_cannot_redirect_to_other_weights(workspace, tmp_path, forbid_torch_load):
    """Fault: a dense variant's card.json is edited to point at a malicious weights file and to record
    that file's sha256. Expected: the registry's published sha256 still applies, so ChecksumError before
    any torch.load, and the payload never runs."""
    root, _ = workspace
    _, variant_dir = _workspace_with_variant(root, tmp_path, "dense")
    marker = tmp_path / "payload-ran"
    weights = tmp_path / "evil" / "mobilenet_v2.pth"
    digest = _write_malicious_checkpoint(weights, marker)
    _edit_card(variant_dir, weights_path=str(weights), weights_sha256=digest)
    with pytest.raises(ChecksumError, match=r"sha256 mismatch for .*mobilenet_v2\.pth"):
        load_variant_model(variant_dir)
    assert not marker.exists()


def test_a_code_executing_training_checkpoint_is_refused_and_not_run(workspace, tmp_path):
    """Fault: a cell's resumable state.pt is a malicious pickle with a matching state.pt.sha256 sidecar.
    Expected: the cell refuses to resume from it (UnsafeCheckpointError naming weights_only), the payload
    never runs and no output is written."""
    root, config = workspace
    out = tmp_path / "cell"
    marker = tmp_path / "payload-ran"
    digest = _write_malicious_checkpoint(checkpoint_dir(out) / "state.pt", marker)
    (checkpoint_dir(out) / "state.pt.sha256").write_text(digest + "\n")
    with pytest.raises(UnsafeCheckpointError, match=r"state\.pt.*weights_only=True"):
        _run(root, config, "dense", out)
    assert not marker.exists()
    assert not out.exists() or not any(out.iterdir())
