"""Corrupted caches and model variants through the real Snakemake workflow: the cell that meets one fails
naming the file and drops its manifest (or card); the next run rebuilds it and the cell succeeds.

One tiny study (MobileNetV2 dense + 50%-pruned, ILM, 1-shot 16-px digits, 1 epoch) runs its pruned cell
once per module (7 jobs); each test damages its own copy of that working directory.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import torch
import yaml

from tests.engine.test_cell import _stable
from tests.workflow.support import REPO_ROOT, SNAKEFILE, output_tail
from vpbench.sources.checksums import safe_torch_load, sha256_file
from vpbench.study.grid import Cell

pytestmark = pytest.mark.slow
STUDY = {
    "study": "faults",
    "device": "cpu",
    "download": False,
    "models": {
        "mobilenet_v2": {
            "family": "mobilenet_v2",
            "variants": {"dense": {}, "mag50": {"compress": {"method": "magnitude", "sparsity": 0.5}}},
        }
    },
    "datasets": {"digits": {"input_size": 16}},
    "methods": ["ilm"],
    "shots": [1],
    "seeds": [1],
    "prompt": {"canvas": 32},
    "training": {"epochs": 1, "batch_size": {"1": 8}},
}
TRAIN_CACHE = Path("resources/cache/digits/train-16px-square")
SNAKEMAKE_TIMEOUT_S = 600


METRICS = f"{Cell('faults', 'digits', 'mobilenet_v2', 'mag50', 'ilm', '1', 1).directory}/metrics.parquet"
CELL_LOG = "logs/train_cell/faults/digits/mobilenet_v2/mag50/ilm/1shot/seed1.log"  # the traceback lands here


def _snakemake(workdir: Path, *targets: str) -> subprocess.CompletedProcess[str]:
    """Run the repository's Snakefile on ``targets`` with results in ``workdir`` (exit code unchecked)."""
    env = {**os.environ, "VPBENCH_PROGRESS": "0"}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    command = [sys.executable, "-m", "snakemake", "--snakefile", str(SNAKEFILE), "--directory", str(workdir)]
    command += ["--configfile", str(workdir / "study.yaml"), "--cores", "1", *targets]
    return subprocess.run(
        command, cwd=REPO_ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        timeout=SNAKEMAKE_TIMEOUT_S,
    )  # fmt: skip


def _succeeds(workdir: Path, *targets: str) -> str:
    result = _snakemake(workdir, *targets)
    assert result.returncode == 0, output_tail(result.stdout)
    return result.stdout


def _fails(workdir: Path, *targets: str) -> str:
    result = _snakemake(workdir, *targets)
    assert result.returncode != 0, output_tail(result.stdout)
    return result.stdout


def _flip_bytes(path: Path) -> None:
    """Corrupt a file in place, past any header: invert 16 bytes in its middle."""
    data = bytearray(path.read_bytes())
    middle = len(data) // 2
    data[middle : middle + 16] = bytes(255 - b for b in data[middle : middle + 16])
    path.write_bytes(bytes(data))


@pytest.fixture(scope="module")
def finished_study(tmp_path_factory) -> Path:
    """A working directory in which the pruned cell of the tiny study ran to completion."""
    workdir = tmp_path_factory.mktemp("workflow") / "study"
    workdir.mkdir()
    (workdir / "study.yaml").write_text(yaml.safe_dump(STUDY))
    _succeeds(workdir, METRICS)
    return workdir


@pytest.fixture
def workdir(finished_study, tmp_path) -> Path:
    """A private copy of the finished study (timestamps and Snakemake metadata kept)."""
    return Path(shutil.copytree(finished_study, tmp_path / "study", symlinks=True))


def _assert_same_metrics(finished_study: Path, workdir: Path) -> None:
    pd.testing.assert_frame_equal(
        _stable(pd.read_parquet(finished_study / METRICS)), _stable(pd.read_parquet(workdir / METRICS))
    )


def test_a_corrupted_dataset_cache_fails_the_cell_then_is_rebuilt(workdir, finished_study):
    """Fault: the train cache's images.npy has flipped bytes and the cell must run again.
    Expected: the cell fails naming images.npy and saying the manifest was removed; the next run rebuilds
    the cache (identical bytes, new manifest) and the cell succeeds with the original metrics."""
    images = workdir / TRAIN_CACHE / "images.npy"
    original_sha = sha256_file(images)
    _flip_bytes(images)
    (workdir / METRICS).unlink()

    _fails(workdir, METRICS)
    log = (workdir / CELL_LOG).read_text()
    assert "CacheCorruptError" in log and f"{TRAIN_CACHE}/images.npy is corrupt" in log
    assert "Its manifest was removed; rerun to rebuild" in log
    assert not (workdir / TRAIN_CACHE / "manifest.json").exists()
    assert not (workdir / METRICS).exists()

    stdout = _succeeds(workdir, METRICS)
    assert "rule build_cache" in stdout
    assert (workdir / TRAIN_CACHE / "manifest.json").exists() and sha256_file(images) == original_sha
    _assert_same_metrics(finished_study, workdir)


def test_a_corrupted_model_variant_fails_the_cell_then_is_rematerialised(workdir, finished_study):
    """Fault: the 50%-pruned variant's model.pt has flipped bytes and the cell must run again.
    Expected: the cell fails with a ChecksumError naming model.pt and saying the card was removed; the
    next run re-materialises the variant (same tensors, a card matching the new file) and the cell
    succeeds with the original metrics."""
    variant = Path("results/faults/models/mobilenet_v2/mag50")
    _flip_bytes(workdir / variant / "model.pt")
    (workdir / METRICS).unlink()

    _fails(workdir, METRICS)
    log = (workdir / CELL_LOG).read_text()
    assert "ChecksumError" in log and f"sha256 mismatch for {variant}/model.pt" in log
    assert "The variant's card was removed; rerun to rebuild" in log
    assert not (workdir / variant / "card.json").exists()

    stdout = _succeeds(workdir, METRICS)
    assert "rule materialize_variant" in stdout
    card = json.loads((workdir / variant / "card.json").read_text())
    rebuilt = safe_torch_load(workdir / variant / "model.pt", card["model_sha256"])
    original = safe_torch_load(finished_study / variant / "model.pt", None)
    assert rebuilt.keys() == original.keys()
    # compare tensors, not bytes: torch.save stamps every file with a random serialization id
    assert all(torch.equal(rebuilt[key], original[key]) for key in original)
    _assert_same_metrics(finished_study, workdir)
