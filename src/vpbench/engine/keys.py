"""Cell keys: everything that determines a cell's result, in canonical form, so a result is never stale.

The *plan* of a cell is what the study decides about it: the resolved training settings, the method and
its options, the variant's identity (registry family, in-pipeline compression spec or declared
checkpoint with its sha256), the dataset geometry and split sampler, the metric and selection options,
and :data:`RESULTS_VERSION`. Its canonical JSON (sorted keys, plain types) is what the training rules
declare as ``params``, so Snakemake reruns exactly the cells whose plan changed and a reordered but
equal study plans nothing. The *fingerprint* adds the checksums of the files the cell read (weights,
caches, split), known only when the cell runs. Both are recorded in ``cell.json`` and in every row of
the aggregated tables; aggregation refuses cells whose recorded plan differs from the study's.
"""

from __future__ import annotations

import copy
import dataclasses
import hashlib
import json
import math
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from vpbench.study.grid import Cell
    from vpbench.study.spec import Study

# Bump when a code change alters the numbers an existing cell would produce (docs/keys.md lists why).
RESULTS_VERSION = "3"


def normalise(value: Any) -> Any:
    """Plain JSON types with a single spelling: mappings sorted, tuples as lists, whole floats as floats."""
    if isinstance(value, Mapping):
        return {str(k): normalise(v) for k, v in sorted(value.items(), key=lambda kv: str(kv[0]))}
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return normalise(dataclasses.asdict(value))
    if isinstance(value, list | tuple):
        return [normalise(v) for v in value]
    if isinstance(value, bool) or value is None or isinstance(value, str | int):
        return value
    if isinstance(value, float):
        if math.isnan(value) or math.isinf(value):
            return repr(value)
        return value
    return str(value)


def canonical_json(value: Any) -> str:
    """The one textual form of ``value`` that keys are computed from."""
    return json.dumps(normalise(value), sort_keys=True, separators=(",", ":"))


def digest(text: str) -> str:
    """Short hex key of a canonical text (64 bits: collisions are not a practical concern here)."""
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _plan(study: Study, cell: Cell) -> dict[str, Any]:
    """The cell's plan, already normalised: each part that does not depend on the cell's own identifiers
    is computed once per study and shared (:mod:`vpbench.study.memo`), so callers must not mutate it."""
    from vpbench.study.memo import memoised

    settings = memoised(study, ("plan.settings", cell.method, cell.shots), lambda: _settings(study, cell))
    return {
        "cell": {k: v for k, v in cell.fields().items() if k != "study"},
        "settings": {**settings, "seed": cell.seed},  # the one setting that depends on the seed
        "method": memoised(study, ("plan.method", cell.method), lambda: _method(cell.method)),
        "variant": memoised(
            study,
            ("plan.variant", cell.model, cell.variant),
            lambda: normalise(study.variant(cell.model, cell.variant).canonical()),
        ),
        "is_dense": study.model(cell.model).is_dense(cell.variant),
        "dataset": memoised(
            study,
            ("plan.dataset", cell.dataset, cell.method, cell.model, cell.variant),
            lambda: _dataset(study, cell),
        ),
        **memoised(study, "plan.study", lambda: _study_wide(study)),
    }


def _settings(study: Study, cell: Cell) -> dict[str, Any]:
    from vpbench.engine.settings import train_settings

    return normalise(dataclasses.asdict(train_settings(study, cell)))


def _method(name: str) -> dict[str, Any]:
    from vpbench.engine.methods import get_method

    method = get_method(name)
    return normalise({"class": type(method).__name__, **method.options()})


def _dataset(study: Study, cell: Cell) -> dict[str, Any]:
    from vpbench.data import get_dataset
    from vpbench.study.dag import cache_geometry

    size, resize = cache_geometry(study, cell)
    return normalise(
        {
            "name": cell.dataset,
            "input_size": size,
            "resize": resize,
            "split_mode": study.split_mode,
            "paper_ece_batch": get_dataset(cell.dataset).paper_ece_batch,
        }
    )


def _study_wide(study: Study) -> dict[str, Any]:
    return normalise(
        {
            "prompt": {"canvas": study.canvas, "patch": study.patch, "label_order": study.label_order},
            "clip_classnames": study.clip_classnames,
            "calibration": {"temperature": study.calibration["temperature"], "rule": calibration_rule()},
            "results_version": RESULTS_VERSION,
        }
    )


def cell_plan(study: Study, cell: Cell) -> dict[str, Any]:
    """What the study decides about ``cell`` (see the module docstring), as plain normalised data: the
    resolved training settings, the method and its options, the variant's identity, the dataset geometry
    and split sampler, the prompt, calibration and metric options, :data:`RESULTS_VERSION`."""
    return copy.deepcopy(_plan(study, cell))


def calibration_rule() -> dict[str, Any]:
    """The constants of the calibration split rule (docs/calibration.md): changing one reruns every cell."""
    from vpbench import calibration

    names = ("HELD_OUT_MIN_PER_CLASS", "HOLDOUT_FRACTION", "CROSS_FIT_MIN_PER_CLASS", "CROSS_FIT_FOLDS",
             "MIN_CALIBRATION_SAMPLES", "BOUND_TOLERANCE")  # fmt: skip
    return {name.lower(): getattr(calibration, name) for name in names}


def plan_json(study: Study, cell: Cell) -> str:
    """The cell's plan as canonical JSON (the training rules' ``params``): ``canonical_json(cell_plan)``,
    from parts normalised once per study instead of once per cell."""
    return json.dumps(_plan(study, cell), sort_keys=True, separators=(",", ":"))


def plan_key(study: Study, cell: Cell) -> str:
    """Short key of the cell's plan."""
    return digest(plan_json(study, cell))


def fingerprint(plan: str, inputs: Mapping[str, Any]) -> str:
    """The plan plus the checksums of the files the cell read: the cell's full key."""
    return digest(canonical_json({"plan": plan, "inputs": dict(inputs)}))


def plan_differences(recorded: Mapping[str, Any], current: Mapping[str, Any], prefix: str = "") -> list[str]:
    """Dotted paths where two plans differ, with both values (for refusal messages)."""
    differences = []
    for key in sorted(set(recorded) | set(current)):
        where = f"{prefix}{key}"
        old, new = recorded.get(key, "<absent>"), current.get(key, "<absent>")
        if isinstance(old, Mapping) and isinstance(new, Mapping):
            differences += plan_differences(old, new, where + ".")
        elif normalise(old) != normalise(new):
            differences.append(f"{where}: {old!r} → {new!r}")
    return differences
