"""Data shipped inside installed wheels: scikit-learn's 8x8 handwritten digits."""

from __future__ import annotations

import functools

import cv2
import numpy as np

from gan_apps.errors import UserInputError
from gan_apps.images import from_unit_range

DIGITS_SPLITS = ("train", "test", "all")
DIGITS_CLASSES = 10
DIGITS_CHANNELS = 1
DIGITS_TEST_FRACTION = 0.2
# Fixed so the held-out digits never change between runs, machines or seeds.
DIGITS_SPLIT_STATE = 0


@functools.lru_cache(maxsize=1)
def _digits_raw():
    """The 1,797 digits as uint8 [N, 8, 8] (values 0..16), labels, and the split indices."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    digits = load_digits()
    images = digits.images.astype(np.uint8)
    labels = digits.target.astype(np.int32)
    train, test = train_test_split(
        np.arange(len(labels)),
        test_size=DIGITS_TEST_FRACTION,
        stratify=labels,
        random_state=DIGITS_SPLIT_STATE,
    )
    for array in (images, labels, train, test):
        array.setflags(write=False)
    return images, labels, {"train": train, "test": test, "all": np.arange(len(labels))}


def digits_split_indices(split):
    """Indices into the 1,797 digits that make up ``split`` (train/test are disjoint, ~80/20)."""
    if split not in DIGITS_SPLITS:
        raise UserInputError(
            f"digits has splits {list(DIGITS_SPLITS)}, not {split!r}; pass one of those"
        )
    return _digits_raw()[2][split]


def load_digits(*, resolution=32, channels=DIGITS_CHANNELS, split="train",
                num_examples=None):
    """Digits scaled from 0..16 to [-1, 1] and resized to ``resolution``.

    Returns:
        images float32 [N, resolution, resolution, channels] in [-1, 1], labels int32 [N].
    """
    images, labels, _ = _digits_raw()
    index = digits_split_indices(split)[:num_examples]
    scaled = from_unit_range(images[index].astype(np.float32) / 16.0)
    if resolution != scaled.shape[1]:
        # Every request enlarges (resolution >= 8); cubic keeps strokes smooth, and its
        # overshoot past the original range is clipped away.
        scaled = np.stack(
            [
                cv2.resize(image, (resolution, resolution), interpolation=cv2.INTER_CUBIC)
                for image in scaled
            ]
        ).reshape(len(index), resolution, resolution)
        scaled = np.clip(scaled, -1.0, 1.0)
    scaled = np.repeat(scaled[..., None], channels, axis=-1)
    return np.ascontiguousarray(scaled, dtype=np.float32), labels[index].copy()
