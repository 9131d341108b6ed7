"""Real photographs shipped inside the scikit-image and scikit-learn wheels.

The ``photos`` source: whole images with a fixed split by image (never by patch), so a
held-out photo is never seen in training. The seven everyday colour photos of the
super-resolution literature's habits (astronaut, coffee, chelsea, rocket, motorcycle_left,
china, flower) are joined by the other real colour photos in scikit-image; grayscale
photos are listed apart (``PHOTOS_GRAY``) and join only when asked for.
"""

from __future__ import annotations

import functools
import warnings

import numpy as np

from gan_apps.errors import UserInputError
from gan_apps.images import from_uint8

PHOTO_SPLITS = ("train", "test", "all")
# Held out of every training set: three of the everyday photos, different in content
# (an animal, an indoor object, a cityscape-free landscape) from each other.
TEST_PHOTOS = ("chelsea", "coffee", "flower")
PHOTOS_COLOR = (
    "astronaut", "coffee", "chelsea", "rocket", "motorcycle_left", "china", "flower",
    "immunohistochemistry", "hubble_deep_field",
)
PHOTOS_GRAY = ("camera", "moon", "grass", "gravel", "brick", "clock", "coins")
PHOTOS_CHANNELS = 3


def _load_one(name):
    if name in ("china", "flower"):
        from sklearn.datasets import load_sample_image

        return load_sample_image(f"{name}.jpg")
    import skimage.data

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if name == "motorcycle_left":
            return skimage.data.stereo_motorcycle()[0]
        return getattr(skimage.data, name)()


@functools.lru_cache(maxsize=None)
def photo(name):
    """One photo as read-only uint8 [H, W, C] (C = 3 for colour, 1 for grayscale photos)."""
    if name not in PHOTOS_COLOR + PHOTOS_GRAY:
        raise UserInputError(
            f"no embedded photo named {name!r}; choose from {', '.join(PHOTOS_COLOR + PHOTOS_GRAY)}"
        )
    image = np.asarray(_load_one(name))
    if image.dtype == bool:
        image = image.astype(np.uint8) * 255
    image = image.astype(np.uint8)
    if image.ndim == 2:
        image = image[..., None]
    image = np.ascontiguousarray(image[..., :3])
    image.setflags(write=False)
    return image


def photo_names(split="train", *, include_gray=False):
    """Names of the photos in ``split`` (train and test share no photo)."""
    if split not in PHOTO_SPLITS:
        raise UserInputError(f"photos has splits {list(PHOTO_SPLITS)}, not {split!r}; pass one of those")
    names = PHOTOS_COLOR + (PHOTOS_GRAY if include_gray else ())
    if split == "train":
        return tuple(n for n in names if n not in TEST_PHOTOS)
    if split == "test":
        return tuple(n for n in names if n in TEST_PHOTOS)
    return names


def to_channels(image, channels):
    """uint8 [H, W, C] with C converted to ``channels`` (1 or 3; colour to gray uses BT.601 luma)."""
    if image.shape[-1] == channels:
        return image
    if channels == 3:
        return np.repeat(image, 3, axis=-1)
    luma = image.astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32)
    return np.clip(np.round(luma), 0, 255).astype(np.uint8)[..., None]


def load_photos(split="train", *, channels=PHOTOS_CHANNELS, include_gray=False):
    """Whole photos of ``split`` as a list of uint8 [H, W, channels] arrays, and their names."""
    if channels not in (1, 3):
        raise UserInputError(f"channels must be 1 or 3, got {channels!r}; pass --channels 1 or 3")
    names = photo_names(split, include_gray=include_gray)
    return [to_channels(photo(n), channels) for n in names], list(names)


def photo_patches(split="train", *, resolution=64, channels=PHOTOS_CHANNELS, num_examples=None):
    """Non-overlapping ``resolution`` x ``resolution`` patches on a regular grid of every photo.

    Returns float32 [N, resolution, resolution, channels] in [-1, 1], photo by photo in a
    fixed order (shuffle downstream).
    """
    images, _ = load_photos(split, channels=channels)
    patches = []
    for image in images:
        height, width = image.shape[:2]
        for top in range(0, height - resolution + 1, resolution):
            for left in range(0, width - resolution + 1, resolution):
                patches.append(image[top:top + resolution, left:left + resolution])
    if not patches:
        raise UserInputError(
            f"the photos are smaller than {resolution} px; pass a smaller --resolution"
        )
    patches = np.stack(patches[:num_examples]).astype(np.float32)
    return from_uint8(patches)
