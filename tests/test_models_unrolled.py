"""Unrolled GAN: the unrolled surrogate against numpy, both gradient variants, training, saving."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from gan_apps import data as data_lib
from gan_apps import objectives
from gan_apps.errors import UserInputError
from gan_apps.models.mlp import mlp_discriminator, mlp_generator
from gan_apps.models.unrolled import UnrolledGAN, build_unrolled_gan, unroll_discriminator_weights

RNG = np.random.default_rng(0)
REAL = RNG.normal(size=(6, 2))
FAKE = RNG.normal(size=(5, 2)) + 1.0
W0 = np.array([[0.3], [-0.2]])
B0 = np.array([0.1])


def linear_discriminator():
    x = keras.Input((2,))
    model = keras.Model(x, keras.layers.Dense(1)(x))
    model.set_weights([W0.astype(np.float32), B0.astype(np.float32)])
    return model


def sigmoid(v):
    return 1.0 / (1.0 + np.exp(-v))


def numpy_minimax_grads(w, b, real, fake):
    """d/d(w, b) of mean softplus(-(x w + b)) + mean softplus(f w + b), by hand."""
    s_real = -sigmoid(-(real @ w + b))  # d softplus(-l)/dl
    s_fake = sigmoid(fake @ w + b)       # d softplus(l)/dl
    grad_w = real.T @ s_real / len(real) + fake.T @ s_fake / len(fake)
    grad_b = s_real.mean(0) + s_fake.mean(0)
    return grad_w, grad_b


def numpy_unroll(real, fake, steps, rule, lr, beta_1=0.5, beta_2=0.999, eps=1e-8):
    w, b = W0.copy(), B0.copy()
    m = [np.zeros_like(w), np.zeros_like(b)]
    v = [np.zeros_like(w), np.zeros_like(b)]
    for t in range(1, steps + 1):
        grads = numpy_minimax_grads(w, b, real, fake)
        if rule == "sgd":
            w, b = w - lr * grads[0], b - lr * grads[1]
            continue
        m = [beta_1 * mi + (1 - beta_1) * g for mi, g in zip(m, grads)]
        v = [beta_2 * vi + (1 - beta_2) * g * g for vi, g in zip(v, grads)]
        steps_ = [lr * (mi / (1 - beta_1**t)) / (np.sqrt(vi / (1 - beta_2**t)) + eps) for mi, vi in zip(m, v)]
        w, b = w - steps_[0], b - steps_[1]
    return w, b


def tf_unroll(fake, steps, rule, lr):
    model = linear_discriminator()
    weights = [tf.constant(w) for w in model.get_weights()]
    return unroll_discriminator_weights(
        model, weights, [], tf.constant(REAL, tf.float32), fake, objectives.minimax_d_loss,
        steps=steps, rule=rule, learning_rate=lr,
    )


@pytest.mark.parametrize("rule,lr", [("sgd", 0.5), ("adam", 0.05)])
def test_unrolled_weights_match_numpy_gradient_steps(rule, lr):
    weights = tf_unroll(tf.constant(FAKE, tf.float32), 3, rule, lr)
    w, b = numpy_unroll(REAL, FAKE, 3, rule, lr)
    np.testing.assert_allclose(weights[0].numpy(), w, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(weights[1].numpy(), b, rtol=1e-4, atol=1e-6)
    assert not np.allclose(w, W0)


def test_second_order_gradient_matches_finite_differences():
    """d f_K / d fake through K SGD steps (Metz et al. Sec. 2.3), against central differences."""

    def numpy_surrogate(fake):
        w, b = numpy_unroll(REAL, fake, 3, "sgd", 0.5)
        # f_K = E log D_K(x) + E log(1 - D_K(G(z))) = -(minimax d loss at theta_K)
        return -(np.log1p(np.exp(-(REAL @ w + b))).mean() + np.log1p(np.exp(fake @ w + b)).mean())

    fake = tf.constant(FAKE, tf.float32)
    with tf.GradientTape() as tape:
        tape.watch(fake)
        w, b = tf_unroll(fake, 3, "sgd", 0.5)
        real_logits = tf.constant(REAL, tf.float32) @ w + b
        value = -objectives.minimax_d_loss(real_logits, fake @ w + b)
    analytic = tape.gradient(value, fake).numpy()
    numeric = np.zeros_like(FAKE)
    for index in np.ndindex(FAKE.shape):
        step = np.zeros_like(FAKE)
        step[index] = 1e-5
        numeric[index] = (numpy_surrogate(FAKE + step) - numpy_surrogate(FAKE - step)) / 2e-5
    np.testing.assert_allclose(analytic, numeric, rtol=2e-3, atol=2e-5)
    # The first-order variant treats theta_K as constant: it misses the second term.
    w_k, b_k = numpy_unroll(REAL, FAKE, 3, "sgd", 0.5)
    first_order = -sigmoid(FAKE @ w_k + b_k) * w_k.T / len(FAKE)
    assert not np.allclose(analytic, first_order, atol=1e-4)


def tiny_unrolled(**kwargs):
    gan = UnrolledGAN(mlp_generator(4, hidden=(16,), seed=1), mlp_discriminator(hidden=(16,), seed=2),
                      seed=3, **kwargs)
    gan.compile(g_optimizer=keras.optimizers.Adam(1e-3, 0.5),
                d_optimizer=keras.optimizers.Adam(1e-3, 0.5))
    return gan


def ring(n=256):
    return data_lib.MIXTURES["ring8"].sample(n, np.random.default_rng(0))


@pytest.mark.parametrize("second_order", [True, False])
def test_train_step_moves_losses_and_only_the_real_discriminator_is_stepped(second_order):
    gan = tiny_unrolled(unroll_steps=3, second_order=second_order)
    g_before = [w.copy() for w in gan.generator.get_weights()]
    history = gan.fit(ring(), batch_size=64, epochs=3, verbose=0).history
    assert {"d_loss", "g_loss", "unrolled_d_loss"} <= set(history)
    assert all(np.all(np.isfinite(v)) for v in history.values())
    assert history["g_loss"][0] != history["g_loss"][-1]
    assert history["d_loss"][0] != history["d_loss"][-1]
    assert int(gan.d_optimizer.iterations) == 12 and int(gan.g_optimizer.iterations) == 12
    assert any(not np.allclose(a, b) for a, b in zip(g_before, gan.generator.get_weights()))


def test_first_and_second_order_generator_updates_differ():
    results = []
    for second_order in (True, False):
        keras.utils.set_random_seed(0)
        gan = tiny_unrolled(unroll_steps=3, second_order=second_order, unroll_rule="sgd",
                            unroll_learning_rate=1.0)
        gan.fit(ring(64), batch_size=64, epochs=1, verbose=0, shuffle=False)
        results.append(gan.generator.get_weights())
    assert any(not np.allclose(a, b) for a, b in zip(*results))


def test_keras_round_trip(tmp_path):
    gan = tiny_unrolled(unroll_steps=2, second_order=False, unroll_rule="sgd", unroll_learning_rate=0.1)
    gan.fit(ring(64), batch_size=64, epochs=1, verbose=0)
    path = str(tmp_path / "unrolled.keras")
    gan.save(path)
    loaded = keras.models.load_model(path)
    assert isinstance(loaded, UnrolledGAN)
    assert (loaded.unroll_steps, loaded.second_order, loaded.unroll_rule, loaded.unroll_learning_rate) == (
        2, False, "sgd", 0.1)
    z = np.ones((3, 4), np.float32)
    np.testing.assert_allclose(loaded.generator(z), gan.generator(z), rtol=1e-6)
    loaded.fit(ring(64), batch_size=64, epochs=1, verbose=0)


def test_builder_uses_the_papers_mixture_settings_and_contract():
    gan = build_unrolled_gan(data_kind="points", seed=0)
    assert gan.latent_dim == 256 and gan.unroll_steps == 5 and gan.second_order
    assert gan.objective_name == "minimax"
    assert float(gan.g_optimizer.learning_rate) == pytest.approx(1e-3)
    assert float(gan.d_optimizer.learning_rate) == pytest.approx(1e-4)
    assert gan.d_optimizer.beta_1 == 0.5
    assert gan.latent_spec() == [{"name": "z", "kind": "normal", "dim": 256}]
    assert list(gan.networks()) == ["generator", "discriminator"]
    assert {"generator", "discriminator", "g_optimizer", "d_optimizer", "seed_state"} <= set(
        gan.checkpoint_items())
    assert gan.num_classes is None
    with pytest.raises(UserInputError):
        build_unrolled_gan(num_classes=10)
    image = build_unrolled_gan(resolution=16, width=8, seed=0)
    assert image.generator.output.shape[1:] == (16, 16, 1)
