"""The single training loop: learning, frozen weights, re-mapping cadence, determinism and exact resume."""

import math
import os
import signal

import pandas as pd
import pytest
import torch

from tests.synthetic import colour_data, tiny_vp_model
from vpbench.engine import training
from vpbench.engine.checkpointing import CheckpointStore, PreemptedError
from vpbench.engine.training import Selection, TrainSettings, train_visual_prompt
from vpbench.errors import ConfigError, NumericalError

CPU = torch.device("cpu")


def same_history(first: list[dict], second: list[dict]) -> bool:
    """Row-by-row equality where NaN equals NaN (histories loaded from a checkpoint hold new NaN objects)."""
    return pd.DataFrame(first).equals(pd.DataFrame(second))


def settings(**overrides) -> TrainSettings:
    values = {"epochs": 6, "batch_size": 8, "lr": 0.1, "seed": 1, "eval_batch_size": 16}
    values.update(overrides)
    return TrainSettings(**values)


@pytest.mark.parametrize(("method", "floor"), [("rlm", 0.6), ("flm", 0.9), ("ilm", 0.9), ("fullymap", 0.9)])
def test_each_method_learns_the_separable_task_well_above_chance(method, floor):
    data = colour_data()
    outcome = train_visual_prompt(
        tiny_vp_model(method, seed=1), data, settings(epochs=15), device=CPU, progress=False
    )
    accuracy = (outcome.test_logits.argmax(1) == data.test_labels).float().mean().item()
    assert accuracy >= floor > 1 / 3


def test_frozen_model_gets_no_gradients_and_keeps_bn_statistics():
    model = tiny_vp_model("ilm", seed=1)
    bn = model.source_model[1]
    before = {k: v.clone() for k, v in model.source_model.state_dict().items()}
    train_visual_prompt(model, colour_data(), settings(epochs=2), device=CPU, progress=False)
    assert all(p.grad is None and not p.requires_grad for p in model.source_model.parameters())
    assert not bn.training
    for key, value in model.source_model.state_dict().items():
        assert torch.equal(value, before[key]), key
    assert model.prompt.delta.grad is not None


@pytest.mark.parametrize(("method", "passes"), [("rlm", 0), ("flm", 1), ("ilm", 6)])
def test_frequency_passes_run_once_for_flm_and_every_epoch_for_ilm(monkeypatch, method, passes):
    calls = []
    original = training.frequency_counts

    def counting(model, *args, **kwargs):
        calls.append(model.prompt.delta.detach().clone())
        return original(model, *args, **kwargs)

    monkeypatch.setattr(training, "frequency_counts", counting)
    outcome = train_visual_prompt(
        tiny_vp_model(method, 1), colour_data(), settings(), device=CPU, progress=False
    )
    assert len(calls) == passes
    if method == "ilm":
        assert torch.count_nonzero(calls[0]) == 0  # epoch 0 maps with the initial (grey) prompt
        assert not torch.equal(calls[0], calls[-1])  # later passes see the current prompt
        assert all(row["mapping_changes"] >= 0 for row in outcome.history)


def test_rlm_map_depends_on_the_seed_only_not_on_the_model():
    first = tiny_vp_model("rlm", seed=3, num_sources=20)
    torch.manual_seed(123)  # consuming global RNG (e.g. building another model) must not matter
    second = tiny_vp_model("rlm", seed=3, num_sources=20)
    assert torch.equal(first.head.mapping, second.head.mapping)
    assert not torch.equal(first.head.mapping, tiny_vp_model("rlm", seed=4).head.mapping)


def test_same_seed_twice_gives_identical_results():
    runs = [
        train_visual_prompt(tiny_vp_model("ilm", 1), colour_data(), settings(), device=CPU, progress=False)
        for _ in range(2)
    ]
    assert same_history(runs[0].history, runs[1].history)
    assert torch.equal(runs[0].test_logits, runs[1].test_logits)


class _InterruptError(RuntimeError):
    pass


