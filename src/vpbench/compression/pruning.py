"""Unstructured magnitude pruning, N:M semi-structured pruning and the GMP sparsity schedule.

Everything goes through ``torch.nn.utils.prune`` and ends with ``prune.remove``, so a pruned model is a plain
model whose zeros live in its ``weight`` tensors (same state-dict keys as the dense one).

Prunable weights are the ``weight`` tensors of every ``nn.Conv2d`` and ``nn.Linear`` (subclasses included).
The paper's sparsity level "S" is instead the % of weights *remaining* over Conv2d layers excluding the first
conv (docs/sources/models.md); :func:`paper_scope` gives that selection as an ``include`` filter.
One-shot pruning here has no ImageNet recovery fine-tuning: it is a different model from a GMP-trained one.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import torch
from torch import nn
from torch.nn.utils import prune

from vpbench.errors import ConfigError

log = logging.getLogger(__name__)

LayerFilter = Callable[[str, nn.Module], bool]
PRUNABLE_TYPES: tuple[type[nn.Module], ...] = (nn.Conv2d, nn.Linear)
SCOPES = ("global", "layerwise")


def prunable_layers(model: nn.Module, include: LayerFilter | None = None) -> list[tuple[str, nn.Module]]:
    """``(name, module)`` of every Conv2d/Linear whose weight counts as prunable, in registration order."""
    return [
        (name, module)
        for name, module in model.named_modules()
        if isinstance(module, PRUNABLE_TYPES)
        and isinstance(getattr(module, "weight", None), torch.Tensor)
        and (include is None or include(name, module))
    ]


def first_conv_name(model: nn.Module) -> str | None:
    """Name of the first Conv2d in registration order (the stem: ``conv1``, ``features.0.0``, ...)."""
    return next((name for name, module in model.named_modules() if isinstance(module, nn.Conv2d)), None)


def paper_scope(model: nn.Module) -> LayerFilter:
    """``include`` filter for the paper's definition: Conv2d layers except the first conv (no Linear)."""
    first = first_conv_name(model)
    return lambda name, module: isinstance(module, nn.Conv2d) and name != first


def conv_linear_scope(model: nn.Module) -> LayerFilter | None:
    """``include`` filter for the default selection (every Conv2d and Linear weight): no filter at all."""
    del model
    return None


PRUNABLE_SCOPES: dict[str, Callable[[nn.Module], LayerFilter | None]] = {
    "conv_linear": conv_linear_scope,
    "conv_except_first": paper_scope,
}


def measure_sparsity(model: nn.Module, scope: str = "conv_linear") -> float:
    """Fraction of exact zeros among the prunable weights of ``scope`` (a key of :data:`PRUNABLE_SCOPES`)."""
    layers = prunable_layers(model, PRUNABLE_SCOPES[scope](model))
    with torch.no_grad():
        total = sum(module.weight.numel() for _, module in layers)
        zeros = sum(int((module.weight == 0).sum()) for _, module in layers)
    return zeros / total if total else 0.0


def smallest_magnitude_mask(weights: torch.Tensor, amount: float) -> torch.Tensor:
    """Boolean keep-mask zeroing the ``round(amount × n)`` smallest-|w| entries (``prune.L1Unstructured``'s).

    A ``kthvalue`` threshold instead of ``L1Unstructured``'s ``topk``: several times faster on CPU over
    millions of weights; ties at the threshold are broken by position, so the count is exact.
    """
    magnitudes = weights.detach().abs().flatten()
    count = round(amount * magnitudes.numel())
    if not count:
        return torch.ones_like(weights, dtype=torch.bool)
    threshold = magnitudes.kthvalue(count).values
    keep = magnitudes > threshold
    tied = (magnitudes == threshold).nonzero().flatten()
    pruned_ties = count - int((magnitudes < threshold).sum())
    keep[tied[pruned_ties:]] = True
    return keep.view_as(weights)


