"""Label-map claims: compressed models map targets to other (less related) source classes than dense ones."""

from __future__ import annotations

import math
from collections.abc import Sequence
from itertools import combinations

import numpy as np
import pandas as pd

from vpbench.results.claims.base import (
    _COMPARISON,
    Claim,
    _comparisons,
    _lacking,
    _no_data,
    _result,
    clustered_interval,
    sign_verdict,
)
from vpbench.results.frames import dense_variants
from vpbench.results.stats import cell_id
from vpbench.study.grid import IDENTIFIERS

# Coarse ImageNet-1k superclasses by class index (ILSVRC order): dogs are 151 Chihuahua … 268 Mexican
# hairless, animals are 0 tench … 397 puffer, everything from 398 abacus on is not an animal.
IMAGENET_SUPERCLASS_RANGES: tuple[tuple[str, int, int], ...] = (
    ("dog", 151, 268),
    ("animal (not dog)", 0, 150),
    ("animal (not dog)", 269, 397),
    ("not an animal", 398, 999),
)
AGREEMENT_COLUMNS: tuple[str, ...] = (
    *IDENTIFIERS,
    "dense_variant",
    "n_targets",
    "agreement",
    "superclass_agreement",
    "dense_cell",
    "compressed_cell",
)


def learned_map_methods() -> tuple[str, ...]:
    """Registered VP methods whose index map is learned from the training subset (FLM, ILM, ILM-TP-VP)."""
    from vpbench.engine.methods import METHODS

    return tuple(sorted(m.name for m in METHODS.values() if m.learns_map))


def imagenet_superclass(index: int) -> str:
    """Coarse ImageNet-1k superclass of a class index (:data:`IMAGENET_SUPERCLASS_RANGES`)."""
    for name, low, high in IMAGENET_SUPERCLASS_RANGES:
        if low <= index <= high:
            return name
    raise ValueError(f"{index} is not an ImageNet-1k class index")


def _is_imagenet(rows: pd.DataFrame, names: Sequence[str]) -> bool:
    """Whether every row's (source_index, source_name) is the ImageNet-1k class of that index."""
    index = rows["source_index"].to_numpy(dtype=np.int64)
    if index.size == 0 or index.min() < 0 or index.max() >= len(names):
        return False
    return bool(np.all(np.asarray(names, dtype=object)[index] == rows["source_name"].to_numpy(dtype=object)))


def _map_agreement(first: pd.DataFrame, second: pd.DataFrame, imagenet: bool) -> tuple[int, float, float]:
    """Targets in both maps, fraction with the same source, and with the same ImageNet superclass."""
    joined = first[["class_index", "source_index"]].merge(
        second[["class_index", "source_index"]], on="class_index", suffixes=("_a", "_b")
    )
    if joined.empty:
        return 0, math.nan, math.nan
    same = float((joined["source_index_a"] == joined["source_index_b"]).mean())
    if not imagenet:
        return len(joined), same, math.nan
    a = joined["source_index_a"].map(imagenet_superclass)
    b = joined["source_index_b"].map(imagenet_superclass)
    return len(joined), same, float((a == b).mean())


def label_map_agreement(
    classes: pd.DataFrame,
    cells: pd.DataFrame,
    *,
    methods: Sequence[str] | None = None,
    imagenet_names: Sequence[str] | None = None,
) -> pd.DataFrame:
    """Dense-vs-compressed label-map agreement per compressed cell (:data:`AGREEMENT_COLUMNS`).

    ``agreement``: fraction of target classes that the dense and the compressed model of the same seed,
    method and N-shot map to the same source class; ``superclass_agreement``: to the same coarse ImageNet
    superclass (NaN unless the sources are ImageNet-1k classes). Only methods with a learned index map count
    (default :func:`learned_map_methods`); FullyMap rows (source −1) never do.
    """
    lacking = _lacking(classes, [*IDENTIFIERS, "class_index", "source_index", "source_name"])
    lacking += _lacking(cells, [*IDENTIFIERS, "is_dense"])
    if lacking or classes.empty or cells.empty:
        return pd.DataFrame(columns=list(AGREEMENT_COLUMNS))
    methods = tuple(methods) if methods is not None else learned_map_methods()
    rows = classes.loc[classes["method"].isin(methods) & (classes["source_index"] >= 0)]
    if imagenet_names is None:
        from vpbench.models.imagenet import imagenet_class_names

        imagenet_names = imagenet_class_names()
    dense_of = dense_variants(cells)
    maps = {key: group for key, group in rows.groupby(list(IDENTIFIERS), sort=True)}
    records = []
    for key, compressed in maps.items():
        ids = dict(zip(IDENTIFIERS, key, strict=True))
        dense_name = dense_of.get((str(ids["study"]), str(ids["model"])))
        if dense_name is None or ids["variant"] == dense_name:
            continue
        dense_key = tuple(dense_name if c == "variant" else ids[c] for c in IDENTIFIERS)
        dense = maps.get(dense_key)
        if dense is None:
            continue
        imagenet = _is_imagenet(pd.concat([dense, compressed]), imagenet_names)
        n, same, same_super = _map_agreement(dense, compressed, imagenet)
        records.append(
            ids
            | {
                "dense_variant": dense_name,
                "n_targets": n,
                "agreement": same,
                "superclass_agreement": same_super,
                "dense_cell": cell_id(ids | {"variant": dense_name}),
                "compressed_cell": cell_id(ids),
            }
        )
    return pd.DataFrame(records, columns=list(AGREEMENT_COLUMNS))


