"""Linear probe: logistic regression on a frozen model's penultimate features, cached once per split.

Features. The cached images (uint8, the dataset's input size) are resized to the model's input side L
(bilinear, antialiased, like SMM and LoR-VP), normalised with the model's constants and passed through
the model with its final classifier removed (:func:`vpbench.engine.lor_vp.feature_extractor`), in fp32
and eval mode. One ``.npy`` per (variant, dataset, split), every image of the split in cache order, with a
JSON sidecar naming the variant's and the cache's checksums; cells index it by their N-shot subset.

Fit (the standard recipe: L2-regularised multinomial logistic regression by L-BFGS, as in CLIP's linear
probes). The inverse regularisation strength C is chosen on a held-out part of the cell's training
subset: when every class has ≥ 2 samples, a stratified 20% (at least one sample per class) is held out,
C sweeps :data:`C_GRID` (25 values, 10⁻⁶…10⁶, half-decade steps, warm-started in increasing order), the
C with the best held-out accuracy wins (ties: lower held-out log-loss, then the smaller C), and the
probe is refitted on the whole subset. With one sample of some class (1-shot) nothing can be held out,
and C = 1 (scikit-learn's default) is used. docs/methods/linear_probe.md.
"""

from __future__ import annotations

import math
import time
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F  # noqa: N812

from vpbench.engine.lor_vp import classifier_name, feature_extractor
from vpbench.engine.output_mapping import LinearMapping
from vpbench.engine.vp_model import VisualPromptModel, fold_batch_norms
from vpbench.errors import CacheCorruptError, ConfigError
from vpbench.runtime import atomic_io

if TYPE_CHECKING:
    from vpbench.engine.training import PackMember, TrainOutcome

C_GRID: tuple[float, ...] = tuple(float(10.0 ** (k / 2)) for k in range(-12, 13))
HELD_OUT_FRACTION = 0.2
DEFAULT_C = 1.0
MAX_ITER = 1000
FEATURE_BATCH = 256


class ResizeInput(nn.Module):
    """No prompt: resize [0,1] images to L (bilinear, antialiased) and normalise. ``effective()`` is a zero
    image, so prompt tables and histories keep the same shape as a prompt method's."""

    def __init__(self, size: int, mean: Any, std: Any) -> None:
        super().__init__()
        self.canvas = self.input_size = int(size)
        self.register_buffer("mean", torch.tensor(list(mean), dtype=torch.float32).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(list(std), dtype=torch.float32).view(1, 3, 1, 1))

    def effective(self) -> torch.Tensor:
        """Nothing is added to the input: zeros, 3×L×L."""
        return self.mean.new_zeros(3, self.input_size, self.input_size)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """[B,3,h,w] in [0,1] → the model's normalised input [B,3,L,L]."""
        if images.shape[-2:] != (self.input_size, self.input_size):
            size = (self.input_size, self.input_size)
            images = F.interpolate(images, size=size, mode="bilinear", align_corners=False, antialias=True)
        return (images - self.mean) / self.std


class FeatureInput(ResizeInput):
    """The linear probe's "prompt": its inputs are already features, passed through unchanged."""

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return images


# ------------------------------------------------------------------------------------------ features


@torch.inference_mode()
def extract_features(
    network: nn.Module,
    images: np.ndarray,
    size: int,
    mean: Any,
    std: Any,
    *,
    device: torch.device,
    batch_size: int = FEATURE_BATCH,
) -> tuple[np.ndarray, int, float]:
    """(features float32 N×D, D, FLOPs per image) of uint8 N×3×h×w ``images`` under ``network``."""
    from torch.utils.flop_counter import FlopCounterMode

    backbone, width = feature_extractor(network)
    backbone.eval().requires_grad_(False)
    fold_batch_norms(backbone)  # the same function, faster (vp_model.fold_batch_norms)
    backbone.to(device)
    prepare = ResizeInput(size, mean, std).to(device)
    out = np.empty((len(images), width), dtype=np.float32)
    flops = math.nan
    for start in range(0, len(images), batch_size):
        batch = torch.from_numpy(np.array(images[start : start + batch_size])).to(device)
        inputs = prepare(batch.float().div_(255.0))
        if start == 0:
            with FlopCounterMode(display=False) as counter:
                backbone(inputs[:1])
            flops = float(counter.get_total_flops())
        out[start : start + len(batch)] = backbone(inputs).float().cpu().numpy()
    return out, width, flops


def feature_meta_path(features_path: str | Path) -> Path:
    """The JSON sidecar of a feature file."""
    return Path(features_path).with_suffix(".json")


