"""CLIP VP on a tiny random open_clip model: logits, frozen towers, the text-embedding cache, ILM over 81·C
texts, Bahng's warm-up through the cell settings, and whole cells (build → train, and run_cell on digits)."""

import copy
import math

import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn
from torch.nn import functional as F  # noqa: N812

from tests.studies import loaded_study, typed_study
from vpbench.compression.variant_store import materialize_variant
from vpbench.data import CachedSplit, build_cache, write_split
from vpbench.engine import training
from vpbench.engine.builders import BuildContext
from vpbench.engine.cell import run_cell
from vpbench.engine.clip_source import ClipImageSource, drop_text_tower
from vpbench.engine.methods import get_method
from vpbench.engine.output_mapping import IndexMapping
from vpbench.engine.prompts import AdditiveFramePrompt, PadPrompter
from vpbench.engine.settings import train_settings
from vpbench.engine.text_embeddings import (
    build_text_embeddings_file,
    compute_text_embeddings,
    encode_texts,
    load_text_embeddings,
    save_text_embeddings,
    sidecar_path,
)
from vpbench.engine.training import TrainSettings, VisualPromptModel, train_visual_prompt
from vpbench.errors import CacheCorruptError, ChecksumError, ConfigError, MissingSourceError
from vpbench.models.clip_upop import build_clip
from vpbench.models.registry import CLIP_MEAN, CLIP_STD, MODELS, ModelFamily, WeightSource
from vpbench.sources.checksums import sha256_file
from vpbench.study.grid import Cell

CPU = torch.device("cpu")
SIZE = 84  # Bahng's pad is 30 px, so the input must exceed 60 px
TINY = {
    "embed_dim": 16,
    "quick_gelu": True,
    "vision_cfg": {"image_size": SIZE, "layers": 2, "width": 32, "patch_size": 28, "head_width": 16},
    # the real BPE vocabulary (open_clip ships it), so open_clip.tokenize works offline
    "text_cfg": {"context_length": 16, "vocab_size": 49408, "width": 24, "heads": 2, "layers": 2},
}
FAMILY = ModelFamily(
    name="tiny_clip_test", builder=lambda: build_clip(TINY), weights=None, mean=CLIP_MEAN, std=CLIP_STD,
    input_size=SIZE, kind="clip",
)  # fmt: skip
CARD = {"family": FAMILY.name, "weights_sha256": "ab" * 32}
RAW_NAMES = ("Faces_easy", "car_side")  # Caltech101 folder names: the texts say "faces easy", "car side"
NAMES = ["faces easy", "car side"]
CONFIG = {
    "study": "unit",
    "device": "cpu",
    "training": {
        "epochs": 3,
        "batch_size": {"2": 2},
        "eval_batch_size": 64,
        "precision": "fp32",
        "method_overrides": {"ilm_tp_vp": {"lr": 1.0}},
    },
}


@pytest.fixture(scope="module")
def tiny_net() -> nn.Module:
    torch.manual_seed(0)
    return build_clip(TINY).eval().requires_grad_(False)


@pytest.fixture
def net(tiny_net) -> nn.Module:
    return copy.deepcopy(tiny_net)


def two_class_split(per_class: int, seed: int) -> CachedSplit:
    """Reddish class 0 and bluish class 1, uint8 N×3×84×84 with noise, like a CLIP-preprocessed cache."""
    generator = torch.Generator().manual_seed(seed)
    labels = torch.arange(2).repeat_interleave(per_class)
    colours = torch.tensor([[220.0, 40, 40], [40, 40, 220]])[labels].view(-1, 3, 1, 1)
    images = colours + torch.randint(-30, 30, (len(labels), 3, SIZE, SIZE), generator=generator)
    return CachedSplit(images.clamp(0, 255).to(torch.uint8).numpy(), labels.numpy(), RAW_NAMES, {})


