"""gan_apps.images pixel ranges: the [-1, 1] <-> [0, 1] and [-1, 1] <-> uint8 pairs, numpy and
tensors alike, bit for bit the formulas they replaced."""

import numpy as np
import tensorflow as tf

from gan_apps import images


def test_known_values():
    x = np.array([-1.0, 0.0, 1.0], np.float32)
    np.testing.assert_array_equal(images.to_unit_range(x), [0.0, 0.5, 1.0])
    np.testing.assert_array_equal(images.from_unit_range(np.array([0.0, 0.5, 1.0])), [-1.0, 0.0, 1.0])
    # 127.5 rounds half to even: 0 maps to 128.
    np.testing.assert_array_equal(images.to_uint8(x), [0, 128, 255])
    assert images.to_uint8(x).dtype == np.uint8
    values = images.from_uint8(np.array([0, 1, 255], np.uint8))
    assert values.dtype == np.float32
    np.testing.assert_array_equal(values, np.array([-1.0, 1 / 127.5 - 1.0, 1.0], np.float32))
    np.testing.assert_array_equal(images.to_uint8([-2.0, 3.0]), [0, 255])  # clipped


def test_uint8_round_trip_is_exact_and_matches_the_old_formulas():
    every = np.arange(256, dtype=np.uint8)
    floats = images.from_uint8(every)
    np.testing.assert_array_equal(floats, every.astype(np.float32) / 127.5 - 1.0)
    np.testing.assert_array_equal(images.to_uint8(floats), every)
    x = np.random.default_rng(0).uniform(-1.1, 1.1, 100_000).astype(np.float32)
    np.testing.assert_array_equal(images.to_uint8(x),
                                  np.clip(np.round((x + 1.0) * 127.5), 0, 255).astype(np.uint8))
    assert np.abs(images.from_uint8(images.to_uint8(x)) - np.clip(x, -1, 1)).max() <= 1 / 255 + 1e-6


def test_tensors_give_the_numpy_values():
    every = np.arange(256, dtype=np.uint8)
    x = np.random.default_rng(1).uniform(-1, 1, 10_000).astype(np.float32)
    as_tensor = images.from_uint8(tf.constant(every))
    assert tf.is_tensor(as_tensor) and as_tensor.dtype == tf.float32
    np.testing.assert_array_equal(as_tensor.numpy(), images.from_uint8(every))
    quantized = tf.function(images.to_uint8)(tf.constant(x))
    assert quantized.dtype == tf.uint8
    np.testing.assert_array_equal(quantized.numpy(), images.to_uint8(x))
    np.testing.assert_array_equal(images.to_unit_range(tf.constant(x)).numpy(), images.to_unit_range(x))
    np.testing.assert_array_equal(images.from_unit_range(tf.constant(x)).numpy(), images.from_unit_range(x))


def test_unit_range_keeps_the_float_dtype():
    x = np.linspace(-1, 1, 5)
    assert images.to_unit_range(x).dtype == np.float64
    assert images.from_unit_range(x.astype(np.float32)).dtype == np.float32
