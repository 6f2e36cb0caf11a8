"""The pipeline on a real SLURM cluster: fake-GPU allocation, a small grid's training jobs submitted as
SLURM job arrays in one wave (profiles/slurm-local: `slurm-array-jobs: train_cell,train_pack`, at most 2
tasks per array), a one-cell rerun as one plain job, and the two refusals before anything reaches sbatch:
a request above the partition limits the profile declares, and an array plan the plugin would hang on.

Kept lean for CI: the upstream steps (downloads, caches, the dense variant) are copied from the local run
of the tiny study and the N-shot splits are written here with the rule's own function, so that the only
SLURM waves are the grid's training arrays (6 tasks: 3 packs, 3 single cells, 9 cells) and the rerun.
Training cells of one epoch on 16-px digits take seconds; each array task's cost is its start-up (a
Snakemake job step and a Python process), two at a time on the test cluster's two fake GPUs.
"""

from __future__ import annotations

import copy
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import yaml

from vpbench.cluster.profiles import read_profile
from vpbench.cluster.targets import training_job_counts
from vpbench.study.loader import load_study
from vpbench.study.paths import CELL_FILES, cache_dir, split_file

from .support import REPO_ROOT, SlurmCluster, Study, output_tail

pytestmark = [pytest.mark.slurm, pytest.mark.slow]

PROFILE = REPO_ROOT / "profiles" / "slurm-local"
# the test cluster's partition limits: a CLI --configfile replaces the profile's list, so name them again
LIMITS = PROFILE / "cluster.yaml"
TINY_GRID = REPO_ROOT / "tests" / "data" / "studies" / "tiny_grid.yaml"
SUBMITTED = re.compile(r"Job \d+ has been submitted with SLURM jobid (\d+) \(log: (\S+)\)")
SUBMITTED_ARRAY = re.compile(
    r"Submitted array job with Snakemake IDs ([\d,]+) and SLURM job ID (\d+)\. "
    r"The individual task IDs are (\d+)-(\d+)\."
)
RUN_ID = re.compile(r"SLURM run ID: (\S+)")
FINAL_STATES = {"COMPLETED", "FAILED", "CANCELLED", "TIMEOUT", "OUT_OF_MEMORY", "NODE_FAIL", "BOOT_FAIL"}


def job_state(job_id: str) -> str:
    """The job's state as squeue reports it (finished jobs stay listed for MinJobAge = 10 min)."""
    done = subprocess.run(
        ["squeue", "-h", "-j", job_id, "--states=all", "-o", "%T"],
        capture_output=True,
        text=True,
        check=False,
    )
    return done.stdout.strip()


def wait_for_job(job_id: str, timeout_s: float = 120.0) -> str:
    """Poll squeue until the job reaches a final state; return that state."""
    deadline = time.monotonic() + timeout_s
    while (state := job_state(job_id)) not in FINAL_STATES:
        if time.monotonic() > deadline:
            pytest.fail(f"SLURM job {job_id} still {state or 'unknown'} after {timeout_s:.0f}s")
        time.sleep(0.5)
    return state


def job_details(job_id: str) -> str:
    """`scontrol show job -d`: JOB_GRES= names the GRES the job was allocated (array tasks: <id>_<task>)."""
    return subprocess.run(
        ["scontrol", "show", "job", "-d", job_id], capture_output=True, text=True, check=True
    ).stdout


