"""Tests for the ProGAN and BigGAN layers (gan_apps.layers.progressive, gan_apps.layers.biggan)
against numpy."""

import keras
import numpy as np
import pytest

from gan_apps.layers.biggan import ConditionalBatchNormalization, SelfAttention
from gan_apps.layers.progressive import (
    EqualizedConv2D,
    EqualizedDense,
    FadeIn,
    MinibatchStdDev,
    PixelNormalization,
    StageSelect,
    he_scale,
)

RNG = np.random.default_rng(0)


def _conv_same(x, kernel):
    """Stride-1 'same' cross-correlation in numpy: x [B, H, W, C], kernel [k, k, C, F]."""
    k = kernel.shape[0]
    pad = (k - 1) // 2
    padded = np.pad(x, ((0, 0), (pad, k - 1 - pad), (pad, k - 1 - pad), (0, 0)))
    out = np.zeros(x.shape[:3] + (kernel.shape[-1],))
    for i in range(x.shape[1]):
        for j in range(x.shape[2]):
            patch = padded[:, i:i + k, j:j + k, :]
            out[:, i, j, :] = np.tensordot(patch, kernel, axes=([1, 2, 3], [0, 1, 2]))
    return out


def test_he_constant_is_gain_over_sqrt_fan_in():
    assert he_scale(50) == pytest.approx(np.sqrt(2.0 / 50))
    assert he_scale(9 * 16, gain=1.0) == pytest.approx(1.0 / 12.0)


def test_equalized_dense_scales_unit_normal_weights_at_run_time():
    layer = EqualizedDense(64, seed=3)
    x = RNG.normal(size=(5, 200)).astype("float32")
    y = np.asarray(layer(x))
    kernel = np.asarray(layer.kernel)
    # Stored weights are N(0, 1); the He constant is applied only in the forward pass.
    assert abs(kernel.std() - 1.0) < 0.05
    layer.bias.assign(RNG.normal(size=64).astype("float32"))
    expected = x @ (kernel * np.sqrt(2.0 / 200)) + np.asarray(layer.bias)
    np.testing.assert_allclose(np.asarray(layer(x)), expected, rtol=1e-4, atol=1e-4)
    assert y.shape == (5, 64)


def test_equalized_conv_matches_numpy_with_he_constant():
    layer = EqualizedConv2D(4, 3, gain=1.5, seed=1)
    x = RNG.normal(size=(2, 5, 6, 3)).astype("float32")
    layer(x)
    layer.bias.assign(np.arange(4, dtype="float32"))
    c = 1.5 / np.sqrt(3 * 3 * 3)
    expected = _conv_same(x, np.asarray(layer.kernel) * c) + np.arange(4)
    np.testing.assert_allclose(np.asarray(layer(x)), expected, rtol=1e-4, atol=1e-4)


def test_pixel_norm_matches_numpy():
    x = RNG.normal(size=(3, 4, 4, 8)).astype("float32") * 5
    expected = x / np.sqrt((x ** 2).mean(axis=-1, keepdims=True) + 1e-8)
    np.testing.assert_allclose(np.asarray(PixelNormalization()(x)), expected, rtol=1e-5)
    z = RNG.normal(size=(3, 16)).astype("float32")
    out = np.asarray(PixelNormalization()(z))
    np.testing.assert_allclose((out ** 2).mean(axis=-1), 1.0, rtol=1e-5)


def _numpy_minibatch_std(x, group):
    batch = x.shape[0]
    m = batch // group
    grouped = x.reshape(group, m, *x.shape[1:])
    std = np.sqrt(grouped.var(axis=0) + 1e-8)  # [M, H, W, C], biased variance
    per_group = std.mean(axis=(1, 2, 3))
    feature = np.tile(per_group[:, None, None, None], (group, x.shape[1], x.shape[2], 1))
    return np.concatenate([x, feature], axis=-1)


@pytest.mark.parametrize("batch, group_size, group", [(8, 4, 4), (6, 4, 6), (3, 4, 3), (8, None, 8)])
def test_minibatch_stddev_matches_numpy(batch, group_size, group):
    x = RNG.normal(size=(batch, 3, 3, 5)).astype("float32")
    out = np.asarray(MinibatchStdDev(group_size)(x))
    assert out.shape == (batch, 3, 3, 6)
    np.testing.assert_allclose(out, _numpy_minibatch_std(x.astype("float64"), group), rtol=1e-5)


