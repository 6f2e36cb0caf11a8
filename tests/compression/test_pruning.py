"""Magnitude and N:M pruning hit the requested sparsity exactly on real torchvision models; GMP schedule."""

from __future__ import annotations

import copy
import itertools

import pytest
import torch
import torchvision
from torch import nn
from torch.nn.utils import prune

from vpbench.compression.model_card import remaining_pct_paper
from vpbench.compression.pruning import (
    first_conv_name,
    follows_n_m_pattern,
    gmp_cubic_schedule,
    magnitude_prune,
    measure_sparsity,
    paper_scope,
    prunable_layers,
    semi_structured_prune,
)
from vpbench.errors import ConfigError

BUILDERS = {"mobilenet_v2": torchvision.models.mobilenet_v2, "resnet18": torchvision.models.resnet18}


@pytest.fixture(scope="module")
def dense_models() -> dict[str, nn.Module]:
    torch.manual_seed(0)
    return {name: builder(weights=None).eval() for name, builder in BUILDERS.items()}


@pytest.mark.parametrize("scope", ["global", "layerwise"])
@pytest.mark.parametrize("sparsity", [0.3, 0.5, 0.9])
@pytest.mark.parametrize("name", sorted(BUILDERS))
def test_magnitude_prune_reaches_requested_sparsity(dense_models, name, scope, sparsity):
    dense = dense_models[name]
    model = magnitude_prune(copy.deepcopy(dense), sparsity, scope)
    assert measure_sparsity(model) == pytest.approx(sparsity, abs=1e-3)
    # Permanent: no masks or *_orig parameters left, same keys as the dense model.
    assert sorted(model.state_dict()) == sorted(dense.state_dict())
    assert all(not module._forward_pre_hooks for module in model.modules())
    if scope == "layerwise":
        for _, module in prunable_layers(model):
            zeros = int((module.weight == 0).sum())
            assert abs(zeros - sparsity * module.weight.numel()) <= 1


def test_global_prune_removes_smallest_magnitudes(dense_models):
    dense = dense_models["mobilenet_v2"]
    model = magnitude_prune(copy.deepcopy(dense), 0.5, "global")
    dense_weights = torch.cat([m.weight.abs().flatten() for _, m in prunable_layers(dense)])
    pruned_weights = torch.cat([m.weight.flatten() for _, m in prunable_layers(model)])
    threshold = dense_weights.kthvalue(round(0.5 * dense_weights.numel())).values
    assert bool((dense_weights[pruned_weights == 0] <= threshold).all())
    kept = pruned_weights != 0
    assert torch.equal(pruned_weights[kept].abs(), dense_weights[kept])


@pytest.mark.parametrize("scope", ["global", "layerwise"])
def test_masks_equal_torch_l1_unstructured(dense_models, scope):
    ours = magnitude_prune(copy.deepcopy(dense_models["mobilenet_v2"]), 0.7, scope)
    reference = copy.deepcopy(dense_models["mobilenet_v2"])
    targets = [(module, "weight") for _, module in prunable_layers(reference)]
    if scope == "global":
        prune.global_unstructured(targets, pruning_method=prune.L1Unstructured, amount=0.7)
    else:
        for module, name in targets:
            prune.l1_unstructured(module, name, amount=0.7)
    for (_, mine), (module, _) in zip(prunable_layers(ours), targets, strict=True):
        assert torch.equal(mine.weight == 0, module.weight_mask == 0)


def test_paper_scope_leaves_first_conv_and_linear_dense(dense_models):
    model = copy.deepcopy(dense_models["resnet18"])
    assert first_conv_name(model) == "conv1"
    magnitude_prune(model, 0.8, "global", include=paper_scope(model))
    assert int((model.conv1.weight == 0).sum()) == 0
    assert int((model.fc.weight == 0).sum()) == 0
    assert remaining_pct_paper(model) == pytest.approx(20.0, abs=0.1)


def test_pruned_model_still_backpropagates_to_input(dense_models):
    model = magnitude_prune(copy.deepcopy(dense_models["mobilenet_v2"]), 0.5).requires_grad_(False)
    image = torch.randn(1, 3, 32, 32, requires_grad=True)
    model(image).sum().backward()
    assert image.grad is not None and bool(image.grad.abs().sum() > 0)


def test_magnitude_prune_rejects_bad_arguments(dense_models):
    model = copy.deepcopy(dense_models["mobilenet_v2"])
    with pytest.raises(ConfigError, match="sparsity"):
        magnitude_prune(model, 1.0)
    with pytest.raises(ConfigError, match="global, layerwise"):
        magnitude_prune(model, 0.5, "per-block")
    with pytest.raises(ConfigError, match="no prunable"):
        magnitude_prune(model, 0.5, include=lambda name, module: False)


def test_two_four_pattern_on_eligible_layers_and_skips_the_rest(dense_models):
    model, skipped = semi_structured_prune(copy.deepcopy(dense_models["resnet18"]), n=2, m=4)
    assert skipped == ["conv1"]  # 3 × 7 × 7 = 147 inputs, not divisible by 4
    for name, module in prunable_layers(model):
        if name in skipped:
            assert int((module.weight == 0).sum()) == 0
            continue
        groups = module.weight.reshape(module.weight.shape[0], -1, 4)
        assert bool(((groups == 0).sum(-1) == 2).all()), name
        assert follows_n_m_pattern(module.weight, 2, 4)


def test_two_four_skips_depthwise_convs_of_mobilenet(dense_models):
    model, skipped = semi_structured_prune(copy.deepcopy(dense_models["mobilenet_v2"]))
    depthwise = [
        name for name, module in prunable_layers(model) if isinstance(module, nn.Conv2d) and module.groups > 1
    ]
    assert skipped == ["features.0.0", *depthwise]
    assert len(depthwise) == 17
    assert measure_sparsity(model) == pytest.approx(0.5, abs=0.01)


def test_n_m_keeps_the_largest_magnitudes_of_each_group():
    layer = nn.Linear(8, 1, bias=False)
    with torch.no_grad():
        layer.weight.copy_(torch.tensor([[0.1, -3.0, 2.0, 0.5, -0.2, 0.3, -0.4, 0.05]]))
    semi_structured_prune(layer, n=1, m=4)
    assert torch.equal(layer.weight, torch.tensor([[0.0, -3.0, 0.0, 0.0, 0.0, 0.0, -0.4, 0.0]]))
    with pytest.raises(ConfigError, match="0 < n < m"):
        semi_structured_prune(layer, n=4, m=4)


def test_gmp_cubic_schedule_follows_zhu_gupta():
    assert gmp_cubic_schedule(0, 100, 0.0, 0.9) == pytest.approx(0.0)
    assert gmp_cubic_schedule(100, 100, 0.0, 0.9) == pytest.approx(0.9)
    assert gmp_cubic_schedule(50, 100, 0.1, 0.9) == pytest.approx(0.9 - 0.8 / 8)
    assert gmp_cubic_schedule(250, 100, 0.1, 0.9) == pytest.approx(0.9)
    steps = [gmp_cubic_schedule(t, 10, 0.0, 0.8) for t in range(11)]
    increments = [b - a for a, b in itertools.pairwise(steps)]
    assert all(later < earlier for earlier, later in itertools.pairwise(increments))
    with pytest.raises(ConfigError, match="total"):
        gmp_cubic_schedule(1, 0, 0.0, 0.5)
    with pytest.raises(ConfigError, match="s_final"):
        gmp_cubic_schedule(1, 10, 0.0, 1.5)
