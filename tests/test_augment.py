"""DiffAugment and PacGAN packing (issue 20): hand-built cases for each transformation and
for packing, gradients through the augmentation, the same policy on real and fake, and the
models and options that take or refuse them."""

import numpy as np
import pytest
import tensorflow as tf
import keras

from gan_apps import augment
from gan_apps.errors import UserInputError
from gan_apps.gan import GAN
from gan_apps.models import presets

PAPER = augment.parse_policy(augment.PAPER_POLICY)


def images(batch=2, size=4, channels=1):
    return tf.constant(np.arange(batch * size * size * channels, dtype=np.float32)
                       .reshape(batch, size, size, channels))


def test_translation_by_a_known_shift_moves_the_content_and_fills_zeros():
    x = images()
    out = augment.translate(x, tf.constant([1, 0]), tf.constant([-1, 2])).numpy()[..., 0]
    a, b = x.numpy()[..., 0]
    expected_a = np.zeros((4, 4), np.float32)
    expected_a[:3, 1:] = a[1:, :3]  # out[i, j] = x[i + 1, j - 1]
    expected_b = np.zeros((4, 4), np.float32)
    expected_b[:, :2] = b[:, 2:]  # out[i, j] = x[i, j + 2]
    np.testing.assert_array_equal(out[0], expected_a)
    np.testing.assert_array_equal(out[1], expected_b)
    # No shift is the identity.
    np.testing.assert_array_equal(augment.translate(x, tf.zeros(2, tf.int32),
                                                    tf.zeros(2, tf.int32)), x)


def test_cutout_zeroes_the_square_around_its_centre_clipped_at_the_border():
    out = augment.cutout(tf.ones([2, 4, 4, 1]), tf.constant([0, 2]), tf.constant([3, 2]),
                         (2, 2)).numpy()[..., 0]
    expected = np.ones((2, 4, 4), np.float32)
    expected[0, 0, 2:] = 0  # rows -1..0, columns 2..3
    expected[1, 1:3, 1:3] = 0  # rows 1..2, columns 1..2
    np.testing.assert_array_equal(out, expected)


def test_colour_transformations_on_a_hand_case():
    x = tf.constant([[[[0.0, 0.5, 1.0]]], [[[-1.0, -1.0, 1.0]]]])  # two 1x1 RGB images
    shift = tf.constant([0.25, -0.5])[:, None, None, None]
    np.testing.assert_allclose(augment.brightness(x, shift),
                               [[[[0.25, 0.75, 1.25]]], [[[-1.5, -1.5, 0.5]]]])
    factor = tf.constant([0.0, 2.0])[:, None, None, None]
    # Saturation 0 makes a pixel grey (its channel mean); 2 doubles its distance from it.
    np.testing.assert_allclose(augment.saturation(x, factor),
                               [[[[0.5, 0.5, 0.5]]], [[[-5 / 3, -5 / 3, 7 / 3]]]], rtol=1e-6)
    flat = tf.constant([[[[0.0], [1.0]]]])  # one 1x2 grey image, mean 0.5
    np.testing.assert_allclose(augment.contrast(flat, tf.constant([1.5])[:, None, None, None]),
                               [[[[-0.25], [1.25]]]])


def test_the_policy_is_differentiable_with_a_nonzero_gradient():
    x = tf.Variable(tf.random.stateless_normal([4, 16, 16, 1], seed=[1, 2]))
    with tf.GradientTape() as tape:
        y = augment.diff_augment(x, PAPER, keras.random.SeedGenerator(3))
        loss = tf.reduce_sum(y * y)
    grad = tape.gradient(loss, x).numpy()
    assert np.all(np.isfinite(grad))
    assert all(np.abs(grad[i]).sum() > 0 for i in range(4))  # every example gets some
    # Without colour (whose image means couple every pixel), the pixels that translation
    # and cutout leave in view get d(sum y^2)/dx = 2 x, the others none.
    with tf.GradientTape() as tape:
        y = augment.diff_augment(x, ("translation", "cutout"), keras.random.SeedGenerator(3))
        loss = tf.reduce_sum(y * y)
    grad = tape.gradient(loss, x).numpy()
    seen = grad != 0
    assert 0 < seen.mean() < 1
    np.testing.assert_allclose(grad[seen], 2 * x.numpy()[seen], rtol=1e-6)
    assert np.sum(y.numpy() ** 2) == pytest.approx(np.sum(x.numpy()[seen] ** 2), rel=1e-5)


