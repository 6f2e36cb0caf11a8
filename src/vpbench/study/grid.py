"""The study's cell grid and its packs, as pure functions of the typed study and the registries.

A cell is one (dataset, model, variant, method, N-shot, seed) training job. A pack is every few-shot cell
of one (dataset, model, variant, method, seed) with N ≤ ``packing.max_shots``: one process loads the
model and the data once and trains them all, and the pack's job declares every member's files.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from vpbench.errors import ConfigError
from vpbench.study.spec import Study, shots_key


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
        from vpbench.study import paths

        return paths.cell_dir(self)

    @property
    def label(self) -> str:
        """A short human-readable identifier for logs and progress bars."""
        return f"{self.dataset}/{self.model}/{self.variant}/{self.method}/{self.shots}shot/seed{self.seed}"

    @property
    def shots_int(self) -> int | None:
        """N as an int, or None for the full training split."""
        return None if self.shots == "full" else int(self.shots)

    @property
    def pack_id(self) -> str:
        """The pack this cell belongs to when packed: (dataset, model, variant, method, seed)."""
        return f"{self.dataset}/{self.model}/{self.variant}/{self.method}/seed{self.seed}"

    def fields(self) -> dict[str, Any]:
        """The identifiers as a dict (the wildcards of its rule)."""
        return dict(self.__dict__)

    def sort_key(self) -> tuple[str, str, str, str, str, str, int]:
        """The dataclass order as a plain tuple: ``sorted(cells, key=Cell.sort_key)`` equals
        ``sorted(cells)`` without a Python-level ``__lt__`` per comparison."""
        return (self.study, self.dataset, self.model, self.variant, self.method, self.shots, self.seed)


IDENTIFIERS: tuple[str, ...] = ("study", "dataset", "model", "variant", "method", "shots", "seed")


def pairs_with(study: Study, model: str, dataset: str, method: str) -> str | None:
    """None if ``method`` can adapt ``model`` to ``dataset``; else why not (the method decides)."""
    from vpbench.data import get_dataset
    from vpbench.engine.methods import get_method
    from vpbench.models import get_model_family

    family = get_model_family(study.model(model).family)
    return get_method(method).incompatibility(family, get_dataset(dataset))


def matches(cell: Cell, rule: Mapping[str, Any]) -> bool:
    """Whether ``cell`` falls under an ``exclude`` entry (every key given must match)."""
    return all(
        str(getattr(cell, key)) == str(shots_key(value) if key == "shots" else value)
        for key, value in rule.items()
    )


def _normalised(rule: Mapping[str, Any]) -> tuple[tuple[str, str], ...]:
    """An ``exclude`` entry as (identifier, value as :func:`matches` compares it) pairs."""
    return tuple((key, str(shots_key(value) if key == "shots" else value)) for key, value in rule.items())


def expand_cells(study: Study) -> list[Cell]:
    """Every cell of the study in a stable order: the product of its axes, minus incompatible
    (model, dataset, method) triples and ``exclude`` matches (exactly :func:`matches`; each entry is
    normalised once and tested per (dataset, model, method) before the inner axes, because the paper's
    25 entries × 18,759 cells cost seconds when matched cell by cell)."""
    rules = [_normalised(rule) for rule in study.exclude]
    cells = []
    for dataset, model, method in itertools.product(study.datasets, study.models, study.methods):
        if pairs_with(study, model, dataset, method) is not None:
            continue
        outer = {"study": study.name, "dataset": dataset, "model": model, "method": method}
        inner = [  # what is left to match of the entries that match this triple
            [(key, value) for key, value in rule if key not in outer]
            for rule in rules
            if all(outer[key] == value for key, value in rule if key in outer)
        ]
        if any(not rest for rest in inner):
            continue  # an entry excludes every cell of the triple
        variants = study.models[model].variants
        for variant, n, seed in itertools.product(variants, study.shots, study.seeds):
            values = {"variant": variant, "shots": n, "seed": str(seed)}
            if not any(all(values[key] == value for key, value in rest) for rest in inner):
                cells.append(Cell(study.name, dataset, model, variant, method, n, seed))
    return sorted(cells, key=Cell.sort_key)


def packable_shots(study: Study) -> tuple[str, ...]:
    """The N-shots a pack holds: numeric N ≤ ``packing.max_shots`` (full data always trains alone)."""
    if not study.packing["enabled"]:
        return ()
    limit = int(study.packing["max_shots"])
    return tuple(s for s in study.shots if s != "full" and int(s) <= limit)


def packable_methods(study: Study) -> tuple[str, ...]:
    """Methods whose cells may share a pack (the method says whether it can)."""
    from vpbench.engine.methods import get_method

    return tuple(m for m in study.methods if get_method(m).packable)


def plan_packs(study: Study, cells: Iterable[Cell]) -> dict[str, list[Cell]]:
    """Pack id → member cells (one per packable N-shot), for every group the study packs.

    A group must hold every packable N-shot or none of them (the pack rule declares all of them as its
    outputs); an ``exclude`` that leaves a group partial is refused with the group named.
    """
    shots, methods = packable_shots(study), packable_methods(study)
    if not shots:
        return {}
    groups: dict[str, list[Cell]] = {}
    for cell in sorted(cells, key=Cell.sort_key):
        if cell.shots in shots and cell.method in methods:
            groups.setdefault(cell.pack_id, []).append(cell)
    for pack, members in groups.items():
        have = {cell.shots for cell in members}
        if have != set(shots):
            missing = ", ".join(s for s in shots if s not in have)
            raise ConfigError(
                f"packing: pack {pack} lacks N-shot {missing} (excluded), but a pack trains every N-shot "
                f"≤ packing.max_shots ({', '.join(shots)}) together. Exclude whole packs, lower "
                "packing.max_shots, or set packing.enabled: false"
            )
    return groups


def pack_members(study: Study, dataset: str, model: str, variant: str, method: str, seed: int) -> list[Cell]:
    """The cells of one pack, in N-shot order (what the pack rule's outputs list)."""
    return [Cell(study.name, dataset, model, variant, method, s, int(seed)) for s in packable_shots(study)]
