"""Image degradations for super-resolution: the LR image an SR model learns to invert.

Published SR numbers (SRCNN, VDSR, SRResNet/SRGAN, EDSR, ...) make LR images with
MATLAB's ``imresize(HR, 1/s, 'bicubic')``: Keys' cubic kernel with a = -0.5, widened by
``s`` when shrinking so that it also low-passes (anti-aliasing), weights normalised per
output pixel and symmetric padding at the borders. :func:`imresize` implements that in
numpy; :data:`DEGRADATIONS` names it ``matlab_bicubic`` next to OpenCV's ``INTER_CUBIC``
(``cv2_cubic``, no anti-aliasing when shrinking) and box averaging (``area``).

Every degradation maps uint8 [H, W, C] to uint8 [H // s, W // s, C] (the HR image is
cropped to a multiple of ``s`` first, as the SR literature's ``modcrop`` does).
"""

from __future__ import annotations

import functools
import math

import cv2
import numpy as np

from gan_apps.errors import UserInputError

DEFAULT_DEGRADATION = "matlab_bicubic"
# Keys (1981) cubic convolution with a = -0.5, MATLAB's 'bicubic'.
CUBIC_A = -0.5


def cubic(x, a=CUBIC_A):
    """Keys' cubic convolution kernel (Keys 1981, eq. 15), support [-2, 2]."""
    x = np.abs(np.asarray(x, dtype=np.float64))
    x2, x3 = x * x, x * x * x
    near = (a + 2.0) * x3 - (a + 3.0) * x2 + 1.0
    far = a * x3 - 5.0 * a * x2 + 8.0 * a * x - 4.0 * a
    return np.where(x <= 1.0, near, np.where(x < 2.0, far, 0.0))


def lanczos3(x):
    """Lanczos kernel with three lobes, sinc(x) sinc(x / 3) on |x| < 3 (MATLAB's 'lanczos3')."""
    x = np.asarray(x, dtype=np.float64)
    return np.where(np.abs(x) < 3.0, np.sinc(x) * np.sinc(x / 3.0), 0.0)


KERNELS = {"cubic": (cubic, 4.0), "lanczos3": (lanczos3, 6.0)}


@functools.lru_cache(maxsize=256)
def resize_matrix(in_length, out_length, kernel="cubic", antialias=True):
    """The [out_length, in_length] matrix of MATLAB imresize along one axis.

    MATLAB's ``contributions``: output pixel x (1-based) sits at
    u = x / s + (1 - 1 / s) / 2 in input coordinates, s = out_length / in_length; when
    shrinking with antialiasing the kernel becomes s * k(s t) with its width divided by
    s; weights are normalised to sum to one per output pixel and input indices outside
    the image are mirrored symmetrically (index 0 -> 1, -1 -> 2, n + 1 -> n).
    """
    if kernel not in KERNELS:
        raise UserInputError(f"unknown resize kernel {kernel!r}; choose from {', '.join(KERNELS)}")
    function, width = KERNELS[kernel]
    scale = out_length / in_length
    if scale < 1.0 and antialias:
        weight_fn = lambda t: scale * function(scale * t)  # noqa: E731
        width = width / scale
    else:
        weight_fn = function
    x = np.arange(1, out_length + 1, dtype=np.float64)
    u = x / scale + 0.5 * (1.0 - 1.0 / scale)
    left = np.floor(u - width / 2.0)
    taps = int(math.ceil(width)) + 2
    indices = left[:, None] + np.arange(taps)[None, :]  # 1-based
    weights = weight_fn(u[:, None] - indices)
    weights /= weights.sum(axis=1, keepdims=True)
    mirror = np.concatenate([np.arange(in_length), np.arange(in_length)[::-1]])
    columns = mirror[np.mod(indices.astype(np.int64) - 1, 2 * in_length)]
    matrix = np.zeros((out_length, in_length))
    for row in range(out_length):
        np.add.at(matrix[row], columns[row], weights[row])
    matrix.setflags(write=False)
    return matrix


def _as_uint8(image):
    return np.clip(np.round(image), 0, 255).astype(np.uint8)