@pytest.mark.parametrize("stop_after_steps", [1, 4, 9, 13, 22])
def test_interrupted_run_resumes_to_the_identical_result(tmp_path, monkeypatch, stop_after_steps):
    data = colour_data()
    reference = train_visual_prompt(tiny_vp_model("ilm", 1), data, settings(), device=CPU, progress=False)
    store = CheckpointStore(tmp_path / "ckpt")
    model = tiny_vp_model("ilm", 1)
    steps = {"n": 0}
    original_step = torch.optim.Adam.step

    def failing_step(self, *args, **kwargs):
        steps["n"] += 1
        if steps["n"] > stop_after_steps:
            raise _InterruptError
        return original_step(self, *args, **kwargs)

    monkeypatch.setattr(torch.optim.Adam, "step", failing_step)
    with pytest.raises(_InterruptError):
        train_visual_prompt(model, data, settings(), device=CPU, store=store, progress=False)
    monkeypatch.setattr(torch.optim.Adam, "step", original_step)
    resumed = train_visual_prompt(
        tiny_vp_model("ilm", 1), data, settings(), device=CPU, store=store, progress=False
    )
    assert same_history(resumed.history, reference.history)
    assert torch.equal(resumed.test_logits, reference.test_logits)


def test_sigterm_flushes_a_mid_epoch_checkpoint_and_resumes_exactly(tmp_path):
    data = colour_data()
    reference = train_visual_prompt(tiny_vp_model("flm", 1), data, settings(), device=CPU, progress=False)
    store = CheckpointStore(tmp_path / "ckpt")
    model = tiny_vp_model("flm", 1)
    calls = {"n": 0}

    def send_sigterm(module, inputs):
        calls["n"] += 1
        if calls["n"] == 7 and module.training is False and torch.is_grad_enabled():
            os.kill(os.getpid(), signal.SIGTERM)

    handle = model.source_model.register_forward_pre_hook(send_sigterm)
    with pytest.raises(PreemptedError, match="checkpoint saved"):
        train_visual_prompt(model, data, settings(), device=CPU, store=store, progress=False)
    handle.remove()
    state = store.load()
    assert state is not None and state["step"] > 0  # saved mid-epoch, not at an epoch boundary
    resumed = train_visual_prompt(
        tiny_vp_model("flm", 1), data, settings(), device=CPU, store=store, progress=False
    )
    assert same_history(resumed.history, reference.history)
    assert torch.equal(resumed.test_logits, reference.test_logits)


def test_corrupt_checkpoint_is_ignored_and_training_restarts(tmp_path):
    data = colour_data()
    store = CheckpointStore(tmp_path / "ckpt")
    first = train_visual_prompt(
        tiny_vp_model("rlm", 1), data, settings(), device=CPU, store=store, progress=False
    )
    store.path.write_bytes(store.path.read_bytes()[:-10])
    assert store.load() is None
    again = train_visual_prompt(
        tiny_vp_model("rlm", 1), data, settings(), device=CPU, store=store, progress=False
    )
    assert same_history(first.history, again.history)


def test_nan_loss_stops_with_a_message_naming_cell_and_epoch():
    model = tiny_vp_model("rlm", 1)
    with torch.no_grad():
        model.source_model[-1].bias.fill_(math.nan)
    with pytest.raises(NumericalError, match=r"demo-cell: non-finite training loss at epoch 0, step 0"):
        train_visual_prompt(model, colour_data(), settings(), device=CPU, label="demo-cell", progress=False)


def test_periodic_evaluation_is_recorded_but_final_logits_come_from_the_last_epoch():
    data = colour_data()
    plain = train_visual_prompt(tiny_vp_model("ilm", 1), data, settings(), device=CPU, progress=False)
    logged = train_visual_prompt(
        tiny_vp_model("ilm", 1), data, settings(eval_every=2), device=CPU, progress=False
    )
    evaluated = [row["epoch"] for row in logged.history if not math.isnan(row["eval_accuracy"])]
    assert evaluated == [1, 3]
    assert torch.equal(plain.test_logits, logged.test_logits)


def test_prompt_history_and_norms_are_recorded_per_epoch():
    outcome = train_visual_prompt(
        tiny_vp_model("ilm", 1), colour_data(), settings(save_prompt_history=True), device=CPU, progress=False
    )
    assert outcome.prompt_history.shape == (7, 3, 16, 16)
    for epoch, row in enumerate(outcome.history):
        assert row["prompt_l2"] == pytest.approx(float(outcome.prompt_history[epoch + 1].norm()), rel=1e-6)
        step = (outcome.prompt_history[epoch + 1] - outcome.prompt_history[epoch]).norm()
        assert row["prompt_step_l2"] == pytest.approx(float(step), rel=1e-5)
    assert [row["lr"] for row in outcome.history] == [
        0.1,
        0.1,
        0.1,
        pytest.approx(0.01),
        pytest.approx(0.001),
        pytest.approx(0.001),
    ]  # E=6: milestones 3, 4


