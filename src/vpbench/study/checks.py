"""Cross-field and numeric rules of a study that the JSON schema cannot express.

Each function raises :class:`ConfigError` naming the key, the value and what is allowed, so a study that
a job would refuse (an overflowing seed, a NaN learning rate, an image larger than its canvas, a method
that pairs with nothing, an ``exclude`` entry that matches nothing) is refused before any job runs.
Ranges the schema can state live in ``workflow/schemas/config.schema.yaml``; what needs the registries or
several keys at once lives here.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable, Mapping
from typing import Any

from vpbench.errors import ConfigError
from vpbench.study.grid import Cell, expand_cells, matches, pairs_with
from vpbench.study.spec import Study, shots_key

# Above these, a run needs ``training.allow_long_runs: true`` (likely a typo otherwise).
LONG_RUN_EPOCHS = 1000
LONG_RUN_STEPS = 1_000_000


def check_finite(config: Any, where: str = "") -> None:
    """Refuse NaN and infinite numbers anywhere in the config (JSON-schema ranges let NaN through)."""
    if isinstance(config, Mapping):
        for key, value in config.items():
            check_finite(value, f"{where}.{key}" if where else str(key))
    elif isinstance(config, list | tuple):
        for index, value in enumerate(config):
            check_finite(value, f"{where}.{index}")
    elif isinstance(config, float) and not math.isfinite(config):
        raise ConfigError(f"{where or '(top level)'}: {config!r} is not a finite number; give a finite value")


def check_training(study: Study) -> None:
    """Milestones strictly increasing; epochs and step budgets within the long-run limits."""
    milestones = study.training.milestones
    if any(b <= a for a, b in itertools.pairwise(milestones)):
        raise ConfigError(
            f"training.milestones: {list(milestones)} must be strictly increasing fractions of the epochs "
            "in (0, 1], e.g. [0.5, 0.72]"
        )
    if study.config["training"].get("allow_long_runs"):
        return
    recipes = [("training", study.config["training"])]
    recipes += [(f"training.method_overrides.{m}", o) for m, o in study.method_overrides.items()]
    for where, recipe in recipes:
        for key, limit in (("epochs", LONG_RUN_EPOCHS), ("max_steps", LONG_RUN_STEPS)):
            value = recipe.get(key)
            if value is not None and value > limit:
                raise ConfigError(
                    f"{where}.{key}: {value} is above {limit:,}; allowed: 1 to {limit:,}, or set "
                    "training.allow_long_runs: true for a deliberately long run"
                )


def _used(cells: Iterable[Cell]) -> set[tuple[str, str, str]]:
    """Every (model, dataset, method) that has cells."""
    return {(c.model, c.dataset, c.method) for c in cells}


def check_pairings(study: Study) -> None:
    """Every listed method, model and dataset pairs with something; otherwise say what and why."""
    compatible = {
        (model, dataset, method)
        for model in study.models
        for dataset in study.datasets
        for method in study.methods
        if pairs_with(study, model, dataset, method) is None
    }
    axes = (("methods", study.methods, 2), ("models", study.models, 0), ("datasets", study.datasets, 1))
    for key, names, position in axes:
        for name in names:
            if any(triple[position] == name for triple in compatible):
                continue
            reasons = sorted(
                {
                    reason
                    for model in study.models
                    for dataset in study.datasets
                    for method in study.methods
                    if (model, dataset, method)[position] == name
                    and (reason := pairs_with(study, model, dataset, method)) is not None
                }
            )
            raise ConfigError(
                f"{key}: {name!r} pairs with no {_others(key)} of the study, so it would have no cells: "
                + "; ".join(reasons)
                + f". Remove {name!r} from {key} or add a {_others(key, 'or')} it can work with"
            )


def _others(key: str, joiner: str = "and") -> str:
    return {"methods": f"model {joiner} dataset", "models": f"method {joiner} dataset"}.get(
        key, f"model {joiner} method"
    )


def _allowed(study: Study, key: str, rule: Mapping[str, Any]) -> tuple[str, ...]:
    if key == "dataset":
        return tuple(study.datasets)
    if key == "model":
        return tuple(study.models)
    if key == "variant":
        models = [study.models[rule["model"]]] if rule.get("model") in study.models else study.models.values()
        return tuple(dict.fromkeys(v for model in models for v in model.variants))
    if key == "method":
        return study.methods
    if key == "shots":
        return study.shots
    return tuple(str(seed) for seed in study.seeds)


def check_exclude(study: Study) -> None:
    """Every ``exclude`` value names something the study has, and every entry matches a cell."""
    for index, rule in enumerate(study.exclude):
        where = f"exclude.{index}"
        for key, value in rule.items():
            if key == "shots":
                try:
                    value = shots_key(value)
                except ConfigError:
                    raise ConfigError(
                        f"{where}.shots: {rule['shots']!r} is not a positive integer or 'full'; the study's "
                        f"shots: {', '.join(study.shots)}"
                    ) from None
            allowed = _allowed(study, key, rule)
            if str(value) not in allowed:
                plural = key if key == "shots" else f"{key}s"
                raise ConfigError(
                    f"{where}.{key}: {value!r} is not in the study's {plural}, so the entry matches nothing; "
                    f"allowed values: {', '.join(allowed)}"
                )
    if not study.exclude:
        return
    grid = expand_cells(_without_exclude(study))
    for index, rule in enumerate(study.exclude):
        if not any(matches(cell, rule) for cell in grid):
            raise ConfigError(
                f"exclude.{index}: {dict(rule)} matches no cell of the study (its model, dataset and method "
                "never pair, so the cells do not exist anyway); remove the entry"
            )


def _without_exclude(study: Study) -> Study:
    from dataclasses import replace

    return replace(study, exclude=())


def check_geometry(study: Study, cells: Iterable[Cell]) -> None:
    """Images fit their canvas (padding prompts) and token patches tile it (cross-modal programs)."""
    from vpbench.engine.methods import get_method
    from vpbench.models import get_model_family

    for model, dataset, method_name in sorted(_used(cells)):
        method = get_method(method_name)
        for variant in study.models[model].variants.values():
            family = get_model_family(variant.family)
            problem = geometry_problem(study, family, dataset, method)
            if problem:
                raise ConfigError(problem)


def geometry_problem(study: Study, family: Any, dataset: str, method: Any) -> str | None:
    """Why ``method`` cannot lay ``dataset`` out for ``family`` on the study's canvas, or None.

    A method may define ``study_problem(study, family, dataset)`` itself; the built-in padding and
    cross-modal methods are checked here.
    """
    own = getattr(method, "study_problem", None)
    if callable(own):
        return own(study, family, dataset)
    from vpbench.engine.cross_modal import DEFAULT_PATCH
    from vpbench.engine.methods.cross_modal import CrossModalReprogramming
    from vpbench.engine.methods.padding import PaddingVP

    canvas = study.canvas or family.input_size
    canvas_key = "prompt.canvas" if study.canvas else f"prompt.canvas (null: {family.name}'s input size)"
    if isinstance(method, PaddingVP):
        size = method.cache_geometry(study, family, dataset)[0]
        if size > canvas:
            size_key = f"datasets.{dataset}.input_size"
            if not study.datasets[dataset].input_size:
                size_key += " (unset: the registry's size)"
            return (
                f"{canvas_key}: {canvas} is smaller than the {size}-px images of dataset {dataset!r} "
                f"({size_key}); method {method.name!r} pads each image into the canvas, so the canvas must "
                f"be at least {size}. Set prompt.canvas ≥ {size} or datasets.{dataset}.input_size ≤ {canvas}"
            )
    if isinstance(method, CrossModalReprogramming):
        patch = study.patch or DEFAULT_PATCH
        if canvas % patch:
            divisors = [d for d in range(1, canvas + 1) if canvas % d == 0]
            return (
                f"prompt.patch: {patch} does not divide {canvas_key} {canvas}; method {method.name!r} tiles "
                f"the canvas with patch × patch token cells. Allowed patches for canvas {canvas}: "
                f"{', '.join(map(str, divisors))}"
            )
    return None


def check_study(study: Study, cells: list[Cell]) -> None:
    """Every rule of this module that needs the typed study and its cells."""
    check_training(study)
    check_pairings(study)
    check_exclude(study)
    check_geometry(study, cells)
