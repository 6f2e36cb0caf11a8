"""Linear probe (LP): logistic regression on the frozen model's penultimate features.

Features are computed once per (variant, dataset, split) by the ``features`` rule (the method's extra
inputs); each cell indexes them by its N-shot subset and fits an L2-regularised multinomial logistic
regression with L-BFGS, choosing C on a held-out part of the subset (:mod:`vpbench.engine.linear_probe`).
The gradient loop is bypassed (``fit_outcome``); the study's epochs, batch size and lr do not apply.
docs/methods/linear_probe.md.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from vpbench.compression.variant_store import variant_sha256
from vpbench.engine.builders import BuildContext, CellSetup
from vpbench.engine.linear_probe import (
    C_GRID,
    DEFAULT_C,
    HELD_OUT_FRACTION,
    MAX_ITER,
    LinearProbeModel,
    load_features,
    probe_data_check,
)
from vpbench.engine.methods.base import VPMethod, register_method
from vpbench.engine.methods.lor_vp import feature_names
from vpbench.engine.methods.smm import input_side
from vpbench.engine.vp_model import CellData
from vpbench.errors import ConfigError
from vpbench.study import paths


@dataclass(frozen=True)
class LinearProbe(VPMethod):
    """Cached penultimate features → logistic regression (C chosen on a held-out part of the subset)."""

    trains_prompt = False

    c_grid: tuple[float, ...] = C_GRID
    held_out_fraction: float = HELD_OUT_FRACTION
    default_c: float = DEFAULT_C
    max_iter: int = MAX_ITER

    def extra_inputs(self, study, cell):
        """The variant's features of the dataset's train and test splits (rule ``features``)."""
        return {
            f"features_{split}": paths.features(study.name, cell.model, cell.variant, cell.dataset, split)
            for split in ("train", "test")
        }

    def build(self, context: BuildContext) -> CellSetup:
        """The cell's training features (its N-shot rows) and every test feature, and an unfitted probe."""
        family, cell = context.family, context.cell
        size = input_side(context)
        loaded = {}
        for split, cache in (("train", context.train_split), ("test", context.test_split)):
            path = context.extra_inputs.get(f"features_{split}")
            if path is None:
                raise ConfigError(f"cell {cell.label}: method {self.name!r} needs the input features_{split}")
            loaded[split] = load_features(
                path, model_sha256=variant_sha256(context.card), cache_manifest=cache.manifest, size=size
            )
        train, meta = loaded["train"]
        test, _ = loaded["test"]
        probe_data_check(train, context.indices, cell.label)
        data = CellData(
            train_images=torch.from_numpy(np.array(train[context.indices], dtype=np.float32)),
            train_labels=torch.from_numpy(context.train_split.labels[context.indices].astype(np.int64)),
            test_images=torch.from_numpy(np.array(test, dtype=np.float32)),
            test_labels=torch.from_numpy(context.test_split.labels.astype(np.int64)),
            num_classes=len(context.train_split.class_names),
            input_kind="features",
        )
        model = LinearProbeModel(size, family.mean, family.std, int(meta["dim"]), data.num_classes, meta)
        return CellSetup(model, data, feature_names(int(meta["dim"])))


register_method(
    LinearProbe(
        name="lp",
        label="Linear probe",
        rank=50,
        colour="baseline",
        optimizer="lbfgs",
        lr=0.0,
        schedule="constant",
        description="Linear probe: L-BFGS logistic regression on the frozen model's penultimate features "
        "(cached once per variant and dataset), C chosen on a held-out 20% of the training subset",
    )
)
