"""A study config as objects: the cell grid, the paths of every output, and checks the schema cannot do.

The JSON schema (``workflow/schemas/config.schema.yaml``) checks types, keys and ranges; this module
checks names against the registries and cross-field rules, always before any job runs.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from vpbench.errors import ConfigError

CELL_DIR = "results/{study}/cells/{dataset}/{model}/{variant}/{method}/{shots}shot/seed{seed}"
CHECKPOINT_DIR = CELL_DIR.replace("/cells/", "/checkpoints/", 1)
CELL_FILES = (
    "metrics.parquet",
    "epochs.parquet",
    "classes.parquet",
    "test_probs.npy",
    "test_labels.npy",
    "prompt.pt",
    "cell.json",
)


@dataclass(frozen=True, order=True)
class Cell:
    """One training job: (dataset, model, variant, method, N-shot, seed) within a study."""

    study: str
    dataset: str
    model: str
    variant: str
    method: str
    shots: str
    seed: int

    @property
    def directory(self) -> str:
        """The cell's output folder, relative to the working directory."""
        return CELL_DIR.format(**self.__dict__)

    @property
    def label(self) -> str:
        """A short human-readable identifier for logs and progress bars."""
        return f"{self.dataset}/{self.model}/{self.variant}/{self.method}/{self.shots}shot/seed{self.seed}"

    @property
    def shots_int(self) -> int | None:
        """N as an int, or None for the full training split."""
        return None if self.shots == "full" else int(self.shots)


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


def _unique(values: Iterable[Any], key: str) -> list[Any]:
    values = list(values)
    duplicates = sorted({str(v) for v in values if values.count(v) > 1})
    if duplicates:
        raise ConfigError(f"{key}: duplicate values {', '.join(duplicates)}; list each once")
    return values


def training_for(config: Mapping[str, Any], method: str) -> dict[str, Any]:
    """The study's training section with the method's ``method_overrides`` entry applied on top."""
    training = {k: v for k, v in config["training"].items() if k != "method_overrides"}
    training.update((config["training"].get("method_overrides") or {}).get(method) or {})
    return training


def batch_size_for(config: Mapping[str, Any], shots: str) -> int:
    """The study's batch size for an N-shot (paper Table 5 by default)."""
    table = {shots_key(k): int(v) for k, v in config["training"]["batch_size"].items()}
    if shots not in table:
        raise ConfigError(
            f"training.batch_size has no entry for shots {shots!r}; entries: {', '.join(table)}"
        )
    return table[shots]


def variant_spec(config: Mapping[str, Any], model: str, variant: str) -> dict[str, Any]:
    """The resolved spec of one variant: its source family and optional in-pipeline compression."""
    entry = config["models"][model]
    spec = dict(entry["variants"][variant] or {})
    spec.setdefault("family", entry["family"])
    spec["parent_family"] = entry["family"]
    return spec


def dense_variant(config: Mapping[str, Any], model: str) -> str:
    """Name of the model's uncompressed reference variant."""
    return config["models"][model].get("dense_variant", "dense")


def dataset_input_size(config: Mapping[str, Any], dataset: str) -> int:
    """Input size the cache and the prompt use: the study's override or the registry default."""
    from vpbench.data import get_dataset

    override = (config["datasets"][dataset] or {}).get("input_size")
    return int(override) if override else int(get_dataset(dataset).input_size)


def expand_cells(config: Mapping[str, Any]) -> list[Cell]:
    """Every cell of the study, in a stable order, skipping (method, model) pairs of different kinds."""
    from vpbench.data import get_dataset
    from vpbench.engine.methods import get_method
    from vpbench.models import get_model_family

    study = config["study"]
    excluded = [dict(rule) for rule in config.get("exclude", [])]
    shots = _unique([shots_key(s) for s in config["shots"]], "shots")
    seeds = _unique([int(s) for s in config["seeds"]], "seeds")
    methods = _unique(config["methods"], "methods")
    cells = []
    for dataset, model, method in itertools.product(config["datasets"], config["models"], methods):
        kind = get_model_family(config["models"][model]["family"]).kind
        if kind not in get_method(method).model_kinds:
            continue
        if (get_method(method).builder == "cross_modal") != (get_dataset(dataset).modality != "image"):
            continue  # text/DNA tasks pair only with cross-modal methods, image datasets only with image VP
        for variant, n, seed in itertools.product(config["models"][model]["variants"], shots, seeds):
            cell = Cell(study, dataset, model, variant, method, n, seed)
            if not any(_matches(cell, rule) for rule in excluded):
                cells.append(cell)
    return sorted(cells)


