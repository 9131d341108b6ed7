"""AC-GAN: class losses of Odena et al. eq. 2 against numpy; WGAN-GP recipe; digits run; saving."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from gan_apps import data as data_lib
from gan_apps import penalties
from gan_apps.errors import UserInputError
from gan_apps.evaluation import features
from gan_apps.evaluation.metrics import conditional_accuracy
from gan_apps.models.acgan import ACGAN, acgan_discriminator, build_acgan

RES, WIDTH, K = 8, 4, 3


def _labelled(n=32, seed=0):
    rng = np.random.default_rng(seed)
    images = rng.uniform(-1, 1, size=(n, RES, RES, 1)).astype("float32")
    labels = (np.arange(n) % K).astype("int32")
    return tf.data.Dataset.from_tensor_slices((images, labels)).batch(8, drop_remainder=True)


def _model(**options):
    return build_acgan(resolution=RES, num_classes=K, latent_dim=6, width=WIDTH, seed=0,
                       embed_dim=5, **options)


def _numpy_ce(labels, logits):
    logits = np.asarray(logits, np.float64)
    log_p = logits - np.logaddexp.reduce(logits, axis=1, keepdims=True)
    return -np.mean(log_p[np.arange(len(labels)), labels])


def test_class_losses_match_numpy_cross_entropy():
    rng = np.random.default_rng(0)
    real_logits, fake_logits = rng.normal(size=(6, K)) * 3, rng.normal(size=(6, K)) * 3
    real_labels, fake_labels = rng.integers(0, K, 6), rng.integers(0, K, 6)
    real_ce, fake_ce = _numpy_ce(real_labels, real_logits), _numpy_ce(fake_labels, fake_logits)
    args = ([tf.constant(real_logits, tf.float32)], tf.constant(real_labels, tf.int32),
            [tf.constant(fake_logits, tf.float32)], [tf.constant(fake_labels, tf.int32)])

    odena = _model(class_weight=2.0, generator_class_weight=0.5)
    loss, logs = odena.discriminator_auxiliary_loss(*args)
    np.testing.assert_allclose(float(loss), 2.0 * (real_ce + fake_ce), rtol=1e-5)
    expected_acc = np.mean(np.argmax(real_logits, 1) == real_labels)
    np.testing.assert_allclose(float(logs["aux_acc_real"]), expected_acc)
    g_loss, g_logs = odena.generator_auxiliary_loss(args[2], args[3])
    np.testing.assert_allclose(float(g_loss), 0.5 * fake_ce, rtol=1e-5)
    np.testing.assert_allclose(float(g_logs["g_class_loss"]), fake_ce, rtol=1e-5)

    real_only = _model(fake_class_loss=False)
    loss, _ = real_only.discriminator_auxiliary_loss(*args)
    np.testing.assert_allclose(float(loss), real_ce, rtol=1e-5)


def test_cross_entropy_is_finite_at_extreme_logits():
    model = _model()
    logits = tf.constant([[1000.0, -1000.0, 0.0]])
    loss, _ = model.generator_auxiliary_loss([logits], [tf.constant([1])])
    np.testing.assert_allclose(float(loss), 2000.0, rtol=1e-6)


def test_wasserstein_recipe_is_gulrajani_acgan():
    # At 16x16 the critic has two convolutions, and the second one is normalized.
    model = build_acgan(resolution=16, num_classes=K, latent_dim=6, width=WIDTH, seed=0,
                        objective="wasserstein")
    assert model.n_critic == 5 and model.objective_name == "wasserstein"
    assert [type(p) for p in model.penalties] == [penalties.GradientPenalty]
    assert model.penalties[0].weight == 10.0
    assert model.class_weight == 1.0 and model.generator_class_weight == 0.1
    assert not model.fake_class_loss
    body = model.discriminator.get_layer("dcgan_features")
    assert any(isinstance(layer, keras.layers.GroupNormalization) for layer in body.layers)
    assert not any(isinstance(layer, keras.layers.BatchNormalization) for layer in body.layers)
    assert float(model.d_optimizer.beta_1) == 0.0 and float(model.d_optimizer.beta_2) == 0.9
    images = np.zeros((2, 16, 16, 1), "float32")
    # The critic the gradient penalty differentiates is the adversarial logit alone.
    assert model.discriminator_logits(images, None).shape == (2, 1)
    explicit = _model(objective="wasserstein", penalties=[penalties.GradientPenalty(5.0)],
                      n_critic=3, d_norm="layer", generator_class_weight=1.0)
    assert explicit.n_critic == 3 and explicit.penalties[0].weight == 5.0
    assert explicit.generator_class_weight == 1.0
    history = _model(objective="wasserstein").fit(_labelled().repeat(2), epochs=1, verbose=0).history
    assert history["gradient_penalty"][0] > 0
    assert all(np.isfinite(v[0]) for v in history.values())


def test_discriminator_heads_and_errors():
    d = acgan_discriminator(RES, 1, num_classes=K, width=WIDTH)
    logits, class_logits = d(np.zeros((2, RES, RES, 1), "float32"))
    assert logits.shape == (2, 1) and class_logits.shape == (2, K)
    with pytest.raises(UserInputError, match="unknown AC-GAN option"):
        _model(clas_weight=1.0)
    with pytest.raises(UserInputError, match="labels"):
        _model().fit(tf.data.Dataset.from_tensor_slices(np.zeros((16, RES, RES, 1), "float32")).batch(8),
                     epochs=1, verbose=0)


def test_train_step_moves_the_losses():
    model = _model()
    history = model.fit(_labelled(), epochs=2, verbose=0).history
    for key in ("d_loss", "g_loss", "d_class_loss", "g_class_loss", "aux_acc_real", "aux_acc_fake"):
        assert len(history[key]) == 2 and all(np.isfinite(history[key])), key
        assert history[key][0] != history[key][1] or key.startswith("aux_acc"), key


def test_keras_round_trip(tmp_path):
    model = _model(class_weight=0.5, fake_class_loss=False)
    model.fit(_labelled(), epochs=1, verbose=0)
    path = str(tmp_path / "acgan.keras")
    model.save(path)
    restored = keras.models.load_model(path)
    assert isinstance(restored, ACGAN)
    assert (restored.class_weight, restored.generator_class_weight, restored.fake_class_loss) == (0.5, 0.5, False)
    assert restored.latent_spec() == model.latent_spec()
    images = np.random.default_rng(0).uniform(-1, 1, size=(4, RES, RES, 1)).astype("float32")
    np.testing.assert_allclose(restored.classify(images), model.classify(images), atol=1e-5)
    restored.fit(_labelled(), epochs=1, verbose=0)


def test_conditional_samples_match_their_labels_after_a_short_digits_run():
    """Odena et al. Sec. 4: samples classified as their label; chance is 10%."""
    keras.utils.set_random_seed(0)
    dataset = data_lib.load_dataset("digits", resolution=16, batch_size=64, with_labels=True, seed=0)
    model = build_acgan(resolution=16, num_classes=10, width=16, seed=0)
    model.fit(dataset, epochs=5, verbose=0)
    labels = np.arange(200) % 10
    samples = np.asarray(model.generate(200, labels=labels))
    logits = features.get_extractor("digits")(samples)["logits"]
    assert conditional_accuracy(logits, labels) > 0.4
    real, real_labels = data_lib.load_arrays("digits", resolution=16, split="test")
    assert model.auxiliary_accuracy(real, real_labels) > 0.4
