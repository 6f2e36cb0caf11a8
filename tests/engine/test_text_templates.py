"""CLIP text prompts: the two template sets, class-name refinement, numeric names and source order (§5)."""

import hashlib

import pytest
from open_clip.zero_shot_metadata import OPENAI_IMAGENET_TEMPLATES

from tests.engine.paper_clip_classnames import PAPER_CLIP_CLASSNAMES
from vpbench.data import get_dataset
from vpbench.engine.text_templates import (
    classname_mode,
    clip_class_names,
    prompt_texts,
    refine_classname,
    source_names,
    templates_for,
)
from vpbench.errors import ConfigError

# sha256 of the 80 OpenAI ImageNet templates joined by newlines, as shipped by open_clip 3.3.0 and compared
# entry by entry with ILM-TP-VP's list (vp_methods §5.3); a changed open_clip list must fail here.
OPENAI_80_SHA256 = "4f976686fb651bb5803d4689dcd849f75efe0ef19a3c801355bc9a6f03c8a5af"


def test_bahng_uses_one_template_without_a_final_period():
    assert templates_for("bahng") == ("This is a photo of a {}",)


def test_ilm_tp_uses_the_default_template_then_the_80_openai_templates_in_order():
    templates = templates_for("ilm_tp")
    assert len(templates) == 81
    assert templates[0] == "This is a photo of a {}."
    assert [t.format("cat") for t in templates[1:]] == [make("cat") for make in OPENAI_IMAGENET_TEMPLATES]
    assert templates[1] == "a bad photo of a {}."
    assert templates[-1] == "a tattoo of the {}."
    assert hashlib.sha256("\n".join(templates[1:]).encode()).hexdigest() == OPENAI_80_SHA256


def test_unknown_template_set_names_the_allowed_values():
    with pytest.raises(ConfigError, match="bahng, ilm_tp"):
        templates_for("coop")


@pytest.mark.parametrize(
    ("raw", "refined"),
    [
        ("Faces_easy", "faces easy"),
        ("polka-dotted", "polka dotted"),
        ("American Pit Bull Terrier", "american pit bull terrier"),
        ("Speed limit (20km/h)", "speed limit (20km/h)"),
        ("AnnualCrop", "annual crop"),
        ("SeaLake", "sea lake"),
        ("hard-leaved pocket orchid", "hard leaved pocket orchid"),
    ],
)
def test_refine_classname_lowercases_and_turns_separators_into_spaces(raw, refined):
    assert refine_classname(raw) == refined


def test_real_names_are_used_for_caltech101_by_default():
    raw = get_dataset("caltech101").class_names()
    names = clip_class_names("caltech101", raw)
    assert names[:5] == ["faces", "faces easy", "leopards", "motorbikes", "accordion"]
    assert "car side" in names and len(names) == 101


def test_numeric_names_only_behind_the_switch_and_only_for_the_forks_datasets():
    assert clip_class_names("caltech101", ["Faces", "Faces_easy", "ant"], "numeric") == ["0", "1", "2"]
    assert clip_class_names("flowers102", ["pink primrose", "sweet pea"], "numeric") == ["0", "1"]
    assert clip_class_names("cifar10", ["airplane", "cat"], "numeric") == ["airplane", "cat"]
    with pytest.raises(ConfigError, match="real, numeric"):
        clip_class_names("caltech101", ["Faces"], "indices")


def test_classname_mode_defaults_to_real_and_validates_the_key():
    assert classname_mode({}) == "real"
    assert classname_mode({"clip_classnames": "numeric"}) == "numeric"
    with pytest.raises(ConfigError, match="clip_classnames"):
        classname_mode({"clip_classnames": "Numeric"})


def test_texts_and_source_names_are_template_major():
    templates = ("a {}.", "a photo of a {}.", "art of the {}.")
    classes = ["cat", "dog"]
    texts = prompt_texts(templates, classes)
    for j, template in enumerate(templates):
        for c, name in enumerate(classes):
            assert texts[j * len(classes) + c] == template.format(name)
    names = source_names(templates, classes)
    assert names[3] == "t1: a photo of a dog."
    assert len(names) == 6


@pytest.mark.parametrize("dataset", sorted(PAPER_CLIP_CLASSNAMES))
def test_paper_mode_reproduces_the_authors_strings_one_by_one(dataset):
    """``clip_classnames: paper`` gives, for every paper dataset, exactly the authors' text for each class."""
    expected = PAPER_CLIP_CLASSNAMES[dataset]
    names = clip_class_names(dataset, get_dataset(dataset).class_names(), "paper")
    assert len(names) == len(expected)
    pairs = enumerate(zip(names, expected, strict=True))
    mismatches = [(c, got, want) for c, (got, want) in pairs if got != want]
    assert not mismatches, mismatches[:5]


@pytest.mark.parametrize(
    ("dataset", "differing"), [("gtsrb", 42), ("eurosat", 4), ("cifar10", 0), ("dtd", 0), ("caltech101", 101)]
)
def test_paper_mode_differs_from_real_names_where_the_authors_did(dataset, differing):
    raw = get_dataset(dataset).class_names()
    real, paper = clip_class_names(dataset, raw, "real"), clip_class_names(dataset, raw, "paper")
    assert sum(a != b for a, b in zip(real, paper, strict=True)) == differing
    assert classname_mode({"clip_classnames": "paper"}) == "paper"
