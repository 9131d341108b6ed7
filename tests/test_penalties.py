"""Penalties against hand-computed gradients and numpy closed forms."""

import types

import keras
import numpy as np
import pytest
import tensorflow as tf

from gan_apps import penalties
from gan_apps.errors import UserInputError

RNG = np.random.default_rng(0)


def linear_critic(w):
    """f(x) = sum(w * x) per sample: its input gradient is w for every sample."""
    w = tf.constant(w, tf.float32)
    return lambda x: tf.reduce_sum(w * x, axis=list(range(1, len(x.shape))))


def quadratic_critic(x):
    """f(x) = sum(x^2) per sample: its input gradient is 2 x."""
    return tf.reduce_sum(x * x, axis=list(range(1, len(x.shape))))


def dense_critic(kernel, extra_inputs=0):
    """A Keras critic Dense(1) on [B, d] (and [B, extra] labels) whose kernel on x is ``kernel``."""
    x_in = keras.Input((len(kernel),))
    layer = keras.layers.Dense(1)
    if extra_inputs:
        c_in = keras.Input((extra_inputs,))
        model = keras.Model([x_in, c_in], layer(keras.layers.Concatenate()([x_in, c_in])))
        kernel = np.concatenate([kernel, RNG.normal(size=extra_inputs)])
    else:
        model = keras.Model(x_in, layer(x_in))
    layer.kernel.assign(np.asarray(kernel, np.float32)[:, None])
    return model


@pytest.mark.parametrize("shape", [(4, 3, 3, 2), (5, 2)])
def test_linear_critic_penalty_is_norm_of_w_minus_one_squared(shape):
    w = RNG.normal(size=shape[1:])
    real, fake = RNG.normal(size=shape), RNG.normal(size=shape)
    alpha = RNG.uniform(size=(shape[0],) + (1,) * (len(shape) - 1))
    got = penalties.gradient_penalty(linear_critic(w), real, fake, alpha)
    assert float(got) == pytest.approx((np.linalg.norm(w) - 1.0) ** 2, rel=1e-5)


@pytest.mark.parametrize("shape", [(4, 3, 3, 2), (6, 2)])
def test_quadratic_critic_against_numpy_and_per_sample_alpha(shape):
    real, fake = RNG.normal(size=shape), RNG.normal(size=shape)
    alpha = RNG.uniform(size=(shape[0],) + (1,) * (len(shape) - 1))
    seen = []

    def critic(x):
        seen.append(x)
        return quadratic_critic(x)

    got = penalties.gradient_penalty(critic, real, fake, alpha)
    x_hat = alpha * real + (1.0 - alpha) * fake
    np.testing.assert_allclose(seen[0].numpy(), x_hat, rtol=1e-5, atol=1e-6)
    norms = np.sqrt(np.sum((2.0 * x_hat) ** 2, axis=tuple(range(1, len(shape)))))
    assert float(got) == pytest.approx(np.mean((norms - 1.0) ** 2), rel=1e-5)
    one_sided = penalties.gradient_penalty(critic, real, fake, alpha, one_sided=True, target=2.0)
    assert float(one_sided) == pytest.approx(np.mean(np.maximum(norms - 2.0, 0.0) ** 2), rel=1e-5)


def test_one_sided_is_zero_below_target():
    w = np.full((2, 2, 1), 0.2)  # ||w|| = 0.4
    real, fake = RNG.normal(size=(3, 2, 2, 1)), RNG.normal(size=(3, 2, 2, 1))
    alpha = RNG.uniform(size=(3, 1, 1, 1))
    assert float(penalties.gradient_penalty(linear_critic(w), real, fake, alpha, one_sided=True)) == 0.0
    two_sided = penalties.gradient_penalty(linear_critic(w), real, fake, alpha)
    assert float(two_sided) == pytest.approx(0.36, rel=1e-5)


def test_keras_critic_penalty_and_its_weight_gradient():
    kernel = np.array([0.3, -1.2, 0.5])
    critic = dense_critic(kernel)
    real, fake = RNG.normal(size=(4, 3)), RNG.normal(size=(4, 3))
    alpha = RNG.uniform(size=(4, 1))
    with tf.GradientTape() as tape:
        value = penalties.gradient_penalty(critic, real, fake, alpha)
    grad = tape.gradient(value, critic.layers[-1].kernel).numpy()[:, 0]
    norm = np.linalg.norm(kernel)
    assert float(value) == pytest.approx((norm - 1.0) ** 2, rel=1e-5)
    # d/dk (||k|| - 1)^2 = 2 (||k|| - 1) k / ||k||: the penalty trains the critic's weights.
    np.testing.assert_allclose(grad, 2.0 * (norm - 1.0) * kernel / norm, rtol=1e-4)


