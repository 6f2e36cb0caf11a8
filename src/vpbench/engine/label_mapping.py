"""Label mappings from source logits to target classes (docs/methods/label_mapping.md, docs/methods/cmr.md).

Pure functions: RLM permutations, the FLM/ILM/FreqMap count matrix and greedy assignment, Neekhara's
round-robin map, gathering mapped logits, and AutoVP's trainable FullyMap layer.
A mapping is a LongTensor π of shape [C] (one source per target) or [C, m] (m sources per target).
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from vpbench.errors import ConfigError, NumericalError

REDUCTIONS = ("mean", "max")


def _check_sizes(num_sources: int, num_targets: int, per_target: int) -> None:
    """Reject sizes for which a one-to-one (each source used at most once) mapping cannot exist."""
    if num_sources < 1 or num_targets < 1:
        raise ConfigError(f"num_sources={num_sources} and num_targets={num_targets} must both be ≥ 1")
    if per_target < 1 or num_targets * per_target > num_sources:
        raise ConfigError(
            f"per_target={per_target} with {num_targets} target classes needs {num_targets * per_target} "
            f"distinct sources but only {num_sources} exist; "
            f"allowed per_target: 1..{num_sources // num_targets}"
        )


def _shape_mapping(flat: torch.Tensor, num_targets: int, per_target: int) -> torch.Tensor:
    """[C·m] in target-major chunks → [C] for m = 1, else [C, m]."""
    flat = flat.to(torch.long)
    return flat.clone() if per_target == 1 else flat.reshape(num_targets, per_target).clone()


def random_mapping(num_sources: int, num_targets: int, seed: int, per_target: int = 1) -> torch.Tensor:
    """RLM / AutoVP random map: the first C·m entries of a seeded permutation of the S sources.

    A dedicated CPU generator makes π independent of model construction, so dense and compressed models
    of one seed share it. For m > 1 consecutive chunks of m go to one target (docs/methods/label_mapping.md).
    """
    _check_sizes(num_sources, num_targets, per_target)
    generator = torch.Generator().manual_seed(int(seed))
    perm = torch.randperm(num_sources, generator=generator)
    return _shape_mapping(perm[: num_targets * per_target], num_targets, per_target)


def first_argmax(logits: torch.Tensor) -> torch.Tensor:
    """Row-wise argmax that returns the first maximal index on ties, on any device.

    torch documents first-max for ``argmax``; this makes the rule explicit (min index among the maxima)
    so the FLM count never depends on a backend's reduction order. NaN rows raise NumericalError.
    """
    if logits.dim() != 2:
        raise ValueError(f"expected logits of shape [B, S], got {tuple(logits.shape)}")
    if torch.isnan(logits).any():
        raise NumericalError("source logits contain NaN; the frequency mapping pass cannot take an argmax")
    is_max = logits == logits.amax(dim=1, keepdim=True)
    index = torch.arange(logits.shape[1], device=logits.device).expand_as(logits)
    return torch.where(is_max, index, logits.shape[1]).amin(dim=1)


def count_predictions(
    source_pred: torch.Tensor, labels: torch.Tensor, num_sources: int, num_targets: int
) -> torch.Tensor:
    """Count matrix D[s, t] = #{i : ŝ_i = s, y_i = t} of shape [S, C] (docs/methods/label_mapping.md step 2).

    The width is always C, so classes absent from the subset give zero columns.
    """
    pred = source_pred.detach().to("cpu", torch.long).reshape(-1)
    target = labels.detach().to("cpu", torch.long).reshape(-1)
    if pred.numel() != target.numel():
        raise ValueError(f"{pred.numel()} source predictions but {target.numel()} labels")
    if pred.numel() and (int(pred.min()) < 0 or int(pred.max()) >= num_sources):
        raise ValueError(f"source predictions must lie in [0, {num_sources}); got {pred.min()}..{pred.max()}")
    if target.numel() and (int(target.min()) < 0 or int(target.max()) >= num_targets):
        raise ValueError(f"labels must lie in [0, {num_targets}); got {target.min()}..{target.max()}")
    flat = torch.bincount(pred * num_targets + target, minlength=num_sources * num_targets)
    return flat.reshape(num_sources, num_targets)


class PredictionCounter:
    """Accumulates the FLM count matrix batch by batch, so no N×S logits are kept
    (docs/methods/label_mapping.md)."""

    def __init__(self, num_sources: int, num_targets: int) -> None:
        self.num_sources, self.num_targets = num_sources, num_targets
        self._counts = torch.zeros(num_sources, num_targets, dtype=torch.long)
        self.num_samples = 0

    def update(self, source_logits: torch.Tensor, labels: torch.Tensor) -> None:
        """Add one batch: ŝ = first argmax of the [B, S] source logits, counted against labels [B]."""
        if source_logits.dim() != 2 or source_logits.shape[1] != self.num_sources:
            raise ValueError(
                f"expected source logits [B, {self.num_sources}], got {tuple(source_logits.shape)}"
            )
        pred = first_argmax(source_logits.detach())
        self._counts += count_predictions(pred, labels, self.num_sources, self.num_targets)
        self.num_samples += int(pred.numel())

    @property
    def counts(self) -> torch.Tensor:
        """A copy of the [S, C] int64 count matrix accumulated so far."""
        return self._counts.clone()


def greedy_assignment(counts: torch.Tensor, per_target: int = 1) -> torch.Tensor:
    """FLM/ILM (m = 1) and AutoVP FreqMap (m > 1) greedy global-maximum assignment
    (docs/methods/label_mapping.md).

    Repeat C·m times: take the first maximum of D in row-major order (flat k → s = k // C, t = k % C),
    assign s to t, set row s to −1, and set column t to −1 once t holds m sources. Like the published
    code the loop keeps running when the remaining maximum is 0; the first zero in row-major order is
    then (lowest unused source, lowest unfilled target), which is exactly the "no positive count left"
    rule: remaining targets in ascending order take the lowest unused sources. Returns [C] for m = 1,
    else [C, m] with each row's sources in ascending order (the published matrix read column-wise).
    """
    if counts.dim() != 2:
        raise ValueError(f"counts must be a [S, C] matrix, got shape {tuple(counts.shape)}")
    num_sources, num_targets = counts.shape
    _check_sizes(num_sources, num_targets, per_target)
    dtype = np.float64 if counts.is_floating_point() else np.int64
    work = counts.detach().to("cpu").numpy().astype(dtype, copy=True)
    if np.isnan(work).any() or (work < 0).any():
        raise ValueError("counts must be non-negative and not NaN (−1 is the greedy loop's 'used' marker)")
    assigned: list[list[int]] = [[] for _ in range(num_targets)]
    flat = work.reshape(-1)
    for _ in range(num_targets * per_target):
        k = int(np.argmax(flat))  # numpy documents: first occurrence of the maximum
        source, target = divmod(k, num_targets)
        assigned[target].append(source)
        work[source, :] = -1
        if len(assigned[target]) == per_target:
            work[:, target] = -1
    mapping = torch.tensor([sorted(sources) for sources in assigned], dtype=torch.long)
    return mapping.squeeze(1) if per_target == 1 else mapping


def round_robin_mapping(order: torch.Tensor, num_targets: int, per_target: int) -> torch.Tensor:
    """Neekhara's map (docs/methods/cmr.md): class c gets order[c], order[c + C], order[c + 2C], … → [C, m].

    ``order`` is the caller's ascending argsort of the source logits on the reference image.
    """
    order = order.detach().to("cpu", torch.long).reshape(-1)
    _check_sizes(order.numel(), num_targets, per_target)
    used = order[: num_targets * per_target]
    if torch.unique(used).numel() != used.numel():
        raise ValueError("order must not repeat a source index (it should be an argsort of the logits)")
    return used.reshape(per_target, num_targets).t().contiguous()


def apply_mapping(
    source_logits: torch.Tensor, mapping: torch.Tensor, reduction: str = "mean"
) -> torch.Tensor:
    """Mapped logits [B, C] = z[:, π]; for π of shape [C, m] reduce the m logits by mean or max.

    ``max`` uses torch.max values (gradient to one source per target), like Neekhara's code.
    """
    if reduction not in REDUCTIONS:
        raise ConfigError(f"unknown label-mapping reduction {reduction!r}; allowed: {', '.join(REDUCTIONS)}")
    if source_logits.dim() != 2:
        raise ValueError(f"expected source logits [B, S], got {tuple(source_logits.shape)}")
    index = mapping.to(device=source_logits.device, dtype=torch.long)
    if index.dim() == 1:
        return source_logits.index_select(1, index)
    if index.dim() != 2:
        raise ValueError(f"mapping must have shape [C] or [C, m], got {tuple(mapping.shape)}")
    gathered = source_logits[:, index]  # [B, C, m]
    return gathered.mean(dim=-1) if reduction == "mean" else gathered.max(dim=-1).values


def count_changed(old: torch.Tensor | None, new: torch.Tensor) -> int:
    """Number of targets whose source set differs between two mappings; 0 when there is no old map.

    For [C, m] maps the comparison ignores the order of a target's m sources (mean/max do too).
    """
    if old is None:
        return 0
    if old.shape != new.shape:
        raise ValueError(f"mapping shapes differ: {tuple(old.shape)} vs {tuple(new.shape)}")
    old_cpu, new_cpu = old.detach().to("cpu"), new.detach().to("cpu")
    if new_cpu.dim() == 1:
        return int((old_cpu != new_cpu).sum())
    differs = torch.sort(old_cpu, dim=1).values != torch.sort(new_cpu, dim=1).values
    return int(differs.any(dim=1).sum())


class FullyMap(nn.Module):
    """AutoVP FullyMap (docs/methods/label_mapping.md): a trainable Linear(S → C) on the source logits.

    ``identity_init`` sets weight[c, c] = 1 (else 0) and a zero bias, so the initial map passes the
    first C sources through (CLIP: the default template's class embeddings); otherwise PyTorch's default
    init, which draws from the global RNG.
    """

    def __init__(self, num_sources: int, num_targets: int, identity_init: bool = False) -> None:
        super().__init__()
        if identity_init and num_targets > num_sources:
            raise ConfigError(
                f"FullyMap identity_init needs num_targets ≤ num_sources, got {num_targets} > {num_sources}"
            )
        self.linear = nn.Linear(num_sources, num_targets)
        if identity_init:
            with torch.no_grad():
                self.linear.weight.zero_()
                self.linear.weight[:, :num_targets] = torch.eye(num_targets)
                self.linear.bias.zero_()

    def forward(self, source_logits: torch.Tensor) -> torch.Tensor:
        """Target logits [B, C] from source logits [B, S]."""
        return self.linear(source_logits)
