"""BLM / BLM+: ω against the authors' outputs (golden), smoothing, top-k, head interface and the loop."""

import numpy as np
import pytest
import torch

from tests.engine import golden_inputs as gi
from tests.synthetic import colour_data, tiny_source_model
from vpbench.engine import blm, label_mapping, training
from vpbench.engine.prompts import PaddingPrompt
from vpbench.engine.settings import TrainSettings
from vpbench.engine.training import train_visual_prompt
from vpbench.engine.vp_model import VisualPromptModel
from vpbench.errors import ConfigError

GOLDEN = np.load(gi.GOLDEN_DIR / "blm.npz")
ATOL = 1e-6  # ours is float64, the authors' float32: ~1e-8 apart on ω, ~3e-7 on mapped logits
CPU = torch.device("cpu")


def golden(key: str) -> torch.Tensor:
    return torch.from_numpy(GOLDEN[key]).to(torch.float64)


def streamed_head(case: str, variant: str, k: int | None, lap: float) -> blm.BayesianMapping:
    logits, labels, _ = gi.blm_inputs(case)
    head = blm.BayesianMapping(logits.shape[1], int(labels.max()) + 1, variant=variant, topk=k, lap=lap)
    stats = head.make_statistics()
    for start in range(0, len(labels), gi.BLM_BATCH):
        stats.update(logits[start : start + gi.BLM_BATCH], labels[start : start + gi.BLM_BATCH])
    head.remap_from_statistics(stats.statistics)
    return head


# ------------------------------------------------------------------------------ golden (authors' outputs)


@pytest.mark.parametrize("case", list(gi.BLM_CASES))
def test_blm_omega_and_mapped_logits_match_the_authors(case):
    logits, labels, test = gi.blm_inputs(case)
    num_targets = int(labels.max()) + 1
    torch.testing.assert_close(
        blm.blm_omega(logits, labels, num_targets), golden(f"{case}_blm_lap1"), atol=ATOL, rtol=0
    )
    head = streamed_head(case, "blm", None, 1.0)
    torch.testing.assert_close(head.omega.double(), golden(f"{case}_blm_lap1"), atol=ATOL, rtol=0)
    torch.testing.assert_close(head(test).double(), golden(f"{case}_blm_mapped"), atol=1e-5, rtol=0)


@pytest.mark.parametrize("case", list(gi.BLM_CASES))
@pytest.mark.parametrize(("name", "lap"), [("k1", 1.0), ("k3", 1.0), ("k10", 1.0), ("k3", 0.5)])
def test_blm_plus_omega_matches_the_authors_for_each_k_and_lambda(case, name, lap):
    logits, labels, test = gi.blm_inputs(case)
    k = gi.BLM_TOPK[name]
    key = f"{case}_blmp_{name}_lap{lap:g}".replace(".", "p")
    ours = blm.blm_plus_omega(logits, labels, int(labels.max()) + 1, k=k, lap=lap)
    torch.testing.assert_close(ours, golden(key), atol=ATOL, rtol=0)
    head = streamed_head(case, "blm+", k, lap)
    torch.testing.assert_close(head.omega.double(), golden(key), atol=ATOL, rtol=0)
    if lap == 1.0:
        torch.testing.assert_close(
            head(test).double(), golden(f"{case}_blmp_{name}_mapped"), atol=1e-5, rtol=0
        )


def test_golden_cases_are_not_degenerate():
    # the fixtures must exercise structure: different k give different ω, and BLM leaves zero rows
    assert not np.allclose(GOLDEN["c10_blmp_k1_lap1"], GOLDEN["c10_blmp_k10_lap1"])
    assert not np.allclose(GOLDEN["c10_blmp_k3_lap1"], GOLDEN["c10_blmp_k3_lap0p5"])
    assert (GOLDEN["c10_blm_lap1"].sum(axis=1) == 0).any()


# ------------------------------------------------------------------------------ the ω formula


def test_columns_sum_to_one_and_weights_are_non_negative():
    logits, labels, _ = gi.blm_inputs("c10")
    for omega in (blm.blm_omega(logits, labels, 10), blm.blm_plus_omega(logits, labels, 10, k=3)):
        assert omega.shape == (50, 10)
        assert (omega >= 0).all()
        torch.testing.assert_close(omega.sum(dim=0), torch.ones(10, dtype=torch.float64))


