"""Every command with bad arguments or bad data: exit code 2, one line on stderr without a
traceback, and the run folder it was pointed at left exactly as it was."""

import hashlib
import os

import numpy as np
import pytest

from gan_apps.cli import main

TINY = ["--resolution", "8", "--width", "4", "--batch-size", "16", "--steps", "2",
        "--eval-every", "0", "--seed", "0"]


def _snapshot(folder):
    """Hash of every file under ``folder`` (path -> sha256)."""
    digests = {}
    for root, _, names in os.walk(folder):
        for name in names:
            path = os.path.join(root, name)
            with open(path, "rb") as f:
                digests[os.path.relpath(path, folder)] = hashlib.sha256(f.read()).hexdigest()
    return digests


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    folder = str(tmp_path_factory.mktemp("bad") / "run")
    assert main(["train", "--data", "digits", "--out", folder, "--epochs", "1", *TINY]) == 0
    return folder


@pytest.fixture(scope="module")
def data_folders(tmp_path_factory):
    root = tmp_path_factory.mktemp("data")
    empty = root / "empty"
    empty.mkdir()
    corrupt = root / "corrupt"
    corrupt.mkdir()
    (corrupt / "a.png").write_bytes(b"not a png at all")
    (corrupt / "b.jpg").write_bytes(b"\xff\xd8\xff garbage")
    a_file = root / "file.txt"
    a_file.write_text("x")
    return {"empty": str(empty), "corrupt": str(corrupt), "file": str(a_file)}


def _expect_user_error(argv, fragment, capsys):
    capsys.readouterr()
    code = main(argv)
    err = capsys.readouterr().err.strip()
    assert code == 2, (argv, err)
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert "Traceback" not in err
    assert fragment.lower() in err.lower(), err


PIPELINE_TRAIN_CASES = [
    (["super-resolve", "train", "--scale", "5"], "scale"),
    (["super-resolve", "train", "--data", "folder:/no/such/folder"], "does not exist"),
    (["translate", "train", "--data", "folder:/no/such/a,/no/such/b"], "does not exist"),
    (["translate", "train", "--data", "photos"], "unknown unpaired data source"),
    (["adversarial", "train-classifier", "--adversarial", "fgsm"], "invalid choice"),
    # Numbers that would train on garbage are refused before anything runs (issue 19).
    (["adversarial", "train-classifier", "--lr", "inf"], "--lr"),
    (["adversarial", "train-classifier", "--lr", "-1"], "--lr"),
    (["super-resolve", "train", "--lr", "0"], "--lr"),
    (["super-resolve", "train", "--lr", "nan"], "--lr"),
    (["super-resolve", "train", "--adversarial-weight", "nan"], "--adversarial-weight"),
    (["translate", "train", "--lr", "inf"], "--lr"),
    (["translate", "train", "--cycle-weight", "inf"], "--cycle-weight"),
    (["adversarial", "train-gan", "--seed", "-1"], "--seed"),
]


@pytest.mark.parametrize("argv,fragment", PIPELINE_TRAIN_CASES)
def test_pipeline_training_rejects_bad_arguments(argv, fragment, capsys, tmp_path):
    out = str(tmp_path / "never")
    _expect_user_error([*argv, "--out", out], fragment, capsys)
    assert not os.path.exists(os.path.join(out, "config.json"))


TRAIN_CASES = [
    (["--model", "stylegan9"], "unknown model"),
    (["--data", "mnist"], "unknown data source"),
    (["--data", "folder:/no/such/folder"], "does not exist"),
    (["--data", "tfds:no_such_dataset_xyz"], "no_such_dataset_xyz"),
    (["--resolution", "4"], "resolution"),
    (["--resolution", "33"], "resolution"),
    (["--batch-size", "0"], "positive integer"),
    (["--epochs", "-3"], "positive integer"),
    (["--channels", "2"], "invalid choice"),
    (["--ema", "1.5"], "between 0 and 1"),
    (["--ortho-reg", "-1"], ">= 0"),
    (["--objective", "f:banana"], "banana"),
    (["--divergence", "kl"], "--divergence only applies"),
    (["--model", "cgan", "--data", "ring8"], "needs labelled data"),
    (["--model", "vae", "--data", "ring8"], "does not train on points"),
    (["--strategy", "multiworker"], "TF_CONFIG"),
    (["--precision", "float8"], "invalid choice"),
    (["--on-nan", "ignore"], "invalid choice"),
    (["--steps-per-execution", "0"], "positive integer"),
    (["--seed", "-1"], "--seed"),
    (["--seed", "4294967296"], "--seed"),
    (["--resolution", "4096"], "--resolution"),
    (["--latent-dim", "1000000000"], "--latent-dim"),
    (["--ortho-reg", "inf"], "--ortho-reg"),
    (["--ema", "nan"], "--ema"),
]


