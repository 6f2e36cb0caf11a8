"""What every method's ``build`` receives and returns, and the shared helpers for assembling a cell.

The training loop and the writer are the same for every method; a method only turns a
:class:`BuildContext` into a :class:`CellSetup` (see :class:`vpbench.engine.methods.VPMethod`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import nn

from vpbench.data import CachedSplit
from vpbench.engine.vp_model import CellData, VisualPromptModel
from vpbench.models import ModelFamily
from vpbench.study.grid import Cell
from vpbench.study.spec import Study

if TYPE_CHECKING:
    from vpbench.engine.methods import VPMethod


@dataclass
class BuildContext:
    """Everything a method may need about one cell."""

    study: Study
    cell: Cell
    method: VPMethod
    family: ModelFamily
    net: nn.Module
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


def source_names(family: ModelFamily, count: int) -> list[str]:
    """Names of the ``count`` source classes: the family's when it has that many outputs, else numbered."""
    if family.num_classes == count:
        return family.source_class_names()
    return [f"source {i}" for i in range(count)]


def has_convolutions(net: nn.Module) -> bool:
    """Whether channels-last memory pays for this network (it does for conv nets on CPU and GPU)."""
    return any(isinstance(module, nn.Conv2d) for module in net.modules())