def magnitude_prune(
    model: nn.Module, sparsity: float, scope: str = "global", include: LayerFilter | None = None
) -> nn.Module:
    """Zero the ``sparsity`` fraction of smallest-|w| prunable weights, in place; returns ``model``.

    ``global`` ranks all selected weights together (as ``prune.global_unstructured``); ``layerwise`` prunes
    each layer to ``sparsity`` on its own (as ``prune.l1_unstructured``). Masks are applied with
    ``prune.custom_from_mask`` and made permanent. The measured zero fraction over the selected weights is
    ``sparsity`` up to rounding (one weight per layer at most).
    """
    if not 0.0 <= sparsity < 1.0:
        raise ConfigError(f"sparsity must be in [0, 1), got {sparsity!r}")
    if scope not in SCOPES:
        raise ConfigError(f"scope {scope!r} is not allowed; allowed values: {', '.join(SCOPES)}")
    layers = prunable_layers(model, include)
    if not layers:
        raise ConfigError("no prunable Conv2d/Linear weights matched the layer selection")
    with torch.no_grad():
        if scope == "global":
            flat = torch.cat([module.weight.detach().flatten() for _, module in layers])
            keep = smallest_magnitude_mask(flat, sparsity).split([m.weight.numel() for _, m in layers])
            masks = [part.view_as(module.weight) for part, (_, module) in zip(keep, layers, strict=True)]
        else:
            masks = [smallest_magnitude_mask(module.weight, sparsity) for _, module in layers]
        for (_, module), mask in zip(layers, masks, strict=True):
            prune.custom_from_mask(module, "weight", mask=mask)
        for _, module in layers:
            prune.remove(module, "weight")
    return model


def _grouped_weight(module: nn.Module, m: int) -> torch.Tensor | None:
    """The weight as (out, in_flat / m, m) groups along the input dimension, or None if in_flat % m != 0."""
    weight = module.weight
    flat = weight.reshape(weight.shape[0], -1)
    if flat.shape[1] % m:
        return None
    return flat.reshape(flat.shape[0], flat.shape[1] // m, m)


def n_m_mask(weight_groups: torch.Tensor, n: int) -> torch.Tensor:
    """Keep the ``n`` largest-|w| entries of each group (last dim); ties broken by ``topk`` order."""
    keep = weight_groups.abs().topk(n, dim=-1).indices
    mask = torch.zeros_like(weight_groups, dtype=torch.bool)
    mask.scatter_(-1, keep, True)
    return mask


def semi_structured_prune(
    model: nn.Module, n: int = 2, m: int = 4, include: LayerFilter | None = None
) -> tuple[nn.Module, list[str]]:
    """N:M pruning in place: in every group of ``m`` consecutive input weights keep the ``n`` largest.

    Groups run along the flattened input dimension (Linear: ``in_features``; Conv2d: ``in/groups × kh × kw``
    per output channel), the layout NVIDIA's 2:4 kernels use. Layers whose input dimension is not divisible
    by ``m`` (e.g. 3×3 depthwise convs, 9 inputs) are left dense; returns ``(model, skipped layer names)``.
    """
    if not (isinstance(n, int) and isinstance(m, int) and 0 < n < m):
        raise ConfigError(f"N:M pruning needs integers 0 < n < m, got n={n!r}, m={m!r}")
    skipped: list[str] = []
    with torch.no_grad():
        for name, module in prunable_layers(model, include):
            groups = _grouped_weight(module, m)
            if groups is None:
                skipped.append(name)
                continue
            mask = n_m_mask(groups, n).reshape(module.weight.shape)
            prune.custom_from_mask(module, "weight", mask=mask)
            prune.remove(module, "weight")
    if skipped:
        log.warning("%d:%d pruning left %d layer(s) dense (input dim not divisible by %d): %s",
                    n, m, len(skipped), m, ", ".join(skipped))  # fmt: skip
    return model, skipped


def follows_n_m_pattern(weight: torch.Tensor, n: int, m: int) -> bool:
    """True if every group of ``m`` consecutive input weights has at most ``n`` non-zeros."""
    flat = weight.reshape(weight.shape[0], -1)
    if flat.shape[1] % m:
        return False
    groups = flat.reshape(flat.shape[0], -1, m)
    return bool(((groups != 0).sum(-1) <= n).all())


def gmp_cubic_schedule(step: int, total: int, s_initial: float, s_final: float) -> float:
    """Gradual magnitude pruning target at ``step`` (Zhu & Gupta 2017): s_f + (s_i − s_f)(1 − t/T)³.

    ``t`` is clamped to [0, T]. GMP applies this target every few steps *while training*; the benchmark's
    one-shot pruning (no ImageNet recovery) is a different model and its card says ``recovery_finetuned``.
    """
    if total <= 0:
        raise ConfigError(f"GMP schedule needs total > 0 steps, got {total!r}")
    for key, value in (("s_initial", s_initial), ("s_final", s_final)):
        if not 0.0 <= value < 1.0:
            raise ConfigError(f"{key} must be in [0, 1), got {value!r}")
    progress = min(max(step, 0), total) / total
    return s_final + (s_initial - s_final) * (1.0 - progress) ** 3