def test_fade_in_blends_exactly_as_alpha_says():
    low = RNG.normal(size=(2, 4, 4, 3)).astype("float32")
    high = RNG.normal(size=(2, 4, 4, 3)).astype("float32")
    fade = FadeIn()
    for alpha in (0.0, 0.3, 1.0):
        fade([low, high])
        fade.alpha.assign(alpha)
        np.testing.assert_allclose(np.asarray(fade([low, high])), (1 - alpha) * low + alpha * high,
                                   rtol=1e-6, atol=1e-6)


def test_stage_select_picks_the_stage_input():
    inputs = [np.full((2, 3), float(i), "float32") for i in range(3)]
    select = StageSelect()
    select(inputs)
    select.stage.assign(2)
    np.testing.assert_array_equal(np.asarray(select(inputs)), inputs[2])


def _kernel(layer):
    return np.asarray(layer.kernel)


def test_self_attention_starts_as_identity_and_matches_numpy():
    x = RNG.normal(size=(2, 4, 5, 16)).astype("float32")
    layer = SelfAttention(spectral=False, seed=0)
    y = np.asarray(layer(x))
    assert y.shape == x.shape
    assert float(layer.gamma.numpy()) == 0.0
    np.testing.assert_array_equal(y, x)

    layer.gamma.assign(0.7)
    flat = x.reshape(2, 20, 16).astype("float64")
    f = flat @ _kernel(layer.query)[0, 0]
    g = flat @ _kernel(layer.key)[0, 0]
    h = flat @ _kernel(layer.value)[0, 0]
    scores = g @ f.transpose(0, 2, 1)  # [b, j, i]
    beta = np.exp(scores - scores.max(-1, keepdims=True))
    beta /= beta.sum(-1, keepdims=True)
    o = (beta @ h) @ _kernel(layer.out)[0, 0]
    expected = x + 0.7 * o.reshape(x.shape)
    np.testing.assert_allclose(np.asarray(layer(x)), expected, rtol=1e-4, atol=1e-4)
    assert _kernel(layer.query).shape == (1, 1, 16, 2)


def test_self_attention_spectral_round_trip():
    layer = SelfAttention(reduction=4, spectral=True, seed=2)
    x = RNG.normal(size=(1, 4, 4, 8)).astype("float32")
    inputs = keras.Input((4, 4, 8))
    model = keras.Model(inputs, layer(inputs))
    layer.gamma.assign(0.5)
    clone = keras.Model.from_config(model.get_config())
    clone.set_weights(model.get_weights())
    np.testing.assert_allclose(np.asarray(clone(x)), np.asarray(model(x)), rtol=1e-5)


def test_conditional_batch_norm_matches_numpy():
    x = RNG.normal(size=(6, 3, 3, 4)).astype("float32") * 2 + 1
    c = RNG.normal(size=(6, 5)).astype("float32")
    layer = ConditionalBatchNormalization(spectral=False, epsilon=1e-5, seed=0)
    out = np.asarray(layer([x, c], training=True))
    mean = x.mean(axis=(0, 1, 2))
    var = x.var(axis=(0, 1, 2))
    normalized = (x - mean) / np.sqrt(var + 1e-5)
    gain = 1.0 + c @ _kernel(layer.gain)
    bias = c @ _kernel(layer.bias)
    expected = normalized * gain[:, None, None, :] + bias[:, None, None, :]
    np.testing.assert_allclose(out, expected, rtol=1e-4, atol=1e-4)
    # Different conditioning vectors give different outputs for the same features.
    swapped = np.asarray(layer([x, c[::-1]], training=True))
    assert np.abs(swapped - out).max() > 1e-2


def test_layer_configs_round_trip():
    for layer in (EqualizedDense(3, gain=1.0, use_bias=False, seed=4), EqualizedConv2D(2, 1, seed=1),
                  PixelNormalization(epsilon=1e-6), MinibatchStdDev(2), FadeIn(), StageSelect(),
                  SelfAttention(reduction=2, spectral=False), ConditionalBatchNormalization(momentum=0.5)):
        config = keras.saving.serialize_keras_object(layer)
        clone = keras.saving.deserialize_keras_object(config)
        assert type(clone) is type(layer)
        assert clone.get_config() == layer.get_config()
