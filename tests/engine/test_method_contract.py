"""Contract over every registered VP method: one cell, built and trained for a single step, writes every
declared file with the documented schema; and the method refuses what it cannot adapt, saying so.

Parametrized over :data:`vpbench.engine.methods.METHODS` itself (a plugin's methods included, the moment
they are registered). Each method runs on the first fixture that fits its ``model_kinds`` and
``modalities`` (:data:`FIXTURES`): real MobileNetV2 weights on digits (16 px in a 32-px canvas), a tiny
open_clip CLIP on digits, and MobileNetV2 on ``synthetic_dna`` tokens. The cell's inputs are what the
workflow would give it (:func:`vpbench.study.dag.cell_inputs`), produced under a temporary workflow root
by one builder per input name: the standard inputs here, a method's own ``extra_inputs`` through
:data:`EXTRA_INPUT_BUILDERS` — the extension point for a method that reads a new kind of file. A method
no fixture fits, or that declares an input no builder produces, fails with a message naming what to add.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import torch

from tests.engine.test_cell import SCHEMA_METRICS
from tests.engine.test_clip_vp import FAMILY as TINY_CLIP
from tests.studies import loaded_study
from vpbench.compression.variant_store import materialize_variant
from vpbench.data import build_cache, get_dataset, load_cache, write_split
from vpbench.engine.cell import run_cell
from vpbench.engine.linear_probe import build_feature_file
from vpbench.engine.methods import METHODS
from vpbench.engine.text_embeddings import build_text_embeddings_file
from vpbench.models import MODELS, get_model_family
from vpbench.models.acquire import acquire_weights
from vpbench.models.registry import WeightSource
from vpbench.sources.checksums import sha256_file
from vpbench.study import dag, paths
from vpbench.study.grid import Cell
from vpbench.study.spec import Study

TRAINING = {"epochs": 1, "max_steps": 1, "batch_size": {"2": 4}, "eval_batch_size": 256,
            "save_prompt_history": True}  # fmt: skip
LIMIT_PER_CLASS = {"train": 5, "test": 3}  # images (or sequences) cached per class: 2-shot splits fit
VARIANTS = {"dense": {}, "pruned": {"compress": {"method": "magnitude", "sparsity": 0.5}}}
VARIANT = "pruned"  # cells run on a compressed variant, so inputs tied to the dense one are exercised too
FINITE = ("accuracy", "ece", "adaptive_ece", "nll", "brier", "mean_confidence", "ece_paper_compat",
          "trainable_params", "wall_total_s")  # fmt: skip


@dataclass(frozen=True)
class Fixture:
    """A model family and dataset a method of this (kind, modality) runs on, with study options; ``name``
    is the study's model name, so each fixture's variants have their own folder."""

    name: str
    kind: str
    modality: str
    family: str
    dataset: str
    options: Mapping[str, Any] = field(default_factory=dict)


FIXTURES: tuple[Fixture, ...] = (
    Fixture("mnv2_digits", "classifier", "image", "mobilenet_v2", "digits",
            {"datasets": {"digits": {"input_size": 16}}, "prompt": {"canvas": 32}}),
    Fixture("clip_digits", "clip", "image", TINY_CLIP.name, "digits"),
    Fixture("mnv2_dna", "classifier", "dna", "mobilenet_v2", "synthetic_dna",
            {"prompt": {"canvas": 32, "patch": 4, "label_order": "dense"}}),
)  # fmt: skip


def fixture_for(name: str) -> Fixture:
    """The first fixture whose (kind, modality) the method adapts; a failure says what to add."""
    method = METHODS[name]
    for fixture in FIXTURES:
        if fixture.kind in method.model_kinds and fixture.modality in method.modalities:
            return fixture
    have = [(f.kind, f.modality) for f in FIXTURES]
    pytest.fail(
        f"VP method {name!r} adapts {method.model_kinds} models on {method.modalities} data; the contract "
        f"harness has fixtures for {have} only: add a Fixture to FIXTURES in tests/engine/"
        "test_method_contract.py"
    )


class Workspace:
    """A temporary workflow root: weights per family, and every file a cell reads, made on demand."""

    def __init__(self, root: Path, weights: Mapping[str, Path]) -> None:
        self.root, self.weights = root, dict(weights)

    def produce(self, study: Study, cell: Cell, name: str, declared: str) -> Path:
        """Make the input ``name`` the workflow declares at ``declared`` (once), return its path."""
        path = self.root / declared
        if not path.exists():
            builder = INPUT_BUILDERS.get(name) or EXTRA_INPUT_BUILDERS.get(name)
            if builder is None:
                pytest.fail(
                    f"VP method {cell.method!r} declares the extra input {name!r} ({declared}), which the "
                    "contract harness cannot produce: add a builder to EXTRA_INPUT_BUILDERS in "
                    "tests/engine/test_method_contract.py"
                )
            builder(self, study, cell, path)
            assert path.exists(), f"the builder of input {name!r} did not write {declared}"
        return path


def wildcards_of(pattern: str, path: Path, root: Path) -> dict[str, str]:
    """The wildcard values of a workflow path pattern (``paths.*``), as Snakemake would match them."""
    regex = re.sub(r"\\\{(\w+)\\\}", r"(?P<\1>[^/]+?)", re.escape(pattern))
    found = re.fullmatch(regex, path.relative_to(root).as_posix())
    assert found, f"{path} does not match the workflow pattern {pattern}"
    return found.groupdict()


def build_variant(ws: Workspace, study: Study, cell: Cell, path: Path) -> None:
    """rule materialize_variant: a variant's card (and model.pt) from its family's verified weights."""
    found = wildcards_of(paths.CARD, path, ws.root)
    variant = study.variant(found["model"], found["variant"])
    materialize_variant(
        model=variant.model, variant=variant.name, spec=variant.canonical(),
        weights_path=ws.weights[variant.family], out_dir=path.parent,
        canvas=dag.variant_canvas(study, found),
    )  # fmt: skip


def build_dataset_cache(ws: Workspace, study: Study, cell: Cell, path: Path) -> None:
    """rule build_cache: one split at the geometry the method asked for (few images per class)."""
    found = wildcards_of(paths.CACHE_MANIFEST, path, ws.root)
    limit = LIMIT_PER_CLASS[found["split"]]
    build_cache(found["dataset"], found["split"], None, path.parent, input_size=int(found["size"]),
                resize=found["resize"], progress=False, limit_per_class=limit)  # fmt: skip


def build_split(ws: Workspace, study: Study, cell: Cell, path: Path) -> None:
    """rule nshot_split: the cell's N-shot subset of the training labels."""
    found = wildcards_of(paths.SPLIT_FILE, path, ws.root)
    train = ws.produce(study, cell, "train", dag.cell_inputs(study, cell.fields())["train"])
    shots = None if found["shots"] == "full" else int(found["shots"])
    write_split(path, found["dataset"], shots, int(found["seed"]), load_cache(train.parent).labels,
                paper_compat=found["mode"] == "paper")  # fmt: skip


