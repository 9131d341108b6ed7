"""Tests for pipelines/translation.py and `gan-apps translate`: train, resume, export, apply, errors."""

import json
import os
import shutil
import subprocess
import sys
import textwrap

import cv2
import numpy as np
import pytest

from gan_apps import cli, commands, runs
from gan_apps.data import unpaired
from gan_apps.errors import UserInputError
from gan_apps.pipelines import translation

TINY = dict(data="photos:tone", crop_size=32, load_size=36, ngf=4, ndf=4, n_blocks=1,
            batch_size=2, steps=2, epochs=1, decay_epochs=1, pool_size=2, seed=0, verbose=0)


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    return translation.train(out=str(tmp_path_factory.mktemp("run") / "tone"), **TINY)


def _write_png(path, image):
    assert cv2.imwrite(str(path), image[..., ::-1] if image.ndim == 3 else image)


def test_run_folder_holds_everything(run_dir):
    config = runs.read_config(run_dir, kind="translation")
    assert config["channels"] == 3 and config["n_blocks"] == 1
    for name in ("generator_ab", "generator_ba", "discriminator_a", "discriminator_b"):
        assert os.path.isfile(os.path.join(run_dir, f"{name}.keras"))
    # A finished run keeps one checkpoint (the newest), not one per recent epoch.
    assert runs.checkpoint_candidates(os.path.join(run_dir, "checkpoints")) == [
        os.path.join(run_dir, "checkpoints", "ckpt-2")]
    grid = cv2.imread(os.path.join(run_dir, "samples", "epoch_0002.png"))
    # 4 A triplets then 4 B triplets, 3 columns of 32 px with 2 px padding.
    assert grid.shape == (8 * 34 + 2, 3 * 34 + 2, 3)
    with open(os.path.join(run_dir, "history.csv")) as f:
        assert len(f.read().strip().splitlines()) == 3


def test_resume_continues_exactly(run_dir, tmp_path):
    # A copy of the run as it was after epoch 1 (networks, optimizers, pools, noise state).
    resumed = tmp_path / "resumed"
    (resumed / "checkpoints").mkdir(parents=True)
    shutil.copy(os.path.join(run_dir, runs.CONFIG), resumed / runs.CONFIG)
    for file in os.listdir(os.path.join(run_dir, "checkpoints")):
        if file.startswith("ckpt-1."):
            shutil.copy(os.path.join(run_dir, "checkpoints", file), resumed / "checkpoints" / file)
    (resumed / "checkpoints" / "checkpoint").write_text(
        'model_checkpoint_path: "ckpt-1"\nall_model_checkpoint_paths: "ckpt-1"\n')
    translation.train(out=str(resumed), **TINY)
    for name in ("generator_ab", "generator_ba", "discriminator_a", "discriminator_b"):
        whole = runs.load_model(os.path.join(run_dir, f"{name}.keras")).get_weights()
        again = runs.load_model(str(resumed / f"{name}.keras")).get_weights()
        for w1, w2 in zip(whole, again):
            np.testing.assert_allclose(w1, w2, rtol=1e-5, atol=1e-6)


def test_different_settings_are_refused(run_dir):
    with pytest.raises(Exception, match="different settings"):
        translation.train(out=run_dir, **{**TINY, "ngf": 8})


def test_export_matches_keras_in_a_fresh_process(run_dir, tmp_path):
    image = np.random.default_rng(0).integers(0, 256, (2, 19, 27, 3), dtype=np.uint8)
    np.save(tmp_path / "in.npy", image)
    script = textwrap.dedent(f"""
        import numpy as np, tensorflow as tf
        loaded = tf.saved_model.load({os.path.join(run_dir, 'export')!r})
        x = tf.constant(np.load({str(tmp_path / 'in.npy')!r}))
        for name in ("a2b", "b2a", "serving_default"):
            np.save({str(tmp_path)!r} + "/" + name + ".npy", loaded.signatures[name](images=x)["images"].numpy())
    """)
    subprocess.run([sys.executable, "-c", script], check=True, capture_output=True, timeout=300)
    models = {d: translation._load_generator(run_dir, d) for d in translation.DIRECTIONS}
    for name, direction in (("a2b", "a2b"), ("b2a", "b2a"), ("serving_default", "a2b")):
        served = np.load(tmp_path / f"{name}.npy")
        assert served.dtype == np.uint8 and served.shape == image.shape
        expected = np.stack([translation.translate_array(models[direction], x) for x in image])
        assert np.abs(served.astype(int) - expected).max() <= 1, name


