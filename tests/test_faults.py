"""Fault injection (issue 19, items 1-5, 11-15): interrupt or kill at named points of the
atomic-write and checkpoint code (gan_apps.faults), damage run files, race two writers; after
the fault and a rerun the export loads and serves, finished results are intact and the run
resumes. SIGKILL faults run the command in a subprocess. docs/reliability.md lists them."""

import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest
import tensorflow as tf

from gan_apps import export, faults, runs
from gan_apps.cli import main
from gan_apps.data import folder
from gan_apps.errors import UserInputError

LATENT = 6
ENV = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", CUDA_VISIBLE_DEVICES="")
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TRAIN = ["--data", "digits", "--resolution", "8", "--width", "4", "--batch-size", "8",
         "--steps", "1", "--epochs", "2", "--eval-every", "0", "--seed", "0"]


@pytest.fixture(autouse=True)
def no_fault(monkeypatch):
    monkeypatch.delenv(faults.ENV, raising=False)
    faults.reset()


def tiny_generator(seed):
    keras.utils.set_random_seed(seed)
    z = keras.Input((LATENT,))
    h = keras.layers.Reshape((2, 2, 3))(keras.layers.Dense(12, activation="relu")(z))
    images = keras.layers.Conv2DTranspose(1, 3, strides=2, padding="same", activation="tanh")(h)
    return keras.Model(z, images)


Z = np.random.default_rng(0).normal(size=(2, LATENT)).astype(np.float32)


def served(path, **inputs):
    return export.load_export(str(path)).signatures["serving_default"](**inputs)


def assert_serves(path, generator):
    out = served(path, z=tf.constant(Z))["images_float"]
    np.testing.assert_allclose(out, keras.ops.convert_to_numpy(generator(Z)), atol=1e-5)


def make_run(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    runs.write_json(str(run / runs.CONFIG), {"kind": "gan"})
    return run


def snapshot(path):
    digests = {}
    for root, _, names in os.walk(path):
        for name in names:
            with open(os.path.join(root, name), "rb") as f:
                digests[os.path.relpath(os.path.join(root, name), path)] = \
                    hashlib.sha256(f.read()).hexdigest()
    return digests


def python(code, *args, fault=None, timeout=240):
    env = dict(ENV, **({faults.ENV: fault} if fault else {}))
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code), *map(str, args)],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout)


def one_line_error(capsys, argv):
    capsys.readouterr()
    code = main(argv)
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.strip()]
    assert code == 2 and len(lines) == 1 and "Traceback" not in err, (code, err)
    return lines[0]


# --- 1, 2: the export swap ------------------------------------------------------------------


@pytest.mark.parametrize("action", ["sigint", "sigterm"])
def test_a_signal_between_the_renames_waits_until_the_new_export_is_in(tmp_path, monkeypatch,
                                                                       action):
    run = make_run(tmp_path)
    export.export_generator(tiny_generator(1), run / "export")
    second = tiny_generator(2)

    def terminated(signum, frame):  # what the CLI does with SIGTERM
        raise KeyboardInterrupt("terminated")

    previous = signal.signal(signal.SIGTERM, terminated)
    monkeypatch.setenv(faults.ENV, f"swap:between-renames={action}")
    try:
        with pytest.raises(KeyboardInterrupt):
            export.export_generator(second, run / "export")
    finally:
        signal.signal(signal.SIGTERM, previous)
    assert sorted(os.listdir(run)) == ["config.json", "export"]  # nothing half-done left
    assert_serves(run / "export", second)


@pytest.mark.parametrize("point", ["export:write", "export:written", "swap:between-renames"])
def test_an_exception_during_the_export_keeps_the_previous_one(tmp_path, monkeypatch, point):
    run = make_run(tmp_path)
    first = tiny_generator(1)
    export.export_generator(first, run / "export")
    monkeypatch.setenv(faults.ENV, f"{point}=interrupt")
    with pytest.raises(KeyboardInterrupt):
        export.export_generator(tiny_generator(2), run / "export")
    assert sorted(os.listdir(run)) == ["config.json", "export"]
    assert_serves(run / "export", first)


