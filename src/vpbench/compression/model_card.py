"""Model cards: what a (compressed) model measurably is — parameters, sparsity, bit-widths, FLOPs, label.

Sparsity is measured over the ``weight`` tensors of every Conv2d and Linear (biases, norms and embeddings
excluded). ``remaining_pct_paper`` is the paper's "S": % of weights *remaining* over Conv2d layers excluding
the first conv (None for models with no other conv, e.g. ViTs). FLOPs count Conv2d/Linear only (2 × MACs,
bias and attention matmuls ignored); ``flops`` is dense (zeros counted), ``effective_flops`` scales each
layer by its weight density.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import nn

from vpbench.compression.fake_quant import FakeQuantMixin
from vpbench.compression.methods import get_compression_method
from vpbench.compression.pruning import follows_n_m_pattern, paper_scope, prunable_layers
from vpbench.compression.quantization import distinct_levels_per_channel
from vpbench.compression.variants import validate_spec

DENSE_TOLERANCE = 0.01  # a model with at most 1% zeros counts as dense when its spec names no method


def _zeros(module: nn.Module) -> int:
    return int((module.weight.detach() == 0).sum())


def remaining_pct_paper(model: nn.Module) -> float | None:
    """% of Conv2d weights remaining (non-zero), first conv excluded (paper's S); None if no such conv."""
    layers = prunable_layers(model, paper_scope(model))
    total = sum(module.weight.numel() for _, module in layers)
    if not total:
        return None
    return 100.0 * (total - sum(_zeros(module) for _, module in layers)) / total


def _quant_report(module: nn.Module) -> dict[str, Any]:
    """Configured and measured bit-widths of one fake-quant layer."""
    report: dict[str, Any] = {"weight_bits": int(module.weight_bits) or None}
    if report["weight_bits"]:
        levels = int(distinct_levels_per_channel(module.weight).max())
        report["weight_levels_max"] = levels
        report["weight_bits_measured"] = max(1, math.ceil(math.log2(levels))) if levels > 1 else 1
    quantizer = module.input_quantizer
    report["act_bits"] = int(quantizer.bits) or None
    if report["act_bits"]:
        report["act_calibrated"] = bool(quantizer.calibrated)
        report["act_signed"] = bool(quantizer.signed)
        report["act_scale"] = float(quantizer.scale)
    return report


def layer_reports(model: nn.Module) -> list[dict[str, Any]]:
    """Per Conv2d/Linear: name, type, shape, numel, zeros, sparsity, and bit-widths when fake-quantized."""
    reports = []
    for name, module in prunable_layers(model):
        numel, zeros = module.weight.numel(), _zeros(module)
        entry = {
            "layer": name, "type": type(module).__name__, "shape": list(module.weight.shape),
            "numel": numel, "zeros": zeros, "sparsity": zeros / numel,
        }  # fmt: skip
        if isinstance(module, FakeQuantMixin):
            entry.update(_quant_report(module))
        reports.append(entry)
    return reports


@torch.no_grad()
def count_flops(model: nn.Module, input_size: int, in_channels: int = 3) -> dict[str, float]:
    """MACs, dense FLOPs (2 × MACs) and density-scaled FLOPs of Conv2d/Linear for one input_size² image."""
    totals = {"macs": 0, "effective_macs": 0.0}

    def hook(module: nn.Module, inputs: Any, output: torch.Tensor) -> None:
        if isinstance(module, nn.Conv2d):
            per_output = module.in_channels // module.groups * math.prod(module.kernel_size)
        else:
            per_output = module.in_features
        macs = output.numel() * per_output
        density = 1.0 - _zeros(module) / module.weight.numel()
        totals["macs"] += macs
        totals["effective_macs"] += macs * density

    handles = [module.register_forward_hook(hook) for _, module in prunable_layers(model)]
    reference = next(model.parameters())
    shape = (1, in_channels, input_size, input_size)
    image = torch.zeros(shape, device=reference.device, dtype=reference.dtype)
    was_training = model.training
    model.eval()
    try:
        model(image)
    finally:
        model.train(was_training)
        for handle in handles:
            handle.remove()
    return {
        "macs": totals["macs"],
        "flops": 2 * totals["macs"],
        "effective_flops": 2.0 * totals["effective_macs"],
    }


def _compression_fields(spec: Mapping[str, Any] | None, sparsity: float, weight_bits: int | None) -> dict:
    """Axis, level, label, ``recovery_finetuned`` and a note: the spec's method says, else measurements."""
    if spec:
        return get_compression_method(spec["method"]).card_fields(dict(spec))
    if weight_bits is not None:
        return {"compression_axis": "weight_bits", "compression_level": float(weight_bits),
                "compression_label": f"W{weight_bits}", "recovery_finetuned": None, "note": ""}  # fmt: skip
    if sparsity > DENSE_TOLERANCE:
        return {"compression_axis": "sparsity", "compression_level": round(sparsity, 4),
                "compression_label": f"{sparsity * 100:.0f}% sparse", "recovery_finetuned": None,
                "note": "sparsity measured on the loaded weights"}  # fmt: skip
    return {"compression_axis": "none", "compression_level": 0.0, "compression_label": "dense",
            "recovery_finetuned": None, "note": ""}  # fmt: skip


def compression_level_on_axis(card: Mapping[str, Any], axis: str) -> float:
    """The card's level on a plot axis; dense models sit at 0 on ``sparsity`` and 32 on ``weight_bits``."""
    if card["compression_axis"] == axis:
        return float(card["compression_level"])
    return {"sparsity": 0.0, "weight_bits": 32.0}[axis]


def model_card(
    model: nn.Module,
    *,
    family: str,
    variant: str,
    spec: Mapping[str, Any],
    input_size: int,
    source: str,
    checksum: str | None,
) -> dict[str, Any]:
    """Measure ``model`` and describe it as a JSON-serialisable card (see the module docstring).

    ``spec`` is stored as given; when it has a ``method`` it is also validated into ``compression_spec``
    (what :func:`load_variant` checks). Without one, the label comes from measured sparsity / bit-widths.
    ``checksum`` is the sha256 of the source weights, if known.
    """
    compression_spec = validate_spec(spec) if "method" in spec else None
    layers = layer_reports(model)
    prunable = sum(entry["numel"] for entry in layers)
    sparsity = sum(entry["zeros"] for entry in layers) / prunable if prunable else 0.0
    quantized = [entry for entry in layers if "act_bits" in entry]
    measured_bits = [entry["weight_bits_measured"] for entry in quantized if "weight_bits_measured" in entry]
    act_bits = [entry["act_bits"] for entry in quantized if entry["act_bits"]]
    weight_bits = max(measured_bits) if measured_bits else None
    card: dict[str, Any] = {
        "family": family,
        "variant": variant,
        "spec": dict(spec),
        "compression_spec": compression_spec,
        "source": source,
        "source_sha256": checksum,
        "input_size": input_size,
        "parameter_count": sum(parameter.numel() for parameter in model.parameters()),
        "prunable_parameter_count": prunable,
        "sparsity": sparsity,
        "remaining_pct_paper": remaining_pct_paper(model),
        "quantized_layer_count": len(quantized),
        "float_layers": [entry["layer"] for entry in layers if "act_bits" not in entry] if quantized else [],
        "weight_bits_measured": weight_bits,
        "act_bits": max(act_bits) if act_bits else None,
        **count_flops(model, input_size),
        **_compression_fields(compression_spec, sparsity, weight_bits),
        "per_layer": layers,
    }
    if compression_spec and compression_spec["method"] == "semi_structured":
        n, m = compression_spec["n"], compression_spec["m"]
        card["n_m_dense_layers"] = [
            name
            for name, module in prunable_layers(model, None)
            if not follows_n_m_pattern(module.weight.detach(), n, m)
        ]
    return card


def sanity_top5_agreement(dense: nn.Module, compressed: nn.Module, images: torch.Tensor) -> float:
    """Mean over images of |top-5(dense) ∩ top-5(compressed)| / 5: 1 = same top-5 sets, 0 = disjoint.

    A cheap check that compression kept the model's ImageNet behaviour on natural photos.
    """
    with torch.no_grad():
        tops = []
        for model in (dense, compressed):
            was_training = model.training
            model.eval()
            tops.append(model(images).topk(5, dim=1).indices)
            model.train(was_training)
    shared = (tops[0].unsqueeze(-1) == tops[1].unsqueeze(-2)).any(dim=-1).sum(dim=-1)
    return float(shared.float().mean() / 5)


def sample_photos(
    size: int = 224, mean: Sequence[float] | None = None, std: Sequence[float] | None = None
) -> torch.Tensor:
    """The photos matplotlib and scikit-learn ship (grace_hopper, china, flower), (3, 3, size, size).

    Each is resized (shorter side size/0.875, i.e. 256 for 224) and centre-cropped; values in [0, 1], or
    normalised with ``mean``/``std`` when both are given.
    """
    import matplotlib.cbook
    import torchvision.transforms.functional as tf
    from PIL import Image
    from sklearn.datasets import load_sample_images

    if (mean is None) != (std is None):
        raise ValueError("give both mean and std, or neither")
    with Image.open(matplotlib.cbook.get_sample_data("grace_hopper.jpg", asfileobj=False)) as photo:
        images = [photo.convert("RGB")]
    images += [Image.fromarray(array) for array in load_sample_images().images]
    resize = round(size / 0.875)
    batch = (
        torch.stack(
            [tf.pil_to_tensor(tf.center_crop(tf.resize(image, resize), size)) for image in images]
        ).float()
        / 255.0
    )
    if mean is not None and std is not None:
        batch = (batch - torch.tensor(mean).view(1, 3, 1, 1)) / torch.tensor(std).view(1, 3, 1, 1)
    return batch
