"""Exact resume: a run killed with SIGKILL mid-epoch and started again ends with the weights
of an uninterrupted run (with --deterministic); NaN handling keeps the last good checkpoint."""

import os
import signal
import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest
import tensorflow as tf

SCRIPT = textwrap.dedent(
    """
    import os, signal, sys
    import keras
    from gan_apps.pipelines import generation

    model, out, kill_at = sys.argv[1], sys.argv[2], int(sys.argv[3])

    class KillAt(keras.callbacks.Callback):
        # SIGKILL this process after global step ``kill_at``: no cleanup, no final save.
        def on_train_batch_end(self, batch, logs=None):
            if kill_at and int(self.model.g_optimizer.iterations.numpy()) == kill_at:
                os.kill(os.getpid(), signal.SIGKILL)

    generation.train(model=model, data="digits", out=out, epochs=3, steps=4, batch_size=16,
                     resolution=8, width=4, seed=2, eval_every=0, deterministic=True,
                     callbacks=[KillAt()], verbose=0)
    """
)


def _run(script, model, out, kill_at=0):
    return subprocess.run([sys.executable, str(script), model, out, str(kill_at)],
                          capture_output=True, text=True, timeout=300,
                          env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"})


def _weights(run):
    return [w for name in ("generator", "discriminator")
            for w in keras.models.load_model(os.path.join(run, f"{name}.keras"),
                                             compile=False).get_weights()]


@pytest.mark.parametrize("model", ["dcgan", "wgan_gp"])
def test_killed_mid_epoch_then_rerun_equals_uninterrupted(tmp_path, model):
    script = tmp_path / "train.py"
    script.write_text(SCRIPT)
    whole, killed = str(tmp_path / "whole"), str(tmp_path / "killed")
    assert _run(script, model, whole).returncode == 0
    # Step 10 of 12 lies in the third epoch, after the epoch-2 checkpoint.
    first = _run(script, model, killed, kill_at=10)
    assert first.returncode == -signal.SIGKILL
    assert not os.path.exists(os.path.join(killed, "generator.keras"))
    reader = tf.train.load_checkpoint(os.path.join(killed, "checkpoints"))
    assert reader.get_tensor("epoch/.ATTRIBUTES/VARIABLE_VALUE") == 2
    second = _run(script, model, killed)
    assert second.returncode == 0, second.stderr[-2000:]
    assert "resuming" in second.stdout
    for a, b in zip(_weights(whole), _weights(killed)):
        np.testing.assert_array_equal(a, b)


def _nan_once_dataset(nan_at):
    """Digits batches of 8 at 8x8; the ``nan_at``-th batch drawn (counted over the whole
    test, across iterators) is NaN: a divergence that a lower learning rate would avoid."""
    from gan_apps import data

    images, _ = data.load_arrays("digits", resolution=8, num_examples=64)
    drawn = {"count": 0}

    def batches():
        while True:
            for start in range(0, 64, 8):
                drawn["count"] += 1
                batch = images[start:start + 8]
                yield np.full_like(batch, np.nan) if drawn["count"] == nan_at else batch

    return tf.data.Dataset.from_generator(
        batches, output_signature=tf.TensorSpec((8, 8, 8, 1), tf.float32))


@pytest.mark.parametrize("on_nan", ["stop", "rollback"])
def test_nan_stops_or_rolls_back_keeping_the_last_checkpoint(tmp_path, monkeypatch, on_nan):
    from gan_apps.callbacks import NonFiniteLossError
    from gan_apps.pipelines import generation

    monkeypatch.setattr(generation.data_lib, "load_dataset", lambda *a, **k: _nan_once_dataset(5))
    out = str(tmp_path / on_nan)
    kwargs = dict(model="dcgan", data="digits", out=out, epochs=3, steps=3, batch_size=8,
                  resolution=8, width=4, seed=0, eval_every=0, on_nan=on_nan, verbose=0)
    checkpoints = os.path.join(out, "checkpoints")
    if on_nan == "stop":
        with pytest.raises(NonFiniteLossError, match=r"at step 5 \(epoch 2, batch 2\)"):
            generation.train(**kwargs)
        reader = tf.train.load_checkpoint(checkpoints)
        assert reader.get_tensor("epoch/.ATTRIBUTES/VARIABLE_VALUE") == 1
        assert not os.path.exists(os.path.join(out, "generator.keras"))
        return
    generation.train(**kwargs)
    reader = tf.train.load_checkpoint(checkpoints)
    assert reader.get_tensor("epoch/.ATTRIBUTES/VARIABLE_VALUE") == 3
    # The default job's rates (G 2e-4, D 1e-4) were halved once by the rollback.
    for player, halved in (("g_optimizer", 1e-4), ("d_optimizer", 5e-5)):
        rate = reader.get_tensor(f"{player}/_learning_rate/.ATTRIBUTES/VARIABLE_VALUE")
        assert rate == pytest.approx(halved)
    weights = keras.models.load_model(os.path.join(out, "generator.keras"), compile=False).get_weights()
    assert all(np.all(np.isfinite(w)) for w in weights)


TRANSLATE_SCRIPT = textwrap.dedent(
    """
    import os, signal, sys
    import keras
    from gan_apps.pipelines import translation

    out, kill_at = sys.argv[1], int(sys.argv[2])

    class KillAt(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            if kill_at and int(self.model.g_optimizer.iterations.numpy()) == kill_at:
                os.kill(os.getpid(), signal.SIGKILL)

    translation.train(data="photos:tone", out=out, epochs=2, decay_epochs=1, steps=3,
                      batch_size=2, crop_size=32, ngf=4, ndf=4, n_blocks=1, pool_size=3,
                      seed=1, deterministic=True, callbacks=[KillAt()], verbose=0)
    """
)


def test_cyclegan_killed_mid_epoch_then_rerun_equals_uninterrupted(tmp_path):
    # The image pools, both optimizers (and so the learning-rate schedule) and the noise
    # state are in the checkpoint; the data of each epoch depends only on (seed, epoch).
    script = tmp_path / "translate.py"
    script.write_text(TRANSLATE_SCRIPT)
    whole, killed = str(tmp_path / "whole"), str(tmp_path / "killed")
    start = lambda out, kill_at=0: subprocess.Popen(  # noqa: E731
        [sys.executable, str(script), out, str(kill_at)], stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"})
    # The uninterrupted run and the one killed at step 8 of 9 (in the third epoch, the
    # decaying one, after the epoch-2 checkpoint) are independent: run them side by side
    # (most of each is single-threaded start-up and tracing).
    uninterrupted, first = start(whole), start(killed, kill_at=8)
    for proc in (uninterrupted, first):
        proc.communicate(timeout=300)
    assert uninterrupted.returncode == 0
    assert first.returncode == -signal.SIGKILL
    assert not os.path.exists(os.path.join(killed, "generator_ab.keras"))
    second = start(killed)
    stdout, stderr = second.communicate(timeout=300)
    assert second.returncode == 0, stderr[-2000:]
    assert "resuming" in stdout
    from gan_apps.models import cyclegan  # noqa: F401  (registers ReflectionPadding2D)

    names = ("generator_ab", "generator_ba", "discriminator_a", "discriminator_b")
    for name in names:
        a = keras.models.load_model(os.path.join(whole, f"{name}.keras"), compile=False)
        b = keras.models.load_model(os.path.join(killed, f"{name}.keras"), compile=False)
        for x, y in zip(a.get_weights(), b.get_weights()):
            np.testing.assert_array_equal(x, y)