def test_sigkill_between_the_renames_is_rolled_back_by_the_next_command(tmp_path):
    run = make_run(tmp_path)
    code = f"""
        import sys
        sys.path.insert(0, {os.path.dirname(__file__)!r})
        from test_faults import tiny_generator
        from gan_apps import export
        export.export_generator(tiny_generator(1), sys.argv[1])
        export.export_generator(tiny_generator(2), sys.argv[1])  # killed between its renames
    """
    killed = python(code, run / "export", fault="swap:between-renames=sigkill")
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    assert "export" not in os.listdir(run)
    assert [n for n in os.listdir(run) if n.startswith(".export.old-")]
    assert [n for n in os.listdir(run) if n.startswith(".export.tmp-")]
    runs.read_config(str(run))  # what every command reading the run does first
    assert sorted(os.listdir(run)) == ["config.json", "export"]
    assert_serves(run / "export", tiny_generator(1))


def test_stale_temporary_files_from_kills_are_removed_on_start(tmp_path):
    run = make_run(tmp_path)
    (run / "generator.keras").write_bytes(b"kept")
    stale = [".generator.keras.tmp-abcd1234.keras", ".config.json.tmp-x1y2z3w4",
             "tmpab12cd34.json.tmp", "tmpab12cd34.keras", ".export.tmp-q1w2e3r4/saved_model.pb",
             "checkpoints/ckpt-3_temp/part-00000-of-00001.data-00000-of-00001",
             "checkpoints/checkpoint.tmp0123abcd", "samples/tmpzz99yy88.png.tmp"]
    kept = ["generator.keras", "checkpoints/ckpt-2.index", "samples/epoch_0001.png",
            "notes.tmp", "checkpoints/checkpoint"]
    for name in stale + kept[1:]:
        os.makedirs(os.path.dirname(run / name), exist_ok=True)
        (run / name).write_bytes(b"x")
    runs.read_config(str(run))
    left = {os.path.relpath(os.path.join(r, n), run) for r, _, ns in os.walk(run) for n in ns}
    assert left == {"config.json", *kept}


def test_write_probes_left_by_a_kill_are_removed_on_start(tmp_path, monkeypatch):
    # check_writable creates and deletes a probe file; a kill in between leaves it.
    made = []
    real = runs.tempfile.NamedTemporaryFile

    def kept_probe(*args, **kwargs):
        probe = real(*args, **{**kwargs, "delete": False})
        made.append(probe.name)
        return probe

    monkeypatch.setattr(runs.tempfile, "NamedTemporaryFile", kept_probe)
    fresh = str(tmp_path / "fresh")
    runs.check_writable(fresh)
    monkeypatch.undo()
    assert [os.path.basename(p).startswith(runs.PROBE_PREFIX) for p in made] == [True]
    # A folder holding only a probe is still a new run folder, not "not a run folder".
    runs.check_resumable(fresh, {"seed": 0}, kind="gan", keys=())
    run = make_run(tmp_path)
    names = [os.path.basename(made[0]), "tmpq1w2e3r4"]  # this version's, an older one's
    for name in names:
        (run / name).write_bytes(b"")
    (run / "tmpkeepme1").write_bytes(b"")  # not a tempfile name: kept
    (run / "tmpa1b2c3d4").write_bytes(b"user data")  # not empty, so not a probe: kept
    runs.read_config(str(run))
    assert sorted(os.listdir(run)) == ["config.json", "tmpa1b2c3d4", "tmpkeepme1"]


# --- 3: the run-folder lock -----------------------------------------------------------------

HOLDER = """
    import fcntl, json, os, socket, sys, time
    fd = os.open(os.path.join(sys.argv[1], ".lock"), os.O_RDWR | os.O_CREAT)
    fcntl.flock(fd, fcntl.LOCK_EX)
    os.write(fd, json.dumps({"pid": os.getpid(), "host": socket.gethostname()}).encode())
    print("holding", flush=True)
    time.sleep(120)
"""


