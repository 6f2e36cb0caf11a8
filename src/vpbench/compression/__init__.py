"""In-pipeline compression: magnitude / N:M pruning, fake quantization, variant save/load, model cards."""

from vpbench.compression.fake_quant import (
    ActivationFakeQuant,
    FakeQuantConv2d,
    FakeQuantLinear,
    fake_quantize_weight,
)
from vpbench.compression.methods import (
    COMPRESSION_METHODS,
    CompressionMethod,
    get_compression_method,
    register_compression_method,
)
from vpbench.compression.model_card import (
    compression_level_on_axis,
    count_flops,
    model_card,
    remaining_pct_paper,
    sample_photos,
    sanity_top5_agreement,
)
from vpbench.compression.pruning import (
    gmp_cubic_schedule,
    magnitude_prune,
    measure_sparsity,
    paper_scope,
    prunable_layers,
    semi_structured_prune,
)
from vpbench.compression.quantization import insert_fake_quant, quantize_model
from vpbench.compression.techniques import TECHNIQUES, Technique, register_technique, technique
from vpbench.compression.variants import (
    apply_compression,
    load_variant,
    prepare_structure,
    save_variant,
    validate_spec,
)

__all__ = [
    "COMPRESSION_METHODS",
    "TECHNIQUES",
    "ActivationFakeQuant",
    "CompressionMethod",
    "FakeQuantConv2d",
    "FakeQuantLinear",
    "Technique",
    "apply_compression",
    "compression_level_on_axis",
    "count_flops",
    "fake_quantize_weight",
    "get_compression_method",
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
    "register_compression_method",
    "register_technique",
    "remaining_pct_paper",
    "sample_photos",
    "sanity_top5_agreement",
    "save_variant",
    "semi_structured_prune",
    "technique",
    "validate_spec",
]
