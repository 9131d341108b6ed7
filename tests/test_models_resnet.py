"""ResNet builders follow SN-GAN's Table 4 (Miyato et al. 2018) and WGAN-GP's ResNet."""

import math

import keras
import numpy as np
import pytest

from gan_apps.errors import UserInputError
from gan_apps.layers.spectral import SpectralNormalization
from gan_apps.models.resnet import GlobalSumPooling2D, resnet_discriminator, resnet_generator

WIDTH = 8


def _conv_params(k, c_in, c_out):
    return k * k * c_in * c_out + c_out


def _expected_generator_params(latent_dim, resolution, channels, w):
    """Table 4(a) counted by hand: dense, log2(R/4) up blocks, BN, conv3x3 (BN: 4 per channel)."""
    block = 2 * _conv_params(3, w, w) + _conv_params(1, w, w) + 2 * 4 * w
    blocks = int(math.log2(resolution / 4))
    return latent_dim * 16 * w + 16 * w + blocks * block + 4 * w + _conv_params(3, w, channels)


def _expected_discriminator_params(resolution, channels, w):
    """Table 4(b) counted by hand, without normalization: the two 8x8 blocks have no 1x1 conv."""
    optimized = _conv_params(3, channels, w) + _conv_params(3, w, w) + _conv_params(1, channels, w)
    down = 2 * _conv_params(3, w, w) + _conv_params(1, w, w)
    plain = 2 * _conv_params(3, w, w)
    n_down = int(math.log2(resolution / 8)) - 1
    return optimized + n_down * down + 2 * plain + w + 1


def _images(n, resolution, channels, seed=0):
    rng = np.random.default_rng(seed)
    return rng.uniform(-1, 1, size=(n, resolution, resolution, channels)).astype("float32")


@pytest.mark.parametrize("resolution", [16, 32, 64, 128])
@pytest.mark.parametrize("channels", [1, 3])
def test_shapes_and_parameter_counts(resolution, channels):
    g = resnet_generator(latent_dim=10, resolution=resolution, channels=channels, width=WIDTH)
    d = resnet_discriminator(resolution, channels, width=WIDTH, norm="none")
    # Large z drives the output into saturation: tanh must still keep it in [-1, 1].
    z = 100 * np.random.default_rng(0).normal(size=(2, 10)).astype("float32")
    images = np.asarray(g(z))
    assert images.shape == (2, resolution, resolution, channels)
    assert np.all(np.abs(images) <= 1.0) and np.abs(images).max() > 0.5
    assert d(images).shape == (2, 1)
    assert g.count_params() == _expected_generator_params(10, resolution, channels, WIDTH)
    assert d.count_params() == _expected_discriminator_params(resolution, channels, WIDTH)
    assert g.name == "resnet_generator" and d.name == "resnet_discriminator"
    assert g.input.name == "z" and g.layers[-1].name == "images"
    assert d.layers[-1].name == "logits"
    assert g.layers[-1].dtype_policy.compute_dtype == "float32"


def test_block_layout_follows_table_4():
    g = resnet_generator(resolution=32, width=WIDTH)
    # Three up blocks take 4x4 to 32x32 by nearest-neighbour upsampling, twice each
    # (residual branch and shortcut).
    ups = [layer for layer in g.layers if isinstance(layer, keras.layers.UpSampling2D)]
    assert len(ups) == 6 and all(layer.interpolation == "nearest" for layer in ups)
    assert g.layers[-2].output.shape[1:] == (32, 32, 3) and g.layers[-1].activation.__name__ == "tanh"

    d = resnet_discriminator(resolution=32, width=WIDTH, norm="none")
    # Two down blocks (16x16, 8x8), each pooling both branches, then two 8x8 blocks.
    pools = [layer for layer in d.layers if isinstance(layer, keras.layers.AveragePooling2D)]
    assert [layer.output.shape[1] for layer in pools] == [16, 16, 8, 8]
    adds = [layer for layer in d.layers if isinstance(layer, keras.layers.Add)]
    assert [layer.output.shape[1] for layer in adds] == [16, 8, 8, 8]
    # No activation between the raw image and the first convolution.
    assert isinstance(d.layers[1], keras.layers.Conv2D) and d.layers[1].input is d.input
    assert isinstance(d.layers[-4], keras.layers.ReLU)
    assert isinstance(d.layers[-3], GlobalSumPooling2D)


def test_global_sum_pooling_sums_height_and_width():
    x = _images(2, 3, 5)
    np.testing.assert_allclose(np.asarray(GlobalSumPooling2D()(x)), x.sum(axis=(1, 2)), rtol=1e-6)


def test_spectral_norm_wraps_every_conv_and_dense():
    d = resnet_discriminator(32, 3, width=WIDTH, norm="spectral")
    wrapped = [layer for layer in d.layers if isinstance(layer, SpectralNormalization)]
    # optimized (3 convs) + down (3) + two plain blocks (2 each) + dense.
    assert len(wrapped) == 3 + 3 + 4 + 1
    assert not any(isinstance(layer, (keras.layers.Conv2D, keras.layers.Dense)) for layer in d.layers)
    assert not any("Normalization" in type(layer).__name__ and not isinstance(layer, SpectralNormalization)
                   for layer in d.layers)
    kinds = [type(layer.layer).__name__ for layer in wrapped]
    assert kinds.count("Conv2D") == 10 and kinds[-1] == "Dense"


@pytest.mark.parametrize("norm, cls", [("batch", keras.layers.BatchNormalization),
                                       ("layer", keras.layers.GroupNormalization)])