def test_a_fixed_seed_gives_a_fixed_output_and_each_call_draws_afresh():
    x = tf.random.stateless_normal([4, 16, 16, 3], seed=[4, 5])
    first = augment.diff_augment(x, PAPER, keras.random.SeedGenerator(7))
    again = augment.diff_augment(x, PAPER, keras.random.SeedGenerator(7))
    np.testing.assert_array_equal(first, again)
    generator = keras.random.SeedGenerator(7)
    one = augment.diff_augment(x, PAPER, generator)
    two = augment.diff_augment(x, PAPER, generator)
    assert not np.allclose(one, two)
    assert not np.allclose(first, x)
    np.testing.assert_array_equal(augment.diff_augment(x, (), generator), x)  # off


def test_random_shifts_stay_within_an_eighth_of_the_size():
    x = tf.ones([64, 16, 16, 1])
    out = augment.diff_augment(x, ("translation",), keras.random.SeedGenerator(0)).numpy()
    zero_rows = (out[..., 0] == 0).all(axis=2).sum(axis=1)
    zero_cols = (out[..., 0] == 0).all(axis=1).sum(axis=1)
    assert zero_rows.max() == 2 and zero_cols.max() == 2  # 16 // 8 = 2 pixels at most
    assert (zero_rows == 0).any() and len(set(zero_rows)) == 3  # shifts 0, 1, 2 drawn


def test_policy_names_are_checked():
    assert augment.parse_policy("color, cutout") == ("color", "cutout")
    assert augment.parse_policy(None) == ()
    for bad in ("colour", "color,color", ","):
        with pytest.raises(UserInputError, match="color, translation, cutout"):
            augment.parse_policy(bad)


def test_packing_concatenates_k_consecutive_examples_along_the_channels():
    x = images(batch=4, size=2, channels=2)  # example e, pixel p, channel c: 8 e + 2 p + c
    packed = augment.pack(x, 2).numpy()
    assert packed.shape == (2, 2, 2, 4)
    for j in range(2):
        for i in range(2):  # channels 2 i, 2 i + 1 of pack j are example 2 j + i
            np.testing.assert_array_equal(packed[j, ..., 2 * i:2 * i + 2], x[2 * j + i])
    points = tf.constant(np.arange(12).reshape(6, 2))
    np.testing.assert_array_equal(augment.pack(points, 3), [[0, 1, 2, 3, 4, 5],
                                                            [6, 7, 8, 9, 10, 11]])
    assert augment.pack(x, 1) is x  # k = 1: the plain GAN, untouched
    with pytest.raises(UserInputError, match="divisible by 3"):
        augment.pack(x, 3)


def _tiny(name="dcgan", data_kind="image", **options):
    return presets.build_gan(name, data_kind=data_kind, resolution=8, channels=1, width=8,
                             latent_dim=4, seed=0, **options)


