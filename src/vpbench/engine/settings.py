"""A cell's resolved optimisation: the method's published recipe with the study's overrides on top.

This is the one place where "study value, else the method's published value" is decided (``is not
None``, so an explicit 0 stays 0), and where the device and numeric precision of a run are chosen.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch

if TYPE_CHECKING:
    from vpbench.study.grid import Cell
    from vpbench.study.spec import Study

PRECISIONS = ("fp32", "bf16", "fp16")
SELECTIONS = ("last", "val", "test")


@dataclass(frozen=True)
class TrainSettings:
    """Everything that decides a cell's optimisation, resolved from the method recipe and the study."""

    epochs: int
    batch_size: int
    optimizer: str = "adam"
    lr: float = 0.01
    momentum: float = 0.0
    weight_decay: float = 0.0
    schedule: str = "multistep"
    milestones: tuple[float, ...] = (0.5, 0.72)
    gamma: float = 0.1
    warmup_steps: int = 0
    eval_every: int = 0
    eval_batch_size: int = 256
    precision: str = "bf16"  # autocast dtype on CUDA; CPU runs are always fp32
    seed: int = 0
    save_prompt_history: bool = False
    max_steps: int | None = None  # total optimiser-step budget (e.g. cross-modal runs); None = all epochs
    selection: str = (
        "last"  # which epoch's prompt is reported: last, best on held-out train data, best on test
    )

    def __post_init__(self) -> None:
        if self.precision not in PRECISIONS:
            raise ValueError(f"precision {self.precision!r}; allowed: {', '.join(PRECISIONS)}")
        if self.selection not in SELECTIONS:
            raise ValueError(f"selection {self.selection!r}; allowed: {', '.join(SELECTIONS)}")


def resolve_device(requested: str) -> torch.device:
    """``auto`` → CUDA when available, else CPU; ``cuda`` without a CUDA device is a ConfigError."""
    if requested == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    from vpbench.study.environment import cuda_problem

    if problem := cuda_problem(requested):
        from vpbench.errors import ConfigError

        raise ConfigError(problem)
    return torch.device(requested)


def effective_precision(settings: TrainSettings, device: torch.device) -> str:
    """The precision a run actually uses: autocast only exists on CUDA here, CPU runs stay fp32."""
    return settings.precision if device.type == "cuda" else "fp32"


def train_settings(study: Study, cell: Cell) -> TrainSettings:
    """Resolve a cell's optimisation from its method's published recipe and the study's recipe."""
    from vpbench.engine.methods import get_method

    method = get_method(cell.method)
    recipe = study.recipe(cell.method)
    return TrainSettings(
        epochs=recipe.epochs,
        batch_size=recipe.batch_size_for(cell.shots),
        optimizer=method.optimizer,
        lr=float(recipe.lr if recipe.lr is not None else method.lr),
        momentum=method.momentum,
        weight_decay=method.weight_decay,
        schedule=method.schedule,
        milestones=recipe.milestones,
        gamma=recipe.gamma,
        warmup_steps=int(recipe.warmup_steps if recipe.warmup_steps is not None else method.warmup_steps),
        eval_every=recipe.eval_every,
        eval_batch_size=recipe.eval_batch_size,
        precision=recipe.precision,
        seed=cell.seed,
        save_prompt_history=recipe.save_prompt_history,
        max_steps=recipe.max_steps,
        selection=recipe.selection,
    )
