"""Prompt geometry, pixel ranges and gradients (vp_methods.md §1.2, §5.2, §5.3)."""

import pytest
import torch

from vpbench.engine.prompts import AdditiveFramePrompt, PaddingPrompt, PadPrompter, padding_geometry

MEAN, STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)


@pytest.mark.parametrize(
    ("canvas", "size", "expected"),
    [(224, 32, (96, 96)), (224, 128, (48, 48)), (224, 127, (49, 48)), (128, 64, (32, 32)), (9, 4, (3, 2))],
)
def test_padding_geometry_puts_the_odd_pixel_left_and_top(canvas, size, expected):
    assert padding_geometry(canvas, size) == expected
    assert sum(expected) + size == canvas


def test_padding_prompt_mask_counts_match_the_published_trainable_pixels():
    assert int(PaddingPrompt(224, 32, MEAN, STD).mask.sum()) == 147_456
    assert int(PaddingPrompt(224, 128, MEAN, STD).mask.sum()) == 101_376


def test_padding_prompt_starts_grey_and_never_touches_image_pixels():
    prompt = PaddingPrompt(16, 6, MEAN, STD)
    images = torch.rand(2, 3, 6, 6)
    out = prompt(images)
    pixels = out * prompt.std + prompt.mean  # back to [0,1] pixel space
    assert torch.allclose(pixels[..., 5:11, 5:11], images, atol=1e-6)  # left/top pad = (16-6+1)//2 = 5
    border = pixels.clone()
    border[..., 5:11, 5:11] = 0.5
    assert torch.allclose(border, torch.full_like(border, 0.5), atol=1e-6)  # sigmoid(0) = 0.5 grey


def test_padding_prompt_pixels_stay_in_unit_range_for_any_delta():
    prompt = PaddingPrompt(12, 4, MEAN, STD)
    with torch.no_grad():
        prompt.delta.normal_(0, 50)
    pixels = prompt(torch.rand(3, 3, 4, 4)) * prompt.std + prompt.mean
    assert pixels.min() >= -1e-6 and pixels.max() <= 1 + 1e-6


def test_padding_prompt_gradient_is_zero_on_the_image_area():
    prompt = PaddingPrompt(12, 4, MEAN, STD)
    prompt(torch.rand(2, 3, 4, 4)).square().sum().backward()
    grad = prompt.delta.grad[0]
    assert torch.count_nonzero(grad[:, 4:8, 4:8]) == 0
    assert torch.count_nonzero(grad) == 3 * (144 - 16)


def test_padding_prompt_effective_is_sigmoid_delta_on_the_border():
    prompt = PaddingPrompt(10, 4, MEAN, STD)
    with torch.no_grad():
        prompt.delta.fill_(2.0)
    effective = prompt.effective()
    assert effective.shape == (3, 10, 10)
    assert torch.allclose(effective[:, 0, 0], torch.sigmoid(torch.tensor(2.0)).expand(3))
    assert torch.all(effective[:, 3:7, 3:7] == 0)


def test_additive_frame_is_zero_initialised_and_added_after_normalisation():
    prompt = AdditiveFramePrompt(100, MEAN, STD, frame=30)
    images = torch.rand(2, 3, 100, 100)
    expected = (images - prompt.mean) / prompt.std
    assert torch.equal(prompt(images), expected)
    assert int(prompt.mask[0, 0].sum()) == 100 * 100 - 40 * 40
    with torch.no_grad():
        prompt.delta.fill_(1.0)
    assert torch.allclose(prompt(images)[..., 50, 50], expected[..., 50, 50])  # centre untouched
    assert torch.allclose(prompt(images)[..., 0, 0], expected[..., 0, 0] + 1)


def test_bahng_pad_prompter_has_the_published_parameter_count_and_order():
    generator = torch.Generator().manual_seed(0)
    prompt = PadPrompter(224, MEAN, STD, pad=30, generator=generator)
    assert sum(p.numel() for p in prompt.parameters()) == 69_840
    assert [name for name, _ in prompt.named_parameters()] == ["pad_up", "pad_down", "pad_left", "pad_right"]
    reference = torch.Generator().manual_seed(0)
    assert torch.equal(prompt.pad_up, torch.randn(1, 3, 30, 224, generator=reference))
    frame = prompt.effective()
    assert torch.count_nonzero(frame[:, 30:194, 30:194]) == 0
    assert torch.equal(frame[:, :30, :], prompt.pad_up[0])
    assert torch.equal(frame[:, 30:194, :30], prompt.pad_left[0])


@pytest.mark.parametrize("bad", [(8, 10)])
def test_prompts_reject_impossible_geometry(bad):
    canvas, size = bad
    with pytest.raises(ValueError, match="exceeds canvas"):
        PaddingPrompt(canvas, size, MEAN, STD)
    with pytest.raises(ValueError, match="leaves no image"):
        AdditiveFramePrompt(40, MEAN, STD, frame=20)
