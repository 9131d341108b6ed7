"""PSNR, SSIM and the BT.601 luma against scikit-image and hand-computed values."""

import numpy as np
import pytest
from skimage import data
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from gan_apps.errors import UserInputError
from gan_apps.evaluation.image_quality import psnr, rgb_to_y, ssim


def luma(rgb_255):
    """BT.601 Y on the 255 scale, written out per channel."""
    r, g, b = (rgb_255[..., c].astype(np.float64) / 255.0 for c in range(3))
    return 16.0 + 65.481 * r + 128.553 * g + 24.966 * b


def skimage_ssim(a, b, data_range=255.0):
    channel_axis = -1 if a.ndim == 3 else None
    return structural_similarity(
        a.astype(np.float64),
        b.astype(np.float64),
        gaussian_weights=True,
        sigma=1.5,
        use_sample_covariance=False,
        data_range=data_range,
        channel_axis=channel_axis,
    )


@pytest.fixture(scope="module")
def photo_pair():
    """A structured RGB photo crop and a degraded copy (blur-like average plus noise)."""
    clean = data.astronaut()[100:164, 150:230]
    rng = np.random.default_rng(0)
    smooth = (clean.astype(np.float64) + np.roll(clean, 1, axis=0) + np.roll(clean, 1, axis=1)) / 3
    noisy = np.clip(smooth + rng.normal(0, 6, clean.shape), 0, 255).astype(np.uint8)
    return clean, noisy


def test_rgb_to_y_known_colours():
    pixels = np.array([[[0, 0, 0], [255, 255, 255], [255, 0, 0], [0, 255, 0], [0, 0, 255]]], np.uint8)
    expected = [16.0, 235.0, 16 + 65.481, 16 + 128.553, 16 + 24.966]
    assert np.allclose(rgb_to_y(pixels)[0, :, 0], expected)
    # Float images default to MATLAB's [0, 1] scale.
    assert np.allclose(rgb_to_y(pixels / 255.0)[0, :, 0], np.array(expected) / 255.0)
    assert np.allclose(rgb_to_y(pixels.astype(np.float32), data_range=255.0)[0, :, 0], expected)


def test_rgb_to_y_passes_grayscale_through():
    gray = np.random.default_rng(1).integers(0, 256, size=(2, 6, 5, 1))
    assert np.array_equal(rgb_to_y(gray), gray.astype(np.float64))


def test_psnr_rgb_matches_skimage_on_random_images():
    rng = np.random.default_rng(2)
    a = rng.integers(0, 256, size=(20, 24, 3), dtype=np.uint8)
    b = rng.integers(0, 256, size=(20, 24, 3), dtype=np.uint8)
    expected = peak_signal_noise_ratio(a, b, data_range=255)
    assert psnr(a, b, y_channel=False) == pytest.approx(expected, rel=1e-12)


def test_psnr_y_channel_with_border_matches_skimage(photo_pair):
    clean, noisy = photo_pair
    border = 4
    ya = luma(clean)[border:-border, border:-border]
    yb = luma(noisy)[border:-border, border:-border]
    expected = peak_signal_noise_ratio(ya, yb, data_range=255)
    assert psnr(clean, noisy, border=border) == pytest.approx(expected, rel=1e-12)
    # Cropping matters here: the rolled edge rows differ more than the interior.
    assert psnr(clean, noisy, border=0) != pytest.approx(expected, rel=1e-6)


def test_psnr_batch_is_mean_of_images_and_identical_images_are_inf(photo_pair):
    clean, noisy = photo_pair
    other = np.clip(clean.astype(int) + 3, 0, 255).astype(np.uint8)
    batch_a, batch_b = np.stack([clean, clean]), np.stack([noisy, other])
    expected = np.mean([psnr(clean, noisy), psnr(clean, other)])
    assert psnr(batch_a, batch_b) == pytest.approx(expected, rel=1e-12)
    assert psnr(clean, clean) == np.inf


def test_psnr_float_range():
    rng = np.random.default_rng(3)
    a = rng.random((16, 16, 3))
    b = np.clip(a + rng.normal(0, 0.05, a.shape), 0, 1)
    expected = peak_signal_noise_ratio(a, b, data_range=1.0)
    assert psnr(a, b, data_range=1.0, y_channel=False) == pytest.approx(expected, rel=1e-12)


def test_ssim_rgb_matches_skimage_on_random_images():
    rng = np.random.default_rng(4)
    a = rng.integers(0, 256, size=(32, 28, 3), dtype=np.uint8)
    b = np.clip(a.astype(int) + rng.integers(-40, 41, size=a.shape), 0, 255).astype(np.uint8)
    assert ssim(a, b, y_channel=False) == pytest.approx(skimage_ssim(a, b), rel=1e-9)


def test_ssim_y_channel_with_border_matches_skimage(photo_pair):
    clean, noisy = photo_pair
    border = 3
    ya = luma(clean)[border:-border, border:-border]
    yb = luma(noisy)[border:-border, border:-border]
    expected = skimage_ssim(ya, yb)
    assert 0.3 < expected < 0.99
    assert ssim(clean, noisy, border=border) == pytest.approx(expected, rel=1e-9)


def test_ssim_grayscale_photo_and_batch():
    camera = data.camera()[200:260, 220:290]
    rng = np.random.default_rng(5)
    noisy = np.clip(camera + rng.normal(0, 10, camera.shape), 0, 255)
    expected = skimage_ssim(camera, noisy)
    assert ssim(camera, noisy) == pytest.approx(expected, rel=1e-9)
    batch_a = np.stack([camera, camera])[..., None]
    batch_b = np.stack([noisy, camera])[..., None]
    assert ssim(batch_a, batch_b) == pytest.approx((expected + 1.0) / 2, rel=1e-9)


def test_ssim_float_range():
    rng = np.random.default_rng(6)
    a = rng.random((20, 20))
    b = np.clip(a + rng.normal(0, 0.1, a.shape), 0, 1)
    assert ssim(a, b, data_range=1.0) == pytest.approx(skimage_ssim(a, b, data_range=1.0), rel=1e-9)


def test_errors_name_the_fix():
    a = np.zeros((12, 12, 3), np.uint8)
    with pytest.raises(UserInputError, match="differ in shape"):
        psnr(a, np.zeros((12, 10, 3), np.uint8))
    with pytest.raises(UserInputError, match="smaller border"):
        ssim(a, a, border=1)
    with pytest.raises(UserInputError, match="smaller border"):
        psnr(a, a, border=6)
    with pytest.raises(UserInputError, match="y_channel=False"):
        psnr(np.zeros((8, 8, 4)), np.zeros((8, 8, 4)))
