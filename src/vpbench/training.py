"""The one training loop every VP method uses: frozen model, trainable prompt (and map), exact resume.

Per epoch: optional re-mapping pass (FLM/ILM), shuffled mini-batches in a per-(seed, epoch) order,
lr from a stateless schedule, a checkpoint. After the last epoch: one evaluation on the full test split;
optional periodic evaluations are recorded for curves but never used to choose an epoch (§9.3).
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn
from torch.nn import functional as F  # noqa: N812

from vpbench import label_mapping
from vpbench.checkpointing import CheckpointStore, PreemptedError, PreemptionGuard
from vpbench.errors import NumericalError
from vpbench.progress import progress_bar
from vpbench.schedules import Schedule


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
    amp: bool = True
    seed: int = 0
    save_prompt_history: bool = False
    max_steps: int | None = None  # total optimiser-step budget (e.g. cross-modal runs); None = all epochs


@dataclass
class CellData:
    """A cell's inputs with int64 labels: uint8 images N×3×H×W (``image``; pixels become [0,1] per batch)
    or int64 token ids N×L (``tokens``, passed through as they are)."""

    train_images: torch.Tensor
    train_labels: torch.Tensor
    test_images: torch.Tensor
    test_labels: torch.Tensor
    num_classes: int
    input_kind: str = "image"


class VisualPromptModel(nn.Module):
    """prompt → frozen source model → output mapping; only the prompt (and a linear map) train."""

    def __init__(
        self, prompt: nn.Module, source_model: nn.Module, head: nn.Module, *, channels_last: bool = False
    ) -> None:
        super().__init__()
        self.prompt, self.source_model, self.head = prompt, source_model, head
        self.source_model.requires_grad_(False)
        self.source_model.eval()
        # NHWC roughly doubles CPU throughput of depthwise-conv nets (MobileNetV2) and helps ResNets on GPU.
        self.channels_last = channels_last
        if channels_last:
            self.source_model.to(memory_format=torch.channels_last)

    def train(self, mode: bool = True) -> VisualPromptModel:
        """Keep the frozen model in eval mode (BN running stats) whatever the caller asks."""
        super().train(mode)
        self.source_model.eval()
        return self

    def trainable_parameters(self) -> list[nn.Parameter]:
        """The prompt's parameters plus the head's, if the head is learned."""
        params = list(self.prompt.parameters())
        if getattr(self.head, "trainable", False):
            params += list(self.head.parameters())
        return params

    def source_logits(self, images: torch.Tensor) -> torch.Tensor:
        """Logits over the S source classes for [0,1] images."""
        prompted = self.prompt(images)
        if self.channels_last:
            prompted = prompted.contiguous(memory_format=torch.channels_last)
        return self.source_model(prompted)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """Mapped logits over the C target classes."""
        return self.head(self.source_logits(images))


@dataclass
class TrainOutcome:
    """What a finished run hands to the writer."""

    history: list[dict[str, Any]]
    test_logits: torch.Tensor
    train_logits: torch.Tensor
    prompt_history: torch.Tensor | None
    timings: dict[str, float] = field(default_factory=dict)
    precision: str = "fp32"


def _to_input(batch: torch.Tensor, device: torch.device, kind: str = "image") -> torch.Tensor:
    """uint8 pixels → float in [0,1]; token ids stay int64."""
    batch = batch.to(device, non_blocking=True)
    return batch if kind == "tokens" else batch.float().div_(255.0)


def _batches(count: int, batch_size: int, order: torch.Tensor | None = None) -> Iterator[torch.Tensor]:
    indices = order if order is not None else torch.arange(count)
    yield from torch.split(indices, batch_size)


def epoch_order(count: int, seed: int, epoch: int) -> torch.Tensor:
    """The shuffled sample order of one epoch: a pure function of (seed, epoch), so resume is exact."""
    generator = torch.Generator().manual_seed(1_000_003 * (seed + 1) + epoch)
    return torch.randperm(count, generator=generator)


def _autocast(device: torch.device, enabled: bool) -> contextlib.AbstractContextManager[Any]:
    # bf16 autocast only on CUDA: on CPUs without bf16 hardware it is 2-3x slower (environment.md §4).
    if enabled and device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16)
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


def _make_optimizer(params: list[nn.Parameter], settings: TrainSettings) -> torch.optim.Optimizer:
    if settings.optimizer == "adam":
        return torch.optim.Adam(params, lr=settings.lr, weight_decay=settings.weight_decay)
    if settings.optimizer == "sgd":
        return torch.optim.SGD(
            params, lr=settings.lr, momentum=settings.momentum, weight_decay=settings.weight_decay
        )
    raise ValueError(f"unknown optimizer {settings.optimizer!r}; allowed: adam, sgd")


def _effective_prompt(model: VisualPromptModel) -> torch.Tensor:
    with torch.no_grad():
        return model.prompt.effective().detach().float().cpu()


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
    """Train ``model``'s prompt on ``data`` and evaluate once at the end; resumes from ``store``."""
    model.to(device)
    train_count = len(data.train_labels)
    steps_per_epoch = math.ceil(train_count / settings.batch_size)
    epochs = settings.epochs
    if settings.max_steps is not None:  # an iteration budget ends training at an epoch boundary or inside one
        epochs = min(epochs, math.ceil(settings.max_steps / steps_per_epoch))
    schedule = Schedule(
        settings.schedule, settings.lr, epochs, steps_per_epoch,
        settings.milestones, settings.gamma, settings.warmup_steps,
    )  # fmt: skip
    optimizer = _make_optimizer(model.trainable_parameters(), settings)
    train_images = data.train_images.to(device)
    train_labels = data.train_labels.to(device)
    timings = {"mapping": 0.0, "train": 0.0, "eval": 0.0}
    history: list[dict[str, Any]] = []
    prompts: list[torch.Tensor] = [_effective_prompt(model)] if settings.save_prompt_history else []
    epoch, step, running = 0, 0, {"loss": 0.0, "correct": 0, "seen": 0, "changes": 0, "lr": settings.lr}
    previous_prompt = _effective_prompt(model)

    state = store.load() if store else None
    if state is not None:
        model.prompt.load_state_dict(state["prompt"])
        model.head.load_state_dict(state["head"])
        optimizer.load_state_dict(state["optimizer"])
        epoch, step, running, history = state["epoch"], state["step"], state["running"], state["history"]
        previous_prompt = state["previous_prompt"]
        if settings.save_prompt_history:
            prompts = list(state["prompt_history"])

    def snapshot() -> dict[str, Any]:
        return {
            "prompt": model.prompt.state_dict(),
            "head": model.head.state_dict(),
            "optimizer": optimizer.state_dict(),
            "epoch": epoch,
            "step": step,
            "running": dict(running),
            "history": list(history),
            "previous_prompt": previous_prompt,
            "prompt_history": torch.stack(prompts) if prompts else torch.empty(0),
        }

    bar = progress_bar(total=epochs, initial=epoch, desc=label, enabled=progress)
    with PreemptionGuard() as guard:
        while epoch < epochs:
            if step == 0:
                tick = time.perf_counter()
                model.eval()
                if model.head.needs_remap(epoch):
                    counts = frequency_counts(
                        model, data.train_images, data.train_labels, settings.eval_batch_size, device,
                        data.input_kind,
                    )  # fmt: skip
                    running["changes"] = model.head.remap_from_counts(counts.to(device))
                running["lr"] = schedule.lr(epoch, 0)
                timings["mapping"] += time.perf_counter() - tick
            tick = time.perf_counter()
            model.train()
            order = epoch_order(train_count, settings.seed, epoch)
            batches = list(_batches(train_count, settings.batch_size, order))
            budget = len(batches)
            if settings.max_steps is not None:
                budget = min(budget, settings.max_steps - epoch * steps_per_epoch)
            while step < budget:
                index = batches[step].to(device)
                for group in optimizer.param_groups:
                    group["lr"] = schedule.lr(epoch, step)
                with _autocast(device, settings.amp):
                    logits = model(_to_input(train_images[index], device, data.input_kind))
                    loss = F.cross_entropy(logits.float(), train_labels[index])
                    penalty = getattr(model.prompt, "penalty", None)
                    if penalty is not None:  # e.g. cross-modal reprogramming's L2 on the program
                        loss = loss + penalty()
                if not torch.isfinite(loss):
                    raise NumericalError(f"{label}: non-finite training loss at epoch {epoch}, step {step}")
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                running["loss"] += loss.item() * len(index)
                running["correct"] += int((logits.argmax(1) == train_labels[index]).sum())
                running["seen"] += len(index)
                step += 1
                if guard.requested:
                    if store:
                        store.save(snapshot())
                    raise PreemptedError(f"{label}: SIGTERM at epoch {epoch}, step {step}; checkpoint saved")
            timings["train"] += time.perf_counter() - tick
            current = _effective_prompt(model)
            row = {
                "epoch": epoch,
                "train_loss": running["loss"] / max(running["seen"], 1),
                "train_accuracy": running["correct"] / max(running["seen"], 1),
                "lr": running["lr"],
                "prompt_l2": float(current.norm()),
                "prompt_step_l2": float((current - previous_prompt).norm()),
                "mapping_changes": int(running["changes"]),
                "eval_accuracy": math.nan,
            }
            if settings.eval_every and (epoch + 1) % settings.eval_every == 0 and epoch + 1 < epochs:
                tick = time.perf_counter()
                model.eval()
                test_logits = predict_logits(
                    model, data.test_images, settings.eval_batch_size, device, kind=data.input_kind
                )
                row["eval_accuracy"] = float((test_logits.argmax(1) == data.test_labels).float().mean())
                timings["eval"] += time.perf_counter() - tick
            history.append(row)
            previous_prompt = current
            if settings.save_prompt_history:
                prompts.append(current)
            epoch, step = epoch + 1, 0
            running = {"loss": 0.0, "correct": 0, "seen": 0, "changes": 0, "lr": running["lr"]}
            if store:
                store.save(snapshot())
            bar.update(1)
            bar.set_postfix(loss=f"{row['train_loss']:.3f}", acc=f"{row['train_accuracy']:.3f}")
    bar.close()

    tick = time.perf_counter()
    model.eval()
    test_logits = predict_logits(
        model, data.test_images, settings.eval_batch_size, device, kind=data.input_kind
    )
    train_logits = predict_logits(
        model, data.train_images, settings.eval_batch_size, device, kind=data.input_kind
    )
    timings["eval"] += time.perf_counter() - tick
    return TrainOutcome(
        history=history,
        test_logits=test_logits,
        train_logits=train_logits,
        prompt_history=torch.stack(prompts) if prompts else None,
        timings=timings,
        precision="bf16-autocast" if settings.amp and device.type == "cuda" else "fp32",
    )
