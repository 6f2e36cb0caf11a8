"""Calibration and model selection inside a cell (docs/calibration.md): the extra prompts a cell trains so
that its temperature is fitted, and its epoch chosen, on images that the prompts doing so never trained on.

The **reported prompt** always trains on the cell's whole training subset, as the paper's prompts do, so
its accuracy stays comparable with the published numbers. What ``calibration.temperature: protocol`` and
``training.selection: val`` need comes from **calibration prompts**: copies of the reported prompt's
initial state, trained by the same loop with the same settings and seed (extra pack members) on part of
the subset, by the rule of :func:`vpbench.calibration.calibration_plan`:

* ``held_out`` (≥ 20 images per class): one prompt on the fit 80% of :func:`calibration_split`, evaluated
  on the held-out 20%;
* ``cross_fit`` (5–19 per class): five fold prompts, each on four folds of :func:`cross_fit_folds`,
  evaluated on the fifth;
* ``not_estimable``: none (every temperature column is NaN with a reason).

T is fitted on the calibration prompts' held-out logits and applied to the reported prompt's test logits.
Which epoch is reported (``training.selection``):

* ``last``: every prompt's last epoch;
* ``test``: the reported prompt's best epoch on the test set; the calibration prompts' held-out logits are
  taken at that epoch (they train after it);
* ``val``: the epoch at which the ``held_out`` calibration prompt is most accurate on the held-out 20%
  (it trains first, evaluated every epoch); the reported prompt's state at that epoch, T from the
  calibration prompt's logits at that epoch. Cells without a held-out split report the last epoch and say
  why in ``selection_reason``.
"""

from __future__ import annotations

import copy
import hashlib
import math
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from vpbench import calibration as rule
from vpbench.engine.checkpointing import CheckpointStore
from vpbench.engine.training import PackMember, Selection, TrainOutcome
from vpbench.engine.training_state import kept_parts
from vpbench.engine.vp_model import CellData, VisualPromptModel

STORE_PREFIX = "calibration-"  # checkpoint sub-folders of the calibration prompts
TEMPERATURE_MODES = ("protocol", "off")


@dataclass(frozen=True)
class CalibrationRun:
    """One calibration prompt: the subset positions it trains on and those it is evaluated on."""

    name: str
    train: np.ndarray
    heldout: np.ndarray


@dataclass(frozen=True)
class CellProtocol:
    """What a cell does beyond training its reported prompt: its calibration prompts and selection."""

    plan: rule.CalibrationPlan
    temperature: str
    requested: str  # training.selection
    selection: str  # the mode that produced the cell's numbers
    selection_reason: str
    runs: tuple[CalibrationRun, ...]


def cell_protocol(
    train_labels: np.ndarray,
    num_classes: int,
    shots: str,
    seed: int,
    temperature: str,
    selection: str,
    *,
    epochs: bool = True,
) -> CellProtocol:
    """The protocol of a cell from the labels of its training subset (same for dense and compressed).

    ``epochs`` is False for a method fitted once outside the loop (the linear probe): there is no epoch to
    select, so ``val`` and ``test`` report its one fit as ``last`` and say why; its calibration prompts
    are further fits on part of the subset, like any method's."""
    if temperature not in TEMPERATURE_MODES:
        raise ValueError(f"calibration.temperature {temperature!r}; allowed: {', '.join(TEMPERATURE_MODES)}")
    plan = rule.calibration_plan(train_labels, num_classes)
    effective, reason = selection, ""
    if selection != "last" and not epochs:
        effective = "last"
        reason = f"{selection} selection chooses an epoch and this method is fitted once, without epochs"
    elif selection == "val" and plan.strategy != "held_out":
        effective = "last"
        reason = (
            f"val selection needs a held-out split (≥ {rule.HELD_OUT_MIN_PER_CLASS} training images per "
            f"class) and this subset has {plan.min_per_class} in its smallest class: the last epoch is "
            "reported"
        )
    runs: tuple[CalibrationRun, ...] = ()
    wanted = effective == "val" or (temperature == "protocol" and plan.strategy != "not_estimable")
    if wanted and plan.strategy == "held_out":
        fit, held = rule.calibration_split(train_labels, shots, seed)
        runs = (CalibrationRun("held_out", fit, held),)
    elif wanted and plan.strategy == "cross_fit":
        splits = rule.cross_fit_splits(rule.cross_fit_folds(train_labels, shots, seed))
        runs = tuple(CalibrationRun(f"fold{k}", train, held) for k, (train, held) in enumerate(splits))
    return CellProtocol(plan, temperature, selection, effective, reason, runs)


