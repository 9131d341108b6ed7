"""SavedModel export: served outputs match Keras in a fresh process; atomic replace; errors."""

import os
import shutil
import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest
import tensorflow as tf

from gan_apps import export
from gan_apps.errors import UserInputError

LATENT = 6
ENV = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", CUDA_VISIBLE_DEVICES="")


def tiny_generator(seed=0):
    """z [B, 6] -> Dense -> Reshape 4x4x3 -> Conv2DTranspose stride 2 -> tanh: [B, 8, 8, 1]."""
    keras.utils.set_random_seed(seed)
    z = keras.Input((LATENT,))
    h = keras.layers.Reshape((4, 4, 3))(keras.layers.Dense(4 * 4 * 3, activation="relu")(z))
    images = keras.layers.Conv2DTranspose(1, 3, strides=2, padding="same", activation="tanh",
                                          kernel_initializer=keras.initializers.RandomNormal(stddev=1.0))(h)
    return keras.Model(z, images)


def quantize(x):
    return np.clip(np.round((x.astype(np.float64) + 1.0) * 127.5), 0, 255)


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    root = tmp_path_factory.mktemp("export")
    generator = tiny_generator()
    path = export.export_generator(generator, root / "run" / "export")
    return generator, path


def test_served_outputs_match_keras_in_a_fresh_process(exported, tmp_path):
    generator, path = exported
    z = np.random.default_rng(0).normal(size=(5, LATENT)).astype(np.float32)
    np.save(tmp_path / "z.npy", z)
    script = textwrap.dedent(f"""
        import numpy as np, tensorflow as tf
        loaded = tf.saved_model.load({str(path)!r})
        out = loaded.signatures["serving_default"](z=tf.constant(np.load("z.npy")))
        np.save("images.npy", out["images"].numpy())
        np.save("images_float.npy", out["images_float"].numpy())
    """)
    subprocess.run([sys.executable, "-c", script], cwd=tmp_path, env=ENV, check=True,
                   capture_output=True, timeout=120)
    images = np.load(tmp_path / "images.npy")
    images_float = np.load(tmp_path / "images_float.npy")
    expected = keras.ops.convert_to_numpy(generator(z, training=False))
    assert images_float.dtype == np.float32 and images_float.shape == (5, 8, 8, 1)
    np.testing.assert_allclose(images_float, expected, atol=1e-5)
    assert images.dtype == np.uint8 and images.shape == (5, 8, 8, 1)
    reference = quantize(expected)
    assert np.all(np.abs(images.astype(np.int64) - reference) <= 1)
    scaled = (expected.astype(np.float64) + 1.0) * 127.5
    away_from_ties = np.abs(scaled - np.floor(scaled) - 0.5) > 1e-3
    np.testing.assert_array_equal(images[away_from_ties], reference[away_from_ties])
    assert images.min() < 64 and images.max() > 192  # the uint8 range is used, not a sliver


def test_saved_model_cli_lists_the_signature(exported):
    _, path = exported
    cli = shutil.which("saved_model_cli") or os.path.join(os.path.dirname(sys.executable),
                                                          "saved_model_cli")
    shown = subprocess.run([cli, "show", "--dir", str(path), "--all"], env=ENV, check=True,
                           capture_output=True, text=True, timeout=120).stdout
    block = shown.split("signature_def['serving_default']:", 1)[1].split("signature_def[", 1)[0]
    inputs, outputs = block.split("following output(s):")
    assert "inputs['z']" in inputs and "DT_FLOAT" in inputs and f"(-1, {LATENT})" in inputs
    assert "outputs['images']" in outputs and "DT_UINT8" in outputs
    assert "outputs['images_float']" in outputs


def serve(path, z):
    return export.load_export(path).signatures["serving_default"](z=tf.constant(z))["images_float"]


def test_export_twice_replaces_atomically(tmp_path):
    z = np.random.default_rng(1).normal(size=(2, LATENT)).astype(np.float32)
    target = tmp_path / "export"
    export.export_generator(tiny_generator(seed=1), target)
    second = tiny_generator(seed=2)
    assert export.export_generator(second, target, latent_dim=LATENT) == str(target)
    assert sorted(os.listdir(tmp_path)) == ["export"]  # no staging or retired folders left
    np.testing.assert_allclose(serve(target, z), keras.ops.convert_to_numpy(second(z)), atol=1e-5)


def test_failed_export_keeps_the_previous_one(tmp_path, monkeypatch):
    z = np.random.default_rng(2).normal(size=(2, LATENT)).astype(np.float32)
    target = tmp_path / "export"
    first = tiny_generator(seed=3)
    export.export_generator(first, target)

    def crash(self, *args, **kwargs):
        os.makedirs(args[0], exist_ok=True)
        open(os.path.join(args[0], "partial"), "w").close()
        raise RuntimeError("disk full")

    # ExportArchive() builds a backend-specific subclass; patch the class actually used.
    monkeypatch.setattr(type(keras.export.ExportArchive()), "write_out", crash)
    with pytest.raises(RuntimeError, match="disk full"):
        export.export_generator(tiny_generator(seed=4), target)
    assert sorted(os.listdir(tmp_path)) == ["export"]
    np.testing.assert_allclose(serve(target, z), keras.ops.convert_to_numpy(first(z)), atol=1e-5)


def test_load_export_errors(tmp_path):
    with pytest.raises(UserInputError, match="gan-apps export"):
        export.load_export(str(tmp_path / "missing"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(UserInputError, match="not a SavedModel"):
        export.load_export(str(tmp_path / "empty"))


def test_latent_size_must_be_readable():
    a, b = keras.Input((3,)), keras.Input((2,))
    two_inputs = keras.Model([a, b], keras.layers.Concatenate()([a, b]))
    with pytest.raises(UserInputError, match="latent_dim"):
        export.export_generator(two_inputs, "unused")


def test_conditional_spec_gives_one_named_input_each(tmp_path):
    import numpy as np

    from gan_apps import sampling

    z = keras.Input((4,), name="z")
    label = keras.Input((), dtype="int32", name="label")
    joined = keras.layers.Concatenate()([z, keras.layers.Embedding(3, 4)(label)])
    images = keras.layers.Reshape((2, 2, 1))(keras.layers.Dense(4, activation="tanh")(joined))
    generator = keras.Model([z, label], images)
    spec = [{"name": "z", "kind": "normal", "dim": 4},
            {"name": "label", "kind": "class", "num_classes": 3}]
    export.export_generator(generator, str(tmp_path / "cond"), spec=spec)
    served = tf.saved_model.load(str(tmp_path / "cond")).signatures["serving_default"]
    _, inputs = served.structured_input_signature
    assert inputs["label"].dtype == tf.int32 and inputs["z"].shape.as_list() == [None, 4]
    z_value, labels = sampling.sample_inputs(spec, 6, np.random.default_rng(0))
    out = served(z=tf.constant(z_value), label=tf.constant(labels))
    np.testing.assert_allclose(out["images_float"].numpy(), generator([z_value, labels]).numpy(),
                               atol=1e-6)
