"""SMM prompt: the authors' outputs (golden), budgets, patch-wise masks, resize geometry, gradients, seeds."""

import numpy as np
import pytest
import torch
from torch.nn import functional as F  # noqa: N812
from torchvision.transforms import functional as TF  # noqa: N812

from tests.engine import golden_inputs as gi
from tests.synthetic import colour_data, tiny_source_model
from vpbench.engine import smm
from vpbench.engine.output_mapping import IndexMapping
from vpbench.engine.settings import TrainSettings
from vpbench.engine.training import train_visual_prompt
from vpbench.engine.vp_model import VisualPromptModel
from vpbench.errors import ConfigError

GOLDEN = np.load(gi.GOLDEN_DIR / "smm.npz")
MEAN, STD = gi.IMAGENET_MEAN, gi.IMAGENET_STD


def _prompt(size: int, **kwargs) -> smm.SampleSpecificMaskPrompt:
    return smm.SampleSpecificMaskPrompt(size, MEAN, STD, **kwargs)


# ------------------------------------------------------------------------------ golden (authors' outputs)


@pytest.mark.parametrize(("index", "case"), list(enumerate(gi.SMM_CASES)))
def test_forward_masks_and_gradients_match_the_authors(index, case):
    size, layers, patch, channels, batch = gi.SMM_CASES[case]
    ours = _prompt(size, layers=layers, patch_size=patch, channels=channels)
    gi.fill_module(ours, seed=100 + index)  # the same weights the check copied into the authors' module
    pixels = gi.images(batch, size, seed=200 + index)
    normalised = (pixels - ours.mean) / ours.std
    first_conv = ours.mask_generator.blocks[0][0].weight
    outputs = gi.smm_outputs(
        ours,
        pixels,
        lambda: ours.mask_generator(normalised),
        {"program": ours.program, "conv1": first_conv},
        index,
    )
    for key in ("eval", "patches_eval", "train", "grad_program"):
        if case in gi.SMM_FULL:
            expected = torch.from_numpy(GOLDEN[f"{case}_{key}"])
            torch.testing.assert_close(outputs[key], expected, atol=1e-5, rtol=1e-6)
        else:
            expected = torch.from_numpy(GOLDEN[f"{case}_{key}_sketch"])
            torch.testing.assert_close(gi.sketch(outputs[key]), expected, atol=1e-4, rtol=1e-5)


# ------------------------------------------------------------------------------ budgets and shapes


@pytest.mark.parametrize(
    ("size", "layers", "program", "mask"),
    [
        (224, 5, 150_528, 26_499),
        (224, 6, 150_528, 102_339),
        (384, 6, 442_368, 102_339),
        (64, 5, 12_288, 26_499),
    ],
)
def test_parameter_budget_matches_the_published_architecture(size, layers, program, mask):
    count = smm.smm_parameter_count(size, layers)
    assert count == {"program": program, "mask_generator": mask, "total": program + mask}
    prompt = _prompt(size, layers=layers)
    assert sum(p.numel() for p in prompt.parameters() if p.requires_grad) == program + mask


def test_default_depth_follows_the_source_family():
    assert smm.default_layers("cnn") == 5 and smm.default_layers("vit") == 6
    with pytest.raises(ConfigError):
        smm.default_layers("mlp")


@pytest.mark.parametrize(
    ("kwargs", "size"),
    [({"layers": 4}, 32), ({"patch_size": 3}, 24), ({"channels": 2}, 32), ({"patch_size": 32}, 64), ({}, 36)],
)
def test_unsupported_architectures_are_rejected(kwargs, size):
    with pytest.raises(ConfigError):
        _prompt(size, **kwargs)


