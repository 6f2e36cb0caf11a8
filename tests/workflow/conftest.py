"""Workflow-level fixtures: the tiny study, Snakemake runs in temporary directories, a real local SLURM
cluster and headless Chromium.

The cluster comes from the project's scripts/slurm_local_cluster.sh (no accounting database). CI runs as
root on a clean machine, so the fixtures install what is missing themselves; at session end only the
daemons this session started are stopped, by PID.
"""

from __future__ import annotations

import copy
import fcntl
import os
import shutil
import signal
import subprocess
import sys
import time
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import yaml

from vpbench.study.loader import load_study

from .support import REPO_ROOT, SNAKEFILE, TINY_STUDY, SlurmCluster, Study, output_tail

CLUSTER_SCRIPT = REPO_ROOT / "scripts" / "slurm_local_cluster.sh"
CLUSTER_STATE_DIR = Path("/run/slurm-local")  # where the script records the PIDs of the daemons it started
# What profiles/slurm-local expects (partition debug, gpu_model fake), pinned against a user's environment.
CLUSTER_SETTINGS = {
    "SLURM_LOCAL_PARTITION": "debug",
    "SLURM_LOCAL_GPU_TYPE": "fake",
    "SLURM_LOCAL_FAKE_GPUS": "2",
}
DAEMON_STOP_ORDER = ("slurmd", "slurmctld", "slurmdbd", "mariadbd", "munged")
SNAKEMAKE_TIMEOUT_S = 900


@pytest.fixture(scope="session")
def tiny_study() -> Study:
    """tests/data/studies/tiny.yaml and its cells (2 cells: dense and mag50 MobileNetV2, ILM, 1-shot)."""
    config = yaml.safe_load(TINY_STUDY.read_text())
    return Study(path=TINY_STUDY, config=config, cells=list(load_study(copy.deepcopy(config)).cells))


@pytest.fixture(scope="session")
def run_snakemake() -> Callable[..., subprocess.CompletedProcess[str]]:
    """Run the repository's Snakefile with its outputs in `directory`; fail the test on a non-zero exit.

    `--directory` keeps rules, scripts and the report template in the repository while results, resources,
    logs and .snakemake/ land in the temporary directory.
    """
    env = dict(os.environ)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"  # SLURM jobs inherit it

    def run(directory: Path, *args: str) -> subprocess.CompletedProcess[str]:
        command = [sys.executable, "-m", "snakemake", "--snakefile", str(SNAKEFILE)]
        command += ["--directory", str(directory), *args]
        command_line = " ".join(command)
        try:
            result = subprocess.run(
                command,
                cwd=REPO_ROOT,
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
                timeout=SNAKEMAKE_TIMEOUT_S,
            )
        except subprocess.TimeoutExpired as error:
            partial = output_tail(error.output or "")
            pytest.fail(f"snakemake ran over {SNAKEMAKE_TIMEOUT_S}s: {command_line}\n{partial}")
        if result.returncode != 0:
            pytest.fail(
                f"snakemake exited with {result.returncode}: {command_line}\n{output_tail(result.stdout)}"
            )
        return result

    return run


@pytest.fixture(scope="session")
def tiny_local_run(
    tmp_path_factory: pytest.TempPathFactory,
    tiny_study: Study,
    run_snakemake: Callable[..., subprocess.CompletedProcess[str]],
) -> Path:
    """A working directory in which the whole tiny study ran locally (`--cores 2`, no SLURM)."""
    directory = tmp_path_factory.mktemp("tiny-local")
    run_snakemake(directory, "--cores", "2", "--configfile", str(tiny_study.path))
    return directory


# ---------------------------------------------------------------------------------------------- SLURM


def _process_name(pid: int) -> str | None:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return None


def _recorded_daemons() -> dict[str, int]:
    """Daemons the cluster script recorded as started and that are still that very process."""
    alive = {}
    for name in DAEMON_STOP_ORDER:
        try:
            pid = int((CLUSTER_STATE_DIR / f"{name}.pid").read_text().strip())
        except (OSError, ValueError):
            continue
        if _process_name(pid) == name:
            alive[name] = pid
    return alive


def _stop_daemon(name: str, pid: int, grace_s: float = 10.0) -> None:
    """SIGTERM one daemon (after checking it is still `name`), SIGKILL it only if it outlives the grace."""
    if _process_name(pid) != name:
        return
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace_s
    while _process_name(pid) == name and time.monotonic() < deadline:
        time.sleep(0.2)
    if _process_name(pid) == name:
        os.kill(pid, signal.SIGKILL)
    pid_file = CLUSTER_STATE_DIR / f"{name}.pid"
    if pid_file.exists() and pid_file.read_text().strip() == str(pid):
        pid_file.unlink()


