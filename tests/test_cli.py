"""`gan-apps` end to end: train, resume, sample, export, and one-line errors with exit 2."""

import argparse
import csv
import errno
import json
import os
import re
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import tensorflow as tf

from gan_apps import commands, registry
from gan_apps.cli import build_parser, main

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
    assert [r["epoch"] for r in rows] == ["1", "2"]  # counted as the progress bar counts
    assert {"d_loss", "g_loss", "d_real", "d_fake", "d_acc_real", "g_grad_norm"} <= set(rows[0])
    # Periodic evaluation (digits default: first epoch, then every 5th) lands in the CSV.
    assert float(rows[0]["fid"]) > 0 and float(rows[0]["classes_covered"]) >= 1
    assert rows[1]["fid"] == "NA"  # not evaluated: the mark for a missing metric
    assert os.path.exists(os.path.join(trained_run, "best_generator.keras"))
    assert os.path.getsize(os.path.join(trained_run, "history.png")) > 0


def test_rerun_resumes_from_the_checkpoint(trained_run, capsys):
    assert main(["train", "--data", "digits", "--out", trained_run, "--epochs", "3", *TINY]) == 0
    assert "resuming" in capsys.readouterr().out
    rows = _rows(os.path.join(trained_run, "history.csv"))
    assert [r["epoch"] for r in rows] == ["1", "2", "3"]
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
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    result = subprocess.run([script, "sample", str(tmp_path / "missing")], cwd=tmp_path,
                            capture_output=True, text=True, timeout=120, env=env)
    assert result.returncode == 2
    # TensorFlow is imported with its start-up banner silenced: the error is the first
    # and only line (no oneDNN, cudart or cuInit lines before it).
    lines = result.stderr.strip().splitlines()
    assert lines == [lines[0]] and lines[0].startswith("gan-apps: error: run folder"), result.stderr


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


# --- declarations: registry, commands, help -------------------------------------------------

README = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "README.md")


def _python(code, timeout=120):
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=timeout)


def test_registry_commands_and_help_do_not_import_tensorflow():
    code = (
        "import sys\n"
        "from gan_apps import registry, commands, cli\n"
        "assert cli.main(['--help']) == 0 and cli.main(['train', '--help']) == 0\n"
        "assert cli.main(['train', '--seed', '-1']) == 2\n"
        "assert cli.main(['translate', 'train', '--lr', 'inf']) == 2\n"
        "assert commands.settings('gan', 'train')['model'] == commands.DEFAULT_MODEL == 'sngan'\n"
        "heavy = sorted(m for m in sys.modules if m.split('.')[0] in ('tensorflow', 'keras'))\n"
        "assert not heavy, heavy\n"
    )
    result = _python(code)
    assert result.returncode == 0, result.stderr[-2000:]


def test_registry_names_are_the_builders_names():
    from gan_apps.models import presets

    import importlib
    import inspect

    presets_in_registry = [n for n, e in registry.MODELS.items() if e.kind == "preset"]
    assert presets_in_registry == list(presets.PRESETS)
    for name, entry in registry.MODELS.items():
        if entry.kind == "preset":
            assert entry.builder is None, name
            continue
        assert entry.kind == "family", name
        module, function = entry.builder.split(":")
        builder = getattr(importlib.import_module(f"gan_apps.models.{module}"), function)
        assert {"data_kind", "resolution", "num_classes", "seed"} <= set(
            inspect.signature(builder).parameters), name


def _readme_table(heading_fragment, header):
    """First-column names of the README table whose header row starts with ``header``."""
    with open(README) as f:
        lines = f.read().splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("###")
                 and heading_fragment in line)
    first = next(i for i in range(start, len(lines)) if lines[i].startswith(f"| {header} |"))
    rows = []
    for line in lines[first + 2:]:
        if not line.startswith("|"):
            break
        cells = [c.strip() for c in line.strip("|").split(" | ")]
        rows.append((cells[0].strip("`"), cells))
    return rows


def test_readme_model_tables_list_exactly_the_registry():
    presets = [name for name, _ in _readme_table("Presets", "preset")]
    family = _readme_table("Presets", "model")
    assert presets == [m.name for m in registry.MODELS.values() if m.kind == "preset"]
    assert [name for name, _ in family] == [m.name for m in registry.MODELS.values()
                                            if m.kind == "family"]
    for name, cells in family:
        assert cells[-1] == ("yes" if registry.MODELS[name].needs_labels else "no"), name
    with open(README) as f:
        text = f.read()
    data = text[text.index("### Data (`--data`)"):]
    data = data[:data.index("\n## ")]
    for source in registry.DATA_SOURCES:
        if registry.TRAIN in source.commands:
            assert f"`{source.form}`" in data, source.form


