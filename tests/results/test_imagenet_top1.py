"""Fig. 14 measurement side: a variant's ImageNet-1k top-1 on a local validation folder in torchvision's
``ImageNet`` layout (``val/<WordNet id>/*.JPEG``, the 1000 ids in the models' output order), its rule
wiring and its column in the model table. Generated JPEG/PNG files stand in for ImageNet; a colour-coded
1000-class network gives exact expected answers, and the real MobileNetV2 is checked against torchvision's
own ImageNet evaluation preset."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

from tests.engine.test_cell import CONFIG
from vpbench.compression.variant_store import load_variant_model, materialize_variant
from vpbench.models.acquire import acquire_weights
from vpbench.models.imagenet import imagenet_class_names, imagenet_val_folder, imagenet_wnids, measure_top1
from vpbench.results.model_report import MEASURED_TOP1, measure_variant_top1, model_table
from vpbench.study import dag
from vpbench.study.loader import load_study

MEAN, STD = (0.5, 0.5, 0.5), (0.25, 0.25, 0.25)
R_STEP, G_STEP = 10, 6  # class i is the flat colour (i // 40 * R_STEP, i % 40 * G_STEP, 128)


def colour_of(index: int) -> tuple[int, int, int]:
    return (index // 40 * R_STEP, index % 40 * G_STEP, 128)


class ColourCodeNet(nn.Module):
    """1000 logits peaking at the class a flat colour encodes (:func:`colour_of`), falling off with the
    distance between class indices, so class i's top-5 is i-2 … i+2."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        rgb = (x.mean(dim=(2, 3)) * torch.tensor(STD) + torch.tensor(MEAN)) * 255
        index = (rgb[:, 0] / R_STEP).round() * 40 + (rgb[:, 1] / G_STEP).round()
        return -(torch.arange(1000.0)[None, :] - index[:, None]).abs()


def _imagenet_layout(root: Path) -> Path:
    """``root/val/<wnid>`` for all 1000 ids (most empty, as in a subset of the validation images), and
    ``root/train``; returns the val folder."""
    val = root / "val"
    for wnid in imagenet_wnids():
        (val / wnid).mkdir(parents=True)
    (root / "train").mkdir()
    return val


def _save(folder: Path, name: str, colour, size=(40, 30)) -> None:
    image = Image.new("RGB", size, colour)
    image.save(folder / name, **({"quality": 95} if name.endswith(".JPEG") else {}))


def test_the_wordnet_ids_are_sorted_and_in_the_models_output_order():
    wnids = imagenet_wnids()
    assert len(wnids) == len(set(wnids)) == 1000 and wnids == sorted(wnids)
    assert (wnids[0], imagenet_class_names()[0]) == ("n01440764", "tench")
    assert (wnids[457], imagenet_class_names()[457]) == ("n02883205", "bow tie")


def test_top1_and_top5_on_a_generated_imagenet_folder(tmp_path):
    val = _imagenet_layout(tmp_path / "ilsvrc")
    wnids = imagenet_wnids()
    for index, size in zip((0, 1, 457, 999), ((40, 30), (30, 40), (33, 33), (64, 20)), strict=True):
        _save(val / wnids[index], "ILSVRC2012_val_a.JPEG", colour_of(index), size)
        _save(val / wnids[index], "ILSVRC2012_val_b.png", colour_of(index), size)
    _save(val / wnids[458], "near.JPEG", colour_of(457))  # predicted 457, labelled 458: top-5 hit only
    _save(val / wnids[900], "far.png", colour_of(3))  # predicted 3, labelled 900: miss
    (val / wnids[0] / "notes.txt").write_text("not an image")
    assert imagenet_val_folder(tmp_path / "ilsvrc") == val
    result = measure_top1(
        ColourCodeNet(), tmp_path / "ilsvrc", input_size=16, mean=MEAN, std=STD, batch_size=4
    )
    assert (result["images"], result["classes"]) == (10, 1000)
    assert result["top1"] == pytest.approx(100 * 8 / 10)
    assert result["top5"] == pytest.approx(100 * 9 / 10)
    assert "Resize(18, bilinear), CenterCrop(16)" in result["transform"]


