"""BLM, BLM+, SMM, LoR-VP, the linear probe and full fine-tuning as registered methods: their published
recipes, what each builds, its trainable budget, identical-input checks against the authors' outputs
(golden arrays), and learning on the colour task through the one loop."""

from __future__ import annotations

import json
from dataclasses import replace
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from torch import nn

from tests.engine import golden_inputs as gi
from tests.studies import typed_study
from tests.synthetic import colour_task, tiny_source_model
from vpbench.compression import quantize_model
from vpbench.compression.pruning import magnitude_prune
from vpbench.engine import blm, lor_vp, smm, training
from vpbench.engine.builders import BuildContext
from vpbench.engine.cell_costs import cost_columns
from vpbench.engine.finetune import quantized_weight_bits
from vpbench.engine.linear_probe import extract_features, fit_probe
from vpbench.engine.methods import get_method
from vpbench.engine.settings import TrainSettings
from vpbench.models.registry import ModelFamily
from vpbench.runtime import atomic_io
from vpbench.study.grid import Cell

CPU = torch.device("cpu")
NEW_METHODS = ("blm", "blm_plus", "smm", "lor_vp", "lor_vp_ilm", "lp", "ff")
NUM_SOURCES, WIDTH = 20, 64  # the tiny net's outputs and penultimate width


def family(size: int = 16, mean=(0.5,) * 3, std=(0.25,) * 3) -> ModelFamily:
    return ModelFamily(
        name="tiny", builder=lambda: tiny_source_model(NUM_SOURCES), weights=None, mean=mean, std=std,
        input_size=size, num_classes=NUM_SOURCES, class_names=lambda: [f"s{i}" for i in range(NUM_SOURCES)],
    )  # fmt: skip


def split(per_class: int, seed: int, size: int = 8) -> SimpleNamespace:
    images, labels = colour_task(per_class, 3, seed=seed, size=size)
    manifest = {"sha256": {"images.npy": f"cache-{seed}"}, "count": len(labels)}
    return SimpleNamespace(images=images.numpy(), labels=labels.numpy(), class_names=("r", "g", "b"),
                           manifest=manifest)  # fmt: skip


def context(method: str, *, net: nn.Module | None = None, fam: ModelFamily | None = None, canvas=16,
            card: dict | None = None, extra=None, seed: int = 1) -> BuildContext:  # fmt: skip
    train, test = split(10, 0), split(30, 1)
    net = tiny_source_model(NUM_SOURCES) if net is None else net
    net.eval().requires_grad_(False)
    study = typed_study({"prompt": {"canvas": canvas}})
    cell = Cell("unit", "digits", "tiny", "dense", method, "10", seed)
    card = card or {"weights_sha256": "w", "compression_kind": "dense"}
    return BuildContext(
        study, cell, get_method(method), fam or family(), net, card, train, test,
        np.arange(len(train.labels)), extra or {},
    )  # fmt: skip


def recipe(method: str, **overrides) -> TrainSettings:
    spec = get_method(method)
    values = {"epochs": 10, "batch_size": 8, "seed": 1, "eval_batch_size": 32, "optimizer": spec.optimizer,
              "lr": spec.lr, "momentum": spec.momentum, "weight_decay": spec.weight_decay,
              "schedule": spec.schedule}  # fmt: skip
    values.update(overrides)
    return TrainSettings(**values)


def features_for(tmp_path, net: nn.Module, fam: ModelFamily, size: int = 16) -> dict:
    """Feature files of the colour task's train and test splits, as the ``features`` rule writes them."""
    paths = {}
    for name, (per_class, seed) in {"train": (10, 0), "test": (30, 1)}.items():
        data = split(per_class, seed)
        features, width, flops = extract_features(net, data.images, size, fam.mean, fam.std, device=CPU)
        path = tmp_path / f"tiny-{name}.npy"
        atomic_io.save_numpy(path, features)
        meta = {"model_sha256": "w", "cache_sha256": data.manifest["sha256"], "count": len(features),
                "dim": width, "input_size": size, "flops_per_image": flops, "seconds": 1.0}  # fmt: skip
        atomic_io.write_json(path.with_suffix(".json"), meta)
        paths[f"features_{name}"] = path
    return paths


