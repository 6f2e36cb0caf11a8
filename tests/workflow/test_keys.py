"""A result is never stale: after a real run of the tiny study, changing an option plans exactly the cells it
affects again, reordering the study plans nothing, and aggregation refuses cells produced under another
plan, naming them and what differs (issue: every cell knows what produced it)."""

from __future__ import annotations

import copy
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from .support import REPO_ROOT, SNAKEFILE, output_tail

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def finished(tmp_path_factory, tiny_local_run, tiny_study) -> tuple[Path, dict]:
    """A private copy of the finished tiny study (2 cells: dense and mag50, ILM, 1-shot, 1 epoch)."""
    directory = tmp_path_factory.mktemp("keys") / "work"
    shutil.copytree(tiny_local_run, directory, symlinks=True)
    return directory, copy.deepcopy(tiny_study.config)


def snakemake(directory: Path, config: dict, *args: str) -> subprocess.CompletedProcess[str]:
    path = directory.parent / f"study-{abs(hash(yaml.safe_dump(config))) % 10**8}.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    command = [
        sys.executable,
        "-m",
        "snakemake",
        "--snakefile",
        str(SNAKEFILE),
        "--directory",
        str(directory),
    ]
    return subprocess.run(
        [*command, "--configfile", str(path), *args],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )


def planned(directory: Path, config: dict) -> dict[str, int]:
    """Jobs per rule that `snakemake -n` plans for ``config`` in ``directory``."""
    result = snakemake(directory, config, "-n", "--quiet", "rules")
    assert result.returncode == 0, output_tail(result.stdout + result.stderr)
    return {job: int(n) for job, n in re.findall(r"^(\w+)\s+(\d+)$", result.stdout, flags=re.MULTILINE)}


def changed(config: dict, path: str, value) -> dict:
    config = copy.deepcopy(config)
    *parents, last = path.split(".")
    node = config
    for key in parents:
        node = node.setdefault(key, {})
    node[last] = value
    return config


def test_the_finished_study_plans_nothing_and_so_does_its_reordered_twin(finished):
    directory, config = finished
    assert planned(directory, config) == {}

    def reversed_keys(node):
        if isinstance(node, dict):
            return {key: reversed_keys(node[key]) for key in reversed(list(node))}
        return node

    assert planned(directory, reversed_keys(config)) == {}


CHANGES = {  # option → (new value, jobs per rule it must plan); every other rule must plan nothing
    "training.epochs": (2, {"train_cell": 2}),
    "training.batch_size": ({"1": 4, "full": 128}, {"train_cell": 2}),
    "training.method_overrides": ({"ilm": {"lr": 0.02}}, {"train_cell": 2}),
    "training.lr": (0.01, {}),  # ILM's published lr spelled out: the same plan
    "models.mobilenet_v2.variants.mag50": (
        {"compress": {"method": "magnitude", "scope": "global", "sparsity": 0.6}},
        {"materialize_variant": 1, "train_cell": 1},
    ),
    "datasets.digits": ({"input_size": 12}, {"build_cache": 2, "nshot_split": 1, "train_cell": 2}),
    # a SLURM profile's partition limits describe where cells run, not what they compute
    "cluster": ({"partition": "debug", "max_runtime": 60, "gpus_per_node": 2}, {}),
}
DOWNSTREAM = {"aggregate", "stats", "figures", "tables", "study_status", "all", "model_table", "total"}


def test_each_change_plans_exactly_the_jobs_it_affects(finished):
    """Dry runs in parallel (each costs a Snakefile parse); every change plans exactly its jobs."""
    from concurrent.futures import ThreadPoolExecutor

    directory, config = finished

    def plan(item):
        option, (value, _) = item
        return planned(directory, changed(config, option, value))

    with ThreadPoolExecutor(max_workers=2) as pool:
        counts = dict(zip(CHANGES, pool.map(plan, CHANGES.items()), strict=True))
    for option, (_, expected) in CHANGES.items():
        upstream = {rule: n for rule, n in counts[option].items() if rule not in DOWNSTREAM}
        assert upstream == expected, f"{option}: {counts[option]}"
        assert bool(expected) == ("aggregate" in counts[option]), f"{option}: {counts[option]}"


def test_aggregating_cells_of_another_plan_is_refused_naming_them(finished):
    directory, config = finished
    result = snakemake(
        directory, changed(config, "training.epochs", 5), "--cores", "1", "--forcerun", "aggregate",
        "--rerun-triggers", "mtime", "--allowed-rules", "aggregate",
    )  # fmt: skip
    log = directory / "logs" / "aggregate" / "tiny.log"
    output = result.stdout + result.stderr + (log.read_text() if log.is_file() else "")
    assert result.returncode != 0
    assert "produced under a different plan" in output
    assert "mobilenet_v2/dense/ilm/1shot/seed1" in output and "settings.epochs: 1 → 5" in output
