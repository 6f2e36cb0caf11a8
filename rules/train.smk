# Training: one job per cell, or one job per pack (every few-shot cell of one dataset, variant, method and
# seed), whose job declares every member's files. A change to a cell's plan (its resolved recipe, method,
# variant, data or metric options) reruns it; a study that only reorders keys reruns nothing.
# SLURM profiles submit both rules as job arrays, so neither has a `group:` (group jobs are never arrays;
# profiles/slurm-noarray groups them itself). Their input functions (rules/common.smk) first check the
# job's SLURM request against the profile's partition limits: `snakemake -n` fails before any submission.


if dag.packable_shots(STUDY):

    ruleorder: train_pack > train_cell

    rule train_pack:
        input:
            unpack(train_pack_inputs),
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
        priority: 1
        threads: 1
        script:
            "../workflow/scripts/train_pack.py"


rule train_cell:
    input:
        unpack(train_cell_inputs),
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
    threads: 1
    script:
        "../workflow/scripts/train_cell.py"
