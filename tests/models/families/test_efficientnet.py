"""EfficientNet-Lite0 from the PyPI package: lukemelas keys → timm, strict load, plausible predictions."""

from __future__ import annotations

import torch

from tests.models.families.test_torchvision_dense import grace_hopper, top_classes
from vpbench.models import get_model_family
from vpbench.models.acquire import acquire_weights, load_pretrained
from vpbench.models.remaps import lukemelas_efficientnet_lite
from vpbench.sources.checksums import safe_torch_load


def test_remap_covers_every_tensor_of_the_real_file(tmp_path):
    family = get_model_family("efficientnet_lite0")
    raw = safe_torch_load(acquire_weights("efficientnet_lite0", tmp_path), family.weights.sha256)
    remapped = lukemelas_efficientnet_lite(raw)
    assert len(remapped) == len(raw) == 296
    assert torch.equal(remapped["blocks.0.0.conv_dw.weight"], raw["_blocks.0._depthwise_conv.weight"])
    assert torch.equal(remapped["blocks.5.3.conv_pwl.weight"], raw["_blocks.14._project_conv.weight"])
    assert torch.equal(remapped["classifier.bias"], raw["_fc.bias"])


def test_real_efficientnet_lite0_gives_a_plausible_top1(tmp_path):
    model = load_pretrained("efficientnet_lite0", tmp_path, allow_network=False)
    family = get_model_family("efficientnet_lite0")
    top = top_classes(model, grace_hopper(family.input_size, family.mean, family.std))
    assert top[0] in {"academic gown", "mortarboard", "military uniform", "bow tie"}
    assert "military uniform" in top or "bow tie" in top
