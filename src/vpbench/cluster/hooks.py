"""Snakemake hooks: every SLURM request checked against the partition limits while the DAG is built.

``rules/common.smk`` reads the limits (``limits_from_config(STUDY.cluster)``), the training rules' input
functions call :func:`check_job_requests` (DAG time, so ``snakemake -n`` fails too) and ``onstart:``
calls :func:`check_array_submission` (real runs, before the first sbatch). At parse time
``workflow.resource_settings`` already holds default-resources, set-resources and set-threads, but
``--retries`` and ``--group-components`` are set only when the DAG is built and the executor's settings
(``--slurm-array-jobs``) only in real runs, which is why the checks live where they do.
"""

from __future__ import annotations

from typing import Any

from vpbench.cluster.arrays import array_violations
from vpbench.cluster.limits import TRAINING_RULES, PartitionLimits
from vpbench.cluster.requests import (
    Request,
    Violation,
    evaluate,
    find_violations,
    group_request,
    slurm_request,
)


def limits_from_config(section: Any) -> PartitionLimits | None:
    """The hook for rules/common.smk: ``CLUSTER_LIMITS = limits_from_config(STUDY.cluster)``, the
    ``cluster`` section a SLURM profile's limits file adds to the config. None (check nothing) when no
    limits are declared, e.g. local runs."""
    if not section:
        return None
    limits = PartitionLimits.from_mapping(section, where="config.cluster")
    return limits if limits.declared else None


def _is_main_process(workflow: Any) -> bool:
    """False inside SLURM jobs (the jobstep executor re-reads the Snakefile) and local subprocesses."""
    return bool(getattr(workflow, "is_main_process", True))


def _retries(workflow: Any) -> int:
    """--retries of this run (0 where Snakemake sets no execution settings, e.g. --report)."""
    return int(getattr(getattr(workflow, "execution_settings", None), "retries", 0) or 0)


def _snakemake_value(
    resource: Any, *, rule: str, wildcards: Any, attempt: int, threads: int, workflow: Any
) -> Any:
    """Evaluate one snakemake.resources.Resource for ``attempt``, as Snakemake would for a job."""
    if not resource.is_evaluable():
        return resource.value
    if isinstance(resource.raw, str):  # a profile / CLI expression such as "480 * attempt"
        return evaluate(resource.raw, attempt=attempt, threads=threads, name=resource.name)
    return resource.evaluate(
        wildcards, input=[], attempt=attempt, threads=threads, rulename=rule, async_run=workflow.async_run
    ).value


def workflow_request(
    workflow: Any, rule: str, wildcards: Any = None, *, attempt: int | None = None
) -> Request:
    """The SLURM request of one job of ``rule`` as Snakemake resolved its resources (defaults, the rule's
    own ``resources:``, set-resources, set-threads), evaluated for ``attempt`` (default: the last retry)."""
    from snakemake.iocontainers import Wildcards

    wildcards = Wildcards() if wildcards is None else wildcards
    attempt = _retries(workflow) + 1 if attempt is None else attempt
    resources = workflow.get_rule(rule).resources
    common = {"rule": rule, "wildcards": wildcards, "attempt": attempt, "workflow": workflow}
    threads = int(_snakemake_value(resources["_cores"], threads=1, **common)) if "_cores" in resources else 1
    values = {
        name: _snakemake_value(res, threads=threads, **common)
        for name, res in resources.items()
        if not name.startswith("_") and name not in ("tmpdir", "disk_mb", "disk", "mem_mib", "disk_mib")
    }
    return slurm_request(rule, values, threads)


def workflow_group(workflow: Any, rule: str) -> tuple[str | None, int, int | None]:
    """(group name, group-components, per-group GPU cap) of ``rule`` in this run."""
    group = workflow.get_rule(rule).group
    size = int(workflow.group_settings.group_components.get(group, 1)) if group else 1
    cap = None
    scopes = workflow.resource_settings.overwrite_resource_scopes
    gpu = workflow.resource_settings.resources.get("gpu")
    if gpu is not None and scopes.get("gpu") == "local":
        cap = int(getattr(gpu, "value", gpu))
    return group, size, cap


_CHECKED: dict[int, set[Any]] = {}
_UNIFORM_DONE: dict[int, set[str]] = {}
_FOUND: dict[int, list[Violation]] = {}


def _uniform(workflow: Any, rule: str) -> bool:
    """Whether every job of ``rule`` asks for the same resources: none of them is a function (of the
    job's wildcards, input or threads); profile expressions such as ``"32000 * attempt"`` depend only on
    the attempt."""
    return not any(callable(res.raw) for res in workflow.get_rule(rule).resources.values())


def _planned_request(workflow: Any, rule: str, wildcards: Any) -> Request:
    """One job's request, sized as its group job where ``group-components`` groups the rule."""
    request = workflow_request(workflow, rule, wildcards)
    group, size, cap = workflow_group(workflow, rule)
    if group and size > 1:
        request = group_request(request, size, cap, job=f"group {group!r} ({size} x {rule})")
    return request


def _other_gpu_requests(workflow: Any, skip: str) -> list[Request]:
    """Requests of the workflow's other submitted rules that ask for GPUs (the declared limits describe the
    GPU partition), as far as they are known without wildcards (profile resources are; a rule's own
    wildcard-dependent resources are not: they are checked with a job of the rule, where the hook runs)."""
    requests = []
    local = getattr(workflow, "_localrules", set())  # workflow.is_local() says True for all in a dry run
    for other in workflow.rules:
        if other.name == skip or other.name in local or other.norun:
            continue
        try:
            request = _planned_request(workflow, other.name, None)
        except Exception:  # needs a job's wildcards or inputs
            continue
        if request.gpus or other.name in TRAINING_RULES:
            requests.append(request)
    return requests


