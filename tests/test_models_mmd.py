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
                                 mlp_feature_critic, one_sided_ranking, scaled_by_spread)
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
    assert list(model.networks()) == ["generator", "critic", "decoder"]
    assert (model.sqrt_mmd, model.hinge_weight, model.autoencoder_weight) == (True, 16.0, 8.0)
    assert {"generator", "critic", "decoder", "g_optimizer", "d_optimizer",
            "seed_state"} <= set(model.checkpoint_items())
    model.fit(ring(320), batch_size=64, epochs=1, verbose=0)
    path = str(tmp_path / "mmd_gan.keras")
    model.save(path)
    loaded = keras.models.load_model(path)
    assert isinstance(loaded, MMDGAN) and loaded.n_critic == 5 and loaded.bandwidths == model.bandwidths
    assert (loaded.sqrt_mmd, loaded.hinge_weight, loaded.autoencoder_weight) == (True, 16.0, 8.0)
    assert loaded.penalties[0].get_config() == {"clip_value": 0.01}
    x = ring(8)
    np.testing.assert_allclose(loaded.discriminator(x), model.discriminator(x), rtol=1e-5, atol=1e-7)
    features = np.asarray(model.discriminator(x))
    np.testing.assert_allclose(loaded.decoder(features), model.decoder(features),
                               rtol=1e-5, atol=1e-6)
    loaded.fit(ring(320), batch_size=64, epochs=1, verbose=0)
    image = build_mmd_gan(resolution=16, width=8, seed=0)
    assert image.discriminator.output.shape[1:] == (100,)
    assert image.decoder.input.shape[1:] == (100,) and image.decoder.output.shape[1:] == (16, 16, 1)
    assert build_mmd_gan(data_kind="points", seed=0, autoencoder_weight=0).decoder is None
    with pytest.raises(UserInputError, match="decoder"):
        MMDGAN(mlp_generator(4, hidden=(8,)), mlp_feature_critic(hidden=(8,)),
               autoencoder_weight=1.0)
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


def test_one_sided_ranking_penalises_only_features_whose_fake_mean_is_higher():
    real = np.array([[1.0, 0.0, 2.0], [3.0, 0.0, 2.0]])   # means 2, 0, 2
    fake = np.array([[0.0, 1.0, 5.0], [0.0, 3.0, 5.0]])   # means 0, 2, 5
    # gaps 2, -2, -3: the last two cost relu(2) and relu(3), averaged over the 3 features.
    assert float(one_sided_ranking(real, fake)) == pytest.approx(-(2.0 + 3.0) / 3)
    assert float(one_sided_ranking(fake[:, :1] * 0 + 1, fake[:, :1] * 0)) == 0.0


def test_mmd_gan_reference_objectives_match_numpy():
    """With zero learning rates, one step logs the reference code's critic objective
    (OctoberChang/MMD-GAN: -(sqrt(M) + 16 R) + 8 (AE_x + AE_y)) and generator objective
    (sqrt(M) + 16 R), each recomputed in numpy from the networks' outputs."""
    def build():
        model = MMDGAN(mlp_generator(4, hidden=(16,), seed=1),
                       mlp_feature_critic(hidden=(16,), feature_dim=4, seed=2),
                       decoder=mlp_generator(4, hidden=(16,), seed=5), bandwidths=(0.5, 1.0),
                       n_critic=1, penalties=[], sqrt_mmd=True, hinge_weight=16.0,
                       autoencoder_weight=8.0, seed=3)
        model.compile(g_optimizer=keras.optimizers.SGD(0.0), d_optimizer=keras.optimizers.SGD(0.0))
        return model

    model = build()
    real = ring(64)
    state = np.asarray(model.seed_generator.state).copy()
    logs = model.fit(real, batch_size=64, epochs=1, verbose=0, shuffle=False).history
    model.seed_generator.state.assign(state)
    fake_d = np.asarray(model.generator(model.sample_latent(64)))
    fake_g = np.asarray(model.generator(model.sample_latent(64)))
    critic, decoder = model.discriminator, model.decoder
    k = numpy_mixture_kernel((0.5, 1.0))

    def terms(fake):
        real_f = np.asarray(critic(real, training=True), np.float64)
        fake_f = np.asarray(critic(fake, training=True), np.float64)
        m = k(real_f, real_f).mean() + k(fake_f, fake_f).mean() - 2 * k(real_f, fake_f).mean()
        gap = real_f.mean(0) - fake_f.mean(0)
        ranking = -np.maximum(-gap, 0).mean()
        ae = (((real - np.asarray(decoder(real_f, training=True))) ** 2).mean()
              + ((fake - np.asarray(decoder(fake_f, training=True))) ** 2).mean())
        return m, ranking, ae

    m, ranking, ae = terms(fake_d)
    assert logs["mmd2"][0] == pytest.approx(m, rel=1e-3, abs=1e-7)
    assert logs["ranking"][0] == pytest.approx(ranking, rel=1e-3, abs=1e-7)
    assert logs["autoencoder"][0] == pytest.approx(ae, rel=1e-4)
    assert logs["d_loss"][0] == pytest.approx(-(np.sqrt(m) + 16 * ranking) + 8 * ae, rel=1e-3)
    m_g, ranking_g, _ = terms(fake_g)
    assert logs["g_loss"][0] == pytest.approx(np.sqrt(m_g) + 16 * ranking_g, rel=1e-3)


