"""Cross-modal reprogramming (Neekhara et al., WACV 2022): tokens → image → frozen classifier.
docs/methods/cmr.md.

A trainable ``Embedding(V, 3·p·p)`` turns each token into a tanh patch; patches are tiled row-major on an
n×n canvas (cell k holds token k, cells k ≥ L repeat token L−1, tokens beyond the n²/p² cells are dropped).
The canvas lives in the model's normalised space (optionally ``base + 0.2·program``) and is un-normalised,
clamped to [0, 1] and re-normalised. Class c is mapped to the sources ``order[c], order[c + C], …`` of the
ascending logit order on a seeded random image, reduced by max. Only the embedding table trains.

Study options (``prompt`` section): ``canvas`` (default: the model's input size), ``patch`` (p, default 16)
and ``label_order``: ``own`` (each model derives its order, as published) or ``dense`` (every variant uses
the dense variant's order, so dense and compressed models share one label map; needs the dense variant's
``card.json`` as the cell input ``dense_card``).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import nn

from vpbench.engine.builders import BuildContext
from vpbench.engine.label_mapping import round_robin_mapping
from vpbench.engine.output_mapping import IndexMapping
from vpbench.engine.vp_model import CellData
from vpbench.errors import ConfigError

DEFAULT_PATCH = 16
BASE_SCALE = 0.2  # base image + 0.2·program
PENALTY_WEIGHT = 1e-4  # loss = CE + 1e-4·‖program‖₂ / batch
LABEL_ORDER_SEED = 42
LABEL_ORDERS = ("own", "dense")


class TokenProgram(nn.Module):
    """Token ids [B, L] → normalised images [B, 3, n, n] through one trainable patch per vocabulary entry."""

    def __init__(
        self,
        vocab_size: int,
        canvas: int,
        patch: int = DEFAULT_PATCH,
        mean: Sequence[float] = (0.485, 0.456, 0.406),
        std: Sequence[float] = (0.229, 0.224, 0.225),
        *,
        base_image: torch.Tensor | None = None,
        base_scale: float = BASE_SCALE,
        penalty_weight: float = PENALTY_WEIGHT,
        generator: torch.Generator | None = None,
    ) -> None:
        super().__init__()
        if patch < 1 or canvas < patch or canvas % patch:
            raise ConfigError(f"prompt.patch {patch} must divide prompt.canvas {canvas} (Neekhara's layout)")
        self.canvas, self.patch, self.grid = canvas, patch, canvas // patch
        self.base_scale, self.penalty_weight = base_scale, penalty_weight
        self.embedding = nn.Embedding(vocab_size, 3 * patch * patch)
        if generator is not None:  # N(0, 1) like nn.Embedding, but from the cell's own generator
            with torch.no_grad():
                self.embedding.weight.normal_(generator=generator)
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(std, dtype=torch.float32).view(1, 3, 1, 1))
        if base_image is not None and tuple(base_image.shape) != (3, canvas, canvas):
            raise ValueError(
                f"base image must be 3×{canvas}×{canvas} (normalised), got {tuple(base_image.shape)}"
            )
        self.register_buffer("base_image", base_image)
        self._pert_norm: torch.Tensor | None = None

    @property
    def num_cells(self) -> int:
        """Patches on the canvas: (n // p)²."""
        return self.grid * self.grid

    def cell_tokens(self, tokens: torch.Tensor) -> torch.Tensor:
        """[B, cells] token of each cell: token k in cell k, token L−1 in every cell k ≥ L."""
        index = torch.arange(self.num_cells, device=tokens.device).clamp_(max=tokens.shape[1] - 1)
        return tokens.index_select(1, index)

    def program(self, tokens: torch.Tensor) -> torch.Tensor:
        """The tiled tanh patches [B, 3, n, n] in normalised space, before base image and clamp."""
        batch, grid, patch = tokens.shape[0], self.grid, self.patch
        patches = torch.tanh(self.embedding(self.cell_tokens(tokens)))  # [B, cells, 3·p·p]
        tiles = patches.view(batch, grid, grid, 3, patch, patch)  # row-major cells, each 3×p×p
        return tiles.permute(0, 3, 1, 4, 2, 5).reshape(batch, 3, self.canvas, self.canvas)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        """Reprogrammed images; also keeps ‖program‖₂ / B of this batch for :meth:`penalty`."""
        program = self.program(tokens)
        self._pert_norm = program.float().norm(p=2) / tokens.shape[0]
        images = program if self.base_image is None else self.base_image + self.base_scale * program
        pixels = (images * self.std + self.mean).clamp(0.0, 1.0)
        return (pixels - self.mean) / self.std

    def penalty(self) -> torch.Tensor:
        """1e-4 · ‖program‖₂ / batch size of the last forward pass (the training loop adds it to the loss)."""
        if self._pert_norm is None:
            return torch.zeros((), device=self.embedding.weight.device)
        return self.penalty_weight * self._pert_norm

    def effective(self) -> torch.Tensor:
        """The learned program: every vocabulary entry's tanh patch, [V, 3, p, p] (norms, divergence)."""
        return torch.tanh(self.embedding.weight).view(-1, 3, self.patch, self.patch)


def reference_image(canvas: int, seed: int = LABEL_ORDER_SEED) -> torch.Tensor:
    """2·U[0,1)^{3×n×n} − 1 from a CPU generator seeded 42 (= ``torch.manual_seed(42); torch.rand``)."""
    generator = torch.Generator().manual_seed(seed)
    return 2 * torch.rand(3, canvas, canvas, generator=generator) - 1.0


@torch.no_grad()
def label_order(net: nn.Module, canvas: int, base_image: torch.Tensor | None = None) -> torch.Tensor:
    """Source classes by ascending logit on the reference (or base) image, fed unclamped as published."""
    image = reference_image(canvas) if base_image is None else base_image
    net.eval()
    device = next((p.device for p in net.parameters()), torch.device("cpu"))
    logits = net(image[None].to(device)).float()[0].cpu()
    return torch.argsort(logits, stable=True)


def round_robin_head(order: torch.Tensor, num_classes: int, per_target: int, reduction: str) -> IndexMapping:
    """An index map with class c → ``order[c], order[c + C], …`` (m = ``per_target`` sources per class)."""
    num_sources = int(order.numel())
    if num_classes * per_target > num_sources:
        raise ConfigError(
            f"cross-modal label map: {num_classes} classes × {per_target} labels exceed {num_sources} sources"
        )
    head = IndexMapping(num_sources, num_classes, init="identity", per_target=per_target, reduction=reduction)
    head.mapping.copy_(round_robin_mapping(order, num_classes, per_target).view_as(head.mapping))
    return head


def token_data(context: BuildContext, length: int) -> CellData:
    """The N-shot training token rows and the full test split, cut to ``length`` tokens (int64)."""
    train, test = context.train_split, context.test_split
    return CellData(
        train_images=torch.from_numpy(np.array(train.images[context.indices, :length], dtype=np.int64)),
        train_labels=torch.from_numpy(train.labels[context.indices].astype(np.int64)),
        test_images=torch.from_numpy(np.array(test.images[:, :length], dtype=np.int64)),
        test_labels=torch.from_numpy(test.labels.astype(np.int64)),
        num_classes=len(train.class_names),
        input_kind="tokens",
    )
