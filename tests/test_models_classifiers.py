"""Classifiers to attack, the evaluator architecture, PGD (Madry et al. 2018) and PGD training."""

import os

import keras
import numpy as np
import pytest

from gan_apps import runs
from gan_apps.errors import UserInputError
from gan_apps.models import classifiers


def _linear_classifier(seed=0):
    """images [B, 4, 4, 1] -> logits [B, 3]: a flatten and one dense layer (closed-form grads)."""
    images = keras.Input((4, 4, 1))
    logits = keras.layers.Dense(3, kernel_initializer=keras.initializers.RandomNormal(seed=seed),
                                bias_initializer="zeros")(keras.layers.Flatten()(images))
    return keras.Model(images, logits)


def _softmax(x):
    e = np.exp(x - x.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


@pytest.mark.parametrize("architecture", classifiers.ARCHITECTURES)
def test_architectures_map_images_to_logits(architecture):
    model = classifiers.build_classifier(architecture, resolution=16, channels=1, num_classes=10,
                                         width=4, seed=0)
    out = model(np.zeros((2, 16, 16, 1), np.float32))
    assert out.shape == (2, 10)
    assert model.get_layer("logits").dtype_policy.compute_dtype == "float32"


def test_bad_architecture_and_shape_are_user_errors():
    with pytest.raises(UserInputError, match="architecture"):
        classifiers.build_classifier("vgg")
    with pytest.raises(UserInputError, match="resolution"):
        classifiers.build_classifier("cnn", resolution=10)


def test_pgd_step_matches_closed_form_gradient_sign():
    """One step without random start: x + alpha sgn(grad_x CE), the CE gradient of a linear
    classifier being W (softmax(Wx + b) - onehot(y)) (Madry et al. 2018, Sec. 2.1)."""
    model = _linear_classifier()
    rng = np.random.default_rng(0)
    x = rng.uniform(-0.5, 0.5, size=(5, 4, 4, 1)).astype(np.float32)
    y = np.array([0, 1, 2, 0, 1])
    kernel, bias = (np.asarray(v) for v in model.get_layer(index=2).weights)
    flat = x.reshape(5, 16)
    grad = (_softmax(flat @ kernel + bias) - np.eye(3)[y]) @ kernel.T
    for targeted, direction in ((False, 1.0), (True, -1.0)):
        out = np.asarray(classifiers.pgd_perturb(model, x, y, eps=0.3, step_size=0.1, steps=1,
                                                 targeted=targeted, random_start=False))
        expected = np.clip(flat + direction * 0.1 * np.sign(grad), -1, 1).reshape(x.shape)
        np.testing.assert_allclose(out, expected, atol=1e-6)


def test_pgd_stays_in_the_ball_and_the_box_and_reaches_the_target():
    model = _linear_classifier(1)
    x = np.random.default_rng(1).uniform(-1, 1, size=(8, 4, 4, 1)).astype(np.float32)
    target = np.full(8, 2)
    out = np.asarray(classifiers.pgd_perturb(model, x, target, eps=0.5, step_size=0.1, steps=20,
                                             targeted=True, seed=0))
    assert np.max(np.abs(out - x)) <= 0.5 + 1e-6
    assert out.min() >= -1.0 and out.max() <= 1.0
    before = _softmax(np.asarray(model(x)))[:, 2]
    after = _softmax(np.asarray(model(out)))[:, 2]
    assert np.all(after > before)


def test_pgd_trainer_fits_and_round_trips(tmp_path):
    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    # Two separable classes: bright top half vs bright bottom half.
    labels = rng.integers(0, 2, size=64)
    images = np.full((64, 8, 8, 1), -1.0, np.float32)
    for i, label in enumerate(labels):
        images[i, :4] = 1.0 if label == 0 else -1.0
        images[i, 4:] = 1.0 if label == 1 else -1.0
    model = classifiers.cnn_classifier(8, 1, 2, width=4, seed=0)
    trainer = classifiers.PGDTrainer(model, eps=0.2, step_size=0.1, steps=2, seed=0)
    trainer.compile(optimizer=keras.optimizers.Adam(1e-2))
    history = trainer.fit(images, labels, batch_size=16, epochs=4, verbose=0)
    assert history.history["adv_loss"][-1] < history.history["adv_loss"][0]
    path = os.path.join(tmp_path, "trainer.keras")
    runs.save_model(trainer, path)
    restored = keras.models.load_model(path, compile=False)
    assert isinstance(restored, classifiers.PGDTrainer)
    assert (restored.eps, restored.step_size, restored.steps) == (0.2, 0.1, 2)
    np.testing.assert_allclose(np.asarray(restored(images[:4])), np.asarray(trainer(images[:4])),
                               atol=1e-5)