def _stop_owned(owned: dict[str, int], start_lock: int, users_lock: int, wait_s: float = 600.0) -> None:
    """Stop the daemons this session started, once no other test session still uses the cluster."""
    fcntl.flock(start_lock, fcntl.LOCK_EX)  # nobody starts (and relies on) the cluster while we stop it
    try:
        deadline = time.monotonic() + wait_s
        while True:
            try:
                fcntl.flock(users_lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    warnings.warn(
                        f"left the SLURM daemons {owned} running: another test session still uses them",
                        stacklevel=1,
                    )
                    return
                time.sleep(1)
        for name in DAEMON_STOP_ORDER:
            if name in owned:
                _stop_daemon(name, owned[name])
    finally:
        fcntl.flock(start_lock, fcntl.LOCK_UN)


@pytest.fixture(scope="session")
def slurm_cluster() -> Iterator[SlurmCluster]:
    """A single-node SLURM cluster with 2 fake GPUs, started (packages installed) by the project's script."""
    if os.geteuid() != 0:
        pytest.skip("the local SLURM cluster needs root: its script apt-installs packages and starts daemons")
    CLUSTER_STATE_DIR.mkdir(parents=True, exist_ok=True)
    start_lock = os.open(CLUSTER_STATE_DIR / "pytest-start.lock", os.O_CREAT | os.O_RDWR, 0o600)
    users_lock = os.open(CLUSTER_STATE_DIR / "pytest-users.lock", os.O_CREAT | os.O_RDWR, 0o600)
    fcntl.flock(start_lock, fcntl.LOCK_EX)  # one session at a time runs the (idempotent) start
    try:
        before = _recorded_daemons()
        command = ["bash", str(CLUSTER_SCRIPT), "start", "--no-accounting"]
        try:
            started = subprocess.run(
                command,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
                timeout=900,
                env={**os.environ, **CLUSTER_SETTINGS},
            )
        except subprocess.TimeoutExpired as error:
            started = subprocess.CompletedProcess(command, 124, stdout=f"timed out (900 s)\n{error.output}")
        owned = {name: pid for name, pid in _recorded_daemons().items() if before.get(name) != pid}
        fcntl.flock(users_lock, fcntl.LOCK_SH)
    finally:
        fcntl.flock(start_lock, fcntl.LOCK_UN)
    try:
        if started.returncode != 0:
            log = output_tail(started.stdout)
            if shutil.which("sinfo") is None:
                pytest.skip(f"SLURM packages could not be installed (no sinfo after trying):\n{log}")
            pytest.fail(f"scripts/slurm_local_cluster.sh start failed:\n{log}")
        yield SlurmCluster(
            CLUSTER_SETTINGS["SLURM_LOCAL_PARTITION"], CLUSTER_SETTINGS["SLURM_LOCAL_GPU_TYPE"]
        )
    finally:
        fcntl.flock(users_lock, fcntl.LOCK_UN)
        if owned:
            _stop_owned(owned, start_lock, users_lock)
        os.close(users_lock)
        os.close(start_lock)


# -------------------------------------------------------------------------------------------- browser


@pytest.fixture(scope="session")
def chromium() -> str:
    """Path of a headless-capable Chromium; apt-installs Debian's `chromium` package when it is missing."""
    found = shutil.which("chromium")
    if found:
        return found
    if os.geteuid() != 0:
        pytest.skip("chromium is not installed and `apt-get install chromium` needs root")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    install = ["apt-get", "install", "-y", "-qq", "--no-install-recommends", "-o", "DPkg::Lock::Timeout=300"]
    log = []
    update = ["apt-get", "update", "-qq", "-o", "DPkg::Lock::Timeout=300"]
    for command in ([*install, "chromium"], update, [*install, "chromium"]):
        try:
            done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=900)
        except (OSError, subprocess.TimeoutExpired) as error:
            log.append(f"{' '.join(command)}: {error}")
            break
        log.append(f"{' '.join(command)} -> {done.returncode}\n{done.stderr[-2000:]}")
        if shutil.which("chromium"):
            return shutil.which("chromium")
    pytest.skip("apt-get could not install chromium:\n" + "\n".join(log))