def test_laplace_smoothing_favours_frequently_predicted_sources():
    # source 0 was predicted once (for class 0), source 1 ten times (all class 0), source 2 for class 1
    joint = torch.tensor([[1.0, 0.0], [10.0, 0.0], [0.0, 5.0]])
    plain = blm.reweight_matrix(joint, lap=0.0)
    torch.testing.assert_close(plain[:, 0], torch.tensor([0.5, 0.5, 0.0], dtype=torch.float64))
    smoothed = blm.reweight_matrix(joint, lap=1.0)
    expected = torch.tensor([1 / 2, 10 / 11, 0.0], dtype=torch.float64)
    torch.testing.assert_close(smoothed[:, 0], expected / expected.sum())
    assert smoothed[1, 0] > smoothed[0, 0]
    torch.testing.assert_close(smoothed[:, 1], torch.tensor([0.0, 0.0, 1.0], dtype=torch.float64))


def test_smoothing_leaves_zero_rows_zero_and_defines_the_published_nan_cases():
    joint = torch.tensor([[2.0, 0.0], [0.0, 0.0], [1.0, 0.0]])  # source 1 never predicted, class 1 absent
    for lap in (0.0, 1.0):
        omega = blm.reweight_matrix(joint, lap)
        assert not torch.isnan(omega).any()
        assert omega[1, 0] == 0
        torch.testing.assert_close(omega[:, 1], torch.full((3,), 1 / 3, dtype=torch.float64))
    with pytest.raises(ConfigError):
        blm.reweight_matrix(joint, lap=-1.0)


def test_topk_joint_keeps_only_each_samples_k_largest_probabilities():
    logits = torch.tensor([[3.0, 2.0, 1.0, 0.0], [0.0, 0.5, 4.0, 1.0]])
    labels = torch.tensor([0, 1])
    probs = torch.softmax(logits, dim=1).double()
    top1 = blm.topk_probability_joint(logits, labels, 2, k=1)
    expected = torch.zeros(4, 2, dtype=torch.float64)
    expected[0, 0], expected[2, 1] = probs[0, 0], probs[1, 2]
    torch.testing.assert_close(top1, expected)
    top2 = blm.topk_probability_joint(logits, labels, 2, k=2)
    assert torch.count_nonzero(top2) == 4 and top2[1, 0] == pytest.approx(float(probs[0, 1]))
    assert top2[3, 1] == pytest.approx(float(probs[1, 3]))
    everything = blm.topk_probability_joint(logits, labels, 2, k=4)
    torch.testing.assert_close(everything.sum(), torch.tensor(2.0, dtype=torch.float64))
    with pytest.raises(ConfigError):
        blm.topk_probability_joint(logits, labels, 2, k=5)


@pytest.mark.parametrize(("classes", "k"), [(10, 1), (37, 5), (47, 7), (100, 15), (397, 59), (5, 1), (2, 1)])
def test_topk_is_the_published_fraction_but_never_zero(classes, k):
    assert blm.topk_for(classes) == k


def test_argmax_joint_equals_the_existing_ilm_count_matrix():
    logits, labels, _ = gi.blm_inputs("c10")
    counter = label_mapping.PredictionCounter(50, 10)
    counter.update(logits, labels)
    torch.testing.assert_close(blm.argmax_joint(logits, labels, 10), counter.counts.double())


def test_accumulator_is_invariant_to_batching():
    logits, labels, _ = gi.blm_inputs("c10")
    for variant in blm.VARIANTS:
        whole = blm.BayesianStatistics(50, 10, variant, k=3)
        whole.update(logits, labels)
        pieces = blm.BayesianStatistics(50, 10, variant, k=3)
        for start in range(0, 200, 7):
            pieces.update(logits[start : start + 7], labels[start : start + 7])
        assert pieces.num_samples == whole.num_samples == 200
        torch.testing.assert_close(pieces.statistics, whole.statistics)