@pytest.mark.parametrize("extra,fragment", TRAIN_CASES)
def test_train_rejects_bad_arguments(extra, fragment, capsys, tmp_path, monkeypatch):
    monkeypatch.delenv("TF_CONFIG", raising=False)
    out = str(tmp_path / "never")
    base = ["train", "--data", "digits", "--out", out, "--epochs", "1", *TINY]
    _expect_user_error(base + extra, fragment, capsys)
    assert not os.path.exists(os.path.join(out, "generator.keras"))


@pytest.mark.parametrize("which,fragment", [("empty", "contains no files"), ("corrupt", "could be decoded"),
                                            ("file", "is a file")])
def test_train_rejects_bad_data_folders(which, fragment, data_folders, capsys, tmp_path):
    argv = ["train", "--data", f"folder:{data_folders[which]}", "--out", str(tmp_path / "r"),
            "--epochs", "1", *TINY]
    _expect_user_error(argv, fragment, capsys)


def test_unwritable_output_folder(data_folders, capsys):
    # A path below a regular file can never be created, even by root.
    out = os.path.join(data_folders["file"], "run")
    _expect_user_error(["train", "--data", "digits", "--out", out, "--epochs", "1", *TINY],
                       "cannot write", capsys)


@pytest.mark.skipif(os.geteuid() == 0, reason="root ignores directory permissions")
def test_read_only_output_folder(tmp_path, capsys):
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o555)
    try:
        _expect_user_error(["train", "--data", "digits", "--out", str(locked / "run"),
                            "--epochs", "1", *TINY], "cannot write", capsys)
    finally:
        locked.chmod(0o755)


def _run_cases(run):
    return [
        (["train", "--data", "digits", "--out", run, "--epochs", "2", *TINY[:-4], "--width", "8",
          "--eval-every", "0", "--seed", "0"], "different settings"),
        (["sample", run, "--label", "3"], "unconditional"),
        (["sample", run, "--num", "0"], "positive integer"),
        (["sample", run, "--truncation", "-1"], "> 0"),
        (["evaluate", run, "--metrics", "fid,beauty"], "unknown metric"),
        (["evaluate", run, "--samples", "1"], "--samples"),
        (["evaluate", run, "--extractor", "inception", "--inception-weights", "/no/such.h5"],
         "no/such.h5"),
        (["recover", "run", "--generator", run, "--operator", "fourier"], "fourier"),
        (["recover", "run", "--generator", run, "--measurements", "0"], "measurements"),
        (["recover", "run", "--generator", run, "--measurements", "65"], "measurements"),
        (["recover", "run", "--generator", run, "--noise", "-0.1"], "noise"),
        (["recover", "run", "--generator", run, "--noise", "inf"], "--noise"),
        (["recover", "run", "--generator", run, "--penalty", "nan"], "--penalty"),
        (["recover", "run", "--generator", run, "--penalty", "-1"], "--penalty"),
        (["recover", "sweep", "--generator", run, "--seed", "-1"], "--seed"),
        (["sample", run, "--seed", "-1"], "--seed"),
        (["sample", run, "--seed", "4294967296"], "--seed"),
        (["evaluate", run, "--seed", "-1"], "--seed"),
        (["adversarial", "attack", run, "--classifier", run, "--source", "3", "--lr", "inf"],
         "--lr"),
        # Pipelines pointed at a run of another kind.
        (["translate", "evaluate", run], "not a 'translation' run"),
        (["translate", "export", run], "not a 'translation' run"),
        (["super-resolve", "evaluate", run], "not a 'super_resolution' run"),
        (["super-resolve", "export", run], "not a 'super_resolution' run"),
        (["adversarial", "attack", run, "--classifier", run, "--source", "3", "--target", "5"],
         "attacks need an AC-GAN"),
    ]