@pytest.fixture(scope="module")
def text_files(tmp_path_factory, tiny_net):
    """The two template sets' embedding files for the tiny model and the two class names, written once."""
    root = tmp_path_factory.mktemp("text")
    paths = {}
    for templates_id in ("bahng", "ilm_tp"):
        paths[templates_id] = root / f"caltech101-{templates_id}.pt"
        embeddings = compute_text_embeddings(
            tiny_net, templates_id=templates_id, class_names=NAMES, dataset="caltech101",
            model_sha256=CARD["weights_sha256"], family=FAMILY.name,
        )  # fmt: skip
        save_text_embeddings(paths[templates_id], embeddings)
    return paths


def make_context(net, method, text_path, *, seed=1, config=None, card=None, train_size=2, test_size=6):
    cell = Cell("unit", "caltech101", "tiny", "dense", method, "2", seed)
    train, test = two_class_split(train_size, 0), two_class_split(test_size, 1)
    overrides = {**(config or CONFIG), "models": {"tiny": {"family": FAMILY.name, "variants": {"dense": {}}}}}
    return BuildContext(
        typed_study(overrides), cell, get_method(method), FAMILY, net, card or CARD, train, test,
        np.arange(len(train)), {"text": text_path},
    )  # fmt: skip


def build(net, method, text_path, **options):
    """Build one CLIP cell with ``method`` through its registry entry."""
    return get_method(method).build(make_context(net, method, text_path, **options))


def settings_for(context) -> TrainSettings:
    return train_settings(context.study, context.cell)


def test_source_logits_equal_open_clips_scaled_cosine_similarity(tiny_net):
    import open_clip

    texts = ["This is a photo of a cat.", "a bad photo of a dog.", "a photo of the fish."]
    text = compute_text_embeddings(
        tiny_net, templates_id="bahng", class_names=["cat"], dataset="x", model_sha256="0" * 64, family="t"
    )
    assert text.embeddings.shape == (1, 1, 16)
    with torch.no_grad():
        bahng = tiny_net.encode_text(open_clip.tokenize(["This is a photo of a cat"], context_length=16))
    assert torch.allclose(text.embeddings[0], F.normalize(bahng, dim=-1), atol=1e-6)
    images = torch.randn(4, 3, SIZE, SIZE)
    with torch.no_grad():
        image_features, text_features, scale = tiny_net(images, open_clip.tokenize(texts, context_length=16))
        expected = scale * image_features @ text_features.t()
        source = ClipImageSource.from_clip(tiny_net, text_features)
        logits = source(images)
    assert logits.shape == (4, 3) and source.num_sources == 3
    assert torch.allclose(logits, expected, atol=1e-5)
    assert float(source.logit_scale) == pytest.approx(1 / 0.07, rel=1e-6)


def test_dropping_the_text_tower_keeps_the_image_tower_and_the_logit_scale(net):
    visual = sum(p.numel() for p in net.visual.parameters())
    total = sum(p.numel() for p in net.parameters())
    assert drop_text_tower(net) == total - visual - 1
    assert sum(p.numel() for p in net.parameters()) == visual + 1
    assert [name for name, _ in net.named_children()] == ["visual"] and net.logit_scale.numel() == 1
    assert drop_text_tower(net) == 0


def test_ilm_tp_cell_has_81_times_c_sources_and_an_additive_frame(net, text_files):
    setup = build(net, "ilm_tp_vp", text_files["ilm_tp"])
    model = setup.model
    assert isinstance(model.prompt, AdditiveFramePrompt) and model.prompt.delta.abs().sum() == 0
    assert model.head.num_sources == 81 * 2 and model.head.remap == "every"
    assert len(setup.source_names) == 162
    assert setup.source_names[2 * 5 + 1] == "t5: a low resolution photo of the car side."
    assert model.source_logits(torch.rand(3, 3, SIZE, SIZE)).shape == (3, 162)
    assert model(torch.rand(3, 3, SIZE, SIZE)).shape == (3, 2)


