"""The beyond-label-mapping studies plan offline: one job per cell or pack, features once per split."""

import copy
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from vpbench.study import dag
from vpbench.study.loader import load_study

ROOT = Path(__file__).resolve().parents[2]
METHODS = ["ilm", "blm", "blm_plus", "smm", "lor_vp", "lor_vp_ilm", "lp", "ff"]


def _config(name: str) -> dict:
    return yaml.safe_load((ROOT / "studies" / f"{name}.yaml").read_text())


def _dry_run(tmp_path: Path, name: str) -> dict[str, int]:
    result = subprocess.run(
        [sys.executable, "-m", "snakemake", "-n", "--quiet", "rules", "--configfile", f"studies/{name}.yaml",
         "--directory", str(tmp_path)],
        cwd=ROOT, capture_output=True, text=True, timeout=1800,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    return {job: int(n) for job, n in re.findall(r"^(\w+)\s+(\d+)$", result.stdout, flags=re.MULTILINE)}


@pytest.mark.parametrize("name", ["beyond", "beyond_demo"])
def test_the_beyond_studies_run_every_new_method_next_to_ilm(name):
    study = load_study(_config(name))
    assert list(study.methods) == METHODS
    assert {cell.method for cell in study.cells} == set(METHODS)
    per_method = {m: sum(cell.method == m for cell in study.cells) for m in METHODS}
    assert len(set(per_method.values())) == 1  # every method covers the same grid


def test_the_demo_study_plans_one_job_per_cell_and_features_once_per_variant_and_split(tmp_path):
    study = load_study(_config("beyond_demo"))
    counts = _dry_run(tmp_path, "beyond_demo")
    assert counts["train_cell"] == len(study.cells) == 24  # 8 methods × 3 variants × digits × 10-shot
    assert counts["features"] == 3 * 2  # variants × {train, test}
    lp = next(cell for cell in study.cells if cell.method == "lp")
    inputs = dag.cell_inputs(study, lp.fields())
    assert inputs["features_train"].endswith(f"features/mobilenet_v2/{lp.variant}/{lp.dataset}-train.npy")


def test_the_grid_study_plans_offline(tmp_path):
    study = load_study(copy.deepcopy(_config("beyond")))
    packed = sum(len(members) for members in study.packs.values())
    counts = _dry_run(tmp_path, "beyond")
    assert counts["train_cell"] == len(study.cells) - packed
    assert counts["train_pack"] == len(study.packs)
    variants = sum(len(model.variants) for model in study.models.values())
    assert counts["features"] == variants * len(study.datasets) * 2
    assert len(study.cells) == len(METHODS) * variants * len(study.datasets) * len(study.shots) * 3