def test_commands_on_a_run_fail_cleanly_and_leave_it_unchanged(run, capsys):
    before = _snapshot(run)
    for argv, fragment in _run_cases(run):
        _expect_user_error(argv, fragment, capsys)
        assert _snapshot(run) == before, argv


@pytest.mark.parametrize("command", [["sample"], ["evaluate"], ["export"]])
def test_commands_refuse_folders_that_are_not_runs(command, data_folders, tmp_path, capsys):
    _expect_user_error([*command, str(tmp_path / "missing")], "does not exist", capsys)
    _expect_user_error([*command, data_folders["corrupt"]], "not a gan-apps run", capsys)


def test_recover_refuses_a_generator_of_the_wrong_size(tmp_path, capsys):
    run16 = str(tmp_path / "run16")
    argv = ["train", "--data", "digits", "--out", run16, "--epochs", "1", *TINY]
    argv[argv.index("--resolution") + 1] = "16"
    assert main(argv) == 0
    before = _snapshot(run16)
    _expect_user_error(["recover", "run", "--generator", run16], "8x8", capsys)
    assert _snapshot(run16) == before


def test_sample_images_are_finite(run, tmp_path):
    # The run the failures above left alone still works.
    out = str(tmp_path / "grid.png")
    assert main(["sample", run, "--num", "4", "--output", out]) == 0
    import cv2

    assert np.isfinite(cv2.imread(out)).all()


# --- config.json without the keys a command reads, --output naming a file, float images
# holding NaN or Inf, and the Python API's own checks (issue 19, item 8 and 10) ------------

def _copy_without(run, tmp_path, drop):
    """A copy of the run folder ``run`` whose config.json lacks the keys ``drop``."""
    import json
    import shutil

    copy = str(tmp_path / "copy")
    shutil.copytree(run, copy)
    path = os.path.join(copy, "config.json")
    with open(path) as f:
        config = json.load(f)
    with open(path, "w") as f:
        json.dump({k: v for k, v in config.items() if k not in drop}, f)
    return copy


@pytest.mark.parametrize("command,drop,missing", [
    (["sample"], ("data",), "'data'"),
    (["sample"], ("latent_spec", "latent_dim"), "'latent_spec' or 'latent_dim'"),
    (["export"], ("latent_spec", "latent_dim"), "'latent_spec' or 'latent_dim'"),
    (["evaluate"], ("resolution",), "'resolution'"),
    (["adversarial", "attack", "RUN", "--source", "3"], ("model",), "'model'"),
])
def test_a_config_without_the_keys_a_command_reads_is_one_line(command, drop, missing, run,
                                                               tmp_path, capsys):
    copy = _copy_without(run, tmp_path, drop)
    argv = [copy if arg == "RUN" else arg for arg in command]
    if "RUN" not in command:
        argv.append(copy)
    else:
        argv += ["--classifier", copy]
    before = _snapshot(copy)
    _expect_user_error(argv, f"config.json lacks the key {missing}", capsys)
    assert _snapshot(copy) == before


def _handmade_run(folder, config, networks=()):
    """A run folder with ``config`` and tiny stand-in ``networks`` (.keras names): enough
    for the checks that come before any network runs."""
    import keras

    from gan_apps import runs

    os.makedirs(folder)
    runs.write_json(os.path.join(folder, "config.json"), config)
    for name in networks:
        inputs = keras.Input((None, None, 3))
        runs.save_model(keras.Model(inputs, keras.layers.Conv2D(3, 1)(inputs)),
                        os.path.join(folder, name))
    return folder


@pytest.mark.parametrize("argv,missing", [
    (["super-resolve", "apply", "RUN", "--input", "IMG", "--output", "OUT"], "'scale'"),
    (["super-resolve", "export", "RUN"], "'scale'"),
    (["super-resolve", "evaluate", "RUN"], "'scale'"),
    (["translate", "evaluate", "RUN"], "'data'"),
])
def test_pipeline_runs_without_their_keys_are_one_line(argv, missing, tmp_path, capsys):
    kind = "super_resolution" if argv[0] == "super-resolve" else "translation"
    folder = _handmade_run(str(tmp_path / "run"), {"kind": kind, "channels": 3})
    before = _snapshot(folder)
    paths = {"RUN": folder, "IMG": str(tmp_path / "in.png"), "OUT": str(tmp_path / "out")}
    _expect_user_error([paths.get(arg, arg) for arg in argv],
                       f"config.json lacks the key {missing}", capsys)
    assert _snapshot(folder) == before
    assert not os.path.exists(paths["OUT"])


