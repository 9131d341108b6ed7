"""Short recipe probes behind the ``cpu`` preset of ``translate train`` (README, Translation).

    python tools/probe_translation_recipe.py [--data tone|pair|gamma|swap] [--steps 400]
        [--every 100] [--generator identity|paper] [--lr 2e-4] [--cycle-weight 10]
        [--gan-weight 1] [--identity-weight 0] [--d-layers 3] [--d-norm none] [--ngf 16]
        [--ndf 32] [--batch-size 4] [--crop-size 64] [--ema 0.99,0.995]

Trains a CycleGAN model directly (no run folder) for ``--steps`` steps (half constant, half
decaying learning rate) and prints, every ``--every`` steps, the G(A) error against the
true answer on held-out data next to the identity's, with G(A)'s mean signed error per
channel (a global colour cast) and the part of G(A) that no per-pixel colour function of A
explains (a least-squares cubic polynomial in A's RGB fitted to G(A): what G changes from
the content around a pixel, e.g. invented texture). ``--ema`` lists decays of moving
averages of G's weights (w_ema <- d w_ema + (1 - d) w after every step, as the optimizer's
``use_ema``) scored beside the last iterate. ``tone`` is ``photos:tone`` (200 held-out 64 px
patches); ``pair`` is the benchmark's folder pair (``tools/make_translation_pair.py``, gamma
0.5, built in a temporary folder; its 60 held-out 96 px tiles); ``gamma`` and ``swap`` deal
half-overlapping patches of all five training photos alternately to A and B and map B
(gamma 0.5 per channel, or red and blue exchanged), with the held-out patches mapped the
same way as the answer. Seed 0.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import keras  # noqa: E402
import numpy as np  # noqa: E402

import make_translation_pair  # noqa: E402
from gan_apps import images as image_io  # noqa: E402
from gan_apps.data import photos, unpaired  # noqa: E402
from gan_apps.images import from_uint8  # noqa: E402
from gan_apps.models import cyclegan  # noqa: E402
from gan_apps.pipelines import translation  # noqa: E402

MAPS = {
    "gamma": lambda x: np.clip(np.round((np.asarray(x) / 255.0) ** 0.5 * 255), 0, 255).astype(np.uint8),
    "swap": lambda x: np.ascontiguousarray(np.asarray(x)[..., ::-1]),
}


def mapped_pair(mapping, split, size):
    """Patches of the training photos dealt alternately to A and B (B mapped); test: the
    held-out photos' patches and their mapped versions."""
    if split == "train":
        patches = unpaired._photo_patches(unpaired.TONE_PHOTOS_A + unpaired.TONE_PHOTOS_B,
                                          size, size // 2)
        a, b = patches[0::2], mapping(patches[1::2])
        return unpaired.DomainPair(from_uint8(a), from_uint8(b), None, 3)
    a = unpaired._photo_patches(photos.photo_names("test"), size, size)
    return unpaired.DomainPair(from_uint8(a), from_uint8(mapping(a)), from_uint8(mapping(a)), 3)


def _pixels(images):
    """uint8 RGB values of a list of float [-1, 1] images, as float64 [pixels, 3]."""
    return np.concatenate([image_io.to_uint8(np.asarray(x)).reshape(-1, 3).astype(np.float64)
                           for x in images])


def colour_features(pixels):
    """The 20 monomials of degree <= 3 in (r, g, b) / 255: a per-pixel colour function."""
    r, g, b = (pixels / 255.0).T
    return np.stack([r ** i * g ** j * b ** (d - i - j) for d in range(4)
                     for i in range(d + 1) for j in range(d + 1 - i)], 1)


def scores(generator, a, known):
    """G(A) error, identity error, per-channel bias, the spatial part (0-255 units)."""
    source, answer = _pixels(a), _pixels(known)
    translated = _pixels(translation._translate_all(generator, a))
    features = colour_features(source)
    coef, *_ = np.linalg.lstsq(features, translated, rcond=None)
    return (np.abs(translated - answer).mean(), np.abs(source - answer).mean(),
            (translated - answer).mean(0), np.abs(translated - features @ coef).mean())


class Averages(keras.callbacks.Callback):
    """Moving averages of generator_ab's weights, one per decay, updated after every step."""

    def __init__(self, decays):
        super().__init__()
        self.decays = decays

    def on_train_begin(self, logs=None):
        weights = self.model.generator_ab.get_weights()
        self.averages = {d: [w.copy() for w in weights] for d in self.decays}
        self.copy = keras.models.clone_model(self.model.generator_ab)

    def on_train_batch_end(self, batch, logs=None):
        weights = self.model.generator_ab.get_weights()
        for decay, average in self.averages.items():
            for x, w in zip(average, weights):
                x *= decay
                x += (1 - decay) * w

    def generators(self):
        for decay, average in self.averages.items():
            self.copy.set_weights(average)
            yield decay, self.copy


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", choices=("tone", "pair", "gamma", "swap"), default="tone")
    parser.add_argument("--steps", type=int, default=400)
    parser.add_argument("--every", type=int, default=100)
    parser.add_argument("--generator", choices=cyclegan.GENERATORS, default="identity")
    parser.add_argument("--lr", type=float, default=2e-4)
    parser.add_argument("--cycle-weight", type=float, default=10.0)
    parser.add_argument("--gan-weight", type=float, default=1.0)
    parser.add_argument("--identity-weight", type=float, default=0.0)
    parser.add_argument("--d-layers", type=int, default=3)
    parser.add_argument("--d-norm", choices=("none", "instance"), default="none")
    parser.add_argument("--ngf", type=int, default=16)
    parser.add_argument("--ndf", type=int, default=32)
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--crop-size", type=int, default=64)
    parser.add_argument("--ema", default="", help="comma-separated decays, e.g. 0.99,0.995")
    args = parser.parse_args(argv)
    keras.utils.set_random_seed(0)
    crop = args.crop_size
    if args.data == "tone":
        pair = unpaired.load_pair("photos:tone", split="train", crop_size=crop)
        test = unpaired.load_pair("photos:tone", split="test", crop_size=crop)
        a, known = list(test.a[:200]), list(test.known_b[:200])
    elif args.data == "pair":
        with tempfile.TemporaryDirectory() as root:
            make_translation_pair.build(root, "gamma")
            pair = unpaired.load_pair(f"folder:{root}/trainA,{root}/trainB", crop_size=crop)
            a, known, _ = translation.load_test_pair(f"folder:{root}/testA,{root}/testB", 3)
    else:
        load = unpaired.default_load_size(crop)
        pair, test = mapped_pair(MAPS[args.data], "train", load), mapped_pair(MAPS[args.data], "test", crop)
        a, known = list(test.a[:200]), list(test.known_b[:200])
    dataset = unpaired.training_dataset(pair, crop_size=crop, batch_size=args.batch_size, seed=0,
                                        epochs=1000, steps=10).repeat()
    half = args.steps // 2
    model = cyclegan.build_cyclegan(
        channels=3, crop_size=crop, ngf=args.ngf, ndf=args.ndf, generator=args.generator,
        d_layers=args.d_layers, d_norm=args.d_norm, identity_weight=args.identity_weight,
        gan_weight=args.gan_weight,
        cycle_weight=args.cycle_weight, learning_rate=args.lr, constant_steps=half,
        decay_steps=args.steps - half, seed=0)
    started = time.time()
    averages = Averages([float(d) for d in args.ema.split(",") if d])

    def line(label, generator):
        mae, identity, bias, spatial = scores(generator, a, known)
        return (f"{label}: G(A) MAE {mae:.2f}, identity {identity:.2f} ({mae / identity:.2f}x); "
                f"bias RGB {' '.join(f'{v:+.1f}' for v in bias)}; not a colour function "
                f"{spatial:.2f}")

    class Report(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            print(line(f"step {(epoch + 1) * args.every} ({time.time() - started:.0f} s)",
                       self.model.generator_ab), flush=True)
            for decay, generator in averages.generators():
                print("  " + line(f"EMA {decay}", generator), flush=True)

    model.fit(dataset, epochs=args.steps // args.every, steps_per_epoch=args.every, verbose=0,
              callbacks=[averages, Report()])


if __name__ == "__main__":
    main()
