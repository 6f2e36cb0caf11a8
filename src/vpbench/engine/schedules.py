"""Learning-rate schedules as pure functions of (epoch, step): stateless, so a resumed cell is exact.

- ``multistep``: ILM-VP's MultiStepLR, milestones ⌊0.5E⌋ and ⌊0.72E⌋, γ = 0.1, stepped once per epoch
  (docs/methods/training_recipe.md).
- ``warmup_cosine``: Bahng et al.'s per-step linear warm-up over W steps then cosine to 0
  (docs/methods/clip.md).
- ``cosine``: ILM-TP-VP's ``CosineAnnealingLR(T_max = E × iterations)`` stepped per iteration
  (docs/methods/clip.md).
- ``constant``: Neekhara et al.'s cross-modal reprogramming (plain Adam, docs/methods/cmr.md).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Schedule:
    """A learning-rate schedule for a run of ``epochs`` × ``steps_per_epoch`` optimiser steps."""

    kind: str
    base_lr: float
    epochs: int
    steps_per_epoch: int
    milestones: Sequence[float] = (0.5, 0.72)
    gamma: float = 0.1
    warmup_steps: int = 1000

    def __post_init__(self) -> None:
        if self.kind not in SCHEDULES:
            raise ValueError(f"unknown schedule {self.kind!r}; allowed: {', '.join(SCHEDULES)}")

    @property
    def total_steps(self) -> int:
        """Number of optimiser steps in the whole run."""
        return self.epochs * self.steps_per_epoch

    def milestone_epochs(self) -> list[int]:
        """The epochs at which ``multistep`` multiplies the rate by γ (⌊fraction · E⌋)."""
        return [math.floor(fraction * self.epochs) for fraction in self.milestones]

    def lr(self, epoch: int, step_in_epoch: int) -> float:
        """Learning rate used by the optimiser step ``step_in_epoch`` of ``epoch`` (both 0-based)."""
        return SCHEDULES[self.kind](self, epoch, step_in_epoch)


def _multistep(schedule: Schedule, epoch: int, _step: int) -> float:
    # MultiStepLR counts a milestone once the epoch counter has reached it.
    passed = sum(1 for milestone in schedule.milestone_epochs() if epoch >= milestone)
    return schedule.base_lr * schedule.gamma**passed


def _warmup_cosine(schedule: Schedule, epoch: int, step: int) -> float:
    global_step = epoch * schedule.steps_per_epoch + step
    warmup, total = schedule.warmup_steps, schedule.total_steps
    if global_step < warmup:
        return schedule.base_lr * (global_step + 1) / warmup
    progress = (global_step - warmup) / max(total - warmup, 1)
    return 0.5 * (1 + math.cos(math.pi * progress)) * schedule.base_lr


def _cosine(schedule: Schedule, epoch: int, step: int) -> float:
    global_step = epoch * schedule.steps_per_epoch + step
    return 0.5 * (1 + math.cos(math.pi * global_step / max(schedule.total_steps, 1))) * schedule.base_lr


def _constant(schedule: Schedule, _epoch: int, _step: int) -> float:
    return schedule.base_lr


SCHEDULES = {
    "multistep": _multistep,
    "warmup_cosine": _warmup_cosine,
    "cosine": _cosine,
    "constant": _constant,
}
