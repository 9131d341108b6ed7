"""Tests for gan_apps.layers.spectral.SpectralNormalization against numpy SVDs and closed forms."""

import json
import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest
import tensorflow as tf

from gan_apps.layers.spectral import SpectralNormalization


def _numpy_matrix(layer, kernel):
    """The documented [fan_in, out] matrix view, rebuilt independently in numpy."""
    if isinstance(layer, keras.layers.Conv2DTranspose):
        kernel = np.transpose(kernel, (0, 1, 3, 2))
    return kernel.reshape(-1, kernel.shape[-1])


def _top_singular(matrix):
    u, s, vt = np.linalg.svd(matrix)
    return s[0], u[:, 0], vt[0]


# (factory, input) pairs covering every supported type with non-default geometry.
CASES = {
    "dense": (lambda: keras.layers.Dense(5, activation="tanh"), lambda r: r.normal(size=(3, 7))),
    "conv2d": (
        lambda: keras.layers.Conv2D(4, 3, strides=2, padding="same", activation="relu"),
        lambda r: r.normal(size=(2, 7, 7, 3)),
    ),
    "conv2d_dilated": (
        lambda: keras.layers.Conv2D(4, 2, dilation_rate=2),
        lambda r: r.normal(size=(2, 6, 6, 3)),
    ),
    "conv2d_transpose": (
        lambda: keras.layers.Conv2DTranspose(
            4, 3, strides=2, padding="same", output_padding=1, activation="sigmoid"
        ),
        lambda r: r.normal(size=(2, 5, 5, 3)),
    ),
    "embedding": (
        lambda: keras.layers.Embedding(10, 6),
        lambda r: r.integers(0, 10, size=(2, 4)),
    ),
}


def _make(name, seed=0, **kw):
    keras.utils.set_random_seed(seed)
    rng = np.random.default_rng(seed)
    factory, inputs = CASES[name]
    x = inputs(rng)
    x = x.astype("float32") if x.dtype.kind == "f" else x.astype("int32")
    layer = SpectralNormalization(factory(), **kw)
    layer(x)
    return layer, x


@pytest.mark.parametrize("name", ["dense", "conv2d", "conv2d_transpose", "embedding"])
def test_sigma_converges_to_largest_singular_value(name):
    layer, x = _make(name)
    for _ in range(80):
        layer(x, training=True)
    kernel = layer.layer.get_weights()[0]
    matrix = _numpy_matrix(layer.layer, kernel)
    s_max, _, right = _top_singular(matrix)
    assert layer.u.shape == (1, matrix.shape[1])
    np.testing.assert_allclose(float(layer.spectral_norm()), s_max, rtol=1e-4)
    # u is the unit top singular vector on the output side (up to sign).
    u = layer.u.numpy()[0]
    np.testing.assert_allclose(np.linalg.norm(u), 1.0, rtol=1e-6)
    assert abs(u @ right) > 1 - 1e-4


@pytest.mark.parametrize("name", list(CASES))
def test_output_equals_unwrapped_layer_with_kernel_over_sigma(name):
    layer, x = _make(name, power_iterations=60)
    inner = layer.layer
    weights = inner.get_weights()
    if len(weights) == 2:  # give the bias non-zero values so its path is checked
        weights[1] = np.random.default_rng(1).normal(size=weights[1].shape).astype("float32")
        inner.set_weights(weights)
    layer(x, training=True)
    s_max = _top_singular(_numpy_matrix(inner, weights[0]))[0]

    reference = type(inner).from_config(inner.get_config())
    reference(x)
    reference.set_weights([weights[0] / s_max] + weights[1:])
    np.testing.assert_allclose(
        layer(x).numpy(), reference(x).numpy(), rtol=1e-5, atol=1e-6
    )


def _lipschitz_ratios(f, x, y):
    fx, fy = f(x).numpy(), f(y).numpy()
    num = np.linalg.norm((fx - fy).reshape(len(x), -1), axis=1)
    return num / np.linalg.norm((x - y).reshape(len(x), -1), axis=1)


def test_dense_is_1_lipschitz_after_convergence():
    keras.utils.set_random_seed(0)
    init = keras.initializers.RandomNormal(stddev=2.0)
    inner = keras.layers.Dense(6, use_bias=False, kernel_initializer=init)
    layer = SpectralNormalization(inner, power_iterations=50)
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(2, 500, 8)).astype("float32")
    layer(x, training=True)
    s_max, left, _ = _top_singular(inner.get_weights()[0])
    assert s_max > 3  # the raw layer is far from 1-Lipschitz
    assert _lipschitz_ratios(layer, x, y).max() <= 1 + 1e-5
    # The bound is tight: along the top input-side singular vector the ratio is 1.
    y_top = x[:1] + left[None].astype("float32")
    np.testing.assert_allclose(_lipschitz_ratios(layer, x[:1], y_top), 1.0, rtol=1e-5)
    np.testing.assert_allclose(_lipschitz_ratios(inner, x[:1], y_top), s_max, rtol=1e-5)


