"""GMMN and MMD-GAN: losses against numpy, training lowers MMD, contract, saving."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from gan_apps import data as data_lib
from gan_apps import kernels
from gan_apps.errors import UserInputError
from gan_apps.evaluation.metrics import mmd2_unbiased
from gan_apps.models.mlp import mlp_generator
from gan_apps.models.mmd import (GMMN, GMMN_BANDWIDTHS, MMDGAN, build_gmmn, build_mmd_gan,
                                 mlp_feature_critic)
from gan_apps.models.presets import PRESETS, reference_rmsprop

RING = data_lib.MIXTURES["ring8"]


def ring(n, seed=0):
    return RING.sample(n, np.random.default_rng(seed))


def numpy_mixture_kernel(bandwidths):
    def kernel(a, b):
        d2 = ((np.asarray(a, np.float64)[:, None] - np.asarray(b, np.float64)[None]) ** 2).sum(-1)
        return sum(np.exp(-d2 / (2 * s * s)) for s in bandwidths)
    return kernel


def test_gmmn_logged_loss_is_the_mmd_of_the_batch():
    """One step with a zero learning rate: g_loss equals the numpy MMD^2 of (real, G(z))."""
    model = GMMN(mlp_generator(4, hidden=(16,), seed=1), bandwidths=(0.5, 1.0), biased=False, seed=3)
    model.compile(g_optimizer=keras.optimizers.SGD(0.0))
    real = ring(64)
    z_state = np.asarray(model.seed_generator.state).copy()
    logs = model.fit(real, batch_size=64, epochs=1, verbose=0, shuffle=False).history
    model.seed_generator.state.assign(z_state)
    fake = np.asarray(model.generator(model.sample_latent(64)))
    expected = mmd2_unbiased(real, fake, numpy_mixture_kernel((0.5, 1.0)))
    assert logs["g_loss"][0] == pytest.approx(expected, rel=1e-4, abs=1e-6)


def test_gmmn_training_lowers_mmd_on_ring8():
    keras.utils.set_random_seed(0)
    model = build_gmmn(data_kind="points", seed=0, hidden_units=64, latent_dim=8)
    test = ring(500, seed=7)

    def held_out_mmd():
        fake = np.asarray(model.generate(500))
        return float(kernels.mmd2(test, fake, model.bandwidths))

    before = held_out_mmd()
    history = model.fit(ring(256 * 30), batch_size=256, epochs=2, verbose=0).history
    after = held_out_mmd()
    assert after < 0.7 * before
    assert history["g_loss"][-1] < history["g_loss"][0]


def test_gmmn_contract_and_round_trip(tmp_path):
    model = build_gmmn(data_kind="points", seed=0, hidden_units=16, latent_dim=4)
    model.fit(ring(128), batch_size=64, epochs=1, verbose=0)
    assert list(model.networks()) == ["generator"]
    assert set(model.checkpoint_items()) == {"generator", "g_optimizer", "seed_state"}
    assert model.num_classes is None and model.latent_spec()[0]["dim"] == 4
    assert model.bandwidths == (0.05, 0.1, 0.2, 0.5, 1.0, 2.0)
    path = str(tmp_path / "gmmn.keras")
    model.save(path)
    loaded = keras.models.load_model(path)
    assert isinstance(loaded, GMMN) and loaded.bandwidths == model.bandwidths and loaded.biased
    z = np.ones((2, 4), np.float32)
    np.testing.assert_allclose(loaded.generator(z), model.generator(z), rtol=1e-6)
    loaded.fit(ring(128), batch_size=64, epochs=1, verbose=0)
    image = build_gmmn(resolution=16, width=8, seed=0)
    assert image.bandwidths == GMMN_BANDWIDTHS
    assert image.generator.output.shape[1:] == (16, 16, 1)
    with pytest.raises(UserInputError, match="objective"):
        build_gmmn(objective="hinge")
    with pytest.raises(UserInputError, match="bandwidths"):
        build_gmmn(bandwidths=[1.0, -2.0])


def tiny_mmd_gan(**kwargs):
    model = MMDGAN(mlp_generator(4, hidden=(16,), seed=1), mlp_feature_critic(hidden=(16,), feature_dim=4, seed=2),
                   bandwidths=(0.5, 1.0), seed=3, **kwargs)
    model.compile(g_optimizer=keras.optimizers.RMSprop(1e-3), d_optimizer=keras.optimizers.RMSprop(1e-3))
    return model


def test_mmd_gan_critic_ascends_and_generator_descends_feature_mmd():
    model = tiny_mmd_gan(n_critic=2)
    real = ring(64 * 8)
    history = model.fit(real, batch_size=64, epochs=3, verbose=0).history
    assert {"d_loss", "g_loss", "mmd2", "d_grad_norm", "g_grad_norm"} == set(history)
    assert all(np.all(np.isfinite(v)) for v in history.values())
    np.testing.assert_allclose(history["d_loss"], -np.asarray(history["mmd2"]), rtol=1e-6)
    assert history["g_loss"][0] != history["g_loss"][-1]
    # 24 steps, each two critic updates (minibatches of 32) and one generator update.
    assert int(model.d_optimizer.iterations) == 48 and int(model.g_optimizer.iterations) == 24
    # Weight clipping (Algorithm 1) keeps every critic weight in [-0.01, 0.01].
    assert max(np.abs(w).max() for w in model.discriminator.trainable_weights) <= 0.01 + 1e-7


def test_mmd_gan_critic_loss_is_minus_feature_mmd():
    """A critic step with a zero learning rate logs -MMD^2 of the critic's features (numpy)."""
    model = MMDGAN(mlp_generator(4, hidden=(16,), seed=1), mlp_feature_critic(hidden=(16,), feature_dim=4, seed=2),
                   bandwidths=(0.5, 1.0), n_critic=1, penalties=[], seed=3)
    model.compile(g_optimizer=keras.optimizers.SGD(0.0), d_optimizer=keras.optimizers.SGD(0.0))
    real = ring(64)
    state = np.asarray(model.seed_generator.state).copy()
    logs = model.fit(real, batch_size=64, epochs=1, verbose=0, shuffle=False).history
    model.seed_generator.state.assign(state)
    fake = np.asarray(model.generator(model.sample_latent(64)))
    critic = model.discriminator
    real_f, fake_f = np.asarray(critic(real, training=True)), np.asarray(critic(fake, training=True))
    k = numpy_mixture_kernel((0.5, 1.0))
    biased = k(real_f, real_f).mean() + k(fake_f, fake_f).mean() - 2 * k(real_f, fake_f).mean()
    assert logs["mmd2"][0] == pytest.approx(biased, rel=1e-3, abs=1e-6)