def test_readme_recipe_table_gives_exactly_the_registrys_image_recipes():
    flags = {"epochs": "--epochs {}", "batch_size": "--batch-size {}", "d_lr": "--d-lr {:.0e}",
             "g_lr": "--g-lr {:.0e}", "n_critic": "--n-critic {}", "objective": "--objective {}",
             "unroll_steps": "--unroll-steps {}", "unroll_order": "--unroll-order {}",
             "ema": "--ema {}", "width": "--width {}", "phase_images": "--phase-images {}"}
    listed = {}
    for first, cells in _readme_table("Presets", "models"):
        for name in first.split("`, `"):
            listed[name] = cells[1]
    recipes = {name: entry.recipe("image") for name, entry in registry.MODELS.items()
               if entry.recipe("image")}
    assert sorted(listed) == sorted(recipes)
    for name, recipe in recipes.items():
        for key, value in recipe.items():
            assert flags[key].format(value).replace("e-0", "e-") in listed[name], (name, key)


def test_readme_train_synopsis_lists_every_train_flag():
    """Each flag of ``train`` (declared in commands.py) is in the README's synopsis, or, for
    the runtime flags every training command shares, in the README's runtime table."""
    with open(README) as f:
        text = f.read()
    start = text.index("gan-apps train --model MODEL")
    synopsis = text[start:text.index("gan-apps sample", start)]
    runtime_table = text[text.index("## Speed, several devices"):]
    runtime = {option.flag for option in (*commands.RUNTIME, commands.ON_NAN)}
    train = next(a for c in commands.COMMANDS if c.name == "gan" for a in c.actions
                 if a.name == "train")
    for option in train.options:
        if option.flag in runtime:
            assert f"| `{option.flag}" in runtime_table, option.flag
        else:
            assert re.search(rf"\[{re.escape(option.flag)}[ \]]", synopsis) or \
                f"{option.flag} " in synopsis.splitlines()[0], option.flag


def _help(argv, capsys):
    capsys.readouterr()
    assert main([*argv, "--help"]) == 0
    return capsys.readouterr().out


def test_help_lists_every_registered_model_and_data_source(capsys):
    top = _help([], capsys)
    train = _help(["train"], capsys)
    for name, entry in registry.MODELS.items():
        assert name in top and entry.paper in train, name
    for source in registry.DATA_SOURCES:
        assert source.form in top, source.form
        for command, argv in ((registry.TRAIN, ["train"]), (registry.TRANSLATE, ["translate", "train"]),
                              (registry.SUPER_RESOLVE, ["super-resolve", "train"])):
            if command in source.commands:
                assert source.form in _help(argv, capsys), (source.form, command)


def test_train_help_lists_each_models_recipe_and_train_uses_it(capsys):
    """The epilog of ``train --help`` gives every recipe of the registry, and ``run_config``
    (what config.json records) takes its values where the user gave none."""
    from gan_apps import data as data_lib
    from gan_apps.pipelines import generation

    lines = {line.split()[0]: line for line in _help(["train"], capsys).splitlines()
             if line.startswith("  ") and line.split()[0] in registry.MODELS}
    assert registry.MODELS[commands.DEFAULT_MODEL].recipes, "the default job has a recipe"
    assert "(default sngan)" in " ".join(_help(["train"], capsys).split())
    source = data_lib.image_source("digits")
    info = data_lib.source_info(source, channels=None, data_dir=None)
    for name, entry in registry.MODELS.items():
        recipe = entry.recipe("image")
        for key, value in recipe.items():
            text = {"epochs": "{} epochs", "batch_size": "batch {}",
                    "d_lr": "D's rate {:.0e}", "g_lr": "G's rate {:.0e}",
                    "n_critic": "{} D update(s) per G update", "objective": "{} objective",
                    "unroll_steps": "{} unrolled D step(s)",
                    "unroll_order": "{}-order unrolling", "ema": "EMA of G {}",
                    "width": "width {}", "phase_images": "phases of {} images"}[key].format(value)
            assert text.replace("e-0", "e-") in lines[name].split("; on images ")[1], (name, key)
        if registry.IMAGE not in entry.data_kinds:
            continue
        config = generation.run_config(commands.settings("gan", "train", {"model": name}),
                                       source, info)
        for key in ("epochs", "batch_size", "width"):
            assert config[key] == recipe.get(key, generation.DEFAULTS["image"][key]), (name, key)
        for key in ("d_lr", "g_lr", "n_critic", "objective", "unroll_steps", "unroll_order",
                    "ema", "phase_images"):
            assert config[key] == recipe.get(key), (name, key)
        given = generation.run_config(commands.settings(
            "gan", "train", {"model": name, "epochs": 7, "batch_size": 16, "d_lr": 3e-4,
                             "n_critic": 2, "width": 40}), source, info)
        assert (given["epochs"], given["batch_size"], given["d_lr"], given["n_critic"],
                given["width"]) == (7, 16, 3e-4, 2, 40), name


