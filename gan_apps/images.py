"""Image edges of the toolkit: pixel ranges, grids, scatter plots, PNG files.

Pixel ranges. Every network of the toolkit sees images in [-1, 1] (the range of the
generators' tanh output, Radford et al. 2016, Sec. 3); files, datasets and serving
signatures hold uint8 in [0, 255] or floats in [0, 1]. The conversions are written once
here, for numpy arrays and TensorFlow tensors alike:

- :func:`to_unit_range` / :func:`from_unit_range`: [-1, 1] <-> [0, 1], x -> (x + 1) / 2
  and u -> 2 u - 1;
- :func:`to_uint8` / :func:`from_uint8`: [-1, 1] <-> uint8, x -> clip(round(255 (x + 1) / 2))
  and v -> 2 v / 255 - 1 in float32.

Halving and doubling are exact in binary floating point, so these give bit for bit the
values of the ``(x + 1) * 127.5`` and ``v / 127.5 - 1`` forms used before.
"""

from __future__ import annotations

import math
import sys

import cv2
import numpy as np

from gan_apps.files import replace_file


def _is_tensor(x):
    """True for a TensorFlow tensor (symbolic or eager); never imports TensorFlow itself."""
    tf = sys.modules.get("tensorflow")
    return tf is not None and tf.is_tensor(x)


def _values(images):
    """Python lists and tuples as numpy arrays; arrays and tensors (eager, graph or Keras
    symbolic) as they are, keeping their dtype."""
    return np.asarray(images) if isinstance(images, (list, tuple)) else images


def to_unit_range(images):
    """[-1, 1] -> [0, 1]: (x + 1) / 2, in the input's float dtype (numpy array or tensor)."""
    return (_values(images) + 1.0) / 2.0


def from_unit_range(images):
    """[0, 1] -> [-1, 1]: 2 u - 1, in the input's float dtype (numpy array or tensor)."""
    return _values(images) * 2.0 - 1.0


def to_uint8(images):
    """Float images in [-1, 1] to uint8 in [0, 255] (rounded half to even, clipped).

    Computed in float32; a numpy input gives a numpy array, a tensor a uint8 tensor (usable
    inside a ``tf.function``, e.g. a serving signature).
    """
    if _is_tensor(images):
        import tensorflow as tf

        scaled = to_unit_range(tf.cast(images, tf.float32)) * 255.0
        return tf.cast(tf.clip_by_value(tf.round(scaled), 0.0, 255.0), tf.uint8)
    scaled = to_unit_range(np.asarray(images, dtype=np.float32)) * 255.0
    return np.clip(np.round(scaled), 0, 255).astype(np.uint8)


def from_uint8(images):
    """Pixel values in [0, 255] (uint8, or floats holding such values) to float32 in [-1, 1]."""
    if _is_tensor(images):
        import tensorflow as tf

        return from_unit_range(tf.cast(images, tf.float32) / 255.0)
    return from_unit_range(np.asarray(images, dtype=np.float32) / 255.0)


def make_grid(images, columns=None, padding=2, pad_value=0):
    """Tile ``[N, H, W, C]`` uint8 images into one ``[rows*H', cols*W', C]`` image."""
    images = np.asarray(images)
    n, h, w, c = images.shape
    columns = columns or math.ceil(math.sqrt(n))
    rows = math.ceil(n / columns)
    grid = np.full(
        (rows * (h + padding) + padding, columns * (w + padding) + padding, c),
        pad_value,
        dtype=images.dtype,
    )
    for i, image in enumerate(images):
        r, col = divmod(i, columns)
        top, left = padding + r * (h + padding), padding + col * (w + padding)
        grid[top : top + h, left : left + w] = image
    return grid


def scatter_image(points, reference=None, size=400, extent=None):
    """Draw 2-D points (white) over optional reference points (red) as an RGB uint8 image."""
    points = np.asarray(points, dtype=np.float32)
    every = points if reference is None else np.concatenate([points, reference])
    if extent is None:
        extent = float(np.max(np.abs(every))) * 1.1 + 1e-6
    canvas = np.zeros((size, size, 3), np.uint8)

    def pixels(p):
        xy = (p / extent * 0.5 + 0.5) * (size - 1)
        xy[:, 1] = size - 1 - xy[:, 1]
        return np.round(xy).astype(int)

    if reference is not None:
        for x, y in pixels(np.asarray(reference, np.float32)):
            cv2.circle(canvas, (int(x), int(y)), 4, (255, 0, 0), 1)
    for x, y in pixels(points):
        if 0 <= x < size and 0 <= y < size:
            canvas[y, x] = 255
    return canvas


def write_png(path, image):
    """Write an RGB or grayscale uint8 image as PNG, atomically (:func:`gan_apps.files.replace_file`)."""
    image = np.asarray(image)
    if image.ndim == 3 and image.shape[-1] == 3:
        image = cv2.cvtColor(image, cv2.COLOR_RGB2BGR)
    elif image.ndim == 3 and image.shape[-1] == 1:
        image = image[..., 0]
    ok, encoded = cv2.imencode(".png", image)
    if not ok:
        raise OSError(f"could not encode {path} as PNG")
    return replace_file(path, encoded.tobytes())
