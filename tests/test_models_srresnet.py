"""SRResNet / SRGAN: pixel shuffle, shapes, the SRGAN losses, VGG54 path, saving."""

import os

import keras
import numpy as np
import pytest
import tensorflow as tf

from gan_apps import degradations, objectives
from gan_apps.errors import UserInputError
from gan_apps.models import srresnet


def numpy_pixel_shuffle(x, r):
    """out[b, h r + i, w r + j, c] = in[b, h, w, (i r + j) C + c], written with loops."""
    b, h, w, depth = x.shape
    c = depth // (r * r)
    out = np.zeros((b, h * r, w * r, c), x.dtype)
    for hh in range(h):
        for ww in range(w):
            for i in range(r):
                for j in range(r):
                    out[:, hh * r + i, ww * r + j, :] = x[:, hh, ww, (i * r + j) * c:(i * r + j + 1) * c]
    return out


@pytest.mark.parametrize("r,c", [(2, 3), (3, 1), (4, 2)])
def test_pixel_shuffle_matches_numpy(r, c):
    x = np.random.default_rng(r).normal(size=(2, 3, 5, c * r * r)).astype(np.float32)
    layer = srresnet.PixelShuffle(r)
    out = np.asarray(layer(x))
    assert out.shape == (2, 3 * r, 5 * r, c)
    assert layer.compute_output_shape((None, 3, None, c * r * r)) == (None, 3 * r, None, c)
    np.testing.assert_array_equal(out, numpy_pixel_shuffle(x, r))


@pytest.mark.parametrize("scale,channels", [(2, 3), (3, 1), (4, 3)])
def test_generator_upscales_any_size(scale, channels):
    generator = srresnet.srresnet_generator(scale, channels, num_blocks=2, filters=8)
    for h, w in ((5, 7), (12, 9)):
        out = generator(np.zeros((1, h, w, channels), np.float32))
        assert out.shape == (1, h * scale, w * scale, channels)
    shuffles = [layer for layer in generator.layers if isinstance(layer, srresnet.PixelShuffle)]
    assert [layer.block_size for layer in shuffles] == list(srresnet.upsample_factors(scale))


def test_paper_sizes():
    generator = srresnet.srresnet_generator(4)
    blocks = [layer for layer in generator.layers if layer.name.endswith("_add")]
    assert len(blocks) == 16
    assert generator.get_layer("head_conv").kernel.shape == (9, 9, 3, 64)
    discriminator = srresnet.srgan_discriminator(96)
    convs = [layer for layer in discriminator.layers if isinstance(layer, keras.layers.Conv2D)]
    assert [layer.filters for layer in convs] == list(srresnet.DISCRIMINATOR_WIDTHS)
    assert [layer.strides[0] for layer in convs] == [1, 2] * 4
    assert discriminator.get_layer("dense").units == 1024
    assert discriminator.output.shape == (None, 1)


def test_bad_arguments():
    with pytest.raises(UserInputError, match="--scale 2, 3 or 4"):
        srresnet.srresnet_generator(8)
    with pytest.raises(UserInputError, match="channels must be 1 or 3"):
        srresnet.srresnet_generator(2, channels=4)
    with pytest.raises(UserInputError, match="VGG19 weights file"):
        srresnet.SRGAN(srresnet.srresnet_generator(2, 3, 1, 4), content="vgg54",
                       vgg_weights="/nonexistent/vgg19.h5")


def _tiny_srgan(**kwargs):
    keras.utils.set_random_seed(0)
    generator = srresnet.srresnet_generator(2, 3, num_blocks=1, filters=8)
    discriminator = srresnet.srgan_discriminator(16, 3, filters=8, dense_units=16)
    model = srresnet.SRGAN(generator, discriminator, **kwargs)
    model.compile(g_optimizer=keras.optimizers.Adam(1e-4), d_optimizer=keras.optimizers.Adam(1e-4))
    return model


