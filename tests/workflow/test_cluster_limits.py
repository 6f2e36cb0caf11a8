"""Every SLURM request of a (scaled-down) paper grid fits the partition limits its profile declares, as
Snakemake itself resolves the requests; a profile that asks for too much fails `snakemake -n`.

The requests come from `snakemake -n --attempt <last retry>` (the resources Snakemake prints for every
job, evaluated for the last attempt) and are checked with vpbench.cluster against the profile's
limits file (`cluster:`), independently of the hook in rules/train.smk, which must let the same dry run
pass (and stop a profile above the limits).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from vpbench.cluster.cli import load_study_file
from vpbench.cluster.limits import TRAINING_RULES
from vpbench.cluster.profiles import ProfileSettings, read_profile
from vpbench.cluster.requests import Request, find_violations, group_request, slurm_request
from vpbench.cluster.targets import slice_targets, training_targets

from .support import REPO_ROOT, SNAKEFILE, output_tail

PAPER_SMALL = REPO_ROOT / "tests" / "data" / "studies" / "paper_small.yaml"
LIMITS = REPO_ROOT / "profiles" / "slurm" / "cluster.yaml"  # shared by profiles/slurm and slurm-noarray
# a job as `snakemake -n` prints it (indented inside "Group job ..." blocks), up to its blank line or
# its "Shell command:" line
JOB_BLOCK = re.compile(
    r"^\s*(localrule|rule) (\w+):\n(.*?)(?=\n\s*\n|\nShell command|\Z)", re.MULTILINE | re.DOTALL
)


def dry_run(snakefile: Path, directory: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    command = [
        sys.executable,
        "-m",
        "snakemake",
        "-n",
        "--snakefile",
        str(snakefile),
        "--directory",
        str(directory),
    ]
    return subprocess.run(
        [*command, *args], cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=600, check=False
    )


def planned_jobs(output: str) -> list[tuple[str, dict[str, object], int]]:
    """(rule, resources, threads) of every non-local job a dry run printed."""
    jobs = []
    for kind, rule, body in JOB_BLOCK.findall(output):
        if kind == "localrule":
            continue
        resources = re.search(r"^\s+resources: (.*)$", body, re.MULTILINE)
        threads = re.search(r"^\s+threads: (\d+)$", body, re.MULTILINE)
        values: dict[str, object] = {}
        for item in resources.group(1).split(", ") if resources else []:
            key, _, value = item.partition("=")
            values[key] = int(value) if value.isdigit() else value
        jobs.append((rule, values, int(threads.group(1)) if threads else 1))
    return jobs


def requests_of(output: str, profile: ProfileSettings) -> list[Request]:
    """The SLURM requests of the dry run's jobs, group jobs sized like Snakemake (profile groups)."""
    requests = []
    for rule, resources, threads in planned_jobs(output):
        request = slurm_request(rule, resources, threads)
        group = profile.groups.get(rule)
        size = profile.group_components.get(group, 1) if group else 1
        requests.append(group_request(request, size, profile.gpu_cap()) if size > 1 else request)
    return requests


@pytest.mark.parametrize("name", ["slurm", "slurm-noarray"])
def test_every_request_of_the_paper_grid_fits_the_declared_limits(name, tmp_path):
    profile = read_profile(REPO_ROOT / "profiles" / name)
    result = dry_run(
        SNAKEFILE,
        tmp_path,
        "--profile",
        str(REPO_ROOT / "profiles" / name),
        "--configfile",  # a CLI --configfile replaces the profile's list: name the limits file again
        str(PAPER_SMALL),
        str(LIMITS),
        "--attempt",
        str(profile.last_attempt),
    )
    assert result.returncode == 0, output_tail(result.stdout + result.stderr)  # the hook let it through
    jobs = planned_jobs(result.stdout)
    rules = [rule for rule, _, _ in jobs]
    assert rules.count("train_pack") == 16 and rules.count("train_cell") == 32, sorted(set(rules))
    requests = requests_of(result.stdout, profile)
    assert find_violations(requests, profile.limits) == []
    training = [r for r in requests if "train" in r.job]
    assert all(r.gpus == 1 and r.runtime <= profile.limits.max_runtime for r in training)
    # the last retry's memory is what the dry run printed at --attempt: 3 x 32 GB
    assert {r.mem_mb for r in training} == {96000}
    if name == "slurm":  # arrays: one request size per training rule
        for rule in TRAINING_RULES:
            assert len({(r.runtime, r.mem_mb, r.cpus) for r in training if r.job == rule}) == 1


