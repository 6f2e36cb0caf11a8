"""Output-mapping heads: the stateful side of label mapping that the training loop holds.

The assignment rules themselves are the pure functions in :mod:`vpbench.engine.label_mapping`; a head only
stores the current map, knows when it must be recomputed (RLM never, FLM once before epoch 0, ILM every
``interval`` epochs) and applies it to source logits.
"""

from __future__ import annotations

import torch
from torch import nn

from vpbench.engine import label_mapping

REMAP_POLICIES = ("never", "once", "every")


class IndexMapping(nn.Module):
    """A one-to-one (or m-to-one) index map π from target classes to source classes.

    ``init`` is ``random`` (RLM: a permutation from a generator seeded by the cell seed, so dense and
    compressed models of one seed share it) or ``identity`` (class c ↦ source c, e.g. CLIP text classes).
    ``remap`` chooses when counts from :meth:`remap_from_counts` replace the map.
    """

    trainable = False

    def __init__(
        self,
        num_sources: int,
        num_targets: int,
        *,
        init: str = "identity",
        remap: str = "never",
        interval: int = 1,
        per_target: int = 1,
        reduction: str = "mean",
        seed: int = 0,
    ) -> None:
        super().__init__()
        if remap not in REMAP_POLICIES:
            raise ValueError(f"unknown remap policy {remap!r}; allowed: {', '.join(REMAP_POLICIES)}")
        if num_targets * per_target > num_sources:
            raise ValueError(f"{num_targets}×{per_target} targets cannot map one-to-one into {num_sources}")
        self.num_sources, self.num_targets = num_sources, num_targets
        self.remap, self.interval, self.per_target, self.reduction = remap, interval, per_target, reduction
        if init == "random":
            mapping = label_mapping.random_mapping(num_sources, num_targets, seed, per_target)
        elif init == "identity":
            mapping = torch.arange(num_targets * per_target).view(num_targets, per_target)
            mapping = mapping.squeeze(1) if per_target == 1 else mapping
        else:
            raise ValueError(f"unknown mapping init {init!r}; allowed: random, identity")
        self.register_buffer("mapping", mapping.long())

    def needs_remap(self, epoch: int) -> bool:
        """Whether a frequency pass must run at the start of ``epoch`` (0-based)."""
        if self.remap == "once":
            return epoch == 0
        if self.remap == "every":
            return epoch % self.interval == 0
        return False

    def remap_from_counts(self, counts: torch.Tensor) -> int:
        """Replace π by the greedy assignment of a S×C count matrix; return how many targets changed."""
        new = label_mapping.greedy_assignment(counts, self.per_target).to(self.mapping.device)
        changed = label_mapping.count_changed(self.mapping, new)
        self.mapping.copy_(new)
        return changed

    def first_sources(self) -> torch.Tensor:
        """The (first) source index of each target, for reports."""
        return self.mapping if self.mapping.dim() == 1 else self.mapping[:, 0]

    def forward(self, source_logits: torch.Tensor) -> torch.Tensor:
        """Mapped logits [B, C] gathered from source logits [B, S]."""
        return label_mapping.apply_mapping(source_logits, self.mapping, self.reduction)


class LinearMapping(nn.Module):
    """AutoVP's FullyMap: a trainable linear layer from source logits to target logits."""

    trainable = True

    def __init__(self, num_sources: int, num_targets: int, *, identity_init: bool = False) -> None:
        super().__init__()
        self.num_sources, self.num_targets = num_sources, num_targets
        self.layer = label_mapping.FullyMap(num_sources, num_targets, identity_init=identity_init)

    def needs_remap(self, epoch: int) -> bool:
        """A learned map is never recomputed from counts."""
        return False

    def first_sources(self) -> torch.Tensor:
        """The source with the largest weight for each target (for reports only)."""
        return self.layer.linear.weight.detach().argmax(dim=1)

    def forward(self, source_logits: torch.Tensor) -> torch.Tensor:
        """Mapped logits [B, C]."""
        return self.layer(source_logits)
