"""The workflow's wiring as functions of the typed study: every rule's inputs, outputs and params.

The rules in ``rules/*.smk`` call these and nothing else, so what a job reads and writes is decided in
one place, from the study alone (never from which files exist when the Snakefile is parsed).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from vpbench.study import paths
from vpbench.study.grid import Cell, pack_members, packable_methods, packable_shots
from vpbench.study.memo import memoised
from vpbench.study.spec import Study


def _alternatives(values: Any) -> str:
    return "|".join(re.escape(str(value)) for value in sorted(set(values))) or "(?!)"


def wildcard_constraints(study: Study) -> dict[str, str]:
    """Regexes of every wildcard: the study's own names, so rules never match foreign paths."""
    from vpbench.engine.text_templates import TEMPLATE_SETS

    variants = {v.name for v in study.all_variants()}
    families = {v.family for v in study.all_variants()}
    return {
        "study": re.escape(study.name),
        "dataset": _alternatives(study.datasets),
        "model": _alternatives(study.models),
        "variant": _alternatives(variants),
        "method": _alternatives(study.methods),
        "family": _alternatives(families),
        "shots": r"\d+|full",
        "seed": r"\d+",
        "split": "train|test",
        "size": r"\d+",
        "resize": "square|clip",
        "mode": "vpbench|paper",
        "templates": _alternatives(TEMPLATE_SETS),
    }


def cell_of(study: Study, wildcards: Mapping[str, Any]) -> Cell:
    """The cell a job's wildcards name."""
    return Cell(
        study.name, wildcards["dataset"], wildcards["model"], wildcards["variant"], wildcards["method"],
        str(wildcards["shots"]), int(wildcards["seed"]),
    )  # fmt: skip


def cache_geometry(study: Study, cell: Cell) -> tuple[int, str]:
    """(input size, resize mode) of the caches ``cell`` reads: its method decides, once per (method,
    model, variant, dataset) and study."""

    def compute() -> tuple[int, str]:
        from vpbench.engine.methods import get_method
        from vpbench.models import get_model_family

        family = get_model_family(study.variant(cell.model, cell.variant).family)
        return get_method(cell.method).cache_geometry(study, family, cell.dataset)

    return memoised(study, ("cache_geometry", cell.method, cell.model, cell.variant, cell.dataset), compute)


def cell_inputs(study: Study, wildcards: Mapping[str, Any]) -> dict[str, str]:
    """Everything one cell reads: the variant's card, both caches, its N-shot split, method extras."""
    from vpbench.engine.methods import get_method

    cell = cell_of(study, wildcards)
    size, resize = cache_geometry(study, cell)
    return {
        "card": paths.card(study.name, cell.model, cell.variant),
        "train": paths.cache_manifest(cell.dataset, "train", size, resize),
        "test": paths.cache_manifest(cell.dataset, "test", size, resize),
        "split": paths.split_file(cell.dataset, study.split_mode, cell.shots, cell.seed),
        **get_method(cell.method).extra_inputs(study, cell),
    }


def cell_plan(study: Study, wildcards: Mapping[str, Any]) -> str:
    """The cell's plan (canonical JSON): a change reruns the cell, a reordered study does not."""
    from vpbench.engine.keys import plan_json

    return plan_json(study, cell_of(study, wildcards))


def pack_cells(study: Study, wildcards: Mapping[str, Any]) -> list[Cell]:
    """The member cells of the pack the wildcards name."""
    return pack_members(
        study, wildcards["dataset"], wildcards["model"], wildcards["variant"], wildcards["method"],
        int(wildcards["seed"]),
    )  # fmt: skip


def pack_inputs(study: Study, wildcards: Mapping[str, Any]) -> dict[str, Any]:
    """What a pack reads: the members' shared card, caches and extras, and each member's split."""
    members = pack_cells(study, wildcards)
    inputs: dict[str, Any] = cell_inputs(study, members[0].fields())
    inputs.pop("split")
    inputs["splits"] = [paths.split_file(c.dataset, study.split_mode, c.shots, c.seed) for c in members]
    return inputs


def pack_plans(study: Study, wildcards: Mapping[str, Any]) -> str:
    """The members' plans, in N-shot order (a change to any member reruns the pack)."""
    from vpbench.engine.keys import plan_json

    return json.dumps([plan_json(study, cell) for cell in pack_cells(study, wildcards)])