def test_a_profile_above_the_limits_fails_the_dry_run_naming_job_resource_and_limit(tmp_path):
    tight = tmp_path / "short.yaml"
    limits = {"partition": "short", "max_runtime": "4:00:00", "gpus_per_node": 1, "mem_mb_per_node": "64G"}
    tight.write_text(yaml.safe_dump({"cluster": limits}))
    result = dry_run(
        SNAKEFILE,
        tmp_path / "work",
        "--profile",
        str(REPO_ROOT / "profiles" / "slurm"),
        "--configfile",
        str(PAPER_SMALL),
        str(tight),
    )
    output = result.stdout + result.stderr
    assert result.returncode != 0, output_tail(output)
    assert "SLURM request would exceed the partition limits on partition short" in output, output_tail(output)
    assert re.search(r"train_(cell|pack): runtime 480 min > limit 240 min \(8\.0 h > 4\.0 h\)", output)
    assert re.search(r"train_(cell|pack): mem_mb 96000 MB > limit 64000 MB", output)
    assert "attempt 3" in output


def test_group_components_that_outgrow_the_time_limit_fail_the_dry_run(tmp_path):
    """The non-array path: 20 grouped cells on one GPU would sum to 160 h."""
    overlay = tmp_path / "groups"
    overlay.mkdir()
    (overlay / "config.v8+.yaml").write_text(yaml.safe_dump({"group-components": ["cells=20", "packs=6"]}))
    result = dry_run(
        SNAKEFILE,
        tmp_path / "work",
        "--profile",
        str(REPO_ROOT / "profiles" / "slurm-noarray"),
        "--profile",
        str(overlay),
        "--configfile",
        str(PAPER_SMALL),
        str(LIMITS),
    )
    output = result.stdout + result.stderr
    assert result.returncode != 0, output_tail(output)
    assert "group 'cells' (20 x train_cell): runtime 9600 min > limit 2880 min (160.0 h > 48.0 h)" in output


def test_without_a_limits_file_the_dry_run_warns_that_requests_go_unchecked(tmp_path):
    result = dry_run(
        SNAKEFILE,
        tmp_path,
        "--profile",
        str(REPO_ROOT / "profiles" / "slurm"),
        "--configfile",
        str(PAPER_SMALL),
        "--quiet",
        "rules",
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output_tail(output)
    assert "asks for 1 GPU(s) but no partition limits are declared" in output


def test_a_slice_of_training_targets_plans_only_its_jobs(tmp_path):
    targets = slice_targets(training_targets(load_study_file(PAPER_SMALL)), 1, 3)
    result = dry_run(
        SNAKEFILE,
        tmp_path,
        *targets,
        "--profile",
        str(REPO_ROOT / "profiles" / "slurm"),
        "--quiet",
        "rules",
        "--configfile",
        str(PAPER_SMALL),
        str(LIMITS),
    )
    assert result.returncode == 0, output_tail(result.stdout + result.stderr)
    counts = dict(re.findall(r"^(train_cell|train_pack)\s+(\d+)$", result.stdout, flags=re.MULTILINE))
    assert counts == {"train_cell": "10", "train_pack": "6"}


def test_cell_targets_above_the_limits_fail_the_dry_run_whichever_rule_could_make_them(tmp_path):
    """A packed cell's metrics file can be made by train_cell or train_pack: Snakemake drops a candidate rule
    whose input function raises and tries the other, so the hook must refuse every later job too, not
    only the first it saw (found on the real test cluster, where the run then submitted everything)."""
    grid = REPO_ROOT / "tests" / "data" / "studies" / "tiny_grid.yaml"
    local = REPO_ROOT / "profiles" / "slurm-local"
    tight = tmp_path / "short.yaml"
    limits = yaml.safe_load((local / "cluster.yaml").read_text())["cluster"]
    tight.write_text(yaml.safe_dump({"cluster": {**limits, "max_runtime": 5}}))  # the profile asks 10 min
    # a packed cell (1-shot) and a cell trained alone (3-shot, above packing.max_shots) of seed 1
    cells = {cell.shots: cell for cell in load_study_file(grid).cells if cell.seed == 1}
    targets = [f"{cells[shots].directory}/metrics.parquet" for shots in ("1", "3")]
    (tmp_path / "work").mkdir()  # an existing working directory, as in a real project
    result = dry_run(
        SNAKEFILE,
        tmp_path / "work",
        *targets,
        "--profile",
        str(local),
        "--quiet",
        "rules",
        "--configfile",
        str(grid),
        str(tight),
    )
    output = result.stdout + result.stderr
    assert result.returncode != 0, output_tail(output)
    assert re.search(r"train_(cell|pack): runtime 10 min > limit 5 min", output), output_tail(output)
