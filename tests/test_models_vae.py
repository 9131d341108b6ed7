"""VAE (Kingma & Welling 2013): analytic KL, likelihoods, ELBO training, saving."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from gan_apps import data as data_lib
from gan_apps import sampling
from gan_apps.errors import UserInputError
from gan_apps.models.vae import (
    VAE,
    bernoulli_log_likelihood,
    build_vae,
    gaussian_kl,
    gaussian_log_likelihood,
)


def test_kl_matches_numpy_closed_form():
    rng = np.random.default_rng(0)
    mean = rng.normal(size=(5, 7)).astype("float32")
    log_var = rng.normal(scale=0.5, size=(5, 7)).astype("float32")
    var = np.exp(log_var.astype(np.float64))
    # KL(N(mu, var) || N(0, 1)) = 1/2 (var + mu^2 - 1 - log var), summed over dimensions.
    expected = 0.5 * np.sum(var + mean.astype(np.float64) ** 2 - 1.0 - np.log(var), axis=1)
    np.testing.assert_allclose(np.asarray(gaussian_kl(mean, log_var)), expected, rtol=1e-5)
    assert np.allclose(np.asarray(gaussian_kl(np.zeros((2, 3)), np.zeros((2, 3)))), 0.0)


def test_kl_matches_monte_carlo():
    rng = np.random.default_rng(1)
    mean, log_var = np.array([[0.7, -0.3]]), np.array([[-0.5, 0.4]])
    std = np.exp(0.5 * log_var)
    z = mean + std * rng.standard_normal((200_000, 2))
    log_q = -0.5 * np.sum(((z - mean) / std) ** 2 + np.log(2 * np.pi * std**2), axis=1)
    log_p = -0.5 * np.sum(z**2 + np.log(2 * np.pi), axis=1)
    kl = float(np.asarray(gaussian_kl(mean.astype("float32"), log_var.astype("float32")))[0])
    assert kl == pytest.approx(np.mean(log_q - log_p), abs=0.01)


def test_bernoulli_likelihood_on_logits_matches_probabilities():
    rng = np.random.default_rng(2)
    targets = rng.uniform(size=(3, 4, 4, 1))
    logits = rng.normal(scale=3.0, size=(3, 4, 4, 1))
    p = 1.0 / (1.0 + np.exp(-logits))
    expected = np.sum(targets * np.log(p) + (1 - targets) * np.log(1 - p), axis=(1, 2, 3))
    got = bernoulli_log_likelihood(targets.astype("float32"), logits.astype("float32"))
    np.testing.assert_allclose(np.asarray(got), expected, rtol=1e-4)
    # Stable for large logits (softplus, not log(sigmoid)).
    extreme = bernoulli_log_likelihood(np.ones((1, 2), "float32"), np.array([[200.0, -200.0]], "float32"))
    assert np.isfinite(np.asarray(extreme)).all()
    assert float(np.asarray(extreme)[0]) == pytest.approx(-200.0, abs=1e-3)


def test_gaussian_likelihood_matches_normal_log_density():
    rng = np.random.default_rng(3)
    x, m = rng.uniform(-1, 1, size=(2, 3, 3, 1)), rng.uniform(-1, 1, size=(2, 3, 3, 1))
    std = 0.2
    expected = np.sum(-0.5 * ((x - m) / std) ** 2 - np.log(std * np.sqrt(2 * np.pi)), axis=(1, 2, 3))
    got = gaussian_log_likelihood(x.astype("float32"), m.astype("float32"), std)
    np.testing.assert_allclose(np.asarray(got), expected, rtol=1e-4)


def test_bernoulli_mean_equals_decoder_image():
    vae = build_vae(resolution=8, seed=0, hidden=(16,), latent_dim=3)
    z = np.random.default_rng(4).normal(size=(4, 3)).astype("float32")
    logits = 2.0 * np.asarray(vae._decoder_logits(z))
    images = np.asarray(vae.generator(z))
    np.testing.assert_allclose(1.0 / (1.0 + np.exp(-logits)), (images + 1.0) / 2.0, atol=1e-5)


@pytest.fixture(scope="module")
def digits8():
    images, _ = data_lib.load_arrays("digits", resolution=8, split="train")
    return images[:512]


def test_elbo_rises_over_a_short_run(digits8):
    keras.utils.set_random_seed(0)
    vae = build_vae(resolution=8, seed=0, hidden=(64, 64))
    before = vae.evaluate(digits8, batch_size=128, verbose=0, return_dict=True)
    history = vae.fit(digits8, batch_size=32, epochs=3, verbose=0)
    after = vae.evaluate(digits8, batch_size=128, verbose=0, return_dict=True)
    assert after["elbo"] > before["elbo"] + 20.0
    assert after["elbo"] == pytest.approx(after["reconstruction"] * -1 - after["kl"], rel=1e-4)
    assert {"loss", "elbo", "reconstruction", "kl", "grad_norm"} <= set(history.history)
    assert np.isfinite(history.history["elbo"]).all()


def test_keras_round_trip_and_contract(tmp_path, digits8):
    vae = build_vae(resolution=8, seed=1, hidden=(16,), latent_dim=4, likelihood="gaussian",
                    gaussian_std=0.3)
    vae.fit(digits8[:64], batch_size=32, epochs=1, verbose=0)
    path = str(tmp_path / "vae.keras")
    vae.save(path)
    restored = keras.models.load_model(path)
    assert isinstance(restored, VAE)
    assert (restored.likelihood, restored.gaussian_std, restored.latent_dim) == ("gaussian", 0.3, 4)
    z = np.random.default_rng(0).normal(size=(3, 4)).astype("float32")
    np.testing.assert_allclose(np.asarray(restored.generator(z)), np.asarray(vae.generator(z)), atol=1e-6)
    np.testing.assert_allclose(np.asarray(restored.encoder(digits8[:2])[0]),
                               np.asarray(vae.encoder(digits8[:2])[0]), atol=1e-6)
    assert isinstance(restored.optimizer, keras.optimizers.Adam)
    assert restored.latent_spec() == sampling.unconditional_spec(4)
    assert list(restored.networks()) == ["generator", "encoder"]
    assert restored.num_classes is None
    items = vae.checkpoint_items()
    assert {"generator", "encoder", "optimizer", "seed_state"} <= set(items)
    tf.train.Checkpoint(**items).write(str(tmp_path / "ckpt"))


def test_dcgan_decoder_above_8x8():
    vae = build_vae(resolution=16, seed=0, width=8, latent_dim=5)
    assert vae.generator.name == "dcgan_generator"
    images, _ = data_lib.load_arrays("digits", resolution=16, split="train", num_examples=32)
    vae.fit(images, batch_size=16, epochs=1, verbose=0)
    assert vae.generate(2).shape == (2, 16, 16, 1)


@pytest.mark.parametrize("kwargs", [{"objective": "hinge"}, {"data_kind": "points"},
                                    {"num_classes": 10}, {"arch": "resnet"},
                                    {"likelihood": "poisson"}])
def test_builder_refuses_what_the_vae_cannot_do(kwargs):
    with pytest.raises(UserInputError):
        build_vae(resolution=8, hidden=(8,), **kwargs)
