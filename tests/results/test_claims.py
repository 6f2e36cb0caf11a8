"""The paper's claims on synthetic cells tables: supported, contradicted and not-enough-data cases each."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from vpbench.compression.techniques import TECHNIQUES
from vpbench.results import claims

FAKE_IMAGENET = [f"imagenet class {i}" for i in range(1000)]


@pytest.fixture(autouse=True)
def _fake_imagenet_names(monkeypatch: pytest.MonkeyPatch) -> None:
    """ImageNet names without importing torchvision (the real list is checked in its own test)."""
    import vpbench.models.imagenet as imagenet

    monkeypatch.setattr(imagenet, "imagenet_class_names", lambda: FAKE_IMAGENET)


def _cell(model, variant, dataset, method, shots, seed, *, compression, level, accuracy, ece, bits=np.nan):
    """One cells-table row with the columns the claims read."""
    return {
        "study": "synthetic",
        "dataset": dataset,
        "model": model,
        "variant": variant,
        "method": method,
        "shots": str(shots),
        "seed": seed,
        "is_dense": compression == "none",
        "compression": compression,
        "compression_kind": TECHNIQUES[compression].kind if compression in TECHNIQUES else "sparse",
        "compression_level": level,
        "sparsity": level if compression not in ("none", "vvtq") else 0.0,
        "weight_bits": bits,
        "accuracy": accuracy,
        "ece": ece,
    }


def _study(
    compression: str,
    drop,
    *,
    ece_increase=lambda level, shots: 0.0,
    levels=(0.9,),
    shots=("full",),
    datasets=("cifar10", "dtd", "oxford_pets"),
    seeds=(1, 2, 3),
    noise: float = 0.002,
    model: str = "resnet50",
) -> pd.DataFrame:
    """Dense and compressed cells; ``drop(level, shots)`` and ``ece_increase`` are in fractions."""
    rng = np.random.default_rng(0)
    rows = []
    for dataset in datasets:
        for n in shots:
            for seed in seeds:
                base_acc, base_ece = 0.8 + rng.normal(0, noise), 0.05 + rng.normal(0, noise)
                rows.append(
                    _cell(
                        model,
                        "dense",
                        dataset,
                        "ilm",
                        n,
                        seed,
                        compression="none",
                        level=0.0,
                        accuracy=base_acc,
                        ece=base_ece,
                    )
                )
                for level in levels:
                    quant = compression == "vvtq"
                    rows.append(
                        _cell(
                            model,
                            f"{compression}{level}",
                            dataset,
                            "ilm",
                            n,
                            seed,
                            compression=compression,
                            level=level,
                            bits=level if quant else np.nan,
                            accuracy=base_acc - drop(level, n) + rng.normal(0, noise),
                            ece=base_ece + ece_increase(level, n) + rng.normal(0, noise),
                        )
                    )
    return pd.DataFrame(rows)


def _evaluate(claim_id: str, cells: pd.DataFrame, classes: pd.DataFrame | None = None) -> pd.Series:
    """The row of one claim evaluated on ``cells`` (and ``classes``)."""
    chosen = tuple(c for c in claims.CLAIMS if c.id == claim_id)
    assert len(chosen) == 1
    return claims.evaluate_claims(cells, classes, claims=chosen).iloc[0]


# ----------------------------------------------------------------------------------------- schema


def test_registry_covers_the_papers_claims_and_runs_on_empty_tables() -> None:
    ids = [c.id for c in claims.CLAIMS]
    assert {f"table1_drop_{c}" for c in ("gmp", "lt", "acdc", "rigl", "upop", "vvtq")} <= set(ids)
    assert {
        "drop_largest_at_low_n",
        "sparsity_worsens_ece",
        "quantization_keeps_ece",
        "label_map_drift",
    } <= set(ids)
    for cells in (pd.DataFrame(), pd.DataFrame({"study": ["s"], "accuracy": [0.5]})):
        table = claims.evaluate_claims(cells)
        assert list(table.columns) == list(claims.CLAIM_COLUMNS)
        assert (table["verdict"] == "not enough data").all() and table["reason"].str.len().gt(0).all()
    assert all(c.decision_rule and c.evaluation and c.needs for c in claims.CLAIMS)


# ----------------------------------------------------------------------------------------- Table 1


def test_table1_high_drop_supported_contradicted_and_not_enough_data() -> None:
    row = _evaluate("table1_drop_gmp", _study("gmp", lambda lv, n: 0.25))
    assert row["verdict"] == "supported" and row["effect"] == pytest.approx(25, abs=0.5)
    assert row["unit"].startswith("dataset") and row["n_units"] == 3
    assert len(row["cells_used"].split(";")) == 3 * 3 * 2  # datasets × seeds × (dense, compressed)
    low = _evaluate("table1_drop_gmp", _study("gmp", lambda lv, n: 0.02))
    assert low["verdict"] == "contradicted" and "observed level Low" in low["reason"]
    absent = _evaluate("table1_drop_gmp", _study("acdc", lambda lv, n: 0.02))
    assert absent["verdict"] == "not enough data" and "'gmp'" in absent["reason"]
    straddling = _evaluate("table1_drop_gmp", _study("gmp", lambda lv, n: 0.15, noise=0.05))
    assert straddling["verdict"] == "not enough data" and "overlaps" in straddling["reason"]


def test_claims_list_the_missing_cells_they_could_use() -> None:
    cells = _study("gmp", lambda lv, n: 0.25)
    lost = cells.loc[(cells["dataset"] == "dtd") & (cells["seed"] == 3)]
    missing = lost[["study", "dataset", "model", "variant", "method", "shots", "seed", "is_dense",
                    "compression", "compression_kind"]]  # fmt: skip
    kept = cells.drop(lost.index)
    table = claims.evaluate_claims(kept, missing=missing)
    row = table.set_index("claim_id").loc["table1_drop_gmp"]
    assert row["verdict"] == "supported" and "2 planned cell(s)" in row["reason"]
    assert sorted(row["cells_missing"].split(";")) == [
        "synthetic/dtd/resnet50/dense/ilm/fullshot/seed3",
        "synthetic/dtd/resnet50/gmp0.9/ilm/fullshot/seed3",
    ]
    assert table.set_index("claim_id").loc["table1_drop_acdc", "cells_missing"] == ""


def test_table1_low_drop_is_supported_for_a_low_family() -> None:
    assert _evaluate("table1_drop_acdc", _study("acdc", lambda lv, n: 0.01))["verdict"] == "supported"


# ------------------------------------------------------------------------------------------ low N


def test_low_n_trend_supported_contradicted_and_not_enough_data() -> None:
    shots = ("1", "5", "20", "100")
    shrinking = _study("gmp", lambda lv, n: 0.30 - 0.05 * np.log2(int(n)), shots=shots)
    row = _evaluate("drop_largest_at_low_n", shrinking)
    assert row["verdict"] == "supported" and row["effect"] == pytest.approx(-5, abs=0.3)  # pp per doubling
    growing = _study("gmp", lambda lv, n: 0.02 * np.log2(int(n)), shots=shots)
    assert _evaluate("drop_largest_at_low_n", growing)["verdict"] == "contradicted"
    row = _evaluate("drop_largest_at_low_n", _study("gmp", lambda lv, n: 0.2, shots=("1", "10")))
    assert row["verdict"] == "not enough data" and "3 N-shots" in row["reason"]


# ------------------------------------------------------------------------------------ calibration


def test_sparsity_worsens_ece_supported_contradicted_and_not_enough_data() -> None:
    worse = _study("gmp", lambda lv, n: 0.1, ece_increase=lambda lv, n: 0.05)
    assert _evaluate("sparsity_worsens_ece", worse)["verdict"] == "supported"
    same = _study("gmp", lambda lv, n: 0.1, ece_increase=lambda lv, n: -0.001)
    assert _evaluate("sparsity_worsens_ece", same)["verdict"] == "contradicted"
    few_shot = _study("gmp", lambda lv, n: 0.1, ece_increase=lambda lv, n: 0.05, shots=("10",))
    row = _evaluate("sparsity_worsens_ece", few_shot)  # no full data: each dataset's largest N stands in
    assert row["verdict"] == "supported" and "not full data: cifar10 at N = 10" in row["reason"]
    mixed = _study("gmp", lambda lv, n: 0.1, ece_increase=lambda lv, n: 0.05 if n == "full" else -0.05,
                   shots=("10", "full"))  # fmt: skip
    row = _evaluate("sparsity_worsens_ece", mixed)  # full data wins where it exists
    assert row["verdict"] == "supported" and "not full data" not in row["reason"]
    assert all(cell.split("/")[5] == "fullshot" for cell in row["cells_used"].split(";"))
    quantized = _study("vvtq", lambda lv, n: 0.1, ece_increase=lambda lv, n: 0.05, levels=(4.0,))
    assert _evaluate("sparsity_worsens_ece", quantized)["verdict"] == "not enough data"


def test_ece_grows_with_sparsity_supported_contradicted_and_not_enough_data() -> None:
    levels = (0.5, 0.8, 0.95)
    rising = _study("acdc", lambda lv, n: 0.05, ece_increase=lambda lv, n: 0.1 * lv, levels=levels)
    row = _evaluate("ece_grows_with_sparsity", rising)
    assert row["verdict"] == "supported" and row["effect"] == pytest.approx(1.0, abs=0.1)  # pp per 10 pp
    falling = _study("acdc", lambda lv, n: 0.05, ece_increase=lambda lv, n: -0.04 * lv, levels=levels)
    assert _evaluate("ece_grows_with_sparsity", falling)["verdict"] == "contradicted"
    one_level = _study("acdc", lambda lv, n: 0.05, ece_increase=lambda lv, n: 0.05)
    assert _evaluate("ece_grows_with_sparsity", one_level)["verdict"] == "not enough data"


def test_quantization_keeps_ece_supported_contradicted_and_not_enough_data() -> None:
    kept = _study("vvtq", lambda lv, n: 0.05, ece_increase=lambda lv, n: -0.002, levels=(4.0, 2.0))
    assert _evaluate("quantization_keeps_ece", kept)["verdict"] == "supported"
    worse = _study("vvtq", lambda lv, n: 0.05, ece_increase=lambda lv, n: 0.06, levels=(4.0, 2.0))
    assert _evaluate("quantization_keeps_ece", worse)["verdict"] == "contradicted"
    assert (
        _evaluate("quantization_keeps_ece", _study("gmp", lambda lv, n: 0.05))["verdict"] == "not enough data"
    )


# ------------------------------------------------------------------------------------- label maps


def _classes(cells: pd.DataFrame, source_of) -> pd.DataFrame:
    """A classes table with 10 target classes per cell; ``source_of(row, target)`` is the mapped source."""
    rows = []
    for cell in cells.to_dict("records"):
        for target in range(10):
            source = int(source_of(cell, target))
            rows.append(
                {k: cell[k] for k in ("study", "dataset", "model", "variant", "method", "shots", "seed")}
                | {
                    "class_index": target,
                    "class_name": f"t{target}",
                    "source_index": source,
                    "source_name": FAKE_IMAGENET[source],
                }
            )
    return pd.DataFrame(rows)


def test_label_map_drift_supported_contradicted_and_not_enough_data() -> None:
    cells = _study("lt", lambda lv, n: 0.1, shots=("5",))

    def stable_dense_drifting_compressed(cell, target):  # dense: same map every seed; compressed: 6/10 moved
        moved = cell["variant"] != "dense" and target < 6
        return 500 + target + (100 if moved else 0)

    row = _evaluate("label_map_drift", cells, _classes(cells, stable_dense_drifting_compressed))
    assert row["verdict"] == "supported" and row["effect"] == pytest.approx(0.6)
    assert "dense seed baseline 1.000" in row["reason"]

    def seed_driven(cell, target):  # the map follows the seed; compression changes nothing
        return 10 * cell["seed"] + target

    row = _evaluate("label_map_drift", cells, _classes(cells, seed_driven))
    assert row["verdict"] == "contradicted" and row["effect"] == pytest.approx(-1.0)
    one_seed = cells.loc[cells["seed"] == 1]
    row = _evaluate("label_map_drift", one_seed, _classes(one_seed, stable_dense_drifting_compressed))
    assert row["verdict"] == "not enough data" and "baseline" in row["reason"]
    assert _evaluate("label_map_drift", cells, None)["verdict"] == "not enough data"
    rlm = cells.assign(method="rlm")  # random maps are not learned: no agreement rows
    assert claims.label_map_agreement(_classes(rlm, stable_dense_drifting_compressed), rlm).empty


def test_superclass_drift_and_agreement_table() -> None:
    cells = _study("lt", lambda lv, n: 0.1, shots=("5",))

    def dog_to_object(
        cell, target
    ):  # dense maps to dogs (151+); the compressed model's first 5 go to objects
        if cell["variant"] != "dense" and target < 5:
            return 600 + target
        return 151 + target

    classes = _classes(cells, dog_to_object)
    agreement = claims.label_map_agreement(classes, cells)
    assert list(agreement.columns) == list(claims.AGREEMENT_COLUMNS) and len(agreement) == 9
    assert agreement["agreement"].tolist() == pytest.approx([0.5] * 9)
    assert agreement["superclass_agreement"].tolist() == pytest.approx([0.5] * 9)
    row = _evaluate("label_map_superclass_drift", cells, classes)
    assert row["verdict"] == "supported" and row["effect"] == pytest.approx(0.5)

    def within_dogs(cell, target):  # compressed picks another dog: exact drift but no superclass drift
        return 151 + target + (50 if cell["variant"] != "dense" else 0)

    row = _evaluate("label_map_superclass_drift", cells, _classes(cells, within_dogs))
    assert row["verdict"] == "not enough data" and row["effect"] == 0  # interval [0, 0] decides nothing
    assert _evaluate("label_map_drift", cells, _classes(cells, within_dogs))["verdict"] == "supported"
    not_imagenet = classes.assign(source_name="text embedding")
    assert claims.label_map_agreement(not_imagenet, cells)["superclass_agreement"].isna().all()


def test_imagenet_superclass_ranges_match_the_real_class_names(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.undo()
    from vpbench.models.imagenet import imagenet_class_names

    names = imagenet_class_names()
    assert (names[151], names[268], names[269], names[397], names[398]) == (
        "Chihuahua",
        "Mexican hairless",
        "timber wolf",
        "puffer",
        "abacus",
    )
    assert claims.imagenet_superclass(200) == "dog" and claims.imagenet_superclass(0) == "animal (not dog)"
    assert claims.imagenet_superclass(999) == "not an animal"