def test_conv2d_normalized_matrix_view_has_unit_spectral_norm():
    # With a valid convolution on an input exactly the kernel's size, the layer is the
    # linear map x.reshape(h*w*in) @ matrix_view, so its Lipschitz constant is the top
    # singular value of the normalized matrix view (for larger inputs the operator norm
    # of a convolution can exceed it; that is not what spectral normalization bounds).
    keras.utils.set_random_seed(0)
    init = keras.initializers.RandomNormal(stddev=1.0)
    inner = keras.layers.Conv2D(5, 3, use_bias=False, kernel_initializer=init)
    layer = SpectralNormalization(inner, power_iterations=50)
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(2, 300, 3, 3, 2)).astype("float32")
    layer(x, training=True)
    s_max, left, _ = _top_singular(_numpy_matrix(inner, inner.get_weights()[0]))
    assert s_max > 2
    assert _lipschitz_ratios(layer, x, y).max() <= 1 + 1e-5
    y_top = x[:1] + left.reshape(1, 3, 3, 2).astype("float32")
    np.testing.assert_allclose(_lipschitz_ratios(layer, x[:1], y_top), 1.0, rtol=1e-5)


def test_gradient_flows_through_sigma():
    keras.utils.set_random_seed(3)
    rng = np.random.default_rng(3)
    layer = SpectralNormalization(keras.layers.Dense(4, use_bias=False))
    x = rng.normal(size=(5, 6)).astype("float32")
    r = rng.normal(size=(5, 4)).astype("float32")
    layer(x)
    w = layer.layer.kernel.numpy().astype("float64")
    u0 = layer.u.numpy().astype("float64")

    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(layer(x, training=True) * r)
    grad = tape.gradient(loss, layer.layer.kernel).numpy()

    # One power-iteration step (Algorithm 1), then the closed-form derivative of
    # sum(r * x W / sigma) with sigma = v W u^T and u, v held fixed.
    v = u0 @ w.T
    v /= np.linalg.norm(v)
    u1 = v @ w
    u1 /= np.linalg.norm(u1)
    sigma = (v @ w @ u1.T).item()
    g = x.T.astype("float64") @ r
    expected = g / sigma - np.sum(g * w) / sigma**2 * (v.T @ u1)
    np.testing.assert_allclose(layer.u.numpy(), u1, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(float(loss), np.sum(r * (x @ w)) / sigma, rtol=1e-5)
    np.testing.assert_allclose(grad, expected, rtol=1e-4, atol=1e-5)
    # Blocking the gradient through sigma (keras.layers.SpectralNormalization) would give g / sigma.
    blocked = g / sigma
    assert np.linalg.norm(grad - blocked) > 0.05 * np.linalg.norm(blocked)


def test_u_updates_only_in_training():
    layer, x = _make("conv2d")
    u0 = layer.u.numpy().copy()
    layer(x)
    layer(x, training=False)
    layer.spectral_norm()
    np.testing.assert_array_equal(layer.u.numpy(), u0)

    inputs = keras.Input(x.shape[1:])
    model = keras.Model(inputs, layer(inputs))
    model.predict(x, verbose=0)
    np.testing.assert_array_equal(layer.u.numpy(), u0)
    model(x, training=True)
    assert np.max(np.abs(layer.u.numpy() - u0)) > 1e-3


def test_keras_file_round_trip_keeps_u_and_outputs(tmp_path):
    keras.utils.set_random_seed(0)
    inputs = keras.Input((8, 8, 2))
    conv = keras.layers.Conv2D(3, 3, strides=2)
    h = SpectralNormalization(conv, power_iterations=2, name="sn_conv")(inputs)
    h = keras.layers.Flatten()(h)
    outputs = SpectralNormalization(keras.layers.Dense(2), epsilon=1e-10, name="sn_dense")(h)
    model = keras.Model(inputs, outputs)
    x = np.random.default_rng(0).normal(size=(4, 8, 8, 2)).astype("float32")
    for _ in range(3):
        model(x, training=True)
    path = tmp_path / "sn.keras"
    model.save(path)
    loaded = keras.models.load_model(path)

    for name in ("sn_conv", "sn_dense"):
        before, after = model.get_layer(name), loaded.get_layer(name)
        assert type(after) is SpectralNormalization
        assert after.layer.get_config() == before.layer.get_config()
        np.testing.assert_array_equal(after.u.numpy(), before.u.numpy())
        np.testing.assert_array_equal(after.layer.kernel.numpy(), before.layer.kernel.numpy())
    assert loaded.get_layer("sn_conv").power_iterations == 2
    assert loaded.get_layer("sn_dense").epsilon == 1e-10
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))


