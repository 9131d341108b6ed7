"""Tests for models/progan.py: schedule, fades, resume mid-fade, saving and the pipeline."""

import json
import os

import keras
import numpy as np
import pytest
import tensorflow as tf

from gan_apps import callbacks, cli
from gan_apps.errors import UserInputError
from gan_apps.models.progan import ProGAN, Schedule, build_progan, downsample_real

FADE, STABLE = 32, 16


def _model(seed=0):
    return build_progan(resolution=8, width=4, latent_dim=8, seed=seed, fade_images=FADE,
                        stabilize_images=STABLE)


def _dataset():
    images = np.random.default_rng(0).uniform(-1, 1, (64, 8, 8, 1)).astype("float32")
    return tf.data.Dataset.from_tensor_slices(images).batch(8, drop_remainder=True).repeat()


def test_schedule_closed_form():
    schedule = Schedule(3, fade_images=100, stabilize_images=50)
    assert [schedule.start(s) for s in range(3)] == [0, 50, 200]
    assert [schedule.stage_at(n) for n in (0, 49, 50, 199, 200, 10_000)] == [0, 0, 1, 1, 2, 2]
    assert float(schedule.alpha_at(1, 75)) == pytest.approx(0.25)
    assert float(schedule.alpha_at(1, 400)) == 1.0
    assert float(schedule.alpha_at(2, 100)) == 0.0


