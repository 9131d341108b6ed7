"""A user's own folder of images, decoded once with OpenCV into one float32 array."""

from __future__ import annotations

import os
import warnings

import cv2
import numpy as np

from gan_apps.errors import UserInputError
from gan_apps.images import from_unit_range

FOLDER_SPLITS = ("train", "all")
DEFAULT_CHANNELS = 3
# ANYCOLOR|ANYDEPTH keeps 16-bit depth and gray vs colour like IMREAD_UNCHANGED, but
# still applies the EXIF orientation of camera photos; it already drops alpha.
_READ_FLAGS = cv2.IMREAD_ANYCOLOR | cv2.IMREAD_ANYDEPTH


def check_folder(path):
    """Raise UserInputError unless ``path`` is an existing folder."""
    if not path:
        raise UserInputError("folder: needs a path; pass folder:PATH with a folder of images")
    if not os.path.exists(path):
        raise UserInputError(
            f"image folder {path!r} does not exist; pass folder:PATH with an existing folder"
        )
    if not os.path.isdir(path):
        raise UserInputError(
            f"{path!r} is a file, not a folder; pass folder:PATH with the folder that holds it"
        )


def list_files(path):
    """Every regular file under ``path``, recursively, in a sorted (deterministic) order.

    Named pipes, sockets and device files are left out (reading a pipe nobody writes to
    would block forever), and so are links to them; links to regular files count. Every
    loader of image folders (folder:, unpaired domains, super-resolution inputs) lists
    its files here.
    """
    files = []
    for root, dirs, names in os.walk(path):
        dirs.sort()
        files.extend(file for file in (os.path.join(root, name) for name in sorted(names))
                     if os.path.isfile(file))
    return files


def decode_image(path):
    """Read one image file as float32 [H, W, 1 or 3] RGB/gray in [0, 1]; None if undecodable.

    A float image (TIFF, EXR, ...) holding NaN or Inf raises a UserInputError naming the
    file: clipping would hide it (Inf becomes 1) or pass it on (NaN), and it would reach
    training as a loss divergence. Every image loader decodes here.
    """
    try:
        # imdecode on the bytes also works for non-ASCII paths, where imread fails on Windows.
        raw = cv2.imdecode(np.fromfile(path, dtype=np.uint8), _READ_FLAGS)
    except (OSError, cv2.error):
        return None
    if raw is None or raw.size == 0:
        return None
    if np.issubdtype(raw.dtype, np.integer):
        image = raw.astype(np.float32) / np.iinfo(raw.dtype).max
    else:
        image = raw.astype(np.float32)
        if not np.isfinite(image).all():
            raise UserInputError(
                f"{path} holds NaN or infinite pixel values; fix or remove that image"
            )
    image = np.clip(image, 0.0, 1.0)
    if image.ndim == 2:
        image = image[..., None]
    if image.shape[-1] in (2, 4):
        image = image[..., : image.shape[-1] - 1]
    if image.shape[-1] == 3:
        image = image[..., ::-1]
    return np.ascontiguousarray(image)


def square_resize(image, resolution, channels):
    """Convert ``image`` [H, W, 1 or 3] in [0, 1] to ``channels``, crop its central square and
    resize it to ``resolution`` (area when shrinking, cubic when enlarging).

    Returns:
        float32 [resolution, resolution, channels] in [0, 1].
    """
    if channels == 1 and image.shape[-1] == 3:
        image = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)[..., None]
    elif channels == 3 and image.shape[-1] == 1:
        image = np.repeat(image, 3, axis=-1)
    height, width = image.shape[:2]
    side = min(height, width)
    top, left = (height - side) // 2, (width - side) // 2
    image = image[top : top + side, left : left + side]
    if side != resolution:
        # Area averaging avoids aliasing when shrinking; cubic can overshoot, hence the clip.
        interpolation = cv2.INTER_AREA if side > resolution else cv2.INTER_CUBIC
        image = cv2.resize(
            np.ascontiguousarray(image), (resolution, resolution), interpolation=interpolation
        )
        image = np.clip(image, 0.0, 1.0).reshape(resolution, resolution, channels)
    return image


def load_folder(path, *, resolution=32, channels=DEFAULT_CHANNELS, split="train",
                num_examples=None):
    """Decode the images under ``path`` (up to ``num_examples``) into [-1, 1].

    Undecodable files among good ones are skipped with one warning.

    Returns:
        float32 [N, resolution, resolution, channels] in [-1, 1].
    """
    check_folder(path)
    if split not in FOLDER_SPLITS:
        raise UserInputError(
            f"an image folder has no {split!r} split; use split 'train' (or 'all') and keep "
            "held-out images in a separate folder:PATH"
        )
    files = list_files(path)
    if not files:
        raise UserInputError(
            f"image folder {path!r} contains no files; put images (PNG, JPEG, ...) in it"
        )
    images, skipped, tried = [], [], 0
    for file in files:
        if num_examples is not None and len(images) == num_examples:
            break
        tried += 1
        image = decode_image(file)
        if image is None:
            skipped.append(file)
        else:
            images.append(square_resize(image, resolution, channels))
    if not images:
        raise UserInputError(
            f"none of the {len(files)} files under {path!r} could be decoded by OpenCV; "
            "pass a folder of images (PNG, JPEG, BMP, TIFF, WebP)"
        )
    if skipped:
        warnings.warn(
            f"skipped {len(skipped)} of {tried} files under {path!r} that OpenCV could not "
            f"decode (first: {os.path.relpath(skipped[0], path)})",
            stacklevel=3,
        )
    return from_unit_range(np.stack(images).astype(np.float32))
