"""Benchmark your own model: a MobileNetV2 pruned to 70% by torch.nn.utils.prune and saved as a plain state
dict, declared in a study next to the demo's dense model, runs through Snakemake; its cells carry the
declared label and the measured sparsity. A wrong sha256, a wrong declared sparsity, a checkpoint of another
architecture and a pickle with code each stop the run before any training, naming the file and the problem."""

from __future__ import annotations

import copy
import pickle
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pandas as pd
import pytest
import torch
import yaml

from vpbench.sources.checksums import sha256_file

from .support import REPO_ROOT, SNAKEFILE, output_tail

pytestmark = pytest.mark.slow
EXAMPLE = REPO_ROOT / "examples" / "own_model"


def snakemake(directory: Path, study: dict, *args: str) -> subprocess.CompletedProcess[str]:
    path = directory / "study.yaml"
    path.write_text(yaml.safe_dump(study))
    command = [sys.executable, "-m", "snakemake", "--snakefile", str(SNAKEFILE)]
    command += ["--directory", str(directory), "--configfile", str(path), *args]
    return subprocess.run(command, cwd=REPO_ROOT, capture_output=True, text=True, timeout=900)


class Payload:
    """An object whose unpickling would run code (it must never be executed)."""

    def __reduce__(self):
        return (print, ("PAYLOAD RAN",))


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory) -> dict[str, Path]:
    """The pruned checkpoint (made by the example script's function) and three bad files."""
    folder = tmp_path_factory.mktemp("own")
    sys.path.insert(0, str(EXAMPLE))
    try:
        from prune_mobilenet import pruned_mobilenet
    finally:
        sys.path.remove(str(EXAMPLE))
    import os

    cwd = Path.cwd()
    os.chdir(folder)  # the example acquires the demo weights under ./resources
    try:
        model = pruned_mobilenet(0.7)
    finally:
        os.chdir(cwd)
    files = {"good": folder / "mobilenet_v2_pruned70.pth", "code": folder / "evil.pth"}
    torch.save(model.state_dict(), files["good"])
    with open(files["code"], "wb") as handle:
        pickle.dump({"features.0.0.weight": Payload()}, handle)
    return files


def study_for(path: Path, **compression) -> dict:
    study = yaml.safe_load((EXAMPLE / "study.yaml").read_text())
    declared = study["models"]["mobilenet_v2"]["variants"]["mine70"]["checkpoint"]
    declared.update(path=str(path), sha256=sha256_file(path))
    declared["compression"].update(compression)
    study.update(shots=[1], datasets={"digits": {"input_size": 16}}, prompt={"canvas": 32})
    study["training"] = {"epochs": 1, "batch_size": {"1": 8}}
    return study


def test_a_declared_checkpoint_runs_next_to_the_dense_model(tmp_path, checkpoints):
    result = snakemake(tmp_path, study_for(checkpoints["good"]), "--cores", "2")
    assert result.returncode == 0, output_tail(result.stdout + result.stderr)
    cells = pd.read_parquet(tmp_path / "results/own/tables/cells.parquet").set_index("variant")
    mine = cells.loc["mine70"]
    assert mine["compression_label"] == "70% (torch prune)" and mine["compression"] == "torch_prune"
    assert mine["compression_kind"] == "sparse" and mine["sparsity"] == pytest.approx(0.7, abs=0.005)
    assert cells.loc["dense", "is_dense"] and not mine["is_dense"]
    assert "70% (torch prune)" in (tmp_path / "results/own/tables/accuracy.html").read_text()
    assert any((tmp_path / "results/own/figures").rglob("*delta.svg"))


def test_bad_checkpoints_stop_the_run_before_training(tmp_path, checkpoints):
    good = study_for(checkpoints["good"])
    wrong_sha = copy.deepcopy(good)
    wrong_sha["models"]["mobilenet_v2"]["variants"]["mine70"]["checkpoint"]["sha256"] = "ab" * 32
    other_arch = copy.deepcopy(good)
    other_arch["models"]["mobilenet_v2"]["variants"]["mine70"]["checkpoint"]["architecture"] = (
        "torchvision:resnet18"
    )
    cases = {
        "sha": (wrong_sha, ["mine70.checkpoint.sha256", "mobilenet_v2_pruned70.pth", "not the declared"]),
        "sparsity": (
            study_for(checkpoints["good"], sparsity=0.5),
            ["measured sparsity 0.70", "declared 0.5"],
        ),
        "architecture": (other_arch, ["mobilenet_v2_pruned70.pth", "does not fit", "missing keys"]),
        "code": (study_for(checkpoints["code"]), ["evil.pth", "needs code execution"]),
    }

    def run(item):
        name, (study, _) = item
        directory = tmp_path / name
        directory.mkdir()
        return snakemake(directory, study, "--cores", "2")

    with ThreadPoolExecutor(max_workers=2) as pool:
        results = dict(zip(cases, pool.map(run, cases.items()), strict=True))
    for name, (_, fragments) in cases.items():
        logs = "".join(p.read_text() for p in (tmp_path / name / "logs").rglob("*.log"))
        output = results[name].stdout + results[name].stderr + logs
        assert results[name].returncode != 0, name
        for fragment in fragments:
            assert fragment in output, f"{name}: {fragment!r} not in {output_tail(output)}"
        assert not list((tmp_path / name).glob("results/own/cells/**/metrics.parquet")), name
        assert "PAYLOAD RAN" not in output
