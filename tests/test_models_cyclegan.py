"""Tests for models/cyclegan.py: networks, image pool, losses on the right pairs, schedule, training."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from gan_apps.models import cyclegan


def _images(shape, seed=0):
    return np.random.default_rng(seed).uniform(-1, 1, shape).astype(np.float32)


def test_reflection_padding_matches_numpy():
    x = _images((2, 5, 6, 3))
    out = cyclegan.ReflectionPadding2D(2)(x)
    np.testing.assert_array_equal(out, np.pad(x, [(0, 0), (2, 2), (2, 2), (0, 0)], mode="reflect"))


@pytest.mark.parametrize("blocks", [1, 2])
def test_generator_keeps_size_and_range(blocks):
    generator = cyclegan.resnet_generator(3, ngf=4, n_blocks=blocks, seed=0)
    residuals = [layer for layer in generator.layers if isinstance(layer, keras.layers.Add)]
    assert len(residuals) == blocks
    for height, width in ((32, 32), (40, 24)):
        out = np.asarray(generator(_images((1, height, width, 3))))
        assert out.shape == (1, height, width, 3) and np.abs(out).max() <= 1


def test_translate_pads_odd_sizes_and_crops_back():
    generator = cyclegan.resnet_generator(1, ngf=4, n_blocks=1, seed=0)
    for height, width in ((13, 21), (9, 8), (30, 17)):
        assert cyclegan.translate(generator, _images((2, height, width, 1))).shape == (2, height, width, 1)
    # On a multiple of the stride the padding is a no-op.
    x = _images((1, 16, 20, 1))
    np.testing.assert_allclose(cyclegan.translate(generator, x), generator(x), atol=1e-6)


def _receptive_field(model):
    field, stride = 1, 1
    for layer in model.layers:
        if isinstance(layer, keras.layers.Conv2D):
            field += (layer.kernel_size[0] - 1) * stride
            stride *= layer.strides[0]
    return field


def test_patchgan_sees_70x70_patches():
    discriminator = cyclegan.patchgan_discriminator(3, ndf=4, seed=0)
    assert _receptive_field(discriminator) == 70
    # Padding 1 with 4x4 convolutions: 256 -> 128 -> 64 -> 32 -> 31 -> 30 (the paper's 30x30).
    assert discriminator(_images((1, 256, 256, 3))).shape == (1, 30, 30, 1)
    assert discriminator(_images((1, 32, 32, 3))).shape == (1, 2, 2, 1)


def test_pool_stores_and_returns_new_images_until_full():
    pool = cyclegan.ImagePool(4, (2, 2, 1))
    seeds = keras.random.SeedGenerator(0)
    batch = _images((3, 2, 2, 1))
    np.testing.assert_array_equal(pool.query(batch, seeds), batch)
    assert int(pool.count.numpy()) == 3
    np.testing.assert_array_equal(pool.images.numpy()[:3], batch)
    second = _images((2, 2, 2, 1), seed=1)
    # One slot left: the first image fills it and is returned as is.
    out = pool.query(second, seeds)
    np.testing.assert_array_equal(out[0], second[0])
    np.testing.assert_array_equal(pool.images.numpy()[3], second[0])
    assert int(pool.count.numpy()) == 4


def test_full_pool_returns_half_old_half_new():
    size, queries = 10, 300
    pool = cyclegan.ImagePool(size, (1, 1, 1))
    seeds = keras.random.SeedGenerator(1)
    pool.query(-np.arange(1, size + 1, dtype=np.float32).reshape(size, 1, 1, 1), seeds)
    old = 0
    for i in range(queries):
        new = np.full((1, 1, 1, 1), i + 1, np.float32)
        before = set(pool.images.numpy().ravel().tolist())
        returned = float(pool.query(new, seeds).numpy().ravel()[0])
        after = set(pool.images.numpy().ravel().tolist())
        if returned == i + 1:
            assert after == before  # the new image went straight through
        else:
            old += 1
            assert returned in before  # a stored image came out...
            assert after == (before - {returned}) | {i + 1.0}  # ...and the new one took its slot
    # Binomial(300, 0.5): mean 150, standard deviation 8.7; 5 sigma either side.
    assert 107 < old < 193


def test_pool_of_size_zero_passes_through():
    pool = cyclegan.ImagePool(0, (2, 2, 1))
    batch = _images((2, 2, 2, 1))
    np.testing.assert_array_equal(pool.query(batch, keras.random.SeedGenerator(0)), batch)


def test_linear_decay_schedule():
    schedule = cyclegan.LinearDecay(2e-4, constant_steps=10, decay_steps=5)
    rates = [float(schedule(step)) for step in (0, 9, 10, 11, 13, 15, 30)]
    np.testing.assert_allclose(rates, [2e-4, 2e-4, 2e-4, 1.6e-4, 0.8e-4, 0.0, 0.0], rtol=1e-6)
    restored = cyclegan.LinearDecay.from_config(schedule.get_config())
    assert float(restored(12)) == pytest.approx(1.2e-4)
    assert float(cyclegan.LinearDecay(1e-3)(1000)) == pytest.approx(1e-3)


def _scaling_model(scale, offset, name):
    inputs = keras.Input((None, None, 1))
    return keras.Model(inputs, keras.layers.Rescaling(scale, offset)(inputs), name=name)


def test_cycle_and_identity_losses_use_the_right_pairs():
    # G(x) = 0.5 x and F(x) = x + 0.25 differ, so a swapped pair gives other numbers.
    # D_A(x) = 2x and D_B(x) = -x are 1x1 "discriminators" with known outputs.
    model = cyclegan.CycleGAN(
        _scaling_model(0.5, 0.0, "g"), _scaling_model(1.0, 0.25, "f"),
        _scaling_model(2.0, 0.0, "d_a"), _scaling_model(-1.0, 0.0, "d_b"),
        image_shape=(4, 4, 1),
    )
    a, b = _images((2, 4, 4, 1), 0), _images((2, 4, 4, 1), 1)
    terms, fake_a, fake_b = model.generator_losses(a, b)
    g, f = (lambda x: 0.5 * x), (lambda x: x + 0.25)
    expected = {
        "cycle_a": np.abs(f(g(a)) - a).mean(),
        "cycle_b": np.abs(g(f(b)) - b).mean(),
        "identity_a": np.abs(f(a) - a).mean(),  # F: B -> A must leave an A image alone
        "identity_b": np.abs(g(b) - b).mean(),  # G: A -> B must leave a B image alone
        # Least squares (Mao et al. eq. 2): 1/2 E[(D(fake) - 1)^2].
        "gan_ab": 0.5 * ((-g(a) - 1) ** 2).mean(),
        "gan_ba": 0.5 * ((2 * f(b) - 1) ** 2).mean(),
    }
    for name, value in expected.items():
        assert float(terms[name]) == pytest.approx(value, rel=1e-5), name
    np.testing.assert_allclose(fake_b, g(a), atol=1e-6)
    np.testing.assert_allclose(fake_a, f(b), atol=1e-6)
    # Zhu et al. Sec. 4: E[(D(G(x)) - 1)^2] (twice Mao's), lambda 10, identity 0.5 lambda.
    total = (2 * (expected["gan_ab"] + expected["gan_ba"])
             + 10 * (expected["cycle_a"] + expected["cycle_b"])
             + 5 * (expected["identity_a"] + expected["identity_b"]))
    assert float(model.total_generator_loss(terms)) == pytest.approx(total, rel=1e-5)
    no_identity = cyclegan.CycleGAN(*model.networks().values(), identity_weight=0.0,
                                    image_shape=(4, 4, 1))
    assert "identity_a" not in no_identity.generator_losses(a, b)[0]


def _weights(network):
    return [w.numpy().copy() for w in network.trainable_weights]


def test_a_few_steps_move_every_loss_and_network():
    model = cyclegan.build_cyclegan(channels=3, crop_size=32, ngf=4, ndf=4, n_blocks=1,
                                    pool_size=2, seed=0)
    before = {name: _weights(net) for name, net in model.networks().items()}
    a, b = _images((2, 32, 32, 3), 0), _images((2, 32, 32, 3), 1)
    dataset = tf.data.Dataset.from_tensors((a, b)).repeat()
    history = model.fit(dataset, epochs=3, steps_per_epoch=2, verbose=0).history
    for name in ("g_loss", "gan_ab", "gan_ba", "cycle_a", "cycle_b", "identity_a",
                 "identity_b", "d_a_loss", "d_b_loss"):
        values = history[name]
        assert np.all(np.isfinite(values)) and values[0] != values[-1], name
    for name, net in model.networks().items():
        moved = [not np.array_equal(w0, w1) for w0, w1 in zip(before[name], _weights(net))]
        assert all(moved), name
    assert int(model.pool_a.count.numpy()) == 2 and int(model.g_optimizer.iterations.numpy()) == 6


def test_generator_average_is_the_moving_average_of_the_steps():
    # ema 0.5: the first step copies the weights (w1), the second averages (w1 + w2) / 2.
    model = cyclegan.build_cyclegan(channels=3, crop_size=32, ngf=4, ndf=4, n_blocks=1,
                                    generator="identity", pool_size=0, ema=0.5, seed=0)
    dataset = tf.data.Dataset.from_tensors((_images((2, 32, 32, 3), 0),
                                            _images((2, 32, 32, 3), 1))).repeat()
    steps = []
    for _ in range(2):
        model.fit(dataset, epochs=1, steps_per_epoch=1, verbose=0)
        steps.append(_weights(model.generator_ab) + _weights(model.generator_ba))
    assert not all(np.array_equal(w1, w2) for w1, w2 in zip(*steps))
    # The average lives in the generator optimizer's variables: the checkpoint holds it.
    assert any("average" in v.path for v in model.g_optimizer.variables)
    model.average_generators()
    for w1, w2, averaged in zip(*steps, _weights(model.generator_ab) + _weights(model.generator_ba)):
        np.testing.assert_allclose(averaged, (w1 + w2) / 2, rtol=1e-5, atol=1e-7)
    # Without EMA (the paper's recipe) averaging leaves the weights alone.
    plain = cyclegan.build_cyclegan(channels=3, crop_size=32, ngf=4, ndf=4, n_blocks=1, seed=0)
    before = _weights(plain.generator_ab)
    plain.average_generators()
    assert all(np.array_equal(w0, w1) for w0, w1 in zip(before, _weights(plain.generator_ab)))
    with pytest.raises(ValueError, match="EMA decay"):
        cyclegan.adam(1e-3, ema=1.0)


def test_cyclegan_config_round_trip_and_checkpoint_items(tmp_path):
    model = cyclegan.build_cyclegan(channels=1, crop_size=32, ngf=4, ndf=4, n_blocks=1,
                                    pool_size=3, objective="hinge", cycle_weight=5.0, seed=2)
    clone = cyclegan.CycleGAN.from_config(model.get_config())
    assert (clone.objective_name, clone.cycle_weight, clone.pool_size) == ("hinge", 5.0, 3)
    assert clone.adversarial_weight == 1.0 and model.adversarial_weight == 1.0
    x = _images((1, 32, 32, 1))
    clone.generator_ab.set_weights(model.generator_ab.get_weights())
    np.testing.assert_allclose(clone.generator_ab(x), model.generator_ab(x), atol=1e-6)
    path = str(tmp_path / "g.keras")
    model.generator_ab.save(path)
    loaded = keras.models.load_model(path, compile=False)
    np.testing.assert_allclose(loaded(x), model.generator_ab(x), atol=1e-6)
    items = model.checkpoint_items()
    assert {"generator_ab", "generator_ba", "discriminator_a", "discriminator_b", "g_optimizer",
            "d_optimizer", "pool_a", "pool_b", "seed_state"} <= set(items)


def test_identity_start_generator_returns_its_input_exactly():
    generator = cyclegan.residual_generator(3, ngf=4, n_blocks=1, colour_width=4, seed=0)
    x = _images((2, 32, 40, 3))
    np.testing.assert_array_equal(np.asarray(generator(x)), x)
    # Upsampling is resize-convolution: no transposed convolution (no checkerboard).
    assert not any(isinstance(layer, keras.layers.Conv2DTranspose) for layer in generator.layers)
    assert sum(isinstance(layer, keras.layers.UpSampling2D) for layer in generator.layers) == 2


def test_identity_start_generator_learns_and_stays_in_range():
    generator = cyclegan.residual_generator(1, ngf=4, n_blocks=1, colour_width=4, seed=0)
    residual = generator.get_layer("residual")
    kernel, bias = residual.get_weights()
    residual.set_weights([kernel, bias + 5.0])  # push every pixel past the top of the range
    x = _images((1, 16, 16, 1))
    out = np.asarray(generator(x))
    assert out.max() == 1.0 and np.all(out >= -1)
    assert cyclegan.translate(generator, _images((1, 13, 21, 1))).shape == (1, 13, 21, 1)


def test_build_cyclegan_generators_and_discriminator_norm():
    def norms(model):
        return sum(isinstance(layer, keras.layers.GroupNormalization) for layer in model.layers)

    paper = cyclegan.build_cyclegan(channels=3, crop_size=32, ngf=4, ndf=4, n_blocks=1,
                                    generator="paper", seed=0)
    assert any(isinstance(layer, keras.layers.Conv2DTranspose)
               for layer in paper.generator_ab.layers)
    assert norms(paper.discriminator_a) == 3
    cpu = cyclegan.build_cyclegan(channels=3, crop_size=32, ngf=4, ndf=4, generator="identity",
                                  d_norm="none", seed=0)
    x = _images((1, 32, 32, 3))
    np.testing.assert_array_equal(np.asarray(cpu.generator_ba(x)), x)
    assert norms(cpu.discriminator_b) == 0
    with pytest.raises(ValueError, match="generator"):
        cyclegan.build_cyclegan(generator="unet")