@pytest.fixture
def holder(tmp_path):
    """Start a process that holds ``folder``'s lock as gan-apps does; yields its Popen."""
    started = []

    def start(folder):
        process = subprocess.Popen([sys.executable, "-c", textwrap.dedent(HOLDER), str(folder)],
                                   stdout=subprocess.PIPE, text=True)
        assert process.stdout.readline().strip() == "holding"
        started.append(process)
        return process

    yield start
    for process in started:
        process.kill()
        process.wait()


def test_a_second_writer_is_refused_and_a_dead_holders_lock_taken_over(tmp_path, holder,
                                                                        capsys):
    run = make_run(tmp_path)
    other = holder(run)
    with pytest.raises(UserInputError, match=f"in use by process {other.pid} on "):
        with runs.run_lock(str(run)):
            pass
    (run / ".export.tmp-abcd1234").mkdir()  # the live writer's staging folder: not stale
    runs.read_config(str(run))
    assert (run / ".export.tmp-abcd1234").is_dir()
    other.kill()
    other.wait()
    capsys.readouterr()
    with runs.run_lock(str(run)):
        with runs.run_lock(str(run)):  # nested holds in one process are fine
            assert json.loads((run / ".lock").read_text())["pid"] == os.getpid()
    err = capsys.readouterr().err
    assert f"taking over the stale lock of process {other.pid}" in err
    assert len(err.splitlines()) == 1
    assert sorted(os.listdir(run)) == ["config.json"]  # the lock and the stale staging are gone


def test_the_lock_leaves_no_folder_behind_when_it_made_it(tmp_path):
    with runs.run_lock(str(tmp_path / "new")):
        assert os.listdir(tmp_path / "new") == [".lock"]
    assert not (tmp_path / "new").exists()


# --- 4, 5: checkpoints ----------------------------------------------------------------------


def saved_checkpoints(directory, epochs=3):
    value = tf.Variable(0.0)
    checkpoint = tf.train.Checkpoint(value=value)
    manager = tf.train.CheckpointManager(checkpoint, str(directory), max_to_keep=2)
    for epoch in range(1, epochs + 1):
        value.assign(float(epoch))
        manager.save(checkpoint_number=epoch)
    return value, checkpoint


def test_a_corrupt_latest_checkpoint_falls_back_to_the_previous_one(tmp_path, capsys):
    directory = tmp_path / "run" / "checkpoints"
    value, checkpoint = saved_checkpoints(directory)
    data = next(directory.glob("ckpt-3.data-*"))
    data.write_bytes(data.read_bytes()[:3])
    value.assign(-1.0)
    assert runs.restore_checkpoint(checkpoint, str(directory)).endswith("ckpt-2")
    assert float(value.numpy()) == 2.0
    err = capsys.readouterr().err
    assert "cannot read checkpoint" in err and "trying the previous one" in err
    assert tf.train.latest_checkpoint(str(directory)).endswith("ckpt-2")  # index repaired


def test_a_garbled_index_is_rebuilt_from_the_checkpoint_files(tmp_path):
    directory = tmp_path / "run" / "checkpoints"
    value, checkpoint = saved_checkpoints(directory)
    (directory / "checkpoint").write_bytes(b"\x00garbage {{{")
    value.assign(-1.0)
    assert runs.restore_checkpoint(checkpoint, str(directory)).endswith("ckpt-3")
    assert float(value.numpy()) == 3.0
    assert tf.train.latest_checkpoint(str(directory)).endswith("ckpt-3")


def test_no_readable_checkpoint_never_overwrites_finished_results(tmp_path):
    run = tmp_path / "run"
    directory = run / "checkpoints"
    value, checkpoint = saved_checkpoints(directory, epochs=2)
    for data in directory.glob("ckpt-*.data-*"):
        data.write_bytes(b"")
    with pytest.raises(UserInputError, match="no checkpoint in .* can be read"):
        runs.restore_checkpoint(checkpoint, str(directory))
    shutil.rmtree(directory)
    assert runs.restore_checkpoint(checkpoint, str(directory)) is None  # nothing to lose
    (run / "generator.keras").write_bytes(b"finished")
    with pytest.raises(UserInputError, match="generator.keras holds the results of a finished"):
        runs.restore_checkpoint(checkpoint, str(directory))


