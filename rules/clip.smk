# CLIP text embeddings: every (template, class) text encoded once per model variant and dataset (§5.1).
from vpbench.engine.text_templates import TEMPLATE_SETS  # noqa: E402


rule text_embeddings:
    input:
        card="results/{study}/models/{model}/{variant}/card.json",
    output:
        text="results/{study}/text/{model}/{variant}/{dataset}-{templates}.pt",
        checksum="results/{study}/text/{model}/{variant}/{dataset}-{templates}.pt.sha256",
    wildcard_constraints:
        templates=_alternatives(TEMPLATE_SETS),
    params:
        classnames=config.get("clip_classnames", "real"),
        device=config.get("device", "auto"),
    conda:
        "../envs/vpbench.yaml"
    log:
        "logs/text_embeddings/{study}/{model}/{variant}/{dataset}-{templates}.log",
    benchmark:
        "logs/benchmarks/text_embeddings/{study}/{model}/{variant}/{dataset}-{templates}.tsv"
    threads: 8  # CPU text encoding of 81·C texts with ViT-L takes minutes; capped by --cores
    script:
        "../workflow/scripts/text_embeddings.py"