def test_bahng_cell_is_one_text_per_class_with_a_seeded_random_pad(net, tiny_net, text_files):
    setup = build(net, "bahng_vp", text_files["bahng"], seed=7)
    model = setup.model
    assert isinstance(model.prompt, PadPrompter)
    assert model.head.num_sources == 2 and model.head.remap == "never"
    assert model.head.first_sources().tolist() == [0, 1]
    assert setup.source_names == ["t0: This is a photo of a faces easy", "t0: This is a photo of a car side"]
    generator = torch.Generator().manual_seed(7)
    assert torch.equal(model.prompt.pad_up, torch.randn(1, 3, 30, SIZE, generator=generator))
    other = get_method("bahng_vp").build(
        make_context(copy.deepcopy(tiny_net), "bahng_vp", text_files["bahng"], seed=8)
    )
    assert not torch.equal(other.model.prompt.pad_up, model.prompt.pad_up)


def test_a_training_step_leaves_every_clip_weight_frozen_and_the_text_tower_gone(net, tiny_net, text_files):
    context = make_context(net, "ilm_tp_vp", text_files["ilm_tp"])
    setup = context.method.build(context)
    assert not hasattr(net, "transformer") and not hasattr(net, "token_embedding")
    assert not hasattr(net, "text_projection") and hasattr(net, "visual")
    before = copy.deepcopy(net.visual.state_dict())
    settings = TrainSettings(**{**settings_for(context).__dict__, "epochs": 1})
    train_visual_prompt(setup.model, setup.data, settings, device=CPU, progress=False)
    clip_parameters = list(setup.model.source_model.parameters()) + list(net.parameters())
    assert clip_parameters and all(p.grad is None and not p.requires_grad for p in clip_parameters)
    assert not setup.model.source_model.training and not net.visual.training
    for key, value in net.visual.state_dict().items():
        assert torch.equal(value, before[key]), key
    assert setup.model.prompt.delta.grad is not None
    assert setup.model.trainable_parameters() == [setup.model.prompt.delta]


def test_text_embeddings_are_encoded_once_then_loaded_by_every_cell(tmp_path, tiny_net, monkeypatch):
    model = copy.deepcopy(tiny_net)
    calls = []
    original = model.encode_text
    monkeypatch.setattr(model, "encode_text", lambda tokens: calls.append(len(tokens)) or original(tokens))
    path = tmp_path / "caltech101-ilm_tp.pt"
    embeddings = compute_text_embeddings(
        model, templates_id="ilm_tp", class_names=NAMES, dataset="caltech101",
        model_sha256=CARD["weights_sha256"], family=FAMILY.name,
    )  # fmt: skip
    save_text_embeddings(path, embeddings)
    assert calls == [162]
    for seed in (1, 2):  # two cells (and their training) reuse the file; the text tower never runs again
        net = copy.deepcopy(model)
        net.encode_text = lambda tokens: pytest.fail("the text tower ran inside a cell")
        setup = build(net, "ilm_tp_vp", path, seed=seed)
        train_visual_prompt(setup.model, setup.data, TrainSettings(epochs=1, batch_size=2), device=CPU,
                            progress=False)  # fmt: skip
        assert torch.allclose(setup.model.source_model.text_embeddings, embeddings.sources, atol=1e-6)
    assert calls == [162]
    loaded = load_text_embeddings(path, templates_id="ilm_tp", class_names=NAMES)
    assert loaded.embeddings.shape == (81, 2, 16) and loaded.class_names == tuple(NAMES)
    assert torch.allclose(loaded.embeddings.norm(dim=-1), torch.ones(81, 2))
    single = encode_texts(tiny_net, [loaded.templates[40].format("car side")])[0]
    assert torch.allclose(loaded.sources[40 * 2 + 1], single, atol=1e-6)  # k = j·C + c


def test_a_stale_or_tampered_embeddings_file_is_refused(tmp_path, net, text_files):
    path = tmp_path / "text.pt"
    path.write_bytes(text_files["bahng"].read_bytes())
    sidecar_path(path).write_text(sidecar_path(text_files["bahng"]).read_text())
    with pytest.raises(CacheCorruptError, match="templates_id"):
        load_text_embeddings(path, templates_id="ilm_tp")
    with pytest.raises(CacheCorruptError, match="class_names"):
        load_text_embeddings(path, class_names=["cat", "dog"])
    with pytest.raises(CacheCorruptError, match="model_sha256"):
        get_method("bahng_vp").build(
            make_context(net, "bahng_vp", path, card={**CARD, "weights_sha256": "cd"})
        )
    with pytest.raises(CacheCorruptError, match="class_names"):  # numeric names need their own file
        get_method("bahng_vp").build(
            make_context(net, "bahng_vp", path, config={**CONFIG, "clip_classnames": "numeric"})
        )
    path.write_bytes(path.read_bytes() + b"\0")
    with pytest.raises(ChecksumError, match="sha256 mismatch"):
        load_text_embeddings(path)
    sidecar_path(path).unlink()
    with pytest.raises(MissingSourceError, match="no checksum"):
        load_text_embeddings(path)