def test_history_rows_after_the_restored_epoch_are_dropped(tmp_path):
    path = tmp_path / "history.csv"
    path.write_text("epoch,d_loss\n0,1.5\n1,1.25\n1,1.25\n2,1.0\n3,0.5")  # 3: torn, no newline
    assert runs.trim_history(str(path), 2) == 3
    assert path.read_text() == "epoch,d_loss\n0,1.5\n1,1.25\n"
    assert runs.trim_history(str(path), 2) == 0
    # history.csv counts from 1 (callbacks.HistoryLogger): 2 epochs done keep rows 1 and 2.
    path.write_text("epoch,d_loss\n1,1.5\n2,1.25\n3,1.0\n")
    assert runs.trim_history(str(path), 2) == 1
    assert path.read_text() == "epoch,d_loss\n1,1.5\n2,1.25\n"


# --- 6, 11: resume refusals and corrupt models ------------------------------------------------


def test_check_resumable_refuses_a_changed_seed_or_steps_and_too_few_epochs(tmp_path):
    out = str(tmp_path / "run")
    config = {"kind": "gan", "model": "dcgan", "seed": 0, "steps": 1, "epochs": 2}
    runs.write_json(os.path.join(out, runs.CONFIG), config)
    runs.check_resumable(out, config, kind="gan", keys=("model",))
    for change in ({"seed": 1}, {"steps": 2}):
        with pytest.raises(UserInputError, match=next(iter(change))):
            runs.check_resumable(out, {**config, **change}, kind="gan", keys=("model",))
    os.makedirs(os.path.join(out, "checkpoints"))
    open(os.path.join(out, "checkpoints", "ckpt-2.index"), "w").close()
    with pytest.raises(UserInputError, match="already trained to epoch 2, past --epochs 1"):
        runs.check_resumable(out, {**config, "epochs": 1}, kind="gan", keys=("model",))
    runs.check_resumable(out, {**config, "epochs": 3}, kind="gan", keys=("model",))


@pytest.mark.parametrize("content", [b"", b"PK\x03\x04 torn zip", b"not a zip at all"])
def test_a_corrupt_keras_file_is_one_line(tmp_path, content):
    path = tmp_path / "generator.keras"
    path.write_bytes(content)
    with pytest.raises(UserInputError, match="generator.keras: the file is corrupt") as info:
        runs.load_model(str(path), "generator")
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("content", ["[]", "42", "{"])
def test_a_config_that_is_not_a_settings_object_is_one_line(tmp_path, capsys, content):
    run = make_run(tmp_path)
    (run / runs.CONFIG).write_text(content)
    assert "config.json" in one_line_error(capsys, ["sample", str(run)])


def test_a_failed_json_write_leaves_no_temporary_file(tmp_path):
    with pytest.raises(TypeError):
        runs.write_json(str(tmp_path / "metrics.json"), {"x": object()})
    assert os.listdir(tmp_path) == []


# --- 12, 13, 14: serving checks and named pipes -----------------------------------------------


def test_gan_export_rejects_non_finite_wrong_rank_and_bad_labels(tmp_path):
    path = export.export_generator(tiny_generator(1), tmp_path / "export")
    for bad in (np.nan, np.inf):
        z = Z.copy()
        z[0, 0] = bad
        with pytest.raises(tf.errors.InvalidArgumentError, match="z must be finite"):
            served(path, z=tf.constant(z))
    with pytest.raises((tf.errors.InvalidArgumentError, ValueError, TypeError)):
        served(path, z=tf.constant(Z[None]))
    from gan_apps import sampling

    z = keras.Input((4,), name="z")
    label = keras.Input((), dtype="int32", name="label")
    joined = keras.layers.Concatenate()([z, keras.layers.Embedding(3, 4)(label)])
    conditional = keras.Model([z, label], keras.layers.Reshape((2, 2, 1))(
        keras.layers.Dense(4, activation="tanh")(joined)))
    spec = [*sampling.unconditional_spec(4), {"name": "label", "kind": "class", "num_classes": 3}]
    path = export.export_generator(conditional, tmp_path / "conditional", spec=spec)
    zs = tf.zeros([2, 4])
    assert served(path, z=zs, label=tf.constant([0, 2]))["images"].shape == (2, 2, 2, 1)
    for labels in ([0, 3], [-1, 0]):
        with pytest.raises(tf.errors.InvalidArgumentError, match=r"label must lie in \[0, 3\)"):
            served(path, z=zs, label=tf.constant(labels))