def _matches(cell: Cell, rule: Mapping[str, Any]) -> bool:
    """Whether ``cell`` falls under an ``exclude`` entry (every key given must match)."""
    return all(str(getattr(cell, key)) == str(shots_key(value) if key == "shots" else value)
               for key, value in rule.items())  # fmt: skip


def dataset_root(config: Mapping[str, Any], dataset: str) -> str:
    """Where a dataset's raw files live: its own ``root`` or ``<paths.data_root>/<dataset>``."""
    data_root = config.get("paths", {}).get("data_root", "resources/raw")
    return (config["datasets"][dataset] or {}).get("root") or f"{data_root}/{dataset}"


def check_dataset_roots(config: Mapping[str, Any]) -> None:
    """With downloads off, every dataset read from disk must have its root folder already (cheap check)."""
    from pathlib import Path

    from vpbench.data import get_dataset

    for dataset in config["datasets"]:
        spec = get_dataset(dataset)
        if getattr(spec.reader, "packaged", False):
            continue
        root = Path(dataset_root(config, dataset))
        if not root.is_dir():
            raise ConfigError(
                f"datasets.{dataset}: root {root} does not exist and download is false. Pre-stage the files "
                f"there ({spec.prestage_help}) or set download: true"
            )


def check_study(config: Mapping[str, Any]) -> list[Cell]:
    """Validate names against the registries and cross-field rules; return the cell grid."""
    from vpbench.compression import validate_spec
    from vpbench.data import get_dataset
    from vpbench.engine.methods import get_method
    from vpbench.models import get_model_family

    for dataset in config["datasets"]:
        get_dataset(dataset)
    for method in config["methods"]:
        get_method(method)
    for model, entry in config["models"].items():
        get_model_family(entry["family"])
        variants = entry["variants"]
        if dense_variant(config, model) not in variants:
            raise ConfigError(
                f"models.{model}.variants has no {dense_variant(config, model)!r} entry; "
                f"every model needs its uncompressed reference (variants: {', '.join(variants)})"
            )
        for name, spec in variants.items():
            spec = spec or {}
            if "family" in spec:
                get_model_family(spec["family"])
            if "compress" in spec:
                try:
                    validate_spec(spec["compress"])
                except ConfigError as exc:
                    raise ConfigError(f"models.{model}.variants.{name}.compress: {exc}") from None
    if not config.get("download", False):
        check_dataset_roots(config)
    cells = expand_cells(config)
    if not cells:
        raise ConfigError("the study has no cells: no (model, method) pair shares a model kind")
    for method in config["training"].get("method_overrides") or {}:
        try:
            get_method(method)
        except ConfigError as exc:
            raise ConfigError(f"training.method_overrides: {exc}") from None
    for cell in cells:
        batch_size_for({"training": training_for(config, cell.method)}, cell.shots)
    return cells


def plan_packs(cells: list[Cell], config: Mapping[str, Any]) -> dict[str, list[Cell]]:
    """Group few-shot cells of one (dataset, model, variant) into packs of at most ``cells_per_job``.

    Pack ids read ``{dataset}/{model}/{variant}/pack{i}``. Only image and cross-modal cells with
    N ≤ ``max_shots`` are packed (full-data cells are long enough to deserve their own job); CLIP cells
    need per-dataset text embeddings and stay single. Membership depends only on the config.
    """
    from vpbench.engine.methods import get_method

    packing = config.get("packing") or {}
    size, max_shots = int(packing.get("cells_per_job", 8)), int(packing.get("max_shots", 20))
    if size < 2:
        return {}
    groups: dict[tuple[str, str, str], list[Cell]] = {}
    for cell in sorted(cells):
        packable = cell.shots != "full" and int(cell.shots) <= max_shots
        if packable and get_method(cell.method).builder in ("image", "cross_modal"):
            groups.setdefault((cell.dataset, cell.model, cell.variant), []).append(cell)
    packs = {}
    for (dataset, model, variant), members in groups.items():
        for start in range(0, len(members), size):
            if len(members[start : start + size]) > 1:  # a pack of one is just a cell
                packs[f"{dataset}/{model}/{variant}/pack{start // size}"] = members[start : start + size]
    return packs
