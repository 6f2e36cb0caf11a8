"""A plugin as a user would write it, outside vpbench: one entry of each registry kind.

- dataset ``toy_blobs``: 3 classes of coloured squares on noise, generated in memory (no files);
- model family ``toy_net``: a small conv net with 10 outputs, weights in ``toy_net.pt`` next to this file
  (written by the test; its sha256 is read from ``toy_net.pt.sha256``);
- compression method ``sign_prune``: zeroes every negative conv/linear weight (kind: sparse);
- VP methods ``toy_vp`` (a padding prompt with a random label map, under another name) and ``nan_vp``
  (whose loss is NaN for compressed variants: a deterministic failure for the failure-handling test);
- figure kind ``toy_accuracy_bars``: a bar chart per model, caption ``toy_figure.rst`` next to this file.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch import nn

from vpbench.compression.methods import CompressionMethod, register_compression_method, unknown_keys
from vpbench.compression.techniques import Technique, register_technique
from vpbench.data.registry import DatasetSpec, SplitSource, register_dataset
from vpbench.engine.methods import register_method
from vpbench.engine.methods.padding import PaddingVP
from vpbench.models.registry import ModelFamily, WeightSource, register_model

HERE = Path(__file__).resolve().parent
CLASSES = ("red", "green", "blue")


class BlobReader:
    """Coloured squares on seeded noise: 20 train and 10 test images per class."""

    packaged = True

    def is_staged(self, root, split, verify_md5):
        return True

    def download(self, root, split):
        return None

    def open_split(self, root, split, verify_md5):
        count = 20 if split == "train" else 10
        labels = np.repeat(np.arange(3), count)
        rng = np.random.default_rng(0 if split == "train" else 1)
        noise = rng.integers(0, 60, size=(len(labels), 16, 16, 3), dtype=np.uint8)

        def load(position: int) -> Image.Image:
            image = noise[position].copy()
            image[4:12, 4:12, labels[position]] = 255
            return Image.fromarray(image)

        return SplitSource(labels.astype(np.int64), load)


register_dataset(
    DatasetSpec(
        name="toy_blobs",
        label="Toy blobs",
        num_classes=3,
        input_size=16,
        reader=BlobReader(),
        class_names_fn=lambda: CLASSES,
        split_policy="generated: 20 train / 10 test images per class from fixed seeds",
        prestage_help="nothing to place: generated in memory",
    )
)


def toy_net() -> nn.Module:
    """A tiny convolutional classifier with 10 outputs."""
    return nn.Sequential(
        nn.Conv2d(3, 8, 3, stride=2, padding=1), nn.ReLU(), nn.Conv2d(8, 8, 3, padding=1), nn.ReLU(),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 10),
    )  # fmt: skip


WEIGHTS = HERE / "toy_net.pt"
register_model(
    ModelFamily(
        name="toy_net",
        builder=toy_net,
        weights=WeightSource(
            WEIGHTS.name,
            sha256=(HERE / "toy_net.pt.sha256").read_text().strip() if WEIGHTS.exists() else "0" * 64,
            local_path=str(WEIGHTS),
        ),
        input_size=32,
        num_classes=10,
        class_names=lambda: [f"toy class {i}" for i in range(10)],
        label="Toy net",
        licence="test fixture",
        description="a plugin's tiny conv net",
    )
)

register_technique(Technique("sign_prune", "Sign pruning", "sparse", "Unstructured"))


@dataclass(frozen=True)
class SignPruning(CompressionMethod):
    """Zero every negative weight of every Conv2d and Linear layer."""

    def validate(self, spec):
        unknown_keys(spec, ())
        return {"method": self.name}

    def apply(self, model, spec, calibration):
        with torch.no_grad():
            for module in model.modules():
                if isinstance(module, nn.Conv2d | nn.Linear):
                    module.weight.clamp_(min=0)
        return model

    def card_fields(self, spec):
        return {"compression_axis": "sparsity", "compression_level": 0.5, "compression_label": "sign-pruned",
                "recovery_finetuned": False, "note": "negative weights zeroed"}  # fmt: skip


register_compression_method(SignPruning("sign_prune", "zero every negative weight"))
register_method(PaddingVP(name="toy_vp", label="Toy VP", mapping_init="random", description="plugin RLM"))


@dataclass(frozen=True)
class NanVP(PaddingVP):
    """A padding prompt whose logits are NaN on compressed variants (a deterministic failure)."""

    def build(self, context):
        setup = super().build(context)
        if not context.study.model(context.cell.model).is_dense(context.cell.variant):
            setup.model.head.register_forward_hook(lambda module, inputs, output: output * float("nan"))
        return setup


register_method(NanVP(name="nan_vp", label="NaN VP", description="fails on compressed variants"))


# A figure kind: one bar chart per study model of the mean test accuracy of each (variant, method), planned
# from the study's cells and drawn from the aggregated cells table, with its caption file beside this plugin.
from vpbench.results.figures import FigureKind, FigureSpec, register_figure_kind  # noqa: E402
from vpbench.results.figures.style import Plot, mark_empty, new_figure, styled  # noqa: E402


def _plan_accuracy_bars(context):
    return [FigureSpec("toy_accuracy_bars", f"{model}_toy_accuracy_bars", model) for model in
            sorted(set(context.cells["model"]))]  # fmt: skip


@styled
def _render_accuracy_bars(spec, tables):
    cells = tables.cells.loc[tables.cells["model"] == spec.model]
    figure, (axes,) = new_figure(1)
    if cells.empty:
        mark_empty(axes, "no finished cells")
    else:
        means = cells.groupby(["variant", "method"])["accuracy"].mean() * 100
        axes.bar([f"{v}/{m}" for v, m in means.index], means.to_numpy())
        axes.set_ylabel("test accuracy [%]")
    axes.set_title(f"{spec.model}: mean accuracy per variant and method")
    return Plot(figure, f"{spec.model}: mean test accuracy of every variant and method (plugin figure).")


register_figure_kind(
    FigureKind(
        name="toy_accuracy_bars",
        label="toy accuracy bars",
        category="accuracy",
        caption=HERE / "toy_figure.rst",
        plan=_plan_accuracy_bars,
        render=_render_accuracy_bars,
    )
)