def _pack_models(shared: bool):
    """ILM (seed 1), RLM (seed 2) and FullyMap (seed 3) on one shared frozen model (or three copies)."""
    models = [tiny_vp_model("ilm", 1), tiny_vp_model("rlm", 2), tiny_vp_model("fullymap", 3)]
    if shared:
        for model in models[1:]:
            model.source_model = models[0].source_model
    return models


def test_packed_cells_train_exactly_as_they_would_alone():
    """Packing changes only how batches are grouped: histories, maps and logits match single runs."""
    data_small, data_large = colour_data(train_per_class=3), colour_data(train_per_class=10)
    datas = [data_large, data_small, data_large]  # different steps per epoch inside one pack
    seeds = [1, 2, 3]
    alone = [
        train_visual_prompt(model, data, settings(seed=seed), device=CPU, progress=False)
        for model, data, seed in zip(_pack_models(shared=False), datas, seeds, strict=True)
    ]
    members = [
        training.PackMember(model, data, settings(seed=seed), label=f"cell{seed}")
        for model, data, seed in zip(_pack_models(shared=True), datas, seeds, strict=True)
    ]
    packed = training.train_pack(members, device=CPU, progress=False)
    for single, together in zip(alone, packed, strict=True):
        a, b = pd.DataFrame(single.history), pd.DataFrame(together.history)
        pd.testing.assert_frame_equal(a, b, rtol=1e-4, atol=1e-5)  # batched kernels may round differently
        torch.testing.assert_close(single.test_logits, together.test_logits, rtol=1e-4, atol=1e-4)


def test_a_pack_resumes_each_cell_from_its_own_checkpoint(tmp_path, monkeypatch):
    data = colour_data()
    reference = training.train_pack(
        [
            training.PackMember(m, data, settings(seed=s))
            for m, s in zip(_pack_models(True), [1, 2, 3], strict=True)
        ],
        device=CPU,
        progress=False,
    )
    stores = [CheckpointStore(tmp_path / f"c{i}") for i in range(3)]
    calls = {"n": 0}
    original = training._packed_step

    def stop_after_five(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] > 5:
            raise _InterruptError
        return original(*args, **kwargs)

    monkeypatch.setattr(training, "_packed_step", stop_after_five)
    members = [
        training.PackMember(m, data, settings(seed=s), store)
        for m, s, store in zip(_pack_models(True), [1, 2, 3], stores, strict=True)
    ]
    with pytest.raises(_InterruptError):
        training.train_pack(members, device=CPU, progress=False)
    monkeypatch.setattr(training, "_packed_step", original)
    members = [
        training.PackMember(m, data, settings(seed=s), store)
        for m, s, store in zip(_pack_models(True), [1, 2, 3], stores, strict=True)
    ]
    resumed = training.train_pack(members, device=CPU, progress=False)
    for first, second in zip(reference, resumed, strict=True):
        assert same_history(first.history, second.history)
        assert torch.equal(first.test_logits, second.test_logits)


def test_a_step_budget_stops_training_inside_an_epoch():
    data = colour_data()  # 30 training images, batch 8 → 4 steps per epoch
    outcome = train_visual_prompt(
        tiny_vp_model("rlm", 1), data, settings(epochs=6, max_steps=10), device=CPU, progress=False
    )
    assert [row["epoch"] for row in outcome.history] == [0, 1, 2]  # 4 + 4 + 2 steps


