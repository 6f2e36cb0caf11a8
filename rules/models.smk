# Model variants: registry weights as they are, or compressed inside the pipeline, each with a card.


rule materialize_variant:
    input:
        variant_weights,
    output:
        "results/{study}/models/{model}/{variant}/card.json",
    params:
        spec=lambda wildcards: vpstudy.variant_spec(config, wildcards.model, wildcards.variant),
        canvas=variant_canvas,
    conda:
        "../envs/vpbench.yaml"
    log:
        "logs/materialize_variant/{study}/{model}/{variant}.log",
    benchmark:
        "logs/benchmarks/materialize_variant/{study}/{model}/{variant}.tsv"
    script:
        "../workflow/scripts/materialize_variant.py"
