"""The conda environment for cluster users pins exactly what pyproject.toml pins; the workflow lints."""

import re
import subprocess
import sys
import tomllib
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


def _pins(requirements: list[str]) -> dict[str, str]:
    pins = {}
    for requirement in requirements:
        match = re.fullmatch(r"([A-Za-z0-9_.\-]+)(\[[^\]]+\])?==([^;\s]+)", requirement.strip())
        assert match, f"not an exact pin: {requirement!r}"
        pins[match.group(1).lower().replace("_", "-")] = match.group(3)
    return pins


def test_conda_env_pins_match_pyproject():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    env = yaml.safe_load((ROOT / "envs" / "vpbench.yaml").read_text())
    pip_section = next(item["pip"] for item in env["dependencies"] if isinstance(item, dict))
    assert _pins(pip_section) == _pins(project["dependencies"])
    python = next(item for item in env["dependencies"] if isinstance(item, str) and item.startswith("python"))
    assert python == "python=3.11"


def test_every_rule_points_at_the_conda_env_and_the_env_exists():
    rules = "\n".join(path.read_text() for path in (ROOT / "rules").glob("*.smk"))
    assert (ROOT / "envs" / "vpbench.yaml").is_file()
    rule_count = len(re.findall(r"^\s*rule \w+:", rules, flags=re.MULTILINE))
    assert rule_count == rules.count('"../envs/vpbench.yaml"')


def test_snakemake_lint_reports_nothing():
    result = subprocess.run(
        [sys.executable, "-m", "snakemake", "--lint", "--cores", "1"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
