# CLIP text embeddings: every (template, class) text encoded once per model variant and dataset.


rule text_embeddings:
    input:
        card=paths.CARD,
    output:
        text=paths.TEXT_EMBEDDINGS,
        checksum=paths.TEXT_EMBEDDINGS_SHA256,
    params:
        classnames=STUDY.clip_classnames,
        device=STUDY.device,
    conda:
        "../envs/vpbench.yaml"
    log:
        "logs/text_embeddings/{study}/{model}/{variant}/{dataset}-{templates}.log",
    benchmark:
        "logs/benchmarks/text_embeddings/{study}/{model}/{variant}/{dataset}-{templates}.tsv"
    threads: 8  # CPU text encoding of 81·C texts with ViT-L takes minutes; capped by --cores
    script:
        "../workflow/scripts/text_embeddings.py"
