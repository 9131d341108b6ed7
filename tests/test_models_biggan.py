"""Tests for models/biggan.py and the truncated ``sample`` export endpoint."""

import json
import subprocess
import sys
import textwrap
import types

import keras
import numpy as np
import pytest
import tensorflow as tf

from gan_apps import export, sampling
from gan_apps.errors import UserInputError
from gan_apps.layers.biggan import ConditionalBatchNormalization, SelfAttention
from gan_apps.models.biggan import BigGAN, build_biggan
from gan_apps.penalties import OrthogonalRegularization

CLASSES = 3


def _model(**kw):
    return build_biggan(resolution=16, width=4, num_classes=CLASSES, latent_dim=12, embed_dim=6,
                        attention=8, seed=0, **kw)


@pytest.fixture(scope="module")
def model():
    return _model()


def test_networks_follow_the_biggan_layout(model):
    generator, discriminator = model.generator, model.discriminator
    assert generator.output_shape == (None, 16, 16, 1)
    assert discriminator.output_shape == (None, 1)
    cbn = [layer for layer in generator.layers if isinstance(layer, ConditionalBatchNormalization)]
    assert len(cbn) == 4  # two per up block, 4 -> 8 -> 16
    # skip-z: each block's conditioning is the shared embedding (6) + its own z chunk (12 / 3).
    assert generator.get_layer("condition_8").output.shape[-1] == 6 + 4
    assert [layer.name for layer in generator.layers if isinstance(layer, keras.layers.Embedding)] \
        == ["shared_embedding"]
    assert any(isinstance(layer, SelfAttention) for layer in generator.layers)
    assert any(isinstance(layer, SelfAttention) for layer in discriminator.layers)
    assert model.latent_spec() == [{"name": "z", "kind": "normal", "dim": 12},
                                   {"name": "label", "kind": "class", "num_classes": CLASSES}]


def test_skip_z_chunk_reaches_the_output_through_its_block(model):
    rng = np.random.default_rng(0)
    z = rng.normal(size=(4, 12)).astype("float32")
    labels = np.arange(4, dtype="int32") % CLASSES
    base = np.asarray(model.generator([z, labels], training=False))
    for chunk in range(3):
        changed = z.copy()
        changed[:, chunk * 4:(chunk + 1) * 4] += 1.0
        assert np.abs(np.asarray(model.generator([changed, labels], training=False)) - base).max() > 1e-4


def test_recipe_and_one_training_step(model):
    assert model.n_critic == 2 and model.objective_name == "hinge"
    g_opt, d_opt = model.g_optimizer, model.d_optimizer
    assert float(g_opt.learning_rate) == pytest.approx(5e-5)
    assert float(d_opt.learning_rate) == pytest.approx(2e-4)
    assert (g_opt.beta_1, g_opt.beta_2) == (0.0, 0.999)
    [ortho] = [p for p in model.penalties if isinstance(p, OrthogonalRegularization)]
    assert ortho.weight == pytest.approx(1e-4) and ortho.on == "generator"
    rng = np.random.default_rng(1)
    images = rng.uniform(-1, 1, (8, 16, 16, 1)).astype("float32")
    labels = rng.integers(0, CLASSES, 8).astype("int32")
    model.run_eagerly = True  # one step: eager is cheaper than tracing the step
    logs = model.train_on_batch(tf.constant(images), tf.constant(labels), return_dict=True)
    assert np.isfinite(logs["d_loss"]) and logs["orthogonal_regularization"] > 0


def test_flag_orthogonal_regularization_replaces_the_default():
    flag = OrthogonalRegularization(3e-4, off_diagonal=True, on="generator")
    built = _model(extra_penalties=[flag])
    [ortho] = [p for p in built.penalties if isinstance(p, OrthogonalRegularization)]
    assert (ortho.weight, ortho.on, ortho.exclude) == (3e-4, "generator", ("shared_embedding",))
    with pytest.raises(UserInputError, match="on='generator'"):
        _model(extra_penalties=[OrthogonalRegularization(1e-4, on="both")])


