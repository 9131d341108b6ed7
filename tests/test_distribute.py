"""tf.distribute: two replicas train the same model as one device on the same global batch."""

import json
import os
import subprocess
import sys
import textwrap

import pytest

SCRIPT = textwrap.dedent(
    """
    import json, sys
    import numpy as np
    from gan_apps import runtime
    runtime.split_cpu(2)
    import keras
    import tensorflow as tf
    from gan_apps import data, penalties
    from gan_apps.models.presets import build_gan

    preset, extra_gp = sys.argv[1], sys.argv[2] == "gp"
    results = {}
    for name in ("default", "mirrored"):
        strategy = runtime.make_strategy(name)
        keras.utils.set_random_seed(0)
        with strategy.scope():
            gan = build_gan(preset, resolution=8, channels=1, width=4, latent_dim=6, seed=5,
                            extra_penalties=[penalties.GradientPenalty(10.0)] if extra_gp else [])
            # Plain SGD: Adam's first steps divide by |g| and magnify round-off.
            gan.compile(g_optimizer=keras.optimizers.SGD(0.05),
                        d_optimizer=keras.optimizers.SGD(0.05))
        # Two steps; each step holds n_critic interleaved minibatches of 8.
        images, _ = data.load_arrays("digits", resolution=8, num_examples=16 * gan.n_critic)
        dataset = tf.data.Dataset.from_tensor_slices(images).batch(8 * gan.n_critic,
                                                                   drop_remainder=True)
        history = gan.fit(dataset, epochs=1, verbose=0)
        results[name] = {
            "replicas": strategy.num_replicas_in_sync,
            "weights": [w.tolist() for w in gan.generator.get_weights() + gan.discriminator.get_weights()],
            "d_loss": float(history.history["d_loss"][-1]),
        }
    print("RESULT" + json.dumps(results))
    """
)


@pytest.mark.parametrize("preset,extra", [("dcgan", "gp"), ("wgan_gp", "none")])
def test_mirrored_two_replicas_equal_one_device(replica_results, preset, extra):
    results = replica_results(SCRIPT, preset, extra)
    import numpy as np

    for one, two in zip(results["default"]["weights"], results["mirrored"]["weights"]):
        np.testing.assert_allclose(np.array(two), np.array(one), atol=2e-5, rtol=1e-4)
    assert results["mirrored"]["d_loss"] == pytest.approx(results["default"]["d_loss"], rel=1e-4)


CYCLEGAN_SCRIPT = textwrap.dedent(
    """
    import json
    import numpy as np
    from gan_apps import runtime
    runtime.split_cpu(2)
    import keras
    import tensorflow as tf
    from gan_apps.models import cyclegan

    rng = np.random.default_rng(0)
    a, b = (rng.uniform(-1, 1, (12, 32, 32, 3)).astype("float32") for _ in range(2))
    results = {}
    for name in ("default", "mirrored"):
        strategy = runtime.make_strategy(name)
        keras.utils.set_random_seed(0)
        with strategy.scope():
            # A pool of 3 fills during the first step and swaps in the next two.
            model = cyclegan.build_cyclegan(channels=3, crop_size=32, ngf=4, ndf=4, n_blocks=1,
                                            pool_size=3, seed=3)
            model.compile(g_optimizer=keras.optimizers.SGD(0.05),
                          d_optimizer=keras.optimizers.SGD(0.05))
        dataset = tf.data.Dataset.from_tensor_slices((a, b)).batch(4, drop_remainder=True)
        history = model.fit(dataset, epochs=1, verbose=0)
        results[name] = {
            "replicas": strategy.num_replicas_in_sync,
            "weights": [w.tolist() for net in model.networks().values() for w in net.get_weights()],
            "pools": [np.asarray(p.images.value).tolist() for p in (model.pool_a, model.pool_b)],
            "d_a_loss": float(history.history["d_a_loss"][-1]),
        }
    print("RESULT" + json.dumps(results))
    """
)


def test_cyclegan_mirrored_two_replicas_equal_one_device(replica_results):
    # The image pools see the global batch on every replica (all-gather), so the pools,
    # the discriminators' inputs and all four networks match one device.
    import numpy as np

    results = replica_results(CYCLEGAN_SCRIPT)
    # Round-off of the instance norms grows over three steps to ~1e-4 (up to 6e-4 with the
    # process pinned to one core, where TensorFlow sums in another order); a pool that
    # diverges between replicas moves weights by ~1e-1.
    for one, two in zip(results["default"]["weights"], results["mirrored"]["weights"]):
        np.testing.assert_allclose(np.array(two), np.array(one), atol=2e-3, rtol=1e-3)
    for one, two in zip(results["default"]["pools"], results["mirrored"]["pools"]):
        np.testing.assert_allclose(np.array(two), np.array(one), atol=1e-4)
    assert results["mirrored"]["d_a_loss"] == pytest.approx(results["default"]["d_a_loss"], rel=1e-4)


def test_strategy_errors_are_user_errors(monkeypatch):
    from gan_apps import runtime
    from gan_apps.errors import UserInputError

    with pytest.raises(UserInputError, match="unknown strategy"):
        runtime.make_strategy("horovod")
    monkeypatch.delenv("TF_CONFIG", raising=False)
    with pytest.raises(UserInputError, match="TF_CONFIG"):
        runtime.make_strategy("multiworker")
    with pytest.raises(UserInputError, match="no TPU"):
        runtime.make_strategy("tpu")
    with pytest.raises(UserInputError, match="unknown precision"):
        runtime.configure(precision="float8")


WORKER = textwrap.dedent(
    """
    import json, os, sys
    index, ports, out = int(sys.argv[1]), sys.argv[2].split(","), sys.argv[3]
    os.environ["TF_CONFIG"] = json.dumps({
        "cluster": {"worker": [f"127.0.0.1:{p}" for p in ports]},
        "task": {"type": "worker", "index": index}})
    from gan_apps.pipelines import generation
    # Different seeds per worker: independent runs would end with different weights, so
    # equal weights show the initial broadcast and the all-reduced updates.
    generation.train(model="dcgan", data="digits", out=out, epochs=2, steps=3, batch_size=8,
                     resolution=8, width=4, seed=index, eval_every=0, strategy="multiworker",
                     verbose=0)
    """
)


def _free_ports(count):
    import socket

    sockets = [socket.socket() for _ in range(count)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


def test_two_local_workers_train_in_lockstep(tmp_path):
    import keras
    import numpy as np

    script = tmp_path / "worker.py"
    script.write_text(WORKER)
    ports = ",".join(str(p) for p in _free_ports(2))
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    env.pop("TF_CONFIG", None)
    workers = [subprocess.Popen([sys.executable, str(script), str(i), ports, str(tmp_path / f"w{i}")],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
               for i in range(2)]
    for worker in workers:
        _, err = worker.communicate(timeout=300)
        assert worker.returncode == 0, err[-3000:]
    for name in ("generator", "discriminator"):
        first, second = (keras.models.load_model(str(tmp_path / f"w{i}" / f"{name}.keras"),
                                                 compile=False).get_weights() for i in range(2))
        for a, b in zip(first, second):
            np.testing.assert_array_equal(a, b)
    with open(tmp_path / "w0" / "config.json") as f:
        assert json.load(f)["strategy"] == "multiworker"
