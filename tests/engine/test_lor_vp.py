"""LoR-VP prompt: the authors' outputs and inits (golden), budget, low rank, resize, gradients, LP head."""

import numpy as np
import pytest
import torch
from torch import nn
from torchvision.transforms import functional as TF  # noqa: N812

from tests.engine import golden_inputs as gi
from tests.synthetic import colour_data, tiny_source_model
from vpbench.engine import lor_vp
from vpbench.engine.output_mapping import IndexMapping, LinearMapping
from vpbench.engine.settings import TrainSettings
from vpbench.engine.training import train_visual_prompt
from vpbench.engine.vp_model import VisualPromptModel
from vpbench.errors import ConfigError

GOLDEN = np.load(gi.GOLDEN_DIR / "lor_vp.npz")
NO_NORM = ((0.0,) * 3, (1.0,) * 3)


# ------------------------------------------------------------------------------ golden (authors' outputs)


@pytest.mark.parametrize(("index", "case"), list(enumerate(gi.LORVP_CASES)))
def test_forward_and_gradients_match_the_authors(index, case):
    size, rank, batch, normalise = gi.LORVP_CASES[case]
    mean, std = (gi.IMAGENET_MEAN, gi.IMAGENET_STD) if normalise else NO_NORM
    ours = lor_vp.LowRankPrompt(size, mean, std, rank=rank)
    gi.fill_module(ours, seed=300 + index)
    out = ours(gi.images(batch, size, seed=400 + index))
    (out * gi.backward_weights((batch, 3, size, size), 500 + index)).sum().backward()
    outputs = {"forward": out.detach(), "grad_left": ours.left.grad, "grad_right": ours.right.grad}
    for key, value in outputs.items():
        if case in gi.LORVP_FULL:
            torch.testing.assert_close(value, torch.from_numpy(GOLDEN[f"{case}_{key}"]), atol=1e-6, rtol=1e-6)
        else:
            expected = torch.from_numpy(GOLDEN[f"{case}_{key}_sketch"])
            torch.testing.assert_close(gi.sketch(value), expected, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("init", ["zero,normal", "random,xavier", "kaiming,uniform"])
@pytest.mark.parametrize("private", [False, True])
def test_inits_reproduce_the_authors_draws_after_the_same_seed(init, private):
    key = "init_" + init.replace(",", "_")
    torch.manual_seed(gi.LORVP_INIT_SEED)
    generator = torch.Generator().manual_seed(gi.LORVP_INIT_SEED) if private else None
    prompt = lor_vp.LowRankPrompt(8, *NO_NORM, rank=2, init=tuple(init.split(",")), generator=generator)
    assert torch.equal(prompt.left.detach(), torch.from_numpy(GOLDEN[f"{key}_left"]))
    assert torch.equal(prompt.right.detach(), torch.from_numpy(GOLDEN[f"{key}_right"]))


# ------------------------------------------------------------------------------ structure


@pytest.mark.parametrize(
    ("size", "rank", "count"), [(224, 4, 5_376), (64, 4, 1_536), (384, 4, 9_216), (224, 1, 1_344)]
)
def test_parameter_budget_is_two_bars_per_channel(size, rank, count):
    assert lor_vp.lor_vp_parameter_count(size, rank) == count
    prompt = lor_vp.LowRankPrompt(size, *NO_NORM, rank=rank)
    assert sum(p.numel() for p in prompt.parameters()) == count
    assert prompt.left.shape == (3, size, rank) and prompt.right.shape == (3, rank, size)


def test_published_init_starts_at_zero_with_small_normal_right_bar():
    prompt = lor_vp.LowRankPrompt(224, *NO_NORM, generator=torch.Generator().manual_seed(0))
    assert torch.count_nonzero(prompt.left) == 0
    assert torch.count_nonzero(prompt.effective()) == 0
    right = prompt.right.detach()
    assert 0.008 < float(right.std()) < 0.012 and abs(float(right.mean())) < 0.002


def test_prompt_has_rank_at_most_r_per_channel():
    prompt = lor_vp.LowRankPrompt(32, *NO_NORM, rank=3, init=("random", "random"))
    effective = prompt.effective().detach()
    assert effective.shape == (3, 32, 32)
    assert all(int(torch.linalg.matrix_rank(channel)) == 3 for channel in effective)


def test_bad_settings_are_rejected():
    with pytest.raises(ConfigError):
        lor_vp.LowRankPrompt(16, *NO_NORM, init=("zero", "orthogonal"))
    with pytest.raises(ConfigError):
        lor_vp.LowRankPrompt(16, *NO_NORM, rank=17)


# ------------------------------------------------------------------------------ geometry and pixel space


def test_images_are_resized_to_the_input_then_prompted_in_pixel_space_without_clamp():
    prompt = lor_vp.LowRankPrompt(64, gi.IMAGENET_MEAN, gi.IMAGENET_STD, init=("random", "random"))
    assert prompt.canvas == prompt.input_size == 64
    images = gi.images(2, 32, seed=5)
    resized = TF.resize(images, [64, 64], interpolation=TF.InterpolationMode.BILINEAR, antialias=True)
    torch.testing.assert_close(prompt.resize(images), resized)
    pixels = prompt(images) * prompt.std + prompt.mean
    torch.testing.assert_close(
        pixels - resized, prompt.effective().detach().expand(2, -1, -1, -1), atol=1e-5, rtol=0
    )
    assert pixels.max() > 1 or pixels.min() < 0  # a unit-normal prompt leaves [0,1]: nothing clamps it


def test_at_init_the_prompt_is_the_identity_before_normalisation():
    prompt = lor_vp.LowRankPrompt(16, gi.IMAGENET_MEAN, gi.IMAGENET_STD)
    images = gi.images(2, 16, seed=6)
    assert prompt.resize(images) is images
    torch.testing.assert_close(prompt(images), (images - prompt.mean) / prompt.std)


def test_first_gradient_reaches_only_the_zero_initialised_left_bar():
    prompt = lor_vp.LowRankPrompt(16, *NO_NORM, generator=torch.Generator().manual_seed(0))
    frozen = nn.Conv2d(3, 2, 3).requires_grad_(False)
    frozen(prompt(gi.images(2, 16, seed=7))).square().sum().backward()
    assert prompt.left.grad.abs().sum() > 0
    assert torch.count_nonzero(prompt.right.grad) == 0  # ∂/∂A goes through B = 0
    assert all(p.grad is None for p in frozen.parameters())


def test_private_generator_leaves_the_global_rng_alone_and_is_deterministic():
    state = torch.get_rng_state()
    first = lor_vp.LowRankPrompt(16, *NO_NORM, generator=torch.Generator().manual_seed(3))
    second = lor_vp.LowRankPrompt(16, *NO_NORM, generator=torch.Generator().manual_seed(3))
    assert torch.equal(torch.get_rng_state(), state)
    assert torch.equal(first.right, second.right)
    third = lor_vp.LowRankPrompt(16, *NO_NORM, generator=torch.Generator().manual_seed(4))
    assert not torch.equal(first.right, third.right)


# ------------------------------------------------------------------------------ heads and the loop


def test_feature_extractor_strips_the_classifier_for_the_linear_probe_head():
    from torchvision.models import resnet18

    network = resnet18(weights=None).eval()
    features, width = lor_vp.feature_extractor(network)
    assert width == 512 and isinstance(network.fc, nn.Linear)  # the original keeps its classifier
    assert features(torch.rand(1, 3, 64, 64)).shape == (1, 512)
    head = LinearMapping(width, 37)
    assert sum(p.numel() for p in head.parameters()) == lor_vp.linear_probe_parameter_count(512, 37)
    with pytest.raises(ConfigError):
        lor_vp.feature_extractor(nn.Sequential(nn.Conv2d(3, 4, 3), nn.Flatten()))


def test_feature_extractor_handles_timm_models():
    timm = pytest.importorskip("timm")
    network = timm.create_model("resnet10t", pretrained=False, num_classes=10).eval()
    features, width = lor_vp.feature_extractor(network)
    assert features(torch.rand(1, 3, 32, 32)).shape == (1, width)


@pytest.mark.parametrize("head_kind", ["lp", "ilm"])
def test_lor_vp_trains_in_the_existing_loop(head_kind):
    source = tiny_source_model(20)
    if head_kind == "lp":  # the published head and recipe: linear probe, SGD 0.02, cosine, wd 1e-4
        source, width = lor_vp.feature_extractor(source)
        torch.manual_seed(0)
        head = LinearMapping(width, 3)
        recipe = {"optimizer": "sgd", "lr": 0.02, "momentum": 0.9, "weight_decay": 1e-4, "schedule": "cosine"}
    else:  # with a fixed-map head the 0.01-scaled first gradients need Adam on this toy task
        head = IndexMapping(20, 3, init="identity", remap="every")
        recipe = {"optimizer": "adam", "lr": 0.1, "schedule": "cosine"}
    prompt = lor_vp.LowRankPrompt(16, (0.5,) * 3, (0.25,) * 3, generator=torch.Generator().manual_seed(0))
    model = VisualPromptModel(prompt, source, head)
    data = colour_data()
    settings = TrainSettings(epochs=8, batch_size=8, seed=1, **recipe)
    outcome = train_visual_prompt(model, data, settings, device=torch.device("cpu"), progress=False)
    accuracy = (outcome.test_logits.argmax(1) == data.test_labels).float().mean().item()
    assert accuracy >= 0.9
    assert torch.count_nonzero(prompt.left) > 0
