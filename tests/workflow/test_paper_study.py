"""The paper study plans its whole grid offline: `snakemake -n` counts one job per cell or pack."""

import copy
import re
import subprocess
import sys
from pathlib import Path

import yaml

from vpbench.study.loader import load_study

ROOT = Path(__file__).resolve().parents[2]


def test_paper_study_dry_run_plans_every_cell_without_network(tmp_path):
    config = yaml.safe_load((ROOT / "studies" / "paper.yaml").read_text())
    study = load_study(copy.deepcopy(config))  # fills the schema's defaults, as the workflow does
    cells, packs = study.cells, study.packs
    packed = sum(len(members) for members in packs.values())
    result = subprocess.run(
        [sys.executable, "-m", "snakemake", "-n", "--quiet", "rules", "--configfile", "studies/paper.yaml",
         "--directory", str(tmp_path)],
        cwd=ROOT, capture_output=True, text=True, timeout=900,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    counts = dict(re.findall(r"^(\w+)\s+(\d+)$", result.stdout, flags=re.MULTILINE))
    assert int(counts.get("train_cell", 0)) == len(cells) - packed
    assert int(counts.get("train_pack", 0)) == len(packs)
    assert len(cells) > 15_000  # "more than 15,000 experiments" (paper §3.1)
