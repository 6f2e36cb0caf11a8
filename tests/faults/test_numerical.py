"""Numerical faults in a real cell: non-finite logits stop it with a message naming the cell and the epoch,
and leave nothing in its output folder (tests/engine/test_training.py covers the bare training loop)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn

from tests.engine.test_cell import _run

CELL_LABEL = "digits/mobilenet_v2/dense/ilm/2shot/seed1"
STEPS_PER_EPOCH = 3


def _poison_source_model(value: float, from_training_forward: int) -> torch.utils.hooks.RemovableHandle:
    """From the n-th training forward of the frozen MobileNetV2 on, replace its logits by ``value``.

    A global forward hook, so the cell code is not patched at all; training forwards are the ones with
    gradients enabled (re-mapping and evaluation run under inference mode).
    """
    seen = {"n": 0}

    def hook(module: nn.Module, inputs: tuple, output: torch.Tensor) -> torch.Tensor | None:
        if type(module).__name__ != "MobileNetV2" or not torch.is_grad_enabled():
            return None
        seen["n"] += 1
        return torch.full_like(output, value) if seen["n"] >= from_training_forward else None

    return nn.modules.module.register_module_forward_hook(hook)


@pytest.mark.parametrize(
    ("value", "epoch", "step"),
    [(math.nan, 0, 0), (math.inf, 2, 1), (-math.inf, 3, 2)],
    ids=["nan-first-step", "inf-mid-epoch-2", "minus-inf-last-step"],
)
def test_non_finite_logits_stop_the_cell_naming_cell_and_epoch(workspace, tmp_path, value, epoch, step):
    """Fault: the frozen model's logits become NaN / +Inf / -Inf at a given epoch and step.
    Expected: the cell stops with NumericalError '<cell>: non-finite training loss at epoch E, step S',
    recorded as a failure (status 'failed', the reason, no result), never as metrics."""
    root, config = workspace
    out = tmp_path / "cell"
    handle = _poison_source_model(value, epoch * STEPS_PER_EPOCH + step + 1)
    try:
        row = _run(root, config, "dense", out)
    finally:
        handle.remove()
    assert row["status"] == "failed" and row["failure_reason"].startswith("NumericalError")
    assert f"{CELL_LABEL}: non-finite training loss at epoch {epoch}, step {step}" in row["failure_reason"]
    metrics = pd.read_parquet(out / "metrics.parquet")
    assert metrics.loc[0, "status"] == "failed" and "accuracy" not in metrics.columns
    assert np.load(out / "test_probs.npy").size == 0 and not list(out.glob(".staging*"))
