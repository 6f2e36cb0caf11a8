"""The validated study as one frozen object, built once from a config dict.

Every default lives in the JSON schema (``workflow/schemas/config.schema.yaml``); this module only reads
values the schema has filled in, so nothing here restates a default. Per-method overrides apply with
``is not None`` (a study's ``warmup_steps: 0`` stays 0).
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import Any

from vpbench.errors import ConfigError


def _frozen(mapping: Mapping[str, Any] | None) -> Mapping[str, Any]:
    """A read-only copy of a (nested) mapping."""
    return MappingProxyType(
        {k: _frozen(v) if isinstance(v, Mapping) else v for k, v in (mapping or {}).items()}
    )


def thaw(value: Any) -> Any:
    """A plain, JSON-serialisable copy of a frozen mapping / tuple structure."""
    if isinstance(value, Mapping):
        return {k: thaw(v) for k, v in value.items()}
    if isinstance(value, tuple | list):
        return [thaw(v) for v in value]
    return value


def shots_key(shots: Any) -> str:
    """Canonical string form of an N-shot value (``10`` → ``"10"``, ``"full"`` stays)."""
    if isinstance(shots, bool):
        raise ConfigError(f"shots: {shots!r} is not a positive integer or 'full'")
    if shots == "full":
        return "full"
    try:
        value = int(shots)
    except (TypeError, ValueError):
        raise ConfigError(f"shots: {shots!r} is not a positive integer or 'full'") from None
    if value < 1 or str(value) != str(shots).strip():
        raise ConfigError(f"shots: {shots!r} is not a positive integer or 'full'")
    return str(value)


@dataclass(frozen=True)
class Recipe:
    """A method's training settings as the study gives them (None: use the method's published value)."""

    epochs: int
    batch_size: Mapping[str, int]
    lr: float | None
    milestones: tuple[float, ...]
    gamma: float
    warmup_steps: int | None
    eval_every: int
    eval_batch_size: int
    precision: str
    save_prompt_history: bool
    max_steps: int | None
    selection: str

    def batch_size_for(self, shots: str) -> int:
        """The batch size of an N-shot (paper Table 5 by default)."""
        if shots not in self.batch_size:
            raise ConfigError(
                f"training.batch_size has no entry for shots {shots!r}; entries: {', '.join(self.batch_size)}"
            )
        return self.batch_size[shots]

    def overridden(self, override: Mapping[str, Any]) -> Recipe:
        """This recipe with every non-None value of ``override`` replacing the study-wide one."""
        changes: dict[str, Any] = {}
        for key, value in override.items():
            if value is None:
                continue
            if key == "batch_size":
                value = _frozen({shots_key(k): int(v) for k, v in value.items()})
            elif key == "milestones":
                value = tuple(float(m) for m in value)
            changes[key] = value
        return replace(self, **changes)


def _recipe(training: Mapping[str, Any]) -> Recipe:
    return Recipe(
        epochs=int(training["epochs"]),
        batch_size=_frozen({shots_key(k): int(v) for k, v in training["batch_size"].items()}),
        lr=training["lr"],
        milestones=tuple(float(m) for m in training["milestones"]),
        gamma=float(training["gamma"]),
        warmup_steps=training["warmup_steps"],
        eval_every=int(training["eval_every"]),
        eval_batch_size=int(training["eval_batch_size"]),
        precision=str(training["precision"]),
        save_prompt_history=bool(training["save_prompt_history"]),
        max_steps=training["max_steps"],
        selection=str(training["selection"]),
    )


@dataclass(frozen=True)
class VariantSpec:
    """One variant of a study model: which weights it loads and how the pipeline compresses them.

    ``family`` is a model-registry family (for a user checkpoint, the family registered from its
    declaration); ``compress`` is an in-pipeline compression spec, normalised by its method.
    """

    model: str
    name: str
    family: str
    parent_family: str
    compress: Mapping[str, Any] | None = None
    checkpoint: Mapping[str, Any] | None = None

    def canonical(self) -> dict[str, Any]:
        """What identifies the variant's weights before they exist (key-order free, JSON-able)."""
        return {
            "family": self.family,
            "compress": thaw(self.compress) if self.compress is not None else None,
            "checkpoint": thaw(self.checkpoint) if self.checkpoint is not None else None,
        }


@dataclass(frozen=True)
class ModelSpec:
    """A study model: its dense registry family and its variants (one of them the dense reference)."""

    name: str
    family: str
    dense_variant: str
    variants: Mapping[str, VariantSpec]

    def variant(self, name: str) -> VariantSpec:
        """The variant called ``name``; a ConfigError lists the study's variants otherwise."""
        try:
            return self.variants[name]
        except KeyError:
            raise ConfigError(
                f"models.{self.name}: no variant {name!r}; variants: {', '.join(self.variants)}"
            ) from None

    def is_dense(self, variant: str) -> bool:
        """Whether ``variant`` is the model's uncompressed reference (the one rule for "dense")."""
        return variant == self.dense_variant


@dataclass(frozen=True)
class DatasetOptions:
    """Per-study options of one dataset."""

    name: str
    input_size: int | None
    root: str | None


