# The typed study, wildcard constraints and the report helpers every rule uses. All wiring is computed by
# vpbench.study.dag from the study alone; this file only connects it to Snakemake.
import sys
from pathlib import Path

from snakemake.exceptions import WorkflowError

sys.path.insert(0, str(Path(workflow.basedir) / "src"))

from vpbench.errors import VpbenchError  # noqa: E402
from vpbench.results.figures.render import study_figure_plan  # noqa: E402
from vpbench.results.tables import study_tables  # noqa: E402
from vpbench.study import dag, paths  # noqa: E402
from vpbench.study.environment import environment_of  # noqa: E402
from vpbench.study.loader import plan_study  # noqa: E402

try:
    # study files, plugins, schema (with defaults), registries, cross-field checks, then (main process
    # only) this machine: paths, GPU, weights, datasets, class sizes
    STUDY, WARNINGS = plan_study(config, environment_of(workflow))
except VpbenchError as error:
    raise WorkflowError(str(error)) from None
for warning in WARNINGS:
    print(f"vpbench warning: {warning}", file=sys.stderr)


wildcard_constraints:
    **dag.wildcard_constraints(STUDY),


FIGURE_PLAN = study_figure_plan(STUDY)
TABLES = study_tables(STUDY)
CATEGORIES = {
    "accuracy": "Accuracy",
    "calibration": "Calibration",
    "compression_cost": "Compression cost",
    "label_mapping": "Label mapping",
    "prompts": "Prompts",
    "claims": "Claims",
    "methods": "Methods",
}


def figure_output(spec):
    return report(
        paths.figure(STUDY.name, spec.stem),
        caption=f"../report/fig_{spec.kind}.rst",
        category=CATEGORIES[spec.category],
        # one figure kind per subcategory: Snakemake's report breaks when a 2-valued label does not pair up
        subcategory=f"{spec.model} · {spec.kind.replace('_', ' ')}",
        labels={
            "figure": spec.kind.replace("_", " "),
            "dataset": spec.dataset or "all",
            "method": spec.method or "all",
            "detail": spec.metric or (f"{spec.shots}-shot" if spec.shots else "—"),
        },
    )


def table_output(name):
    return report(
        paths.table(STUDY.name, name, "html"),
        caption=f"../report/table_{name}.rst",
        category="Tables",
        labels={"table": name.replace("_", " ")},
    )


def all_targets(wildcards):
    return [
        paths.status(STUDY.name),
        paths.table(STUDY.name, "cells"),
        *[paths.figure(STUDY.name, spec.stem) for spec in FIGURE_PLAN],
        *[paths.table(STUDY.name, name, "html") for name in TABLES],
        paths.table(STUDY.name, "models", "html"),
    ]