def build_feature_file(
    *, variant_dir: Path, cache_dir: Path, size: int, out_path: Path, device: torch.device
) -> dict[str, Any]:
    """Extract and write one split's features and their sidecar (checksums of the variant and cache)."""
    from vpbench.compression.variant_store import load_variant_model, variant_sha256
    from vpbench.data import load_cache
    from vpbench.models import get_model_family

    tick = time.perf_counter()
    net, card = load_variant_model(Path(variant_dir))
    family = get_model_family(card["family"])
    split = load_cache(Path(cache_dir), verify=True)
    features, width, flops = extract_features(net, split.images, size, family.mean, family.std, device=device)
    meta = {
        "model_sha256": variant_sha256(card),
        "family": card["family"],
        "cache_sha256": split.manifest.get("sha256"),
        "dataset": split.manifest.get("dataset"),
        "split": split.manifest.get("split"),
        "count": len(features),
        "dim": width,
        "input_size": int(size),
        "resize": "bilinear, antialiased, then the model's normalisation",
        "classifier_removed": classifier_name(net),
        "flops_per_image": flops,
        "seconds": time.perf_counter() - tick,
        "device": str(device),
    }
    atomic_io.save_numpy(out_path, features)
    atomic_io.write_json(feature_meta_path(out_path), meta)
    return meta


def load_features(
    path: str | Path, *, model_sha256: str, cache_manifest: dict[str, Any], size: int
) -> tuple[np.ndarray, dict[str, Any]]:
    """A feature file and its sidecar, refused unless both match the cell's variant, cache and L."""
    import json

    meta_path = feature_meta_path(path)
    if not Path(path).is_file() or not meta_path.is_file():
        raise CacheCorruptError(f"feature file {path} or its sidecar {meta_path} is missing; rerun the rule")
    meta = json.loads(meta_path.read_text())
    expected = {
        "model_sha256": model_sha256,
        "cache_sha256": cache_manifest.get("sha256"),
        "input_size": int(size),
    }
    wrong = {k: (meta.get(k), v) for k, v in expected.items() if meta.get(k) != v}
    if wrong:
        raise CacheCorruptError(
            f"feature file {path} was computed for other inputs ({', '.join(wrong)} differ); "
            "delete it and rerun to rebuild"
        )
    features = np.load(path, mmap_mode="r", allow_pickle=False)
    if features.shape != (cache_manifest.get("count", features.shape[0]), meta["dim"]):
        raise CacheCorruptError(f"feature file {path} has shape {features.shape}, its sidecar disagrees")
    return features, meta


# ------------------------------------------------------------------------------------------------ fit


@dataclass
class ProbeFit:
    """A fitted probe (C × D weights, C biases over every target class) and how C was chosen."""

    weight: np.ndarray
    bias: np.ndarray
    C: float  # scikit-learn's name for the inverse regularisation strength
    selection: str  # "held-out" or "fixed"
    held_out_size: int
    held_out_accuracy: float
    iterations: int  # L-BFGS iterations over every fit (sweep and refit)
    samples_processed: int  # Σ iterations × samples of that fit (one gradient per sample per iteration)
    converged: bool

    def summary(self) -> dict[str, Any]:
        """Everything but the weights, for cell.json."""
        return {k: v for k, v in asdict(self).items() if k not in ("weight", "bias")}


def _full_matrix(model: Any, num_classes: int, dim: int) -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's coefficients as logits over all C classes (binary: [0, z]; absent classes: −1e4)."""
    weight = np.zeros((num_classes, dim))
    bias = np.full(num_classes, -1e4)
    classes = model.classes_.astype(int)
    if len(classes) == 2 and model.coef_.shape[0] == 1:
        weight[classes[1]], bias[classes[1]] = model.coef_[0], model.intercept_[0]
        bias[classes[0]] = 0.0
    else:
        weight[classes], bias[classes] = model.coef_, model.intercept_
    return weight, bias


def _logistic(c: float, warm_start: bool = False) -> Any:
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression(C=c, max_iter=MAX_ITER, tol=1e-4, warm_start=warm_start)


def _fit(model: Any, features: np.ndarray, labels: np.ndarray) -> tuple[Any, bool]:
    from sklearn.exceptions import ConvergenceWarning

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ConvergenceWarning)
        model.fit(features, labels)
    return model, not any(issubclass(w.category, ConvergenceWarning) for w in caught)


def held_out_split(labels: np.ndarray, seed: int) -> tuple[np.ndarray, np.ndarray] | None:
    """(fit, held-out) indices: a stratified 20% (≥ 1 per class) when every class has ≥ 2 samples."""
    from sklearn.model_selection import train_test_split

    counts = np.bincount(labels)
    present = counts[counts > 0]
    if present.size < 2 or present.min() < 2:
        return None
    size = max(round(HELD_OUT_FRACTION * len(labels)), present.size)
    index = np.arange(len(labels))
    fit, held = train_test_split(index, test_size=size, stratify=labels, random_state=seed)
    return np.sort(fit), np.sort(held)