def build_text_embeddings(ws: Workspace, study: Study, cell: Cell, path: Path) -> None:
    """rule text_embeddings: a CLIP variant's class-text embeddings of one template set."""
    found = wildcards_of(paths.TEXT_EMBEDDINGS, path, ws.root)
    card = ws.produce(study, cell, "card", paths.card(study.name, found["model"], found["variant"]))
    build_text_embeddings_file(
        variant_dir=card.parent, dataset=found["dataset"], templates_id=found["templates"],
        classname_mode=study.clip_classnames, out_path=path, device=torch.device("cpu"),
    )  # fmt: skip


def build_features(ws: Workspace, study: Study, cell: Cell, path: Path) -> None:
    """rule features: a variant's penultimate features of one split, from the cache the cell reads."""
    found = wildcards_of(paths.FEATURES, path, ws.root)
    needs = dag.feature_inputs(study, found)
    card = ws.produce(study, cell, "card", needs["card"])
    cache = ws.produce(study, cell, found["split"], needs["cache"])
    build_feature_file(variant_dir=card.parent, cache_dir=cache.parent, size=dag.feature_size(study, found),
                       out_path=path, device=torch.device("cpu"))  # fmt: skip


Builder = Callable[[Workspace, Study, Cell, Path], None]
INPUT_BUILDERS: dict[str, Builder] = {
    "card": build_variant,
    "train": build_dataset_cache,
    "test": build_dataset_cache,
    "split": build_split,
}
EXTRA_INPUT_BUILDERS: dict[str, Builder] = {
    "text": build_text_embeddings,  # CLIP methods: cached text embeddings
    "dense_card": build_variant,  # cross-modal with label_order: dense: the dense variant's card
    "features_train": build_features,  # linear probe: cached penultimate features of each split
    "features_test": build_features,
}
"""Input name (a key of a method's ``extra_inputs``) → builder writing that file where the workflow
declares it. A method reading a new kind of input adds its builder here."""


