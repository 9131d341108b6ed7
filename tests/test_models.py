"""DCGAN builders follow Radford et al.; presets carry the papers' hyper-parameters."""

import keras
import numpy as np
import pytest

from gan_apps import penalties
from gan_apps.errors import UserInputError
from gan_apps.layers.spectral import SpectralNormalization
from gan_apps.models.dcgan import dcgan_discriminator, dcgan_generator
from gan_apps.models.presets import PRESETS, build_gan


@pytest.mark.parametrize("resolution", [8, 16, 28, 32, 64])
@pytest.mark.parametrize("channels", [1, 3])
def test_dcgan_shapes(resolution, channels):
    g = dcgan_generator(latent_dim=10, resolution=resolution, channels=channels, width=8)
    d = dcgan_discriminator(resolution, channels, width=8)
    images = g(np.random.default_rng(0).normal(size=(2, 10)).astype("float32"))
    assert images.shape == (2, resolution, resolution, channels)
    assert np.all(np.abs(np.asarray(images)) <= 1.0)
    assert d(images).shape == (2, 1)


def _layer_types(model):
    return [type(layer).__name__ for layer in model.layers]


def test_dcgan_follows_the_paper_rules():
    g = dcgan_generator(resolution=32, width=8)
    d = dcgan_discriminator(32, width=8)
    g_types, d_types = _layer_types(g), _layer_types(d)
    # No pooling anywhere; strided (transposed) convolutions do the resampling.
    assert not any("Pooling" in t for t in g_types + d_types)
    # Generator: BN + ReLU after every hidden layer, none at the output, tanh output.
    assert g_types[-2:] == ["Conv2DTranspose", "Activation"] and g.layers[-1].activation.__name__ == "tanh"
    assert g_types.count("BatchNormalization") == g_types.count("ReLU")
    # Discriminator: no BN on the input layer, LeakyReLU(0.2), logits out (no sigmoid).
    assert d_types[1:3] == ["Conv2D", "LeakyReLU"]
    assert all(layer.negative_slope == pytest.approx(0.2) for layer in d.layers
               if isinstance(layer, keras.layers.LeakyReLU))
    assert d.layers[-1].activation.__name__ == "linear"


def test_discriminator_norm_options():
    sn = dcgan_discriminator(16, width=8, norm="spectral")
    assert sum(isinstance(layer, SpectralNormalization) for layer in sn.layers) == 3
    assert "BatchNormalization" not in _layer_types(sn)
    ln = dcgan_discriminator(16, width=8, norm="layer")
    assert "GroupNormalization" in _layer_types(ln) and "BatchNormalization" not in _layer_types(ln)
    with pytest.raises(UserInputError):
        dcgan_discriminator(16, norm="instance")


def test_bad_resolution_is_a_user_error():
    with pytest.raises(UserInputError, match="resolution"):
        dcgan_generator(resolution=33)
    with pytest.raises(UserInputError, match="resolution"):
        dcgan_generator(resolution=4)


EXPECTED = {
    # preset: (objective, optimizer class, learning rate, beta_1, beta_2, n_critic, penalty)
    "dcgan": ("non_saturating", keras.optimizers.Adam, 2e-4, 0.5, 0.999, 1, None),
    "lsgan": ("least_squares", keras.optimizers.Adam, 2e-4, 0.5, 0.999, 1, None),
    "fgan": ("f:js", keras.optimizers.Adam, 2e-4, 0.5, 0.999, 1, None),
    "wgan": ("wasserstein", keras.optimizers.RMSprop, 5e-5, None, None, 5, penalties.WeightClipping),
    "wgan_gp": ("wasserstein", keras.optimizers.Adam, 1e-4, 0.0, 0.9, 5, penalties.GradientPenalty),
    "sngan": ("hinge", keras.optimizers.Adam, 2e-4, 0.5, 0.999, 1, None),
}


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_presets_use_the_papers_settings_and_train(name):
    objective, opt_cls, lr, beta_1, beta_2, n_critic, penalty = EXPECTED[name]
    gan = build_gan(name, resolution=8, channels=1, width=4, latent_dim=4, seed=0)
    assert gan.objective_name == objective
    assert gan.n_critic == n_critic
    for opt in (gan.g_optimizer, gan.d_optimizer):
        assert isinstance(opt, opt_cls)
        assert float(opt.learning_rate) == pytest.approx(lr)
        if beta_1 is not None:
            assert opt.beta_1 == beta_1 and opt.beta_2 == beta_2
    if penalty is None:
        assert gan.penalties == []
    else:
        assert isinstance(gan.penalties[0], penalty)
    if name == "wgan":
        assert gan.penalties[0].clip_value == 0.01
    if name == "wgan_gp":
        assert gan.penalties[0].weight == 10.0
    images = np.random.default_rng(0).uniform(-1, 1, size=(16, 8, 8, 1)).astype("float32")
    logs = gan.fit(images, batch_size=8, epochs=1, verbose=0).history
    assert np.isfinite(logs["d_loss"][0])


def test_preset_overrides():
    gan = build_gan("fgan", divergence="kl", resolution=8, width=4)
    assert gan.objective_name == "f:kl"
    gan = build_gan("lsgan", coding="pearson", resolution=8, width=4)
    assert gan.objective_options == {"coding": "pearson"}
    gan = build_gan("dcgan", objective="hinge", resolution=8, width=4)
    assert gan.objective_name == "hinge"
    with pytest.raises(UserInputError, match="divergence"):
        build_gan("dcgan", divergence="kl", resolution=8)
    with pytest.raises(UserInputError, match="unknown model"):
        build_gan("stylegan")
