"""The pipeline on a real SLURM cluster: fake-GPU allocation, the tiny study's cells trained through the
SLURM executor plugin with a GPU each (packed per profiles/slurm-local), and a one-cell rerun.

The upstream steps (downloads, caches, model variants) are copied from the local run of the tiny study, so
that the SLURM waves stay few: SLURM mechanics are the same for every rule, and each wave costs ~30 s here.
"""

from __future__ import annotations

import math
import re
import shutil
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from vpbench.study.paths import CELL_FILES

from .support import REPO_ROOT, SlurmCluster, Study

pytestmark = [pytest.mark.slurm, pytest.mark.slow]

PROFILE = REPO_ROOT / "profiles" / "slurm-local"
SUBMITTED = re.compile(r"has been submitted with SLURM jobid (\d+) \(log: (\S+)\)")
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
    """`scontrol show job -d`: JOB_GRES= names the GRES the job was allocated."""
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
    """SLURM job id → its log file, from the Snakemake output of one run."""
    return {job_id: Path(log) for job_id, log in SUBMITTED.findall(output)}


def cells_per_pack() -> int:
    """How many cells profiles/slurm-local packs into one SLURM job (`group-components: cells=N`)."""
    profile = yaml.safe_load((PROFILE / "config.v8+.yaml").read_text())
    components = dict(item.split("=") for item in profile.get("group-components", []))
    return int(components.get("cells", 1))


def run_on_slurm(
    run_snakemake: Callable[..., subprocess.CompletedProcess[str]],
    directory: Path,
    targets: list[str],
    study: Study,
) -> subprocess.CompletedProcess[str]:
    """Build `targets` of `study` in `directory` through the SLURM executor (profiles/slurm-local).

    Only missing or older outputs count as outdated (`--rerun-triggers mtime`): the copied upstream files
    have no Snakemake metadata here, and the code may have been edited since they were made.
    """
    # targets first: --configfile takes several values and would swallow them
    options = ["--profile", str(PROFILE), "--configfile", str(study.path), "--rerun-triggers", "mtime"]
    return run_snakemake(directory, *targets, *options)


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
def slurm_run(
    slurm_cluster: SlurmCluster,
    tiny_local_run: Path,
    tiny_study: Study,
    run_snakemake: Callable[..., subprocess.CompletedProcess[str]],
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[Path, subprocess.CompletedProcess[str]]:
    """Every cell of the tiny study trained through `--profile profiles/slurm-local` in a fresh directory."""
    directory = tmp_path_factory.mktemp("tiny-slurm")
    for upstream in ("resources", f"results/{tiny_study.config['study']}/models"):
        shutil.copytree(tiny_local_run / upstream, directory / upstream)  # copy2 keeps mtimes: no reruns
    targets = [f"{cell.directory}/{name}" for cell in tiny_study.cells for name in CELL_FILES]
    return directory, run_on_slurm(run_snakemake, directory, targets, tiny_study)


def test_every_cell_trains_in_a_slurm_job_holding_a_gpu(
    slurm_run: tuple[Path, subprocess.CompletedProcess[str]], tiny_study: Study, slurm_cluster: SlurmCluster
) -> None:
    directory, result = slurm_run
    for cell in tiny_study.cells:
        for name in CELL_FILES:
            assert (directory / cell.directory / name).is_file(), f"{cell.label}: {name} missing"

    jobs = submitted_jobs(result.stdout)
    train_jobs = {job_id: log for job_id, log in jobs.items() if "train_cell" in log.parent.name}
    assert len(train_jobs) == math.ceil(len(tiny_study.cells) / cells_per_pack()), result.stdout[-4000:]
    assert set(jobs) == set(train_jobs), "only train_cell should have been submitted (upstream was copied)"
    trained_in_slurm = ""
    for job_id, log in train_jobs.items():
        details = job_details(job_id)
        assert "JobState=COMPLETED" in details
        assert f"JOB_GRES=gpu:{slurm_cluster.gpu_type}:1" in details, details
        trained_in_slurm += log.read_text()  # kept by slurm-keep-successful-logs
    for cell in tiny_study.cells:
        assert f"{cell.directory}/metrics.parquet" in trained_in_slurm, f"{cell.label} not run in a SLURM job"


def test_rerun_of_one_deleted_cell_submits_exactly_one_job(
    slurm_run: tuple[Path, subprocess.CompletedProcess[str]],
    tiny_study: Study,
    run_snakemake: Callable[..., subprocess.CompletedProcess[str]],
) -> None:
    directory, _ = slurm_run
    cell = tiny_study.cells[-1]
    metrics = directory / cell.directory / "metrics.parquet"
    metrics.unlink()

    rerun = run_on_slurm(run_snakemake, directory, [str(metrics.relative_to(directory))], tiny_study)

    jobs = submitted_jobs(rerun.stdout)
    assert len(jobs) == 1, rerun.stdout[-4000:]
    (job_id,) = jobs
    assert job_state(job_id) == "COMPLETED"
    assert metrics.is_file()
    for other in tiny_study.cells[:-1]:
        assert f"{other.directory}/" not in jobs[job_id].read_text(), "another cell was retrained"