def test_generator_loss_is_content_plus_weighted_adversarial():
    model = _tiny_srgan(objective="least_squares", adversarial_weight=1e-3)
    rng = np.random.default_rng(0)
    lr = rng.uniform(-1, 1, size=(4, 8, 8, 3)).astype(np.float32)
    hr = rng.uniform(-1, 1, size=(4, 16, 16, 3)).astype(np.float32)
    sr = np.asarray(model.generator(lr, training=True))
    logits = np.asarray(model.discriminator(sr, training=True))
    content = float(model.content_loss(hr, sr))
    np.testing.assert_allclose(content, np.mean((hr - sr) ** 2), rtol=1e-5)
    lsgan = objectives.get("least_squares")
    np.testing.assert_allclose(float(lsgan.g_loss(logits)), 0.5 * np.mean((logits - 1) ** 2), rtol=1e-5)

    logs = model.train_on_batch(lr, hr, return_dict=True)
    assert set(logs) >= {"content_loss", "g_loss", "d_loss", "d_real", "d_fake", "psnr"}
    assert all(np.isfinite(v) for v in logs.values())


def test_srresnet_phase_trains_content_only_and_lowers_it():
    keras.utils.set_random_seed(0)
    model = srresnet.SRGAN(srresnet.srresnet_generator(2, 1, num_blocks=1, filters=8, batch_norm=False))
    model.compile(g_optimizer=keras.optimizers.Adam(2e-3))
    hr = np.tile(np.linspace(-1, 1, 16, dtype=np.float32), (8, 16, 1))[..., None]
    lr = hr[:, ::2, ::2]
    first = model.train_on_batch(lr, hr, return_dict=True)["content_loss"]
    for _ in range(30):
        last = model.train_on_batch(lr, hr, return_dict=True)["content_loss"]
    assert "d_loss" not in model.train_on_batch(lr, hr, return_dict=True)
    assert last < 0.5 * first
    assert set(model.checkpoint_items()) == {"generator", "g_optimizer"}


def test_vgg54_content_loss_with_random_weights_file(tmp_path):
    # RANDOM VGG19 weights saved to a local file: tests the loading and loss path only.
    path = os.path.join(tmp_path, "vgg19_random_notop.weights.h5")
    keras.applications.VGG19(weights=None, include_top=False, input_shape=(None, None, 3)).save_weights(path)
    generator = srresnet.srresnet_generator(2, 1, num_blocks=1, filters=4)
    model = srresnet.SRGAN(generator, content="vgg54", vgg_weights=path)
    rng = np.random.default_rng(0)
    hr = rng.uniform(-1, 1, size=(2, 32, 32, 1)).astype(np.float32)
    sr = rng.uniform(-1, 1, size=(2, 32, 32, 1)).astype(np.float32)
    rgb = lambda x: np.repeat(x, 3, axis=-1)[..., ::-1] * 127.5 + 127.5 - np.array(srresnet.VGG_BGR_MEAN)  # noqa: E731
    features = lambda x: np.asarray(model.vgg(rgb(x).astype(np.float32))) / 12.75  # noqa: E731
    expected = np.mean((features(hr) - features(sr)) ** 2)
    np.testing.assert_allclose(float(model.content_loss(hr, sr)), expected, rtol=1e-4)
    assert float(model.content_loss(hr, hr)) == 0.0


def test_keras_round_trip(tmp_path):
    model = _tiny_srgan(objective="hinge", adversarial_weight=5e-3)
    lr = np.random.default_rng(1).uniform(-1, 1, size=(1, 6, 6, 3)).astype(np.float32)
    path = os.path.join(tmp_path, "srgan.keras")
    model.save(path)
    loaded = keras.models.load_model(path)
    assert isinstance(loaded, srresnet.SRGAN)
    assert loaded.objective_name == "hinge" and loaded.adversarial_weight == 5e-3
    np.testing.assert_allclose(np.asarray(loaded(lr)), np.asarray(model(lr)), atol=1e-6)
    generator_path = os.path.join(tmp_path, "generator.keras")
    model.generator.save(generator_path)
    restored = keras.models.load_model(generator_path)
    np.testing.assert_allclose(np.asarray(restored(lr)), np.asarray(model.generator(lr)), atol=1e-6)
    assert isinstance(tf.convert_to_tensor(restored(lr)), tf.Tensor)


