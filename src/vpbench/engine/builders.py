"""How a cell's parts are assembled, per kind of method: prompt, frozen source model, output mapping,
and the tensors the loop trains on. The training loop and the writer are the same for every kind.

Adding a kind is one entry in :data:`CELL_BUILDERS` (``"module:function"``, imported on first use) whose
function takes a :class:`BuildContext` and returns a :class:`CellSetup`.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from vpbench.data import CachedSplit
from vpbench.engine.methods import VPMethod
from vpbench.engine.output_mapping import IndexMapping, LinearMapping
from vpbench.engine.prompts import PROMPTS
from vpbench.engine.training import CellData, VisualPromptModel
from vpbench.errors import ConfigError
from vpbench.models import ModelFamily
from vpbench.models.imagenet import imagenet_class_names
from vpbench.study.grid import Cell


@dataclass
class BuildContext:
    """Everything a builder may need about one cell."""

    config: Mapping[str, Any]
    cell: Cell
    method: VPMethod
    family: ModelFamily
    net: torch.nn.Module
    card: Mapping[str, Any]
    train_split: CachedSplit
    test_split: CachedSplit
    indices: np.ndarray
    extra_inputs: Mapping[str, Path] = field(default_factory=dict)


@dataclass
class CellSetup:
    """What the loop trains (``model`` on ``data``) and the names of the S source classes for reports."""

    model: VisualPromptModel
    data: CellData
    source_names: list[str]


def image_data(context: BuildContext) -> CellData:
    """The N-shot training images (copied into memory) and the full test split as uint8 tensors."""
    train, test = context.train_split, context.test_split
    return CellData(
        train_images=torch.from_numpy(np.array(train.images[context.indices])),
        train_labels=torch.from_numpy(train.labels[context.indices].astype(np.int64)),
        test_images=torch.from_numpy(np.array(test.images)),
        test_labels=torch.from_numpy(test.labels.astype(np.int64)),
        num_classes=len(train.class_names),
    )


def build_image_cell(context: BuildContext) -> CellSetup:
    """Padding prompt (or frame) → frozen ImageNet classifier → RLM/FLM/ILM index map or FullyMap."""
    method, family, net, cell = context.method, context.family, context.net, context.cell
    data = image_data(context)
    input_size = int(context.train_split.images.shape[-1])
    canvas = context.config.get("prompt", {}).get("canvas")
    generator = torch.Generator().manual_seed(cell.seed)
    prompt_cls = PROMPTS[method.prompt]
    if method.prompt == "padding":
        prompt = prompt_cls(canvas or family.input_size, input_size, family.mean, family.std)
    elif method.prompt == "pad_prompter":
        prompt = prompt_cls(input_size, family.mean, family.std, generator=generator)
    else:
        prompt = prompt_cls(input_size, family.mean, family.std)
    num_sources = 1000
    if method.mapping == "linear":
        torch.manual_seed(cell.seed)
        head = LinearMapping(num_sources, data.num_classes)
    else:
        head = IndexMapping(
            num_sources, data.num_classes, init=method.mapping_init, remap=method.remap,
            per_target=method.per_target, reduction=method.reduction, seed=cell.seed,
        )  # fmt: skip
    channels_last = any(isinstance(module, torch.nn.Conv2d) for module in net.modules())
    model = VisualPromptModel(prompt, net, head, channels_last=channels_last)
    return CellSetup(model, data, imagenet_class_names())


CELL_BUILDERS: dict[str, str] = {
    "image": "vpbench.engine.builders:build_image_cell",
    "clip": "vpbench.engine.clip_vp:build_clip_cell",
    "cross_modal": "vpbench.engine.cross_modal:build_cross_modal_cell",
}


def get_builder(name: str) -> Callable[[BuildContext], CellSetup]:
    """Resolve a builder by name (imported lazily so optional stacks load only when used)."""
    try:
        module_name, function = CELL_BUILDERS[name].split(":")
    except KeyError:
        raise ConfigError(f"unknown cell builder {name!r}; allowed: {', '.join(CELL_BUILDERS)}") from None
    return getattr(importlib.import_module(module_name), function)