@dataclass(frozen=True)
class Study:
    """The whole validated study: grid axes, per-method recipes and every option a job reads."""

    name: str
    description: str
    device: str
    download: bool
    data_root: str
    weights_dir: str
    imagenet_val: str | None
    models: Mapping[str, ModelSpec]
    datasets: Mapping[str, DatasetOptions]
    methods: tuple[str, ...]
    shots: tuple[str, ...]
    seeds: tuple[int, ...]
    exclude: tuple[Mapping[str, Any], ...]
    split_mode: str
    clip_classnames: str
    canvas: int | None
    patch: int | None
    label_order: str
    packing: Mapping[str, Any]
    training: Recipe
    method_overrides: Mapping[str, Mapping[str, Any]]
    report: Mapping[str, Any]
    plugins: tuple[str, ...]
    config: Mapping[str, Any] = field(repr=False, compare=False)
    cpu_threads: int | None = 1  # intra-op threads of CPU jobs; None: the job's thread count
    shots_above_class_size: str = "cap"  # "cap" (warn, record effective shots) or "refuse"
    allow_outside_project: bool = False  # paths outside the working directory are allowed
    # The SLURM partition limits a cluster profile adds (its `cluster:` file): read by the workflow's
    # request checks only, never part of a cell's plan or of the recorded config (a profile change reruns
    # nothing).
    cluster: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)
    # Values derived from this (frozen) study, memoised by vpbench.study.memo: planning the paper grid asks
    # the same questions (a method's options, a variant's identity, cache geometry) ~20,000 times. Not an
    # init field, so dataclasses.replace() starts a new study with an empty memo.
    memo: dict[Any, Any] = field(default_factory=dict, init=False, repr=False, compare=False)
    cells: tuple[Any, ...] = field(default=(), repr=False, compare=False)  # set by load_study
    packs: Mapping[str, tuple[Any, ...]] = field(default_factory=dict, repr=False, compare=False)
    calibration: Mapping[str, Any] = field(default_factory=lambda: _frozen({"temperature": "protocol"}))

    def recipe(self, method: str) -> Recipe:
        """The study's recipe for ``method``: study-wide settings with its ``method_overrides`` on top."""
        return self.training.overridden(self.method_overrides.get(method, {}))

    def model(self, name: str) -> ModelSpec:
        """The study model called ``name``."""
        try:
            return self.models[name]
        except KeyError:
            raise ConfigError(f"no model {name!r} in the study; models: {', '.join(self.models)}") from None

    def variant(self, model: str, variant: str) -> VariantSpec:
        """One variant of one study model."""
        return self.model(model).variant(variant)

    def dataset_root(self, dataset: str) -> str:
        """Where a dataset's raw files live: its own ``root`` or ``<paths.data_root>/<dataset>``."""
        return self.datasets[dataset].root or f"{self.data_root}/{dataset}"

    def dataset_input_size(self, dataset: str) -> int:
        """The study's input size for ``dataset``, or the registry's."""
        from vpbench.data import get_dataset

        override = self.datasets[dataset].input_size
        return int(override) if override else int(get_dataset(dataset).input_size)

    def all_variants(self) -> list[VariantSpec]:
        """Every variant of every model, in study order."""
        return [v for model in self.models.values() for v in model.variants.values()]

    def as_config(self) -> dict[str, Any]:
        """The validated config (defaults filled) as a plain dict, e.g. for provenance records."""
        return copy.deepcopy(thaw(self.config))


# Config sections that describe where a study runs, not what it computes: kept out of Study.config.
NOT_THE_STUDY = ("cluster",)


def _variant(model: str, entry: Mapping[str, Any], name: str, spec: Mapping[str, Any] | None) -> VariantSpec:
    spec = spec or {}
    return VariantSpec(
        model=model,
        name=name,
        family=spec.get("family") or entry["family"],
        parent_family=entry["family"],
        compress=_frozen(spec["compress"]) if spec.get("compress") is not None else None,
        checkpoint=_frozen(spec["checkpoint"]) if spec.get("checkpoint") is not None else None,
    )


def build_study(config: Mapping[str, Any]) -> Study:
    """The typed study of a schema-validated config (defaults already filled by the schema)."""
    models = {
        name: ModelSpec(
            name=name,
            family=entry["family"],
            dense_variant=entry["dense_variant"],
            variants=_frozen({v: _variant(name, entry, v, spec) for v, spec in entry["variants"].items()}),
        )
        for name, entry in config["models"].items()
    }
    datasets = {
        name: DatasetOptions(name, (opts or {}).get("input_size"), (opts or {}).get("root"))
        for name, opts in config["datasets"].items()
    }
    overrides = config["training"]["method_overrides"] or {}
    return Study(
        name=config["study"],
        description=config["description"],
        device=config["device"],
        download=bool(config["download"]),
        data_root=config["paths"]["data_root"],
        weights_dir=config["paths"]["weights_dir"],
        imagenet_val=config["paths"].get("imagenet_val"),
        models=MappingProxyType(models),
        datasets=MappingProxyType(datasets),
        methods=tuple(config["methods"]),
        shots=tuple(shots_key(s) for s in config["shots"]),
        seeds=tuple(int(s) for s in config["seeds"]),
        exclude=tuple(_frozen(rule) for rule in config["exclude"]),
        split_mode=config["split_mode"],
        clip_classnames=config["clip_classnames"],
        canvas=config["prompt"]["canvas"],
        patch=config["prompt"]["patch"],
        label_order=config["prompt"]["label_order"],
        packing=_frozen(config["packing"]),
        training=_recipe(config["training"]),
        method_overrides=_frozen({m: dict(o or {}) for m, o in overrides.items()}),
        report=_frozen(config["report"]),
        plugins=tuple(config["plugins"]),
        config=_frozen({key: value for key, value in config.items() if key not in NOT_THE_STUDY}),
        cluster=_frozen(config.get("cluster")),
        cpu_threads=config["cpu_threads"],
        shots_above_class_size=config["shots_above_class_size"],
        allow_outside_project=bool(config["paths"]["allow_outside_project"]),
        calibration=_frozen(
            {"temperature": "off" if config["calibration"]["temperature"] in ("off", False) else "protocol"}
        ),
    )
