"""Extending vpbench without editing it: a plugin file in a temporary folder registers a dataset, a model
family, a compression method and two VP methods; a tiny study names them and runs through Snakemake.
One plugin method fails on compressed variants: the run still builds every table and figure, lists the
failed cell with its rule, log and reason, fails loudly, and the next run retries exactly that cell."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import torch
import yaml

from vpbench.sources.checksums import sha256_file

from .support import REPO_ROOT, SNAKEFILE, output_tail

pytestmark = pytest.mark.slow
PLUGIN = REPO_ROOT / "tests" / "data" / "plugins" / "toy_plugin.py"
FAILED = "results/toy/cells/toy_blobs/toy/signed/nan_vp/2shot/seed1"


def snakemake(directory: Path, *args: str) -> subprocess.CompletedProcess[str]:
    command = [
        sys.executable,
        "-m",
        "snakemake",
        "--snakefile",
        str(SNAKEFILE),
        "--directory",
        str(directory),
    ]
    command += ["--configfile", str(directory / "study.yaml"), *args]
    return subprocess.run(command, cwd=REPO_ROOT, capture_output=True, text=True, timeout=900)


@pytest.fixture(scope="module")
def plugin_run(tmp_path_factory) -> tuple[Path, subprocess.CompletedProcess[str]]:
    """The toy study run once with --keep-going in a fresh folder that holds the plugin."""
    directory = tmp_path_factory.mktemp("plugin") / "work"
    plugins = directory / "my_plugins"
    plugins.mkdir(parents=True)
    shutil.copy(PLUGIN, plugins / "toy_plugin.py")
    shutil.copy(PLUGIN.with_name("toy_figure.rst"), plugins / "toy_figure.rst")
    sys.path.insert(0, str(plugins))
    try:
        import toy_plugin  # the plugin's own module, loaded only to build its weights file
    finally:
        sys.path.remove(str(plugins))
    torch.manual_seed(0)
    torch.save(toy_plugin.toy_net().state_dict(), plugins / "toy_net.pt")
    (plugins / "toy_net.pt.sha256").write_text(sha256_file(plugins / "toy_net.pt"))
    study = {
        "study": "toy",
        "plugins": ["my_plugins/toy_plugin.py"],
        "device": "cpu",
        "models": {"toy": {"family": "toy_net",
                           "variants": {"dense": {}, "signed": {"compress": {"method": "sign_prune"}}}}},
        "datasets": {"toy_blobs": {}},
        "methods": ["toy_vp", "nan_vp"],
        "shots": [2],
        "seeds": [1],
        "prompt": {"canvas": 32},
        "training": {"epochs": 1, "batch_size": {"2": 4}},
    }  # fmt: skip
    (directory / "study.yaml").write_text(yaml.safe_dump(study))
    return directory, snakemake(directory, "--cores", "2", "--keep-going")


def test_plugin_entries_run_through_the_workflow(plugin_run):
    directory, result = plugin_run
    cells = pd.read_parquet(directory / "results/toy/tables/cells.parquet")
    ok = cells.set_index(["variant", "method"])
    assert {("dense", "toy_vp"), ("signed", "toy_vp"), ("dense", "nan_vp")} == set(ok.index), output_tail(
        result.stdout + result.stderr
    )
    assert ok.loc[("signed", "toy_vp"), "compression"] == "sign_prune"
    assert ok.loc[("signed", "toy_vp"), "compression_kind"] == "sparse"
    assert ok.loc[("signed", "toy_vp"), "compression_label"] == "sign-pruned"
    assert ok.loc[("dense", "toy_vp"), "family_label"] == "Toy net"
    assert (directory / "results/toy/tables/accuracy.html").is_file()
    figures = list((directory / "results/toy/figures").rglob("*.svg"))
    assert figures, "no figure was rendered"
    # the plugin's figure kind is planned from the study's cells and rendered with the built-in ones
    assert (directory / "results/toy/figures/accuracy/toy_toy_accuracy_bars.svg").is_file(), sorted(
        str(f.relative_to(directory)) for f in figures
    )


def test_a_failed_cell_is_listed_removed_and_retried_by_the_next_run(plugin_run):
    directory, result = plugin_run
    output = result.stdout + result.stderr
    assert result.returncode != 0, "a run with a failed cell must not look successful"
    assert "1 cell(s) failed" in output and FAILED in output and "NumericalError" in output
    assert "[train_cell, log logs/train_cell/toy/toy_blobs/toy/signed/nan_vp/2shot/seed1.log]" in output
    assert "non-finite training loss" in output
    assert not (directory / FAILED / "metrics.parquet").exists()  # never cached
    assert not (directory / "results/toy/status.json").exists()
    again = snakemake(directory, "-n", "--quiet", "rules")
    counts = dict(re.findall(r"^(\w+)\s+(\d+)$", again.stdout, flags=re.MULTILINE))
    assert counts.get("train_cell") == "1" and counts.get("aggregate") == "1", again.stdout
    assert "materialize_variant" not in counts
