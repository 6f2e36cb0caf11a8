"""The loop's optional method hooks: a head's own re-mapping pass, per-group learning rates, a post-step
hook, a trained source model's checkpoint, and methods fitted outside the loop."""

import pandas as pd
import pytest
import torch
from torch import nn

from tests.synthetic import colour_data, tiny_source_model, tiny_vp_model
from vpbench.engine import blm, training
from vpbench.engine.checkpointing import CheckpointStore
from vpbench.engine.output_mapping import IndexMapping, LinearMapping
from vpbench.engine.prompts import PaddingPrompt
from vpbench.engine.settings import TrainSettings
from vpbench.engine.smm import SampleSpecificMaskPrompt
from vpbench.engine.training import train_visual_prompt
from vpbench.engine.training_state import CellRun
from vpbench.engine.vp_model import VisualPromptModel

CPU = torch.device("cpu")


def settings(**overrides) -> TrainSettings:
    values = {"epochs": 4, "batch_size": 8, "lr": 0.1, "seed": 1, "eval_batch_size": 16}
    values.update(overrides)
    return TrainSettings(**values)


def test_a_head_with_a_remap_pass_replaces_the_frequency_pass(monkeypatch):
    calls = {"frequency": 0, "own": 0}
    original = blm.remap_bayesian

    def counting_frequency(*args, **kwargs):
        calls["frequency"] += 1
        raise AssertionError("the frequency pass must not run for a head with its own pass")

    def counting_own(run):
        calls["own"] += 1
        return original(run)

    monkeypatch.setattr(training, "frequency_counts", counting_frequency)
    monkeypatch.setattr(blm, "remap_bayesian", counting_own)
    prompt = PaddingPrompt(16, 8, (0.5,) * 3, (0.25,) * 3)
    head = blm.BayesianMapping(20, 3, variant="blm+")
    model = VisualPromptModel(prompt, tiny_source_model(20), head)
    outcome = train_visual_prompt(model, colour_data(), settings(), device=CPU, progress=False)
    assert calls == {"frequency": 0, "own": 4}  # before every epoch, epoch 0 included
    assert bool(head.fitted) and not torch.allclose(head.omega, torch.full_like(head.omega, 1 / 20))
    assert len(outcome.history) == 4


def test_param_groups_get_their_own_lr_factor_and_gamma():
    prompt = SampleSpecificMaskPrompt(16, (0.5,) * 3, (0.25,) * 3, layers=5, patch_size=4, seed=0,
                                      mask_lr_factor=0.1, mask_gamma=1.0)  # fmt: skip
    model = VisualPromptModel(prompt, tiny_source_model(20), IndexMapping(20, 3, remap="every"))
    run = CellRun(model, colour_data(), settings(lr=0.01, epochs=10), CPU, None, "cell")
    mask_params = len(list(prompt.mask_generator.parameters()))
    assert [len(g["params"]) for g in run.optimizer.param_groups] == [1, mask_params]
    lrs = {}
    for epoch in (0, 5, 7):  # milestones at ⌊0.5·10⌋ = 5 and ⌊0.72·10⌋ = 7
        run.epoch, run.step = epoch, 0
        run.begin_epoch(lambda _run: 0)
        run.next_batch()
        lrs[epoch] = [group["lr"] for group in run.optimizer.param_groups]
    assert lrs[0] == pytest.approx([0.01, 0.001])
    assert lrs[5] == pytest.approx([0.001, 0.001])  # δ decays, the mask CNN (γ = 1) does not
    assert lrs[7] == pytest.approx([0.0001, 0.001])


def test_one_group_without_custom_groups_is_the_old_optimiser():
    model = tiny_vp_model("fullymap", seed=1)
    groups = model.param_groups()
    assert len(groups) == 1 and groups[0]["params"] == model.trainable_parameters()
    assert set(map(id, groups[0]["params"])) == {id(model.prompt.delta), *map(id, model.head.parameters())}


class _CountingModel(VisualPromptModel):
    def __init__(self) -> None:
        super().__init__(PaddingPrompt(16, 8, (0.5,) * 3, (0.25,) * 3), tiny_source_model(20),
                         IndexMapping(20, 3, remap="every"))  # fmt: skip
        self.after_steps = 0

    def after_optimizer_step(self) -> None:
        self.after_steps += 1