def fit_probe(features: np.ndarray, labels: np.ndarray, num_classes: int, seed: int) -> ProbeFit:
    """Choose C on a held-out part of the subset (or use C = 1 at 1-shot), then fit on all of it."""
    features = np.asarray(features, dtype=np.float64)
    labels = np.asarray(labels, dtype=np.int64)
    iterations, processed, converged = 0, 0, True
    split = held_out_split(labels, seed)
    chosen, held_accuracy, held_size, selection = DEFAULT_C, math.nan, 0, "fixed"
    if split is not None:
        fit, held = split
        best: tuple[float, float, float] | None = None
        model = _logistic(C_GRID[0], warm_start=True)
        for c in C_GRID:  # increasing C, each fit starting from the previous solution
            model.set_params(C=c)
            model, _ = _fit(model, features[fit], labels[fit])
            iterations += int(np.max(model.n_iter_))
            processed += int(np.max(model.n_iter_)) * len(fit)
            probabilities = model.predict_proba(features[held])
            accuracy = float((model.classes_[probabilities.argmax(1)] == labels[held]).mean())
            rows = np.searchsorted(model.classes_, labels[held])
            loss = float(-np.log(np.clip(probabilities[np.arange(len(held)), rows], 1e-12, None)).mean())
            if best is None or (accuracy, -loss) > (best[0], -best[1]):
                best = (accuracy, loss, c)
        held_accuracy, _, chosen = best  # type: ignore[misc]
        held_size, selection = len(held), "held-out"
    final, converged = _fit(_logistic(chosen), features, labels)
    iterations += int(np.max(final.n_iter_))
    processed += int(np.max(final.n_iter_)) * len(labels)
    weight, bias = _full_matrix(final, num_classes, features.shape[1])
    return ProbeFit(
        weight, bias, chosen, selection, held_size, held_accuracy, iterations, processed, converged
    )


class LinearProbeModel(VisualPromptModel):
    """Cached features → a linear head; fitted in closed loop by :meth:`fit_outcome`, not by the loop."""

    def __init__(
        self, size: int, mean: Any, std: Any, dim: int, num_classes: int, feature_meta: dict
    ) -> None:
        super().__init__(FeatureInput(size, mean, std), nn.Identity(), LinearMapping(dim, num_classes))
        self.feature_meta = dict(feature_meta)
        self.fit_summary: dict[str, Any] = {}

    def fit_outcome(self, member: PackMember, device: torch.device) -> TrainOutcome:
        """Fit the probe on the member's training features and return what the loop would have."""
        from vpbench.engine.training import TrainOutcome

        del device  # scikit-learn fits on the CPU; the features were computed on the study's device
        data, settings = member.data, member.settings
        timings = {"setup": 0.0, "mapping": 0.0, "train": 0.0, "eval": 0.0}
        tick = time.perf_counter()
        fit = fit_probe(data.train_images.numpy(), data.train_labels.numpy(), data.num_classes, settings.seed)
        with torch.no_grad():
            layer = self.head.layer.linear
            layer.weight.copy_(torch.from_numpy(fit.weight))
            layer.bias.copy_(torch.from_numpy(fit.bias))
        timings["train"] = time.perf_counter() - tick
        tick = time.perf_counter()
        self.eval()
        with torch.inference_mode():
            test_logits = self(data.test_images.float()).float()
            train_logits = self(data.train_images.float()).float()
        timings["eval"] = time.perf_counter() - tick
        loss = float(F.cross_entropy(train_logits, data.train_labels))
        accuracy = float((train_logits.argmax(1) == data.train_labels).float().mean())
        share = len(data.train_labels) / max(int(self.feature_meta.get("count", 0)), 1)
        self.fit_summary = {
            **fit.summary(),
            "feature_dim": int(fit.weight.shape[1]),
            "feature_file_seconds": float(self.feature_meta.get("seconds", math.nan)),
            "feature_seconds_share": float(self.feature_meta.get("seconds", math.nan)) * share,
        }
        row = {
            "epoch": 0, "train_loss": loss, "train_accuracy": accuracy, "lr": math.nan, "prompt_l2": 0.0,
            "prompt_step_l2": 0.0, "mapping_changes": 0, "eval_accuracy": math.nan,
        }  # fmt: skip
        history = None
        if settings.save_prompt_history:
            history = torch.stack([self.prompt.effective(), self.prompt.effective()])
        # one fit, no epochs: every selection mode reports it (engine.calibrate.cell_protocol says so)
        return TrainOutcome([row], test_logits, history, timings, "fp32", selected_epoch=0)

    def method_report(self) -> dict[str, Any]:
        """The fit's summary: chosen C, how, L-BFGS iterations (the "training steps" of a probe)."""
        extract = float(self.feature_meta.get("flops_per_image", math.nan))
        return {
            **self.fit_summary,
            "train_steps": self.fit_summary.get("iterations"),
            "train_samples_seen": self.fit_summary.get("samples_processed"),
            "feature_flops_per_image": extract,
        }


def probe_data_check(features: np.ndarray, indices: np.ndarray, cell_label: str) -> None:
    """Refuse N-shot indices that fall outside the feature file."""
    if len(indices) and int(np.max(indices)) >= len(features):
        raise ConfigError(
            f"cell {cell_label}: split indices reach {int(np.max(indices))}, features hold {len(features)}"
        )
