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
    images, _ = data.load_arrays("digits", resolution=8, num_examples=32)
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
        dataset = tf.data.Dataset.from_tensor_slices(images).batch(8, drop_remainder=True)
        history = gan.fit(dataset, epochs=1, verbose=0)
        results[name] = {
            "replicas": strategy.num_replicas_in_sync,
            "weights": [w.tolist() for w in gan.generator.get_weights() + gan.discriminator.get_weights()],
            "d_loss": float(history.history["d_loss"][-1]),
        }
    print("RESULT" + json.dumps(results))
    """
)


@pytest.mark.parametrize("preset,extra", [("dcgan", "none"), ("dcgan", "gp")])
def test_mirrored_two_replicas_equal_one_device(tmp_path, preset, extra):
    script = tmp_path / "run.py"
    script.write_text(SCRIPT)
    proc = subprocess.run([sys.executable, str(script), preset, extra], capture_output=True,
                          text=True, timeout=300, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"})
    assert proc.returncode == 0, proc.stderr[-3000:]
    line = next(l for l in proc.stdout.splitlines() if l.startswith("RESULT"))
    results = json.loads(line[len("RESULT"):])
    assert results["default"]["replicas"] == 1 and results["mirrored"]["replicas"] == 2
    import numpy as np

    for one, two in zip(results["default"]["weights"], results["mirrored"]["weights"]):
        np.testing.assert_allclose(np.array(two), np.array(one), atol=2e-5, rtol=1e-4)
    assert results["mirrored"]["d_loss"] == pytest.approx(results["default"]["d_loss"], rel=1e-4)
