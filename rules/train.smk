# One training job per cell; cells of one group can be packed into one SLURM job (--group-components).


rule train_cell:
    input:
        unpack(cell_inputs),
    output:
        **{
            name.replace(".", "_"): f"{vpstudy.CELL_DIR}/{name}"
            for name in vpstudy.CELL_FILES
        },
    params:
        cell_dir=cell_dir,
        checkpoint_dir=checkpoint_dir,
    conda:
        "../envs/vpbench.yaml"
    log:
        "logs/train_cell/{study}/{dataset}/{model}/{variant}/{method}/{shots}shot/seed{seed}.log",
    benchmark:
        "logs/benchmarks/train_cell/{study}/{dataset}/{model}/{variant}/{method}/{shots}shot/seed{seed}.tsv"
    group:
        "cells"
    threads: 1
    script:
        "../workflow/scripts/train_cell.py"


rule train_pack:
    input:
        unpack(pack_inputs),
    output:
        "results/{study}/packs/{dataset}/{model}/{variant}/pack{index}.json",
    params:
        cells=lambda wildcards: [cell.__dict__ for cell in pack_cells(wildcards)],
    conda:
        "../envs/vpbench.yaml"
    log:
        "logs/train_pack/{study}/{dataset}/{model}/{variant}/pack{index}.log",
    benchmark:
        "logs/benchmarks/train_pack/{study}/{dataset}/{model}/{variant}/pack{index}.tsv"
    group:
        "cells"
    threads: 1
    script:
        "../workflow/scripts/train_pack.py"