def dense_seed_agreement(
    classes: pd.DataFrame,
    cells: pd.DataFrame,
    *,
    methods: Sequence[str] | None = None,
    imagenet_names: Sequence[str] | None = None,
) -> pd.DataFrame:
    """Mean label-map agreement between dense cells of different seeds per (study, dataset, model, method, N).

    The seed-to-seed baseline: how much the dense map moves when only the N-shot subset and prompt init
    change.
    """
    columns = [
        "study",
        "dataset",
        "model",
        "method",
        "shots",
        "baseline",
        "superclass_baseline",
        "n_seed_pairs",
    ]
    if _lacking(classes, [*IDENTIFIERS, "class_index", "source_index", "source_name"]) or classes.empty:
        return pd.DataFrame(columns=columns)
    if _lacking(cells, [*IDENTIFIERS, "is_dense"]) or cells.empty:
        return pd.DataFrame(columns=columns)
    methods = tuple(methods) if methods is not None else learned_map_methods()
    if imagenet_names is None:
        from vpbench.models.imagenet import imagenet_class_names

        imagenet_names = imagenet_class_names()
    dense_of = dense_variants(cells)
    is_dense = np.array(
        [
            dense_of.get((str(study), str(model))) == variant
            for study, model, variant in zip(
                classes["study"], classes["model"], classes["variant"], strict=True
            )
        ],
        dtype=bool,
    )
    rows = classes.loc[is_dense & classes["method"].isin(methods) & (classes["source_index"] >= 0)]
    records = []
    for key, group in rows.groupby(["study", "dataset", "model", "method", "shots"], sort=True):
        maps = {seed: part for seed, part in group.groupby("seed", sort=True)}
        imagenet = _is_imagenet(group, imagenet_names)
        scores = [_map_agreement(maps[a], maps[b], imagenet) for a, b in combinations(sorted(maps), 2)]
        if not scores:
            continue
        records.append(
            dict(zip(["study", "dataset", "model", "method", "shots"], key, strict=True))
            | {
                "baseline": float(np.mean([s[1] for s in scores])),
                "superclass_baseline": float(np.mean([s[2] for s in scores])),
                "n_seed_pairs": len(scores),
            }
        )
    return pd.DataFrame(records, columns=columns)


def _drift_claim(superclass: bool) -> Claim:
    """Label-map drift (exact or superclass) beyond the dense seed-to-seed baseline."""
    score, baseline_col = (
        ("superclass_agreement", "superclass_baseline") if superclass else ("agreement", "baseline")
    )
    what = "coarse ImageNet superclass of the source" if superclass else "source class"
    effect_name = (
        f"excess {'superclass ' if superclass else ''}drift: dense-seed baseline − dense/compressed agreement"
    )

    def evaluate(cells: pd.DataFrame, classes: pd.DataFrame | None) -> dict[str, object]:
        if classes is None or classes.empty:
            return _no_data("no classes table (per-class source_index)", effect_name)
        agreement = label_map_agreement(classes, cells)
        agreement = agreement.dropna(subset=[score])
        if agreement.empty:
            reason = "no dense/compressed pair of a learned label map (FLM, ILM, ILM-TP-VP)"
            if superclass:
                reason += " with ImageNet-1k sources"
            return _no_data(reason, effect_name)
        baseline = dense_seed_agreement(classes, cells).dropna(subset=[baseline_col])
        comparisons = _comparisons(agreement, score)
        merged = comparisons.merge(baseline, on=["study", "dataset", "model", "method", "shots"], how="inner")
        if merged.empty:
            mean = float(comparisons["value"].mean())
            return _no_data(
                f"no dense seed-to-seed baseline (needs ≥ 2 dense seeds); mean {score} = {mean:.3f}",
                effect_name,
            )
        merged = merged.assign(excess=merged[baseline_col] - merged["value"])
        estimate, unit = clustered_interval(merged, "excess")
        verdict, reason = sign_verdict(estimate, supported_if="low>0", contradicted_if="high<0")
        used = agreement.merge(merged[_COMPARISON], on=_COMPARISON)
        reason += (
            f"; mean {score} {merged['value'].mean():.3f} vs dense seed baseline "
            f"{merged[baseline_col].mean():.3f}"
        )
        return _result(
            estimate,
            effect_name=effect_name,
            unit=unit,
            test="t-interval of the mean excess drift; p: one-sample t (H0: excess = 0)",
            verdict=verdict,
            reason=reason,
            cells=[*used["compressed_cell"], *used["dense_cell"]],
        )

    return Claim(
        id="label_map_superclass_drift" if superclass else "label_map_drift",
        statement=(
            "Compressed models map target classes to different (less related) source classes than their "
            f"dense counterparts — measured as the {what} changing more than between dense runs of "
            "different seeds."
        ),
        source="Fig. 1; Sec. 8.0.1",
        evaluation=(
            f"per comparison: fraction of target classes whose {what} is the same for the dense and the "
            "compressed model of one seed (mean over seeds), subtracted from the mean agreement of dense "
            "maps across seed pairs (same dataset, model, method, N); learned maps only (FLM, ILM, "
            "ILM-TP-VP)" + ("; ImageNet-1k sources only" if superclass else "")
        ),
        needs="classes-table rows (source_index per target class) of dense and compressed cells, ≥ 2 dense "
        "seeds",
        decision_rule=(
            "supported if the 95% interval of the mean excess drift is > 0 (compression moves the map more "
            "than re-drawing the N-shot subset does); contradicted if < 0; else not enough data"
        ),
        expected="excess drift > 0",
        evaluate=evaluate,
        scope=lambda cells: cells.get("method", pd.Series(dtype=str)).isin(learned_map_methods()),
    )
