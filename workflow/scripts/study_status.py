"""Snakemake adapter: finish the run, failing it (after every table and figure is built) if cells failed.

The list of failed cells goes to the rule's log and to the terminal, where the user is looking.
"""

import sys
from pathlib import Path

# Make the package importable without installation (e.g. in a `--sdm conda` environment).
sys.path.insert(0, str(Path(snakemake.scriptdir).parents[1] / "src"))  # noqa: F821

from vpbench.results.status import FailedCellsError, finish_study

try:
    finish_study(snakemake.input.missing, snakemake.output[0], tuple(snakemake.params.cell_files))  # noqa: F821
except FailedCellsError as error:
    Path(snakemake.log[0]).parent.mkdir(parents=True, exist_ok=True)  # noqa: F821
    Path(snakemake.log[0]).write_text(f"{error}\n")  # noqa: F821
    print(f"\n{error}\n", file=sys.stderr, flush=True)
    sys.exit(1)
Path(snakemake.log[0]).write_text("every cell succeeded\n")  # noqa: F821