def sbatch(tmp_path: Path, *options: str, command: str) -> str:
    """Submit a one-line batch job writing to tmp_path/<jobid>.out; return its id."""
    done = subprocess.run(
        ["sbatch", "--parsable", "--mem=100", "-o", str(tmp_path / "%j.out"), *options, "--wrap", command],
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout.strip().split(";")[0]


def submitted_jobs(output: str) -> dict[str, Path]:
    """Plain (non-array) submissions of one Snakemake run: SLURM job id → its log file."""
    return {job_id: Path(log) for job_id, log in SUBMITTED.findall(output)}


def submitted_arrays(output: str, directory: Path) -> dict[str, tuple[int, list[Path]]]:
    """Array submissions of one run: SLURM array job id → (Snakemake jobs in it, each task's log).

    The plugin writes array logs to .snakemake/slurm_logs/<rule>/%A_%a.log (it reports another path)."""
    arrays = {}
    for snakemake_ids, job_id, first, last in SUBMITTED_ARRAY.findall(output):
        logs = sorted((directory / ".snakemake" / "slurm_logs").glob(f"*/{job_id}_*.log"))
        assert len(logs) == int(last) - int(first) + 1, f"array {job_id}: logs {logs}"
        arrays[job_id] = (len(snakemake_ids.split(",")), logs)
    return arrays


def task_states(run_id: str) -> dict[str, str]:
    """Every SLURM job or array task of one Snakemake run (job name = run id) → its state."""
    done = subprocess.run(
        ["squeue", "-h", "-r", "--states=all", "--name", run_id, "-o", "%i %T"],
        capture_output=True,
        text=True,
        check=True,
    )
    return dict(line.split() for line in done.stdout.splitlines())


def snakemake_on_slurm(directory: Path, targets: list[str], *extra: str, limits: Path = LIMITS) -> list[str]:
    """The command line that builds `targets` of the grid in `directory` through profiles/slurm-local,
    with the partition limits of `limits`.

    Only missing or older outputs count as outdated (`--rerun-triggers mtime`): the copied upstream files
    have no Snakemake metadata here, and the code may have been edited since they were made.
    """
    # targets first: --configfile takes several values and would swallow them
    return [
        *targets,
        "--profile",
        str(PROFILE),
        "--configfile",
        str(TINY_GRID),
        str(limits),
        "--rerun-triggers",
        "mtime",
        *extra,
    ]


@pytest.fixture(scope="module")
def grid() -> Study:
    config = yaml.safe_load(TINY_GRID.read_text())
    return Study(path=TINY_GRID, config=config, cells=list(load_study(copy.deepcopy(config)).cells))


def prepare_grid(source: Path, directory: Path, grid: Study) -> None:
    """Caches and model variants of the tiny study's local run (copy2 keeps mtimes), and the grid's N-shot
    splits written with the nshot_split rule's own function, so that every training job is ready at once:
    jobs that become ready in waves go out as one array per wave and rule."""
    from vpbench.data import write_split

    study = grid.config["study"]
    for upstream in ("resources", f"results/{study}/models"):
        shutil.copytree(source / upstream, directory / upstream, dirs_exist_ok=True)
    (dataset, options), *_ = grid.config["datasets"].items()
    labels = np.load(directory / cache_dir(dataset, "train", options["input_size"]) / "labels.npy")
    for shots in grid.config["shots"]:
        for seed in grid.config["seeds"]:
            path = directory / split_file(dataset, "vpbench", str(shots), seed)
            if not path.is_file():
                path.parent.mkdir(parents=True, exist_ok=True)
                write_split(path, dataset, int(shots), seed, labels)


def test_sbatch_job_with_gpus_gets_a_fake_gpu(slurm_cluster: SlurmCluster, tmp_path: Path) -> None:
    gpu_job = sbatch(
        tmp_path,
        f"--gpus={slurm_cluster.gpu_type}:1",
        command='echo "CUDA_VISIBLE_DEVICES=$CUDA_VISIBLE_DEVICES"',
    )
    cpu_job = sbatch(tmp_path, command="echo no-gpu")

    assert wait_for_job(gpu_job) == "COMPLETED"
    assert wait_for_job(cpu_job) == "COMPLETED"
    assert re.fullmatch(r"CUDA_VISIBLE_DEVICES=\d+", (tmp_path / f"{gpu_job}.out").read_text().strip())
    assert f"JOB_GRES=gpu:{slurm_cluster.gpu_type}:1" in job_details(gpu_job)
    assert "JOB_GRES=gpu" not in job_details(cpu_job)


@pytest.fixture(scope="module")
def grid_run(
    slurm_cluster: SlurmCluster,
    tiny_local_run: Path,
    grid: Study,
    run_snakemake: Callable[..., subprocess.CompletedProcess[str]],
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[Path, subprocess.CompletedProcess[str], float]:
    """Every cell of the grid trained through `--profile profiles/slurm-local`: (directory, run, seconds)."""
    directory = tmp_path_factory.mktemp("grid-slurm")
    prepare_grid(tiny_local_run, directory, grid)
    targets = [f"{cell.directory}/{name}" for cell in grid.cells for name in CELL_FILES]
    tick = time.monotonic()
    result = run_snakemake(directory, *snakemake_on_slurm(directory, targets))
    return directory, result, time.monotonic() - tick


def test_the_grid_trains_in_array_tasks_each_holding_a_gpu(
    grid_run: tuple[Path, subprocess.CompletedProcess[str], float], grid: Study, slurm_cluster: SlurmCluster
) -> None:
    """6 training jobs (3 packs of two cells, 3 cells alone) go out in ONE wave as arrays of at most
    `slurm-array-limit` = 2 tasks: 4 sbatch calls, every task on a fake GPU, every cell trained in one."""
    directory, result, seconds = grid_run
    for cell in grid.cells:
        for name in CELL_FILES:
            assert (directory / cell.directory / name).is_file(), f"{cell.label}: {name} missing"

    planned = training_job_counts(load_study(copy.deepcopy(grid.config)))
    assert planned == {"train_cell": 3, "train_pack": 3}
    limit = read_profile(PROFILE).array_limit
    arrays = submitted_arrays(result.stdout, directory)
    assert not submitted_jobs(result.stdout), "every submitted job should have been an array task"
    assert limit == 2 and sorted(jobs for jobs, _ in arrays.values()) == [1, 1, 2, 2], result.stdout[-4000:]
    tasks = task_states(RUN_ID.search(result.stdout).group(1))
    assert len(tasks) == 6 and set(tasks.values()) == {"COMPLETED"}, tasks
    assert {task.split("_")[0] for task in tasks} == set(arrays)
    trained_in_slurm = ""
    for task in tasks:
        assert f"JOB_GRES=gpu:{slurm_cluster.gpu_type}:1" in job_details(task)
    for _, logs in arrays.values():
        trained_in_slurm += "".join(log.read_text() for log in logs)  # kept by slurm-keep-successful-logs
    for cell in grid.cells:  # a pack's task names every member's outputs
        assert f"{cell.directory}/metrics.parquet" in trained_in_slurm, f"{cell.label} not run in a task"
    print(f"{len(grid.cells)} cells, 6 SLURM array tasks, {len(arrays)} sbatch calls in {seconds:.0f} s")


def test_rerun_of_one_deleted_cell_submits_exactly_one_job(
    grid_run: tuple[Path, subprocess.CompletedProcess[str], float],
    grid: Study,
    run_snakemake: Callable[..., subprocess.CompletedProcess[str]],
) -> None:
    directory, _, _ = grid_run
    cell = next(c for c in grid.cells if c.shots == "3")  # trained alone (N > packing.max_shots)
    metrics = directory / cell.directory / "metrics.parquet"
    metrics.unlink()

    target = str(metrics.relative_to(directory))
    rerun = run_snakemake(directory, *snakemake_on_slurm(directory, [target]))

    jobs = submitted_jobs(rerun.stdout)
    assert len(jobs) == 1 and not submitted_arrays(rerun.stdout, directory), rerun.stdout[-4000:]
    (job_id,) = jobs
    assert job_state(job_id) == "COMPLETED"
    assert metrics.is_file()
    for other in grid.cells:
        if other != cell:
            assert f"{other.directory}/" not in jobs[job_id].read_text(), "another cell was retrained"


def refused_run(directory: Path, tiny_local_run: Path, grid: Study, *extra: str, **limits: Path) -> str:
    """Run the grid on the test cluster expecting a refusal; its output, after checking nothing reached
    sbatch."""
    prepare_grid(tiny_local_run, directory, grid)
    targets = [f"{cell.directory}/metrics.parquet" for cell in grid.cells]
    command = [sys.executable, "-m", "snakemake", "--directory", str(directory)]
    command += snakemake_on_slurm(directory, targets, *extra, **limits)
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    done = subprocess.run(
        command, cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=300, check=False
    )
    output = done.stdout + done.stderr
    assert done.returncode != 0, output_tail(output)
    assert not (SUBMITTED.search(output) or SUBMITTED_ARRAY.search(output)), "nothing may reach sbatch"
    return output


def test_a_request_above_the_partition_limits_is_refused_before_any_sbatch(
    slurm_cluster: SlurmCluster, tiny_local_run: Path, grid: Study, tmp_path: Path
) -> None:
    """The profile asks 10 min and 1500 MB x attempt per training task; a partition of 5 min refuses."""
    short = tmp_path / "short.yaml"
    limits = yaml.safe_load(LIMITS.read_text())
    short.write_text(yaml.safe_dump({"cluster": {**limits["cluster"], "max_runtime": 5}}))
    output = refused_run(tmp_path / "work", tiny_local_run, grid, limits=short)
    assert "SLURM request would exceed the partition limits on partition debug" in output, output_tail(output)
    assert re.search(r"train_(cell|pack): runtime 10 min > limit 5 min", output), output_tail(output)


def test_an_array_plan_that_would_hang_is_refused_before_any_sbatch(
    slurm_cluster: SlurmCluster, tiny_local_run: Path, grid: Study, tmp_path: Path
) -> None:
    """--jobs 4 < 6 ready training jobs: plugin 2.8 would submit 4, drop the batch and hang (#473)."""
    output = refused_run(tmp_path, tiny_local_run, grid, "--jobs", "4")
    assert "SLURM array submission (--slurm-array-jobs) would fail or hang" in output, output_tail(output)
    assert "ready jobs: count vs --jobs 6 > limit 4" in output
