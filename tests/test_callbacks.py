"""Training callbacks: EMA of generator weights, best-score memory across resumes."""

import json
import os

import keras
import numpy as np
import pytest

from gan_apps import callbacks
from gan_apps.models.presets import build_gan


def _tiny_gan():
    return build_gan("dcgan", resolution=8, channels=1, width=4, latent_dim=3, seed=0)


def test_ema_matches_the_closed_form_over_generator_updates():
    gan = _tiny_gan()
    ema = callbacks.ExponentialMovingAverage(gan, decay=0.5)
    ema.set_model(gan)
    start = [w.copy() for w in gan.generator.get_weights()]
    expected = [w.copy() for w in start]
    trainable = {v.path for v in gan.generator.trainable_weights}
    data = np.random.default_rng(0).uniform(-1, 1, (4, 8, 8, 1)).astype("float32")
    for step in range(3):
        gan.train_on_batch(data)
        ema.on_train_batch_end(step)
        for i, w in enumerate(gan.generator.weights):
            new = np.asarray(w)
            expected[i] = 0.5 * expected[i] + 0.5 * new if w.path in trainable else new
    for got, want in zip(ema.generator.get_weights(), expected):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    # A step without a generator update (n_critic > 1) leaves the average alone.
    before = ema.generator.get_weights()
    ema.on_train_batch_end(99)
    for got, want in zip(ema.generator.get_weights(), before):
        np.testing.assert_array_equal(got, want)


def test_ema_decay_must_lie_in_the_unit_interval():
    with pytest.raises(ValueError):
        callbacks.ExponentialMovingAverage(_tiny_gan(), decay=1.0)


def test_best_generator_is_only_replaced_by_a_better_score_after_resume(tmp_path):
    gan = _tiny_gan()
    best = str(tmp_path / "best_generator.keras")
    scores = iter([5.0, 7.0, 4.0])

    def make():
        cb = callbacks.PeriodicEvaluation(lambda g: {"fid": next(scores)}, every=1,
                                          monitor="fid", mode="min", best_path=best)
        cb.set_model(gan)
        return cb

    make().on_epoch_end(0, {})
    assert json.load(open(str(tmp_path / "best_generator.json")))["value"] == 5.0
    stamp = os.path.getmtime(best)
    resumed = make()  # a new process resuming the run
    assert resumed.best == 5.0
    resumed.on_epoch_end(1, {})  # 7.0 is worse: the best stays
    assert os.path.getmtime(best) == stamp
    assert json.load(open(str(tmp_path / "best_generator.json")))["epoch"] == 1
    resumed.on_epoch_end(2, {})  # 4.0 is better
    state = json.load(open(str(tmp_path / "best_generator.json")))
    assert state == {"monitor": "fid", "value": 4.0, "epoch": 3}
    assert isinstance(keras.models.load_model(best, compile=False), keras.Model)