def test_a_clip_cell_needs_its_text_input_and_a_cache_at_the_models_input_size(net, text_files):
    context = make_context(net, "bahng_vp", text_files["bahng"])
    with pytest.raises(ConfigError, match="needs its text embeddings as the input 'text'"):
        context.method.build(BuildContext(**{**context.__dict__, "extra_inputs": {}}))
    small = CachedSplit(context.train_split.images[..., :64, :64], context.train_split.labels, RAW_NAMES, {})
    with pytest.raises(ConfigError, match="resize='clip'"):
        context.method.build(BuildContext(**{**context.__dict__, "train_split": small}))


class MeanColour(nn.Module):
    """A stand-in image tower whose feature is the mean normalised colour of the image."""

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return images.mean(dim=(2, 3))


def test_ilm_maps_a_target_to_another_classs_text_when_that_text_fits_its_images_best():
    classes, templates = 2, 3
    prompt = AdditiveFramePrompt(SIZE, CLIP_MEAN, CLIP_STD)
    split = two_class_split(4, 0)
    images = torch.from_numpy(split.images).float() / 255
    colour = [F.normalize(prompt(images[split.labels == c]).mean(dim=(0, 2, 3)), dim=0) for c in range(2)]
    text = torch.tensor([0.0, 0.0, 1.0]).repeat(templates * classes, 1)
    text[2 * classes + 1] = colour[0]  # template 2 of class 1 ("car side") looks like the class-0 images
    text[1 * classes + 0] = colour[1]  # template 1 of class 0 looks like the class-1 images
    head = IndexMapping(templates * classes, classes, remap="every")
    model = VisualPromptModel(prompt, ClipImageSource(MeanColour(), text, 100.0), head)
    data = training.CellData(torch.from_numpy(split.images), torch.from_numpy(split.labels), torch.from_numpy(
        split.images), torch.from_numpy(split.labels), classes)  # fmt: skip
    settings = TrainSettings(epochs=1, batch_size=4, optimizer="sgd", lr=1e-6, schedule="cosine")
    outcome = train_visual_prompt(model, data, settings, device=CPU, progress=False)
    assert head.first_sources().tolist() == [2 * classes + 1, 1 * classes + 0]
    assert outcome.history[0]["mapping_changes"] == 2
    assert (outcome.test_logits.argmax(1) == data.test_labels).all()


def test_bahng_warm_up_and_ilm_tp_cosine_reach_the_loop_through_the_cell_settings(
    net, tiny_net, text_files, monkeypatch
):
    context = make_context(net, "bahng_vp", text_files["bahng"], train_size=2)  # 4 images, batch 2
    settings = settings_for(context)
    assert (settings.optimizer, settings.lr, settings.momentum) == ("sgd", 40.0, 0.9)
    assert (settings.schedule, settings.warmup_steps) == ("warmup_cosine", 1000)
    seen = []
    original = torch.optim.SGD.step

    def recording_step(self, *args, **kwargs):
        seen.append(self.param_groups[0]["lr"])
        return original(self, *args, **kwargs)

    monkeypatch.setattr(torch.optim.SGD, "step", recording_step)
    setup = context.method.build(context)
    outcome = train_visual_prompt(setup.model, setup.data, settings, device=CPU, progress=False)
    assert seen == pytest.approx([40.0 * (step + 1) / 1000 for step in range(6)])  # never leaves warm-up
    assert [row["lr"] for row in outcome.history] == pytest.approx([0.04, 0.12, 0.2])
    seen.clear()
    ilm_context = make_context(copy.deepcopy(tiny_net), "ilm_tp_vp", text_files["ilm_tp"])
    ilm_settings = settings_for(ilm_context)
    assert (ilm_settings.schedule, ilm_settings.lr, ilm_settings.warmup_steps) == ("cosine", 1.0, 0)
    setup = ilm_context.method.build(ilm_context)
    train_visual_prompt(setup.model, setup.data, ilm_settings, device=CPU, progress=False)
    assert seen == pytest.approx([0.5 * (1 + math.cos(math.pi * step / 6)) for step in range(6)])


