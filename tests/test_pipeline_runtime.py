"""Runtime flags (--strategy, --precision, --jit, --steps-per-execution, --deterministic) on
the translation, super-resolution and adversarial-example training commands."""

import json
import os
import subprocess
import sys
import textwrap

import keras
import pytest

from gan_apps import cli, runs, runtime
from gan_apps.errors import UserInputError
from gan_apps.pipelines import adversarial, generation
from gan_apps.pipelines import super_resolution as sr

SR_TINY = ["super-resolve", "train", "--scale", "2", "--data", "photos", "--blocks", "1",
           "--filters", "8", "--patch-size", "16", "--batch-size", "4", "--steps", "2",
           "--no-batch-norm"]
TR_TINY = ["translate", "train", "--data", "photos:tone", "--crop-size", "32", "--ngf", "4",
           "--ndf", "4", "--blocks", "1", "--pool-size", "2", "--batch-size", "2", "--steps", "2",
           "--epochs", "1", "--decay-epochs", "0"]
CLF_TINY = ["adversarial", "train-classifier", "--resolution", "8", "--width", "4",
            "--epochs", "1", "--batch-size", "359"]  # half-a: 718 images, 2 steps


@pytest.fixture(autouse=True)
def float32_policy_after():
    """The pipelines set the global dtype policy; later tests expect float32."""
    yield
    keras.mixed_precision.set_global_policy("float32")


def _config(out):
    with open(os.path.join(out, runs.CONFIG)) as f:
        return json.load(f)


def test_super_resolve_mixed_bfloat16_jit_steps_per_execution(tmp_path):
    out = str(tmp_path / "run")
    assert cli.main([*SR_TINY, "--out", out, "--epochs", "1", "--precision", "mixed_bfloat16",
                     "--jit", "--steps-per-execution", "2"]) == 0
    for name in ("generator.keras", "history.csv", "export"):
        assert os.path.exists(os.path.join(out, name)), name
    config = _config(out)
    assert config["precision"] == "mixed_bfloat16" and config["jit"] is True
    assert config["steps_per_execution"] == 2 and config["strategy"] == "default"
    assert config["deterministic"] is False


def test_super_resolve_resume_with_other_precision(tmp_path, capsys):
    out = str(tmp_path / "run")
    assert cli.main([*SR_TINY, "--out", out, "--epochs", "1"]) == 0
    # Precision, XLA and steps per execution are no settings a resume has to keep
    # (runs.check_resumable only keeps float16 runs in float16: their optimizers are
    # loss-scale wrappers).
    assert cli.main([*SR_TINY, "--out", out, "--epochs", "2", "--precision", "mixed_bfloat16",
                     "--steps-per-execution", "2"]) == 0
    assert "resuming" in capsys.readouterr().out
    config = _config(out)
    assert config["precision"] == "mixed_bfloat16" and config["steps_per_execution"] == 2
    assert config["epochs"] == 2
    assert "epoch" in open(os.path.join(out, "history.csv")).read()


def test_super_resolve_mirrored_two_replicas(tmp_path):
    # In a subprocess: the CPU split must precede TensorFlow's device set-up, and op
    # determinism cannot be turned off again in this process.
    out = str(tmp_path / "run")
    argv = [*SR_TINY, "--model", "srgan", "--out", out, "--epochs", "1",
            "--strategy", "mirrored", "--deterministic"]
    script = f"import sys; from gan_apps import cli; sys.exit(cli.main({argv!r}))"
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", runtime.CPU_DEVICES_ENV: "2"}
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=300, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "training on 2 replicas (mirrored)" in proc.stdout
    for name in ("generator.keras", "discriminator.keras", "history.csv", "export"):
        assert os.path.exists(os.path.join(out, name)), name
    config = _config(out)
    assert config["strategy"] == "mirrored" and config["deterministic"] is True


def test_super_resolve_bad_runtime_values(tmp_path, capsys):
    out = str(tmp_path / "never")
    for extra, fragment in ((["--precision", "float8"], "invalid choice"),
                            (["--strategy", "horovod"], "invalid choice"),
                            (["--steps-per-execution", "0"], "positive integer")):
        assert cli.main([*SR_TINY, "--out", out, *extra]) == 2, extra
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and fragment in err, err
    with pytest.raises(UserInputError, match="unknown precision"):
        sr.train(out=out, precision="float8")
    with pytest.raises(UserInputError, match="steps-per-execution"):
        sr.train(out=out, steps_per_execution=0)
    assert not os.path.exists(out)