def pack_outputs(study: Study) -> dict[str, str]:
    """Output patterns of the pack rule: every member's files, one literal N-shot per member."""
    pattern = paths.CELL_DIR.replace("{shots}", "{shots_literal}")
    return {
        f"{name.replace('.', '_')}_{shots}": pattern.replace("{shots_literal}", shots) + f"/{name}"
        for shots in packable_shots(study)
        for name in paths.cell_files(study)
    }


def pack_method_constraint(study: Study) -> str:
    """The ``method`` regex of the pack rule: only methods whose cells may share a pack."""
    return _alternatives(packable_methods(study))


def cell_outputs(study: Study) -> dict[str, str]:
    """Output patterns of the single-cell rule."""
    return {name.replace(".", "_"): f"{paths.CELL_DIR}/{name}" for name in paths.cell_files(study)}


def variant_spec(study: Study, wildcards: Mapping[str, Any]) -> str:
    """A variant's identity as canonical JSON (key-order free, so a reordered study changes nothing)."""
    from vpbench.engine.keys import canonical_json

    return canonical_json(study.variant(wildcards["model"], wildcards["variant"]).canonical())


def variant_canvas(study: Study, wildcards: Mapping[str, Any]) -> int:
    """Input side at which a variant's card measures FLOPs and calibrates fake quantization: the prompt
    canvas for classifiers, the model's own size for CLIP (a 336-px CLIP rejects 224-px images)."""
    from vpbench.models import get_model_family

    family = get_model_family(study.variant(wildcards["model"], wildcards["variant"]).family)
    if family.kind == "clip":
        return family.input_size
    return study.canvas or family.input_size


def variant_weights(study: Study, wildcards: Mapping[str, Any]) -> str:
    """The acquisition marker of the weights a variant starts from."""
    return paths.weights_acquired(study, study.variant(wildcards["model"], wildcards["variant"]).family)


def cell_files(study: Study, names: tuple[str, ...] | None = None) -> list[str]:
    """Files of every cell (all of a cell's outputs by default)."""
    names = names or paths.cell_files(study)
    return [f"{cell.directory}/{name}" for cell in study.cells for name in names]


def variant_cards(study: Study) -> list[str]:
    """Every variant's card."""
    return [paths.card(study.name, v.model, v.name) for v in study.all_variants()]


def imagenet_top1_files(study: Study) -> list[str]:
    """Every variant's measured ImageNet top-1, when the study names ``paths.imagenet_val`` (else none)."""
    if not study.imagenet_val:
        return []
    return [paths.IMAGENET_TOP1.format(study=study.name, model=v.model, variant=v.name)
            for v in study.all_variants()]  # fmt: skip


def dense_variants(study: Study) -> dict[str, str]:
    """Model → its dense variant."""
    return {name: model.dense_variant for name, model in study.models.items()}


def training_logs(study: Study) -> dict[tuple, tuple[str, str]]:
    """Identifier tuple → (rule, log path) of the job that trains each cell (its pack's, if packed)."""
    from vpbench.study.grid import IDENTIFIERS

    packed = {cell: pack for pack, members in study.packs.items() for cell in members}
    result = {}
    for cell in study.cells:
        ids = tuple(cell.fields()[k] for k in IDENTIFIERS)
        if cell in packed:
            result[ids] = ("train_pack", paths.PACK_LOG.format(**cell.fields()))
        else:
            result[ids] = ("train_cell", paths.cell_log(cell))
    return result


def feature_inputs(study: Study, wildcards: Mapping[str, Any]) -> dict[str, str]:
    """What a ``features`` job reads: the variant's card and the split's cache at the dataset's input size."""
    dataset = wildcards["dataset"]
    return {
        "card": paths.card(study.name, wildcards["model"], wildcards["variant"]),
        "cache": paths.cache_manifest(dataset, wildcards["split"], study.dataset_input_size(dataset)),
    }


def feature_size(study: Study, wildcards: Mapping[str, Any]) -> int:
    """L, the side images are resized to before feature extraction: the canvas, else the model's size."""
    from vpbench.models import get_model_family

    family = get_model_family(study.variant(wildcards["model"], wildcards["variant"]).family)
    return int(study.canvas or family.input_size)
