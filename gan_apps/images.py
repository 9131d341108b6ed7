"""Image edges of the toolkit: float [-1, 1] <-> uint8, grids, scatter plots, PNG files."""

from __future__ import annotations

import math
import os
import tempfile

import cv2
import numpy as np


def to_uint8(images):
    """Float images in [-1, 1] to uint8 in [0, 255] (rounded, clipped)."""
    images = np.asarray(images, dtype=np.float32)
    return np.clip(np.round((images + 1.0) * 127.5), 0, 255).astype(np.uint8)


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
    """Write an RGB or grayscale uint8 image atomically (temp file, then rename)."""
    image = np.asarray(image)
    if image.ndim == 3 and image.shape[-1] == 3:
        image = cv2.cvtColor(image, cv2.COLOR_RGB2BGR)
    elif image.ndim == 3 and image.shape[-1] == 1:
        image = image[..., 0]
    ok, encoded = cv2.imencode(".png", image)
    if not ok:
        raise OSError(f"could not encode {path} as PNG")
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=directory, suffix=".png.tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(encoded.tobytes())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise
    return path
