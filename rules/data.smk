# Preprocess once: uint8 caches per (dataset, split, input size) and N-shot index files per seed.


rule build_cache:
    input:
        "resources/acquired/{dataset}.json",
    output:
        labels="resources/cache/{dataset}/{split}-{size}px-{resize}/labels.npy",
        manifest="resources/cache/{dataset}/{split}-{size}px-{resize}/manifest.json",
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
        manifest=lambda wildcards: f"{cache_dir(wildcards.dataset, 'train')}/manifest.json",
    output:
        "resources/splits/{dataset}/{mode}/{shots}shot-seed{seed}.json",
    conda:
        "../envs/vpbench.yaml"
    log:
        "logs/nshot_split/{dataset}/{mode}/{shots}shot-seed{seed}.log",
    benchmark:
        "logs/benchmarks/nshot_split/{dataset}/{mode}/{shots}shot-seed{seed}.tsv"
    localrule: True
    script:
        "../workflow/scripts/nshot_split.py"