def test_batch_norm_folding_keeps_the_frozen_function():
    import torchvision

    from vpbench.compression import quantize_model

    net = torchvision.models.mobilenet_v2().eval()
    with torch.no_grad():  # non-trivial BN statistics so folding has something to fold
        for module in net.modules():
            if isinstance(module, torch.nn.BatchNorm2d):
                module.running_mean.uniform_(-0.5, 0.5)
                module.running_var.uniform_(0.5, 2.0)
                module.weight.uniform_(0.5, 1.5)
    x = torch.randn(2, 3, 32, 32)
    expected = net(x)
    assert training.fold_batch_norms(net) == 52
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in net.modules())
    torch.testing.assert_close(net(x), expected, rtol=1e-4, atol=1e-4)
    assert training.fold_batch_norms(net) == 0
    quantized = quantize_model(
        torchvision.models.mobilenet_v2().eval(), 4, 8, calibration=torch.randn(4, 3, 32, 32)
    )
    assert training.fold_batch_norms(quantized) == 0  # fake-quant convs keep their BN


# ------------------------------------------------------------------------------------------ model selection


def test_test_selection_reports_the_epoch_with_the_highest_test_accuracy():
    """``selection: test`` evaluates every epoch and reports the first epoch with the best test accuracy."""
    data = colour_data()
    outcome = train_visual_prompt(
        tiny_vp_model("ilm", 1),
        data,
        settings(epochs=8, lr=0.02, selection="test"),
        device=CPU,
        progress=False,
    )
    accuracies = [row["eval_accuracy"] for row in outcome.history]
    assert not any(math.isnan(a) for a in accuracies)  # every epoch, the last included, was evaluated
    assert outcome.selected_epoch == accuracies.index(max(accuracies)) < 7  # first best, not the last
    reported = float((outcome.test_logits.argmax(1) == data.test_labels).float().mean())
    assert reported == max(accuracies)


def test_a_selected_epoch_reports_that_epochs_prompt_and_map():
    """``at`` keeps the prompt after the given epoch (prompt history row epoch + 1) and its label map."""
    data = colour_data()
    plain = train_visual_prompt(
        tiny_vp_model("ilm", 1), data, settings(save_prompt_history=True), device=CPU, progress=False
    )
    model = tiny_vp_model("ilm", 1)
    member = training.PackMember(
        model, data, settings(save_prompt_history=True), selection=Selection("at", 2)
    )
    selected = training.train_pack([member], device=CPU, progress=False)[0]
    assert selected.selected_epoch == 2 and plain.selected_epoch == 5
    assert same_history(
        plain.history, selected.history
    )  # the trajectory is the same; only the report differs
    assert torch.equal(model.prompt.effective().detach(), plain.prompt_history[3])
    assert not torch.equal(selected.test_logits, plain.test_logits)


def test_val_selection_needs_a_cell_to_provide_held_out_data():
    with pytest.raises(ConfigError, match="held-out part of the training subset"):
        train_visual_prompt(
            tiny_vp_model("rlm", 1), colour_data(), settings(selection="val"), device=CPU, progress=False
        )


@pytest.mark.parametrize("selection", [Selection(), Selection("best"), Selection("at", 1)], ids=str)
@pytest.mark.parametrize("stop_after_steps", [6, 13, 22])
def test_each_selection_resumes_to_the_identical_result(tmp_path, monkeypatch, selection, stop_after_steps):
    """The kept epoch's prompt is checkpointed: an interrupted run reports the same epoch and logits."""
    data = colour_data()
    member = training.PackMember(tiny_vp_model("ilm", 1), data, settings(), selection=selection)
    reference = training.train_pack([member], device=CPU, progress=False)[0]
    store = CheckpointStore(tmp_path / "ckpt")
    steps = {"n": 0}
    original_step = torch.optim.Adam.step

    def failing_step(self, *args, **kwargs):
        steps["n"] += 1
        if steps["n"] > stop_after_steps:
            raise _InterruptError
        return original_step(self, *args, **kwargs)

    monkeypatch.setattr(torch.optim.Adam, "step", failing_step)
    with pytest.raises(_InterruptError):
        member = training.PackMember(tiny_vp_model("ilm", 1), data, settings(), store, selection=selection)
        training.train_pack([member], device=CPU, progress=False)
    monkeypatch.setattr(torch.optim.Adam, "step", original_step)
    member = training.PackMember(tiny_vp_model("ilm", 1), data, settings(), store, selection=selection)
    resumed = training.train_pack([member], device=CPU, progress=False)[0]
    assert resumed.selected_epoch == reference.selected_epoch
    assert same_history(resumed.history, reference.history)
    assert torch.equal(resumed.test_logits, reference.test_logits)
