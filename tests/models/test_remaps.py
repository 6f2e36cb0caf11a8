"""Key remaps: the error paths that protect against silently wrong layouts."""

from __future__ import annotations

import pytest
import torch

from vpbench.models.registry import CheckpointMismatchError
from vpbench.models.remaps import (
    apply_lottery_mask,
    lukemelas_efficientnet_lite,
    rename_keys,
    sparseml_resnet,
    strip_prefix,
    unwrap_masked_layers,
)


def test_strip_prefix_only_touches_prefixed_keys():
    assert list(strip_prefix({"module.a": 1, "b.module.c": 2}, "module.")) == ["a", "b.module.c"]


def test_first_matching_rule_wins():
    rules = [(r"^x\.", "y."), (r"^x\.", "z.")]
    assert list(rename_keys({"x.w": 0, "q.w": 1}, rules)) == ["y.w", "q.w"]


def test_sparseml_keeps_unknown_keys_for_the_strict_load_to_name():
    state = sparseml_resnet(
        {"state_dict": {"input.conv.weight": torch.ones(1), "mystery.weight": torch.ones(1)}}
    )
    assert set(state) == {"conv1.weight", "mystery.weight"}


def test_mask_shape_mismatch_is_an_error():
    state = {"fc._layer.weight": torch.ones(2, 3), "fc._weight_mask": torch.ones(3, 2)}
    with pytest.raises(CheckpointMismatchError, match=r"fc\._weight_mask has shape \(3, 2\)"):
        unwrap_masked_layers(state)


def test_unwrapped_bias_uses_its_mask():
    state = {"fc._layer.bias": torch.tensor([1.0, 2.0]), "fc._bias_mask": torch.tensor([0.0, 1.0])}
    assert torch.equal(unwrap_masked_layers(state)["fc.bias"], torch.tensor([0.0, 2.0]))


def test_lottery_mask_without_weight_is_an_error():
    with pytest.raises(CheckpointMismatchError, match=r"'model\.conv9\.weight' has no weight"):
        apply_lottery_mask({"model.conv1.weight": torch.ones(1)}, {"model.conv9.weight": torch.ones(1)})


def test_efficientnet_block_index_beyond_the_stages_is_an_error():
    with pytest.raises(CheckpointMismatchError, match="block 16 beyond the 16 blocks"):
        lukemelas_efficientnet_lite({"_blocks.16._bn0.weight": torch.ones(1)})
