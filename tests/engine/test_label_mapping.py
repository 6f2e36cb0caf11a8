"""Tests for vpbench.engine.label_mapping: RLM, FLM/ILM/FreqMap greedy rules (§2.2, §6), round robin (§7)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from vpbench.engine.label_mapping import (
    FullyMap,
    PredictionCounter,
    apply_mapping,
    count_changed,
    count_predictions,
    first_argmax,
    greedy_assignment,
    random_mapping,
    round_robin_mapping,
)
from vpbench.errors import ConfigError, NumericalError


def _counts(num_sources: int, num_targets: int, entries: dict[tuple[int, int], int]) -> torch.Tensor:
    counts = torch.zeros(num_sources, num_targets, dtype=torch.long)
    for (source, target), value in entries.items():
        counts[source, target] = value
    return counts


# --- RLM -------------------------------------------------------------------------------------------


def test_random_mapping_is_prefix_of_seeded_permutation():
    expected = torch.randperm(1000, generator=torch.Generator().manual_seed(3))[:10]
    assert torch.equal(random_mapping(1000, 10, seed=3), expected)
    assert random_mapping(1000, 10, seed=3).dtype == torch.long


def test_random_mapping_ignores_global_rng():
    torch.manual_seed(0)
    first = random_mapping(50, 7, seed=11)
    torch.manual_seed(123)
    torch.randn(1000)  # model construction consumes global RNG; the map must not change
    assert torch.equal(random_mapping(50, 7, seed=11), first)
    assert not torch.equal(random_mapping(50, 7, seed=12), first)


def test_random_mapping_many_to_one_chunks_of_m():
    perm = torch.randperm(40, generator=torch.Generator().manual_seed(5))
    mapping = random_mapping(40, 4, seed=5, per_target=3)
    assert mapping.shape == (4, 3)
    assert torch.equal(mapping[1], perm[3:6])  # target 1 gets the second chunk of m
    assert mapping.unique().numel() == 12


def test_random_mapping_rejects_too_few_sources():
    with pytest.raises(ConfigError, match="per_target"):
        random_mapping(10, 4, seed=0, per_target=3)


# --- counting --------------------------------------------------------------------------------------


def test_count_predictions_hand_example_with_absent_class():
    # samples (ŝ, y): (2,0) (2,0) (0,1) (2,1); class 2 is absent → zero column, width stays C = 3.
    counts = count_predictions(torch.tensor([2, 2, 0, 2]), torch.tensor([0, 0, 1, 1]), 4, 3)
    expected = _counts(4, 3, {(2, 0): 2, (0, 1): 1, (2, 1): 1})
    assert torch.equal(counts, expected)


def test_count_predictions_rejects_out_of_range_labels():
    with pytest.raises(ValueError, match="labels must lie"):
        count_predictions(torch.tensor([0]), torch.tensor([3]), 4, 3)


def test_first_argmax_takes_first_maximum():
    logits = torch.tensor([[0.0, 1.0, 3.0, 3.0], [5.0, 5.0, 5.0, 5.0], [-1.0, -2.0, -1.0, -3.0]])
    assert first_argmax(logits).tolist() == [2, 0, 0]
    ties = torch.randint(0, 3, (64, 50), generator=torch.Generator().manual_seed(0)).float()
    assert torch.equal(first_argmax(ties), torch.argmax(ties, dim=1))  # torch documents first-max too


def test_first_argmax_rejects_nan():
    with pytest.raises(NumericalError):
        first_argmax(torch.tensor([[0.0, float("nan")]]))


def test_prediction_counter_matches_one_shot_count():
    generator = torch.Generator().manual_seed(1)
    logits = torch.randint(0, 4, (37, 9), generator=generator).float()  # many ties
    labels = torch.randint(0, 3, (37,), generator=generator)
    counter = PredictionCounter(9, 3)
    for start in range(0, 37, 8):
        counter.update(logits[start : start + 8], labels[start : start + 8])
    assert counter.num_samples == 37
    assert torch.equal(counter.counts, count_predictions(first_argmax(logits), labels, 9, 3))


def test_prediction_counter_rejects_wrong_width():
    with pytest.raises(ValueError, match="source logits"):
        PredictionCounter(9, 3).update(torch.zeros(2, 8), torch.zeros(2, dtype=torch.long))


# --- greedy assignment (§2.2 worked cases and tie rules) --------------------------------------------


@pytest.mark.parametrize(
    ("entries", "expected"),
    [
        ({(4, 0): 3, (4, 1): 3, (5, 1): 1}, [4, 5, 0]),
        ({(4, 0): 3, (4, 1): 4, (2, 0): 1}, [2, 4, 0]),
        ({}, [0, 1, 2]),
        ({(1, 0): 2, (3, 0): 2, (3, 1): 2}, [1, 3, 0]),
    ],
)
def test_greedy_worked_cases(entries, expected):
    assert greedy_assignment(_counts(6, 3, entries)).tolist() == expected


def test_greedy_collision_higher_count_wins_and_loser_takes_its_next_best():
    # Targets 0 and 1 both prefer source 2; target 1 has the higher count, so target 0 falls back to
    # its own second best (source 5), not to a zero-count source.
    counts = _counts(6, 2, {(2, 0): 5, (2, 1): 7, (5, 0): 1})
    assert greedy_assignment(counts).tolist() == [5, 2]


def test_greedy_equal_counts_lowest_source_then_lowest_target():
    # Same count 4 on (3,1) and (1,2): source 1 comes first in row-major order. Then (3,0) and (3,1)
    # tie at 4: the lower target (0) wins source 3, and target 1 is left with the lowest unused source 0.
    counts = _counts(5, 3, {(3, 1): 4, (1, 2): 4, (3, 0): 4})
    assert greedy_assignment(counts).tolist() == [3, 0, 1]


def test_greedy_zero_rows_fill_lowest_unused_sources_in_target_order():
    # Only target 2 has a positive count (on source 0); targets 0 and 1 then take 1 and 2.
    assert greedy_assignment(_counts(4, 3, {(0, 2): 1})).tolist() == [1, 2, 0]


def test_greedy_many_to_one_freqmap():
    # m = 2, S = 6, C = 2. Order of picks: (0,0)=9, (1,0)=8 → target 0 full; (2,1)=3; then the counts
    # left for target 1 are zero, so it takes the lowest unused source 3.
    counts = _counts(6, 2, {(0, 0): 9, (1, 0): 8, (0, 1): 8, (2, 1): 3, (4, 0): 5})
    assert greedy_assignment(counts, per_target=2).tolist() == [[0, 1], [2, 3]]


def test_greedy_many_to_one_all_zero_leftover():
    assert greedy_assignment(torch.zeros(7, 3), per_target=2).tolist() == [[0, 1], [2, 3], [4, 5]]


def test_greedy_accepts_float_counts_and_rejects_bad_input():
    assert greedy_assignment(_counts(6, 3, {(4, 0): 3}).double()).tolist() == [4, 0, 1]
    with pytest.raises(ValueError, match="non-negative"):
        greedy_assignment(-torch.ones(4, 2))
    with pytest.raises(ConfigError, match="per_target"):
        greedy_assignment(torch.zeros(5, 3), per_target=2)


def _reference_greedy(counts: np.ndarray, per_target: int) -> list[list[int]]:
    """Independent replica (AutoVP's formulation): visit all (s, t) pairs by descending count, ties in
    row-major order, and accept a pair when the source is unused and the target is not yet full."""
    num_targets = counts.shape[1]
    flat = counts.reshape(-1)
    visit = sorted(range(flat.size), key=lambda k: (-flat[k], k))
    used: set[int] = set()
    assigned: list[list[int]] = [[] for _ in range(num_targets)]
    for k in visit:
        source, target = divmod(k, num_targets)
        if source not in used and len(assigned[target]) < per_target:
            assigned[target].append(source)
            used.add(source)
    return [sorted(sources) for sources in assigned]


@pytest.mark.parametrize("per_target", [1, 2, 3])
def test_greedy_matches_reference_on_random_counts(per_target):
    rng = np.random.default_rng(per_target)
    for _ in range(60):
        num_targets = int(rng.integers(1, 6))
        num_sources = int(rng.integers(num_targets * per_target, num_targets * per_target + 8))
        counts = rng.integers(0, 4, size=(num_sources, num_targets))  # small range: many ties and zeros
        counts[rng.random(counts.shape) < 0.5] = 0
        got = greedy_assignment(torch.from_numpy(counts), per_target)
        expected = _reference_greedy(counts, per_target)
        got_rows = got.view(num_targets, per_target).tolist()
        assert got_rows == expected, counts


# --- applying and comparing maps ---------------------------------------------------------------------


def test_apply_mapping_gather_mean_max():
    logits = torch.tensor([[0.0, 1.0, 2.0, 3.0, 4.0], [10.0, 11.0, 12.0, 13.0, 14.0]])
    assert apply_mapping(logits, torch.tensor([4, 0])).tolist() == [[4.0, 0.0], [14.0, 10.0]]
    many = torch.tensor([[1, 3], [0, 4]])
    assert apply_mapping(logits, many, "mean").tolist() == [[2.0, 2.0], [12.0, 12.0]]
    assert apply_mapping(logits, many, "max").tolist() == [[3.0, 4.0], [13.0, 14.0]]


def test_apply_mapping_is_differentiable_and_checks_reduction():
    logits = torch.zeros(1, 4, requires_grad=True)
    apply_mapping(logits, torch.tensor([[0, 2], [1, 3]]), "mean").sum().backward()
    assert logits.grad.tolist() == [[0.5, 0.5, 0.5, 0.5]]
    with pytest.raises(ConfigError, match="allowed: mean, max"):
        apply_mapping(logits, torch.tensor([0]), "sum")


def test_count_changed():
    assert count_changed(None, torch.tensor([1, 2, 3])) == 0
    assert count_changed(torch.tensor([1, 2, 3]), torch.tensor([1, 5, 4])) == 2
    old, new = torch.tensor([[1, 2], [3, 4]]), torch.tensor([[2, 1], [3, 5]])
    assert count_changed(old, new) == 1  # target 0 only reordered its sources
    with pytest.raises(ValueError, match="shapes differ"):
        count_changed(torch.tensor([1, 2]), torch.tensor([1, 2, 3]))


# --- FullyMap and round robin ------------------------------------------------------------------------


def test_fully_map_identity_init_passes_first_sources_through():
    layer = FullyMap(6, 3, identity_init=True)
    logits = torch.arange(12.0).view(2, 6)
    assert torch.equal(layer(logits), logits[:, :3])
    assert layer.linear.weight.requires_grad and layer.linear.bias.requires_grad


def test_fully_map_default_init_and_shape_checks():
    torch.manual_seed(0)
    layer = FullyMap(6, 3)
    assert layer(torch.randn(4, 6)).shape == (4, 3)
    assert layer.linear.weight.abs().sum() > 0
    with pytest.raises(ConfigError, match="identity_init"):
        FullyMap(2, 3, identity_init=True)


def test_round_robin_hand_example():
    # order = argsort ascending over S = 7; C = 3, m = 2: class c gets order[c] and order[c + 3].
    order = torch.tensor([6, 5, 4, 3, 2, 1, 0])
    assert round_robin_mapping(order, 3, 2).tolist() == [[6, 3], [5, 2], [4, 1]]
    assert round_robin_mapping(order, 3, 1).tolist() == [[6], [5], [4]]


def test_round_robin_rejects_bad_order():
    with pytest.raises(ConfigError):
        round_robin_mapping(torch.arange(5), 3, 2)
    with pytest.raises(ValueError, match="repeat"):
        round_robin_mapping(torch.tensor([0, 0, 1, 2]), 2, 1)