@pytest.mark.parametrize("command,kind,networks", [
    ("super-resolve", "super_resolution", ("generator.keras",)),
    ("translate", "translation", ("generator_ab.keras", "generator_ba.keras")),
])
def test_apply_refuses_an_output_that_is_a_file(command, kind, networks, tmp_path, capsys):
    import cv2

    folder = _handmade_run(str(tmp_path / "run"), {"kind": kind, "scale": 2, "channels": 3},
                           networks)
    image = str(tmp_path / "in.png")
    cv2.imwrite(image, np.full((40, 40, 3), 128, np.uint8))
    output = tmp_path / "taken.txt"
    output.write_text("keep me")
    before = _snapshot(str(tmp_path))
    _expect_user_error([command, "apply", folder, "--input", image, "--output", str(output)],
                       "exists and is not a folder", capsys)
    assert _snapshot(str(tmp_path)) == before


@pytest.fixture
def nan_folder(tmp_path):
    """A folder of one good PNG and one float32 TIFF holding a NaN."""
    import cv2

    folder = tmp_path / "nan"
    folder.mkdir()
    cv2.imwrite(str(folder / "good.png"), np.full((40, 40, 3), 128, np.uint8))
    pixels = np.full((40, 40, 3), 0.5, np.float32)
    pixels[7, 9, 1] = np.nan
    assert cv2.imwrite(str(folder / "nan.tiff"), pixels)
    return str(folder)


@pytest.mark.parametrize("argv", [
    ["train", "--data", "folder:FOLDER", "--epochs", "1", *TINY],
    ["super-resolve", "train", "--data", "folder:FOLDER", "--scale", "2", "--patch-size", "8",
     "--blocks", "1", "--filters", "4", "--batch-size", "2", "--steps", "1", "--epochs", "1"],
    ["translate", "train", "--data", "folder:FOLDER,FOLDER", "--crop-size", "32",
     "--ngf", "4", "--ndf", "4", "--blocks", "1", "--epochs", "1", "--decay-epochs", "0",
     "--steps", "1"],
])
def test_training_refuses_float_images_holding_nan(argv, nan_folder, tmp_path, capsys):
    out = str(tmp_path / "never")
    argv = [arg.replace("FOLDER", nan_folder) for arg in argv]
    _expect_user_error([*argv, "--out", out], "nan.tiff holds nan or infinite", capsys)
    assert not os.path.exists(out)


@pytest.mark.parametrize("command,kind,networks", [
    ("super-resolve", "super_resolution", ("generator.keras",)),
    ("translate", "translation", ("generator_ab.keras", "generator_ba.keras")),
])
def test_apply_refuses_float_images_holding_nan(command, kind, networks, nan_folder, tmp_path,
                                                 capsys):
    folder = _handmade_run(str(tmp_path / "run"), {"kind": kind, "scale": 2, "channels": 3},
                           networks)
    output = str(tmp_path / "out")
    _expect_user_error([command, "apply", folder, "--input", os.path.join(nan_folder, "nan.tiff"),
                        "--output", output], "nan.tiff holds nan or infinite", capsys)
    assert not os.path.exists(output)


@pytest.mark.parametrize("module,action,options", [
    ("super_resolution", "train", {"learning_rate": 0}),
    ("super_resolution", "train", {"blocks": 0}),
    ("translation", "train", {"cycle_weight": float("inf")}),
    ("generation", "train", {"seed": -1}),
    ("adversarial", "train_classifier", {"learning_rate": float("nan")}),
])
def test_the_python_api_checks_numbers_like_the_cli(module, action, options, tmp_path):
    import importlib

    from gan_apps.errors import UserInputError

    out = str(tmp_path / "never")
    train = getattr(importlib.import_module(f"gan_apps.pipelines.{module}"), action)
    with pytest.raises(UserInputError, match="--"):
        train(out=out, **options)
    assert not os.path.exists(out)