def test_classifier_mixed_float16_uses_loss_scaling(tmp_path, monkeypatch):
    wrapped = []
    original = runtime.loss_scaled

    def spy(optimizer):
        result = original(optimizer)
        wrapped.append(result)
        return result

    monkeypatch.setattr(runtime, "loss_scaled", spy)
    out = str(tmp_path / "clf")
    assert cli.main([*CLF_TINY, "--out", out, "--precision", "mixed_float16"]) == 0
    assert len(wrapped) == 1 and isinstance(wrapped[0], keras.optimizers.LossScaleOptimizer)
    config = runs.read_config(out, kind="classifier")
    assert config["precision"] == "mixed_float16" and config["adversarial"] is None
    assert 0.0 <= config["test_accuracy"] <= 1.0
    assert os.path.isfile(os.path.join(out, "classifier.keras"))


def test_classifier_pgd_with_jit(tmp_path):
    out = str(tmp_path / "pgd")
    assert cli.main([*CLF_TINY, "--out", out, "--adversarial", "pgd", "--pgd-steps", "1",
                     "--jit", "--steps-per-execution", "2"]) == 0
    config = runs.read_config(out, kind="classifier")
    assert config["adversarial"] == "pgd" and config["jit"] is True
    assert config["steps_per_execution"] == 2 and config["precision"] == "float32"


PGD_REPLICAS = textwrap.dedent(
    """
    import json
    import numpy as np
    from gan_apps import runtime
    runtime.split_cpu(2)
    import keras
    import tensorflow as tf
    from gan_apps import data
    from gan_apps.models import classifiers

    images, labels = data.load_arrays("digits", resolution=8, num_examples=32)
    results = {}
    for name in ("default", "mirrored"):
        strategy = runtime.make_strategy(name)
        keras.utils.set_random_seed(0)
        with strategy.scope():
            model = classifiers.cnn_classifier(8, 1, 10, 4, seed=1)
            trainer = classifiers.PGDTrainer(model, eps=0.6, step_size=0.3, steps=2, seed=3)
            trainer.compile(optimizer=keras.optimizers.SGD(0.1))
        dataset = tf.data.Dataset.from_tensor_slices((images, labels)).batch(16, drop_remainder=True)
        history = trainer.fit(dataset, epochs=1, verbose=0)
        results[name] = {"replicas": strategy.num_replicas_in_sync,
                         "weights": [w.tolist() for w in model.get_weights()],
                         "loss": float(history.history["adv_loss"][-1])}
    print("RESULT" + json.dumps(results))
    """
)


def test_pgd_trainer_two_replicas_equal_one_device(replica_results):
    """Random starts sliced from the global batch, losses divided by the replica count."""
    import numpy as np

    results = replica_results(PGD_REPLICAS)
    for one, two in zip(results["default"]["weights"], results["mirrored"]["weights"]):
        np.testing.assert_allclose(np.array(two), np.array(one), atol=1e-5, rtol=1e-4)
    # The tracker reports the mean loss, not the replica-scaled one.
    assert results["mirrored"]["loss"] == pytest.approx(results["default"]["loss"], rel=1e-4)


