"""CPU results do not depend on how many threads Snakemake gives a job (issue 19).

The same cell run with ``--set-threads train_cell=2`` used to give accuracy 0.14691 instead of 0.14357,
and nothing recorded the thread count. A CPU job now computes with the study's ``cpu_threads`` (default
1) whatever its thread count, and every cell records both (docs/reproducibility.md).
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import torch

from tests.engine.test_cell import _run, _stable
from vpbench.runtime.numerics import apply_threads


def test_a_job_given_two_threads_reproduces_the_one_thread_job_bit_for_bit(workspace, tmp_path):
    """Fault: the job is launched with 2 threads. Expected: torch computes with cpu_threads=1, every
    output equals the 1-thread job's exactly, and cell.json records job threads 2, torch threads 1."""
    root, config = workspace
    outs = {threads: tmp_path / f"job-threads-{threads}" for threads in (1, 2)}
    try:
        for threads, out in outs.items():
            assert apply_threads(1, threads, "cpu") == 1
            _run(root, config, "mag50", out)
    finally:
        apply_threads(1, 1, "cpu")
    for name in ("metrics.parquet", "epochs.parquet", "classes.parquet"):
        one, two = pd.read_parquet(outs[1] / name), pd.read_parquet(outs[2] / name)
        pd.testing.assert_frame_equal(_stable(one), _stable(two), check_exact=True)
    for name in ("test_probs.npy", "prompt_history.npy"):
        assert np.array_equal(np.load(outs[1] / name), np.load(outs[2] / name))
    runtime = json.loads((outs[2] / "cell.json").read_text())["runtime"]
    assert runtime["torch_threads"] == 1 and runtime["job_threads"] == 2
    assert runtime["cpu_threads_setting"] == 1
    assert runtime["cpu_capability"] and runtime["libraries"]  # what differs between machines


def test_cpu_threads_null_and_cuda_jobs_use_the_jobs_threads():
    try:
        assert apply_threads(None, 2, "cpu") == 2  # the study opted out: faster, thread-dependent, recorded
        assert apply_threads(1, 2, "cuda") == 2  # CPU threads only feed the GPU there
    finally:
        apply_threads(1, 1, "cpu")
    assert torch.get_num_threads() == 1