def imresize(image, output_shape, kernel="cubic", antialias=True):
    """MATLAB ``imresize(image, output_shape, kernel)`` of a [H, W, C] or [H, W] image.

    One 1-D pass per axis, the axis with the smaller scale factor first (MATLAB's order;
    rows first for equal factors), in float64. uint8 input gives uint8 output, rounded
    and clipped after EACH pass as MATLAB does (its 1-D resize returns the input's class,
    so the second pass reads a uint8 image): published SR numbers are made this way.
    Float input gives float64 output with no rounding.
    """
    array = np.asarray(image)
    out_h, out_w = (int(n) for n in output_shape)
    if out_h < 1 or out_w < 1:
        raise UserInputError(f"cannot resize to {out_h}x{out_w}; the image is too small for this scale")
    integer = array.dtype == np.uint8
    values = array.astype(np.float64)
    rows = resize_matrix(array.shape[0], out_h, kernel, antialias)
    cols = resize_matrix(array.shape[1], out_w, kernel, antialias)

    def along_rows(values):
        values = np.tensordot(rows, values, axes=(1, 0))
        return _as_uint8(values).astype(np.float64) if integer else values

    def along_columns(values):
        values = np.moveaxis(np.tensordot(cols, values, axes=(1, 1)), 0, 1)
        return _as_uint8(values).astype(np.float64) if integer else values

    if out_w / array.shape[1] < out_h / array.shape[0]:
        values = along_rows(along_columns(values))
    else:
        values = along_columns(along_rows(values))
    return values.astype(np.uint8) if integer else values


def check_scale(scale):
    """Return ``scale`` as an int >= 2, or raise a UserInputError naming the fix."""
    if isinstance(scale, bool) or int(scale) != scale or int(scale) < 2:
        raise UserInputError(f"scale must be an integer >= 2 (2, 3 or 4), got {scale!r}")
    return int(scale)


def modcrop(image, scale):
    """Crop the bottom/right of ``image`` so that H and W are multiples of ``scale``."""
    height, width = image.shape[0] - image.shape[0] % scale, image.shape[1] - image.shape[1] % scale
    if height == 0 or width == 0:
        raise UserInputError(
            f"an image of {image.shape[0]}x{image.shape[1]} px is smaller than the scale {scale}; "
            "pass larger images"
        )
    return image[:height, :width]


def _lr_shape(image, scale):
    return image.shape[0] // scale, image.shape[1] // scale


def matlab_bicubic(image, scale):
    """MATLAB ``imresize(HR, 1/scale, 'bicubic')`` with antialiasing: the SR benchmark degradation."""
    image = modcrop(np.asarray(image), scale)
    return imresize(image, _lr_shape(image, scale), "cubic", antialias=True)


def _cv2_resize(image, size, interpolation):
    image = np.asarray(image)
    out = cv2.resize(np.ascontiguousarray(image), (size[1], size[0]), interpolation=interpolation)
    return out.reshape(size[0], size[1], *image.shape[2:])


def cv2_cubic(image, scale):
    """OpenCV ``INTER_CUBIC`` shrinking (a = -0.75, no anti-aliasing: it samples, it does not filter)."""
    image = modcrop(np.asarray(image), scale)
    return _cv2_resize(image, _lr_shape(image, scale), cv2.INTER_CUBIC)


def area(image, scale):
    """Box average over each ``scale`` x ``scale`` block (OpenCV ``INTER_AREA`` at integer scales)."""
    image = modcrop(np.asarray(image), scale)
    return _cv2_resize(image, _lr_shape(image, scale), cv2.INTER_AREA)


DEGRADATIONS = {"matlab_bicubic": matlab_bicubic, "cv2_cubic": cv2_cubic, "area": area}


def get(name):
    """The degradation ``(uint8 HR, scale) -> uint8 LR`` registered under ``name``."""
    if name not in DEGRADATIONS:
        raise UserInputError(
            f"unknown degradation {name!r}; choose from {', '.join(DEGRADATIONS)}"
        )
    return DEGRADATIONS[name]


def upscale(image, scale, kernel="cubic"):
    """MATLAB ``imresize(LR, scale, kernel)``: the bicubic (or Lanczos-3) SR baseline.

    Upscaling uses the plain kernel (no widening); uint8 in, uint8 out.
    """
    image = np.asarray(image)
    return imresize(image, (image.shape[0] * scale, image.shape[1] * scale), kernel)