def test_a_packed_discriminator_takes_k_times_the_channels_and_a_tiny_fit_runs():
    gan = _tiny(pack=2)
    assert gan.discriminator.input_shape == (None, 8, 8, 2)
    assert gan.generator.output_shape == (None, 8, 8, 1)
    data = tf.data.Dataset.from_tensor_slices(
        tf.random.stateless_uniform([32, 8, 8, 1], [0, 1], -1, 1)).batch(8, drop_remainder=True)
    history = gan.fit(data, epochs=1, verbose=0, shuffle=False)
    assert np.isfinite(history.history["d_loss"][-1])
    points = _tiny("wgan_gp", data_kind="points", pack=4)  # the gradient penalty sees packs
    assert points.discriminator.input_shape == (None, 8)
    data = tf.data.Dataset.from_tensor_slices(tf.random.stateless_normal([320, 2], [0, 2]))
    history = points.fit(data.batch(40, drop_remainder=True), epochs=1, verbose=0,
                         shuffle=False)  # n_critic 5 chunks of 8 points: 2 packs each
    assert np.isfinite(history.history["gradient_penalty"][-1])
    config = points.get_config()
    assert config["pack"] == 4 and GAN.from_config(config).pack == 4


def test_the_discriminator_sees_real_and_fake_through_the_same_policy(monkeypatch):
    gan = _tiny(augment="translation,cutout", pack=2)
    seen = []
    original = augment.diff_augment

    def recording(x, policy, seed_generator):
        seen.append((int(x.shape[0]), policy))
        return original(x, policy, seed_generator)

    monkeypatch.setattr(augment, "diff_augment", recording)
    shapes = []
    monkeypatch.setattr(gan, "discriminator_outputs",
                        lambda x, c, training=True: (shapes.append(x.shape) or
                                                     gan.discriminator(x), None))
    gan.discriminator_step(tf.zeros([4, 8, 8, 1]))
    gan.generator_step(4)
    # D's update: the reals, then the fakes; G's update: its fakes. One policy for all.
    assert seen == [(4, ("translation", "cutout"))] * 3
    assert [tuple(s) for s in shapes] == [(2, 8, 8, 2)] * 3  # augmented, then packed
    assert gan.get_config()["augment"] == "translation,cutout"


def test_the_generator_gradient_passes_through_the_augmentation():
    gan = _tiny(augment=augment.PAPER_POLICY)
    with tf.GradientTape() as tape:
        fake = gan.generator(gan.sample_latent(4), training=True)
        loss = gan.objective.g_loss(gan.discriminator(gan.discriminator_view(fake)))
    grads = tape.gradient(loss, gan.generator.trainable_variables)
    assert all(g is not None for g in grads)
    assert sum(float(tf.reduce_sum(tf.abs(g))) for g in grads) > 0


def test_models_whose_steps_would_ignore_them_refuse_pack_and_augment():
    with pytest.raises(UserInputError, match="--pack is available for the presets"):
        presets.build_model("acgan", resolution=8, num_classes=10, width=8, pack=2)
    with pytest.raises(UserInputError, match="--augment is not available for mmd"):
        presets.build_model("mmdgan", resolution=8, width=8, augment="color")
    with pytest.raises(UserInputError, match="--augment is not available for unrolled"):
        presets.build_model("unrolled", resolution=8, width=8, augment="color")
    with pytest.raises(UserInputError, match="2-D data"):
        _tiny(data_kind="points", augment="color").discriminator_step(tf.zeros([4, 2]))
    # AC-GAN's steps are GAN's: augmentation applies to it.
    acgan = presets.build_model("acgan", resolution=8, num_classes=10, width=8,
                                augment="cutout")
    assert acgan.augment_policy == ("cutout",)


def test_train_refuses_a_batch_the_packs_do_not_divide_and_augmenting_points(tmp_path, capsys):
    from gan_apps.cli import main

    out = str(tmp_path / "run")
    assert main(["train", "--data", "ring8", "--pack", "3", "--out", out]) == 2
    assert "--pack 3 needs a batch size divisible by 3; --batch-size is 256" in \
        capsys.readouterr().err
    assert main(["train", "--data", "ring8", "--augment", "color", "--out", out]) == 2
    assert "--augment (DiffAugment) transforms images" in capsys.readouterr().err
    assert main(["train", "--augment", "colour", "--out", out]) == 2
    assert "color, translation, cutout" in capsys.readouterr().err
