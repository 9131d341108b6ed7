"""Super-resolution pipeline: training beats bicubic, tiling, export, CLI and bad input."""

import json
import os
import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest

from gan_apps import cli, commands, degradations
from gan_apps.data import hr_images
from gan_apps.evaluation.image_quality import psnr
from gan_apps.images import write_png
from gan_apps.models import srresnet
from gan_apps.pipelines import super_resolution as sr

# Full-batch Adam steps on 32 fixed 16-px patches (a probe reached 36.6 dB vs bicubic's
# 35.2 dB after 300 steps).
STEPS = 350
TINY = ["--blocks", "1", "--filters", "8", "--patch-size", "16", "--batch-size", "4",
        "--steps", "2", "--no-batch-norm"]


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory):
    """A tiny x2 SRResNet run on the embedded photos (1 epoch of 2 steps)."""
    out = str(tmp_path_factory.mktemp("sr") / "run")
    assert cli.main(["super-resolve", "train", "--scale", "2", "--data", "photos", "--out", out,
                     "--epochs", "1", *TINY]) == 0
    return out


def _uint8(x):
    return np.clip(np.round((np.asarray(x) + 1.0) * 127.5), 0, 255).astype(np.uint8)


def test_short_pretraining_beats_bicubic_on_tiny_patches():
    keras.utils.set_random_seed(0)
    images = hr_images.load_images("photos", split="train", channels=3)
    images = [item for item in images if item[0] in ("astronaut", "rocket", "motorcycle_left")]
    lr, hr = next(hr_images.patch_batches(images, scale=2, patch_size=16, batch_size=256,
                                   degradation="matlab_bicubic", seed=0))
    textured = np.argsort(hr.std(axis=(1, 2, 3)))[-32:]  # flat sky would make PSNR infinite
    lr, hr = lr[textured], hr[textured]
    bicubic = np.stack([degradations.upscale(x, 2) for x in _uint8(lr)])
    model = srresnet.SRGAN(srresnet.srresnet_generator(2, 3, num_blocks=1, filters=32, batch_norm=False))
    model.compile(g_optimizer=keras.optimizers.Adam(2e-3))
    for _ in range(STEPS):
        model.train_on_batch(lr, hr)
    ours = psnr(_uint8(model.generator(lr)), _uint8(hr), border=2)
    baseline = psnr(bicubic, _uint8(hr), border=2)
    assert ours > baseline, (ours, baseline)


def test_tiled_output_matches_whole_image():
    keras.utils.set_random_seed(1)
    generator = srresnet.srresnet_generator(2, 3, num_blocks=1, filters=8)
    lr = np.random.default_rng(0).integers(0, 256, size=(37, 29, 3), dtype=np.uint8)
    whole = sr.super_resolve(generator, lr, 2, tile=64)
    # Default context = receptive radius in LR pixels: 4 + 2 + 1 + 1 + 2 (9x9 tail at x2) = 10.
    assert srresnet.receptive_radius(2, 1) == 10
    tiled = sr.super_resolve(generator, lr, 2, tile=8)
    difference = np.abs(whole.astype(int) - tiled.astype(int))
    assert whole.shape == (74, 58, 3)
    assert difference.max() <= 1 and np.mean(difference > 0) < 1e-3
    short_context = sr.super_resolve(generator, lr, 2, tile=8, overlap=0)
    assert np.abs(whole.astype(int) - short_context.astype(int)).max() > 1


def test_tiled_residual_network_matches_whole_image_and_small_images():
    keras.utils.set_random_seed(1)
    generator = srresnet.residual_generator(3, 3, num_blocks=2, filters=8)
    generator.get_layer("gate").gate.assign(0.7)  # as if trained: the branch counts
    lr = np.random.default_rng(0).integers(0, 256, size=(23, 17, 3), dtype=np.uint8)
    whole = sr.super_resolve(generator, lr, 3, tile=64)
    tiled = sr.super_resolve(generator, lr, 3, tile=9)
    assert np.abs(whole.astype(int) - tiled.astype(int)).max() <= 1
    for shape in ((1, 1, 3), (2, 9, 3)):
        tiny = np.random.default_rng(1).integers(0, 256, size=shape, dtype=np.uint8)
        assert sr.super_resolve(generator, tiny, 3).shape == (shape[0] * 3, shape[1] * 3, 3)


