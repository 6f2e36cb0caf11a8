"""Family modules; each registers its entries on import. Add a module here to add a family."""

from vpbench.models.families import (  # noqa: F401
    clip,
    efficientnet,
    sparse_resnets,
    torchvision_dense,
    vit_quantized,
)
