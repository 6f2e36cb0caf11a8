"""BLM and BLM+ (Cai et al., NeurIPS 2024): a probabilistic many-to-many label map ω re-estimated each epoch.

ω ∈ R^{S×C} comes from the joint distribution of the frozen model's predicted source labels and the true
target labels on the training subset, under the current prompt:

- BLM counts (argmax source, label) pairs: J[s, t] = #{i : argmax z_i = s, y_i = t};
- BLM+ sums top-k source probabilities instead: J[s, t] = Σ_{i : y_i = t} p_i[s] · 1[s ∈ top-k(p_i)],
  with p_i = softmax(z_i) over the S sources and k = int(0.15 · C) in the authors' configuration.

Then ω[s, t] = J[s, t] / (Σ_t' J[s, t'] + λ) (an estimate of P(y_t | y_s) with Laplace smoothing λ added
to each source's total only), and each column is rescaled to sum to 1 over the sources. The mapped output
is ``source_logits @ ω``: every target logit is a convex combination of the S source *logits* (the
authors multiply logits, not probabilities, and train with cross-entropy on the result).

Calibration: the mapped outputs are logits in the same sense as an index map's, so softmax over the C
mapped outputs is exactly the predictive distribution the authors train and predict with; apply the
benchmark's metrics to it unchanged. They are not probabilities (columns of ω sum to 1, rows do not),
and averaging many source logits narrows their spread, so BLM heads tend to be less confident than a
one-to-one map on the same prompt; that is part of the method, not an artefact (docs/methods/blm.md).

Deliberate deviations from ``tmlr-group/BayesianLM`` (each only where the published code crashes or
returns NaN): the joint has a fixed width C (the authors size it by the number of distinct labels seen),
0/0 is defined (a source with no mass gets a zero row; a target absent from the subset gets a uniform
column), and the top-k size is at least 1 (int(0.15·C) is 0 for C ≤ 6, which makes ω all-NaN).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch
from torch import nn
from torch.nn import functional as F  # noqa: N812

from vpbench.engine import label_mapping
from vpbench.errors import ConfigError

if TYPE_CHECKING:
    from vpbench.engine.training_state import CellRun
    from vpbench.engine.vp_model import VisualPromptModel

VARIANTS = ("blm", "blm+")


@dataclass(frozen=True)
class BLMDefaults:
    """Published BLM/BLM+ recipe for image classifiers (``cfg.py::config_vm``, ``train_vm.py``)."""

    lap: float = 1.0  # λ, the same for BLM and BLM+ in the run configuration
    topk_ratio: float = 0.15  # BLM+: k = int(topk_ratio · C)
    remap_interval: int = 1  # ω is recomputed before every epoch (epoch 0 included)
    prompt: str = "padding"  # ILM-VP's padding prompt, δ = 0 init, sigmoid, 224-px canvas
    network: str = "resnet18 (torchvision IMAGENET1K_V1)"
    optimizer: str = "adam"
    lr: float = 0.01
    weight_decay: float = 0.0
    epochs: int = 200
    batch_size: int = 256  # 64 for DTD and OxfordPets
    batch_size_dtd_pets: int = 64
    schedule: str = "multistep"
    milestones: tuple[float, ...] = (0.5, 0.72)
    gamma: float = 0.1
    amp: str = "fp16 autocast + GradScaler for training; fp32 for the ω pass and evaluation"


@dataclass(frozen=True)
class BLMCLIPDefaults:
    """Published BLM/BLM+ recipe for CLIP (``cfg.py::config_vlm``, ``train_vlm.py``)."""

    lap: float = 1.0
    topk_ratio: float = 0.15
    optimizer: str = "sgd"
    lr: float = 40.0
    momentum: float = 0.9
    epochs: int = 200
    schedule: str = "cosine"  # CosineAnnealingLR(T_max = epochs × iterations), stepped per iteration


BLM_DEFAULTS = BLMDefaults()
BLM_CLIP_DEFAULTS = BLMCLIPDefaults()


def topk_for(num_targets: int, ratio: float = BLM_DEFAULTS.topk_ratio, minimum: int = 1) -> int:
    """BLM+'s k = int(ratio · C) as published, raised to ``minimum`` (the published value is 0 for C ≤ 6)."""
    if num_targets < 1:
        raise ConfigError(f"num_targets must be ≥ 1, got {num_targets}")
    return max(int(num_targets * ratio), minimum)


def _check_pairs(source_logits: torch.Tensor, labels: torch.Tensor, num_targets: int) -> torch.Tensor:
    if source_logits.dim() != 2:
        raise ValueError(f"expected source logits [B, S], got {tuple(source_logits.shape)}")
    target = labels.detach().to("cpu", torch.long).reshape(-1)
    if target.numel() != source_logits.shape[0]:
        raise ValueError(f"{source_logits.shape[0]} rows of logits but {target.numel()} labels")
    if target.numel() and (int(target.min()) < 0 or int(target.max()) >= num_targets):
        raise ValueError(f"labels must lie in [0, {num_targets}); got {target.min()}..{target.max()}")
    return target


