"""Conditional GAN: projection D matches eq. 3 of Miyato & Koyama; training, saving, export."""

import os
import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest
import tensorflow as tf

from gan_apps import export, penalties, sampling
from gan_apps.errors import UserInputError
from gan_apps.models.conditional import (
    ConditionalGAN,
    build_conditional,
    conditional_generator,
    dcgan_features,
    projection_discriminator,
)

ENV = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", CUDA_VISIBLE_DEVICES="")
RES, WIDTH, K = 8, 4, 3


def _labelled(n=32, seed=0):
    rng = np.random.default_rng(seed)
    images = rng.uniform(-1, 1, size=(n, RES, RES, 1)).astype("float32")
    labels = (np.arange(n) % K).astype("int32")
    return tf.data.Dataset.from_tensor_slices((images, labels)).batch(8, drop_remainder=True)


def _model(**options):
    options.setdefault("n_critic", 1)
    return build_conditional(resolution=RES, num_classes=K, latent_dim=6, width=WIDTH, seed=0,
                             embed_dim=5, **options)


def test_projection_discriminator_is_psi_plus_inner_product():
    d = projection_discriminator(RES, 1, num_classes=K, width=WIDTH, norm="none", seed=1)
    # Give V non-trivial values so the inner product matters.
    embedding = d.get_layer("class_embedding")
    embedding.embeddings.assign(np.random.default_rng(0).normal(size=embedding.embeddings.shape))
    images = np.random.default_rng(1).uniform(-1, 1, size=(5, RES, RES, 1)).astype("float32")
    labels = np.array([0, 1, 2, 1, 0], "int32")
    phi = np.asarray(d.get_layer("dcgan_features")(images, training=False), np.float64)
    psi = d.get_layer("psi")
    w, b = (np.asarray(v, np.float64) for v in psi.weights)
    v = np.asarray(embedding.embeddings, np.float64)
    expected = phi @ w + b + np.sum(v[labels] * phi, axis=1, keepdims=True)
    got = np.asarray(d([images, labels], training=False))
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-4)
    assert got.shape == (5, 1)


def test_spectral_projection_wraps_psi_and_embedding():
    d = projection_discriminator(RES, 1, num_classes=K, width=WIDTH, norm="spectral")
    wrapped = {layer.layer.name for layer in d.layers if hasattr(layer, "power_iterations")}
    assert wrapped == {"psi", "class_embedding"}
    assert dcgan_features(RES, 1, WIDTH).output.shape == (None, 4 * 4 * WIDTH)


def test_generator_depends_on_label_and_follows_the_spec():
    model = _model()
    spec = model.latent_spec()
    assert [e["name"] for e in spec] == ["z", "label"] and spec[1]["num_classes"] == K
    assert model.num_classes == K
    inputs = sampling.sample_inputs(spec, 6, np.random.default_rng(0), labels=[0, 1, 2, 0, 1, 2])
    images = np.asarray(model.generator(inputs, training=False))
    assert images.shape == (6, RES, RES, 1) and np.abs(images).max() <= 1.0
    other = np.asarray(model.generator([inputs[0], (inputs[1] + 1) % K], training=False))
    assert np.abs(images - other).max() > 1e-4


def test_train_step_updates_both_networks_and_logs():
    model = _model()
    g_before = [np.array(v) for v in model.generator.trainable_variables]
    d_before = [np.array(v) for v in model.discriminator.trainable_variables]
    history = model.fit(_labelled(), epochs=2, verbose=0).history
    for key in ("d_loss", "g_loss", "d_grad_norm", "g_grad_norm"):
        assert all(np.isfinite(history[key])), key
    assert history["d_loss"][0] != history["d_loss"][1]
    assert any(np.abs(a - np.array(b)).max() > 0 for a, b in zip(g_before, model.generator.trainable_variables))
    assert any(np.abs(a - np.array(b)).max() > 0 for a, b in zip(d_before, model.discriminator.trainable_variables))


