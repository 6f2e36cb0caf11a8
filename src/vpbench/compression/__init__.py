"""In-pipeline compression: magnitude / N:M pruning, fake quantization, variant save/load, model cards."""

from vpbench.compression.fake_quant import (
    ActivationFakeQuant,
    FakeQuantConv2d,
    FakeQuantLinear,
    fake_quantize_weight,
)
from vpbench.compression.model_card import (
    compression_level_on_axis,
    count_flops,
    measure_sparsity,
    model_card,
    remaining_pct_paper,
    sample_photos,
    sanity_top5_agreement,
)
from vpbench.compression.pruning import (
    gmp_cubic_schedule,
    magnitude_prune,
    paper_scope,
    prunable_layers,
    semi_structured_prune,
)
from vpbench.compression.quantization import insert_fake_quant, quantize_model
from vpbench.compression.variants import (
    COMPRESSION_METHODS,
    CompressionMethod,
    apply_compression,
    load_variant,
    prepare_structure,
    save_variant,
    validate_spec,
)

__all__ = [
    "COMPRESSION_METHODS",
    "ActivationFakeQuant",
    "CompressionMethod",
    "FakeQuantConv2d",
    "FakeQuantLinear",
    "apply_compression",
    "compression_level_on_axis",
    "count_flops",
    "fake_quantize_weight",
    "gmp_cubic_schedule",
    "insert_fake_quant",
    "load_variant",
    "magnitude_prune",
    "measure_sparsity",
    "model_card",
    "paper_scope",
    "prepare_structure",
    "prunable_layers",
    "quantize_model",
    "remaining_pct_paper",
    "sample_photos",
    "sanity_top5_agreement",
    "save_variant",
    "semi_structured_prune",
    "validate_spec",
]
