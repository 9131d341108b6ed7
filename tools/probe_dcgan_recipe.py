"""Probe a recipe for the default job: one training run, FID of the last iterate and of
moving averages of G every few epochs (the probes behind the default job's recipe, issue 20).

    python tools/probe_dcgan_recipe.py --out DIR [--model dcgan] [--epochs 180] [--every 30] [--seed 0]
        [--batch-size 32] [--d-lr 1e-4] [--g-lr 2e-4] [--augment translation]
        [--decays 0.995,0.998] [--threads 1]

The run is ``gan-apps train``'s pipeline with ``--eval-every 0`` and the given options (the
others at the command's defaults, so pass ``--batch-size`` and ``--d-lr`` explicitly to probe
the old recipe: ``--batch-size 64 --d-lr 2e-4 --epochs 60``). Every ``--every`` epochs it
prints one JSON line: the epoch, seconds since start, and the FID (1,000 samples against the
360 test digits, digits-CNN features, the latents of seed 0) of the last iterate (``raw``) and
of each moving average of G's weights (``emaD``, decay D, averaged from the first update).
``--threads 1`` pins the run to one core of those it may use (``taskset -c K`` in front picks
K) with TensorFlow's pools at one thread: two probes then run side by side, and a probe
repeats bit for bit. ``--model`` probes another preset with the same options.
"""

from __future__ import annotations

import time

T0 = time.time()

import argparse  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import sys  # noqa: E402


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True)
    parser.add_argument("--model", default="dcgan")
    parser.add_argument("--epochs", type=int, default=180)
    parser.add_argument("--every", type=int, default=30)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--batch-size", type=int)
    parser.add_argument("--d-lr", type=float)
    parser.add_argument("--g-lr", type=float)
    parser.add_argument("--augment")
    parser.add_argument("--decays", default="0.995", help="comma-separated EMA decays")
    parser.add_argument("--threads", type=int, choices=(1, 2), default=2)
    args = parser.parse_args(argv)
    if args.threads == 1 and os.environ.get("TF_NUM_INTRAOP_THREADS") != "1":
        # Re-run pinned to the first core with one-thread pools.
        env = dict(os.environ, TF_NUM_INTRAOP_THREADS="1", TF_NUM_INTEROP_THREADS="1")
        os.execvpe("taskset", ["taskset", "-c", str(os.sched_getaffinity(0).pop()),
                               sys.executable, *sys.argv], env)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import keras
    import numpy as np

    from gan_apps import callbacks as gan_callbacks
    from gan_apps import data as data_lib
    from gan_apps.evaluation import features, report
    from gan_apps.pipelines import generation

    real, _ = data_lib.load_arrays(data_lib.image_source("digits"), resolution=32, channels=1,
                                   split="test")
    extractor = features.get_extractor("digits")
    latents = np.random.default_rng(0).standard_normal((1000, 100)).astype("float32")
    decays = [float(d) for d in args.decays.split(",") if d]

    class Probe(keras.callbacks.Callback):
        def on_train_begin(self, logs=None):
            self.averages = [gan_callbacks.ExponentialMovingAverage(self.model, d) for d in decays]
            for average in self.averages:
                average.set_model(self.model)

        def on_train_batch_end(self, batch, logs=None):
            for average in self.averages:
                average.on_train_batch_end(batch, logs)

        def on_epoch_end(self, epoch, logs=None):
            if (epoch + 1) % args.every:
                return
            row = {"epoch": epoch + 1, "t": round(time.time() - T0, 1)}
            generators = [("raw", self.model.generator)]
            generators += [(f"ema{d}", a.generator) for d, a in zip(decays, self.averages)]
            for name, generator in generators:
                fake = np.asarray(generator(latents, training=False))
                row[name] = round(report.evaluate(fake, real, ["fid"], extractor=extractor)["fid"], 1)
            print(json.dumps(row), flush=True)

    options = {k: v for k, v in (("batch_size", args.batch_size), ("d_lr", args.d_lr),
                                 ("g_lr", args.g_lr), ("augment", args.augment)) if v is not None}
    generation.train(out=args.out, model=args.model, epochs=args.epochs, seed=args.seed, eval_every=0,
                     callbacks=[Probe()], verbose=0, **options)
    print("total", round(time.time() - T0, 1))


if __name__ == "__main__":
    main()
