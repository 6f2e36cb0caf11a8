"""Model registry and the family modules that fill it (importing this package registers them all)."""

from vpbench.models import families  # noqa: F401  (registers every family)
from vpbench.models.registry import (
    MODELS,
    ModelFamily,
    WeightSource,
    get_model_family,
    load_family_weights,
    register_model,
)

__all__ = [
    "MODELS",
    "ModelFamily",
    "WeightSource",
    "get_model_family",
    "load_family_weights",
    "register_model",
]
