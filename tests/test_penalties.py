"""Penalties against hand-computed gradients and numpy."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from gan_apps import penalties
from gan_apps.errors import UserInputError

RNG = np.random.default_rng(0)


def test_linear_critic_penalty_is_exact():
    # f(x) = sum(w * x): the gradient is w at every x_hat, so the penalty is (||w|| - 1)^2.
    w = RNG.normal(size=(1, 4, 4, 2)).astype("float32")
    critic = lambda x: tf.reduce_sum(x * w, axis=(1, 2, 3))  # noqa: E731
    real = RNG.normal(size=(8, 4, 4, 2)).astype("float32")
    fake = RNG.normal(size=(8, 4, 4, 2)).astype("float32")
    alpha = RNG.uniform(size=(8, 1, 1, 1)).astype("float32")
    got = float(penalties.gradient_penalty(critic, real, fake, alpha))
    assert got == pytest.approx((np.linalg.norm(w) - 1) ** 2, rel=1e-5)


def test_quadratic_critic_penalty_matches_numpy_per_sample():
    # f(x) = sum(x^2): the gradient at x_hat is 2 x_hat, different for every example.
    real = RNG.normal(size=(16, 2)).astype("float32")
    fake = RNG.normal(size=(16, 2)).astype("float32")
    alpha = RNG.uniform(size=(16, 1)).astype("float32")
    critic = lambda x: tf.reduce_sum(x * x, axis=1)  # noqa: E731
    x_hat = alpha * real + (1 - alpha) * fake
    norms = np.linalg.norm(2 * x_hat, axis=1)
    assert float(penalties.gradient_penalty(critic, real, fake, alpha)) == pytest.approx(
        np.mean((norms - 1) ** 2), rel=1e-5
    )
    one_sided = float(penalties.gradient_penalty(critic, real, fake, alpha, one_sided=True))
    assert one_sided == pytest.approx(np.mean(np.maximum(norms - 1, 0) ** 2), rel=1e-5)


def test_one_sided_is_zero_below_the_target():
    critic = lambda x: tf.reduce_sum(0.1 * x, axis=1)  # noqa: E731  gradient norm 0.1 * sqrt(2)
    x = RNG.normal(size=(4, 2)).astype("float32")
    alpha = np.full((4, 1), 0.5, "float32")
    assert float(penalties.gradient_penalty(critic, x, x, alpha, one_sided=True)) == 0.0


def test_zero_gradient_gives_finite_penalty_and_weight_gradients():
    dense = keras.layers.Dense(1, kernel_initializer="zeros")
    x = RNG.normal(size=(4, 3)).astype("float32")
    alpha = np.full((4, 1), 0.5, "float32")
    dense(x)
    with tf.GradientTape() as tape:
        gp = penalties.gradient_penalty(dense, x, x, alpha)
    kernel_grad = tape.gradient(gp, dense.kernel)  # the bias does not enter dD/dx
    assert float(gp) == pytest.approx(1.0, rel=1e-5)
    assert np.all(np.isfinite(kernel_grad.numpy()))


def test_half_precision_inputs_give_a_float32_penalty():
    critic = lambda x: tf.reduce_sum(x, axis=1)  # noqa: E731
    x = tf.constant(RNG.normal(size=(4, 2)), tf.float16)
    gp = penalties.gradient_penalty(critic, x, x, np.full((4, 1), 0.3, "float32"))
    assert gp.dtype == tf.float32
    assert float(gp) == pytest.approx((np.sqrt(2) - 1) ** 2, rel=1e-4)


def test_interpolation_weights_are_uniform_per_example():
    alpha = penalties.sample_interpolation_weights(1000, 4, keras.random.SeedGenerator(0))
    alpha = np.asarray(alpha)
    assert alpha.shape == (1000, 1, 1, 1)
    assert 0 <= alpha.min() and alpha.max() <= 1
    assert alpha.mean() == pytest.approx(0.5, abs=0.05)


def test_clip_weights():
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(4), keras.layers.Dense(1)])
    for v in model.trainable_variables:
        v.assign(RNG.normal(size=v.shape) * 5)
    penalties.clip_weights(model, 0.01)
    assert max(np.abs(v.numpy()).max() for v in model.trainable_variables) <= 0.01


def test_orthogonal_penalty_both_forms_against_numpy():
    w = RNG.normal(size=(3, 3, 4, 5)).astype("float32")
    m = w.reshape(-1, 5)
    gram = m.T @ m
    plain = np.sum((gram - np.eye(5)) ** 2)
    off = np.sum((gram * (1 - np.eye(5))) ** 2)
    assert float(penalties.orthogonal_penalty(w)) == pytest.approx(plain, rel=1e-5)
    assert float(penalties.orthogonal_penalty(w, off_diagonal=True)) == pytest.approx(off, rel=1e-5)
    q, _ = np.linalg.qr(RNG.normal(size=(8, 8)))
    assert float(penalties.orthogonal_penalty(q[:, :5].astype("float32"))) == pytest.approx(0, abs=1e-5)
    # Orthogonal columns of any norm: only the off-diagonal form is zero.
    scaled = (q[:, :5] * np.arange(1, 6)).astype("float32")
    assert float(penalties.orthogonal_penalty(scaled, off_diagonal=True)) == pytest.approx(0, abs=1e-4)
    assert float(penalties.orthogonal_penalty(scaled)) > 1


def test_orthogonal_regularization_skips_vectors():
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(4), keras.layers.BatchNormalization()])
    kernel = model.layers[0].kernel.numpy()
    gram = kernel.T @ kernel
    expected = 1e-4 * np.sum((gram * (1 - np.eye(4))) ** 2)
    assert float(penalties.orthogonal_regularization(model)) == pytest.approx(expected, rel=1e-5)


@pytest.mark.parametrize("penalty", [
    penalties.GradientPenalty(5.0, target=0.5, one_sided=True),
    penalties.WeightClipping(0.02),
    penalties.OrthogonalRegularization(1e-3, off_diagonal=False, on="both"),
])
def test_config_round_trip(penalty):
    config = keras.saving.serialize_keras_object(penalty)
    restored = penalties.get(config)
    assert type(restored) is type(penalty)
    assert restored.get_config() == penalty.get_config()


def test_get_by_name_and_errors():
    assert isinstance(penalties.get("gradient_penalty"), penalties.GradientPenalty)
    with pytest.raises(UserInputError, match="unknown penalty"):
        penalties.get("dropout")
    with pytest.raises(UserInputError):
        penalties.OrthogonalRegularization(on="critic")