# --- the bicubic-residual network (the default) -------------------------------------------


@pytest.mark.parametrize("scale", [2, 3, 4])
def test_bicubic_layer_equals_matlab_imresize_on_float_input(scale):
    x = np.random.default_rng(scale).uniform(-1, 1, (2, 7, 9, 3))
    got = np.asarray(srresnet.BicubicUpsample(scale)(x.astype(np.float32)))
    expected = np.stack([degradations.upscale(image, scale) for image in x])
    assert got.shape == (2, 7 * scale, 9 * scale, 3)
    np.testing.assert_allclose(got, expected, atol=1e-5)


@pytest.mark.parametrize("scale", [2, 4])
def test_untrained_residual_network_is_bicubic(scale):
    keras.utils.set_random_seed(0)
    generator = srresnet.residual_generator(scale, 3, num_blocks=2, filters=8)
    lr = np.random.default_rng(1).uniform(-1, 1, (1, 10, 12, 3))
    np.testing.assert_allclose(np.asarray(generator(lr.astype(np.float32)))[0],
                               degradations.upscale(lr[0], scale), atol=1e-5)


def test_icnr_sub_pixel_phases_are_equal_at_initialisation():
    keras.utils.set_random_seed(0)
    generator = srresnet.residual_generator(4, 3, num_blocks=1, filters=8)
    shuffled = keras.Model(generator.inputs, generator.get_layer("up_shuffle").output)
    out = np.asarray(shuffled(np.random.default_rng(0).uniform(-1, 1, (1, 6, 6, 3)).astype(np.float32)))[0]
    phases = [out[i::4, j::4] for i in range(4) for j in range(4)]
    assert np.abs(phases[0]).mean() > 0.01  # not trivially zero
    for phase in phases[1:]:
        np.testing.assert_allclose(phase, phases[0], atol=1e-6)
    # The kernel itself: phase m's output channels (m C + c) repeat phase 0's.
    kernel = srresnet.ICNR(4)((3, 3, 8, 48)).numpy()
    np.testing.assert_array_equal(kernel[..., :3], kernel[..., 45:])


def test_residual_network_learns_and_round_trips(tmp_path):
    keras.utils.set_random_seed(0)
    model = srresnet.build_srgan(scale=2, channels=3, blocks=1, filters=8, batch_norm=False,
                                 network="residual", pixel_loss="l1", learning_rate=1e-3,
                                 decay_steps=10)
    lr = np.random.default_rng(0).uniform(-1, 1, (4, 8, 8, 3)).astype(np.float32)
    hr = np.random.default_rng(1).uniform(-1, 1, (4, 16, 16, 3)).astype(np.float32)
    model.fit(lr, hr, epochs=1, batch_size=4, verbose=0)
    assert float(model.generator.get_layer("gate").gate.numpy()) != 0.0
    path = str(tmp_path / "g.keras")
    model.generator.save(path)
    loaded = keras.models.load_model(path)
    np.testing.assert_allclose(loaded(lr), model.generator(lr), atol=1e-6)
    assert srresnet.generator_radius(loaded) == srresnet.receptive_radius(2, 1, "residual") == 5


def test_pixel_losses_against_hand_values():
    hr, sr = np.zeros((1, 2, 2, 1), np.float32), np.array([0.5, -1.5, 0.0, 1.0], np.float32).reshape(1, 2, 2, 1)
    assert float(srresnet.pixel_loss(hr, sr, "l1")) == pytest.approx(0.75)
    assert float(srresnet.pixel_loss(hr, sr, "mse")) == pytest.approx((0.25 + 2.25 + 1.0) / 4)
    with pytest.raises(UserInputError, match="pixel loss"):
        srresnet.pixel_loss(hr, sr, "l2")