def argmax_joint(source_logits: torch.Tensor, labels: torch.Tensor, num_targets: int) -> torch.Tensor:
    """BLM's joint: float64 [S, C] counts of (first argmax source, target label)."""
    _check_pairs(source_logits, labels, num_targets)
    pred = label_mapping.first_argmax(source_logits.detach().float())
    counts = label_mapping.count_predictions(pred, labels, source_logits.shape[1], num_targets)
    return counts.to(torch.float64)


def topk_probability_joint(
    source_logits: torch.Tensor, labels: torch.Tensor, num_targets: int, k: int
) -> torch.Tensor:
    """BLM+'s joint: float64 [S, C] sums of each sample's top-k softmax probabilities, by label.

    The softmax is taken in float32 over all S sources (as published); only the k largest probabilities
    of each sample are kept (the rest are zero) and added to that sample's label column.
    """
    target = _check_pairs(source_logits, labels, num_targets)
    num_sources = source_logits.shape[1]
    if not 1 <= k <= num_sources:
        raise ConfigError(f"top-k must lie in 1..{num_sources}, got {k}")
    probs = F.softmax(source_logits.detach().float(), dim=1)
    values, indices = torch.topk(probs, k, dim=1)
    kept = torch.zeros_like(probs).scatter_(1, indices, values)
    joint = torch.zeros(num_targets, num_sources, dtype=torch.float64)
    joint.index_add_(0, target, kept.to("cpu", torch.float64))
    return joint.t().contiguous()


def reweight_matrix(joint: torch.Tensor, lap: float = BLM_DEFAULTS.lap) -> torch.Tensor:
    """ω from a [S, C] joint: divide each row by its total + λ, then rescale each column to sum to 1.

    Where the published arithmetic gives 0/0 this returns a zero row (a source with no mass and λ = 0)
    or a uniform column 1/S (a target with no samples); elsewhere it is the published formula.
    """
    if joint.dim() != 2:
        raise ValueError(f"joint must be a [S, C] matrix, got shape {tuple(joint.shape)}")
    if lap < 0:
        raise ConfigError(f"Laplace smoothing λ must be ≥ 0, got {lap}")
    joint = joint.to(torch.float64)
    if torch.isnan(joint).any() or (joint < 0).any():
        raise ValueError("the joint must be non-negative and free of NaN")
    row_total = joint.sum(dim=1, keepdim=True) + lap
    conditional = torch.where(row_total > 0, joint / row_total.clamp_min(1e-300), 0.0)
    column_total = conditional.sum(dim=0, keepdim=True)
    uniform = torch.full_like(conditional, 1.0 / joint.shape[0])
    return torch.where(column_total > 0, conditional / column_total.clamp_min(1e-300), uniform)


def blm_omega(
    source_logits: torch.Tensor, labels: torch.Tensor, num_targets: int, lap: float = BLM_DEFAULTS.lap
) -> torch.Tensor:
    """BLM's ω [S, C] (float64) from all training-subset source logits and labels at once."""
    return reweight_matrix(argmax_joint(source_logits, labels, num_targets), lap)


def blm_plus_omega(
    source_logits: torch.Tensor,
    labels: torch.Tensor,
    num_targets: int,
    k: int | None = None,
    lap: float = BLM_DEFAULTS.lap,
) -> torch.Tensor:
    """BLM+'s ω [S, C] (float64); ``k`` defaults to :func:`topk_for` of C."""
    k = topk_for(num_targets) if k is None else k
    return reweight_matrix(topk_probability_joint(source_logits, labels, num_targets, k), lap)


def map_outputs(source_logits: torch.Tensor, omega: torch.Tensor) -> torch.Tensor:
    """Target logits [B, C] = source logits [B, S] @ ω, in float32 even under autocast."""
    with torch.autocast(device_type=source_logits.device.type, enabled=False):
        return source_logits.float() @ omega.to(source_logits.device, torch.float32)


class BayesianStatistics:
    """Accumulates BLM's or BLM+'s [S, C] joint batch by batch, so no N×S logits are kept."""

    def __init__(
        self, num_sources: int, num_targets: int, variant: str = "blm", k: int | None = None
    ) -> None:
        if variant not in VARIANTS:
            raise ConfigError(f"unknown BLM variant {variant!r}; allowed: {', '.join(VARIANTS)}")
        self.num_sources, self.num_targets, self.variant = num_sources, num_targets, variant
        self.k = topk_for(num_targets) if k is None else k
        self._joint = torch.zeros(num_sources, num_targets, dtype=torch.float64)
        self.num_samples = 0

    def update(self, source_logits: torch.Tensor, labels: torch.Tensor) -> None:
        """Add one batch of [B, S] source logits and [B] labels."""
        if source_logits.dim() != 2 or source_logits.shape[1] != self.num_sources:
            raise ValueError(
                f"expected source logits [B, {self.num_sources}], got {tuple(source_logits.shape)}"
            )
        logits = source_logits.detach().float().cpu()
        if self.variant == "blm":
            self._joint += argmax_joint(logits, labels, self.num_targets)
        else:
            self._joint += topk_probability_joint(logits, labels, self.num_targets, self.k)
        self.num_samples += int(logits.shape[0])

    @property
    def statistics(self) -> torch.Tensor:
        """A copy of the float64 [S, C] joint accumulated so far."""
        return self._joint.clone()