def test_every_action_is_a_subcommand_with_its_declared_flags():
    parser = build_parser()
    for command in commands.COMMANDS:
        for action in command.actions:
            argv = [] if command.top_level else [command.name]
            argv += [action.name]
            required = []
            for option in action.options:
                if option.positional:
                    required.append("RUN")
                elif option.required:
                    required += [option.flag, "1"]
            args = parser.parse_args([*argv, *required])
            values = {o.dest: getattr(args, o.dest) for o in action.options}
            expected = commands.settings(command.name, action.name)
            for option in action.options:
                if not (option.positional or option.required):
                    assert values[option.dest] == expected[option.dest], (argv, option.flag)
            assert (args.command_name, args.action_name) == (command.name, action.name)


def test_settings_overrides_and_unknown_names():
    values = commands.settings("translate", "train", {"pool_size": 0})
    assert values["pool_size"] == 0 and values["cycle_weight"] == 10.0
    assert values["n_blocks"] is None and values["learning_rate"] == 2e-4
    assert commands.settings("super-resolve", "train")["batch_norm"] is True
    assert commands.settings("recover", "sweep")["measurements"] == (10, 25, 50, 100, 200)
    with pytest.raises(TypeError, match="lr"):
        commands.settings("translate", "train", {"lr": 1e-3})
    with pytest.raises(KeyError):
        commands.settings("translate", "sweep")


def test_validate_applies_the_parse_time_checks_to_python_values():
    from gan_apps.errors import UserInputError

    assert commands.validate("gan", "train", {"seed": 3, "ema": 0.5}) == {"seed": 3, "ema": 0.5}
    for values in ({"seed": -1}, {"seed": 2**32}, {"seed": 1.5}, {"ortho_reg": float("inf")},
                   {"resolution": 4096}, {"channels": 2}):
        with pytest.raises(UserInputError):
            commands.validate("gan", "train", values)


def test_verbose_is_accepted_before_and_after_the_command():
    parser = build_parser()
    assert parser.parse_args(["--verbose", "export", "RUN"]).verbose is True
    assert parser.parse_args(["export", "RUN", "--verbose"]).verbose is True
    assert parser.parse_args(["export", "RUN"]).verbose is False


# --- numbers are checked at parse time, for every command ------------------------------------

NUMERIC_CASES = [
    (["train", "--seed", "-1"], "--seed"),
    (["train", "--seed", "4294967296"], "--seed"),
    (["train", "--seed", "1.5"], "--seed"),
    (["train", "--resolution", "4096"], "--resolution"),
    (["train", "--latent-dim", "100000000"], "--latent-dim"),
    (["train", "--ortho-reg", "inf"], "--ortho-reg"),
    (["train", "--ema", "nan"], "--ema"),
    (["sample", "RUN", "--seed", "-1"], "--seed"),
    (["sample", "RUN", "--truncation", "inf"], "--truncation"),
    (["evaluate", "RUN", "--seed", "4294967296"], "--seed"),
    (["recover", "run", "--generator", "G", "--noise", "inf"], "--noise"),
    (["recover", "run", "--generator", "G", "--noise", "nan"], "--noise"),
    (["recover", "run", "--generator", "G", "--penalty", "nan"], "--penalty"),
    (["recover", "run", "--generator", "G", "--penalty", "-1"], "--penalty"),
    (["recover", "sweep", "--generator", "G", "--measurements", "10,x"], "--measurements"),
    (["recover", "sweep", "--generator", "G", "--seed", "-5"], "--seed"),
    (["translate", "train", "--lr", "inf"], "--lr"),
    (["translate", "train", "--lr", "-1"], "--lr"),
    (["translate", "train", "--cycle-weight", "inf"], "--cycle-weight"),
    (["translate", "train", "--identity-weight", "nan"], "--identity-weight"),
    (["super-resolve", "train", "--lr", "0"], "--lr"),
    (["super-resolve", "train", "--lr", "nan"], "--lr"),
    (["super-resolve", "train", "--adversarial-weight", "nan"], "--adversarial-weight"),
    (["super-resolve", "apply", "RUN", "--input", "i", "--output", "o", "--overlap", "-1"],
     "--overlap"),
    (["adversarial", "train-classifier", "--out", "o", "--lr", "inf"], "--lr"),
    (["adversarial", "train-classifier", "--out", "o", "--pgd-eps", "inf"], "--pgd-eps"),
    (["adversarial", "train-gan", "--resolution", "2048"], "--resolution"),
    (["adversarial", "attack", "RUN", "--classifier", "c", "--source", "1", "--lr", "0"], "--lr"),
    (["adversarial", "attack", "RUN", "--classifier", "c", "--source", "1", "--noise", "nan"],
     "--noise"),
    (["adversarial", "evaluate", "RUN", "--classifier", "c", "--evaluator", "e", "--eps", "-1"],
     "--eps"),
    (["adversarial", "evaluate", "RUN", "--classifier", "c", "--evaluator", "e",
      "--lambda1", "inf"], "--lambda1"),
]


