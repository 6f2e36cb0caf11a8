"""What a cell's training cost, as metrics columns: trainable parameters by part, counted FLOPs, steps.

FLOPs are counted by ``torch.utils.flop_counter.FlopCounterMode`` on one training sample of the trained
cell (matrix multiplications and convolutions, forward and backward; elementwise work is not counted),
with the model in eval mode so nothing it holds changes. A prompt method's backward runs through the
frozen network to its input only; full fine-tuning's also computes every weight gradient. Totals
multiply the per-sample counts by the samples the run processed: optimiser steps, plus one forward per
training sample for every re-mapping pass (ILM, BLM), plus, for the linear probe, the feature
extraction of its subset and its L-BFGS iterations. docs/SCHEMA.md lists the columns.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import torch
from torch.nn import functional as F  # noqa: N812

if TYPE_CHECKING:
    from vpbench.engine.settings import TrainSettings
    from vpbench.engine.training import TrainOutcome
    from vpbench.engine.vp_model import CellData, VisualPromptModel

# Columns a method's ``method_report()`` may fill (NaN for methods that do not).
REPORTED_COLUMNS = ("trained_sparsity", "trained_weight_bits")


def _input(data: CellData, device: torch.device) -> torch.Tensor:
    batch = data.train_images[:1].to(device)
    return batch.float().div_(255.0) if data.input_kind == "image" else batch


def counted_flops(model: VisualPromptModel, data: CellData) -> tuple[float, float]:
    """(inference FLOPs, training forward + backward FLOPs) of one sample, counted on the cell's model."""
    from torch.utils.flop_counter import FlopCounterMode

    device = next((p.device for p in model.parameters()), torch.device("cpu"))
    was_training = model.training
    model.eval()
    inputs, labels = _input(data, device), data.train_labels[:1].to(device)
    try:
        with FlopCounterMode(display=False) as counter, torch.no_grad():
            model(inputs)
        forward = float(counter.get_total_flops())
        with FlopCounterMode(display=False) as counter:
            loss = F.cross_entropy(model(inputs).float(), labels)
            if loss.requires_grad:
                loss.backward()
        train = float(counter.get_total_flops())
    finally:
        for parameter in model.parameters():
            parameter.grad = None
        model.train(was_training)
    return forward, train


def loop_steps(num_samples: int, settings: TrainSettings, epochs_run: int) -> tuple[int, int]:
    """(optimiser steps, samples processed) of a gradient-loop run of ``epochs_run`` epochs."""
    per_epoch = math.ceil(num_samples / settings.batch_size)
    steps = epochs_run * per_epoch
    if settings.max_steps is not None:
        steps = min(steps, settings.max_steps)
    full, rest = divmod(steps, per_epoch)
    return steps, full * num_samples + min(rest * settings.batch_size, num_samples)


def mapping_passes(model: VisualPromptModel, epochs_run: int) -> int:
    """How many epochs began with a re-mapping pass over the training subset (ILM, FLM, BLM)."""
    needs = getattr(model.head, "needs_remap", None)
    return sum(bool(needs(epoch)) for epoch in range(epochs_run)) if needs else 0


def cost_columns(
    model: VisualPromptModel, data: CellData, settings: TrainSettings, outcome: TrainOutcome
) -> tuple[dict[str, Any], dict[str, Any]]:
    """(metrics columns, ``cell.json`` method outputs) of one trained cell."""
    report = dict(model.method_report())
    counts = model.trainable_parameter_count()
    forward, train = counted_flops(model, data)
    num_samples = len(data.train_labels)
    epochs_run = len(outcome.history)
    steps, seen = loop_steps(num_samples, settings, epochs_run)
    steps = int(report.get("train_steps", steps))
    seen = int(report.get("train_samples_seen", seen))
    passes = mapping_passes(model, epochs_run) if "train_steps" not in report else 0
    extraction = float(report.get("feature_flops_per_image", 0.0)) * num_samples
    columns = {
        "trainable_params": counts["total"],
        "trainable_params_prompt": counts["prompt"],
        "trainable_params_head": counts["head"],
        "trainable_params_model": counts["model"],
        "flops_forward_per_sample": forward + float(report.get("feature_flops_per_image", 0.0)),
        "flops_train_per_sample": train,
        "flops_train_per_step": train * settings.batch_size,
        "train_steps": steps,
        "train_samples_seen": seen,
        "mapping_passes": passes,
        "flops_train_total": train * seen + forward * num_samples * passes + extraction,
        **{name: _number(report.get(name)) for name in REPORTED_COLUMNS},
    }
    outputs = {**report, "trainable_params": counts, "flops_counter": "torch.utils.flop_counter"}
    return columns, outputs


def _number(value: Any) -> float:
    return math.nan if value is None else float(value)
