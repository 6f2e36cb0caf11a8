"""Snakemake adapter: one variant's ImageNet-1k top-1 on the study's validation folder (paper Fig. 14)."""

import sys
from pathlib import Path

# Make the package importable without installation (e.g. in a `--sdm conda` environment).
sys.path.insert(0, str(Path(snakemake.scriptdir).parents[1] / "src"))  # noqa: F821

import torch

from vpbench.engine.settings import resolve_device
from vpbench.results.model_report import measure_variant_top1
from vpbench.runtime.atomic_io import write_json
from vpbench.runtime.rule_logging import redirect_to_log
from vpbench.study.loader import study_of

study = study_of(snakemake)  # noqa: F821  (registers plugin and user-checkpoint entries)
redirect_to_log(snakemake.log[0])  # noqa: F821
torch.set_num_threads(int(snakemake.threads))  # noqa: F821
device = resolve_device(study.device)
record = measure_variant_top1(
    Path(snakemake.input.card).parent,  # noqa: F821
    snakemake.input.val,  # noqa: F821
    device=str(device),
    workers=max(int(snakemake.threads) - 1, 0),  # noqa: F821
)
print(f"{record['model']}/{record['variant']}: top-1 {record['top1']} (published {record['published_top1']})")
write_json(Path(snakemake.output[0]), record)  # noqa: F821