def test_the_post_step_hook_runs_after_every_optimiser_step():
    model = _CountingModel()
    train_visual_prompt(model, colour_data(), settings(epochs=3), device=CPU, progress=False)
    assert model.after_steps == 3 * 4  # 30 images, batch 8


def _trained_source_model(seed: int = 0) -> VisualPromptModel:
    torch.manual_seed(seed)
    source = tiny_source_model(20)
    source.requires_grad_(True)
    head = LinearMapping(20, 3)
    return VisualPromptModel(PaddingPrompt(16, 8, (0.5,) * 3, (0.25,) * 3), source, head, train_source=True)


def test_a_trained_source_model_trains_and_resumes_exactly(tmp_path, monkeypatch):
    data = colour_data()
    reference_model = _trained_source_model()
    before = [p.detach().clone() for p in reference_model.source_model.parameters()]
    reference = train_visual_prompt(reference_model, data, settings(), device=CPU, progress=False)
    after = list(reference_model.source_model.parameters())
    assert all(not torch.equal(a, b) for a, b in zip(before, after, strict=True))
    assert isinstance(reference_model.source_model[1], nn.BatchNorm2d)  # not folded
    assert not reference_model.source_model[1].training  # frozen statistics
    counts = reference_model.trainable_parameter_count()
    assert counts["model"] == sum(p.numel() for p in reference_model.source_model.parameters())
    store = CheckpointStore(tmp_path / "ckpt")
    steps = {"n": 0}
    original = torch.optim.Adam.step

    def failing(self, *args, **kwargs):
        steps["n"] += 1
        if steps["n"] > 6:
            raise KeyboardInterrupt
        return original(self, *args, **kwargs)

    monkeypatch.setattr(torch.optim.Adam, "step", failing)
    with pytest.raises(KeyboardInterrupt):
        train_visual_prompt(
            _trained_source_model(), data, settings(), device=CPU, store=store, progress=False
        )
    monkeypatch.setattr(torch.optim.Adam, "step", original)
    assert "source" in store.load()
    resumed = train_visual_prompt(_trained_source_model(), data, settings(), device=CPU, store=store,
                                  progress=False)  # fmt: skip
    pd.testing.assert_frame_equal(pd.DataFrame(resumed.history), pd.DataFrame(reference.history))
    assert torch.equal(resumed.test_logits, reference.test_logits)


class _FittedModel(VisualPromptModel):
    def __init__(self) -> None:
        super().__init__(PaddingPrompt(16, 8, (0.5,) * 3, (0.25,) * 3), tiny_source_model(20),
                         IndexMapping(20, 3))  # fmt: skip

    def fit_outcome(self, member, device):
        logits = torch.zeros(len(member.data.test_labels), 3)
        return training.TrainOutcome([], logits, logits[:0], None, {"train": 0.0})


def test_a_model_with_fit_outcome_bypasses_the_loop_inside_a_pack():
    data = colour_data()
    members = [training.PackMember(_FittedModel(), data, settings()),
               training.PackMember(tiny_vp_model("ilm", 1), data, settings())]  # fmt: skip
    fitted, looped = training.train_pack(members, device=CPU, progress=False)
    assert fitted.history == [] and fitted.test_logits.abs().sum() == 0
    assert len(looped.history) == 4


def test_a_selected_epoch_of_a_trained_source_model_reports_that_epochs_network(monkeypatch):
    """Selection keeps the trained source with the prompt and head, so an earlier epoch is reported whole."""
    states: list[dict[str, torch.Tensor]] = []
    original = CellRun.end_epoch

    def recording(run, *args, **kwargs):
        row = original(run, *args, **kwargs)
        states.append({k: v.detach().clone() for k, v in run.model.source_model.state_dict().items()})
        return row

    monkeypatch.setattr(CellRun, "end_epoch", recording)
    model = _trained_source_model()
    member = training.PackMember(model, colour_data(), settings(), selection=training.Selection("at", 1))
    (outcome,) = training.train_pack([member], device=CPU, progress=False)
    assert outcome.selected_epoch == 1 and len(states) == 4
    reported = model.source_model.state_dict()
    assert all(torch.equal(reported[k], states[1][k]) for k in reported)
    assert not all(torch.equal(reported[k], states[3][k]) for k in reported)