def test_bad_inputs_are_rejected():
    with pytest.raises(ValueError, match="labels must lie"):
        blm.argmax_joint(torch.randn(3, 5), torch.tensor([0, 1, 4]), 3)
    with pytest.raises(ValueError, match="expected source logits"):
        blm.BayesianStatistics(5, 3).update(torch.randn(3, 6), torch.tensor([0, 1, 2]))
    with pytest.raises(ConfigError):
        blm.BayesianMapping(5, 3, variant="blm++")


# ------------------------------------------------------------------------------ the head


def test_head_interface_and_change_count():
    head = blm.BayesianMapping(50, 10)
    assert head.trainable is False and list(head.parameters()) == []
    assert all(head.needs_remap(epoch) for epoch in range(5))
    assert not blm.BayesianMapping(50, 10, interval=2).needs_remap(1)
    logits, labels, test = gi.blm_inputs("c10")
    first_fit = head.remap_from_statistics(blm.argmax_joint(logits, labels, 10))
    assert first_fit == 0  # like count_changed(None, ·): nothing to compare with yet
    assert torch.equal(head.first_sources(), head.omega.argmax(dim=0))
    assert head.first_sources().shape == (10,)
    shuffled = labels[torch.randperm(200, generator=torch.Generator().manual_seed(0))]
    changed = head.remap_from_statistics(blm.argmax_joint(logits, shuffled, 10))
    assert 0 < changed <= 10
    assert head(test).shape == (16, 10)


def test_blm_plus_refuses_argmax_counts_but_blm_accepts_them():
    counts = torch.randint(0, 3, (50, 10))
    with pytest.raises(ConfigError, match="top-k"):
        blm.BayesianMapping(50, 10, variant="blm+").remap_from_counts(counts)
    head = blm.BayesianMapping(50, 10)
    head.remap_from_counts(counts)
    torch.testing.assert_close(head.omega, blm.reweight_matrix(counts.double()).float())


def test_omega_is_checkpointed_with_the_head_state_dict():
    test = gi.blm_inputs("c10")[2]
    head = streamed_head("c10", "blm+", 3, 1.0)
    restored = blm.BayesianMapping(50, 10, variant="blm+", topk=3)
    restored.load_state_dict(head.state_dict())
    assert bool(restored.fitted)
    assert torch.equal(restored(test), head(test))


def test_mapped_outputs_stay_float32_under_autocast_and_pass_gradients_to_logits():
    head = streamed_head("c10", "blm", None, 1.0)
    logits = torch.randn(4, 50, requires_grad=True)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = head(logits)
    assert out.dtype == torch.float32
    out.sum().backward()
    torch.testing.assert_close(logits.grad, head.omega.sum(dim=1).expand(4, -1))


# ------------------------------------------------------------------------------ wiring into the loop


def _blm_model(variant: str) -> VisualPromptModel:
    prompt = PaddingPrompt(16, 8, (0.5, 0.5, 0.5), (0.25, 0.25, 0.25))
    return VisualPromptModel(prompt, tiny_source_model(20), blm.BayesianMapping(20, 3, variant=variant))


def _settings() -> TrainSettings:
    return TrainSettings(epochs=8, batch_size=8, lr=0.01, seed=1, eval_batch_size=16)  # published lr


def test_blm_trains_through_the_existing_count_pass_unchanged():
    data = colour_data()
    model = _blm_model("blm")
    outcome = train_visual_prompt(model, data, _settings(), device=CPU, progress=False)
    accuracy = (outcome.test_logits.argmax(1) == data.test_labels).float().mean().item()
    assert accuracy >= 0.9
    assert bool(model.head.fitted)


def test_blm_plus_trains_with_its_statistics_pass_swapped_in(monkeypatch):
    calls = []

    def remap(run):
        calls.append(run.epoch)
        return blm.remap_bayesian(run)

    monkeypatch.setattr(training, "_remap", remap)
    data = colour_data()
    outcome = train_visual_prompt(_blm_model("blm+"), data, _settings(), device=CPU, progress=False)
    assert calls == list(range(8))  # before every epoch, epoch 0 included
    accuracy = (outcome.test_logits.argmax(1) == data.test_labels).float().mean().item()
    assert accuracy >= 0.9
