# Acquisition: verified checkpoints and datasets. Local rules, because compute nodes are often offline.


rule acquire_weights:
    output:
        f"{WEIGHTS_DIR}/{{family}}/acquired.json",
    params:
        download=config.get("download", False),
    conda:
        "../envs/vpbench.yaml"
    log:
        "logs/acquire_weights/{family}.log",
    benchmark:
        "logs/benchmarks/acquire_weights/{family}.tsv"
    localrule: True
    script:
        "../workflow/scripts/acquire_weights.py"


rule acquire_dataset:
    output:
        "resources/acquired/{dataset}.json",
    params:
        root=lambda wildcards: dataset_root(wildcards.dataset),
        download=config.get("download", False),
    conda:
        "../envs/vpbench.yaml"
    log:
        "logs/acquire_dataset/{dataset}.log",
    benchmark:
        "logs/benchmarks/acquire_dataset/{dataset}.tsv"
    localrule: True
    script:
        "../workflow/scripts/acquire_dataset.py"
