"""Check study files without running anything: ``python -m vpbench.study STUDY.yaml [...]``.

Runs every planning check the workflow runs (strict YAML, schema, registries, cross-field rules, this
machine), as under ``snakemake -n``: what only a real run refuses (no GPU, a missing checkpoint) is a
warning. Useful where Snakemake stops before vpbench sees the file, e.g. a ``!!python/object`` tag,
which Snakemake reports as a whitespace problem. Exit status 1 if any file is refused.
"""

from __future__ import annotations

import sys
from pathlib import Path

from vpbench.errors import VpbenchError
from vpbench.study.configfile import read_study_file
from vpbench.study.environment import Environment
from vpbench.study.loader import plan_study


def main(argv: list[str] | None = None) -> int:
    """Check each named study file; print its cell count or why it is refused."""
    names = sys.argv[1:] if argv is None else argv
    if not names:
        print(__doc__.strip().splitlines()[0], file=sys.stderr)
        return 2
    status = 0
    for name in names:
        environment = Environment(workdir=Path.cwd(), configfiles=(Path(name),), dry_run=True)
        try:
            study, warnings = plan_study(read_study_file(name), environment)
        except VpbenchError as error:
            print(f"{name}: refused: {error}", file=sys.stderr)
            status = 1
            continue
        for warning in warnings:
            print(f"{name}: warning: {warning}", file=sys.stderr)
        print(f"{name}: study {study.name!r} is valid: {len(study.cells)} cells, {len(study.packs)} packs")
    return status


if __name__ == "__main__":
    sys.exit(main())