def test_a_folder_whose_classes_do_not_match_the_outputs_is_refused(tmp_path):
    for name in ("a", "b", "c"):
        (tmp_path / name).mkdir()
        _save(tmp_path / name, "x.png", (0, 0, 0))
    with pytest.raises(ValueError, match="3 class folders but the model has 1000 outputs"):
        measure_top1(ColourCodeNet(), tmp_path, input_size=8, mean=MEAN, std=STD)


@pytest.fixture(scope="module")
def variants(tmp_path_factory) -> Path:
    """A dense and a 50%-pruned MobileNetV2 variant (offline weights)."""
    root = tmp_path_factory.mktemp("variants")
    weights = acquire_weights("mobilenet_v2", root / "weights", allow_network=False)
    for variant, spec in {
        "dense": {},
        "mag50": {"compress": {"method": "magnitude", "sparsity": 0.5}},
    }.items():
        materialize_variant(
            model="mobilenet_v2", variant=variant, spec={"family": "mobilenet_v2", **spec},
            weights_path=weights, out_dir=root / "models" / variant, canvas=32,
        )  # fmt: skip
    return root / "models"


@torch.inference_mode()
def test_a_real_variant_agrees_with_torchvisions_imagenet_evaluation(variants, tmp_path):
    """Images filed under the class torchvision's own preset predicts (one under its second choice)."""
    from torchvision.models import MobileNet_V2_Weights

    net, _ = load_variant_model(variants / "dense")
    preset = MobileNet_V2_Weights.IMAGENET1K_V1.transforms()
    val = _imagenet_layout(tmp_path / "ilsvrc")
    wnids = imagenet_wnids()
    rng = np.random.default_rng(0)
    for k, size in enumerate(((300, 260), (240, 320), (256, 256))):
        image = Image.fromarray(rng.integers(0, 256, (*size, 3), dtype=np.uint8))
        ranked = net.eval()(preset(image)[None]).argsort(dim=1, descending=True)[0]
        image.save(val / wnids[int(ranked[1 if k == 2 else 0])] / f"img{k}.png")
    record = measure_variant_top1(variants / "dense", tmp_path / "ilsvrc", batch_size=2)
    assert record["reason"] == "" and record["images"] == 3
    assert record["top1"] == pytest.approx(100 * 2 / 3) and record["top5"] == 100.0
    assert record["model"] == "mobilenet_v2" and record["published_top1"] == pytest.approx(71.878)


def test_class_folders_that_are_not_the_wordnet_ids_are_refused(variants, tmp_path):
    for k in range(1000):
        (tmp_path / f"class{k:04d}").mkdir()
    with pytest.raises(ValueError, match="not the ImageNet-1k WordNet ids"):
        measure_variant_top1(variants / "dense", tmp_path)


def test_a_variant_record_and_its_model_table_column(variants, tmp_path):
    """A 1000-class variant on a 3-class folder is recorded as not measurable; a measured file is read."""
    for name in ("a", "b", "c"):
        (tmp_path / "small" / name).mkdir(parents=True)
    record = measure_variant_top1(variants / "dense", tmp_path / "small")
    assert record["top1"] is None and "1000 model outputs but 3 class folders" in record["reason"]
    copies = tmp_path / "models"
    for variant in ("dense", "mag50"):
        (copies / variant).mkdir(parents=True)
        for file in (variants / variant).iterdir():
            (copies / variant / file.name).write_bytes(file.read_bytes())
    (copies / "dense" / MEASURED_TOP1).write_text(json.dumps({"top1": 71.5}))
    table = model_table([copies / "dense", copies / "mag50"], {"mobilenet_v2": "dense"})
    measured = dict(zip(table["variant"], table["measured_top1"], strict=True))
    assert measured["dense"] == 71.5 and np.isnan(measured["mag50"])
    published = dict(zip(table["variant"], table["published_top1"], strict=True))
    assert published["dense"] == pytest.approx(71.878) and np.isnan(published["mag50"])


def test_the_rule_and_the_model_table_input_exist_only_with_an_imagenet_folder(tmp_path):
    config = copy.deepcopy(CONFIG)
    assert dag.imagenet_top1_files(load_study(copy.deepcopy(config))) == []
    config["paths"] = {"imagenet_val": str(tmp_path)}
    files = dag.imagenet_top1_files(load_study(config))
    assert files == [f"results/unit/models/mobilenet_v2/{v}/imagenet_top1.json" for v in ("dense", "mag50")]