def test_apply_odd_sized_image_keeps_its_size(run_dir, tmp_path):
    _write_png(tmp_path / "odd.png", np.random.default_rng(1).integers(0, 256, (23, 37, 3), np.uint8))
    _write_png(tmp_path / "gray.png", np.full((12, 15), 90, np.uint8))
    out = tmp_path / "out"
    code = cli.main(["translate", "apply", run_dir, "--direction", "b2a",
                     "--input", str(tmp_path), "--output", str(out)])
    assert code == 0
    assert cv2.imread(str(out / "odd.png")).shape == (23, 37, 3)
    assert cv2.imread(str(out / "gray.png")).shape == (12, 15, 3)


def test_evaluate_reports_known_answer_distances_and_verdict(run_dir):
    results = translation.evaluate(run_dir)
    assert results["examples_a"] == 9 * 14 + 12 * 18 + 13 * 20  # 32 px patches of the test photos
    assert results["mae_identity"] == pytest.approx(19.6, abs=1.0)
    assert 0 <= results["mae_translation"] <= 255 and 0 <= results["mae_b2a"] <= 255
    assert results["colour_a_vs_b"] > 5 and results["texture_a_vs_b"] > 0
    assert results["cycle_a"] >= 0 and results["verdict"].startswith("verdict: G(A) error")
    with open(os.path.join(run_dir, "metrics.json")) as f:
        assert json.load(f)["mae_identity"] == results["mae_identity"]
    with pytest.raises(UserInputError, match="digits"):
        translation.evaluate(run_dir, extractor="digits")


def _identity_run(tmp_path, channels=3):
    """A run folder whose G and F are the untrained identity-start generators (G(x) == x)."""
    from gan_apps.models import cyclegan

    run = tmp_path / "identity_run"
    run.mkdir()
    runs.write_json(str(run / runs.CONFIG), {
        "kind": "translation", "data": "photos:tone", "crop_size": 32, "channels": channels,
        "data_dir": None})
    for name in ("generator_ab", "generator_ba"):
        cyclegan.residual_generator(channels, ngf=4, n_blocks=1, colour_width=4, seed=0,
                                    name=name).save(str(run / f"{name}.keras"))
    return str(run)


def test_evaluate_with_a_hand_built_test_pair(tmp_path):
    rng = np.random.default_rng(0)
    (tmp_path / "A").mkdir()
    (tmp_path / "B").mkdir()
    for name, shape in (("x", (20, 28, 3)), ("y", (16, 16, 3))):
        a = rng.integers(20, 200, shape, dtype=np.uint8)
        _write_png(tmp_path / "A" / f"{name}.png", a)
        _write_png(tmp_path / "B" / f"{name}.png", a + 10)  # the true answer: 10 levels up
    _write_png(tmp_path / "A" / "unmatched.png", np.zeros((16, 16, 3), np.uint8))
    run = _identity_run(tmp_path)
    results = translation.evaluate(run, test=f"folder:{tmp_path / 'A'},{tmp_path / 'B'}")
    assert results["pairs"] == 2
    # G and F are the identity: their errors are the identity's, exactly 10 levels.
    for key in ("mae_translation", "mae_identity", "mae_b2a", "mae_identity_b2a"):
        assert results[key] == pytest.approx(10.0), key
    assert results["psnr_identity"] == pytest.approx(10 * np.log10(255 ** 2 / 100))
    assert "1.00x the identity's" in results["verdict"] and "worse" in results["verdict"]
    printed = translation.format_evaluation(results)
    assert "G(A) vs B" in printed and "A unchanged vs B" in printed and "F(B) vs A" in printed


@pytest.mark.parametrize("layout, message", [
    ({"A/p.png": (16, 16), "B/q.png": (16, 16)}, "namesake"),
    ({"A/p.png": (16, 16), "B/p.png": (16, 20)}, "one size"),
])
def test_test_pair_errors(tmp_path, layout, message):
    for path, shape in layout.items():
        (tmp_path / path).parent.mkdir(exist_ok=True)
        _write_png(tmp_path / path, np.zeros((*shape, 3), np.uint8))
    with pytest.raises(UserInputError, match=message):
        translation.load_test_pair(f"folder:{tmp_path / 'A'},{tmp_path / 'B'}", 3)