def _clone(model: VisualPromptModel) -> VisualPromptModel:
    """A copy of ``model`` in its current state; the frozen source model is shared unless it trains."""
    source = model.source_model
    memo: dict[int, Any] = {}
    if not any(p.requires_grad for p in source.parameters()):
        memo[id(source)] = source
    return copy.deepcopy(model, memo)


def _subset(data: CellData, run: CalibrationRun) -> CellData:
    """Train on ``run.train``; the evaluation data are the held-out positions of the training subset."""
    train, held = torch.from_numpy(run.train), torch.from_numpy(run.heldout)
    return CellData(
        data.train_images[train], data.train_labels[train], data.train_images[held], data.train_labels[held],
        data.num_classes, data.input_kind,
    )  # fmt: skip


@dataclass
class CellTraining:
    """The members a cell trains, in two phases, and their outcomes once trained.

    Build it before the reported prompt trains: the calibration prompts start from its initial state.
    """

    protocol: CellProtocol
    main: PackMember
    calibration: list[PackMember] = field(default_factory=list)
    main_outcome: TrainOutcome | None = None
    calibration_outcomes: list[TrainOutcome] = field(default_factory=list)
    _initial: list[dict[str, dict]] = field(default_factory=list, repr=False)

    @classmethod
    def build(cls, protocol: CellProtocol, main: PackMember, checkpoint_dir: Path | None) -> CellTraining:
        members = []
        for run in protocol.runs:
            folder = Path(checkpoint_dir) / f"{STORE_PREFIX}{run.name}" if checkpoint_dir else None
            store = CheckpointStore(folder) if folder else None
            members.append(
                PackMember(_clone(main.model), _subset(main.data, run), main.settings, store,
                           f"{main.label} [calibration {run.name}]")
            )  # fmt: skip
        training = cls(protocol, main, members)
        training._initial = [_state(m.model) for m in training.members()]
        return training

    def members(self) -> list[PackMember]:
        return [self.main, *self.calibration]

    def reset(self) -> None:
        """Back to the initial prompts (before a retry; the checkpoints then restore what was trained)."""
        for member, initial in zip(self.members(), self._initial, strict=True):
            for name, part in kept_parts(member.model).items():
                part.load_state_dict(initial[name])

    def first(self) -> list[PackMember]:
        """Members whose selection does not depend on another: the one that chooses the epoch, or all."""
        if self.protocol.selection == "test":
            return [replace(self.main, selection=Selection("best"))]
        if self.protocol.selection == "val":
            return [replace(self.calibration[0], selection=Selection("best"))]
        return [replace(m, selection=Selection()) for m in self.members()]

    def second(self, first: list[TrainOutcome]) -> list[PackMember]:
        """Members that report the epoch the first phase chose."""
        if self.protocol.selection == "test":
            epoch = first[0].selected_epoch
            return [replace(m, selection=Selection("at", epoch)) for m in self.calibration]
        if self.protocol.selection == "val":
            return [replace(self.main, selection=Selection("at", first[0].selected_epoch))]
        return []

    def take(self, first: list[TrainOutcome], second: list[TrainOutcome]) -> None:
        """Sort both phases' outcomes into the reported prompt's and the calibration prompts'."""
        ordered = [*first, *second]
        if self.protocol.selection == "val":
            ordered = [*second, *first]
        self.main_outcome, self.calibration_outcomes = ordered[0], ordered[1:]

    # ------------------------------------------------------------------------------------- results

    def temperature_fit(self) -> rule.TemperatureFit:
        """T from the calibration prompts' held-out logits, or NaN with the reason."""
        protocol = self.protocol
        if protocol.temperature == "off":
            return rule.TemperatureFit.not_estimable(
                "calibration.temperature is off: no calibration prompt was trained", strategy="off"
            )
        if protocol.plan.strategy == "not_estimable":
            return rule.TemperatureFit.not_estimable(protocol.plan.reason)
        logits = [o.test_logits.double().numpy() for o in self.calibration_outcomes]
        labels = [m.data.test_labels.numpy() for m in self.calibration]
        runs = protocol.runs
        if protocol.plan.strategy == "held_out":
            return rule.fit_held_out_temperature(
                logits[0], labels[0], prompt_train_indices=runs[0].train, calibration_indices=runs[0].heldout
            )
        return rule.fit_cross_fit_temperature(
            logits, labels, fold_train_indices=[r.train for r in runs],
            fold_heldout_indices=[r.heldout for r in runs],
        )  # fmt: skip

    def columns(self, test_logits: torch.Tensor, test_labels: torch.Tensor) -> dict[str, Any]:
        """The cell's temperature, selection and calibration-cost columns (docs/SCHEMA.md)."""
        fit = self.temperature_fit()
        row = rule.temperature_scaled_metrics(test_logits.double().numpy(), test_labels.numpy(), fit)
        row["selection"] = self.protocol.selection
        row["selection_reason"] = self.protocol.selection_reason
        row["selected_epoch"] = int(self.main_outcome.selected_epoch)
        row["calibration_prompts"] = len(self.calibration)
        row["wall_calibration_s"] = float(sum(sum(o.timings.values()) for o in self.calibration_outcomes))
        return row

    def epoch_rows(self) -> list[dict[str, Any]]:
        """The reported prompt's history, with ``val_accuracy`` where a held-out prompt chose the epoch."""
        val = [math.nan] * len(self.main_outcome.history)
        if self.protocol.selection == "val":
            for row in self.calibration_outcomes[0].history:
                if row["epoch"] < len(val):
                    val[row["epoch"]] = row["eval_accuracy"]
        return [{**row, "val_accuracy": v} for row, v in zip(self.main_outcome.history, val, strict=True)]

    def record(self) -> dict[str, Any]:
        """Provenance for ``cell.json``: the rule's decision and every calibration prompt."""
        protocol = self.protocol
        return {
            "temperature": protocol.temperature,
            "strategy": protocol.plan.strategy,
            "reason": protocol.plan.reason,
            "min_per_class": protocol.plan.min_per_class,
            "selection": {"requested": protocol.requested, "effective": protocol.selection,
                          "reason": protocol.selection_reason,
                          "selected_epoch": int(self.main_outcome.selected_epoch)},
            "prompts": [
                {"name": run.name, "train_size": int(run.train.size), "heldout_size": int(run.heldout.size),
                 "heldout_sha256": hashlib.sha256(run.heldout.astype(np.int64).tobytes()).hexdigest(),
                 "selected_epoch": int(outcome.selected_epoch)}
                for run, outcome in zip(protocol.runs, self.calibration_outcomes, strict=True)
            ],
        }  # fmt: skip


def _state(model: VisualPromptModel) -> dict[str, dict]:
    """Copies of what training changes: prompt, head and a trained source model (:func:`kept_parts`)."""
    return {name: {k: v.detach().clone() for k, v in part.state_dict().items()}
            for name, part in kept_parts(model).items()}  # fmt: skip


def clear_checkpoints(checkpoint_dir: Path) -> None:
    """Remove the calibration prompts' checkpoints, then the reported prompt's (and the folder)."""
    directory = Path(checkpoint_dir)
    for folder in sorted(directory.glob(f"{STORE_PREFIX}*")):
        CheckpointStore(folder).clear()
    CheckpointStore(directory).clear()