class BayesianMapping(nn.Module):
    """BLM / BLM+ head: target logits = source logits @ ω, ω re-estimated before every epoch.

    Not trained by gradient (``trainable = False``); ω is a buffer, so it is checkpointed with the head.
    Before the first re-estimation ω is uniform (1/S), i.e. every target gets the mean source logit.
    """

    trainable = False

    def __init__(
        self,
        num_sources: int,
        num_targets: int,
        *,
        variant: str = "blm",
        lap: float = BLM_DEFAULTS.lap,
        topk: int | None = None,
        topk_ratio: float = BLM_DEFAULTS.topk_ratio,
        interval: int = BLM_DEFAULTS.remap_interval,
    ) -> None:
        super().__init__()
        if variant not in VARIANTS:
            raise ConfigError(f"unknown BLM variant {variant!r}; allowed: {', '.join(VARIANTS)}")
        if interval < 1:
            raise ConfigError(f"remap interval must be ≥ 1, got {interval}")
        if lap < 0:
            raise ConfigError(f"Laplace smoothing λ must be ≥ 0, got {lap}")
        self.num_sources, self.num_targets = num_sources, num_targets
        self.variant, self.lap, self.interval = variant, float(lap), interval
        self.topk = topk_for(num_targets, topk_ratio) if topk is None else int(topk)
        if not 1 <= self.topk <= num_sources:
            raise ConfigError(f"top-k must lie in 1..{num_sources}, got {self.topk}")
        self.register_buffer("omega", torch.full((num_sources, num_targets), 1.0 / num_sources))
        self.register_buffer("fitted", torch.tensor(False))

    def needs_remap(self, epoch: int) -> bool:
        """ω is re-estimated at the start of every ``interval``-th epoch (published: every epoch)."""
        return epoch % self.interval == 0

    def make_statistics(self) -> BayesianStatistics:
        """A fresh accumulator of the joint this head's variant needs."""
        return BayesianStatistics(self.num_sources, self.num_targets, self.variant, self.topk)

    def remap_from_statistics(self, joint: torch.Tensor) -> int:
        """Replace ω by the one estimated from a [S, C] joint; return how many targets' top source changed."""
        if tuple(joint.shape) != (self.num_sources, self.num_targets):
            expected = (self.num_sources, self.num_targets)
            raise ValueError(f"joint must have shape {expected}, got {tuple(joint.shape)}")
        before = self.first_sources().clone()
        self.omega.copy_(reweight_matrix(joint.detach().cpu(), self.lap).to(self.omega))
        changed = int((before != self.first_sources()).sum()) if bool(self.fitted) else 0
        self.fitted.fill_(True)
        return changed

    def remap_from_counts(self, counts: torch.Tensor) -> int:
        """BLM only: the (argmax, label) count matrix of the existing ILM pass is BLM's joint."""
        if self.variant != "blm":
            raise ConfigError(
                "BLM+ needs top-k probability sums, not argmax counts: run its statistics pass "
                "(vpbench.engine.blm.remap_bayesian) instead of the frequency pass"
            )
        return self.remap_from_statistics(counts.to(torch.float64))

    def remap_pass(self, run: CellRun) -> int:
        """The loop's re-estimation hook: BLM's and BLM+'s own statistics pass (:func:`remap_bayesian`)."""
        return remap_bayesian(run)

    def first_sources(self) -> torch.Tensor:
        """The source with the largest weight for each target (first on ties), for reports."""
        return label_mapping.first_argmax(self.omega.t())

    def forward(self, source_logits: torch.Tensor) -> torch.Tensor:
        """Target logits [B, C] from source logits [B, S]."""
        return map_outputs(source_logits, self.omega)


@torch.inference_mode()
def collect_statistics(
    model: VisualPromptModel,
    images: torch.Tensor,
    labels: torch.Tensor,
    batch_size: int,
    device: torch.device,
    statistics: BayesianStatistics,
    kind: str = "image",
) -> torch.Tensor:
    """One pass over the training subset under the current prompt into ``statistics``; returns its joint."""
    for index in torch.split(torch.arange(len(images)), batch_size):
        batch = images[index].to(device, non_blocking=True)
        inputs = batch if kind == "tokens" else batch.float().div_(255.0)
        statistics.update(model.source_logits(inputs).float().cpu(), labels[index])
    return statistics.statistics


def remap_bayesian(run: CellRun) -> int:
    """Drop-in for the training loop's ``_remap`` when the head is a :class:`BayesianMapping`."""
    head, data = run.model.head, run.data
    joint = collect_statistics(
        run.model,
        data.train_images,
        data.train_labels,
        run.settings.eval_batch_size,
        run.train_inputs.device,
        head.make_statistics(),
        data.input_kind,
    )
    return head.remap_from_statistics(joint)  # CellRun.begin_epoch books the time under "mapping"
