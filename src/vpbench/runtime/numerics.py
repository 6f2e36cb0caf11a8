"""What a job's floating-point results depend on besides its inputs: threads, CPU kernels, libraries.

:func:`apply_threads` fixes the intra-op thread count of a job from the study's ``cpu_threads`` (so CPU
numbers do not depend on ``--cores``/``--set-threads``); :func:`numerics_record` is what every cell
records about it (docs/reproducibility.md says which differences each entry explains).
"""

from __future__ import annotations

import platform
import re
from functools import cache
from pathlib import Path
from typing import Any

import torch

_JOB: dict[str, Any] = {"job_threads": None, "cpu_threads": None}


def apply_threads(cpu_threads: int | None, job_threads: int, device_type: str) -> int:
    """Set torch's intra-op threads for this job and return the count.

    On the CPU a study's ``cpu_threads`` wins over the job's thread count (results then do not depend on
    how the job was launched); ``cpu_threads: null``, or a CUDA device, uses the job's threads.
    """
    threads = int(job_threads)
    if device_type == "cpu" and cpu_threads is not None:
        threads = int(cpu_threads)
    torch.set_num_threads(max(1, threads))
    _JOB.update(job_threads=int(job_threads), cpu_threads=cpu_threads)
    return torch.get_num_threads()


@cache
def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text(errors="replace").splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


@cache
def _library_versions() -> dict[str, str]:
    """oneDNN, MKL and OpenMP as torch reports them (they pick the CPU kernels)."""
    shown = torch.__config__.show()
    found = {}
    for key, pattern in (
        ("onednn", r"MKL-DNN v([\w.]+)"),
        ("mkl", r"Math Kernel Library Version ([\w.-]+)"),
        ("openmp", r"OpenMP (\d+)"),
    ):
        match = re.search(pattern, shown)
        if match:
            found[key] = match.group(1)
    return found


def numerics_record() -> dict[str, Any]:
    """Threads, CPU kernel family and numeric libraries of this process, for a cell's ``runtime``."""
    return {
        "torch_threads": torch.get_num_threads(),
        "interop_threads": torch.get_num_interop_threads(),
        "job_threads": _JOB["job_threads"],
        "cpu_threads_setting": _JOB["cpu_threads"],
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "cpu_model": _cpu_model(),
        "machine": platform.machine(),
        "libraries": _library_versions(),
        "cuda_flags": {  # only act on CUDA devices
            "tf32_matmul": torch.backends.cuda.matmul.allow_tf32,
            "tf32_cudnn": torch.backends.cudnn.allow_tf32,
            "cudnn_benchmark": torch.backends.cudnn.benchmark,
            "cudnn_deterministic": torch.backends.cudnn.deterministic,
        },
    }