@pytest.mark.parametrize("argv,flag", NUMERIC_CASES)
def test_bad_numbers_are_refused_in_one_line(argv, flag, capsys, tmp_path):
    capsys.readouterr()
    assert main(argv) == 2, argv
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and f"argument {flag}" in err, err
    assert "Traceback" not in err


def test_every_number_flag_has_a_checking_type():
    """No numeric option is left as a bare string or an unchecked ``float``/``int``."""
    for command in commands.COMMANDS:
        for action in command.actions:
            for option in action.options:
                if isinstance(option.initial, (int, float)) and not isinstance(option.initial, bool):
                    assert isinstance(option.type, (commands.Integer, commands.Real)), option.flag
                if isinstance(option.type, commands.Real):
                    with pytest.raises(argparse.ArgumentTypeError):
                        option.type("nan")
                    with pytest.raises(argparse.ArgumentTypeError):
                        option.type("inf")


# --- faults: storage errors and SIGTERM --------------------------------------------------------

@pytest.mark.parametrize("code", [errno.ENOSPC, errno.EROFS, errno.EACCES, errno.EDQUOT])
def test_storage_errors_print_one_line(code, monkeypatch, capsys):
    from gan_apps.pipelines import generation

    def fail(*args, **kwargs):
        raise OSError(code, os.strerror(code), "/runs/x/export")

    monkeypatch.setattr(generation, "export", fail)
    capsys.readouterr()
    assert main(["export", "RUN"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.splitlines() == [err] and err.startswith("gan-apps: error: /runs/x/export: ")
    assert os.strerror(code) in err


def test_tensorflow_storage_errors_print_one_line(monkeypatch, capsys):
    from gan_apps.pipelines import generation

    def fail(*args, **kwargs):
        raise tf.errors.ResourceExhaustedError(None, None, "ckpt.tmp: No space left on device")

    monkeypatch.setattr(generation, "export", fail)
    assert main(["export", "RUN"]) == 2
    assert "No space left on device; free some space" in capsys.readouterr().err


def test_warnings_print_one_line_and_the_format_is_restored(monkeypatch, capsys):
    import warnings

    from gan_apps.pipelines import generation

    def warn(*args, **kwargs):
        warnings.warn("diversity fell: the generator may be collapsing", UserWarning)
        return {"export": "RUN/export"}

    monkeypatch.setattr(generation, "export", warn)
    before = warnings.formatwarning
    with warnings.catch_warnings():
        warnings.simplefilter("always")
        # Python's own display (pytest records warnings instead of showing them).
        warnings.showwarning = lambda message, category, filename, lineno, file=None, line=None: \
            sys.stderr.write(warnings.formatwarning(message, category, filename, lineno, line))
        assert main(["export", "RUN"]) == 0
    err = capsys.readouterr().err
    assert err == "gan-apps: warning: diversity fell: the generator may be collapsing\n"
    assert warnings.formatwarning is before


def test_other_os_errors_are_not_hidden(monkeypatch):
    from gan_apps.pipelines import generation

    def fail(*args, **kwargs):
        raise OSError(errno.EIO, os.strerror(errno.EIO))

    monkeypatch.setattr(generation, "export", fail)
    with pytest.raises(OSError):
        main(["export", "RUN"])


def test_sigterm_stops_training_like_ctrl_c(tmp_path):
    run = str(tmp_path / "run")
    script = os.path.join(os.path.dirname(sys.executable), "gan-apps")
    argv = [script, "train", "--data", "digits", "--out", run, "--steps", "1", "--epochs", "50",
            "--resolution", "8", "--width", "4", "--batch-size", "16", "--eval-every", "0"]
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    proc = subprocess.Popen(argv, cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            text=True, env=env)
    index = os.path.join(run, "checkpoints", "checkpoint")
    deadline = time.monotonic() + 90
    while not os.path.exists(index) and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.2)
    if not os.path.exists(index):
        proc.kill()
        proc.communicate()
        pytest.skip("no checkpoint within 90 s on this machine")
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 143, err
    assert err.strip().splitlines() == ["gan-apps: terminated; the last checkpoint is kept"], err
    assert tf.train.latest_checkpoint(os.path.join(run, "checkpoints"))
