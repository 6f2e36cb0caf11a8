"""Helpers shared by the model-zoo tests: small synthetic checkpoints in each source's on-disk layout."""

from __future__ import annotations

import pytest
import torch


@pytest.fixture
def forbid_torch_load(monkeypatch):
    """Make any torch.load call fail the test (to prove a file was rejected before unpickling)."""

    def refuse(*args, **kwargs):
        pytest.fail("torch.load was called on a file that should have been rejected first")

    monkeypatch.setattr(torch, "load", refuse)


def keep_first(weight: torch.Tensor, keep_fraction: float) -> torch.Tensor:
    """A 0/1 mask of ``weight``'s shape keeping exactly round(keep_fraction · numel) leading entries."""
    mask = torch.zeros(weight.numel())
    mask[: round(keep_fraction * weight.numel())] = 1.0
    return mask.view_as(weight)