def build(method: str, tmp_path=None, **kwargs):
    if method == "lp":
        net = tiny_source_model(NUM_SOURCES).eval()
        kwargs.setdefault("extra", features_for(tmp_path, net, kwargs.get("fam") or family()))
        kwargs.setdefault("net", net)
    ctx = context(method, **kwargs)
    return ctx, ctx.method.build(ctx)


def accuracy(outcome, data) -> float:
    return float((outcome.test_logits.argmax(1) == data.test_labels).float().mean())


# ------------------------------------------------------------------------------ registration and recipes


def test_every_new_method_is_registered_with_its_published_recipe():
    expected = {
        "blm": ("adam", 0.01, 0.0, 0.0, "multistep"),
        "blm_plus": ("adam", 0.01, 0.0, 0.0, "multistep"),
        "smm": ("adam", 0.01, 0.0, 0.0, "multistep"),
        "lor_vp": ("sgd", 0.02, 0.9, 1e-4, "cosine"),
        "lor_vp_ilm": ("adam", 0.01, 0.0, 0.0, "multistep"),
        "ff": ("sgd", 0.001, 0.9, 1e-4, "cosine"),
    }
    for name, (optimizer, lr, momentum, decay, schedule) in expected.items():
        method = get_method(name)
        assert (method.optimizer, method.lr, method.momentum, method.weight_decay, method.schedule) == (
            optimizer, lr, momentum, decay, schedule,
        ), name  # fmt: skip
    assert get_method("blm").variant == "blm" and get_method("blm_plus").variant == "blm+"
    assert get_method("blm").lap == 1.0 and get_method("blm_plus").topk_ratio == 0.15
    assert get_method("lor_vp").head == "lp" and get_method("lor_vp").prompt_rank == 4
    assert get_method("lp").optimizer == "lbfgs" and len(get_method("lp").c_grid) == 25
    for name in NEW_METHODS:  # display and planning attributes the rest of vpbench reads
        method = get_method(name)
        assert method.label and method.description and method.model_kinds == ("classifier",)
        assert method.modalities == ("image",)


# ------------------------------------------------------------------------------ what each builds, budgets


def test_trainable_parameter_counts_are_the_published_budgets(tmp_path):
    canvas = 16
    expected = {
        "blm": {"prompt": 3 * canvas**2, "head": 0},
        "blm_plus": {"prompt": 3 * canvas**2, "head": 0},
        "smm": {"prompt": smm.smm_parameter_count(canvas, 5, 8)["total"], "head": 0},
        "lor_vp": {
            "prompt": lor_vp.lor_vp_parameter_count(canvas, 4),
            "head": lor_vp.linear_probe_parameter_count(WIDTH, 3),
        },
        "lor_vp_ilm": {"prompt": lor_vp.lor_vp_parameter_count(canvas, 4), "head": 0},
        "lp": {"prompt": 0, "head": lor_vp.linear_probe_parameter_count(WIDTH, 3)},
    }
    for name, parts in expected.items():
        _, setup = build(name, tmp_path)
        counts = setup.model.trainable_parameter_count()
        assert {k: counts[k] for k in parts} == parts, name
        assert counts["model"] == 0 and counts["total"] == sum(parts.values()), name
    _, setup = build("ff")
    backbone = sum(p.numel() for p in tiny_source_model(NUM_SOURCES)[:-1].parameters())
    counts = setup.model.trainable_parameter_count()
    assert counts == {
        "prompt": 0,
        "head": WIDTH * 3 + 3,
        "model": backbone,
        "total": backbone + WIDTH * 3 + 3,
    }


