"""Learning-rate schedules at known steps (vp_methods.md §3, §5.2, §5.3)."""

import math

import pytest
import torch

from vpbench.engine.schedules import Schedule


def test_multistep_matches_torch_multisteplr_stepped_per_epoch():
    epochs = 100
    schedule = Schedule("multistep", 0.01, epochs, steps_per_epoch=7)
    assert schedule.milestone_epochs() == [50, 72]
    parameter = torch.nn.Parameter(torch.zeros(1))
    optimizer = torch.optim.Adam([parameter], lr=0.01)
    reference = torch.optim.lr_scheduler.MultiStepLR(optimizer, milestones=[50, 72], gamma=0.1)
    for epoch in range(epochs):
        for step in (0, 6):
            assert schedule.lr(epoch, step) == pytest.approx(optimizer.param_groups[0]["lr"], rel=1e-12)
        optimizer.step()
        reference.step()


def test_warmup_cosine_values_at_known_steps():
    schedule = Schedule("warmup_cosine", 40.0, epochs=10, steps_per_epoch=300, warmup_steps=1000)
    assert schedule.lr(0, 0) == pytest.approx(40 * 1 / 1000)
    assert schedule.lr(0, 499) == pytest.approx(40 * 500 / 1000)
    assert schedule.lr(3, 99) == pytest.approx(40.0)  # step 999: end of warm-up
    assert schedule.lr(3, 100) == pytest.approx(40.0)  # step 1000: cosine starts at the peak
    halfway = 1000 + (3000 - 1000) // 2
    assert schedule.lr(halfway // 300, halfway % 300) == pytest.approx(20.0)


def test_warmup_never_ends_when_the_run_is_shorter_than_the_warmup():
    schedule = Schedule("warmup_cosine", 40.0, epochs=10, steps_per_epoch=2, warmup_steps=1000)
    lrs = [schedule.lr(e, s) for e in range(10) for s in range(2)]
    assert max(lrs) == pytest.approx(40 * 20 / 1000)
    assert lrs == sorted(lrs)


def test_cosine_matches_torch_cosine_annealing_per_iteration():
    schedule = Schedule("cosine", 40.0, epochs=3, steps_per_epoch=5)
    parameter = torch.nn.Parameter(torch.zeros(1))
    optimizer = torch.optim.SGD([parameter], lr=40.0, momentum=0.9)
    reference = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=15)
    for epoch in range(3):
        for step in range(5):
            assert schedule.lr(epoch, step) == pytest.approx(optimizer.param_groups[0]["lr"], abs=1e-9)
            optimizer.step()
            reference.step()
    assert schedule.lr(0, 0) == 40.0 and schedule.lr(2, 4) == pytest.approx(
        40 * 0.5 * (1 + math.cos(math.pi * 14 / 15))
    )


def test_unknown_schedule_is_refused():
    with pytest.raises(ValueError, match="allowed"):
        Schedule("linear", 1.0, 1, 1)
