"""keras.ops MMD against the numpy estimator of gan_apps.evaluation.metrics and closed forms."""

import numpy as np
import pytest
import tensorflow as tf

from gan_apps import kernels
from gan_apps.evaluation.metrics import mmd2_unbiased

BANDWIDTHS = (0.5, 1.0, 3.0)


def numpy_rbf_mixture(a, b, bandwidths=BANDWIDTHS):
    a, b = np.asarray(a, np.float64).reshape(len(a), -1), np.asarray(b, np.float64).reshape(len(b), -1)
    d2 = ((a[:, None, :] - b[None, :, :]) ** 2).sum(-1)
    return sum(np.exp(-d2 / (2 * s * s)) for s in bandwidths)


def samples(seed=0):
    rng = np.random.default_rng(seed)
    return (rng.normal(size=(12, 3)).astype(np.float32),
            (rng.normal(size=(9, 3)) + 0.7).astype(np.float32))


def test_kernel_matches_numpy_and_is_one_per_bandwidth_on_the_diagonal():
    x, y = samples()
    np.testing.assert_allclose(kernels.rbf_mixture_kernel(x, y, BANDWIDTHS),
                               numpy_rbf_mixture(x, y), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(np.diag(kernels.rbf_mixture_kernel(x, x, BANDWIDTHS)), 3.0, rtol=1e-5)


def test_unbiased_mmd_matches_the_numpy_estimator():
    x, y = samples(1)
    expected = mmd2_unbiased(x, y, numpy_rbf_mixture)
    assert float(kernels.mmd2(x, y, BANDWIDTHS, biased=False)) == pytest.approx(expected, rel=1e-4, abs=1e-6)


def test_biased_mmd_is_the_distance_of_mean_embeddings():
    x, y = samples(2)
    k_xx, k_yy, k_xy = numpy_rbf_mixture(x, x), numpy_rbf_mixture(y, y), numpy_rbf_mixture(x, y)
    expected = k_xx.mean() + k_yy.mean() - 2 * k_xy.mean()
    assert float(kernels.mmd2(x, y, BANDWIDTHS)) == pytest.approx(expected, rel=1e-4)
    assert float(kernels.mmd2(x, x, BANDWIDTHS)) == pytest.approx(0.0, abs=1e-5)


def test_images_are_flattened_and_gradient_is_finite():
    rng = np.random.default_rng(3)
    x = tf.constant(rng.uniform(-1, 1, size=(4, 5, 5, 1)), tf.float32)
    y = tf.constant(rng.uniform(-1, 1, size=(6, 5, 5, 1)), tf.float32)
    expected = mmd2_unbiased(x.numpy(), y.numpy(), lambda a, b: numpy_rbf_mixture(a, b, (2.0, 5.0)))
    assert float(kernels.mmd2(x, y, (2.0, 5.0), biased=False)) == pytest.approx(expected, rel=1e-4, abs=1e-6)
    with tf.GradientTape() as tape:
        tape.watch(y)
        value = kernels.mmd2(x, y, (2.0, 5.0))
    assert np.all(np.isfinite(tape.gradient(value, y).numpy()))


def test_bad_bandwidths_are_refused():
    x, y = samples()
    with pytest.raises(ValueError, match="positive"):
        kernels.rbf_mixture_kernel(x, y, [1.0, 0.0])


def test_mmd_of_tiny_features_is_resolved_in_float32():
    """Features ~1e-4 apart: exp(-d) rounds to 1 in float32, the expm1 form does not."""
    x, y = samples(4)
    x, y = x * 1e-4, y * 1e-4
    expected = mmd2_unbiased(x.astype(np.float64), y.astype(np.float64), numpy_rbf_mixture)
    value = float(kernels.mmd2(x, y, BANDWIDTHS, biased=False))
    assert expected > 0
    assert value == pytest.approx(expected, rel=2e-2)
