"""``python -m vpbench.cluster``: a profile's requests for a study against the limits it declares, the
slices a grid too large for one array run needs, and (``price``) the grid's cost before it runs.

    python -m vpbench.cluster --profile profiles/slurm [--configfile studies/X.yaml] [--slice I/N]
    python -m vpbench.cluster price --configfile studies/paper.yaml [--assume-gpu A100:312:0.2] ...
"""

from __future__ import annotations

import argparse
import copy
import sys
from collections.abc import Sequence
from pathlib import Path

import yaml

from vpbench.cluster.arrays import batches_needed
from vpbench.cluster.profiles import _configfiles, _pairs, profile_requests, profile_violations, read_profile
from vpbench.cluster.requests import Request
from vpbench.cluster.targets import slice_targets, training_targets
from vpbench.study.spec import Study


def load_study_file(path: str | Path) -> Study:
    """The typed study of a study YAML (plugins, schema defaults and checks, as the workflow loads it)."""
    from vpbench.study.loader import load_study

    return load_study(copy.deepcopy(yaml.safe_load(Path(path).read_text(encoding="utf-8"))))


def _table(requests: Sequence[Request]) -> str:
    lines = [
        "| SLURM job | count | array | jobs inside | runtime (min) | mem (MB) | GPUs | CPUs |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in requests:
        lines.append(
            f"| {r.job} | {r.count} | {'yes' if r.array else 'no'} | {r.cells} | {r.runtime} | "
            f"{r.mem_mb} | {r.gpus} | {r.cpus} |"
        )
    return "\n".join(lines)


def check(argv: Sequence[str] | None = None) -> int:
    """Print the profile's SLURM requests for the study's training jobs, the slices, any violation."""
    parser = argparse.ArgumentParser(
        prog="python -m vpbench.cluster",
        description="Check a SLURM profile's requests for a study against the partition limits it declares "
        "(`python -m vpbench.cluster price --help`: the grid's cost).",
    )
    parser.add_argument("--profile", required=True, type=Path, help="profile directory or its YAML file")
    parser.add_argument("--configfile", type=Path, help="study YAML (default: the profile's configfile)")
    parser.add_argument(
        "--slice", metavar="I/N", help="print only the training targets of slice I of N, one per line"
    )
    parser.add_argument(
        "--rule-group",
        action="append",
        default=[],
        metavar="RULE=GROUP",
        help="a rule's own `group:` directive (the profile's `groups:` sees only its own)",
    )
    args = parser.parse_args(argv)
    rule_groups = _pairs(args.rule_group, "--rule-group")
    profile = read_profile(args.profile)
    study_path = args.configfile or next(iter(_configfiles(profile.raw)), None)
    if not study_path:
        parser.error("no --configfile and the profile names none")
    targets = training_targets(load_study_file(study_path))
    if args.slice:
        index, count = (int(part) for part in args.slice.split("/"))
        print("\n".join(slice_targets(targets, index, count)))
        return 0
    rules = [rule for rule, _ in targets]
    counts = {"train_cell": rules.count("train_cell"), "train_pack": rules.count("train_pack")}
    requests = profile_requests(profile, counts, rule_groups)
    print(
        f"profile {profile.path}, study {study_path}; "
        f"resources for the last retry (attempt {profile.last_attempt})"
    )
    print(_table(requests))
    batches = batches_needed(counts, profile.limits, profile.jobs, profile.rate) if profile.array_rules else 1
    if batches > 1:
        slice_cmd = f"python -m vpbench.cluster --profile {args.profile} --configfile {study_path}"
        slice_cmd += f" --slice $i/{batches}"
        print(
            f"\narrays: {sum(counts.values())} training jobs do not fit one submission; "
            f"run {batches} slices:\n"
            f"  for i in $(seq 1 {batches}); do snakemake --profile {args.profile} $({slice_cmd}); done\n"
            f"then `snakemake --profile {args.profile}` once more for the aggregation, figures and tables"
        )
    found = profile_violations(profile, counts, batches, rule_groups)
    if found:
        print("\nviolations:\n  - " + "\n  - ".join(map(str, found)))
        return 1
    print("\nevery request fits the declared limits")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """``price ...`` prices a study; anything else checks a profile."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["price"]:
        from vpbench.cluster.price_report import main as price

        return price(argv[1:])
    if argv[:1] == ["check"]:
        argv = argv[1:]
    return check(argv)