@pytest.mark.parametrize("epsilon", [1e-12, 0.0])
def test_constant_critic_gives_finite_penalty_and_gradient_only_with_epsilon(epsilon):
    critic = dense_critic(np.zeros(3))  # input gradient exactly 0
    real, fake = RNG.normal(size=(4, 3)), RNG.normal(size=(4, 3))
    alpha = RNG.uniform(size=(4, 1))
    with tf.GradientTape() as tape:
        value = penalties.gradient_penalty(critic, real, fake, alpha, epsilon=epsilon)
    grads = tape.gradient(value, critic.trainable_variables)
    assert float(value) == pytest.approx(1.0, abs=1e-5)
    finite = all(np.all(np.isfinite(g.numpy())) for g in grads if g is not None)
    # Without epsilon sqrt'(0) = inf times 0 is NaN: this is what epsilon prevents.
    assert finite == (epsilon > 0)


def test_float16_inputs_give_float32_penalty():
    w = RNG.normal(size=(2, 2, 3))
    real = RNG.normal(size=(3, 2, 2, 3)).astype(np.float16)
    fake = RNG.normal(size=(3, 2, 2, 3)).astype(np.float16)
    alpha = RNG.uniform(size=(3, 1, 1, 1)).astype(np.float16)
    value = penalties.gradient_penalty(linear_critic(w), real, fake, alpha)
    assert value.dtype == tf.float32
    assert float(value) == pytest.approx((np.linalg.norm(w) - 1.0) ** 2, rel=1e-5)


def test_mixed_precision_critic_gives_float32_penalty():
    x_in = keras.Input((3,))
    critic = keras.Model(x_in, keras.layers.Dense(1, dtype="mixed_float16")(x_in))
    # A kernel float16 holds exactly, with norm 3 (a random one's norm can lie near 1, where
    # (norm - 1)^2 is a tiny difference that float16 gradients do not resolve to 1 %).
    critic.layers[-1].kernel.assign([[1.0], [2.0], [-2.0]])
    real, fake = RNG.normal(size=(4, 3)), RNG.normal(size=(4, 3))
    value = penalties.gradient_penalty(critic, real, fake, RNG.uniform(size=(4, 1)))
    assert value.dtype == tf.float32
    assert float(value) == pytest.approx((3.0 - 1.0) ** 2, rel=1e-3)


def test_interpolation_weights_one_per_sample_in_unit_interval():
    seed = keras.random.SeedGenerator(3)
    alpha = penalties.sample_interpolation_weights(256, 4, seed).numpy()
    assert alpha.shape == (256, 1, 1, 1)
    assert alpha.min() >= 0.0 and alpha.max() < 1.0
    assert 0.4 < alpha.mean() < 0.6 and len(np.unique(alpha)) == 256
    again = penalties.sample_interpolation_weights(256, 2, seed).numpy()
    assert again.shape == (256, 1) and not np.allclose(again[:, 0], alpha[:, 0, 0, 0])


def test_clip_weights_clips_trainable_variables_only():
    x_in = keras.Input((4,))
    hidden = keras.layers.Dense(5, bias_initializer="ones")(x_in)
    model = keras.Model(x_in, keras.layers.BatchNormalization()(hidden))
    for v in model.trainable_variables:
        v.assign(RNG.normal(scale=3.0, size=v.shape))
    before = [v.numpy() for v in model.trainable_variables]
    penalties.clip_weights(model, 0.05)
    for old, v in zip(before, model.trainable_variables):
        np.testing.assert_array_equal(v.numpy(), np.clip(old, -0.05, 0.05).astype(np.float32))
    moving_variance = [v for v in model.non_trainable_variables if "variance" in v.path][0]
    np.testing.assert_array_equal(moving_variance.numpy(), 1.0)


def np_orthogonal(kernel, off_diagonal):
    w = kernel.reshape(-1, kernel.shape[-1])
    gram = w.T @ w
    residual = gram * (1 - np.eye(len(gram))) if off_diagonal else gram - np.eye(len(gram))
    return np.sum(residual**2)


