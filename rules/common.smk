# The typed study, wildcard constraints and the report helpers every rule uses. All wiring is computed by
# vpbench.study.dag from the study alone; this file only connects it to Snakemake.
import sys
from pathlib import Path

from snakemake.exceptions import WorkflowError

sys.path.insert(0, str(Path(workflow.basedir) / "src"))

from vpbench.cluster import hooks as cluster_hooks  # noqa: E402
from vpbench.errors import VpbenchError  # noqa: E402
from vpbench.results.figures import FIGURE_KINDS, tables_read  # noqa: E402
from vpbench.results.figures.render import study_figure_plan  # noqa: E402
from vpbench.results.plan import category_label  # noqa: E402
from vpbench.results.tables import TABLE_KINDS, recipes_json, study_tables  # noqa: E402
from vpbench.study import dag, paths  # noqa: E402
from vpbench.study.environment import environment_of  # noqa: E402
from vpbench.study.loader import plan_study  # noqa: E402

try:
    # study files, plugins, schema (with defaults), registries, cross-field checks, then (main process
    # only) this machine: paths, GPU, weights, datasets, class sizes
    STUDY, WARNINGS = plan_study(config, environment_of(workflow))
    # The partition limits a SLURM profile declares once (its limits file, docs/CLUSTER.md), kept out of
    # the study (no cell's plan or record holds them). None for local runs: nothing is checked.
    CLUSTER_LIMITS = cluster_hooks.limits_from_config(STUDY.cluster)
except VpbenchError as error:
    raise WorkflowError(str(error)) from None
for warning in WARNINGS:
    print(f"vpbench warning: {warning}", file=sys.stderr)


onstart:
    # real runs only: refuse array plans that snakemake-executor-plugin-slurm would hang on or sbatch refuse
    cluster_hooks.check_array_submission(workflow, CLUSTER_LIMITS)


def train_cell_inputs(wildcards):
    """A train_cell job's inputs, once its SLURM request (last retry, group) fits the partition limits."""
    cluster_hooks.check_job_requests(workflow, CLUSTER_LIMITS, "train_cell", wildcards)
    return dag.cell_inputs(STUDY, wildcards)


def train_pack_inputs(wildcards):
    """A train_pack job's inputs, once its SLURM request (last retry, group) fits the partition limits."""
    cluster_hooks.check_job_requests(workflow, CLUSTER_LIMITS, "train_pack", wildcards)
    return dag.pack_inputs(STUDY, wildcards)


wildcard_constraints:
    **dag.wildcard_constraints(STUDY),


# What the report holds is planned from the study's cells by the figure and table kinds of the registries
# (vpbench.results.figures.kinds, vpbench.results.tables.kinds): a plugin's kinds are planned like ours.
REPORT_DIR = Path(workflow.basedir) / "report"
FIGURE_PLAN = study_figure_plan(STUDY)
FIGURE_TABLES = tables_read(FIGURE_PLAN)
TABLES = study_tables(STUDY)
STATS_TABLES = ("comparisons", "intervals", "cell_intervals")


def figure_output(spec):
    kind = FIGURE_KINDS[spec.kind]
    return report(
        paths.figure(STUDY.name, spec.stem),
        caption=kind.caption_path(REPORT_DIR),
        category=category_label(kind.category),
        # one figure kind per subcategory: Snakemake's report breaks when a 2-valued label does not pair up
        subcategory=f"{spec.model} · {kind.label}",
        labels={
            "figure": kind.label,
            "dataset": spec.dataset or "all",
            "method": spec.method or "all",
            "detail": spec.detail,
        },
    )


def table_output(name):
    kind = TABLE_KINDS[name]
    return report(
        paths.table(STUDY.name, name, "html"),
        caption=kind.caption_path(REPORT_DIR),
        category=category_label(kind.category),
        subcategory=kind.label,
        labels={"table": kind.label},
    )


def figure_inputs(wildcards):
    """The aggregated tables the planned figures' renderers read (the model table only when asked)."""
    files = {
        "cells": paths.table(STUDY.name, "cells"),
        "epochs": paths.table(STUDY.name, "epochs"),
        "classes": paths.table(STUDY.name, "classes"),
        "reliability": paths.table(STUDY.name, "reliability"),
        "comparisons": paths.table(STUDY.name, "comparisons"),
        "missing": paths.table(STUDY.name, "missing", "csv"),
        "models": paths.table(STUDY.name, "models", "csv"),
    }
    return {name: files[name] for name in ["cells", *FIGURE_TABLES] if name in files}


def report_targets():
    """Every file of the report: figures, tables, the model table and the statistics."""
    return [
        *[paths.figure(STUDY.name, spec.stem) for spec in FIGURE_PLAN],
        *[paths.table(STUDY.name, name, "html") for name in TABLES],
        paths.table(STUDY.name, "models", "html"),
        *[paths.table(STUDY.name, name) for name in STATS_TABLES],
    ]


def all_targets(wildcards):
    return [paths.status(STUDY.name), paths.table(STUDY.name, "cells"), *report_targets()]