def test_super_resolution_export_answers_a_rank_3_request_with_an_error(tmp_path):
    # Without the rank check this request aborts the process (SIGABRT in oneDNN).
    code = """
        import sys
        import keras, numpy as np, tensorflow as tf
        from gan_apps.pipelines import super_resolution
        x = keras.Input((None, None, 3))
        up = keras.layers.UpSampling2D(2)(keras.layers.Conv2D(3, 3, padding="same")(x))
        super_resolution.export_generator(keras.Model(x, up), 2, sys.argv[1])
        serve = tf.saved_model.load(sys.argv[1]).signatures["serving_default"]
        print(serve(lr=tf.zeros([1, 4, 4, 3], tf.uint8))["hr"].shape)
        try:
            serve(lr=tf.zeros([4, 4, 3], tf.uint8))
        except tf.errors.InvalidArgumentError as error:
            print("refused:", " ".join(error.message.split()))
    """
    result = python(code, tmp_path / "export")
    assert result.returncode == 0, result.stderr[-2000:]
    assert "(1, 8, 8, 3)" in result.stdout
    assert "refused:" in result.stdout and "lr [4,4,3] is not compatible" in result.stdout


def test_image_folders_skip_named_pipes(tmp_path):
    images = tmp_path / "images"
    images.mkdir()
    import cv2

    cv2.imwrite(str(images / "a.png"), np.full((8, 8, 3), 128, np.uint8))
    os.mkfifo(images / "b.png")  # opening it for reading would block forever
    os.symlink(images / "a.png", images / "c.png")
    assert folder.list_files(str(images)) == [str(images / "a.png"), str(images / "c.png")]
    assert folder.load_folder(str(images), resolution=8).shape == (2, 8, 8, 3)


# --- the commands, end to end -----------------------------------------------------------------


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    """A finished tiny run (2 epochs of 1 step) and the hashes of its files."""
    out = str(tmp_path_factory.mktemp("faults") / "finished")
    assert main(["train", "--out", out, *TRAIN]) == 0
    return out, snapshot(out)


@pytest.fixture
def run_copy(finished, tmp_path):
    out = str(tmp_path / "run")
    shutil.copytree(finished[0], out)
    return out


def serve_run(run, count=2):
    """Serve ``count`` latent vectors through RUN/export; returns the uint8 images."""
    latent = runs.read_config(run)["latent_dim"]
    return served(os.path.join(run, "export"), z=tf.zeros([count, latent]))["images"]


def history_epochs(run):
    with open(os.path.join(run, "history.csv")) as f:
        return [int(line.split(",")[0]) for line in f.read().splitlines()[1:]]


def test_export_killed_between_renames_then_any_command_restores_it(finished, run_copy,
                                                                     tmp_path):
    killed = subprocess.run([sys.executable, "-m", "gan_apps.cli", "export", run_copy],
                            env=dict(ENV, **{faults.ENV: "swap:between-renames=sigkill"}),
                            cwd=ROOT, capture_output=True, text=True, timeout=240)
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-2000:]
    assert not os.path.exists(os.path.join(run_copy, "export"))
    assert main(["sample", run_copy, "--num", "4", "--output", str(tmp_path / "s.png")]) == 0
    restored = snapshot(run_copy)
    assert {k: v for k, v in restored.items() if k.startswith("export")} == \
        {k: v for k, v in finished[1].items() if k.startswith("export")}
    assert serve_run(run_copy).shape == (2, 8, 8, 1)


def test_export_ctrl_c_between_renames_keeps_an_export(run_copy, monkeypatch, capsys):
    monkeypatch.setenv(faults.ENV, "swap:between-renames=sigint")
    assert main(["export", run_copy]) == 130
    assert sorted(n for n in os.listdir(run_copy) if "export" in n) == ["export"]
    assert serve_run(run_copy).shape == (2, 8, 8, 1)