def test_real_images_fade_between_resolutions_as_alpha_says():
    x = np.random.default_rng(1).normal(size=(2, 8, 8, 1)).astype("float32")
    fine = x.reshape(2, 4, 2, 4, 2, 1).mean(axis=(2, 4))  # avg-pool to 4x4 (stage 1 of 3)
    coarse = fine.reshape(2, 2, 2, 2, 2, 1).mean(axis=(2, 4)).repeat(2, 1).repeat(2, 2)
    out = np.asarray(downsample_real(x, stage=1, stages=3, alpha=0.3))
    np.testing.assert_allclose(out, 0.3 * fine + 0.7 * coarse, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(np.asarray(downsample_real(x, 2, 3, 1.0)), x, atol=1e-6)


def test_generator_fade_is_linear_in_alpha_and_full_model_upsamples():
    model = _model()
    z = np.random.default_rng(2).normal(size=(3, 8)).astype("float32")
    fade = model.generator.get_layer("g_fade_8")
    outputs = {}
    for alpha in (0.0, 0.4, 1.0):
        fade.alpha.assign(alpha)
        outputs[alpha] = np.asarray(model.stage_generators[1](z))
    np.testing.assert_allclose(outputs[0.4], 0.6 * outputs[0.0] + 0.4 * outputs[1.0], rtol=1e-4, atol=1e-5)
    # alpha 0 is the 4x4 output upsampled by nearest neighbour.
    low = np.asarray(model.stage_generators[0](z))
    np.testing.assert_allclose(outputs[0.0], low.repeat(2, 1).repeat(2, 2), rtol=1e-5, atol=1e-6)
    # The saved generator answers at the full resolution in every stage.
    model.set_schedule_weights(0)
    np.testing.assert_allclose(np.asarray(model.generator(z)),
                               np.clip(low, -1, 1).repeat(2, 1).repeat(2, 2), rtol=1e-5)
    model.set_schedule_weights(STABLE + FADE // 4)
    assert float(fade.alpha.numpy()) == pytest.approx(0.25)
    assert model.generator(z).shape == (3, 8, 8, 1)


def test_training_advances_the_schedule_and_resume_mid_fade_continues_it(tmp_path):
    model = _model(seed=3)
    model.run_eagerly = True  # a few steps: eager is cheaper than tracing two stages
    model.fit(_dataset(), epochs=1, steps_per_epoch=3, verbose=0)  # 24 images: mid-fade
    assert int(model.images_seen.numpy()) == 24 and model.current_stage() == 1
    alpha = model.current_alpha()
    assert alpha == pytest.approx((24 - STABLE) / FADE)
    assert float(model.generator.get_layer("g_fade_8").alpha.numpy()) == pytest.approx(alpha)
    assert float(model.discriminator.get_layer("d_fade_8").alpha.numpy()) == pytest.approx(alpha)
    checkpoint = tf.train.Checkpoint(**model.checkpoint_items())
    path = checkpoint.save(str(tmp_path / "ckpt"))

    resumed = _model(seed=99)
    resumed.run_eagerly = True
    tf.train.Checkpoint(**resumed.checkpoint_items()).restore(path).assert_existing_objects_matched()
    assert resumed.current_alpha() == pytest.approx(alpha)
    z = np.random.default_rng(4).normal(size=(2, 8)).astype("float32")
    np.testing.assert_allclose(np.asarray(resumed.generator(z)), np.asarray(model.generator(z)), rtol=1e-5)
    history = resumed.fit(_dataset(), epochs=1, steps_per_epoch=1, verbose=0).history
    assert history["alpha"][0] == pytest.approx(alpha)
    assert resumed.current_alpha() == pytest.approx((32 - STABLE) / FADE)


def test_moving_average_restarts_from_g_during_each_fade_and_averages_between():
    model = _model(seed=5)
    model.run_eagerly = True
    average = callbacks.ExponentialMovingAverage(model, decay=0.5)
    seen = []

    class Record(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            same = all(np.array_equal(a, w) for a, w in
                       zip(average.generator.get_weights(), model.generator.get_weights()))
            seen.append((int(model.images_seen.numpy()), model.averaging_ready(), same))

    # Batches of 8: 4x4 until 16 images, the 8x8 block fades in over 16..48, then stabilises.
    model.fit(_dataset(), epochs=1, steps_per_epoch=8, verbose=0, callbacks=[average, Record()])
    # Read after each step, so for the next one: at 16 images the next step fades.
    assert [s[:2] for s in seen] == [(8, True), (16, False), (24, False), (32, False),
                                     (40, False), (48, True), (56, True), (64, True)]
    # An average over the stable stretches, a copy of G (the last iterate) before and while
    # the block fades in.
    assert [s[2] for s in seen] == [False, True, True, True, True, False, False, False]


def test_keras_round_trip_keeps_schedule(tmp_path):
    model = _model()
    model.images_seen.assign(STABLE + FADE // 2)
    model.set_schedule_weights()
    model.save(tmp_path / "progan.keras")
    loaded = keras.models.load_model(tmp_path / "progan.keras")
    assert isinstance(loaded, ProGAN) and loaded.current_alpha() == pytest.approx(0.5)
    model.generator.save(tmp_path / "generator.keras")
    generator = keras.models.load_model(tmp_path / "generator.keras")
    z = np.ones((2, 8), "float32")
    np.testing.assert_allclose(np.asarray(generator(z)), np.asarray(model.generator(z)), rtol=1e-5)


def test_bad_resolution_and_labels_are_user_errors():
    with pytest.raises(UserInputError, match="power of two"):
        build_progan(resolution=24)
    with pytest.raises(UserInputError, match="unconditional"):
        build_progan(resolution=8, num_classes=10)


def test_phase_images_sets_both_phase_lengths_for_progan_only():
    from gan_apps.cli import build_parser
    from gan_apps.models import presets

    model = presets.build_model("progan", resolution=8, width=4, latent_dim=8, seed=0,
                                phase_images=40)
    assert (model.schedule.fade, model.schedule.stabilize) == (40, 40)
    assert model.schedule.start(1) == 40
    assert model.get_config()["fade_images"] == 40
    with pytest.raises(UserInputError, match="--phase-images is not available for --model dcgan"):
        presets.build_model("dcgan", resolution=8, width=4, latent_dim=8, seed=0, phase_images=40)
    assert build_parser().parse_args(["train", "--phase-images", "4000"]).phase_images == 4000
    with pytest.raises(SystemExit):
        build_parser().parse_args(["train", "--phase-images", "0"])


def test_cli_trains_progan_through_stages(tmp_path):
    out = tmp_path / "run"
    code = cli.main(["train", "--model", "progan", "--data", "digits", "--resolution", "8",
                     "--width", "4", "--latent-dim", "8", "--epochs", "2", "--steps", "3",
                     "--batch-size", "8", "--eval-every", "0", "--out", str(out)])
    assert code == 0
    config = json.loads((out / "config.json").read_text())
    assert config["latent_spec"] == [{"name": "z", "kind": "normal", "dim": 8}]
    generator = keras.models.load_model(out / "generator.keras")
    assert generator.output_shape == (None, 8, 8, 1)
    # One grid per epoch: the first at 4x4 (upsampled), the second after the 8x8 fade-in began.
    assert len([f for f in os.listdir(out / "samples") if f.endswith(".png")]) == 2
    assert config["epochs"] == 2