def test_untrained_network_output_is_bicubic_on_a_photo():
    generator = srresnet.residual_generator(4, 3, num_blocks=1, filters=4)
    hr = degradations.modcrop(hr_images.load_images("photos", split="test", channels=3)[0][1], 4)
    lr = degradations.matlab_bicubic(hr[:160, :200], 4)
    ours = sr.super_resolve(generator, lr, 4).astype(int)
    # Bicubic in float, rounded once: equal up to the final rounding.
    exact = np.clip(np.round(degradations.upscale(lr.astype(np.float64), 4)), 0, 255)
    assert np.abs(ours - exact).max() <= 1
    # MATLAB's uint8 bicubic also rounds and clips between its passes: within a grey level on average.
    assert np.abs(ours - degradations.upscale(lr, 4)).mean() < 0.5


def test_presets_fill_what_is_not_given():
    cpu = sr.run_config(commands.settings("super-resolve", "train"), hr_images.check_source("photos"))
    assert (cpu["network"], cpu["blocks"], cpu["filters"], cpu["loss"], cpu["batch_norm"]) == (
        "residual", 8, 32, "l1", False)
    assert (cpu["learning_rate"], cpu["lr_schedule"], cpu["patch_size"]) == (1e-3, "cosine", 96)
    paper = sr.run_config(commands.settings("super-resolve", "train", {"preset": "paper", "scale": 2,
                                                                       "blocks": 4}),
                          hr_images.check_source("photos"))
    assert (paper["network"], paper["blocks"], paper["filters"], paper["loss"]) == (
        "srresnet", 4, 64, "mse")
    assert (paper["batch_norm"], paper["learning_rate"], paper["patch_size"]) == (True, 1e-4, 96)


def test_run_folder_evaluate_apply_export(trained_run, tmp_path, capsys):
    config = json.load(open(os.path.join(trained_run, "config.json")))
    assert config["kind"] == "super_resolution" and config["degradation"] == "matlab_bicubic"
    assert os.path.isfile(os.path.join(trained_run, "generator.keras"))
    assert os.path.isdir(os.path.join(trained_run, "checkpoints"))

    assert cli.main(["super-resolve", "evaluate", trained_run, "--max-images", "1"]) == 0
    out = capsys.readouterr().out
    assert "srresnet run, residual network 1 x 8" in out
    for row in ("model", "bicubic", "lanczos3"):
        assert any(line.startswith(row + " ") for line in out.splitlines()), row
    verdict = [line for line in out.splitlines() if line.startswith("verdict: the model is")]
    assert len(verdict) == 1 and "bicubic" in verdict[0]
    results = json.load(open(os.path.join(trained_run, "metrics.json")))
    assert results["images"] == 1 and results["scale"] == 2 and "model" in results
    assert 25 < results["bicubic"]["psnr"] < 45 and 0 < results["model"]["ssim"] <= 1
    assert results["verdict"] == verdict[0]
    assert results["gain_db"] == pytest.approx(results["model"]["psnr"] - results["bicubic"]["psnr"])
    # Two steps barely move the gate: the residual network is still (nearly) bicubic.
    assert abs(results["gain_db"]) < 0.5 and abs(results["model"]["colour_bias"]) < 1.0

    inputs = tmp_path / "in"
    rng = np.random.default_rng(0)
    write_png(str(inputs / "colour.png"), rng.integers(0, 256, (20, 30, 3), dtype=np.uint8))
    write_png(str(inputs / "gray.png"), rng.integers(0, 256, (9, 7, 1), dtype=np.uint8))
    (inputs / "broken.png").write_bytes(b"not an image")
    with pytest.warns(UserWarning, match="skipped 1 undecodable"):
        written = sr.apply(trained_run, input=str(inputs), output=str(tmp_path / "out"), tile=8)
    assert len(written) == 2
    import cv2

    assert cv2.imread(os.path.join(tmp_path, "out", "gray.png")).shape == (18, 14, 3)
    assert cv2.imread(os.path.join(tmp_path, "out", "colour.png")).shape == (40, 60, 3)


def test_export_matches_keras_in_a_fresh_process(trained_run, tmp_path):
    generator = keras.models.load_model(os.path.join(trained_run, "generator.keras"))
    lr = np.random.default_rng(2).integers(0, 256, size=(2, 11, 13, 3), dtype=np.uint8)
    expected = _uint8(generator(lr.astype(np.float32) / 127.5 - 1.0))
    np.save(tmp_path / "lr.npy", lr)
    script = textwrap.dedent(f"""
        import numpy as np, tensorflow as tf
        served = tf.saved_model.load({os.path.join(trained_run, "export")!r})
        out = served.signatures["serving_default"](lr=tf.constant(np.load({str(tmp_path / "lr.npy")!r})))
        np.save({str(tmp_path / "hr.npy")!r}, out["hr"].numpy())
    """)
    subprocess.run([sys.executable, "-c", script], check=True, capture_output=True)
    hr = np.load(tmp_path / "hr.npy")
    assert hr.dtype == np.uint8 and hr.shape == (2, 22, 26, 3)
    assert np.abs(hr.astype(int) - expected.astype(int)).max() <= 1


