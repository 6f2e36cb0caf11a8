"""CLIP text prompts: template sets, class-name refinement and the template-major source order
(docs/methods/clip.md).

Source index k = j·C + c names template j filled with class c, as ILM-TP-VP's ``get_saparate_text_embedding``
orders them; Bahng VP is the one-template case (k = c).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from vpbench.errors import ConfigError

# Template texts as published (docs/methods/clip.md): Bahng's has no final period, ILM-TP-VP's first one does.
BAHNG_TEMPLATE = "This is a photo of a {}"
ILM_TP_DEFAULT_TEMPLATE = "This is a photo of a {}."
TEMPLATE_SETS = ("bahng", "ilm_tp")  # values of VPMethod.text_templates
CLASSNAME_MODES = ("real", "numeric", "paper")
# The fork's ``prepare_additive_data`` names these classes "0", "1", … (docs/deviations.md); ``numeric``
# and ``paper`` reproduce it.
NUMERIC_NAME_DATASETS = ("caltech101", "flowers102")
# ``paper``: the strings of the authors' CLIP code (landskape-ai/model-transferability, data/prepare_data.py
# ``prepare_additive_data`` from c4be120, 2023-11-05, when Caltech101 was added, to the last commit): SVHN is
# numbered too, GTSRB takes its names from the fork's GTSRB_LABEL_MAP, every other dataset its real names
# under the authors' refine (no CamelCase split: EuroSAT reads "annualcrop"). docs/methods/clip.md.
PAPER_NUMERIC_DATASETS = ("caltech101", "flowers102", "svhn")
_CAMEL_BOUNDARY = re.compile(r"(?<=[a-z])(?=[A-Z])")


def openai_imagenet_templates() -> tuple[str, ...]:
    """CLIP's 80 ImageNet templates as format strings, in open_clip's ``OPENAI_IMAGENET_TEMPLATES`` order."""
    from open_clip.zero_shot_metadata import OPENAI_IMAGENET_TEMPLATES

    return tuple(template("{}") for template in OPENAI_IMAGENET_TEMPLATES)


def templates_for(templates_id: str) -> tuple[str, ...]:
    """The template set a method's ``text_templates`` names: ``bahng`` (1) or ``ilm_tp`` (81)."""
    if templates_id == "bahng":
        return (BAHNG_TEMPLATE,)
    if templates_id == "ilm_tp":
        return (ILM_TP_DEFAULT_TEMPLATE, *openai_imagenet_templates())
    raise ConfigError(f"unknown CLIP text template set {templates_id!r}; allowed: {', '.join(TEMPLATE_SETS)}")


def refine_classname(name: str) -> str:
    """Lower-case, ``_`` and ``-`` to spaces (the published ``refine_classname``).

    CamelCase folder names (EuroSAT's ``AnnualCrop``) are also split into words first, so the text reads
    "annual crop" instead of "annualcrop"; names with lower-case letters only are unaffected.
    """
    return _CAMEL_BOUNDARY.sub(" ", name).lower().replace("_", " ").replace("-", " ")


def refine_classname_paper(name: str) -> str:
    """The authors' ``refine_classnames``: lower-case, ``_`` and ``-`` to spaces (no CamelCase split)."""
    return name.lower().replace("_", " ").replace("-", " ")


def paper_class_names(dataset: str, names: Sequence[str]) -> list[str]:
    """The class names the authors' CLIP code put into its templates for ``dataset`` (C = ``len(names)``)."""
    if dataset in PAPER_NUMERIC_DATASETS:
        return [str(index) for index in range(len(names))]
    if dataset == "gtsrb":
        from vpbench.data.class_names import GTSRB_PAPER

        if len(names) != len(GTSRB_PAPER):
            raise ConfigError(f"gtsrb has {len(names)} classes here but the authors named {len(GTSRB_PAPER)}")
        names = GTSRB_PAPER
    return [refine_classname_paper(name) for name in names]


def classname_mode(config: Mapping[str, Any]) -> str:
    """The study's ``clip_classnames`` setting: ``real`` (default), ``numeric`` or ``paper`` (the fork's
    strings, docs/deviations.md)."""
    mode = config.get("clip_classnames", "real")
    if mode not in CLASSNAME_MODES:
        raise ConfigError(f"clip_classnames: {mode!r} is not allowed; allowed: {', '.join(CLASSNAME_MODES)}")
    return mode


def clip_class_names(dataset: str, names: Sequence[str], mode: str = "real") -> list[str]:
    """The class names filled into the templates: refined real names, or "0".."C−1" where the fork used them.

    ``numeric`` changes only Caltech101 and Flowers102, the datasets the fork named by index; ``paper``
    reproduces the authors' strings for every dataset (:func:`paper_class_names`).
    """
    if mode not in CLASSNAME_MODES:
        raise ConfigError(f"clip_classnames: {mode!r} is not allowed; allowed: {', '.join(CLASSNAME_MODES)}")
    if mode == "paper":
        return paper_class_names(dataset, names)
    if mode == "numeric" and dataset in NUMERIC_NAME_DATASETS:
        return [str(index) for index in range(len(names))]
    return [refine_classname(name) for name in names]


def prompt_texts(templates: Sequence[str], class_names: Sequence[str]) -> list[str]:
    """Every (template, class) text, template-major: text k = j·C + c."""
    return [template.format(name) for template in templates for name in class_names]


def source_names(templates: Sequence[str], class_names: Sequence[str]) -> list[str]:
    """Report labels of the J·C text sources, e.g. ``"t3: a photo of a cat."`` (same order as the texts)."""
    count = len(class_names)
    return [f"t{k // count}: {text}" for k, text in enumerate(prompt_texts(templates, class_names))]