def test_distribution_distances():
    rng = np.random.default_rng(0)
    x = rng.uniform(-0.8, 0.5, (6, 16, 16, 3)).astype(np.float32)
    assert translation.colour_distance(x, x) == 0
    # A shift of 0.2 in [-1, 1] units is 25.5 levels (of 255) on every channel.
    assert translation.colour_distance(x, x + 0.2) == pytest.approx(25.5, abs=0.05)
    assert translation.texture_distance(x, x) == pytest.approx(0, abs=1e-6)
    assert translation.texture_distance(x, x + 0.2) > translation.texture_distance(x, x + 0.05) > 0
    y = np.clip(x + rng.normal(0, 0.3, x.shape), -1, 1).astype(np.float32)  # noisier texture
    assert translation.texture_distance(x, y) > 0.01


def test_cpu_defaults_from_a_folder_of_small_images(tmp_path, capsys):
    rng = np.random.default_rng(0)
    for label in "AB":
        (tmp_path / label).mkdir()
        for i in range(5):
            _write_png(tmp_path / label / f"{i}.png", rng.integers(0, 256, (40, 44, 3), np.uint8))
    data = f"folder:{tmp_path / 'A'},{tmp_path / 'B'}"
    options = commands.settings("translate", "train", {"data": data})
    config = translation.run_config(options, unpaired.check_source(data))
    # 40 px images: crop 32 (room for the 286/256 jitter), the CPU widths, steps from the
    # calibrated cost so the planned 8 epochs take CPU_BUDGET_S.
    assert (config["crop_size"], config["load_size"]) == (32, 36)
    assert (config["ngf"], config["ndf"], config["batch_size"], config["generator"]) == (
        16, 32, 4, "identity")
    assert (config["epochs"], config["decay_epochs"], config["ema"]) == (4, 4, 0.999)
    planned = translation.estimate_seconds(config)
    assert 0.9 * translation.CPU_BUDGET_S <= planned <= translation.CPU_BUDGET_S
    big = translation.run_config(options, unpaired.check_source(data), side=500)
    assert big["crop_size"] == 64 and big["steps"] < config["steps"]
    paper = translation.run_config({**options, "preset": "paper"}, unpaired.check_source(data))
    assert (paper["crop_size"], paper["ngf"], paper["generator"], paper["epochs"],
            paper["ema"]) == (256, 64, "paper", 100, 0.0)
    # The estimate is printed before training (here a 1-step run with the defaults' shapes).
    translation.train(data=data, out=str(tmp_path / "run"), steps=1, epochs=1, decay_epochs=0,
                      ngf=4, ndf=4, n_blocks=1, pool_size=2, verbose=2)
    out = capsys.readouterr().out
    assert "estimated training time" in out and "crop 32" in out and "epoch 1/1:" in out
    assert "generators averaged (EMA 0.999)" in out


def test_known_answer_errors_closed_form():
    known = np.zeros((1, 2, 2, 3), np.float32)  # uint8 128 after rounding (127.5 -> 128)
    source = known + 10 / 127.5
    translated = known.copy()
    errors = translation.known_answer_errors(translated, source, known)
    assert errors["mae_translation"] == 0 and errors["mae_identity"] == pytest.approx(10, abs=0.5)
    assert errors["psnr_identity"] == pytest.approx(10 * np.log10(255 ** 2 / 100), abs=0.5)


@pytest.mark.parametrize("argv_tail, message", [
    (["train", "--data", "folder:/no/such/a,/no/such/b"], "does not exist"),
    (["train", "--data", "photos", "--out", "x"], "unknown unpaired"),
    (["train", "--crop-size", "30"], "multiple of 4"),
    (["evaluate", "NOT_A_RUN"], "does not exist"),
])
def test_cli_bad_input_exits_2(argv_tail, message, capsys):
    assert cli.main(["translate", *argv_tail]) == 2
    assert message in capsys.readouterr().err


def test_cli_refuses_a_run_of_another_kind(tmp_path, capsys):
    runs.write_json(str(tmp_path / runs.CONFIG), {"kind": "gan"})
    assert cli.main(["translate", "apply", str(tmp_path), "--input", "x", "--output", "y"]) == 2
    assert "not a 'translation' run" in capsys.readouterr().err


def test_cli_apply_undecodable_file_exits_2(run_dir, tmp_path, capsys):
    (tmp_path / "bad.png").write_bytes(b"nope")
    code = cli.main(["translate", "apply", run_dir, "--input", str(tmp_path / "bad.png"),
                     "--output", str(tmp_path / "o")])
    assert code == 2 and "cannot decode" in capsys.readouterr().err
