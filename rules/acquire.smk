# Acquisition: verified checkpoints and datasets. Local rules, because compute nodes are often offline;
# high priority, so a wrong or missing file stops the run before any training starts.


rule acquire_weights:
    output:
        paths.weights_acquired(STUDY, "{family}"),
    params:
        download=STUDY.download,
    conda:
        "../envs/vpbench.yaml"
    log:
        "logs/acquire_weights/{family}.log",
    benchmark:
        "logs/benchmarks/acquire_weights/{family}.tsv"
    priority: 100
    localrule: True
    script:
        "../workflow/scripts/acquire_weights.py"


rule acquire_dataset:
    output:
        paths.DATASET_ACQUIRED,
    params:
        root=lambda wildcards: dag.dataset_root(STUDY, wildcards),
        download=STUDY.download,
    conda:
        "../envs/vpbench.yaml"
    log:
        "logs/acquire_dataset/{dataset}.log",
    benchmark:
        "logs/benchmarks/acquire_dataset/{dataset}.tsv"
    priority: 100
    localrule: True
    script:
        "../workflow/scripts/acquire_dataset.py"
