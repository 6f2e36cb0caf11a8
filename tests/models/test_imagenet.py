"""ImageNet class names come offline from torchvision's weight metadata."""

from vpbench.models.imagenet import imagenet_class_names


def test_thousand_names_in_logit_order():
    names = imagenet_class_names()
    assert len(names) == 1000
    assert (names[0], names[457], names[652], names[999]) == (
        "tench",
        "bow tie",
        "military uniform",
        "toilet tissue",
    )
