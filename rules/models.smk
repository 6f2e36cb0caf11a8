# Model variants: registry or user-declared weights as they are, or compressed inside the pipeline.


rule materialize_variant:
    input:
        lambda wildcards: dag.variant_weights(STUDY, wildcards),
    output:
        paths.CARD,
    params:
        spec=lambda wildcards: dag.variant_spec(STUDY, wildcards),
        canvas=lambda wildcards: dag.variant_canvas(STUDY, wildcards),
    conda:
        "../envs/vpbench.yaml"
    log:
        "logs/materialize_variant/{study}/{model}/{variant}.log",
    benchmark:
        "logs/benchmarks/materialize_variant/{study}/{model}/{variant}.tsv"
    script:
        "../workflow/scripts/materialize_variant.py"


# The paper's Fig. 14: each variant's ImageNet-1k top-1 measured once on the study's validation folder.
if STUDY.imagenet_val:

    rule imagenet_top1:
        input:
            card=paths.CARD,
            val=STUDY.imagenet_val,
        output:
            paths.IMAGENET_TOP1,
        conda:
            "../envs/vpbench.yaml"
        log:
            "logs/imagenet_top1/{study}/{model}/{variant}.log",
        benchmark:
            "logs/benchmarks/imagenet_top1/{study}/{model}/{variant}.tsv"
        threads: 2
        script:
            "../workflow/scripts/imagenet_top1.py"