def test_mmd_gan_clips_the_encoder_and_trains_the_decoder_unclipped():
    model = build_mmd_gan(data_kind="points", seed=0, hidden_units=16, latent_dim=4,
                          learning_rate=1e-2)
    before = [np.asarray(w).copy() for w in model.decoder.trainable_weights]
    model.fit(ring(640), batch_size=64, epochs=1, verbose=0)
    assert max(np.abs(w).max() for w in model.discriminator.trainable_weights) <= 0.01 + 1e-7
    after = model.decoder.trainable_weights
    assert any(not np.allclose(b, a) for b, a in zip(before, after))
    assert max(np.abs(w).max() for w in after) > 0.01


def test_relative_bandwidths_are_multiples_of_the_features_spread():
    """scaled_by_spread divides by the RMS distance of the pooled rows (numpy), so the
    kernel no longer depends on the features' scale, and no gradient flows through d."""
    rng = np.random.default_rng(0)
    real, fake = rng.normal(size=(6, 3)), rng.normal(1.0, 2.0, size=(5, 3))
    pooled = np.concatenate([real, fake])
    d = np.sqrt(((pooled[:, None] - pooled[None]) ** 2).sum(-1).mean())
    scaled_real, scaled_fake = scaled_by_spread(real.astype("float32"), fake.astype("float32"))
    np.testing.assert_allclose(scaled_real, real / d, rtol=1e-5)
    np.testing.assert_allclose(scaled_fake, fake / d, rtol=1e-5)
    x = tf.constant(real, tf.float32)
    with tf.GradientTape() as tape:
        tape.watch(x)
        out = tf.reduce_sum(scaled_by_spread(x, fake.astype("float32"))[0])
    np.testing.assert_allclose(tape.gradient(out, x), np.full(real.shape, 1 / d), rtol=1e-5)

    def model(relative):
        return MMDGAN(mlp_generator(4, hidden=(8,)), mlp_feature_critic(hidden=(8,)),
                      bandwidths=(1.0, 2.0), relative_bandwidths=relative)

    small, large = (real * 0.01).astype("float32"), (fake * 0.01).astype("float32")
    relative = model(True).shared_objective(small, large)[1]
    assert float(relative) == pytest.approx(float(model(True).shared_objective(
        small * 1000, large * 1000)[1]), rel=1e-4)
    expected = mmd2_biased_numpy(real / d, fake / d, (1.0, 2.0))
    assert float(relative) == pytest.approx(expected, rel=1e-4)
    # Fixed sigmas on features ~0.03 apart: each kernel is ~1 - d^2 / (2 sigma^2), so MMD^2
    # is ~ sum_s |mean(x) - mean(y)|^2 / sigma^2, the mean features' gap and nothing else.
    gap = np.sum((small.astype(np.float64).mean(0) - large.astype(np.float64).mean(0)) ** 2)
    assert float(model(False).shared_objective(small, large)[1]) == pytest.approx(
        gap * (1 + 1 / 4), rel=1e-2)


def mmd2_biased_numpy(x, y, bandwidths):
    k = numpy_mixture_kernel(bandwidths)
    return k(x, x).mean() + k(y, y).mean() - 2 * k(x, y).mean()
