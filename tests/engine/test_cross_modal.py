"""Cross-modal reprogramming (§7): token layout, pixels, gradients, round-robin map, learning, a cell."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from tests.studies import loaded_study, typed_study
from vpbench.compression.variant_store import load_variant_model, materialize_variant
from vpbench.data import build_cache, get_dataset, load_cache, write_split
from vpbench.engine.builders import BuildContext
from vpbench.engine.cell import run_cell
from vpbench.engine.cross_modal import (
    TokenProgram,
    label_order,
    reference_image,
    round_robin_head,
)
from vpbench.engine.methods import get_method
from vpbench.engine.training import TrainSettings, VisualPromptModel, train_visual_prompt
from vpbench.errors import ConfigError
from vpbench.models.acquire import acquire_weights
from vpbench.models.registry import ModelFamily
from vpbench.study.grid import Cell

MEAN, STD = (0.5, 0.5, 0.5), (0.25, 0.25, 0.25)


def _program(vocab: int = 10, canvas: int = 8, patch: int = 2, **kwargs) -> TokenProgram:
    return TokenProgram(vocab, canvas, patch, MEAN, STD, generator=torch.Generator().manual_seed(0), **kwargs)


def _patch(program: TokenProgram, token: int) -> torch.Tensor:
    return torch.tanh(program.embedding.weight[token]).view(3, program.patch, program.patch)


def test_token_k_lands_in_cell_k_row_major_and_cells_past_the_end_repeat_the_last_token():
    program = _program()  # 8 px canvas, 2 px patches → 4×4 = 16 cells
    tokens = torch.tensor([[3, 1, 4, 1, 5, 9, 7]])  # L = 7
    canvas = program.program(tokens)[0]
    assert canvas.shape == (3, 8, 8)
    assert torch.equal(canvas[:, 2:4, 4:6], _patch(program, 7))  # token 6 → cell 6 = row 1, column 2
    assert torch.equal(canvas[:, 0:2, 2:4], _patch(program, 1))  # token 1 → cell 1 = row 0, column 1
    for cell in range(7, 16):  # cells k ≥ L repeat token L−1 = 7
        row, col = divmod(cell, 4)
        assert torch.equal(canvas[:, 2 * row : 2 * row + 2, 2 * col : 2 * col + 2], _patch(program, 7))


def test_tokens_beyond_the_cell_count_are_dropped():
    program = _program()
    tokens = torch.randint(0, 10, (2, 40), generator=torch.Generator().manual_seed(1))
    assert torch.equal(program.program(tokens), program.program(tokens[:, :16]))


def test_pixels_are_clamped_to_the_valid_range_in_image_space_and_the_penalty_is_the_batch_norm():
    base = torch.full((3, 8, 8), 1.5)  # normalised 1.5 → pixel 0.875; + 0.2·program may leave [0, 1]
    program = _program(base_image=base)
    with torch.no_grad():
        program.embedding.weight.mul_(50)  # tanh saturates at ±1
    tokens = torch.tensor([[0, 1, 2], [3, 4, 5]])
    images = program(tokens)
    raw = program.program(tokens)
    expected = ((base + 0.2 * raw) * 0.25 + 0.5).clamp(0, 1)
    assert torch.allclose(images * 0.25 + 0.5, expected)
    assert images.max() <= 2.0 + 1e-6  # pixel 1.0 in normalised space
    assert torch.allclose(program.penalty(), 1e-4 * raw.norm() / 2)
    plain = _program()
    assert torch.allclose(plain(tokens), plain.program(tokens), atol=1e-6)  # tanh range never clamps here


def test_gradient_reaches_only_the_embedding_rows_of_the_tokens_used():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.ReLU(), nn.Flatten(), nn.LazyLinear(12))
    net(torch.zeros(1, 3, 8, 8))
    program = _program()
    model = VisualPromptModel(program, net, round_robin_head(torch.arange(12), 3, 2, "max"))
    tokens = torch.tensor([[2, 5, 5], [2, 2, 8]])
    loss = nn.functional.cross_entropy(model(tokens), torch.tensor([0, 2])) + program.penalty()
    loss.backward()
    assert all(p.grad is None for p in net.parameters())
    assert [name for name, _ in model.named_parameters() if _.requires_grad] == ["prompt.embedding.weight"]
    used = program.embedding.weight.grad.abs().sum(1) > 0
    assert used.nonzero().flatten().tolist() == [2, 5, 8]


def test_round_robin_assignment_matches_a_hand_example():
    order = torch.tensor([5, 2, 7, 0, 1, 3, 4, 6])  # ascending-logit order of 8 sources
    head = round_robin_head(order, num_classes=2, per_target=3, reduction="max")
    assert head.mapping.tolist() == [[5, 7, 1], [2, 0, 3]]  # class c: order[c], order[c + 2], order[c + 4]
    logits = torch.tensor([[0.0, 9.0, 0.0, 1.0, 0.0, 2.0, 0.0, 3.0]])
    assert head(logits).tolist() == [[9.0, 1.0]]
    with pytest.raises(ConfigError, match="2 classes × 5 labels exceed 8 sources"):
        round_robin_head(order, 2, 5, "max")


def test_label_order_sorts_logits_of_the_seed_42_random_image_ascending():
    with torch.random.fork_rng():
        torch.manual_seed(42)
        published = 2 * torch.rand(3, 8, 8) - 1.0
    assert torch.equal(reference_image(8), published)
    net = nn.Sequential(nn.Flatten(), nn.Linear(192, 6))
    expected = torch.argsort(net(published[None])[0])
    assert torch.equal(label_order(net, 8), expected)


def test_options_come_from_the_prompt_section_with_checked_values():
    with pytest.raises(ConfigError, match=r"prompt\.label_order: 'mean' is not allowed"):
        typed_study({"prompt": {"label_order": "mean"}})
    with pytest.raises(ConfigError, match=r"prompt\.patch 6 must divide prompt\.canvas 32"):
        TokenProgram(10, 32, 6)


def tiny_motif_net(num_sources: int = 40) -> nn.Module:
    """A random frozen conv net with a wide logit range: per-patch features, a 3×3 layer, average pooling."""
    torch.manual_seed(0)
    net = nn.Sequential(
        nn.Conv2d(3, 64, 4, stride=4), nn.ReLU(), nn.Conv2d(64, 64, 3, padding=1), nn.ReLU(),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(64, num_sources),
    )  # fmt: skip
    with torch.no_grad():
        net[-1].weight.mul_(20)
    return net.eval()


@pytest.fixture(scope="module")
def motif_caches(tmp_path_factory):
    root = tmp_path_factory.mktemp("motif")
    for split in ("train", "test"):
        build_cache("synthetic_dna", split, None, root / split, progress=False)
    return root


def test_a_tiny_vision_model_learns_the_planted_motif_task(motif_caches):
    train, test = load_cache(motif_caches / "train", verify=True), load_cache(motif_caches / "test")
    family = ModelFamily("tiny", builder=tiny_motif_net, weights=None, mean=MEAN, std=STD, input_size=32)
    study = typed_study(
        {
            "prompt": {"canvas": 32, "patch": 4},
            "models": {"tiny": {"family": "tiny", "variants": {"dense": {}}}},
        }
    )
    cell = Cell("unit", "synthetic_dna", "tiny", "dense", "cmr", "full", 0)
    context = BuildContext(
        study, cell, get_method("cmr"), family, tiny_motif_net(), {}, train, test, np.arange(len(train))
    )
    setup = get_method("cmr").build(context)
    assert setup.data.input_kind == "tokens" and setup.data.train_images.shape == (900, 64)  # 8×8 cells
    assert setup.model.head.mapping.shape == (3, 10) and setup.source_names[0] == "source 0"
    settings = TrainSettings(epochs=8, batch_size=32, lr=0.05, schedule="constant", precision="fp32", seed=0)
    outcome = train_visual_prompt(
        setup.model, setup.data, settings, device=torch.device("cpu"), progress=False
    )
    accuracy = float((outcome.test_logits.argmax(1) == setup.data.test_labels).float().mean())
    assert accuracy > 0.65  # chance is 1/3
    assert outcome.history[-1]["train_loss"] < outcome.history[0]["train_loss"]


def test_an_image_dataset_is_incompatible_and_says_why():
    family = ModelFamily("tiny", builder=tiny_motif_net, weights=None, input_size=32)
    reason = get_method("cmr").incompatibility(family, get_dataset("cifar10"))
    assert reason is not None and "adapts text/dna datasets" in reason and "'cifar10' is image" in reason
    assert get_method("cmr").incompatibility(family, get_dataset("synthetic_dna")) is None


def test_a_cross_modal_cell_runs_end_to_end_on_mobilenet_and_can_share_the_dense_order(
    motif_caches, tmp_path
):
    weights = acquire_weights("mobilenet_v2", tmp_path / "weights", allow_network=False)
    for variant, spec in {
        "dense": {},
        "mag50": {"compress": {"method": "magnitude", "sparsity": 0.5}},
    }.items():
        materialize_variant(
            model="mobilenet_v2", variant=variant, spec={"family": "mobilenet_v2", **spec},
            weights_path=weights, out_dir=tmp_path / variant, canvas=32,
        )  # fmt: skip
    write_split(
        tmp_path / "split.json", "synthetic_dna", 2, 1, np.load(motif_caches / "train" / "labels.npy")
    )
    config = {
        "study": "unit", "device": "cpu",
        "models": {"mobilenet_v2": {"family": "mobilenet_v2", "variants": {"dense": {}, "mag50": {}}}},
        "prompt": {"canvas": 32, "patch": 4, "label_order": "dense"},
        "training": {"epochs": 1, "batch_size": {"2": 4}, "eval_batch_size": 256, "max_steps": 1},
        "datasets": {"synthetic_dna": {}}, "methods": ["cmr"], "shots": [2],
    }  # fmt: skip
    mappings, study = {}, loaded_study(config)
    for variant in ("dense", "mag50"):
        out = tmp_path / "cells" / variant
        row = run_cell(
            study=study, cell=Cell("unit", "synthetic_dna", "mobilenet_v2", variant, "cmr", "2", 1),
            variant_dir=tmp_path / variant, train_cache=motif_caches / "train",
            test_cache=motif_caches / "test",
            split_path=tmp_path / "split.json", out_dir=out, checkpoint_dir=tmp_path / "ckpt" / variant,
            extra_inputs={"dense_card": tmp_path / "dense" / "card.json"}, progress=False,
        )  # fmt: skip
        assert row["test_size"] == 450 and row["train_size"] == 6 and 0 <= row["accuracy"] <= 1
        prompt = torch.load(out / "prompt.pt", weights_only=True)
        assert prompt["effective"].shape == (258, 3, 4, 4)
        mappings[variant] = prompt["mapping"]
    assert torch.equal(mappings["dense"], mappings["mag50"])  # label_order: dense shares one map
    own = [label_order(load_variant_model(tmp_path / v)[0], 32) for v in ("dense", "mag50")]
    assert not torch.equal(*own)  # each model's own order would have given different maps
