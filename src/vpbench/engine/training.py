"""The one training loop every VP method uses: frozen model, trainable prompt (and map), exact resume.

Per epoch: optional re-mapping pass (FLM/ILM), shuffled mini-batches in a per-(seed, epoch) order,
lr from a stateless schedule, a checkpoint. After the last epoch: one evaluation of the reported epoch's
prompt on the run's evaluation data. Which epoch is reported is the run's :class:`Selection`: the last
(default), the best on the evaluation data (which is then evaluated after every epoch), or a given one;
optional periodic evaluations (``eval_every``) are recorded for curves and never choose an epoch.
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import torch
from torch.nn import functional as F  # noqa: N812

from vpbench.engine import label_mapping
from vpbench.engine.checkpointing import CheckpointStore, PreemptedError, PreemptionGuard
from vpbench.engine.settings import TrainSettings, effective_precision
from vpbench.engine.training_state import (  # noqa: F401  (epoch_order and selection_for are part of the API)
    CellRun,
    Selection,
    epoch_order,
    selection_for,
)
from vpbench.engine.vp_model import CellData, VisualPromptModel, fold_batch_norms  # noqa: F401
from vpbench.errors import NumericalError
from vpbench.runtime.progress import progress_bar

AUTOCAST_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}


@dataclass
class TrainOutcome:
    """What a finished run hands to the writer: ``test_logits`` are the reported epoch's logits on the run's
    evaluation data (``CellData.test_*``), ``selected_epoch`` that epoch (0-based)."""

    history: list[dict[str, Any]]
    test_logits: torch.Tensor
    prompt_history: torch.Tensor | None
    timings: dict[str, float] = field(default_factory=dict)
    precision: str = "fp32"
    selected_epoch: int = -1


def _to_input(batch: torch.Tensor, device: torch.device, kind: str = "image") -> torch.Tensor:
    """uint8 pixels → float in [0,1]; token ids stay int64."""
    batch = batch.to(device, non_blocking=True)
    return batch if kind == "tokens" else batch.float().div_(255.0)


def _batches(count: int, batch_size: int, order: torch.Tensor | None = None) -> Iterator[torch.Tensor]:
    indices = order if order is not None else torch.arange(count)
    yield from torch.split(indices, batch_size)


def _autocast(device: torch.device, precision: str) -> contextlib.AbstractContextManager[Any]:
    """Mixed precision on CUDA only: bf16/fp16 autocast there; on CPU autocast is slower and unused."""
    if device.type == "cuda" and precision in AUTOCAST_DTYPES:
        return torch.autocast("cuda", dtype=AUTOCAST_DTYPES[precision])
    return contextlib.nullcontext()


@torch.inference_mode()
def predict_logits(
    model: VisualPromptModel,
    images: torch.Tensor,
    batch_size: int,
    device: torch.device,
    mapped: bool = True,
    kind: str = "image",
) -> torch.Tensor:
    """Mapped (or source) logits of every input, fp32, batched, on the CPU."""
    outputs = []
    for index in _batches(len(images), batch_size):
        x = _to_input(images[index], device, kind)
        logits = model(x) if mapped else model.source_logits(x)
        outputs.append(logits.float().cpu())
    return torch.cat(outputs) if outputs else torch.empty(0, model.head.num_targets)


@torch.inference_mode()
def frequency_counts(
    model: VisualPromptModel,
    images: torch.Tensor,
    labels: torch.Tensor,
    batch_size: int,
    device: torch.device,
    kind: str = "image",
) -> torch.Tensor:
    """S×C counts of (source argmax, target label) under the current prompt; no N×S logits are kept."""
    counter = label_mapping.PredictionCounter(model.head.num_sources, model.head.num_targets)
    for index in _batches(len(images), batch_size):
        source_logits = model.source_logits(_to_input(images[index], device, kind)).float()
        counter.update(source_logits.cpu(), labels[index])
    return counter.counts


@dataclass
class PackMember:
    """One cell inside a pack: its model (sharing the pack's frozen source model), data and settings."""

    model: VisualPromptModel
    data: CellData
    settings: TrainSettings
    store: CheckpointStore | None = None
    label: str = "cell"
    selection: Selection | None = None  # None: from ``settings.selection`` (:func:`selection_for`)


def train_visual_prompt(
    model: VisualPromptModel,
    data: CellData,
    settings: TrainSettings,
    *,
    device: torch.device,
    store: CheckpointStore | None = None,
    label: str = "cell",
    progress: bool = True,
) -> TrainOutcome:
    """Train one cell's prompt on ``data`` and evaluate once at the end; resumes from ``store``."""
    return train_pack([PackMember(model, data, settings, store, label)], device=device, progress=progress)[0]


def _remap(run: CellRun) -> int:
    """FLM/ILM: count (source argmax, label) pairs under the current prompt and re-assign the map.

    A head with its own re-estimation pass (``remap_pass(run)``, e.g. BLM+) runs that instead.
    """
    remap_pass = getattr(run.model.head, "remap_pass", None)
    if remap_pass is not None:
        return remap_pass(run)
    data, device = run.data, run.train_inputs.device
    counts = frequency_counts(
        run.model, data.train_images, data.train_labels, run.settings.eval_batch_size, device, data.input_kind
    )
    return run.model.head.remap_from_counts(counts.to(device))


def _pack_groups(runs: list[CellRun]) -> list[list[CellRun]]:
    """Cells whose prompted inputs can share one forward pass: same frozen model object and input form."""
    groups: dict[tuple, list[CellRun]] = {}
    for run in runs:
        model = run.model
        key = (id(model.source_model), getattr(model.prompt, "canvas", None), model.channels_last)
        groups.setdefault(key, []).append(run)
    return list(groups.values())


def _packed_step(
    group: list[CellRun], device: torch.device, precision: str, scaler: torch.amp.GradScaler | None
) -> None:
    """One optimiser step for every cell of ``group`` with ONE forward/backward through the frozen model.

    Each cell's loss depends only on its own slice of the batch (the frozen model is in eval mode, so
    samples do not interact), so summing the losses gives every prompt exactly its own gradient.
    """
    indices = [run.next_batch() for run in group]
    with _autocast(device, precision):
        prompted = [
            run.model.prompt(_to_input(run.train_inputs[index], device, run.data.input_kind))
            for run, index in zip(group, indices, strict=True)
        ]
        source = group[0].model.source_forward(torch.cat(prompted))
        chunks = torch.split(source, [len(index) for index in indices])
        losses, logits_list = [], []
        for run, chunk, index in zip(group, chunks, indices, strict=True):
            logits = run.model.head(chunk)
            loss = F.cross_entropy(logits.float(), run.train_labels[index])
            penalty = getattr(run.model.prompt, "penalty", None)
            if penalty is not None:  # e.g. cross-modal reprogramming's L2 on the program
                loss = loss + penalty()
            if not torch.isfinite(loss):
                raise NumericalError(
                    f"{run.label}: non-finite training loss at epoch {run.epoch}, step {run.step}"
                )
            losses.append(loss)
            logits_list.append(logits)
    for run in group:
        run.optimizer.zero_grad(set_to_none=True)
    total = torch.stack(losses).sum()
    if scaler is None:
        total.backward()
        for run in group:
            run.optimizer.step()
    else:  # fp16: scale the loss so small gradients survive, skip steps whose gradients overflowed
        scaler.scale(total).backward()
        for run in group:
            scaler.step(run.optimizer)
        scaler.update()
    for run, loss, logits, index in zip(group, losses, logits_list, indices, strict=True):
        if run.record_step(loss.detach(), logits.detach(), index):
            _finish_epoch(run, device)
            if not run.done:
                run.begin_epoch(_remap)


def _finish_epoch(run: CellRun, device: torch.device) -> None:
    accuracy = math.nan
    if run.wants_periodic_eval():
        tick = time.perf_counter()
        run.model.eval()
        logits = predict_logits(
            run.model, run.data.test_images, run.settings.eval_batch_size, device, kind=run.data.input_kind
        )
        accuracy = float((logits.argmax(1) == run.data.test_labels).float().mean())
        run.timings["eval"] += time.perf_counter() - tick
    run.end_epoch(accuracy)


def fitted_outside_loop(model: VisualPromptModel) -> bool:
    """Whether a method fits its model once outside this loop (``fit_outcome``: the linear probe)."""
    return hasattr(model, "fit_outcome")


def train_pack(
    members: list[PackMember], *, device: torch.device, progress: bool = True
) -> list[TrainOutcome]:
    """Train several cells in lockstep: every step concatenates one batch of each unfinished cell.

    Cells keep their own order, schedule, map, history and checkpoint, so each ends as it would alone
    (up to float rounding of batched kernels); packing only removes per-process and small-batch costs.
    """
    if any(fitted_outside_loop(m.model) for m in members):
        return [
            m.model.fit_outcome(m, device) if fitted_outside_loop(m.model)
            else train_pack([m], device=device, progress=progress)[0]
            for m in members
        ]  # fmt: skip
    runs = [CellRun(m.model, m.data, m.settings, device, m.store, m.label, m.selection) for m in members]
    for run in runs:
        if not run.done:
            run.begin_epoch(_remap)
    total = sum(run.epochs for run in runs)
    label = runs[0].label if len(runs) == 1 else f"pack of {len(runs)} cells"
    bar = progress_bar(total=total, initial=sum(run.epoch for run in runs), desc=label, enabled=progress)
    precision = effective_precision(runs[0].settings, device)
    scaler = torch.amp.GradScaler("cuda") if precision == "fp16" else None
    with PreemptionGuard() as guard:
        while active := [run for run in runs if not run.done]:
            for group in _pack_groups(active):
                tick = time.perf_counter()
                for run in group:
                    run.model.train()
                before = sum(run.epoch for run in group)
                booked = sum(run.timings["mapping"] + run.timings["eval"] for run in group)
                _packed_step(group, device, precision, scaler)
                # epoch ends inside the step may run ILM passes or logged evaluations: booked elsewhere
                booked = sum(run.timings["mapping"] + run.timings["eval"] for run in group) - booked
                share = (time.perf_counter() - tick - booked) / len(group)
                for run in group:
                    run.timings["train"] += share
                bar.update(sum(run.epoch for run in group) - before)
            if guard.requested:
                for run in runs:
                    run.save()
                where = ", ".join(f"{run.label} at epoch {run.epoch} step {run.step}" for run in active)
                raise PreemptedError(f"SIGTERM: checkpoint saved for {where}")
    bar.close()
    return [_evaluate(run, device) for run in runs]


def _evaluate(run: CellRun, device: torch.device) -> TrainOutcome:
    """The single final evaluation of the reported epoch's prompt on the run's evaluation data."""
    tick = time.perf_counter()
    selected_epoch = run.restore_selected()
    run.model.eval()
    kind, batch = run.data.input_kind, run.settings.eval_batch_size
    test_logits = predict_logits(run.model, run.data.test_images, batch, device, kind=kind)
    run.timings["eval"] += time.perf_counter() - tick
    return TrainOutcome(
        history=run.history,
        test_logits=test_logits,
        prompt_history=torch.stack(run.prompts) if run.prompts else None,
        timings=run.timings,
        precision=effective_precision(run.settings, device),
        selected_epoch=selected_epoch,
    )