def test_resume_and_srgan_from_srresnet(trained_run, tmp_path, capsys):
    assert cli.main(["super-resolve", "train", "--scale", "2", "--out", trained_run,
                     "--epochs", "2", *TINY]) == 0
    out = capsys.readouterr().out
    assert "resuming" in out
    # The estimate comes before training, for the 2 steps left.
    assert "estimated training time: about" in out and "(2 steps at" in out
    assert cli.main(["super-resolve", "train", "--scale", "2", "--out", trained_run,
                     "--epochs", "2", "--blocks", "2", *TINY[2:]]) == 2
    gan_run = str(tmp_path / "srgan")
    assert cli.main(["super-resolve", "train", "--scale", "2", "--model", "srgan", "--init-from",
                     trained_run, "--out", gan_run, "--epochs", "1", *TINY]) == 0
    assert "SRGAN uses the pixel content loss" in capsys.readouterr().out
    config = json.load(open(os.path.join(gan_run, "config.json")))
    # SRGAN fine-tunes at the paper's constant 1e-4 whatever the preset.
    assert config["learning_rate"] == 1e-4 and config["lr_schedule"] == "constant"
    assert os.path.isfile(os.path.join(gan_run, "discriminator.keras"))
    history = open(os.path.join(gan_run, "history.csv")).read()
    assert "d_loss" in history and "content_loss" in history


def test_bad_input_exits_2(tmp_path, capsys):
    small = tmp_path / "small"
    write_png(str(small / "a.png"), np.zeros((10, 10, 3), np.uint8))
    other = tmp_path / "other"
    other.mkdir()
    (other / "config.json").write_text(json.dumps({"kind": "gan"}))
    cases = [
        (["train", "--scale", "5", "--out", str(tmp_path / "r5")], "--scale 2, 3 or 4"),
        (["train", "--data", f"folder:{small}", "--out", str(tmp_path / "rs"), *TINY],
         "smaller than the 16-px patch"),
        (["train", "--scale", "3", "--out", str(tmp_path / "rp"), *TINY], "not a multiple"),
        (["train", "--degradation", "nearest", "--out", str(tmp_path / "rd")], "unknown degradation"),
        (["train", "--data", "digits", "--out", str(tmp_path / "rx")], "photos, folder:PATH"),
        (["train", "--out", str(other)], "'gan' run"),
        (["apply", str(other), "--input", str(small), "--output", str(tmp_path / "o")], "'gan' run"),
        (["evaluate", str(tmp_path / "missing")], "does not exist"),
    ]
    for argv, message in cases:
        assert cli.main(["super-resolve", *argv]) == 2, argv
        assert message in capsys.readouterr().err, argv


def test_all_corrupt_input_exits_2(trained_run, tmp_path, capsys):
    (tmp_path / "bad.jpg").write_bytes(b"\x00" * 10)
    assert cli.main(["super-resolve", "apply", trained_run, "--input", str(tmp_path / "bad.jpg"),
                     "--output", str(tmp_path / "o")]) == 2
    assert "no decodable image" in capsys.readouterr().err


def test_dataset_pairs_are_cropped_aligned():
    rng = np.random.default_rng(0)
    hr = rng.integers(0, 256, size=(41, 44, 3), dtype=np.uint8)
    lr = hr[:40:4, ::4]  # a pair whose alignment is visible: LR pixel = top-left HR pixel
    images = hr_images.usable_images([("x", hr, lr)], scale=4, patch_size=16, degradation="dataset")
    lr_batch, hr_batch = next(hr_images.patch_batches(images, scale=4, patch_size=16, batch_size=8,
                                               degradation="dataset", seed=0))
    for lr_patch, hr_patch in zip(_uint8(lr_batch), _uint8(hr_batch)):
        # After a flip or rotation the sampled HR pixel is a corner of each 4x4 block.
        assert any(np.array_equal(lr_patch, hr_patch[a::4, b::4]) for a in (0, 3) for b in (0, 3))
    with pytest.raises(Exception, match="shrunk x4"):
        hr_images.usable_images([("x", hr, lr[:5])], scale=4, patch_size=16, degradation="dataset")