@pytest.mark.parametrize("method", ["bahng_vp", "ilm_tp_vp"])
def test_a_two_class_clip_cell_builds_and_trains_end_to_end(net, text_files, monkeypatch, method):
    passes = []
    original = training.frequency_counts
    monkeypatch.setattr(training, "frequency_counts", lambda *a, **k: passes.append(1) or original(*a, **k))
    context = make_context(net, method, text_files[get_method(method).text_templates])
    setup = context.method.build(context)
    outcome = train_visual_prompt(setup.model, setup.data, settings_for(context), device=CPU, progress=False)
    assert outcome.test_logits.shape == (12, 2) and torch.isfinite(outcome.test_logits).all()
    assert len(outcome.history) == 3
    assert len(passes) == (3 if method == "ilm_tp_vp" else 0)  # ILM re-maps at every epoch
    assert all(math.isfinite(row["train_loss"]) for row in outcome.history)


def test_run_cell_trains_a_clip_cell_from_a_materialised_variant_and_cached_texts(
    tmp_path, tiny_net, monkeypatch
):
    weights = tmp_path / "tiny_clip.pt"
    torch.save(tiny_net.state_dict(), weights)
    family = ModelFamily(
        **{**FAMILY.__dict__, "weights": WeightSource("tiny_clip.pt", sha256=sha256_file(weights))}
    )
    monkeypatch.setitem(MODELS, family.name, family)
    materialize_variant(model="tiny", variant="dense", spec={"family": family.name}, weights_path=weights,
                        out_dir=tmp_path / "variant", canvas=SIZE)  # fmt: skip
    text = tmp_path / "text" / "digits-ilm_tp.pt"
    build_text_embeddings_file(variant_dir=tmp_path / "variant", dataset="digits", templates_id="ilm_tp",
                               classname_mode="real", out_path=text, device=CPU)  # fmt: skip
    for split in ("train", "test"):
        build_cache("digits", split, None, tmp_path / split, input_size=SIZE, progress=False, resize="clip",
                    limit_per_class=3)  # fmt: skip
    write_split(tmp_path / "split.json", "digits", 1, 1, np.load(tmp_path / "train" / "labels.npy"))
    config = {**CONFIG, "models": {"tiny": {"family": family.name, "variants": {"dense": {}}}}}
    config["training"] = {**CONFIG["training"], "epochs": 2, "batch_size": {"1": 16}}
    config["datasets"] = {"digits": {"input_size": SIZE}}
    config["methods"], config["shots"] = ["ilm_tp_vp"], [1]
    row = run_cell(
        study=loaded_study(config), cell=Cell("unit", "digits", "tiny", "dense", "ilm_tp_vp", "1", 1),
        variant_dir=tmp_path / "variant", train_cache=tmp_path / "train", test_cache=tmp_path / "test",
        split_path=tmp_path / "split.json", out_dir=tmp_path / "cell", checkpoint_dir=tmp_path / "ckpt",
        extra_inputs={"text": text}, progress=False,
    )  # fmt: skip
    assert row["num_classes"] == 10 and row["test_size"] == 30 and row["is_dense"]
    classes = pd.read_parquet(tmp_path / "cell" / "classes.parquet")
    assert classes["source_index"].between(0, 81 * 10 - 1).all()
    assert classes["source_name"].str.match(r"t\d+: ").all()
    prompt = torch.load(tmp_path / "cell" / "prompt.pt", weights_only=True)
    assert prompt["mapping"].shape == (10,) and prompt["effective"].shape == (3, SIZE, SIZE)
