"""InfoGAN: L_I against numpy and scipy, Hungarian matching, MI bound rises, saving, export."""

import itertools
import math
import os
import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest
import tensorflow as tf
from scipy.stats import norm

from gan_apps import data as data_lib
from gan_apps import export, sampling
from gan_apps.errors import UserInputError
from gan_apps.evaluation.metrics import code_class_match_accuracy
from gan_apps.models.infogan import (
    InfoGAN,
    build_infogan,
    gaussian_nll,
    infogan_discriminator,
)

ENV = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", CUDA_VISIBLE_DEVICES="")
RES, WIDTH = 8, 4


def _model(**options):
    return build_infogan(resolution=RES, latent_dim=5, width=WIDTH, num_categories=4, seed=0, **options)


def _images(n=32, seed=0):
    rng = np.random.default_rng(seed)
    images = rng.uniform(-1, 1, size=(n, RES, RES, 1)).astype("float32")
    return tf.data.Dataset.from_tensor_slices(images).batch(8, drop_remainder=True)


def test_gaussian_nll_matches_scipy():
    rng = np.random.default_rng(0)
    codes, mean, log_std = rng.uniform(-1, 1, (5, 2)), rng.normal(size=(5, 2)), rng.normal(size=(5, 2)) * 0.3
    fixed = -np.mean(np.sum(norm.logpdf(codes, loc=mean, scale=1.0), axis=1))
    learned = -np.mean(np.sum(norm.logpdf(codes, loc=mean, scale=np.exp(log_std)), axis=1))
    np.testing.assert_allclose(float(gaussian_nll(codes, mean)), fixed, rtol=1e-5)
    np.testing.assert_allclose(float(gaussian_nll(codes, mean, log_std)), learned, rtol=1e-5)


def test_information_terms_are_the_lower_bound_of_eq_5():
    model = _model()
    rng = np.random.default_rng(1)
    cat_logits, mean = rng.normal(size=(6, 4)) * 2, rng.normal(size=(6, 2))
    c_cat, c_cont = rng.integers(0, 4, 6), rng.uniform(-1, 1, (6, 2))
    log_p = cat_logits - np.logaddexp.reduce(cat_logits, axis=1, keepdims=True)
    ce = -np.mean(log_p[np.arange(6), c_cat])
    nll = -np.mean(np.sum(norm.logpdf(c_cont, loc=mean), axis=1))
    q_outputs = [tf.constant(cat_logits, tf.float32), tf.constant(mean, tf.float32)]
    codes = [tf.constant(c_cat, tf.int32), tf.constant(c_cont, tf.float32)]
    cat_ce, cont_nll, bound = model.information_terms(q_outputs, codes)
    np.testing.assert_allclose([float(cat_ce), float(cont_nll)], [ce, nll], rtol=1e-5)
    np.testing.assert_allclose(float(bound), math.log(4) - ce + 2 * math.log(2) - nll, rtol=1e-5)
    weighted = _model(categorical_weight=1.0, continuous_weight=0.5)
    g_loss, _ = weighted.generator_auxiliary_loss(q_outputs, codes)
    np.testing.assert_allclose(float(g_loss), ce + 0.5 * nll, rtol=1e-5)


def test_code_class_match_accuracy_equals_brute_force():
    rng = np.random.default_rng(0)
    classes = rng.integers(0, 4, 200)
    codes = np.where(rng.uniform(size=200) < 0.7, (classes + 1) % 4, rng.integers(0, 4, 200))
    brute = max(np.mean(np.array(perm)[codes] == classes) for perm in itertools.permutations(range(4)))
    assert code_class_match_accuracy(codes, classes) == pytest.approx(brute)
    assert code_class_match_accuracy([2, 2, 0], [1, 1, 0]) == 1.0
    with pytest.raises(UserInputError):
        code_class_match_accuracy([], [])


def test_spec_generator_and_q_heads():
    model = _model()
    spec = model.latent_spec()
    assert [(e["name"], e["kind"]) for e in spec] == [("z", "normal"), ("c_cat", "class"), ("c_cont", "uniform")]
    assert model.num_classes is None
    inputs = sampling.sample_inputs(spec, 4, np.random.default_rng(0))
    images = np.asarray(model.generator(inputs, training=False))
    assert images.shape == (4, RES, RES, 1)
    other = np.asarray(model.generator([inputs[0], (inputs[1] + 1) % 4, inputs[2]], training=False))
    assert np.abs(images - other).max() > 1e-4
    outputs = infogan_discriminator(RES, 1, 4, 2, WIDTH, learn_std=True)(images)
    assert [tuple(o.shape) for o in outputs] == [(4, 1), (4, 4), (4, 2), (4, 2)]
    assert model.predict_codes(images).shape == (4,)