@pytest.mark.parametrize("shape", [(5, 3), (3, 3, 2, 4)])
@pytest.mark.parametrize("off_diagonal", [False, True])
def test_orthogonal_penalty_against_numpy(shape, off_diagonal):
    kernel = RNG.normal(size=shape)
    got = penalties.orthogonal_penalty(kernel.astype(np.float32), off_diagonal=off_diagonal)
    assert float(got) == pytest.approx(np_orthogonal(kernel, off_diagonal), rel=1e-5)


def test_orthogonal_penalty_zero_cases():
    q, _ = np.linalg.qr(RNG.normal(size=(6, 4)))  # orthonormal columns
    assert float(penalties.orthogonal_penalty(q.astype(np.float32))) == pytest.approx(0.0, abs=1e-5)
    scales = np.array([0.5, 2.0, 3.0, 1.0])
    scaled = (q * scales).astype(np.float32)  # orthogonal columns of other norms
    assert float(penalties.orthogonal_penalty(scaled, off_diagonal=True)) == pytest.approx(0.0, abs=1e-4)
    # The plain form penalizes the column norms: sum (s^2 - 1)^2.
    assert float(penalties.orthogonal_penalty(scaled)) == pytest.approx(
        np.sum((scales**2 - 1) ** 2), rel=1e-5)


def test_orthogonal_regularization_sums_kernels_only():
    x_in = keras.Input((4, 4, 2))
    h = keras.layers.Conv2D(3, 3)(x_in)
    h = keras.layers.BatchNormalization()(h)
    out = keras.layers.Dense(2, bias_initializer="ones")(keras.layers.Flatten()(h))
    model = keras.Model(x_in, out)
    kernels = [v.numpy() for v in model.trainable_variables if len(v.shape) >= 2]
    assert len(kernels) == 2
    # weight / 2: BigGAN-PyTorch's update strength * 2 (W W^T o (1 - I)) W is the gradient
    # of (strength / 2) ||W^T W o (1 - I)||_F^2.
    expected = 0.5 * 1e-3 * sum(np_orthogonal(k, True) for k in kernels)
    got = penalties.orthogonal_regularization(model, weight=1e-3, off_diagonal=True)
    assert float(got) == pytest.approx(expected, rel=1e-5)


def _embedding_and_dense():
    label = keras.Input((), dtype="int32")
    embedded = keras.layers.Embedding(3, 2, name="shared_embedding")(label)
    out = keras.layers.Dense(2, name="dense")(embedded)
    model = keras.Model(label, out)
    model.get_layer("shared_embedding").set_weights([np.array([[1.0, 1.0], [1.0, 0.0], [0.0, 2.0]])])
    model.get_layer("dense").set_weights([np.array([[1.0, 0.0], [1.0, 1.0]]), np.zeros(2)])
    return model


def test_orthogonal_regularization_excludes_named_layers():
    model = _embedding_and_dense()
    # Dense kernel W = [[1, 0], [1, 1]]: W^T W = [[2, 1], [1, 1]], off-diagonal squares 1 + 1 = 2.
    # Embedding E = [[1, 1], [1, 0], [0, 2]]: E^T E = [[2, 1], [1, 5]], off-diagonal squares 2.
    # Plain form: (W^T W - I) = [[1, 1], [1, 0]] -> 3; (E^T E - I) = [[1, 1], [1, 4]] -> 19.
    weight = 0.1
    kwargs = {"weight": weight, "off_diagonal": True}
    excluded = penalties.orthogonal_regularization(model, exclude=("shared_embedding",), **kwargs)
    assert float(excluded) == pytest.approx(0.5 * weight * 2.0)
    assert float(penalties.orthogonal_regularization(model, **kwargs)) == pytest.approx(
        0.5 * weight * (2.0 + 2.0))
    plain = penalties.orthogonal_regularization(model, weight=weight, off_diagonal=False,
                                                exclude="shared_embedding")
    assert float(plain) == pytest.approx(0.5 * weight * 3.0)
    term = penalties.OrthogonalRegularization(weight, exclude=["shared_embedding"])
    assert float(term.generator_loss(context(generator=model))) == pytest.approx(0.1)
    with pytest.raises(UserInputError, match="cannot exclude \\['shared_embeding'\\]"):
        penalties.orthogonal_regularization(model, exclude=("shared_embeding",))


def context(discriminator=None, generator=None, real=None, fake=None, conditioning=None,
            critic=None):
    return types.SimpleNamespace(discriminator=discriminator, generator=generator, real=real,
                                 fake=fake, seed_generator=keras.random.SeedGenerator(0),
                                 conditioning=conditioning, critic=critic)


