# Penultimate features of a model variant on one dataset split, computed once (the linear probe's input).


rule features:
    input:
        unpack(lambda wildcards: dag.feature_inputs(STUDY, wildcards)),
    output:
        features=paths.FEATURES,
        meta=paths.FEATURES_META,
    params:
        size=lambda wildcards: dag.feature_size(STUDY, wildcards),
        device=STUDY.device,
    conda:
        "../envs/vpbench.yaml"
    log:
        "logs/features/{study}/{model}/{variant}/{dataset}-{split}.log",
    benchmark:
        "logs/benchmarks/features/{study}/{model}/{variant}/{dataset}-{split}.tsv"
    threads: 2
    script:
        "../workflow/scripts/features.py"