def test_mmd_gan_contract_and_round_trip(tmp_path):
    model = build_mmd_gan(data_kind="points", seed=0, hidden_units=16, latent_dim=4)
    assert model.n_critic == 5 and model.bandwidths == (1.0, 2.0, 4.0, 8.0, 16.0)
    assert float(model.d_optimizer.learning_rate) == pytest.approx(5e-5)
    assert list(model.networks()) == ["generator", "critic"]
    assert {"generator", "critic", "g_optimizer", "d_optimizer", "seed_state"} <= set(model.checkpoint_items())
    model.fit(ring(320), batch_size=64, epochs=1, verbose=0)
    path = str(tmp_path / "mmd_gan.keras")
    model.save(path)
    loaded = keras.models.load_model(path)
    assert isinstance(loaded, MMDGAN) and loaded.n_critic == 5 and loaded.bandwidths == model.bandwidths
    assert loaded.penalties[0].get_config() == {"clip_value": 0.01}
    x = ring(8)
    np.testing.assert_allclose(loaded.discriminator(x), model.discriminator(x), rtol=1e-5, atol=1e-7)
    loaded.fit(ring(320), batch_size=64, epochs=1, verbose=0)
    image = build_mmd_gan(resolution=16, width=8, seed=0)
    assert image.discriminator.output.shape[1:] == (100,)
    with pytest.raises(UserInputError, match="labels"):
        build_mmd_gan(num_classes=10)


def test_gmmn_bandwidths_give_the_reference_kernels_on_our_pixels():
    """yujiali/gmmn: K = exp((x.y - |x|^2/2 - |y|^2/2) / sigma) on [0, 1] pixels, sigma in
    (2, 5, 10, 20, 40, 80) a variance; ours on the same images in [-1, 1] must agree."""
    np.testing.assert_allclose(
        GMMN_BANDWIDTHS, [2.8284271, 4.4721360, 6.3245553, 8.9442719, 12.6491106, 17.8885438],
        rtol=1e-7)
    x01 = np.zeros((1, 4, 4, 1))
    y01 = x01.copy()
    y01.reshape(-1)[:8] = 1.0  # |x - y|^2 = 8 on [0, 1] pixels, 32 on [-1, 1]
    a, b = x01.reshape(1, -1), y01.reshape(1, -1)
    for variance, sigma in zip((2, 5, 10, 20, 40, 80), GMMN_BANDWIDTHS):
        reference = np.exp((a @ b.T - 0.5 * (a * a).sum() - 0.5 * (b * b).sum()) / variance)
        assert reference[0, 0] == pytest.approx(np.exp(-8 / (2 * variance)))
        ours = kernels.rbf_mixture_kernel(2 * x01 - 1, 2 * y01 - 1, [sigma])
        assert float(ours[0, 0]) == pytest.approx(reference[0, 0], rel=1e-6)


def test_wgan_and_mmd_gan_rmsprop_take_pytorchs_first_step():
    """PyTorch RMSprop (alpha 0.99, eps 1e-8 outside the sqrt), v0 = 0, g = 1, lr 5e-5: the
    first step is 5e-5 / (sqrt(0.01) + 1e-8) = 4.9999995e-4 (Keras' defaults: 1.58e-4)."""
    torch_step = 5e-5 / (np.sqrt(1 - 0.99) + 1e-8)
    mmd_gan = build_mmd_gan(data_kind="points", seed=0, hidden_units=8, latent_dim=4)
    for optimizer in (reference_rmsprop(5e-5), PRESETS["wgan"].make_optimizer(),
                      mmd_gan.g_optimizer, mmd_gan.d_optimizer):
        optimizer = getattr(optimizer, "inner_optimizer", optimizer)
        assert float(optimizer.learning_rate) == pytest.approx(5e-5)
        fresh = type(optimizer).from_config(optimizer.get_config())
        variable = keras.Variable([0.0, 0.0])
        fresh.apply_gradients([(tf.constant([1.0, -1.0]), variable)])
        np.testing.assert_allclose(-variable.numpy(), [torch_step, -torch_step], rtol=1e-6)
