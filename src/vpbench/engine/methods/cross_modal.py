"""Cross-modal reprogramming (Neekhara et al., WACV 2022): a token program turns text or DNA into an
image for a frozen ImageNet classifier, whose outputs map round-robin to the target classes.

Study options (``prompt`` section): ``canvas`` (default: the model's input size), ``patch`` (p, default
16) and ``label_order``: ``own`` (each model derives its order, as published) or ``dense`` (every variant
uses the dense variant's order, so dense and compressed models share one label map). docs/methods/cmr.md.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from vpbench.data.token_cache import check_same_tokenizer
from vpbench.engine.builders import BuildContext, CellSetup, has_convolutions, source_names
from vpbench.engine.cross_modal import DEFAULT_PATCH, TokenProgram, label_order, round_robin_head, token_data
from vpbench.engine.methods.base import VPMethod, register_method
from vpbench.engine.vp_model import VisualPromptModel
from vpbench.study import paths


@dataclass(frozen=True)
class CrossModalReprogramming(VPMethod):
    """Token program → frozen classifier → m source labels per class, reduced by max."""

    per_target: int = 10
    reduction: str = "max"

    def extra_inputs(self, study, cell):
        """With ``label_order: dense``, the dense variant's card (its logits fix everyone's map)."""
        model = study.model(cell.model)
        if study.label_order != "dense" or model.is_dense(cell.variant):
            return {}
        return {"dense_card": paths.card(study.name, cell.model, model.dense_variant)}

    def build(self, context: BuildContext) -> CellSetup:
        """Token program on the canvas, frozen classifier, round-robin m-to-1 map from a random image."""
        study, family, cell = context.study, context.family, context.cell
        train = context.train_split
        check_same_tokenizer(train.manifest, context.test_split.manifest)
        canvas = study.canvas or family.input_size
        program = TokenProgram(
            int(train.manifest["vocab_size"]), canvas, study.patch or DEFAULT_PATCH, family.mean, family.std,
            generator=torch.Generator().manual_seed(cell.seed),
        )  # fmt: skip
        # Tokens past the last cell never reach the canvas, so the rows are cut there (less memory).
        data = token_data(context, min(int(train.images.shape[1]), program.num_cells))
        order_net = context.net
        if "dense_card" in context.extra_inputs:
            from vpbench.compression.variant_store import load_variant_model

            order_net = load_variant_model(Path(context.extra_inputs["dense_card"]).parent)[0]
        order = label_order(order_net, canvas)
        head = round_robin_head(order, data.num_classes, self.per_target, self.reduction)
        model = VisualPromptModel(program, context.net, head, channels_last=has_convolutions(context.net))
        return CellSetup(model, data, source_names(family, int(order.numel())))


register_method(
    CrossModalReprogramming(
        name="cmr",
        label="Cross-modal",
        rank=30,
        colour="cross_modal",
        modalities=("text", "dna"),
        optimizer="adam",
        lr=0.001,
        schedule="constant",
        description="Cross-modal reprogramming (Neekhara et al.): token patches tiled on the canvas, "
        "m ImageNet labels per class assigned round-robin from a random image's logit order",
    )
)
