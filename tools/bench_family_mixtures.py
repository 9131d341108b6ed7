"""Unrolled GAN, GMMN and MMD-GAN on the 2-D mixtures (and GMMN / MMD-GAN on digits).

    python tools/bench_family_mixtures.py mixtures [--seeds 0,1,2] [--steps 2000] [--batch-size 512]
    python tools/bench_family_mixtures.py digits [--seeds 0] [--steps 600] [--samples 1000]

``mixtures`` trains, on ring8 and grid25, the unrolled GAN (K = 5, second order), the
same networks and optimizers without unrolling (K = 0), GMMN and MMD-GAN (or the
``--models`` subset), each from its builder's defaults, for ``--steps`` generator
updates; ``--models`` also takes a preset with PacGAN packing, ``PRESET_packK`` (for
example ``dcgan_pack4``: the preset's recipe and MLPs, the discriminator judging packs of
K points; ``dcgan_pack1`` is the plain preset); then draws 2,500 samples and reports modes captured, the high-quality fraction,
the nearest-mode KL and the median distance to the nearest mode
(gan_apps.evaluation.modes.mixture_mode_stats) and the wall time. It writes the block
``--block`` (default ``family_mixtures``) of docs/benchmarks.md.
``digits`` trains GMMN and MMD-GAN at 32x32 and writes FID/KID on the digits-CNN
features to the block ``family_mmd_digits``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402

from bench import EVAL_SAMPLES, machine, mean_std, write_block  # noqa: E402
from gan_apps import data as data_lib  # noqa: E402
from gan_apps.evaluation.modes import mixture_mode_stats  # noqa: E402
from gan_apps.models import presets  # noqa: E402
from gan_apps.models.mmd import build_gmmn, build_mmd_gan  # noqa: E402
from gan_apps.models.unrolled import build_unrolled_gan  # noqa: E402

# Row labels: the unrolled GAN with K = 5 (second order) and the same networks, objective
# and optimizers with K = 0 (a plain minimax GAN).
LABELS = {"unrolled_k5": "unrolled GAN, K=5, 2nd order", "unrolled_k0": "same networks, K=0"}
MIXTURE_MODELS = {
    "unrolled_k5": lambda seed: build_unrolled_gan(data_kind="points", seed=seed, unroll_steps=5),
    "unrolled_k0": lambda seed: build_unrolled_gan(data_kind="points", seed=seed, unroll_steps=0),
    "gmmn": lambda seed: build_gmmn(data_kind="points", seed=seed),
    "mmd_gan": lambda seed: build_mmd_gan(data_kind="points", seed=seed),
}
DIGITS_MODELS = {"gmmn": build_gmmn, "mmd_gan": build_mmd_gan}


def mixture_model(name, seed):
    """The model called ``name``: one of :data:`MIXTURE_MODELS`, or ``PRESET_packK``."""
    if name in MIXTURE_MODELS:
        return MIXTURE_MODELS[name](seed)
    preset, _, pack = name.rpartition("_pack")
    if preset not in presets.PRESETS or not pack.isdigit():
        raise SystemExit(f"unknown model {name!r}: one of {', '.join(MIXTURE_MODELS)} or "
                         f"PRESET_packK with PRESET in {', '.join(presets.PRESETS)}")
    return presets.build_gan(preset, data_kind="points", seed=seed, pack=int(pack))


def mixtures(args):
    """Modes captured and high-quality fraction at a fixed number of fit steps."""
    seeds = [int(s) for s in args.seeds.split(",")]
    names = args.models.split(",") if args.models else list(MIXTURE_MODELS)
    rows = []
    started = time.time()
    for data in args.data.split(","):
        mixture = data_lib.MIXTURES[data]
        for name in names:
            modes, quality, balance, distance, seconds = [], [], [], [], []
            for seed in seeds:
                keras.utils.set_random_seed(seed)
                model = mixture_model(name, seed)
                # One step: n_critic critic updates (a minibatch each), one generator update.
                per_step = args.batch_size * getattr(model, "n_critic", 1)
                dataset = data_lib.load_dataset(data, batch_size=per_step, seed=seed, repeat=True)
                t0 = time.time()
                model.fit(dataset, steps_per_epoch=args.steps, epochs=1, verbose=0, shuffle=False)
                seconds.append(time.time() - t0)
                stats = mixture_mode_stats(np.asarray(model.generate(EVAL_SAMPLES)),
                                           mixture.centers, mixture.std)
                modes.append(stats["modes_captured"])
                quality.append(stats["high_quality_fraction"])
                balance.append(stats["nearest_kl_to_uniform"])
                distance.append(stats["median_distance_sigma"])
                print(data, name, seed, stats["modes_captured"],
                      round(stats["high_quality_fraction"], 3), round(balance[-1], 3),
                      round(distance[-1], 1), round(seconds[-1]), flush=True)
            rows.append(f"| {data} | {LABELS.get(name, name)} | {mean_std(modes)} / {len(mixture.centers)} | "
                        f"{mean_std(quality)} | {mean_std(balance)} | {mean_std(distance)} | "
                        f"{statistics.median(seconds):.0f} |")
    models = f" --models {args.models}" if args.models else ""
    block = f" --block {args.block}" if args.block != "family_mixtures" else ""
    table = "\n".join([
        f"Command: `python tools/bench_family_mixtures.py mixtures --seeds {args.seeds} "
        f"--steps {args.steps} --batch-size {args.batch_size} --data {args.data}{models}{block}`  ",
        f"Machine: {machine()}. Total wall time {time.time() - started:.0f} s.  ",
        f"Protocol: builder defaults (see docs above), {args.steps} generator updates at batch "
        f"{args.batch_size} (MMD-GAN: 5 critic updates per generator update, each on its own "
        "minibatch), "
        f"then {EVAL_SAMPLES} samples; a mode is captured with >= 20 samples within 3 sigma; "
        f"high quality = within 3 sigma of any mode; nearest-mode KL = KL(histogram of every "
        "sample's nearest mode ‖ uniform), log K when collapsed into one mode's cell; median "
        f"distance to the nearest mode in sigmas. Mean ± std over seeds {args.seeds}.",
        "",
        "| data | model | modes captured | high-quality fraction | nearest-mode KL | "
        "median distance / sigma | s / run (median) |",
        "|---|---|---|---|---|---|---|",
        *rows,
    ])
    print(table)
    write_block(args.block, table)


def digits(args):
    """GMMN and MMD-GAN on digits at 32x32: FID / KID on the digits-CNN features."""
    from gan_apps.evaluation import features, report

    seeds = [int(s) for s in args.seeds.split(",")]
    real, _ = data_lib.load_arrays("digits", resolution=32, split="test")
    extractor = features.get_extractor("digits")
    rows = []
    started = time.time()
    for name, build in DIGITS_MODELS.items():
        results, seconds = [], []
        for seed in seeds:
            keras.utils.set_random_seed(seed)
            model = build(resolution=32, channels=1, width=args.width, seed=seed)
            per_step = 64 * getattr(model, "n_critic", 1)
            dataset = data_lib.load_dataset("digits", resolution=32, batch_size=per_step, seed=seed,
                                            repeat=True)
            t0 = time.time()
            model.fit(dataset, steps_per_epoch=args.steps, epochs=1, verbose=0, shuffle=False)
            seconds.append(time.time() - t0)
            z = np.random.default_rng(seed).normal(size=(args.samples, model.latent_dim)).astype("float32")
            fake = np.asarray(model.generator(z, training=False))
            results.append(report.evaluate(fake, real, ("fid", "kid", "classes"), extractor=extractor,
                                           num_classes=10, seed=seed))
            print(name, seed, {k: round(v, 3) for k, v in results[-1].items() if isinstance(v, float)},
                  flush=True)
        rows.append(f"| {name} | {mean_std([r['fid'] for r in results])} | "
                    f"{mean_std([r['kid'] for r in results])} | "
                    f"{mean_std([r['classes_covered'] for r in results])} | {statistics.median(seconds):.0f} |")
    table = "\n".join([
        f"Command: `python tools/bench_family_mixtures.py digits --seeds {args.seeds} --steps {args.steps} "
        f"--width {args.width} --samples {args.samples}`  ",
        f"Machine: {machine()}. Total wall time {time.time() - started:.0f} s.  ",
        f"Protocol: builder defaults at width {args.width}, {args.steps} fit steps at batch 64 on the "
        "digits train split at 32x32 (MMD-GAN: 5 critic updates and 1 generator update per "
        f"step); {args.samples} "
        "samples against the 360 held-out test digits on the shipped digits-CNN features "
        f"(real-data floor FID 7.6, KID -1.7). Mean ± std over seeds {args.seeds}.",
        "",
        "| model | FID | KID | classes covered | s / run (median) |",
        "|---|---|---|---|---|",
        *rows,
    ])
    print(table)
    write_block("family_mmd_digits", table)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="suite", required=True)
    mix = sub.add_parser("mixtures")
    mix.add_argument("--seeds", default="0,1,2")
    mix.add_argument("--models", help=f"comma-separated subset of: {', '.join(MIXTURE_MODELS)}")
    mix.add_argument("--data", default="ring8,grid25")
    mix.add_argument("--steps", type=int, default=2000)
    mix.add_argument("--batch-size", type=int, default=512)
    mix.add_argument("--block", default="family_mixtures", help="docs/benchmarks.md block to write")
    dig = sub.add_parser("digits")
    dig.add_argument("--seeds", default="0")
    dig.add_argument("--steps", type=int, default=600)
    dig.add_argument("--width", type=int, default=32)
    dig.add_argument("--samples", type=int, default=1000)
    args = parser.parse_args(argv)
    {"mixtures": mixtures, "digits": digits}[args.suite](args)


if __name__ == "__main__":
    sys.exit(main())
