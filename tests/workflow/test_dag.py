"""Dry runs of the demo DAG: one training job per cell, packs on request, one job for one cell's path."""

import copy
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from vpbench.study.loader import load_study

ROOT = Path(__file__).resolve().parents[2]
DEMO = yaml.safe_load((ROOT / "config.yaml").read_text())


def dry_run(tmp_path: Path, config: dict, *targets: str) -> dict[str, int]:
    path = tmp_path / "study.yaml"
    path.write_text(yaml.safe_dump(config))
    result = subprocess.run(
        [sys.executable, "-m", "snakemake", *targets, "-n", "--quiet", "rules", "--configfile", str(path),
         "--directory", str(tmp_path / "work")],
        cwd=ROOT, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    return {job: int(n) for job, n in re.findall(r"^(\w+)\s+(\d+)$", result.stdout, flags=re.MULTILINE)}


def test_demo_dry_run_lists_exactly_one_training_job_per_cell(tmp_path):
    cells = load_study(copy.deepcopy(DEMO)).cells
    counts = dry_run(tmp_path, DEMO)
    assert counts["train_cell"] == len(cells) == 49  # 48 image-VP cells + 1 cross-modal cell
    assert "train_pack" not in counts
    assert counts["figures"] == counts["tables"] == counts["aggregate"] == 1


@pytest.fixture
def packed_demo() -> dict:
    config = copy.deepcopy(DEMO)
    config["packing"] = {"enabled": True, "max_shots": 20}
    return config


def test_packing_groups_the_few_shot_cells_of_one_dataset_variant_method_and_seed(tmp_path, packed_demo):
    counts = dry_run(tmp_path, packed_demo)
    assert counts["train_pack"] == 24  # 2 datasets × 4 variants × 3 methods × 1 seed, N = 1 and 10 each
    assert counts["train_cell"] == 1  # the full-data cross-modal cell is never packed


def test_asking_for_one_packed_cell_reruns_only_its_pack(tmp_path, packed_demo):
    target = "results/demo/cells/digits/mobilenet_v2/mag50/ilm/10shot/seed1/metrics.parquet"
    counts = dry_run(tmp_path, packed_demo, target)
    assert counts["train_pack"] == 1
    assert "train_cell" not in counts and "aggregate" not in counts


def test_imagenet_top1_is_planned_once_per_variant_only_with_an_imagenet_folder(tmp_path):
    tiny = yaml.safe_load((ROOT / "tests" / "data" / "studies" / "tiny.yaml").read_text())
    for name in ("without", "with/work/ilsvrc/val"):  # dry_run works in <folder>/work
        (tmp_path / name).mkdir(parents=True)
    assert "imagenet_top1" not in dry_run(tmp_path / "without", tiny)
    tiny["paths"] = {**tiny.get("paths", {}), "imagenet_val": "ilsvrc"}
    counts = dry_run(tmp_path / "with", tiny)
    assert counts["imagenet_top1"] == 2 and counts["model_table"] == 1  # dense and mag50
