"""Degradations: MATLAB imresize bicubic (with antialiasing) against weights derived here."""

import numpy as np
import pytest

from gan_apps import degradations
from gan_apps.errors import UserInputError


def keys_cubic(t):
    """Keys' cubic with a = -0.5, written piece by piece (Keys 1981, eq. 15)."""
    t = abs(t)
    if t <= 1:
        return 1.5 * t**3 - 2.5 * t**2 + 1
    if t < 2:
        return -0.5 * t**3 + 2.5 * t**2 - 4 * t + 2
    return 0.0


def mirror(j, n):
    """MATLAB's symmetric padding of a 0-based index: -1 -> 0, -2 -> 1, n -> n - 1."""
    while j < 0 or j >= n:
        j = -j - 1 if j < 0 else 2 * n - 1 - j
    return j


def reference_resize_1d(x, out_length, antialias=True):
    """Direct formula: output i sits at c = (i + 0.5) / s - 0.5; kernel widened by 1/s when shrinking."""
    n = len(x)
    s = out_length / n
    stretch = 1.0 / s if (s < 1 and antialias) else 1.0
    out = []
    for i in range(out_length):
        c = (i + 0.5) / s - 0.5
        taps = range(int(np.floor(c - 2 * stretch)) - 1, int(np.ceil(c + 2 * stretch)) + 2)
        weights = np.array([keys_cubic((c - j) / stretch) for j in taps])
        values = np.array([x[mirror(j, n)] for j in taps])
        out.append(np.sum(weights * values) / np.sum(weights))
    return np.array(out)


@pytest.mark.parametrize("scale", [2, 3, 4])
@pytest.mark.parametrize("length", [12, 24, 25])
def test_matlab_bicubic_matches_direct_formula_1d(scale, length):
    x = np.random.default_rng(length * scale).uniform(0, 255, size=length)
    got = degradations.imresize(x[:, None], (length // scale, 1))[:, 0]
    np.testing.assert_allclose(got, reference_resize_1d(x, length // scale), atol=1e-9)


def test_known_matlab_x2_weights():
    # MATLAB imresize(.., 0.5, 'bicubic') weights of an interior pixel: 0.5 * cubic(d / 2)
    # at d = +-0.5, +-1.5, +-2.5, +-3.5.
    expected = [-0.01171875, -0.03515625, 0.11328125, 0.43359375,
                0.43359375, 0.11328125, -0.03515625, -0.01171875]
    matrix = degradations.resize_matrix(32, 16)
    np.testing.assert_allclose(matrix[8, 13:21], expected, atol=1e-12)
    assert np.count_nonzero(matrix[8]) == 8
    np.testing.assert_allclose(matrix.sum(axis=1), 1.0, atol=1e-12)


def test_known_matlab_x2_upscaling_weights():
    # imresize(.., 2, 'bicubic'): output pixels 7 and 8 sit 0.25 either side of input pixel 3.5.
    expected = [-0.0234375, 0.2265625, 0.8671875, -0.0703125]
    matrix = degradations.resize_matrix(8, 16)
    np.testing.assert_allclose(matrix[8, 2:6], expected, atol=1e-12)
    np.testing.assert_allclose(matrix[7, 2:6], expected[::-1], atol=1e-12)


def as_uint8(values):
    return np.clip(np.round(values), 0, 255)


def test_matlab_bicubic_image_is_separable_and_rounds_uint8_after_each_pass():
    rng = np.random.default_rng(0)
    hr = rng.integers(0, 256, size=(24, 36, 3), dtype=np.uint8)
    lr = degradations.matlab_bicubic(hr, 3)
    assert lr.shape == (8, 12, 3) and lr.dtype == np.uint8
    rows = np.stack([reference_resize_1d(col, 8) for col in hr[..., 1].T.astype(float)], axis=1)
    both = np.stack([reference_resize_1d(row, 12) for row in as_uint8(rows)])
    np.testing.assert_array_equal(lr[..., 1], as_uint8(both).astype(np.uint8))


def test_uint8_rounding_between_passes_hand_computed():
    # imresize([100 0; 0 100], 2, 'bicubic') on uint8: 2 -> 4 pixels along each axis with
    # Keys' weights folded at the mirrored borders (derived by hand):
    #   out1 = 1.09375 a - 0.09375 b, out2 = 0.796875 a + 0.203125 b (and mirrored).
    weights = np.array([[1.09375, -0.09375], [0.796875, 0.203125],
                        [0.203125, 0.796875], [-0.09375, 1.09375]])
    image = np.array([[100, 0], [0, 100]], np.uint8)
    rows = as_uint8(weights @ image)  # [[109, 0], [80, 20], [20, 80], [0, 109]]
    np.testing.assert_array_equal(rows[:, 0], [109, 80, 20, 0])
    expected = as_uint8(rows @ weights.T)
    assert expected[0, 0] == 119  # 121 if rounded only once (109.375 * 1.09375 + ...)
    got = degradations.upscale(image[..., None], 2)[..., 0]
    np.testing.assert_array_equal(got, expected)
    assert as_uint8(weights @ image @ weights.T)[0, 0] == 121


def test_upscale_matches_direct_formula():
    x = np.random.default_rng(3).uniform(0, 255, size=10)
    got = degradations.imresize(x[:, None], (30, 1))[:, 0]
    np.testing.assert_allclose(got, reference_resize_1d(x, 30), atol=1e-9)
    image = np.full((5, 7, 1), 77, np.uint8)
    assert np.all(degradations.upscale(image, 4) == 77)


def test_cv2_cubic_samples_without_antialiasing_at_x3():
    hr = np.random.default_rng(1).integers(0, 256, size=(30, 30, 3), dtype=np.uint8)
    np.testing.assert_array_equal(degradations.cv2_cubic(hr, 3), hr[1::3, 1::3])
    assert not np.array_equal(degradations.matlab_bicubic(hr, 3), hr[1::3, 1::3])


def test_area_is_block_mean_and_modcrop():
    hr = np.random.default_rng(2).integers(0, 256, size=(13, 10, 1), dtype=np.uint8)
    lr = degradations.area(hr, 2)
    expected = hr[:12].astype(float).reshape(6, 2, 5, 2).mean(axis=(1, 3))
    assert lr.shape == (6, 5, 1)
    assert np.max(np.abs(lr[..., 0].astype(float) - expected)) <= 0.5


def test_registry_and_bad_input():
    assert set(degradations.DEGRADATIONS) == {"matlab_bicubic", "cv2_cubic", "area"}
    assert degradations.get("area") is degradations.area
    with pytest.raises(UserInputError, match="unknown degradation"):
        degradations.get("nearest")
    with pytest.raises(UserInputError, match="smaller than the scale"):
        degradations.matlab_bicubic(np.zeros((2, 8, 3), np.uint8), 3)
    with pytest.raises(UserInputError, match="integer >= 2"):
        degradations.check_scale(1)