def test_gradient_penalty_sees_the_labelled_critic():
    model = _model(objective="wasserstein", d_norm="layer", penalties=[penalties.GradientPenalty(10.0)])
    history = model.fit(_labelled(), epochs=1, verbose=0).history
    assert history["gradient_penalty"][0] > 0 and np.isfinite(history["gradient_penalty"][0])


def test_unlabelled_data_is_a_user_error():
    images = np.zeros((16, RES, RES, 1), "float32")
    with pytest.raises(UserInputError, match="labels"):
        _model().fit(tf.data.Dataset.from_tensor_slices(images).batch(8), epochs=1, verbose=0)
    with pytest.raises(UserInputError, match="num_classes"):
        build_conditional(resolution=RES, num_classes=None)
    with pytest.raises(UserInputError, match="images"):
        build_conditional(data_kind="points", num_classes=K)


def test_keras_round_trip(tmp_path):
    model = _model()
    model.fit(_labelled(), epochs=1, verbose=0)
    path = str(tmp_path / "cgan.keras")
    model.save(path)
    restored = keras.models.load_model(path)
    assert isinstance(restored, ConditionalGAN)
    assert restored.num_classes == K and restored.latent_spec() == model.latent_spec()
    assert restored.get_config()["n_critic"] == 1 and restored.objective_name == "hinge"
    z = np.random.default_rng(0).normal(size=(4, 6)).astype("float32")
    labels = np.array([0, 1, 2, 0], "int32")
    np.testing.assert_allclose(np.asarray(restored.generator([z, labels], training=False)),
                               np.asarray(model.generator([z, labels], training=False)), atol=1e-6)
    restored.fit(_labelled(), epochs=1, verbose=0)  # compile config restored: it trains


def test_export_with_spec_serves_z_and_label_in_a_fresh_process(tmp_path):
    generator = conditional_generator(6, K, RES, 1, width=WIDTH, embed_dim=5, seed=0)
    spec = [{"name": "z", "kind": "normal", "dim": 6}, {"name": "label", "kind": "class", "num_classes": K}]
    path = export.export_generator(generator, tmp_path / "export", spec=spec)
    z = np.random.default_rng(0).normal(size=(4, 6)).astype("float32")
    labels = np.array([2, 0, 1, 2], "int32")
    np.save(tmp_path / "z.npy", z)
    np.save(tmp_path / "label.npy", labels)
    script = textwrap.dedent(f"""
        import numpy as np, tensorflow as tf
        serve = tf.saved_model.load({str(path)!r}).signatures["serving_default"]
        spec = {{k: (v.dtype.name, v.shape.as_list()) for k, v in serve.structured_input_signature[1].items()}}
        assert spec == {{"z": ("float32", [None, 6]), "label": ("int32", [None])}}, spec
        out = serve(z=tf.constant(np.load("z.npy")), label=tf.constant(np.load("label.npy")))
        assert out["images"].dtype == tf.uint8
        np.save("images_float.npy", out["images_float"].numpy())
    """)
    subprocess.run([sys.executable, "-c", script], cwd=tmp_path, env=ENV, check=True,
                   capture_output=True, timeout=120)
    expected = np.asarray(generator([z, labels], training=False))
    np.testing.assert_allclose(np.load(tmp_path / "images_float.npy"), expected, atol=1e-5)


def test_export_with_spec_rejects_a_mismatched_spec(tmp_path):
    generator = conditional_generator(6, K, RES, 1, width=WIDTH, embed_dim=5)
    with pytest.raises(UserInputError, match="2 inputs|takes 2"):
        export.export_generator(generator, tmp_path / "export",
                                spec=[{"name": "z", "kind": "normal", "dim": 6}])
    with pytest.raises(UserInputError, match="latent spec"):
        export.export_generator(generator, tmp_path / "export",
                                spec=[{"name": "z", "kind": "bad", "dim": 6}])