def test_tfds_div2k_mock(tmp_path):
    tfds = pytest.importorskip("tensorflow_datasets")
    with tfds.testing.mock_data(num_examples=2):
        images = hr_images.load_images("tfds:div2k/bicubic_x2", split="train", channels=3)
        assert len(images) == 2 and images[0][2] is not None
        assert images[0][1].dtype == np.uint8 and images[0][1].shape[-1] == 3
        out = sr.train(scale=2, data="tfds:div2k/bicubic_x2", out=str(tmp_path / "div2k"),
                       epochs=1, steps=1, batch_size=2, patch_size=8, blocks=1, filters=4,
                       batch_norm=False, verbose=0)
        assert os.path.isfile(os.path.join(out, "generator.keras"))
    with pytest.raises(Exception, match="x4 LR images but --scale is 2"):
        sr.train(scale=2, data="tfds:div2k/bicubic_x4", degradation="dataset",
                 out=str(tmp_path / "x"))


def _child_peak_rss_mb(code):
    """Run ``code`` in a fresh Python and return its peak resident memory in MB.

    Read from /proc/self/status (VmHWM): getrusage's ru_maxrss survives exec and would
    count this (large) test process's memory at the fork.
    """
    script = code + textwrap.dedent("""
        for line in open("/proc/self/status"):
            if line.startswith("VmHWM:"):
                print("PEAK", int(line.split()[1]))
    """)
    done = subprocess.run([sys.executable, "-c", script], check=True, capture_output=True, text=True)
    return int(done.stdout.split("PEAK")[-1]) / 1024  # kB


def test_large_apply_keeps_memory_bounded(tmp_path):
    # A 4000 x 3000 photo at x2 (a 24-megapixel output): uint8 in, uint8 out, one tile at
    # a time. The network is tiny so that the test measures the pipeline, not the model.
    run = tmp_path / "run"
    run.mkdir()
    from gan_apps import runs


    runs.save_model(srresnet.residual_generator(2, 3, num_blocks=1, filters=4), str(run / "generator.keras"))
    runs.write_json(str(run / "config.json"), {"kind": "super_resolution", "scale": 2, "channels": 3})
    ramp = np.linspace(0, 255, 4000, dtype=np.float32)
    image = np.stack([np.broadcast_to(ramp, (3000, 4000))] * 3, axis=-1).astype(np.uint8)
    write_png(str(tmp_path / "big.png"), image)
    peak = _child_peak_rss_mb(textwrap.dedent(f"""
        from gan_apps.pipelines import super_resolution as sr
        sr.apply({str(run)!r}, input={str(tmp_path / "big.png")!r}, output={str(tmp_path / "out")!r}, tile=512)
    """))
    import cv2

    assert cv2.imread(str(tmp_path / "out" / "big.png")).shape == (6000, 8000, 3)
    assert peak < 2048, f"peak memory {peak:.0f} MB for a 4000x3000 x2 apply"


def test_pretrained_apply_in_a_fresh_process_and_from_python(tmp_path):
    for name in sr.PRETRAINED:
        assert os.path.getsize(sr.pretrained_path(name)) < 5e6  # a few MB at most
    photo = degradations.matlab_bicubic(hr_images.load_images("photos", split="test", channels=3)[1][1], 4)
    write_png(str(tmp_path / "photo.png"), photo[:40, :50])
    done = subprocess.run(["gan-apps", "super-resolve", "apply", "--pretrained", "x4", "--input",
                           str(tmp_path / "photo.png"), "--output", str(tmp_path / "out")],
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert "wrote 1 image(s)" in done.stdout
    import cv2

    upscaled = cv2.imread(str(tmp_path / "out" / "photo.png"))[..., ::-1]
    assert upscaled.shape == (160, 200, 3)
    # Not bicubic: the shipped network has learned a correction.
    assert np.abs(upscaled.astype(int) - degradations.upscale(photo[:40, :50], 4)).mean() > 0.5
    model = sr.load_pretrained("x2")
    assert model.output_shape == (None, None, None, 3)
    assert np.asarray(model(np.zeros((1, 8, 8, 3), np.float32))).shape == (1, 16, 16, 3)


def test_pretrained_flag_errors(tmp_path, capsys):
    assert cli.main(["super-resolve", "apply", "--input", "x.png", "--output", str(tmp_path)]) == 2
    assert "pass a run folder or --pretrained" in capsys.readouterr().err
    assert cli.main(["super-resolve", "export", "--pretrained", "x2"]) == 2
    assert "--output" in capsys.readouterr().err
    assert cli.main(["super-resolve", "evaluate", "--pretrained", "x3"]) == 2
    assert "invalid choice" in capsys.readouterr().err
