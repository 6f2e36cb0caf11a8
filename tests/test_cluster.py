"""SLURM requests against partition limits (vpbench.cluster): pure functions on synthetic jobs, the
repository's profiles on the paper grid, and the grid's training jobs as slices of targets."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml

from vpbench.cluster.arrays import array_violations, batches_needed
from vpbench.cluster.cli import load_study_file
from vpbench.cluster.cli import main as cluster_main
from vpbench.cluster.limits import TRAINING_RULES, PartitionLimits, parse_mb, parse_minutes
from vpbench.cluster.profiles import profile_requests, profile_violations, read_profile, rule_request
from vpbench.cluster.requests import (
    Request,
    evaluate,
    find_violations,
    group_request,
    max_group_size,
    max_pack_size,
    slurm_request,
)
from vpbench.cluster.targets import slice_targets, training_job_counts, training_targets
from vpbench.engine.keys import plan_json
from vpbench.errors import ConfigError
from vpbench.study.loader import load_study

ROOT = Path(__file__).resolve().parents[1]
PROFILES = ROOT / "profiles"
LIMITS_48H = PartitionLimits(
    partition="gpu",
    max_runtime=2880,
    gpus_per_node=4,
    mem_mb_per_node=500_000,
    cpus_per_node=64,
    max_array_size=1001,
    max_submit_jobs=2000,
)
# The paper grid as the workflow plans it (studies/paper.yaml: 18,759 cells; a pack holds every cell with
# N <= 20 of one dataset, model, variant, method and seed).
PAPER_JOBS = {"train_cell": 7959, "train_pack": 2160}
OLD_GROUPS = {"train_cell": "cells", "train_pack": "cells"}  # the rules' `group: "cells"` before the hooks


@pytest.mark.parametrize(
    ("text", "minutes"),
    [
        (2880, 2880),
        ("90", 90),
        ("2-00:00:00", 2880),
        ("1-12", 2160),
        ("48:00:00", 2880),
        ("30:30", 31),
        ("48h", 2880),
        ("2d", 2880),
        ("90m", 90),
        ("1-00:30", 1470),
    ],
)
def test_runtime_forms_are_minutes(text, minutes):
    assert parse_minutes(text) == minutes


def test_sizes_are_megabytes():
    assert parse_mb("500G") == 500_000
    assert parse_mb("500GB") == 500_000
    assert parse_mb(32000) == 32000
    assert parse_mb("1T") == 1_000_000


def test_limits_from_profile_strings_are_typed():
    limits = PartitionLimits.from_mapping(
        {"partition": "gpu", "max_runtime": "2-00:00:00", "gpus_per_node": "4", "mem_mb_per_node": "500G"}
    )
    assert limits == PartitionLimits(
        partition="gpu", max_runtime=2880, gpus_per_node=4, mem_mb_per_node=500_000
    )
    assert limits.max_array_index is None and limits.declared


def test_unknown_or_bad_limit_names_the_key_and_the_allowed_ones():
    with pytest.raises(ConfigError, match=r"cluster: unknown key 'max_time'; allowed keys: .*max_runtime"):
        PartitionLimits.from_mapping({"max_time": 60})
    with pytest.raises(ConfigError, match=r"cluster.gpus_per_node: 'four' is not a positive integer"):
        PartitionLimits.from_mapping({"gpus_per_node": "four"})
    with pytest.raises(ConfigError, match=r"cluster.max_runtime"):
        PartitionLimits.from_mapping({"max_runtime": "two days"})
    unquoted = yaml.safe_load("max_runtime: 48:00:00")  # YAML 1.1: the base-60 number 172800
    with pytest.raises(ConfigError, match=r"more than 30 days; an unquoted H:MM:SS .* quote it"):
        PartitionLimits.from_mapping(unquoted)


def test_attempt_scaled_expressions_are_evaluated_for_the_given_attempt():
    assert evaluate("480 * attempt", attempt=3) == 1440
    assert evaluate("min(32000 * attempt, 64000)", attempt=3) == 64000
    assert evaluate("2 * threads", threads=8) == 16
    assert evaluate("gpu:a100:1") == "gpu:a100:1"
    assert evaluate("2h", name="runtime") == "2h"
    assert evaluate(60) == 60


def test_sbatch_request_follows_the_plugin():
    request = slurm_request("train_cell", {"runtime": "2h", "mem_mb": 96000, "gpu": 1, "cpus_per_gpu": 8}, 8)
    assert (request.runtime, request.mem_mb, request.gpus, request.cpus) == (120, 96000, 1, 8)
    assert slurm_request("x", {"gres": "gpu:a100:2", "cpus_per_gpu": 4}).gpus == 2
    assert slurm_request("x", {"gpu_model": "a100"}).gpus == 1
    assert slurm_request("x", {"cpus_per_task": 3, "gpu": 1, "cpus_per_gpu": 8}).cpus == 3
    assert slurm_request("x", {}, threads=5).cpus == 5


def test_a_group_on_one_gpu_sums_runtimes_and_keeps_widths():
    member = Request("train_cell", runtime=480, mem_mb=32000, gpus=1, cpus=8)
    serial = group_request(member, 20, gpu_cap=1)
    assert (serial.runtime, serial.mem_mb, serial.gpus, serial.cpus, serial.cells) == (9600, 32000, 1, 8, 20)
    parallel = group_request(member, 4, gpu_cap=None)
    assert (parallel.runtime, parallel.mem_mb, parallel.gpus, parallel.cpus) == (480, 128000, 4, 32)
    two_per_layer = group_request(member, 5, gpu_cap=2)
    assert (two_per_layer.runtime, two_per_layer.gpus) == (3 * 480, 2)


def test_violations_name_job_resource_request_and_limit():
    jobs = [
        Request("group cells (train_pack x20)", runtime=9600, mem_mb=48000, gpus=1, cpus=8, cells=20),
        Request("train_cell", runtime=720, mem_mb=640_000, gpus=8, cpus=128),
        Request("fine", runtime=60, mem_mb=1000, gpus=1, cpus=1),
    ]
    found = find_violations(jobs, LIMITS_48H)
    assert [(v.job, v.resource, v.requested, v.limit) for v in found] == [
        ("group cells (train_pack x20)", "runtime", 9600, 2880),
        ("train_cell", "gpus", 8, 4),
        ("train_cell", "mem_mb", 640_000, 500_000),
        ("train_cell", "cpus", 128, 64),
    ]
    assert str(found[0]).startswith(
        "group cells (train_pack x20): runtime 9600 min > limit 2880 min (160.0 h > 48.0 h)"
    )
    assert find_violations(jobs, PartitionLimits()) == []  # nothing declared, nothing checked


def test_largest_group_and_pack_that_fit_the_time_limit():
    assert max_group_size(480, LIMITS_48H) == 6
    assert max_group_size(720, LIMITS_48H) == 4
    assert max_group_size(3000, LIMITS_48H) == 0
    assert max_group_size(480, LIMITS_48H, per_layer=2) == 12
    assert max_pack_size(cell_minutes=30, budget_minutes=480) == 16
    assert max_pack_size(cell_minutes=30, budget_minutes=480, pack_factor=0.5) == 32


def test_array_plans_that_plugin_2_8_would_hang_or_refuse():
    ok = array_violations(
        {"train_cell": 900, "train_pack": 90, "build_cache": 10},
        array_rules=["train_cell", "train_pack"],
        array_limit=1000,
        jobs=2000,
        rate=2000,
        limits=LIMITS_48H,
    )
    assert ok == []
    found = array_violations(
        {"train_cell": 1500, "train_pack": 600},
        array_rules=["train_cell", "train_pack"],
        array_limit=1200,
        jobs=1000,
        rate=100,
        limits=LIMITS_48H,
        nonuniform={"train_cell": 2, "build_cache": 3},
        grouped=["train_pack"],
    )
    kinds = {(v.job, v.resource) for v in found}
    assert kinds == {
        ("slurm-array-limit", "array_limit"),  # 1200 > MaxArraySize - 1
        ("train_cell", "array tasks in one run"),  # indices 1001.. are refused
        ("ready jobs", "count vs --jobs"),  # 2100 ready > 1000: a split ready set is dropped (#473)
        ("ready jobs", "count vs max-jobs-per-timespan"),
        ("array tasks", "queued at once"),  # 2100 > MaxSubmitJobs 2000
        ("train_cell", "distinct resource requests"),  # arrays take the first job's resources
        ("train_pack", "group"),  # group jobs are never arrays
    }


# profiles/slurm before this change (resources and grouping only), with the limits of a 48 h partition.
OLD_PROFILE = {
    "retries": 2,
    "default-resources": {"runtime": 60, "mem_mb": 8000},
    "set-threads": ["train_cell=8", "train_pack=8"],
    "set-resources": {
        "train_cell": {"gpu": 1, "cpus_per_gpu": 8, "mem_mb": "32000 * attempt", "runtime": "240 * attempt"},
        "train_pack": {"gpu": 1, "cpus_per_gpu": 8, "mem_mb": "48000 * attempt", "runtime": "480 * attempt"},
    },
    "group-components": ["cells=20"],
    "resources": ["gpu=1"],
    "set-resource-scopes": ["gpu=local"],
    "config": {"cluster": {"max_runtime": "2-00:00:00", "gpus_per_node": 4}},
}


def test_the_old_profile_asked_for_160_hours_per_job(tmp_path):
    """group-components cells=20 on one GPU sums 20 runtimes: 160 h for packs, 80 h for cells."""
    (tmp_path / "config.v8+.yaml").write_text(yaml.safe_dump(OLD_PROFILE))
    profile = read_profile(tmp_path)
    first = [rule_request(profile, rule, attempt=1) for rule in PAPER_JOBS]
    assert [20 * r.runtime / 60 for r in first] == [80, 160]  # hours per group job at the first attempt
    last = {r.job: r.runtime for r in profile_requests(profile, PAPER_JOBS, OLD_GROUPS)}
    assert last["group cells (train_pack x20)"] == 20 * 480 * 3  # 480 h at the last retry
    assert last["group cells (train_cell x20)"] == 20 * 240 * 3
    found = profile_violations(profile, PAPER_JOBS, rule_groups=OLD_GROUPS)
    assert {(v.job, v.resource) for v in found} == {
        ("group cells (train_cell x20)", "runtime"),
        ("group cells (train_cell x19)", "runtime"),
        ("group cells (train_pack x20)", "runtime"),
    }


@pytest.mark.parametrize("name", ["slurm", "slurm-noarray", "slurm-local"])
def test_every_training_request_of_the_profiles_fits_their_limits(name):
    profile = read_profile(PROFILES / name)
    assert profile.limits.declared, f"profiles/{name} declares no partition limits"
    counts = PAPER_JOBS if name != "slurm-local" else {"train_cell": 3, "train_pack": 3}
    batches = batches_needed(counts, profile.limits, profile.jobs, profile.rate) if profile.array_rules else 1
    assert profile_violations(profile, counts, batches) == []
    requests = profile_requests(profile, counts)
    assert all(r.runtime <= profile.limits.max_runtime for r in requests)


def test_arrays_for_training_rules_and_a_non_array_twin():
    arrays, groups = (
        read_profile(PROFILES / "slurm"),
        read_profile(PROFILES / "slurm-noarray"),
    )
    assert set(arrays.array_rules) == set(TRAINING_RULES) and not arrays.groups
    assert not arrays.group_components and "gpu" not in arrays.global_resources
    assert not groups.array_rules and "slurm-array-limit" not in groups.raw
    assert groups.groups == {"train_cell": "cells", "train_pack": "packs"}
    # the twin differs only in how jobs are submitted
    assert (
        arrays.set_resources == groups.set_resources and arrays.default_resources == groups.default_resources
    )
    assert arrays.limits == groups.limits and arrays.set_threads == groups.set_threads
    assert arrays.retries == groups.retries
    # group sizes are the largest that fit MaxTime
    for rule, group in groups.groups.items():
        single = rule_request(groups, rule)
        assert groups.group_components[group] == max_group_size(single.runtime, groups.limits)


def test_the_paper_grid_is_submitted_in_batches_that_arrays_can_number():
    profile = read_profile(PROFILES / "slurm")
    batches = batches_needed(PAPER_JOBS, profile.limits, profile.jobs, profile.rate)
    assert batches == 11  # 10,119 jobs, at most MaxArraySize - 1 = 1000 per run
    assert profile_violations(profile, PAPER_JOBS, batches=1) != []  # all at once would hang
    assert profile_violations(profile, PAPER_JOBS, batches=batches) == []


@pytest.mark.slow
def test_training_job_counts_of_the_paper_study_match_the_plan():
    study = load_study_file(ROOT / "studies" / "paper.yaml")
    assert training_job_counts(study) == PAPER_JOBS
    assert sum(len(members) for members in study.packs.values()) + PAPER_JOBS["train_cell"] == len(
        study.cells
    )


@pytest.mark.slow
def test_cli_prints_the_requests_and_the_batches(capsys, monkeypatch):
    monkeypatch.chdir(ROOT)  # the profile names its study and limits relative to the repository
    code = cluster_main(["--profile", "profiles/slurm"])  # the profile's own study: the paper grid
    out = capsys.readouterr().out
    assert code == 0, out
    assert "| train_cell | 7959 | yes | 1 | 480 | 96000 | 1 | 8 |" in out
    assert "| train_pack | 2160 | yes | 1 | 480 | 96000 | 1 | 8 |" in out
    assert "run 11 slices:\n  for i in $(seq 1 11); do snakemake --profile profiles/slurm $(python -m" in out
    assert "--slice $i/11); done" in out
    assert "every request fits the declared limits" in out


def test_slices_hold_every_nth_training_job():
    study = load_study_file(ROOT / "tests" / "data" / "studies" / "paper_small.yaml")
    targets = training_targets(study)
    rules = [rule for rule, _ in targets]
    assert rules.count("train_pack") == 16 and len(targets) == 48
    # a pack's target is its first member's metrics: the pack rule makes every member's files
    cells = "results/paper_small/cells"
    assert targets[0] == ("train_pack", f"{cells}/cifar10/deit_tiny/dense/ilm/1shot/seed1/metrics.parquet")
    assert ("train_cell", f"{cells}/imdb/resnet18/gmp/cmr/fullshot/seed1/metrics.parquet") in targets
    assert (
        "train_cell",
        f"{cells}/cifar10/clip_vit_l14/dense/bahng_vp/1shot/seed1/metrics.parquet",
    ) in targets
    slices = [slice_targets(targets, i, 3) for i in (1, 2, 3)]
    assert sorted(p for s in slices for p in s) == sorted(path for _, path in targets)  # a partition
    assert [len(s) for s in slices] == [16, 16, 16]
    packs = {path for rule, path in targets if rule == "train_pack"}
    assert [len(packs.intersection(s)) for s in slices] == [6, 5, 5]  # at most ceil(16 / 3) packs
    with pytest.raises(ValueError, match="slice 4/3"):
        slice_targets(targets, 4, 3)


def test_the_profile_limits_are_validated_but_never_part_of_the_study():
    """The `cluster:` section a profile adds is checked by the schema and kept out of the study: no cell's
    plan (the training rules' params) and no recorded config holds it, so a profile change reruns nothing."""
    config = yaml.safe_load((ROOT / "tests" / "data" / "studies" / "tiny.yaml").read_text())
    limits = {"partition": "gpu", "max_runtime": "2-00:00:00", "gpus_per_node": 4}
    plain, on_cluster = (
        load_study(copy.deepcopy(config)),
        load_study({**copy.deepcopy(config), "cluster": limits}),
    )
    assert dict(on_cluster.cluster) == limits and not plain.cluster
    assert "cluster" not in on_cluster.as_config() and on_cluster.as_config() == plain.as_config()
    assert [plan_json(on_cluster, cell) for cell in on_cluster.cells] == [
        plan_json(plain, cell) for cell in plain.cells
    ]
    with pytest.raises(ConfigError, match=r"cluster: unknown key 'max_time'"):
        load_study({**copy.deepcopy(config), "cluster": {"max_time": 60}})
