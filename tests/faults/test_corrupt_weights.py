"""A corrupt acquired weights file is moved aside with its acquisition record, so the rerun re-acquires it.

Before (issue 19): the cell removed the variant's card and said "rerun to rebuild", but the rerun failed the
same way until the user deleted the ``.pth`` by hand. A user's own checkpoint is never moved: the message
says what to do instead.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from vpbench.compression.variant_store import load_variant_model, materialize_variant
from vpbench.engine.cell import _load_verified_inputs
from vpbench.errors import ChecksumError
from vpbench.models.acquire import ACQUIRED_RECORD, acquire_weights, quarantine_corrupt_weights
from vpbench.sources.checksums import sha256_file


def _acquired(weights_dir: Path) -> Path:
    """mobilenet_v2's weights acquired as the workflow does: file plus acquisition record."""
    path = acquire_weights("mobilenet_v2", weights_dir, allow_network=False)
    record = {"family": "mobilenet_v2", "path": str(path), "sha256": sha256_file(path)}
    (weights_dir / ACQUIRED_RECORD).write_text(json.dumps(record))
    return path


def _corrupt(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))


def test_a_corrupt_weights_file_is_quarantined_and_the_rerun_reacquires_it(workspace, tmp_path):
    root, _ = workspace
    weights_dir = tmp_path / "weights" / "mobilenet_v2"
    weights = _acquired(weights_dir)
    variant_dir = tmp_path / "models" / "dense"
    materialize_variant(
        model="mobilenet_v2", variant="dense", spec={"family": "mobilenet_v2"}, weights_path=weights,
        out_dir=variant_dir, canvas=32,
    )  # fmt: skip
    _corrupt(weights)
    with pytest.raises(ChecksumError) as error:
        _load_verified_inputs(variant_dir, root / "cache-train", root / "cache-test")
    message = str(error.value)
    quarantined = sorted(weights_dir.glob(f"{weights.name}.corrupt-*"))
    assert len(quarantined) == 1 and not weights.exists()
    assert not (weights_dir / ACQUIRED_RECORD).exists() and not (variant_dir / "card.json").exists()
    assert f"the acquired weights file {weights} is corrupt" in message
    assert f"moved to {quarantined[0]}" in message and "rerun the same command" in message
    # what the rerun does: acquire (the record is gone), materialise, load
    weights = _acquired(weights_dir)
    materialize_variant(
        model="mobilenet_v2", variant="dense", spec={"family": "mobilenet_v2"}, weights_path=weights,
        out_dir=variant_dir, canvas=32,
    )  # fmt: skip
    load_variant_model(variant_dir)


def test_weights_corrupted_before_materialising_are_quarantined_too(tmp_path):
    weights_dir = tmp_path / "weights" / "mobilenet_v2"
    weights = _acquired(weights_dir)
    _corrupt(weights)
    with pytest.raises(ChecksumError, match=r"moved to .*corrupt-.*rerun the same command"):
        materialize_variant(
            model="mobilenet_v2", variant="dense", spec={"family": "mobilenet_v2"}, weights_path=weights,
            out_dir=tmp_path / "dense", canvas=32,
        )  # fmt: skip
    assert not weights.exists() and not (weights_dir / ACQUIRED_RECORD).exists()


def test_a_weights_file_that_cannot_be_reacquired_says_what_to_do(tmp_path, monkeypatch):
    weights_dir = tmp_path / "weights" / "mobilenet_v2"
    weights = _acquired(weights_dir)
    _corrupt(weights)
    monkeypatch.setattr(
        "vpbench.models.acquire.acquisition_problem", lambda *a, **k: "place the file X at Y (sha256 Z)"
    )
    message = quarantine_corrupt_weights("mobilenet_v2", weights, None)
    assert "It cannot be acquired again automatically: place the file X at Y (sha256 Z)" in message


def test_a_users_own_checkpoint_is_never_moved(tmp_path, monkeypatch):
    from vpbench.models.checkpoints import register_checkpoint

    own = tmp_path / "mine.pt"
    weights = _acquired(tmp_path / "w")
    own.write_bytes(weights.read_bytes())
    family = register_checkpoint(
        {
            "architecture": "torchvision:mobilenet_v2",
            "path": str(own),
            "sha256": sha256_file(own),
            "compression": {"kind": "dense"},
        },
        where="models.m.variants.mine.checkpoint",
    )
    _corrupt(own)
    message = quarantine_corrupt_weights(family, own, None)
    assert own.exists() and "It is your own file, so vpbench leaves it alone" in message
