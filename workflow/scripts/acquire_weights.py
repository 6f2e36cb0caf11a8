"""Snakemake adapter: fetch or locate one family's checkpoint, verify it, record where it is."""

import sys
from pathlib import Path

# Make the package importable without installation (e.g. in a `--sdm conda` environment).
sys.path.insert(0, str(Path(snakemake.scriptdir).parents[1] / "src"))  # noqa: F821


from vpbench.models.acquire import acquire_weights
from vpbench.runtime import atomic_io
from vpbench.runtime.rule_logging import redirect_to_log
from vpbench.sources.checksums import sha256_file
from vpbench.study.loader import study_of

study = study_of(snakemake)  # noqa: F821  (registers plugin and user-checkpoint entries)
redirect_to_log(snakemake.log[0])  # noqa: F821
out = Path(snakemake.output[0])  # noqa: F821
family = snakemake.wildcards.family  # noqa: F821
path = acquire_weights(family, out.parent, allow_network=study.download)
atomic_io.write_json(out, {"family": family, "path": str(path), "sha256": sha256_file(path)})