def test_gradient_penalty_object_unconditional_and_conditional():
    kernel = np.array([0.6, -0.3])
    real, fake = RNG.normal(size=(4, 2)), RNG.normal(size=(4, 2))
    term = penalties.GradientPenalty(weight=10.0).discriminator_loss(
        context(dense_critic(kernel), real=real, fake=fake))
    assert float(term) == pytest.approx(10.0 * (np.linalg.norm(kernel) - 1.0) ** 2, rel=1e-5)
    # With labels the gradient is taken with respect to x only, not the conditioning input.
    labels = tf.constant(RNG.normal(size=(4, 3)), tf.float32)
    term = penalties.GradientPenalty(weight=2.0).discriminator_loss(
        context(dense_critic(kernel, extra_inputs=3), real=real, fake=fake, conditioning=labels))
    assert float(term) == pytest.approx(2.0 * (np.linalg.norm(kernel) - 1.0) ** 2, rel=1e-5)
    # A model's own critic function (here: the logit scaled by 3) takes precedence.
    critic_net = dense_critic(kernel)
    term = penalties.GradientPenalty(weight=1.0).discriminator_loss(
        context(critic_net, real=real, fake=fake, critic=lambda x: 3.0 * critic_net(x)))
    assert float(term) == pytest.approx((3.0 * np.linalg.norm(kernel) - 1.0) ** 2, rel=1e-5)


def test_orthogonal_and_clipping_objects_act_on_the_chosen_network():
    g = dense_critic(RNG.normal(size=3))
    d = dense_critic(RNG.normal(size=2) * 5)
    ctx = context(discriminator=d, generator=g)
    on_g = penalties.OrthogonalRegularization(weight=2.0, off_diagonal=False)
    assert float(on_g.generator_loss(ctx)) == pytest.approx(
        np_orthogonal(g.layers[-1].kernel.numpy(), False), rel=1e-5)
    assert on_g.discriminator_loss(ctx) is None
    on_both = penalties.OrthogonalRegularization(weight=2.0, off_diagonal=False, on="both")
    assert float(on_both.discriminator_loss(ctx)) == pytest.approx(
        np_orthogonal(d.layers[-1].kernel.numpy(), False), rel=1e-5)
    clipping = penalties.WeightClipping(0.01)
    assert clipping.discriminator_loss(ctx) is None and not clipping.adds_loss
    clipping.after_discriminator_update(d)
    assert max(np.abs(v.numpy()).max() for v in d.trainable_variables) <= 0.01


@pytest.mark.parametrize("penalty", [
    penalties.GradientPenalty(weight=5.0, target=0.5, one_sided=True),
    penalties.WeightClipping(clip_value=0.02),
    penalties.OrthogonalRegularization(weight=1e-3, off_diagonal=False, on="both"),
    penalties.OrthogonalRegularization(weight=1e-4, exclude=("shared_embedding",)),
])
def test_config_round_trip(penalty):
    again = type(penalty).from_config(penalty.get_config())
    assert again.get_config() == penalty.get_config()
    serialized = keras.saving.serialize_keras_object(penalty)
    restored = keras.saving.deserialize_keras_object(serialized)
    assert type(restored) is type(penalty) and restored.get_config() == penalty.get_config()
    via_get = penalties.get(serialized)
    assert type(via_get) is type(penalty) and via_get.get_config() == penalty.get_config()


def test_get_names_instances_and_errors():
    assert penalties.get("gradient_penalty").weight == 10.0
    assert penalties.get("weight_clipping").clip_value == 0.01
    ortho = penalties.get("orthogonal")
    assert (ortho.weight, ortho.off_diagonal, ortho.on) == (1e-4, True, "generator")
    instance = penalties.WeightClipping(0.1)
    assert penalties.get(instance) is instance
    short = penalties.get({"class_name": "GradientPenalty", "config": {"weight": 1.0}})
    assert isinstance(short, penalties.GradientPenalty) and short.weight == 1.0
    with pytest.raises(UserInputError, match="unknown penalty 'spectral'.*gradient_penalty"):
        penalties.get("spectral")
    with pytest.raises(UserInputError, match="cannot build a penalty"):
        penalties.get({"class_name": "Nothing", "config": {}})
    with pytest.raises(UserInputError, match="not describe a penalty"):
        penalties.get(keras.saving.serialize_keras_object(keras.layers.Dense(2)))
    with pytest.raises(UserInputError, match="generator, discriminator, both"):
        penalties.OrthogonalRegularization(on="critic")
    with pytest.raises(UserInputError, match="positive clip value"):
        penalties.WeightClipping(0.0)
