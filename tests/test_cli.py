"""`gan-apps` end to end: train, resume, sample, export, and one-line errors with exit 2."""

import csv
import json
import os
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from gan_apps.cli import main

TINY = ["--resolution", "16", "--width", "8", "--batch-size", "16", "--steps", "3", "--seed", "1"]


def _rows(path):
    with open(path) as f:
        return list(csv.DictReader(f))


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory):
    run = str(tmp_path_factory.mktemp("runs") / "dcgan")
    assert main(["train", "--data", "digits", "--out", run, "--epochs", "2", *TINY]) == 0
    return run


def test_train_writes_the_run_folder(trained_run):
    for name in ("config.json", "history.csv", "generator.keras", "discriminator.keras",
                 "samples/epoch_0001.png", "samples/epoch_0002.png",
                 "export/saved_model.pb", "checkpoints/checkpoint"):
        assert os.path.exists(os.path.join(trained_run, name)), name
    assert os.listdir(os.path.join(trained_run, "logs"))
    rows = _rows(os.path.join(trained_run, "history.csv"))
    assert [r["epoch"] for r in rows] == ["0", "1"]
    assert {"d_loss", "g_loss", "d_real", "d_fake", "d_acc_real", "g_grad_norm"} <= set(rows[0])
    # Periodic evaluation (digits default: first epoch, then every 5th) lands in the CSV.
    assert float(rows[0]["fid"]) > 0 and float(rows[0]["classes_covered"]) >= 1
    assert rows[1]["fid"].lower() == "nan"
    assert os.path.exists(os.path.join(trained_run, "best_generator.keras"))
    assert os.path.getsize(os.path.join(trained_run, "history.png")) > 0


def test_rerun_resumes_from_the_checkpoint(trained_run, capsys):
    assert main(["train", "--data", "digits", "--out", trained_run, "--epochs", "3", *TINY]) == 0
    assert "resuming" in capsys.readouterr().out
    rows = _rows(os.path.join(trained_run, "history.csv"))
    assert [r["epoch"] for r in rows] == ["0", "1", "2"]
    reader = tf.train.load_checkpoint(os.path.join(trained_run, "checkpoints"))
    assert reader.get_tensor("epoch/.ATTRIBUTES/VARIABLE_VALUE") == 3


def test_sample_and_export(trained_run, tmp_path):
    grid = str(tmp_path / "grid.png")
    assert main(["sample", trained_run, "--num", "9", "--output", grid]) == 0
    assert os.path.getsize(grid) > 0
    export_dir = str(tmp_path / "exported")
    assert main(["export", trained_run, "--output", export_dir]) == 0
    loaded = tf.saved_model.load(export_dir)
    out = loaded.signatures["serving_default"](z=tf.zeros((2, 100)))
    assert out["images"].dtype == tf.uint8 and out["images"].shape == (2, 16, 16, 1)
    # The export also samples z itself, with the truncation trick when truncation > 0.
    drawn = loaded.signatures["sample"](num=tf.constant(3), truncation=tf.constant(0.5))
    assert drawn["images"].shape == (3, 16, 16, 1)


def test_evaluate_prints_a_table_and_writes_metrics_json(trained_run, capsys):
    assert main(["evaluate", trained_run, "--samples", "300", "--metrics", "fid,kid,pr,classes"]) == 0
    out = capsys.readouterr().out
    for key in ("fid", "kid", "precision", "recall", "classes_covered", "extractor"):
        assert key in out
    with open(os.path.join(trained_run, "metrics.json")) as f:
        metrics = json.load(f)
    assert metrics["samples"] == 300 and metrics["fid"] > 0 and 0 <= metrics["recall"] <= 1


def test_points_run_draws_scatter_plots(tmp_path):
    run = str(tmp_path / "ring")
    assert main(["train", "--model", "wgan_gp", "--data", "ring8", "--out", run,
                 "--epochs", "1", "--steps", "5"]) == 0
    assert os.path.exists(os.path.join(run, "samples", "epoch_0001.png"))


def test_changed_settings_do_not_overwrite_a_run(trained_run, capsys):
    before = os.path.getmtime(os.path.join(trained_run, "generator.keras"))
    code = main(["train", "--data", "digits", "--out", trained_run, "--model", "lsgan", *TINY])
    assert code == 2
    assert "different settings" in capsys.readouterr().err
    assert os.path.getmtime(os.path.join(trained_run, "generator.keras")) == before


def test_console_script_reports_errors_without_traceback(tmp_path):
    script = os.path.join(os.path.dirname(sys.executable), "gan-apps")
    result = subprocess.run([script, "sample", str(tmp_path / "missing")], cwd=tmp_path,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 2
    # TensorFlow's native runtime may log its own start-up lines first; ours is one line.
    ours = [line for line in result.stderr.splitlines() if line.startswith("gan-apps")]
    assert len(ours) == 1 and ours[0].startswith("gan-apps: error:")
    assert result.stderr.strip().splitlines()[-1] == ours[0]
    assert "Traceback" not in result.stderr


def test_sample_seed_is_repeatable(trained_run, tmp_path):
    import cv2

    a, b = str(tmp_path / "a.png"), str(tmp_path / "b.png")
    main(["sample", trained_run, "--num", "4", "--seed", "7", "--output", a])
    main(["sample", trained_run, "--num", "4", "--seed", "7", "--output", b])
    np.testing.assert_array_equal(cv2.imread(a), cv2.imread(b))


def test_ema_and_orthogonal_regularization_options(tmp_path):
    run = str(tmp_path / "ema")
    argv = ["train", "--data", "digits", "--out", run, "--epochs", "1", "--eval-every", "0",
            "--ema", "0.9", "--ortho-reg", "1e-4", *TINY]
    assert main(argv) == 0
    with open(os.path.join(run, "config.json")) as f:
        config = json.load(f)
    assert config["ema"] == 0.9 and config["ortho_reg"] == 1e-4
    assert config["latent_spec"] == [{"name": "z", "kind": "normal", "dim": 100}]
    assert "orthogonal_regularization" in _rows(os.path.join(run, "history.csv"))[0]
    import keras

    ema = keras.models.load_model(os.path.join(run, "generator.keras"), compile=False)
    raw = keras.models.load_model(os.path.join(run, "generator_raw.keras"), compile=False)
    assert any(not np.allclose(a, b) for a, b in zip(ema.get_weights(), raw.get_weights()))
    reader = tf.train.load_checkpoint(os.path.join(run, "checkpoints"))
    assert any(name.startswith("ema_generator") for name in reader.get_variable_to_shape_map())
