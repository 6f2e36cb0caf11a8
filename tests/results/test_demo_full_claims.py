"""``studies/demo_full.yaml`` is designed so that the claims about its techniques can be decided: its planned
cells (3 seeds, three N-shots, two sparsity levels and a quantized variant, learned label maps), filled with
clear synthetic effects, give every claim a verdict except Table 1's rows, whose techniques it does not train.
Read the same cells with one seed and the claims needing seeds go back to "not enough data"."""

from __future__ import annotations

import zlib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from vpbench.results import claims
from vpbench.results.claims.accuracy import PAPER_TABLE1
from vpbench.results.plan import context_from_study
from vpbench.study.grid import IDENTIFIERS

STUDY_FILE = Path(__file__).resolve().parents[2] / "studies" / "demo_full.yaml"
FAKE_IMAGENET = [f"imagenet class {i}" for i in range(1000)]
# Effects in fractions: the drop shrinks with N; ECE grows with sparsity; quantization leaves ECE alone.
DROP_AT_SHOTS = {"1": 0.15, "5": 0.10, "10": 0.05}
ECE_PER_SPARSITY = 0.10
# "Quantization keeps ECE" asks for a 95% interval within ±1 pp across the two datasets (a t-interval with
# one degree of freedom): it decides only when the datasets agree to a few tenths of a pp, as they do here.
ECE_SD = 0.001


@pytest.fixture(autouse=True)
def _fake_imagenet_names(monkeypatch: pytest.MonkeyPatch) -> None:
    import vpbench.models.imagenet as imagenet

    monkeypatch.setattr(imagenet, "imagenet_class_names", lambda: FAKE_IMAGENET)


@pytest.fixture(scope="module")
def planned() -> tuple[pd.DataFrame, dict[str, dict]]:
    from vpbench.study.loader import load_study

    study = load_study(yaml.safe_load(STUDY_FILE.read_text()))
    compress = {spec.name: dict(spec.compress or {}) for spec in study.all_variants()}
    return context_from_study(study).cells, compress


def _noise(*key: object, sd: float = 0.004) -> float:
    return float(np.random.default_rng(zlib.crc32(repr(key).encode())).normal(0, sd))


def _tables(plan: pd.DataFrame, compress: dict[str, dict]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A cells and a classes table in which every planned cell finished, with the effects above."""
    cells, classes = [], []
    for row in plan.to_dict("records"):
        spec = compress[row["variant"]]
        sparsity = float(spec.get("sparsity", 0.0))
        bits = float(spec["weight_bits"]) if "weight_bits" in spec else np.nan
        base = ("base", row["dataset"], row["method"], row["shots"], row["seed"])
        drop = 0.0 if row["is_dense"] else DROP_AT_SHOTS[row["shots"]] * (1 + sparsity)
        cells.append(
            {k: row[k] for k in (*IDENTIFIERS, "is_dense", "compression", "compression_kind")}
            | {
                "compression_level": sparsity if np.isnan(bits) else bits,
                "sparsity": sparsity,
                "weight_bits": bits,
                "accuracy": 0.6 + _noise(*base) - drop + _noise("acc", *row.values()),
                "ece": 0.05
                + _noise("ece", *base)
                + ECE_PER_SPARSITY * sparsity
                + _noise("e", *row.values(), sd=ECE_SD),
            }
        )
        for target in range(10):  # dense: dogs, one map for every seed; pruned: 6 of 10 classes to objects
            moved = sparsity > 0 and target < 6
            source = 600 + target if moved else 151 + target
            classes.append(
                {k: row[k] for k in IDENTIFIERS}
                | {"class_index": target, "class_name": f"t{target}", "source_index": source,
                   "source_name": FAKE_IMAGENET[source]}
            )  # fmt: skip
    return pd.DataFrame(cells), pd.DataFrame(classes)


def test_the_full_demo_plans_three_seeds_three_shots_and_learned_maps(planned):
    plan, _ = planned
    assert sorted(set(plan["seed"])) == [1, 2, 3]
    assert sorted(set(plan["shots"]), key=int) == ["1", "5", "10"]
    assert set(plan["method"]) == {"flm", "ilm"}
    assert set(plan.loc[~plan["is_dense"], "compression_kind"]) == {"sparse", "quantized"}


def test_every_claim_on_its_techniques_reaches_a_verdict(planned):
    cells, classes = _tables(*planned)
    table = claims.evaluate_claims(cells, classes).set_index("claim_id")
    table1 = [f"table1_drop_{technique}" for technique in PAPER_TABLE1]
    assert (table.loc[table1, "verdict"] == claims.NOT_ENOUGH).all()  # the paper's techniques: not trained
    decided = table.drop(index=table1)["verdict"]
    assert (decided != claims.NOT_ENOUGH).all(), table.drop(index=table1)[["verdict", "reason"]].to_string()
    assert decided.to_dict() == {
        "drop_largest_at_low_n": "supported",
        "sparsity_worsens_ece": "supported",
        "ece_grows_with_sparsity": "supported",
        "quantization_keeps_ece": "supported",
        "label_map_drift": "supported",
        "label_map_superclass_drift": "supported",
    }


def test_one_seed_of_the_same_cells_cannot_decide_the_seed_based_claims(planned):
    cells, classes = _tables(*planned)
    one = cells.loc[cells["seed"] == 1]
    table = claims.evaluate_claims(one, classes.loc[classes["seed"] == 1]).set_index("claim_id")
    assert table.at["label_map_drift", "verdict"] == claims.NOT_ENOUGH  # no dense seed-to-seed baseline
