"""One cell's side of the training loop: optimiser, schedule, epoch bookkeeping and its checkpoint.

The loop in :mod:`vpbench.engine.training` drives any number of these in lockstep (cell packing); each keeps
its own sample order, learning rate, label map and history, so a packed cell trains exactly as it
would alone, and resumes from its own checkpoint.

Model selection (:class:`Selection`) decides which epoch's prompt a run reports: the last; the ``best``
by accuracy on the run's evaluation data (evaluated after every epoch); or the one ``at`` a given epoch
(chosen by another run). The kept prompt and map are part of the checkpoint, so a resumed run reports
the same epoch.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from vpbench.engine.checkpointing import CheckpointStore
from vpbench.engine.schedules import Schedule
from vpbench.errors import ConfigError

if TYPE_CHECKING:
    from vpbench.engine.settings import TrainSettings
    from vpbench.engine.vp_model import CellData, VisualPromptModel


SELECTION_KINDS = ("last", "best", "at")


@dataclass(frozen=True)
class Selection:
    """Which epoch's prompt a run reports: ``last``; ``best`` test-set accuracy of the run's evaluation data
    (``CellData.test_*``: the test split, or a calibration prompt's held-out images), first best on ties;
    or ``at`` a fixed 0-based ``epoch`` (clipped to the run's last epoch)."""

    kind: str = "last"
    epoch: int | None = None

    def __post_init__(self) -> None:
        if self.kind not in SELECTION_KINDS:
            raise ConfigError(f"selection {self.kind!r}; allowed: {', '.join(SELECTION_KINDS)}")
        if (self.kind == "at") != (self.epoch is not None):
            raise ConfigError("selection 'at' needs an epoch, and only 'at' takes one")


def selection_for(settings: TrainSettings) -> Selection:
    """The loop's selection for ``training.selection``: ``last``, or ``best`` on the test split for ``test``.

    ``val`` needs a held-out part of the training subset, which only a cell can provide
    (:mod:`vpbench.engine.calibrate` trains the prompt that evaluates it and passes a :class:`Selection`).
    """
    if settings.selection == "last":
        return Selection()
    if settings.selection == "test":
        return Selection("best")
    raise ConfigError(
        "selection 'val' needs a held-out part of the training subset: run it as a cell "
        "(vpbench.engine.cell), which trains the calibration prompt that chooses the epoch"
    )


def _state_copy(module: nn.Module) -> dict[str, torch.Tensor]:
    return {key: value.detach().clone() for key, value in module.state_dict().items()}


def epoch_order(count: int, seed: int, epoch: int) -> torch.Tensor:
    """The shuffled sample order of one epoch: a pure function of (seed, epoch), so resume is exact."""
    generator = torch.Generator().manual_seed(1_000_003 * (seed + 1) + epoch)
    return torch.randperm(count, generator=generator)


def make_optimizer(params: list[nn.Parameter] | list[dict], settings: TrainSettings) -> torch.optim.Optimizer:
    """Adam or SGD over the trainable parameters (or parameter groups), as the method's recipe says."""
    if settings.optimizer == "adam":
        return torch.optim.Adam(params, lr=settings.lr, weight_decay=settings.weight_decay)
    if settings.optimizer == "sgd":
        return torch.optim.SGD(
            params, lr=settings.lr, momentum=settings.momentum, weight_decay=settings.weight_decay
        )
    raise ValueError(f"unknown optimizer {settings.optimizer!r}; allowed: adam, sgd")


def group_schedules(schedule: Schedule, groups: list[dict], settings: TrainSettings) -> list[Schedule]:
    """One schedule per optimiser group: the cell's, with the group's ``lr_factor`` and ``gamma`` if set
    (e.g. SMM's mask network on ViTs: lr × 0.1, never decayed)."""
    return [
        replace(schedule, base_lr=settings.lr * group.get("lr_factor", 1.0),
                gamma=group.get("gamma", schedule.gamma))
        for group in groups
    ]  # fmt: skip


def effective_prompt(model: VisualPromptModel) -> torch.Tensor:
    """The prompt as it acts on pixels: a detached CPU copy, never a view of a live parameter (a prompt
    whose ``effective()`` is the parameter itself, like SMM's δ, would otherwise change under it)."""
    with torch.no_grad():
        return model.prompt.effective().detach().float().cpu().clone()


def _fresh_running(lr: float) -> dict[str, Any]:
    return {"loss": 0.0, "correct": 0, "seen": 0, "changes": 0, "lr": lr}


class CellRun:
    """Mutable training state of one cell, restored from and saved to its :class:`CheckpointStore`."""

    def __init__(
        self,
        model: VisualPromptModel,
        data: CellData,
        settings: TrainSettings,
        device: torch.device,
        store: CheckpointStore | None,
        label: str,
        selection: Selection | None = None,
    ) -> None:
        started = time.perf_counter()
        self.model, self.data, self.settings, self.store, self.label = model, data, settings, store, label
        self.selection = selection or selection_for(settings)
        model.to(device)
        self.train_inputs = data.train_images.to(device)
        self.train_labels = data.train_labels.to(device)
        count = len(data.train_labels)
        self.steps_per_epoch = math.ceil(count / settings.batch_size)
        self.epochs = settings.epochs
        if settings.max_steps is not None:  # an iteration budget ends training at or inside an epoch
            self.epochs = min(self.epochs, math.ceil(settings.max_steps / self.steps_per_epoch))
        self.schedule = Schedule(
            settings.schedule, settings.lr, self.epochs, self.steps_per_epoch,
            settings.milestones, settings.gamma, settings.warmup_steps,
        )  # fmt: skip
        self.optimizer = make_optimizer(model.param_groups(), settings)
        # --- method hooks (per-group schedules, post-step hook): docs/methods/beyond.md ---
        self.group_schedules = group_schedules(self.schedule, self.optimizer.param_groups, settings)
        after_step = getattr(model, "after_optimizer_step", None)
        if after_step is not None:  # e.g. full fine-tuning re-applies pruning masks after every step
            self.optimizer.register_step_post_hook(lambda *_: after_step())
        self.timings = {"setup": 0.0, "mapping": 0.0, "train": 0.0, "eval": 0.0}
        self.history: list[dict[str, Any]] = []
        self.prompts = [effective_prompt(model)] if settings.save_prompt_history else []
        self.epoch, self.step, self.running = 0, 0, _fresh_running(settings.lr)
        self.previous_prompt = effective_prompt(model)
        self.batches: list[torch.Tensor] = []
        self.budget = 0
        self.selected: dict[str, Any] | None = None  # epoch, score, prompt and head of the reported epoch
        self._restore()
        self.timings["setup"] = time.perf_counter() - started  # device copy, optimiser, checkpoint restore

    @property
    def done(self) -> bool:
        """All epochs (or the step budget) are trained."""
        return self.epoch >= self.epochs

    def _restore(self) -> None:
        state = self.store.load() if self.store else None
        if state is None:
            return
        self.model.prompt.load_state_dict(state["prompt"])
        self.model.head.load_state_dict(state["head"])
        if "source" in state:  # a method that trains the source model (full fine-tuning)
            self.model.source_model.load_state_dict(state["source"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.epoch, self.step, self.running = state["epoch"], state["step"], state["running"]
        self.history, self.previous_prompt = state["history"], state["previous_prompt"]
        self.selected = state.get("selected")
        if self.settings.save_prompt_history:
            self.prompts = list(state["prompt_history"])

    def snapshot(self) -> dict[str, Any]:
        """Everything needed to continue exactly from here (tensors and plain containers only)."""
        state = {
            "prompt": self.model.prompt.state_dict(),
            "head": self.model.head.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "epoch": self.epoch,
            "step": self.step,
            "running": dict(self.running),
            "history": list(self.history),
            "previous_prompt": self.previous_prompt,
            "prompt_history": torch.stack(self.prompts) if self.prompts else torch.empty(0),
            "selected": self.selected,
        }
        if getattr(self.model, "train_source", False):
            state["source"] = self.model.source_model.state_dict()
        return state

    def save(self) -> None:
        """Flush a checkpoint (no-op without a store)."""
        if self.store:
            self.store.save(self.snapshot())

    def begin_epoch(self, remap: Any) -> None:
        """Re-map labels if the method asks (only at the epoch's first step) and fix the batch order."""
        if self.step == 0:
            tick = time.perf_counter()
            self.model.eval()
            if self.model.head.needs_remap(self.epoch):
                self.running["changes"] = remap(self)
            self.running["lr"] = self.schedule.lr(self.epoch, 0)
            self.timings["mapping"] += time.perf_counter() - tick
        order = epoch_order(len(self.train_labels), self.settings.seed, self.epoch)
        self.batches = list(torch.split(order, self.settings.batch_size))
        self.budget = len(self.batches)
        if self.settings.max_steps is not None:
            self.budget = min(self.budget, self.settings.max_steps - self.epoch * self.steps_per_epoch)

    def next_batch(self) -> torch.Tensor:
        """Indices of this step's batch; also sets this step's learning rate."""
        for group, schedule in zip(self.optimizer.param_groups, self.group_schedules, strict=True):
            group["lr"] = schedule.lr(self.epoch, self.step)
        return self.batches[self.step].to(self.train_inputs.device)

    def record_step(self, loss: torch.Tensor, logits: torch.Tensor, index: torch.Tensor) -> bool:
        """Book one optimiser step; returns True when the epoch's steps are all done."""
        self.running["loss"] += loss.item() * len(index)
        self.running["correct"] += int((logits.argmax(1) == self.train_labels[index]).sum())
        self.running["seen"] += len(index)
        self.step += 1
        return self.step >= self.budget

    def end_epoch(self, eval_accuracy: float = math.nan) -> dict[str, Any]:
        """Close the epoch: history row, prompt history, checkpoint; the next epoch starts at step 0."""
        current = effective_prompt(self.model)
        seen = max(self.running["seen"], 1)
        row = {
            "epoch": self.epoch,
            "train_loss": self.running["loss"] / seen,
            "train_accuracy": self.running["correct"] / seen,
            "lr": self.running["lr"],
            "prompt_l2": float(current.norm()),
            "prompt_step_l2": float((current - self.previous_prompt).norm()),
            "mapping_changes": int(self.running["changes"]),
            "eval_accuracy": eval_accuracy,
        }
        self.history.append(row)
        self._select(eval_accuracy)
        self.previous_prompt = current
        if self.settings.save_prompt_history:
            self.prompts.append(current)
        self.epoch, self.step = self.epoch + 1, 0
        self.running = _fresh_running(self.running["lr"])
        self.save()
        return row

    def wants_periodic_eval(self) -> bool:
        """Whether the epoch just trained asks for an evaluation: after every epoch for ``best`` selection,
        else every ``eval_every`` epochs but the last (the final evaluation covers it)."""
        if self.selection.kind == "best":
            return True
        every = self.settings.eval_every
        return bool(every) and (self.epoch + 1) % every == 0 and self.epoch + 1 < self.epochs

    def _select(self, accuracy: float) -> None:
        """Keep the prompt and map of the epoch just trained if the selection reports it."""
        kind = self.selection.kind
        if kind == "best":
            keep = self.selected is None or accuracy > self.selected["score"]  # first best on ties
        elif kind == "at":
            keep = self.epoch == min(int(self.selection.epoch), self.epochs - 1)
        else:
            keep = False
        if keep:
            parts = {name: _state_copy(part) for name, part in kept_parts(self.model).items()}
            self.selected = {"epoch": self.epoch, "score": float(accuracy), **parts}

    def restore_selected(self) -> int:
        """Load the reported epoch's prompt and map (and trained source) into the model after training;
        returns that epoch."""
        if self.selection.kind == "last" or self.selected is None:
            return len(self.history) - 1
        for name, part in kept_parts(self.model).items():
            part.load_state_dict(self.selected[name])
        return int(self.selected["epoch"])


def kept_parts(model: VisualPromptModel) -> dict[str, nn.Module]:
    """What a selected epoch keeps: prompt and head, and the source model where the method trains it
    (full fine-tuning), so a selected epoch reports that epoch's whole network."""
    parts = {"prompt": model.prompt, "head": model.head}
    if getattr(model, "train_source", False):
        parts["source"] = model.source_model
    return parts