def test_normalization_before_every_residual_relu(norm, cls):
    d = resnet_discriminator(32, 3, width=WIDTH, norm=norm)
    norms = [layer for layer in d.layers if isinstance(layer, cls)]
    # Two per block after the optimized one (down + two plain), none in the optimized block.
    assert len(norms) == 6
    relu_inputs = [layer.input for layer in d.layers if isinstance(layer, keras.layers.ReLU)]
    assert all(any(layer.output is x for x in relu_inputs) for layer in norms)
    assert not any(isinstance(layer, SpectralNormalization) for layer in d.layers)


def test_layer_norm_keeps_examples_independent_and_batch_norm_does_not():
    """WGAN-GP's reason for layer norm: D(x_i) must not depend on the rest of the batch."""
    x = _images(4, 16, 3)
    for norm, independent in (("layer", True), ("batch", False)):
        d = resnet_discriminator(16, 3, width=WIDTH, norm=norm, seed=1)
        full = np.asarray(d(x, training=True))[:2]
        half = np.asarray(d(x[:2], training=True))
        assert np.allclose(full, half, rtol=1e-4, atol=1e-5) == independent


def test_layer_norm_matches_numpy_over_h_w_c():
    d = resnet_discriminator(16, 3, width=WIDTH, norm="layer")
    layer = next(layer for layer in d.layers if isinstance(layer, keras.layers.GroupNormalization))
    x = _images(2, 8, WIDTH)
    mean = x.mean(axis=(1, 2, 3), keepdims=True)
    var = x.var(axis=(1, 2, 3), keepdims=True)
    np.testing.assert_allclose(np.asarray(layer(x)), (x - mean) / np.sqrt(var + 1e-5), atol=1e-5)
    assert layer.gamma.shape == (WIDTH,)  # one scale per channel, as in Gulrajani et al.'s code


def test_seeded_weights_repeat_and_differ_between_layers():
    a = resnet_discriminator(16, 1, width=WIDTH, norm="none", seed=3)
    b = resnet_discriminator(16, 1, width=WIDTH, norm="none", seed=3)
    for va, vb in zip(a.weights, b.weights):
        np.testing.assert_array_equal(np.asarray(va), np.asarray(vb))
    # The two 3x3 convs of an 8x8 block share a shape but must not share initial weights.
    convs = [layer.kernel for layer in a.layers
             if isinstance(layer, keras.layers.Conv2D) and layer.kernel.shape == (3, 3, WIDTH, WIDTH)]
    assert len(convs) >= 2 and not np.allclose(np.asarray(convs[-1]), np.asarray(convs[-2]))
    # Residual convs: Glorot uniform with gain sqrt(2), limit sqrt(2) * sqrt(6 / (fan_in + fan_out)).
    limit = math.sqrt(2) * math.sqrt(6 / (2 * 9 * WIDTH))
    kernel = np.asarray(convs[-1])
    assert np.abs(kernel).max() <= limit and np.abs(kernel).max() > 0.9 * limit


def test_bad_arguments_are_user_errors():
    with pytest.raises(UserInputError, match="16, 32, 64, 128"):
        resnet_generator(resolution=48)
    with pytest.raises(UserInputError, match="16, 32, 64, 128"):
        resnet_discriminator(resolution=8)
    with pytest.raises(UserInputError, match="norm"):
        resnet_discriminator(32, norm="instance")
    with pytest.raises(UserInputError, match="channels"):
        resnet_generator(channels=0)


def test_keras_round_trip_gives_identical_outputs(tmp_path):
    g = resnet_generator(latent_dim=6, resolution=16, channels=3, width=WIDTH, seed=0)
    d = resnet_discriminator(16, 3, width=WIDTH, norm="spectral", seed=0)
    z = np.random.default_rng(1).normal(size=(3, 6)).astype("float32")
    # Training calls move the BN statistics and the power-iteration vectors u off their
    # initial values, so the round trip must carry that state.
    g(z, training=True)
    d(_images(3, 16, 3), training=True)
    images = np.asarray(g(z, training=False))
    logits = np.asarray(d(images, training=False))
    g.save(tmp_path / "g.keras")
    d.save(tmp_path / "d.keras")
    g2 = keras.models.load_model(tmp_path / "g.keras")
    d2 = keras.models.load_model(tmp_path / "d.keras")
    np.testing.assert_array_equal(np.asarray(g2(z, training=False)), images)
    np.testing.assert_array_equal(np.asarray(d2(images, training=False)), logits)
    assert sum(isinstance(layer, SpectralNormalization) for layer in d2.layers) == 3 + 4 + 1


def test_gan_train_step_with_hinge_loss():
    from gan_apps.gan import GAN

    g = resnet_generator(latent_dim=8, resolution=16, channels=1, width=WIDTH, seed=0)
    d = resnet_discriminator(16, 1, width=WIDTH, norm="spectral", seed=0)
    gan = GAN(g, d, objective="hinge", seed=0)
    gan.compile(g_optimizer=keras.optimizers.Adam(2e-4, 0.0, 0.9),
                d_optimizer=keras.optimizers.Adam(2e-4, 0.0, 0.9))
    before = [np.asarray(v) for v in d.trainable_weights]
    logs = gan.fit(_images(16, 16, 1), batch_size=8, epochs=1, verbose=0).history
    assert np.isfinite(logs["d_loss"][0]) and np.isfinite(logs["g_loss"][0])
    assert any(not np.allclose(a, np.asarray(b)) for a, b in zip(before, d.trainable_weights))