def test_train_killed_between_history_row_and_checkpoint_resumes_without_a_duplicate(tmp_path):
    out = str(tmp_path / "run")
    killed = subprocess.run([sys.executable, "-m", "gan_apps.cli", "train", "--out", out, *TRAIN],
                            env=dict(ENV, **{faults.ENV: "checkpoint:before-save@2=sigkill"}),
                            cwd=ROOT, capture_output=True, text=True, timeout=240)
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-2000:]
    assert history_epochs(out) == [1, 2]  # the epoch-2 row is in, its checkpoint is not
    assert runs.checkpoint_epochs(os.path.join(out, "checkpoints")) == 1
    assert main(["train", "--out", out, *TRAIN]) == 0
    assert history_epochs(out) == [1, 2]
    assert runs.checkpoint_epochs(os.path.join(out, "checkpoints")) == 2


def test_train_with_a_corrupt_latest_checkpoint_resumes_from_the_previous(run_copy, capsys):
    data = next(f for f in os.listdir(os.path.join(run_copy, "checkpoints"))
                if f.startswith("ckpt-2.data"))
    with open(os.path.join(run_copy, "checkpoints", data), "r+b") as f:
        f.truncate(7)
    capsys.readouterr()
    assert main(["train", "--out", run_copy, *TRAIN]) == 0
    err = capsys.readouterr().err
    assert "cannot read checkpoint" in err and "trying the previous one" in err
    assert history_epochs(run_copy) == [1, 2]
    assert serve_run(run_copy).shape == (2, 8, 8, 1)


def test_train_with_a_garbled_index_keeps_the_finished_run(finished, run_copy, capsys):
    with open(os.path.join(run_copy, "checkpoints", "checkpoint"), "w") as f:
        f.write("model_checkpoint_path: \x00\x01 garbled {")
    assert main(["train", "--out", run_copy, *TRAIN]) == 0
    assert "already trained to epoch 2" in capsys.readouterr().out
    generator = lambda run: keras.models.load_model(os.path.join(run, "generator.keras"),
                                                    compile=False).get_weights()
    for a, b in zip(generator(run_copy), generator(finished[0])):
        np.testing.assert_array_equal(a, b)
    assert history_epochs(run_copy) == [1, 2]


@pytest.mark.parametrize("change,fragment", [
    (["--epochs", "1"], "already trained to epoch 2, past --epochs 1"),
    (["--seed", "1"], "seed"),
    (["--steps", "2"], "steps"),
    ("no checkpoints", "generator.keras holds the results of a finished run"),
])
def test_train_refuses_to_overwrite_a_finished_run(run_copy, capsys, change, fragment):
    if change == "no checkpoints":
        shutil.rmtree(os.path.join(run_copy, "checkpoints"))
        change = []
    before = snapshot(run_copy)
    line = one_line_error(capsys, ["train", "--out", run_copy, *TRAIN, *change])
    assert fragment in line
    assert snapshot(run_copy) == before


def test_a_second_writer_exits_2_with_one_line(run_copy, holder, capsys):
    other = holder(run_copy)
    before = snapshot(run_copy)
    for argv in (["train", "--out", run_copy, *TRAIN], ["export", run_copy]):
        assert f"in use by process {other.pid}" in one_line_error(capsys, argv)
    assert snapshot(run_copy) == before


@pytest.mark.parametrize("command", [["sample", "--num", "2"], ["export"], ["evaluate"]])
def test_commands_on_a_corrupt_generator_are_one_line(run_copy, capsys, command):
    with open(os.path.join(run_copy, "generator.keras"), "r+b") as f:
        f.truncate(100)
    line = one_line_error(capsys, [command[0], run_copy, *command[1:]])
    assert "generator.keras: the file is corrupt" in line


def test_fault_spec_is_checked():
    assert faults.parse("a@2=sigkill, b=interrupt") == {"a": (2, "sigkill"), "b": (1, "interrupt")}
    for bad in ("a=explode", "=interrupt", "a@x=sigint"):
        with pytest.raises(ValueError, match=faults.ENV):
            faults.parse(bad)