@pytest.fixture(scope="module")
def workspace(tmp_path_factory):
    """Real MobileNetV2 weights, the tiny CLIP registered as a family with its weights file."""
    root = tmp_path_factory.mktemp("workflow")
    weights = {"mobilenet_v2": acquire_weights("mobilenet_v2", root / "weights", allow_network=False)}
    torch.manual_seed(0)
    clip_weights = root / "weights" / "tiny_clip.pt"
    torch.save(TINY_CLIP.builder().state_dict(), clip_weights)
    weights[TINY_CLIP.name] = clip_weights
    family = replace(TINY_CLIP, weights=WeightSource(clip_weights.name, sha256=sha256_file(clip_weights)),
                     licence="test fixture", description="tiny random open_clip CLIP")  # fmt: skip
    with pytest.MonkeyPatch.context() as patch:
        patch.setitem(MODELS, family.name, family)
        yield Workspace(root, weights)


def study_for(name: str, fixture: Fixture) -> Study:
    config = {
        "study": "contract",
        "models": {fixture.name: {"family": fixture.family, "variants": VARIANTS}},
        "datasets": {fixture.dataset: {}},
        "methods": [name],
        "shots": [2],
        "seeds": [1],
        "training": TRAINING,
        **fixture.options,
    }
    return loaded_study(config)


METHOD_NAMES = sorted(METHODS)