def test_orthogonal_regularization_skips_the_shared_embedding(model):
    # BigGAN-PyTorch train_fns.py: utils.ortho(G, ..., blacklist=G.shared). The term equals
    # (beta / 2) * the off-diagonal penalty summed over G's matrices other than the embedding.
    [ortho] = [p for p in model.penalties if isinstance(p, OrthogonalRegularization)]
    assert ortho.exclude == ("shared_embedding",)
    matrices = [v.numpy() for v in model.generator.trainable_variables
                if len(v.shape) >= 2 and not v.path.startswith("shared_embedding/")]
    assert len(matrices) == len([v for v in model.generator.trainable_variables
                                 if len(v.shape) >= 2]) - 1

    def off_diagonal(kernel):
        w = kernel.reshape(-1, kernel.shape[-1]).astype(np.float64)
        gram = w.T @ w
        return np.sum((gram * (1 - np.eye(len(gram)))) ** 2)

    expected = 0.5 * 1e-4 * sum(off_diagonal(k) for k in matrices)
    got = ortho.generator_loss(types.SimpleNamespace(generator=model.generator))
    assert float(got) == pytest.approx(expected, rel=1e-5)


def test_truncated_latent_stays_within_threshold(model):
    z = np.asarray(model.truncated_latent(2000, 0.5))
    assert z.shape == (2000, 12) and np.abs(z).max() <= 0.5
    # Redrawn, not clipped: almost no entry sits on the threshold.
    assert np.mean(np.isclose(np.abs(z), 0.5)) < 0.01
    graph = np.asarray(sampling.truncated_normal(tf.random.normal, tf.constant([500, 8]), tf.constant(0.3)))
    assert np.abs(graph).max() <= 0.3 and graph.std() > 0.1
    plain = np.asarray(sampling.truncated_normal(tf.random.normal, tf.constant([2000, 8]), tf.constant(0.0)))
    assert np.abs(plain).max() > 2.0


def test_generator_round_trip_and_user_errors(model, tmp_path):
    model.generator.save(tmp_path / "g.keras")
    loaded = keras.models.load_model(tmp_path / "g.keras")
    inputs = [np.ones((2, 12), "float32"), np.array([0, 2], "int32")]
    np.testing.assert_allclose(np.asarray(loaded(inputs)), np.asarray(model.generator(inputs)), rtol=1e-5)
    config = keras.saving.serialize_keras_object(model)
    assert isinstance(keras.saving.deserialize_keras_object(config), BigGAN)
    with pytest.raises(UserInputError, match="num_classes"):
        build_biggan(resolution=16, width=4)
    with pytest.raises(UserInputError, match="skip-z"):
        build_biggan(resolution=16, width=4, num_classes=3, latent_dim=10)


def test_export_sample_endpoint_in_a_fresh_process(model, tmp_path):
    spec = model.latent_spec()
    folder = export.export_generator(model.generator, str(tmp_path / "export"), spec=spec,
                                     sample_endpoint=True)
    script = textwrap.dedent(f"""
        import json, numpy as np, tensorflow as tf
        loaded = tf.saved_model.load({folder!r})
        serve = loaded.signatures["serving_default"]
        out = loaded.sample(tf.constant(6), tf.constant(0.5), tf.constant([0, 1, 2, 0, 1, 2]))
        direct = serve(z=tf.zeros([2, 12]), label=tf.constant([0, 1]))
        print(json.dumps({{"sample": list(out["images"].shape), "dtype": out["images"].dtype.name,
                           "serve": sorted(direct), "inputs": sorted(serve.structured_input_signature[1])}}))
    """)
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report == {"sample": [6, 16, 16, 1], "dtype": "uint8",
                      "serve": ["images", "images_float"], "inputs": ["label", "z"]}
