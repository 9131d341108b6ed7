"""Full-reference image quality (PSNR, SSIM on the Y channel) as super-resolution papers report it.

Images are [H, W], [H, W, C] or batches [N, H, W, C] with values in [0, data_range]
(uint8 images with the default data_range=255); toolkit images in [-1, 1] map there
with (x + 1) * 127.5. A batch score is the mean of the per-image scores.
"""

from __future__ import annotations

import numpy as np

from gan_apps.errors import UserInputError

# ITU-R BT.601 luma weights of MATLAB's rgb2ycbcr, for R, G, B in [0, 1] and Y in [16, 235].
_Y_OFFSET = 16.0
_Y_WEIGHTS = np.array([65.481, 128.553, 24.966])

# Wang et al. 2004, Sec. III-C: 11x11 circular-symmetric Gaussian window, sigma 1.5.
_SSIM_SIGMA = 1.5
_SSIM_RADIUS = 5
_SSIM_K1, _SSIM_K2 = 0.01, 0.03


def rgb_to_y(images, *, data_range=None):
    """Luma Y of RGB images (ITU-R BT.601, as MATLAB's rgb2ycbcr and the SR literature use it).

    Y = 16 + 65.481 R + 128.553 G + 24.966 B for R, G, B in [0, 1], i.e. Y in [16, 235]
    on a 255 scale; the result is returned on the input's scale (Y * data_range / 255).
    Grayscale images ([H, W] or a last axis of size 1) pass through unchanged.

    Args:
        images: [..., H, W, 3] RGB or grayscale images.
        data_range: value of full intensity; by default 255 for integer images and
            1.0 for float images (MATLAB's convention).

    Returns:
        float64 array with a channel axis of size 1 (or the input's shape for [H, W]).
    """
    array = np.asarray(images)
    if data_range is None:
        data_range = 255.0 if np.issubdtype(array.dtype, np.integer) else 1.0
    array = array.astype(np.float64)
    if array.ndim == 2 or array.shape[-1] == 1:
        return array
    if array.ndim < 3 or array.shape[-1] != 3:
        raise UserInputError(
            f"rgb_to_y expects RGB images with 3 channels last or grayscale, got shape {array.shape}"
        )
    luma = _Y_OFFSET + (array / data_range) @ _Y_WEIGHTS
    return (luma * (data_range / 255.0))[..., None]


def _prepare(a, b, data_range, border, y_channel):
    """Both images as float64 [N, H, W, C], converted to Y if asked and cropped by `border`."""
    a, b = np.asarray(a), np.asarray(b)
    if a.shape != b.shape:
        raise UserInputError(
            f"images to compare differ in shape: {a.shape} vs {b.shape}; resize or crop them to match"
        )
    if a.ndim == 2:
        a, b = a[None, :, :, None], b[None, :, :, None]
    elif a.ndim == 3:
        a, b = a[None], b[None]
    elif a.ndim != 4:
        raise UserInputError(f"expected an image [H, W, C] or a batch [N, H, W, C], got shape {a.shape}")
    if y_channel and a.shape[-1] not in (1, 3):
        raise UserInputError(
            f"the Y channel needs RGB or grayscale images, got {a.shape[-1]} channels; pass y_channel=False"
        )
    if border < 0:
        raise UserInputError(f"border must be >= 0, got {border}")
    if y_channel:
        a, b = rgb_to_y(a, data_range=data_range), rgb_to_y(b, data_range=data_range)
    else:
        a, b = a.astype(np.float64), b.astype(np.float64)
    if border:
        a, b = a[:, border:-border, border:-border], b[:, border:-border, border:-border]
    if a.shape[1] == 0 or a.shape[2] == 0:
        raise UserInputError(f"border={border} crops away the whole image; pass a smaller border")
    return a, b


def psnr(a, b, *, data_range=255.0, border=0, y_channel=True):
    """Peak signal-to-noise ratio 10 log10(data_range^2 / MSE) in dB.

    The super-resolution protocol (e.g. Dong et al. 2014 SRCNN; Ledig et al. 2017 SRGAN):
    on the BT.601 Y channel of RGB images, with `border` pixels (usually the scale
    factor) cropped from each side. Identical images give inf.

    Returns:
        float, the mean over the batch of the per-image PSNR.
    """
    a, b = _prepare(a, b, data_range, border, y_channel)
    mse = np.mean((a - b) ** 2, axis=(1, 2, 3))
    with np.errstate(divide="ignore"):
        values = 10.0 * np.log10(data_range**2 / mse)
    return float(np.mean(values))


def _gaussian_window():
    offsets = np.arange(-_SSIM_RADIUS, _SSIM_RADIUS + 1)
    window = np.exp(-(offsets**2) / (2 * _SSIM_SIGMA**2))
    return window / window.sum()


def _valid_filter(images, window):
    """Separable 'valid' correlation of [N, H, W, C] images over H and W (MATLAB filter2 'valid')."""
    size = len(window)
    for axis in (1, 2):
        length = images.shape[axis] - size + 1
        images = sum(
            w * np.take(images, np.arange(t, t + length), axis=axis) for t, w in enumerate(window)
        )
    return images


def ssim(a, b, *, data_range=255.0, border=0, y_channel=True):
    """Structural similarity (Wang et al. 2004, "Image Quality Assessment: From Error
    Visibility to Structural Similarity", eq. 13), averaged over the SSIM map.

    Local statistics use the 11x11 Gaussian window with sigma 1.5 (Sec. III-C) and
    population (not sample) variances; C1 = (0.01 L)^2, C2 = (0.03 L)^2 with
    L = data_range. Only windows lying fully inside the image count, as in the
    authors' MATLAB code. Multi-channel images average the per-channel maps.
    Y channel and border crop as in `psnr`.

    Returns:
        float, the mean over the batch of the per-image SSIM.
    """
    a, b = _prepare(a, b, data_range, border, y_channel)
    window = _gaussian_window()
    if min(a.shape[1], a.shape[2]) < len(window):
        raise UserInputError(
            f"SSIM needs images of at least {len(window)}x{len(window)} pixels after the border crop, "
            f"got {a.shape[1]}x{a.shape[2]}; pass a smaller border or larger images"
        )
    c1 = (_SSIM_K1 * data_range) ** 2
    c2 = (_SSIM_K2 * data_range) ** 2
    mu_a, mu_b = _valid_filter(a, window), _valid_filter(b, window)
    var_a = _valid_filter(a * a, window) - mu_a**2
    var_b = _valid_filter(b * b, window) - mu_b**2
    cov = _valid_filter(a * b, window) - mu_a * mu_b
    ssim_map = ((2 * mu_a * mu_b + c1) * (2 * cov + c2)) / ((mu_a**2 + mu_b**2 + c1) * (var_a + var_b + c2))
    return float(np.mean(ssim_map.mean(axis=(1, 2, 3))))