def test_train_step_moves_the_losses_and_ignores_labels():
    model = _model()
    history = model.fit(_images(), epochs=2, verbose=0).history
    for key in ("d_loss", "g_loss", "mi_lower_bound", "q_cat_loss", "g_info_loss"):
        assert all(np.isfinite(history[key])) and history[key][0] != history[key][1], key
    labelled = tf.data.Dataset.from_tensor_slices(
        (np.zeros((16, RES, RES, 1), "float32"), np.zeros(16, "int32"))).batch(8)
    assert np.isfinite(model.fit(labelled, epochs=1, verbose=0).history["d_loss"][0])


def test_mutual_information_bound_rises_on_digits():
    keras.utils.set_random_seed(0)
    dataset = data_lib.load_dataset("digits", resolution=16, batch_size=64, seed=0)
    model = build_infogan(resolution=16, width=16, seed=0)
    history = model.fit(dataset, epochs=3, verbose=0).history
    # At initialisation Q is at chance: the categorical part is about log K - log K = 0.
    assert abs(history["mi_categorical"][0]) < 1.0
    assert history["mi_lower_bound"][-1] > history["mi_lower_bound"][0] + 0.5
    assert history["mi_categorical"][-1] > 0.5 * math.log(10)


def test_keras_round_trip(tmp_path):
    model = _model(learn_std=True, continuous_weight=0.5)
    model.fit(_images(), epochs=1, verbose=0)
    path = str(tmp_path / "infogan.keras")
    model.save(path)
    restored = keras.models.load_model(path)
    assert isinstance(restored, InfoGAN) and restored.learn_std
    assert restored.continuous_weight == 0.5 and restored.latent_spec() == model.latent_spec()
    inputs = sampling.sample_inputs(model.latent_spec(), 3, np.random.default_rng(0))
    np.testing.assert_allclose(np.asarray(restored.generator(inputs, training=False)),
                               np.asarray(model.generator(inputs, training=False)), atol=1e-6)
    restored.fit(_images(), epochs=1, verbose=0)


def test_checkpoint_items_restore_networks_optimizers_and_noise(tmp_path):
    model = _model()
    model.fit(_images(), epochs=1, verbose=0)
    path = tf.train.Checkpoint(**model.checkpoint_items()).save(str(tmp_path / "ckpt"))
    fresh = _model()
    tf.train.Checkpoint(**fresh.checkpoint_items()).restore(path).assert_existing_objects_matched()
    assert int(fresh.d_optimizer.iterations) == int(model.d_optimizer.iterations) == 4
    np.testing.assert_array_equal(np.asarray(fresh.seed_generator.state),
                                  np.asarray(model.seed_generator.state))
    for a, b in zip(fresh.discriminator.weights, model.discriminator.weights):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


def test_export_serves_every_code_in_a_fresh_process(tmp_path):
    model = _model()
    inputs = sampling.sample_inputs(model.latent_spec(), 5, np.random.default_rng(0))
    path = export.export_generator(model.generator, tmp_path / "export", spec=model.latent_spec())
    for name, value in zip(("z", "c_cat", "c_cont"), inputs):
        np.save(tmp_path / f"{name}.npy", value)
    script = textwrap.dedent(f"""
        import numpy as np, tensorflow as tf
        serve = tf.saved_model.load({str(path)!r}).signatures["serving_default"]
        feed = {{name: tf.constant(np.load(name + ".npy")) for name in ("z", "c_cat", "c_cont")}}
        out = serve(**feed)
        assert out["images"].dtype == tf.uint8 and feed["c_cat"].dtype == tf.int32
        np.save("images_float.npy", out["images_float"].numpy())
    """)
    subprocess.run([sys.executable, "-c", script], cwd=tmp_path, env=ENV, check=True,
                   capture_output=True, timeout=120)
    expected = np.asarray(model.generator(inputs, training=False))
    np.testing.assert_allclose(np.load(tmp_path / "images_float.npy"), expected, atol=1e-5)


def test_evaluation_matches_the_code_to_classes_and_scores_a_labelled_models_labels():
    """An InfoGAN run's evaluation (history.csv, `gan-apps evaluate`) reports ``code_match``,
    not a conditional accuracy of codes that name no class; a label-conditioned model's
    class input is scored as labels."""
    from gan_apps.pipelines import generation

    model = build_infogan(resolution=32, channels=1, width=4, seed=0)
    info = data_lib.source_info("digits", channels=1, data_dir=None)
    config = {"data": "digits", "resolution": 32, "channels": 1, "data_dir": None,
              "latent_spec": model.latent_spec()}
    for name, present, absent in (("infogan", "code_match", "conditional_accuracy"),
                                  ("acgan", "conditional_accuracy", "code_match")):
        evaluate = generation.make_evaluator({**config, "model": name}, info,
                                             names="classes", samples=40)
        results = evaluate(model.generator)
        assert 0.0 <= results[present] <= 1.0 and absent not in results, name