@pytest.mark.parametrize(("layers", "patch"), [(5, 1), (5, 2), (5, 4), (5, 8), (5, 16), (6, 8), (6, 32)])
def test_mask_generator_gives_one_value_per_patch(layers, patch):
    generator = smm.MaskGenerator(layers, patch, 3).eval()
    assert generator(torch.randn(2, 3, 64, 64)).shape == (2, 3, 64 // patch, 64 // patch)


def test_patchwise_interpolation_is_nearest_upsampling_with_constant_blocks():
    values = torch.randn(2, 3, 4, 4)
    spread = smm.patchwise_interpolate(values, 8)
    assert spread.shape == (2, 3, 32, 32)
    torch.testing.assert_close(spread, F.interpolate(values, scale_factor=8, mode="nearest"), rtol=0, atol=0)
    assert torch.equal(spread[:, :, 8:16, 24:32], values[:, :, 1:2, 3:4].expand(-1, -1, 8, 8))
    single = smm.patchwise_interpolate(values[:, :1], 8)
    assert torch.equal(single[:, 0], single[:, 1]) and torch.equal(single[:, 1], single[:, 2])


def test_one_channel_masks_are_shared_across_rgb():
    prompt = _prompt(32, layers=5, patch_size=8, channels=1, seed=0).eval()
    masks = prompt.masks(torch.randn(2, 3, 32, 32))
    assert torch.equal(masks[:, 0], masks[:, 1]) and torch.equal(masks[:, 0], masks[:, 2])


def test_masks_are_sample_specific():
    prompt = _prompt(32, patch_size=4, seed=0).eval()
    masks = prompt.masks(torch.randn(2, 3, 32, 32))
    assert not torch.allclose(masks[0], masks[1])


# ------------------------------------------------------------------------------ resize geometry


def test_small_images_are_resized_to_the_whole_input_not_padded():
    prompt = _prompt(64, seed=0).eval()
    images = gi.images(3, 32, seed=0)
    assert prompt.canvas == prompt.input_size == 64
    expected = TF.resize(images, [64, 64], interpolation=TF.InterpolationMode.BILINEAR, antialias=True)
    torch.testing.assert_close(prompt.resize(images), expected)
    # δ = 0 at init, so the prompt is exactly the normalised resized image: no border anywhere
    out = prompt(images)
    assert out.shape == (3, 3, 64, 64)
    torch.testing.assert_close(out, (expected - prompt.mean) / prompt.std)
    flat = prompt(torch.full((1, 3, 32, 32), 0.3))
    torch.testing.assert_close(flat, torch.full_like(flat, 0.3).sub(prompt.mean).div(prompt.std))


def test_images_already_at_the_input_size_are_not_resampled():
    prompt = _prompt(32, seed=0)
    images = gi.images(2, 32, seed=1)
    assert prompt.resize(images) is images


def test_effective_is_the_shared_pattern():
    prompt = _prompt(32, seed=0)
    assert prompt.effective() is prompt.program and prompt.effective().shape == (3, 32, 32)


# ------------------------------------------------------------------------------ gradients and modes


def test_at_init_only_the_pattern_gets_gradient_then_the_mask_cnn_too():
    prompt = _prompt(32, patch_size=4, seed=0).train()
    images = gi.images(4, 32, seed=2)
    prompt(images).square().sum().backward()
    assert prompt.program.grad.abs().sum() > 0
    # δ = 0 multiplies the mask, so the mask CNN's first gradient is exactly zero (as published)
    assert all(torch.count_nonzero(p.grad) == 0 for p in prompt.mask_generator.parameters())
    with torch.no_grad():
        prompt.program.normal_(0, 0.1)
    prompt.zero_grad()
    prompt(images).square().sum().backward()
    assert all(p.grad.abs().sum() > 0 for p in prompt.mask_generator.parameters())
    assert not images.requires_grad


def test_batchnorm_uses_batch_statistics_only_in_train_mode():
    prompt = _prompt(32, patch_size=4, seed=0)
    bn = prompt.mask_generator.blocks[0][1]
    before = bn.running_mean.clone()
    with torch.no_grad():
        prompt.eval()(gi.images(4, 32, seed=3))
        assert torch.equal(bn.running_mean, before)
        prompt.train()(gi.images(4, 32, seed=3))
    assert not torch.equal(bn.running_mean, before)


def test_seed_fixes_the_mask_cnn_init_without_touching_the_global_rng():
    state = torch.get_rng_state()
    first, second = _prompt(32, seed=7), _prompt(32, seed=7)
    assert torch.equal(torch.get_rng_state(), state)
    for (name, a), b in zip(first.state_dict().items(), second.state_dict().values(), strict=True):
        assert torch.equal(a, b), name
    other = _prompt(32, seed=8)
    assert not torch.equal(first.mask_generator.blocks[0][0].weight, other.mask_generator.blocks[0][0].weight)


def test_param_groups_follow_the_published_per_part_learning_rates():
    prompt = _prompt(32, seed=0)
    cnn, vit = smm.smm_param_groups(prompt, "cnn"), smm.smm_param_groups(prompt, "vit")
    assert [(g["lr"], g["gamma"]) for g in cnn] == [(0.01, 0.1), (0.01, 0.1)]
    assert [(g["lr"], g["gamma"]) for g in vit] == [(0.01, 0.1), (0.001, 1.0)]
    grouped = [id(p) for group in cnn for p in group["params"]]
    assert sorted(grouped) == sorted(id(p) for p in prompt.parameters())


# ------------------------------------------------------------------------------ in the training loop


def test_smm_trains_in_the_existing_loop_with_an_ilm_head():
    torch.manual_seed(0)
    prompt = smm.SampleSpecificMaskPrompt(16, (0.5,) * 3, (0.25,) * 3, patch_size=4, seed=0)
    head = IndexMapping(20, 3, init="identity", remap="every")
    model = VisualPromptModel(prompt, tiny_source_model(20), head)
    data = colour_data()  # 8-px images, resized to 16 px by the prompt
    settings = TrainSettings(epochs=8, batch_size=8, lr=0.01, seed=1, eval_batch_size=16)
    outcome = train_visual_prompt(model, data, settings, device=torch.device("cpu"), progress=False)
    accuracy = (outcome.test_logits.argmax(1) == data.test_labels).float().mean().item()
    assert accuracy >= 0.9
    assert prompt.program.abs().sum() > 0 and not prompt.training