def test_blm_heads_carry_the_published_smoothing_and_topk():
    _, setup = build("blm_plus")
    head = setup.model.head
    assert isinstance(head, blm.BayesianMapping) and head.variant == "blm+" and head.lap == 1.0
    assert head.topk == blm.topk_for(3) == 1 and hasattr(head, "remap_pass")
    assert head.needs_remap(0) and head.needs_remap(7)


def test_smm_uses_six_layers_and_its_own_mask_lr_on_transformers():
    class TinyViT(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.attn = nn.MultiheadAttention(8, 2)
            self.fc = nn.Linear(8, NUM_SOURCES)

    _, cnn = build("smm")
    assert cnn.model.prompt.mask_generator.layers == 5 and len(cnn.model.param_groups()) == 1
    _, vit = build("smm", net=TinyViT())
    assert vit.model.prompt.mask_generator.layers == 6
    groups = vit.model.param_groups()
    assert [g.get("lr_factor", 1.0) for g in groups] == [1.0, 0.1] and groups[1]["gamma"] == 1.0


def test_smm_refuses_a_canvas_its_patches_do_not_tile():
    from vpbench.errors import ConfigError

    with pytest.raises(ConfigError, match=r"smm.*divisible by its patch size 8"):
        build("smm", canvas=20)


def test_lor_vp_replaces_the_classifier_by_a_probe_and_the_ilm_variant_keeps_it():
    _, published = build("lor_vp")
    assert isinstance(published.model.head, nn.Module) and published.model.head.trainable
    assert published.model.head.num_sources == WIDTH and len(published.source_names) == WIDTH
    assert not any(isinstance(m, nn.Linear) and m.out_features == NUM_SOURCES
                   for m in published.model.source_model.modules())  # fmt: skip
    _, ilm = build("lor_vp_ilm")
    assert ilm.model.head.remap == "every" and ilm.model.head.num_sources == NUM_SOURCES


# ------------------------------------------------------------------------------ identical inputs (golden)


class _Lookup(nn.Module):
    """A "network" returning fixed logits for sample i (token id i): the authors' inputs, through the loop."""

    def __init__(self, logits: torch.Tensor) -> None:
        super().__init__()
        self.register_buffer("logits", logits)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        return self.logits[tokens[:, 0]]


class _NoPrompt(nn.Module):
    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        return tokens

    def effective(self) -> torch.Tensor:
        return torch.zeros(1)


@pytest.mark.parametrize(
    ("method", "golden_key"), [("blm", "c10_blm_lap1"), ("blm_plus", "c10_blmp_k1_lap1")]
)
def test_the_registered_blm_methods_reproduce_the_authors_omega_through_the_loop(method, golden_key):
    """ω after the loop's epoch-0 re-mapping pass, with the method's own head (λ = 1, k = int(0.15·C) = 1),
    equals the authors' ``blm_reweight_matrix`` / ``blmp_reweight_matrix`` on the same logits."""
    golden = np.load(gi.GOLDEN_DIR / "blm.npz")
    logits, labels, test = gi.blm_inputs("c10")
    ctx = context(method, fam=replace(family(), num_classes=logits.shape[1]))
    ctx = replace(
        ctx, train_split=SimpleNamespace(**{**vars(ctx.train_split), "class_names": tuple("abcdefghij")})
    )
    setup = ctx.method.build(ctx)
    head = setup.model.head
    model = training.VisualPromptModel(_NoPrompt(), _Lookup(logits), head)
    data = training.CellData(torch.arange(len(labels)).view(-1, 1), labels, torch.zeros(1, 1).long(),
                             torch.zeros(1).long(), 10, input_kind="tokens")  # fmt: skip
    run = SimpleNamespace(model=model, data=data, settings=TrainSettings(epochs=1, batch_size=8,
                          eval_batch_size=gi.BLM_BATCH), train_inputs=data.train_images)  # fmt: skip
    training._remap(run)
    torch.testing.assert_close(head.omega.double(), torch.from_numpy(golden[golden_key]).double(), atol=1e-6,
                               rtol=0)  # fmt: skip
    mapped = golden[golden_key.replace("_lap1", "_mapped")]
    torch.testing.assert_close(head(test).double(), torch.from_numpy(mapped).double(), atol=1e-5, rtol=0)


def test_the_registered_smm_builds_the_authors_resnet_module():
    """At the published 224 px on a CNN the method's prompt is the authors' ``InstancewiseVisualPrompt``
    (5 layers, p = 8, 3 channels): with the check's weights, its outputs and gradients match theirs."""
    index = list(gi.SMM_CASES).index("resnet_default")
    size, layers, patch, _, batch = gi.SMM_CASES["resnet_default"]
    _, setup = build("smm", fam=family(224, gi.IMAGENET_MEAN, gi.IMAGENET_STD), canvas=None)
    prompt = setup.model.prompt
    assert (prompt.input_size, prompt.mask_generator.layers, prompt.patch_size) == (size, layers, patch)
    gi.fill_module(prompt, seed=100 + index)
    pixels = gi.images(batch, size, seed=200 + index)
    normalised = (pixels - prompt.mean) / prompt.std
    outputs = gi.smm_outputs(
        prompt, pixels, lambda: prompt.mask_generator(normalised),
        {"program": prompt.program, "conv1": prompt.mask_generator.blocks[0][0].weight}, index,
    )  # fmt: skip
    golden = np.load(gi.GOLDEN_DIR / "smm.npz")
    for key in ("eval", "patches_eval", "train", "grad_program"):
        expected = torch.from_numpy(golden[f"resnet_default_{key}_sketch"])
        torch.testing.assert_close(gi.sketch(outputs[key]), expected, atol=1e-4, rtol=1e-5)


def test_the_registered_lor_vp_builds_the_authors_prompt():
    """At 224 px the method's prompt is the authors' ``LoR_VP`` (rank 4): same outputs and gradients."""
    index = list(gi.LORVP_CASES).index("default")
    size, rank, batch, _ = gi.LORVP_CASES["default"]
    _, setup = build("lor_vp", fam=family(224, gi.IMAGENET_MEAN, gi.IMAGENET_STD), canvas=None)
    prompt = setup.model.prompt
    assert (prompt.input_size, prompt.rank) == (size, rank)
    assert torch.count_nonzero(prompt.left) == 0 and 0.005 < float(prompt.right.detach().std()) < 0.015
    gi.fill_module(prompt, seed=300 + index)
    out = prompt(gi.images(batch, size, seed=400 + index))
    (out * gi.backward_weights((batch, 3, size, size), 500 + index)).sum().backward()
    golden = np.load(gi.GOLDEN_DIR / "lor_vp.npz")
    for key, value in {"forward": out.detach(), "grad_left": prompt.left.grad,
                       "grad_right": prompt.right.grad}.items():  # fmt: skip
        expected = torch.from_numpy(golden[f"default_{key}_sketch"])
        torch.testing.assert_close(gi.sketch(value), expected, atol=1e-5, rtol=1e-5)


# ------------------------------------------------------------------------------ learning through the loop


@pytest.mark.parametrize(
    ("method", "overrides", "floor"),
    [
        ("blm", {"lr": 0.1}, 0.9),
        ("blm_plus", {"lr": 0.05}, 0.9),
        ("smm", {}, 0.9),
        ("lor_vp", {}, 0.9),
        ("lor_vp_ilm", {"lr": 0.1}, 0.9),
        ("lp", {}, 0.95),
        ("ff", {"lr": 0.01}, 0.9),  # the toy net tolerates (and its 10 epochs need) a larger lr
    ],
)
def test_each_method_learns_the_colour_task_and_reports_its_costs(tmp_path, method, overrides, floor):
    _, setup = build(method, tmp_path)
    settings = recipe(method, **overrides)
    outcome = training.train_pack([training.PackMember(setup.model, setup.data, settings)], device=CPU,
                                  progress=False)[0]  # fmt: skip
    assert accuracy(outcome, setup.data) >= floor > 1 / 3
    columns, outputs = cost_columns(setup.model, setup.data, settings, outcome)
    assert columns["trainable_params"] == setup.model.trainable_parameter_count()["total"] > 0
    assert columns["flops_train_per_sample"] > columns["flops_forward_per_sample"] - 1 > 0 or method == "lp"
    assert columns["flops_train_total"] > 0 and columns["train_steps"] > 0
    json.dumps(outputs, default=str)  # recordable in cell.json
    if method == "lp":
        assert outputs["selection"] == "held-out" and len(outcome.history) == 1
    else:
        assert columns["train_steps"] == 10 * 4 and columns["train_samples_seen"] == 10 * 30
    assert columns["mapping_passes"] == (10 if method in ("blm", "blm_plus", "smm", "lor_vp_ilm") else 0)


def test_full_fine_tuning_costs_more_flops_per_sample_than_a_prompt():
    _, prompt = build("lor_vp_ilm")
    _, tuned = build("ff")
    from vpbench.engine.cell_costs import counted_flops

    train_p = counted_flops(prompt.model, prompt.data)[1]
    train_f = counted_flops(tuned.model, tuned.data)[1]
    assert train_f > train_p  # weight gradients on top of input gradients


# ------------------------------------------------------------------------------ the linear probe


def test_the_probe_is_scikit_learns_logistic_regression_at_the_chosen_c():
    from sklearn.linear_model import LogisticRegression

    generator = np.random.default_rng(0)
    labels = np.repeat(np.arange(4), 10)
    features = generator.normal(size=(40, 6)) + labels[:, None] * 0.7
    fit = fit_probe(features, labels, 4, seed=1)
    assert fit.selection == "held-out" and fit.held_out_size == 8 and fit.C in get_method("lp").c_grid
    reference = LogisticRegression(C=fit.C, max_iter=1000, tol=1e-4).fit(features, labels)
    np.testing.assert_allclose(fit.weight, reference.coef_, atol=1e-8)
    np.testing.assert_allclose(fit.bias, reference.intercept_, atol=1e-8)


def test_one_shot_probes_use_the_fixed_c_and_binary_tasks_give_two_logits():
    features = np.eye(3)[:, :2] + 0.1
    fit = fit_probe(features, np.array([0, 1, 2]), 3, seed=1)
    assert fit.selection == "fixed" and fit.C == 1.0 and fit.held_out_size == 0
    binary = fit_probe(np.array([[0.0], [1.0], [0.1], [0.9]]), np.array([0, 1, 0, 1]), 2, seed=1)
    logits = np.array([[0.0], [1.0]]) @ binary.weight.T + binary.bias
    assert binary.weight.shape == (2, 1) and list(logits.argmax(1)) == [0, 1]


def test_probe_features_are_refused_when_computed_for_another_variant(tmp_path):
    from vpbench.errors import CacheCorruptError

    with pytest.raises(CacheCorruptError, match="model_sha256"):
        build("lp", tmp_path, card={"weights_sha256": "another", "compression_kind": "dense"})


# ------------------------------------------------------------------------------ full fine-tuning


def _train_ff(ctx_kwargs: dict, epochs: int = 4):
    _, setup = build("ff", **ctx_kwargs)
    settings = recipe("ff", epochs=epochs, lr=0.01)  # the toy net needs a larger lr than the published 0.001
    member = training.PackMember(setup.model, setup.data, settings)
    outcome = training.train_pack([member], device=CPU, progress=False)[0]
    return setup, outcome


def test_full_fine_tuning_keeps_pruned_weights_at_zero_and_checks_it():
    net = magnitude_prune(tiny_source_model(NUM_SOURCES), 0.5)
    setup, outcome = _train_ff({"net": net, "card": {"weights_sha256": "w", "compression_kind": "sparse"}})
    report = setup.model.method_report()
    assert report["masked_layers"] == 2 and report["trained_sparsity"] == report["sparsity_before"] > 0.4
    assert setup.model.trainable_parameter_count()["model"] == (
        sum(p.numel() for p in setup.model.source_model.parameters()) - report["masked_entries"]
    )
    assert accuracy(outcome, setup.data) > 0.5
    loose, _ = _train_ff({"net": magnitude_prune(tiny_source_model(NUM_SOURCES), 0.5),
                          "card": {"weights_sha256": "w", "compression_kind": "dense"}})  # fmt: skip
    assert loose.model.method_report()["trained_sparsity"] < 0.05  # without masks the zeros fill in


def test_a_leaked_mask_fails_the_cell():
    from vpbench.errors import NumericalError

    net = magnitude_prune(tiny_source_model(NUM_SOURCES), 0.5)
    _, setup = build("ff", net=net, card={"weights_sha256": "w", "compression_kind": "sparse"})
    with torch.no_grad():
        setup.model.source_model[0].weight.add_(1.0)
    with pytest.raises(NumericalError, match="pruned weights non-zero"):
        setup.model.method_report()


def test_full_fine_tuning_trains_fake_quantized_layers_through_their_quantizers():
    net = quantize_model(tiny_source_model(NUM_SOURCES).eval(), 4, 8, calibration=torch.rand(8, 3, 16, 16))
    setup, outcome = _train_ff({"net": net}, epochs=10)
    report = setup.model.method_report()
    assert (
        report["quantized_layers"] == 2 and report["trained_weight_bits"] == report["weight_bits_before"] <= 4
    )
    layer = setup.model.source_model[0]
    assert layer.weight.requires_grad and int(layer.input_quantizer.bits) == 8  # trained, range still fixed
    assert accuracy(outcome, setup.data) > 0.5


def test_full_fine_tuning_trains_vvtq_step_sizes_and_keeps_bit_widths():
    from vpbench.models.vvtq import VvtqDeiT

    torch.manual_seed(0)
    net = VvtqDeiT(4, img_size=16, patch_size=8, embed_dim=16, depth=1, num_heads=2, num_classes=NUM_SOURCES)
    with torch.no_grad():
        for name, tensor in net.state_dict(keep_vars=True).items():
            if name.endswith("init_state"):
                tensor.fill_(1)
            elif name.endswith("alpha"):
                tensor.fill_(0.05)
    alpha = net.blocks[0].mlp.fc1.alpha.detach().clone()
    setup, _ = _train_ff({"net": net, "fam": family(16)}, epochs=2)
    source = setup.model.source_model
    assert not source.blocks[0].mlp.fc1.nbits.requires_grad and source.blocks[0].mlp.fc1.alpha.requires_grad
    assert not torch.equal(source.blocks[0].mlp.fc1.alpha.detach(), alpha)  # LSQ step sizes trained
    bits = quantized_weight_bits(source)
    assert bits["blocks.0.mlp.fc1"] <= 4 and bits["patch_embed.proj"] <= 8
    assert isinstance(source.head, nn.Identity) and isinstance(source.quant, nn.Module)


# ------------------------------------------------------------------------------ refusals at validation


@pytest.mark.parametrize("method", NEW_METHODS)
def test_a_method_on_an_unsupported_model_kind_fails_at_validation_naming_both(method):
    from tests.studies import loaded_study
    from vpbench.errors import ConfigError

    clip = {"models": {"clip": {"family": "clip_vit_l14_openai", "variants": {"dense": {}}}}}
    with pytest.raises(ConfigError, match=rf"'{method}'.*classifier.*clip"):
        loaded_study({**clip, "methods": [method]})
    with pytest.raises(ConfigError, match=rf"'{method}'.*image.*dna"):
        loaded_study(
            {"datasets": {"synthetic_dna": {}}, "methods": [method], "exclude": [{"dataset": "digits"}]}
        )
