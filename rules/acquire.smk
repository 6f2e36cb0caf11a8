# Acquisition: verified checkpoints and datasets. Local rules, because compute nodes are often offline;
# high priority, so a wrong or missing file stops the run before any training starts. These outputs are
# shared by every study, so they take no params: where a study keeps its raw files or whether it may
# download is read by the script, and never makes Snakemake re-acquire (and rebuild) another study's data.


rule acquire_weights:
    output:
        paths.weights_acquired(STUDY, "{family}"),
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
