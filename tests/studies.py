"""Typed studies for unit tests: a complete config from a few overrides, validated by the schema.

``typed_study`` skips the registry checks (tests register throwaway families and methods), so a builder
or a cell can be exercised without the whole workflow; ``loaded_study`` runs every check.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from vpbench.study.loader import load_study
from vpbench.study.schema import validate_config
from vpbench.study.spec import Study, build_study

BASE: dict[str, Any] = {
    "study": "unit",
    "device": "cpu",
    "models": {"tiny": {"family": "mobilenet_v2", "variants": {"dense": {}}}},
    "datasets": {"digits": {}},
    "methods": ["ilm"],
    "shots": [1],
    "seeds": [1],
    "training": {"epochs": 1, "batch_size": {"1": 8}},
}


def merged(overrides: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """BASE with ``overrides`` merged in (nested mappings merge; models, datasets and the rest replace)."""

    def merge(base: dict[str, Any], extra: Mapping[str, Any]) -> dict[str, Any]:
        for key, value in extra.items():
            nested = isinstance(value, Mapping) and isinstance(base.get(key), dict)
            if nested and key not in ("models", "datasets"):
                merge(base[key], value)
            else:
                base[key] = copy.deepcopy(value)
        return base

    return merge(copy.deepcopy(BASE), overrides or {})


def typed_study(overrides: Mapping[str, Any] | None = None) -> Study:
    """A schema-validated typed study (registry names are not checked)."""
    config = merged(overrides)
    validate_config(config)
    return build_study(config)


def loaded_study(overrides: Mapping[str, Any] | None = None) -> Study:
    """A fully checked study, with cells and packs, as the workflow builds it."""
    return load_study(merged(overrides))