def test_classifier_bad_runtime_values(tmp_path, capsys):
    out = str(tmp_path / "never")
    assert cli.main([*CLF_TINY, "--out", out, "--precision", "half"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "invalid choice" in err
    # No --on-nan: the classifier has no checkpoint to roll back to.
    assert cli.main([*CLF_TINY, "--out", out, "--on-nan", "rollback"]) == 2
    assert "unrecognized arguments" in capsys.readouterr().err
    assert not os.path.exists(out)


def test_train_gan_passes_runtime_flags_through(tmp_path, monkeypatch, capsys):
    seen = {}

    def fake_train(**kwargs):
        seen.update(kwargs)
        return kwargs["out"]

    monkeypatch.setattr(generation, "train", fake_train)
    monkeypatch.setattr(adversarial, "report_gan", lambda out, **kw: {
        "aux_accuracy_real": 1.0, "aux_accuracy_generated": 1.0, "fid": 0.0})
    out = str(tmp_path / "gan")
    assert cli.main(["adversarial", "train-gan", "--out", out, "--strategy", "mirrored",
                     "--precision", "mixed_bfloat16", "--jit", "--steps-per-execution", "3",
                     "--deterministic", "--on-nan", "rollback"]) == 0
    assert seen["model"] == "acgan" and seen["out"] == out
    assert seen["strategy"] == "mirrored" and seen["precision"] == "mixed_bfloat16"
    assert seen["jit"] is True and seen["steps_per_execution"] == 3
    assert seen["deterministic"] is True and seen["on_nan"] == "rollback"
    assert "auxiliary accuracy" in capsys.readouterr().out


def test_translate_mixed_float16_jit_and_the_float16_resume_rule(tmp_path, capsys):
    out = str(tmp_path / "run")
    assert cli.main([*TR_TINY, "--out", out, "--precision", "mixed_float16", "--jit",
                     "--steps-per-execution", "2"]) == 0
    config = _config(out)
    assert config["precision"] == "mixed_float16" and config["jit"] is True
    assert config["steps_per_execution"] == 2
    for name in ("generator_ab.keras", "discriminator_b.keras", "export"):
        assert os.path.exists(os.path.join(out, name)), name
    before = sorted(os.listdir(out))
    capsys.readouterr()
    # A float16 checkpoint holds loss-scaled optimizers: a float32 resume is refused.
    assert cli.main([*TR_TINY, "--out", out, "--epochs", "2"]) == 2
    err = capsys.readouterr().err
    assert "mixed_float16" in err and "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert sorted(os.listdir(out)) == before


def test_translate_mirrored_two_replicas_and_batch_check(tmp_path):
    out = str(tmp_path / "run")
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", runtime.CPU_DEVICES_ENV: "2"}

    def start(argv):
        script = f"import sys; from gan_apps import cli; sys.exit(cli.main({argv!r}))"
        return subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True, env=env)

    # An odd global batch cannot be split between two replicas. The two commands are
    # independent: they run side by side (each is mostly single-threaded start-up).
    odd = [a if a != "2" or TR_TINY[i - 1] != "--batch-size" else "3" for i, a in enumerate(TR_TINY)]
    procs = [start([*TR_TINY, "--out", out, "--strategy", "mirrored"]),
             start([*odd, "--out", str(tmp_path / "odd"), "--strategy", "mirrored"])]
    (stdout, stderr), (_, odd_stderr) = (proc.communicate(timeout=300) for proc in procs)
    assert procs[0].returncode == 0, stderr[-3000:]
    assert "training on 2 replicas (mirrored)" in stdout
    assert os.path.exists(os.path.join(out, "export"))
    assert procs[1].returncode == 2 and "not a multiple of the 2 replicas" in odd_stderr


class _HostDoubling(keras.layers.Layer):
    """Doubles its input on the host (tf.numpy_function): an op XLA cannot compile."""

    def call(self, x):
        import tensorflow as tf

        y = tf.numpy_function(lambda a: a * 2.0, [x], tf.float32)
        y.set_shape(x.shape)
        return y


def test_fit_falls_back_to_graph_mode_when_xla_refuses_the_step():
    import numpy as np

    def make(jit):
        keras.utils.set_random_seed(0)
        model = keras.Sequential([keras.Input((3,)), _HostDoubling(), keras.layers.Dense(1)])
        model.compile(keras.optimizers.SGD(0.1), "mse", jit_compile=jit)
        return model

    x = np.arange(24, dtype="float32").reshape(8, 3) / 24
    y = np.ones((8, 1), "float32")
    forced = make(True)
    with pytest.warns(RuntimeWarning, match="XLA cannot compile.*PyFunc"):
        runtime.fit(forced, x, y, epochs=2, batch_size=4, verbose=0, shuffle=False)
    plain = make(False)
    runtime.fit(plain, x, y, epochs=2, batch_size=4, verbose=0, shuffle=False)
    assert forced.jit_compile is False
    # Nothing was updated by the refused attempt: the same 4 steps as graph mode from the start.
    assert int(forced.optimizer.iterations.numpy()) == 4
    for a, b in zip(forced.get_weights(), plain.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-6)


def test_jit_is_three_way_and_auto_by_default(tmp_path):
    parse = cli.build_parser().parse_args
    assert parse(["train"]).jit is None
    assert parse(["train", "--jit"]).jit is True
    assert parse(["train", "--no-jit"]).jit is False
    assert [runtime.jit_compile(c) for c in (None, True, False)] == ["auto", True, False]
