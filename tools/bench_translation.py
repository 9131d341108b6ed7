"""Benchmark of the translation pipeline (CycleGAN) for docs/benchmarks.md, block ``translation``.

    python tools/bench_translation.py [--epochs 4] [--decay-epochs 4] [--steps 60]
        [--crop-size 64] [--ngf 16] [--batch-size 4] [--speed-steps 5] [--seed 0]

1. Known-answer error: trains on ``photos:tone`` (disjoint training photos per domain; B
   passed through the fixed tone map), then scores G(A) on patches of the held-out photos
   against the true tone-mapped patches, next to the identity mapping's error.
2. Speed at 128x128 with the default network (ngf 64, 6 residual blocks, ndf 64, batch 1):
   training pairs/s (one A and one B image per pair, all four networks updated) and
   inference images/s of G alone.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from bench import machine, write_block  # noqa: E402

from gan_apps.models import cyclegan  # noqa: E402
from gan_apps.pipelines import translation  # noqa: E402


def quality(args, run_dir):
    """Train on photos:tone within the stated budget; returns (metrics, train seconds)."""
    started = time.time()
    translation.train(
        data="photos:tone", out=run_dir, epochs=args.epochs, decay_epochs=args.decay_epochs,
        steps=args.steps, batch_size=args.batch_size, crop_size=args.crop_size,
        ngf=args.ngf, ndf=args.ndf, seed=args.seed, verbose=2,
    )
    seconds = time.time() - started
    return translation.evaluate(run_dir), seconds


class _BatchTimes(keras.callbacks.Callback):
    """Wall-clock time at the end of every training batch."""

    def __init__(self):
        super().__init__()
        self.times = []

    def on_train_batch_end(self, batch, logs=None):
        self.times.append(time.perf_counter())


def speed(args):
    """Pairs/s of training and images/s of G at 128x128 with the default network."""
    model = cyclegan.build_cyclegan(channels=3, crop_size=128, seed=args.seed)
    rng = np.random.default_rng(args.seed)
    pair = tuple(rng.uniform(-1, 1, (1, 128, 128, 3)).astype(np.float32) for _ in range(2))
    timer = _BatchTimes()
    warmup = 2  # tracing and the first steps
    model.fit(tf.data.Dataset.from_tensors(pair).repeat(), epochs=1, verbose=0,
              steps_per_epoch=warmup + args.speed_steps, callbacks=[timer])
    train_rate = args.speed_steps / (timer.times[-1] - timer.times[warmup - 1])
    infer = tf.function(lambda x: model.generator_ab(x, training=False))
    images = tf.constant(rng.uniform(-1, 1, (8, 128, 128, 3)).astype(np.float32))
    np.asarray(infer(images))
    started = time.perf_counter()
    for _ in range(args.speed_steps):
        out = infer(images)
    np.asarray(out)
    return train_rate, 8 * args.speed_steps / (time.perf_counter() - started)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--decay-epochs", type=int, default=4)
    parser.add_argument("--steps", type=int, default=60, help="steps per epoch")
    parser.add_argument("--crop-size", type=int, default=64)
    parser.add_argument("--ngf", type=int, default=16)
    parser.add_argument("--ndf", type=int, default=32)
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--speed-steps", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--run-dir", help="keep the run here (default: a temporary folder)")
    args = parser.parse_args(argv)
    started = time.time()
    with tempfile.TemporaryDirectory() as tmp:
        metrics, train_seconds = quality(args, args.run_dir or os.path.join(tmp, "run"))
    train_rate, infer_rate = speed(args)
    command = "python tools/bench_translation.py " + " ".join(argv or sys.argv[1:])
    total = args.epochs + args.decay_epochs
    table = "\n".join([
        f"Command: `{command.strip()}`; seed {args.seed}; machine: {machine()}; "
        f"total wall time {time.time() - started:.0f} s.",
        "",
        f"Training: `photos:tone`, crop {args.crop_size} (load "
        f"{round(args.crop_size * 286 / 256)}), ngf {args.ngf}, ndf {args.ndf}, 6 residual blocks, "
        f"batch {args.batch_size}, {total} epochs x {args.steps} steps ({args.epochs} constant, "
        f"{args.decay_epochs} decaying), {total * args.steps * args.batch_size} pairs, "
        f"{train_seconds:.0f} s wall time.",
        "",
        f"| held-out {metrics['examples_a']} patches of chelsea, coffee, flower "
        f"({args.crop_size} px) vs the true tone map | mean abs error (0-255) | PSNR RGB (dB) |",
        "|---|---|---|",
        f"| identity mapping (A unchanged) | {metrics['mae_identity']:.2f} | "
        f"{metrics['psnr_identity']:.2f} |",
        f"| G(A) | {metrics['mae_translation']:.2f} | {metrics['psnr_translation']:.2f} |",
        "",
        "| default network at 128x128 (ngf 64, 6 blocks, ndf 64, batch 1) | rate |",
        "|---|---|",
        f"| training, pairs/s (all four networks updated; mean of {args.speed_steps} steps "
        f"after 2 warm-up) | {train_rate:.2f} |",
        f"| inference of G, images/s (batches of 8, {args.speed_steps} batches) | "
        f"{infer_rate:.1f} |",
    ])
    print(table)
    write_block("translation", table)


if __name__ == "__main__":
    main()