@pytest.mark.parametrize("name", METHOD_NAMES)
def test_method_trains_one_step_and_writes_every_cell_output(name, workspace, tmp_path):
    fixture = fixture_for(name)
    study = study_for(name, fixture)
    cell = Cell(study.name, fixture.dataset, fixture.name, VARIANT, name, "2", 1)
    assert cell in study.cells, f"{name}: the study does not schedule {cell.label}"
    inputs = {key: workspace.produce(study, cell, key, declared)
              for key, declared in dag.cell_inputs(study, cell.fields()).items()}  # fmt: skip
    extras = {key: path for key, path in inputs.items() if key not in INPUT_BUILDERS}
    out = tmp_path / "cell"
    row = run_cell(
        study=study, cell=cell, variant_dir=inputs["card"].parent, train_cache=inputs["train"].parent,
        test_cache=inputs["test"].parent, split_path=inputs["split"], out_dir=out,
        checkpoint_dir=tmp_path / "checkpoint", extra_inputs=extras, progress=False,
    )  # fmt: skip

    assert row["status"] == "ok", f"{name}: the cell failed: {row.get('failure_reason')}"
    assert {p.name for p in out.iterdir()} == set(paths.cell_files(study)), f"{name}: cell files differ"
    metrics = pd.read_parquet(out / "metrics.parquet")
    assert sorted(metrics.columns) == sorted(SCHEMA_METRICS), f"{name}: metrics columns differ"
    assert len(metrics) == 1 and metrics.loc[0, "method"] == name and not metrics.loc[0, "is_dense"]
    not_finite = [key for key in FINITE if not math.isfinite(float(metrics.loc[0, key]))]
    assert not not_finite, f"{name}: non-finite metrics {not_finite}"
    assert metrics.loc[0, "trainable_params"] > 0 and 0.0 <= metrics.loc[0, "accuracy"] <= 1.0
    num_classes, test_size = int(metrics.loc[0, "num_classes"]), int(metrics.loc[0, "test_size"])
    assert num_classes == get_dataset(fixture.dataset).num_classes
    assert int(metrics.loc[0, "train_size"]) == 2 * num_classes

    epochs = pd.read_parquet(out / "epochs.parquet")
    assert list(epochs["epoch"]) == [0] and epochs["method"].eq(name).all()
    assert math.isfinite(epochs.loc[0, "train_loss"]), f"{name}: non-finite training loss"
    assert metrics.loc[0, "train_steps"] >= 1, f"{name}: no training step (or fit iteration) recorded"
    trains_prompt = metrics.loc[0, "trainable_params_prompt"] > 0
    assert trains_prompt == METHODS[name].trains_prompt, f"{name}: trains_prompt disagrees with its cells"
    if trains_prompt:  # a method that trains an input prompt moved it
        assert epochs.loc[0, "prompt_step_l2"] > 0, f"{name}: the training step did not move the prompt"
    classes = pd.read_parquet(out / "classes.parquet")
    assert list(classes["class_index"]) == list(range(num_classes))
    assert classes["source_name"].str.len().min() > 0
    probs = np.load(out / "test_probs.npy")
    assert probs.dtype == np.float16 and probs.shape == (test_size, num_classes)
    assert np.allclose(probs.astype(np.float64).sum(1), 1, atol=1e-2)
    assert np.load(out / "test_labels.npy").shape == (test_size,)
    prompt = torch.load(out / "prompt.pt", weights_only=True)
    assert set(prompt) == {"delta", "effective", "mapping", "head"}, f"{name}: prompt.pt keys differ"
    assert prompt["mapping"].shape == (num_classes,) and not prompt["mapping"].is_floating_point()
    for part in ("delta", "head"):  # the saved state holds at least every trainable entry of its part
        stored = sum(v.numel() for v in prompt[part].values() if v.is_floating_point())
        trained = int(metrics.loc[0, "trainable_params_" + ("prompt" if part == "delta" else part)])
        assert stored >= trained, f"{name}: prompt.pt[{part!r}] has {stored} entries, {trained} trained"
    assert torch.isfinite(prompt["effective"].float()).all()
    history = np.load(out / paths.PROMPT_HISTORY)
    assert history.shape[0] >= 1 and history.shape[1:] == tuple(prompt["effective"].shape)
    record = json.loads((out / "cell.json").read_text())
    assert {"cell", "plan", "plan_key", "fingerprint", "inputs", "settings", "split", "runtime"} <= set(
        record
    )
    assert record["plan_key"] == metrics.loc[0, "plan_key"] and record["cell"]["method"] == name
    assert record["settings"]["max_steps"] == 1 and record["settings"]["epochs"] == 1
    assert not (tmp_path / "checkpoint").exists()


UNSUPPORTED_KIND = replace(get_model_family("mobilenet_v2"), name="unsupported_kind", kind="segmenter")
UNSUPPORTED_MODALITY = replace(get_dataset("digits"), name="unsupported_modality", modality="audio")


@pytest.mark.parametrize("name", METHOD_NAMES)
def test_method_refuses_what_it_cannot_adapt_and_names_itself(name, workspace):
    method = METHODS[name]
    families = [get_model_family("mobilenet_v2"), MODELS[TINY_CLIP.name], UNSUPPORTED_KIND]
    datasets = [get_dataset("digits"), get_dataset("synthetic_dna"), UNSUPPORTED_MODALITY]
    refused = 0
    for family in families:
        for dataset in datasets:
            reason = method.incompatibility(family, dataset)
            fits = family.kind in method.model_kinds and dataset.modality in method.modalities
            if fits:
                assert reason is None, f"{name} refuses {family.name} on {dataset.name}: {reason}"
            else:
                assert reason and name in reason, f"{name}: {family.name} on {dataset.name} gave {reason!r}"
                refused += 1
    assert refused >= len(datasets) + len(families) - 1  # at least the unsupported kind and modality
