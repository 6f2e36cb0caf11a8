"""From a config dict to the typed, checked study: plugins → schema → registries → cross-field rules.

Every check a job would make is made here, before any job runs, and each refusal names the key, the
value and what is allowed.
"""

from __future__ import annotations

from collections.abc import Mapping, MutableMapping
from dataclasses import replace
from pathlib import Path
from types import MappingProxyType
from typing import Any

from vpbench.errors import ConfigError
from vpbench.study.checks import check_finite, check_study
from vpbench.study.environment import Environment, check_configfiles, check_environment
from vpbench.study.grid import Cell, expand_cells, pairs_with, plan_packs
from vpbench.study.plugins import load_plugins
from vpbench.study.schema import validate_config
from vpbench.study.spec import Study, build_study, shots_key


def _plugin_names(config: Mapping[str, Any]) -> list[str]:
    plugins = config.get("plugins") or []
    if not isinstance(plugins, list) or not all(isinstance(p, str) for p in plugins):
        raise ConfigError(f"plugins: {plugins!r} must be a list of module names or .py files")
    return plugins


def _check_names(study: Study) -> None:
    from vpbench.data import get_dataset
    from vpbench.engine.methods import get_method
    from vpbench.models import get_model_family

    lookups = [("datasets", get_dataset, d) for d in study.datasets]
    lookups += [("methods", get_method, m) for m in study.methods]
    lookups += [("training.method_overrides", get_method, m) for m in study.method_overrides]
    for model in study.models.values():
        lookups.append((f"models.{model.name}.family", get_model_family, model.family))
        lookups += [
            (f"models.{model.name}.variants.{v.name}.family", get_model_family, v.family)
            for v in model.variants.values()
        ]
    for key, lookup, name in lookups:
        try:
            lookup(name)
        except ConfigError as error:
            raise ConfigError(f"{key}: {error}") from None
    for model in study.models.values():
        if model.dense_variant not in model.variants:
            raise ConfigError(
                f"models.{model.name}.variants has no {model.dense_variant!r} entry; every model needs its "
                f"uncompressed reference (variants: {', '.join(model.variants)})"
            )


def _resolve_variants(study: Study) -> Study:
    """Normalise compression specs and register user checkpoints as model families."""
    from vpbench.compression import validate_spec
    from vpbench.models.checkpoints import register_checkpoint

    models = {}
    for model in study.models.values():
        variants = {}
        for variant in model.variants.values():
            where = f"models.{model.name}.variants.{variant.name}"
            if variant.checkpoint is not None and variant.compress is not None:
                raise ConfigError(f"{where}: give either checkpoint or compress, not both")
            if variant.checkpoint is not None:
                family = register_checkpoint(variant.checkpoint, where=f"{where}.checkpoint")
                variant = replace(variant, family=family)
            if variant.compress is not None:
                try:
                    spec = validate_spec(dict(variant.compress))
                except ConfigError as error:
                    raise ConfigError(f"{where}.compress: {error}") from None
                variant = replace(variant, compress=MappingProxyType(spec))
            variants[variant.name] = variant
        models[model.name] = replace(model, variants=MappingProxyType(variants))
    return replace(study, models=MappingProxyType(models))


SHA256_CACHE = ".snakemake/vpbench-sha256.json"


def check_checkpoints(study: Study) -> None:
    """Every declared user checkpoint exists and has the declared sha256 (hashes cached by size/mtime).

    The full check (safe load, architecture, declared compression) runs in the acquisition rule, which
    has the highest priority, so a wrong file stops the run before any training.
    """
    from vpbench.sources.checksums import sha256_file_cached

    for variant in study.all_variants():
        if variant.checkpoint is None:
            continue
        where = f"models.{variant.model}.variants.{variant.name}.checkpoint"
        path, expected = Path(variant.checkpoint["path"]), str(variant.checkpoint["sha256"]).lower()
        if not path.is_file():
            raise ConfigError(f"{where}.path: checkpoint file {path} does not exist")
        actual = sha256_file_cached(path, SHA256_CACHE)
        if actual != expected:
            raise ConfigError(
                f"{where}.sha256: {path} has sha256 {actual}, not the declared {expected}; the file is not "
                "the one the study names (or it changed). Nothing was loaded"
            )


def check_dataset_roots(study: Study) -> None:
    """With downloads off, every dataset read from disk must have its root folder already."""
    from vpbench.data import get_dataset

    if study.download:
        return
    for dataset in study.datasets:
        spec = get_dataset(dataset)
        if getattr(spec.reader, "packaged", False):
            continue
        root = Path(study.dataset_root(dataset))
        if not root.is_dir():
            raise ConfigError(
                f"datasets.{dataset}: root {root} does not exist and download is false. Pre-stage the files "
                f"there ({spec.prestage_help}) or set download: true"
            )


def _explain_empty(study: Study) -> str:
    reasons = sorted(
        {
            reason
            for dataset in study.datasets
            for model in study.models
            for method in study.methods
            if (reason := pairs_with(study, model, dataset, method)) is not None
        }
    )
    if reasons:
        return "the study has no cells: " + "; ".join(reasons)
    return "the study has no cells: every cell is excluded by the exclude list"


def check_cells(study: Study, cells: list[Cell]) -> None:
    """Cross-field rules over the grid: batch sizes exist for every (method, N-shot)."""
    if not cells:
        raise ConfigError(_explain_empty(study))
    for method in {cell.method for cell in cells}:
        recipe = study.recipe(method)
        for shots in {cell.shots for cell in cells if cell.method == method}:
            try:
                recipe.batch_size_for(shots)
            except ConfigError as error:
                where = "training"
                if method in study.method_overrides:
                    where = f"training.method_overrides.{method}"
                raise ConfigError(f"{where}: {error}") from None


def load_study(config: MutableMapping[str, Any], schema: Mapping[str, Any] | None = None) -> Study:
    """Load plugins, validate ``config`` (filling schema defaults in place) and return the checked study
    with its cells and packs."""
    load_plugins(_plugin_names(config))
    check_finite(config)
    validate_config(config, schema)
    study = _resolve_variants(build_study(config))
    _check_names(study)
    check_checkpoints(study)
    check_dataset_roots(study)
    cells = expand_cells(study)
    check_study(study, cells)
    check_cells(study, cells)
    packs = plan_packs(study, cells)
    return replace(
        study,
        cells=tuple(cells),
        packs=MappingProxyType({pack: tuple(members) for pack, members in packs.items()}),
    )


def plan_study(config: MutableMapping[str, Any], environment: Environment | None) -> tuple[Study, list[str]]:
    """The workflow's entry point: :func:`load_study`, then (in the main Snakemake process) the checks of
    this machine and working directory. Returns the study and the warnings to show."""
    if environment is not None:
        check_configfiles(environment.configfiles)  # first: Snakemake has already merged their keys
    study = load_study(config)
    warnings = check_environment(study, environment) if environment is not None else []
    return study, warnings


__all__ = ["check_cells", "check_dataset_roots", "load_study", "plan_study", "shots_key", "study_of"]


def study_of(snakemake: Any) -> Study:
    """The typed study of a running job (its plugins loaded in this process too)."""
    import copy

    return load_study(copy.deepcopy(dict(snakemake.config)))
