"""Ring coverage of the last iterate vs an exponential moving average of G's weights.

    python tools/ring_ema.py --seed 0 --steps 8000 --decay 0.999

Trains the evidence-test recipe (non-saturating loss, zero-centred gradient penalty of
weight 1, Adam 1e-3 betas (0.5, 0.9), 3x128 MLPs, batch 256) on ring8 and prints, every
2,000 steps, modes captured and high-quality fraction (2,500 samples) for both generators.
"""

from __future__ import annotations

import argparse
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402

from gan_apps import data as data_lib  # noqa: E402
from gan_apps import penalties  # noqa: E402
from gan_apps.callbacks import ExponentialMovingAverage  # noqa: E402
from gan_apps.evaluation.modes import mixture_mode_stats  # noqa: E402
from gan_apps.gan import GAN  # noqa: E402
from gan_apps.models.mlp import mlp_discriminator, mlp_generator  # noqa: E402


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--steps", type=int, default=8000)
    parser.add_argument("--decay", type=float, default=0.999)
    parser.add_argument("--every", type=int, default=2000)
    args = parser.parse_args(argv)
    mixture = data_lib.MIXTURES["ring8"]
    keras.utils.set_random_seed(args.seed)
    gan = GAN(mlp_generator(seed=args.seed), mlp_discriminator(seed=args.seed + 1),
              objective="non_saturating", penalties=[penalties.GradientPenalty(1.0, target=0.0)],
              seed=args.seed)
    gan.compile(g_optimizer=keras.optimizers.Adam(1e-3, 0.5, 0.9),
                d_optimizer=keras.optimizers.Adam(1e-3, 0.5, 0.9))
    average = ExponentialMovingAverage(gan, args.decay)
    dataset = data_lib.load_dataset("ring8", batch_size=256, seed=args.seed).repeat()
    z = np.random.default_rng(0).normal(size=(2500, gan.latent_dim)).astype("float32")
    print("seed step last_modes last_hq ema_modes ema_hq")
    for done in range(args.every, args.steps + 1, args.every):
        gan.fit(dataset, steps_per_epoch=args.every, epochs=1, verbose=0, shuffle=False,
                callbacks=[average])
        last = mixture_mode_stats(np.asarray(gan.generator(z)), mixture.centers, mixture.std)
        ema = mixture_mode_stats(np.asarray(average.generator(z)), mixture.centers, mixture.std)
        print(args.seed, done, last["modes_captured"], round(last["high_quality_fraction"], 3),
              ema["modes_captured"], round(ema["high_quality_fraction"], 3), flush=True)


if __name__ == "__main__":
    main()
