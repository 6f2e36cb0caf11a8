"""Family modules; each registers its entries on import. Add a module here to add a family."""

from vpbench.models.families import torchvision_dense  # noqa: F401
