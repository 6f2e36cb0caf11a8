# Preprocess once: uint8 caches per (dataset, split, input size) and N-shot index files per seed.
from vpbench.data.cache import RESIZERS


rule build_cache:
    input:
        paths.DATASET_ACQUIRED,
    output:
        labels=paths.CACHE_LABELS,
        manifest=paths.CACHE_MANIFEST,
    params:
        # the resize rule's text: a changed rule (e.g. the CLIP crop fix of RESULTS_VERSION 3) rebuilds
        resize_rule=lambda wildcards: RESIZERS[wildcards.resize][1],
    conda:
        "../envs/vpbench.yaml"
    log:
        "logs/build_cache/{dataset}/{split}-{size}px-{resize}.log",
    benchmark:
        "logs/benchmarks/build_cache/{dataset}/{split}-{size}px-{resize}.tsv"
    script:
        "../workflow/scripts/build_cache.py"


rule nshot_split:
    input:
        manifest=lambda wildcards: paths.cache_manifest(
            wildcards.dataset, "train", STUDY.dataset_input_size(wildcards.dataset)
        ),
    output:
        paths.SPLIT_FILE,
    conda:
        "../envs/vpbench.yaml"
    log:
        "logs/nshot_split/{dataset}/{mode}/{shots}shot-seed{seed}.log",
    benchmark:
        "logs/benchmarks/nshot_split/{dataset}/{mode}/{shots}shot-seed{seed}.tsv"
    localrule: True
    script:
        "../workflow/scripts/nshot_split.py"
