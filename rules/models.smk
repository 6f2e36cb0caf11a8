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
