"""High-frequency artifact energy: what is left of an image after it passes through a
low-resolution bottleneck.

The embedded digits are 8x8 at heart: upsampled real digits are (almost) determined by
their 8x8 area average, while generator artifacts (checkerboards from transposed
convolutions, speckle) live above that band. The energy of x - up(down(x)) per pixel
measures them; the ratio to the same energy of real data says how much a generator adds.
"""

from __future__ import annotations

import cv2
import numpy as np


def residual_energy(images, base=8):
    """Mean squared residual per pixel of ``images`` after area-downsampling to ``base`` and
    bicubic upsampling back.

    Args:
        images: float [N, H, W, C] in [-1, 1], with H, W >= base.
        base: side of the bottleneck (8 for the digits).

    Returns:
        float, the mean over images, pixels and channels of (x - up(down(x)))^2.
    """
    images = np.asarray(images, np.float32)
    if images.ndim != 4:
        raise ValueError(f"expected images [N, H, W, C], got shape {images.shape}")
    _, height, width, _ = images.shape
    if height < base or width < base:
        raise ValueError(f"images of {height}x{width} are smaller than the {base}x{base} bottleneck")
    total = 0.0
    for image in images:
        small = cv2.resize(image, (base, base), interpolation=cv2.INTER_AREA)
        back = cv2.resize(small, (width, height), interpolation=cv2.INTER_CUBIC)
        back = back.reshape(image.shape)
        total += float(np.mean(np.square(image - back)))
    return total / len(images)
