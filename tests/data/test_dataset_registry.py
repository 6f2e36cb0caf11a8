"""The dataset registry: lookup errors, class names, §1.1 input sizes and documented splits."""

from __future__ import annotations

import dataclasses

import pytest

from vpbench.data import DATASETS, get_dataset, register_dataset
from vpbench.errors import ConfigError

PAPER_DATASETS = ("cifar10", "svhn", "gtsrb", "dtd", "flowers102", "oxford_pets", "eurosat", "caltech101")


TEXT_TASKS = ("yelp_polarity", "imdb", "ag_news", "dbpedia_14", "splice", "synthetic_dna")


def test_every_paper_and_demo_dataset_is_registered():
    assert set(PAPER_DATASETS) | {"animal_mnist", "digits"} | set(TEXT_TASKS) == set(DATASETS)
    assert {get_dataset(name).modality for name in TEXT_TASKS} == {"text", "dna"}


def test_unknown_dataset_names_the_allowed_values():
    with pytest.raises(
        ConfigError, match=r"unknown dataset 'imagenet'.*allowed values: ag_news, animal_mnist, caltech101"
    ):
        get_dataset("imagenet")


def test_unknown_split_names_the_allowed_values():
    with pytest.raises(ConfigError, match=r"split 'val'.*allowed values: train, test"):
        get_dataset("dtd").check_split("val")


def test_registering_a_name_twice_is_refused():
    with pytest.raises(ValueError, match="registered twice"):
        register_dataset(dataclasses.replace(get_dataset("svhn")))


@pytest.mark.parametrize(
    ("name", "size"),
    [("cifar10", 32), ("svhn", 32), ("gtsrb", 32)] + [(n, 128) for n in PAPER_DATASETS[3:]],
)
def test_input_sizes_follow_the_per_dataset_pipeline(name, size):
    assert get_dataset(name).input_size == size


@pytest.mark.parametrize("name", sorted(DATASETS))
def test_each_spec_has_real_names_and_documented_provenance(name):
    spec = get_dataset(name)
    names = spec.class_names()
    assert len(names) == spec.num_classes == len(set(names))
    assert not any(n.isdigit() for n in names) or name in {"svhn", "digits"}
    assert spec.split_policy and spec.prestage_help and spec.sources and spec.licence and spec.citation
    assert spec.splits == ("train", "test")


def test_class_names_are_the_official_ones_in_label_order():
    assert get_dataset("flowers102").class_names()[:2] == ("pink primrose", "hard-leaved pocket orchid")
    assert get_dataset("flowers102").class_names()[-1] == "blackberry lily"
    gtsrb = get_dataset("gtsrb").class_names()
    assert (
        gtsrb[0] == "Speed limit (20km/h)"
        and gtsrb[14] == "Stop"
        and gtsrb[42].startswith("End of no passing by")
    )
    assert get_dataset("caltech101").class_names()[:4] == ("Faces", "Faces_easy", "Leopards", "Motorbikes")
    assert "BACKGROUND_Google" not in get_dataset("caltech101").class_names()
    assert get_dataset("oxford_pets").class_names()[2] == "American Pit Bull Terrier"
    assert get_dataset("animal_mnist").class_names() == (
        "bear", "bird", "cat", "cow", "dog", "elephant", "giraffe", "horse", "sheep", "zebra",
    )  # fmt: skip


def test_eurosat_source_is_the_pinned_mirror_with_its_md5():
    (source,) = get_dataset("eurosat").sources
    assert source.startswith("https://huggingface.co/datasets/torchgeo/eurosat/resolve/c877bcd")
    assert "c8fa014336c82ac7804f0398fcb19387" in source
