# Training: one job per cell, or one job per pack (every few-shot cell of one dataset, variant, method and
# seed), whose job declares every member's files. A change to a cell's plan (its resolved recipe, method,
# variant, data or metric options) reruns it; a study that only reorders keys reruns nothing.


if dag.packable_shots(STUDY):

    ruleorder: train_pack > train_cell

    rule train_pack:
        input:
            unpack(lambda wildcards: dag.pack_inputs(STUDY, wildcards)),
        output:
            **dag.pack_outputs(STUDY),
        params:
            plans=lambda wildcards: dag.pack_plans(STUDY, wildcards),
        wildcard_constraints:
            method=dag.pack_method_constraint(STUDY),
        conda:
            "../envs/vpbench.yaml"
        log:
            paths.PACK_LOG,
        benchmark:
            "logs/benchmarks/train_pack/{study}/{dataset}/{model}/{variant}/{method}/seed{seed}.tsv"
        group:
            "cells"
        priority: 1
        threads: 1
        script:
            "../workflow/scripts/train_pack.py"


rule train_cell:
    input:
        unpack(lambda wildcards: dag.cell_inputs(STUDY, wildcards)),
    output:
        **dag.cell_outputs(STUDY),
    params:
        plan=lambda wildcards: dag.cell_plan(STUDY, wildcards),
    conda:
        "../envs/vpbench.yaml"
    log:
        paths.CELL_LOG,
    benchmark:
        "logs/benchmarks/train_cell/{study}/{dataset}/{model}/{variant}/{method}/{shots}shot/seed{seed}.tsv"
    group:
        "cells"
    threads: 1
    script:
        "../workflow/scripts/train_cell.py"