_WARNED: set[int] = set()


def _warn_unchecked(workflow: Any, rule: str, wildcards: Any) -> None:
    """Once per run: a job asks for a GPU but no partition limits were declared (a SLURM profile whose
    limits file was dropped, e.g. by a CLI --configfile that replaced the profile's list)."""
    if id(workflow) in _WARNED:
        return
    _WARNED.add(id(workflow))
    try:
        gpus = workflow_request(workflow, rule, wildcards).gpus
    except Exception:  # resources that need a job's inputs: nothing to say
        return
    if gpus:
        from snakemake.logging import logger

        logger.warning(
            f"{rule} asks for {gpus} GPU(s) but no partition limits are declared (no `cluster:` section in "
            "the config): SLURM requests go unchecked. Pass the profile's limits file as a config file, "
            "e.g. --configfile studies/X.yaml profiles/slurm/cluster.yaml (docs/CLUSTER.md)."
        )


def check_job_requests(
    workflow: Any, limits: PartitionLimits | None, rule: str, wildcards: Any = None
) -> None:
    """The hook for the training rules' input functions (rules/train.smk): raise a WorkflowError naming
    every request above the partition limits: this job's (and its group's) and, on the first call, those
    of every other rule that asks the partition for GPUs.

    Runs while Snakemake builds the DAG, when retries, groups and set-resources are known, so
    ``snakemake -n --profile profiles/slurm`` fails before anything is submitted. A rule whose resources
    do not depend on the job is checked once (the paper grid's 10,119 jobs pay one dict lookup each),
    other rules once per distinct request; jobs inside SLURM (the jobstep executor) skip it.
    """
    if not _is_main_process(workflow):
        return
    if limits is None:
        _warn_unchecked(workflow, rule, wildcards)
        return
    done = _UNIFORM_DONE.setdefault(id(workflow), set())
    # every violation found so far: an input function that raised may only have ruled out one candidate
    # rule of an ambiguous target (Snakemake's non-strict DAG evaluation), so every later call raises too
    violations = _FOUND.setdefault(id(workflow), [])
    if rule in done and not violations:
        return
    seen = _CHECKED.setdefault(id(workflow), set())
    requests = [] if seen else _other_gpu_requests(workflow, rule)
    requests.append(_planned_request(workflow, rule, wildcards))
    new = [r for r in requests if r not in seen]
    seen.update(new)
    violations.extend(find_violations(new, limits))
    if not violations and _uniform(workflow, rule):
        done.add(rule)
    if violations:
        from snakemake.exceptions import WorkflowError

        attempt = _retries(workflow) + 1
        where = f" on partition {limits.partition}" if limits.partition else ""
        raise WorkflowError(
            f"SLURM request would exceed the partition limits{where} (resources evaluated for the last "
            f"retry, attempt {attempt}; limits from the config's `cluster:` section, the profile's "
            "limits file):\n  - " + "\n  - ".join(map(str, violations))
        )


def check_array_submission(workflow: Any, limits: PartitionLimits | None) -> None:
    """The ``onstart:`` hook: before the first sbatch, refuse array settings that plugin 2.6-2.8 would turn
    into a hang, a refused sbatch or wrong resources (see :func:`array_violations`). Real runs only: a dry
    run has no executor settings."""
    settings = getattr(workflow, "executor_settings", None)
    arrays = getattr(settings, "array_jobs", None)
    if not arrays or not _is_main_process(workflow):
        return
    rules = {r.strip() for r in str(arrays).replace(";", ",").split(",") if r.strip()}
    counts: dict[str, int] = {}
    requests: dict[str, set[tuple]] = {}
    grouped = set()
    for job in workflow.dag.needrun_jobs():
        if job.is_local:
            continue
        name = job.rule.name
        counts[name] = counts.get(name, 0) + 1
        if job.group is not None:
            grouped.add(name)
        keep = (
            "runtime",
            "mem_mb",
            "gpu",
            "gpu_model",
            "gres",
            "cpus_per_gpu",
            "cpus_per_task",
            "slurm_partition",
        )
        requests.setdefault(name, set()).add(tuple(str(job.resources.get(k)) for k in keep))
    rate = workflow.scheduling_settings.max_jobs_per_timespan
    found = array_violations(
        counts,
        array_rules=rules,
        array_limit=int(settings.array_limit),
        jobs=workflow.resource_settings.nodes,
        rate=rate.max_jobs if rate else None,
        limits=limits or PartitionLimits(),
        nonuniform={rule: len(distinct) for rule, distinct in requests.items()},
        grouped=grouped,
    )
    config_args = getattr(getattr(workflow, "config_settings", None), "config_args", None) or []
    quoted = [arg for arg in config_args if repr(arg).startswith('"')]  # Snakemake passes them as repr()
    if quoted:
        found.append(
            Violation(
                "--config",
                "string values",
                ", ".join(quoted),
                "none",
                'the plugin puts them in double quotes inside the array\'s --wrap="...", and sbatch refuses '
                "the array ('Script arguments not permitted with --wrap option'): put them in a config file",
            )
        )
    if found:
        from snakemake.exceptions import WorkflowError

        raise WorkflowError(
            "SLURM array submission (--slurm-array-jobs) would fail or hang with this plan:\n  - "
            + "\n  - ".join(map(str, found))
        )
