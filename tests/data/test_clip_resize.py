"""CLIP caches: ``resize_like_clip`` equals torchvision's ``Resize(n, BICUBIC)`` + ``CenterCrop(n)``."""

import numpy as np
import pytest
from PIL import Image
from torchvision import transforms

from vpbench.data.cache import resize_like_clip

# (width, height): landscape and portrait photos, odd offsets, the 640×427 case whose crop used to shift,
# near-square and already-square images, and images smaller than the target (upsampled).
SIZES = [(640, 427), (427, 640), (500, 375), (375, 500), (333, 500), (301, 224), (225, 224), (224, 224),
         (1000, 999), (97, 61), (61, 97), (150, 150), (799, 533)]  # fmt: skip


def _photo(width: int, height: int, mode: str, seed: int) -> Image.Image:
    """A smooth gradient plus noise, so any one-pixel shift of the crop changes many pixels."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width]
    base = np.stack([(x * 255) // max(width - 1, 1), (y * 255) // max(height - 1, 1), (x + y) % 256], -1)
    pixels = np.clip(base + rng.integers(-40, 40, base.shape), 0, 255).astype(np.uint8)
    image = Image.fromarray(pixels, "RGB")
    return image.convert(mode) if mode != "RGB" else image


def _torchvision(image: Image.Image, size: int) -> np.ndarray:
    """CLIP's ``_transform`` up to ``ToTensor``: Resize, CenterCrop, then RGB conversion."""
    bicubic = transforms.InterpolationMode.BICUBIC
    pipeline = transforms.Compose(
        [transforms.Resize(size, interpolation=bicubic), transforms.CenterCrop(size)]
    )
    return np.asarray(pipeline(image).convert("RGB"), dtype=np.uint8).transpose(2, 0, 1)


@pytest.mark.parametrize("size", [224, 336])
@pytest.mark.parametrize(("width", "height"), SIZES)
def test_clip_resize_equals_torchvision_resize_and_centre_crop(width, height, size):
    image = _photo(width, height, "RGB", seed=width * 7 + height)
    ours = resize_like_clip(image, size)
    assert ours.shape == (3, size, size) and ours.dtype == np.uint8
    assert np.array_equal(ours, _torchvision(image, size))


@pytest.mark.parametrize("mode", ["L", "P", "CMYK"])
def test_non_rgb_images_are_converted_after_the_crop_as_clip_does(mode):
    image = _photo(640, 427, mode, seed=3)
    assert np.array_equal(resize_like_clip(image, 224), _torchvision(image, 224))