@pytest.mark.parametrize("where", ["layer_dtype", "global_policy"])
def test_mixed_precision_matches_float32(where):
    def build(dtype):
        keras.utils.set_random_seed(0)
        previous = keras.config.dtype_policy()
        if where == "global_policy":
            keras.config.set_dtype_policy(dtype)
        try:
            layer_dtype = dtype if where == "layer_dtype" else None
            inputs = keras.Input((6, 6, 2))
            conv = SpectralNormalization(keras.layers.Conv2D(4, 3, dtype=layer_dtype))
            h = keras.layers.Flatten(dtype=layer_dtype)(conv(inputs))
            dense = SpectralNormalization(keras.layers.Dense(3, dtype=layer_dtype))
            return keras.Model(inputs, dense(h)), conv
        finally:
            keras.config.set_dtype_policy(previous)

    model32, conv32 = build("float32")
    model16, conv16 = build("mixed_float16")
    model16.set_weights(model32.get_weights())
    x = np.random.default_rng(0).normal(size=(2, 6, 6, 2)).astype("float32")

    with tf.GradientTape() as tape:
        y16 = model16(x, training=True)
        loss = tf.reduce_sum(tf.cast(y16, "float32") ** 2)
    grads = tape.gradient(loss, model16.trainable_variables)
    y32 = model32(x, training=True)

    assert y16.dtype == "float16" and conv16.compute_dtype == "float16"
    assert conv16.u.dtype == "float32" and conv16.layer.kernel.dtype == "float32"
    # sigma and u come from the float32 kernel, so they match the float32 model closely.
    np.testing.assert_allclose(conv16.u.numpy(), conv32.u.numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(
        float(conv16.spectral_norm()), float(conv32.spectral_norm()), rtol=1e-6
    )
    np.testing.assert_allclose(y16.numpy().astype("float32"), y32.numpy(), rtol=2e-2, atol=2e-2)
    assert all(g is not None and np.all(np.isfinite(g.numpy())) for g in grads)


DISTRIBUTED_SCRIPT = textwrap.dedent(
    """
    import json
    import numpy as np
    import tensorflow as tf
    cpus = tf.config.list_physical_devices("CPU")
    two = [tf.config.LogicalDeviceConfiguration()] * 2
    tf.config.set_logical_device_configuration(cpus[0], two)
    import keras
    from gan_apps.layers.spectral import SpectralNormalization

    keras.utils.set_random_seed(0)
    strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
    with strategy.scope():
        inputs = keras.Input((8, 8, 1))
        conv = SpectralNormalization(keras.layers.Conv2D(4, 3, strides=2))
        dense = SpectralNormalization(keras.layers.Dense(3))
        outputs = keras.layers.Dense(1)(dense(keras.layers.Flatten()(conv(inputs))))
        model = keras.Model(inputs, outputs)
        model.compile(optimizer=keras.optimizers.Adam(1e-2), loss="mse")
    before = [conv.u.numpy().tolist(), dense.u.numpy().tolist()]
    rng = np.random.default_rng(0)
    x = rng.normal(size=(32, 8, 8, 1)).astype("float32")
    t = rng.normal(size=(32, 1)).astype("float32")
    history = model.fit(x, t, batch_size=8, epochs=1, verbose=0)
    replicas = [
        [v.numpy().tolist() for v in
         strategy.experimental_local_results(strategy.run(lambda l=l: l.u.value))]
        for l in (conv, dense)
    ]
    print("RESULT" + json.dumps({
        "replicas": strategy.num_replicas_in_sync,
        "loss": history.history["loss"],
        "before": before,
        "after": [conv.u.numpy().tolist(), dense.u.numpy().tolist()],
        "per_replica": replicas,
    }))
    """
)


def test_fit_under_mirrored_strategy_updates_u(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-c", DISTRIBUTED_SCRIPT],
        cwd=tmp_path, capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    line = [l for l in proc.stdout.splitlines() if l.startswith("RESULT")][-1]
    result = json.loads(line[len("RESULT"):])
    assert result["replicas"] == 2
    assert np.all(np.isfinite(result["loss"]))
    for before, after, per_replica in zip(result["before"], result["after"], result["per_replica"]):
        assert np.max(np.abs(np.subtract(after, before))) > 1e-3
        np.testing.assert_allclose(np.linalg.norm(after), 1.0, rtol=1e-5)
        # Every replica holds the same u.
        np.testing.assert_array_equal(per_replica[0], per_replica[1])


@pytest.mark.parametrize(
    "layer",
    [
        keras.layers.Conv1D(3, 2),
        keras.layers.LayerNormalization(),
        type("MyDense", (keras.layers.Dense,), {})(3),
    ],
    ids=["conv1d", "layer_norm", "dense_subclass"],
)
def test_unsupported_layer_raises(layer):
    with pytest.raises(TypeError, match="Dense.*Conv2D.*Conv2DTranspose.*Embedding"):
        SpectralNormalization(layer)


def test_bad_arguments_raise():
    with pytest.raises(ValueError, match="power_iterations"):
        SpectralNormalization(keras.layers.Dense(2), power_iterations=0)
    with pytest.raises(ValueError, match="epsilon"):
        SpectralNormalization(keras.layers.Dense(2), epsilon=0.0)


def test_zero_kernel_gives_zero_output_and_keeps_u():
    inner = keras.layers.Dense(3, kernel_initializer="zeros", bias_initializer="ones")
    layer = SpectralNormalization(inner)
    x = np.ones((2, 4), "float32")
    layer(x)
    u0 = layer.u.numpy().copy()
    np.testing.assert_array_equal(layer(x, training=True).numpy(), np.ones((2, 3)))
    np.testing.assert_array_equal(layer.u.numpy(), u0)
