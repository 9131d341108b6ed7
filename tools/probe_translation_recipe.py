"""Short recipe probes behind the ``cpu`` preset of ``translate train`` (README, Translation).

    python tools/probe_translation_recipe.py [--data tone|gamma|swap] [--steps 400]
        [--every 100] [--generator identity|paper] [--lr 2e-4] [--cycle-weight 10]
        [--identity-weight 0] [--d-layers 3] [--d-norm none] [--ngf 16] [--ndf 32]
        [--batch-size 4] [--crop-size 64]

Trains a CycleGAN model directly (no run folder) for ``--steps`` steps (half constant, half
decaying learning rate) and prints, every ``--every`` steps, the G(A) error against the
true answer on 200 held-out 64 px patches (chelsea, coffee, flower) next to the identity's.
``tone`` is ``photos:tone``; ``gamma`` and ``swap`` deal half-overlapping patches of all five
training photos alternately to A and B and map B (gamma 0.5 per channel, or red and blue
exchanged), with the held-out patches mapped the same way as the answer. Seed 0.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import keras  # noqa: E402
import numpy as np  # noqa: E402

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


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", choices=("tone", "gamma", "swap"), default="tone")
    parser.add_argument("--steps", type=int, default=400)
    parser.add_argument("--every", type=int, default=100)
    parser.add_argument("--generator", choices=cyclegan.GENERATORS, default="identity")
    parser.add_argument("--lr", type=float, default=2e-4)
    parser.add_argument("--cycle-weight", type=float, default=10.0)
    parser.add_argument("--identity-weight", type=float, default=0.0)
    parser.add_argument("--d-layers", type=int, default=3)
    parser.add_argument("--d-norm", choices=("none", "instance"), default="none")
    parser.add_argument("--ngf", type=int, default=16)
    parser.add_argument("--ndf", type=int, default=32)
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--crop-size", type=int, default=64)
    args = parser.parse_args(argv)
    keras.utils.set_random_seed(0)
    crop = args.crop_size
    if args.data == "tone":
        pair = unpaired.load_pair("photos:tone", split="train", crop_size=crop)
        test = unpaired.load_pair("photos:tone", split="test", crop_size=crop)
    else:
        load = unpaired.default_load_size(crop)
        pair, test = mapped_pair(MAPS[args.data], "train", load), mapped_pair(MAPS[args.data], "test", crop)
    dataset = unpaired.training_dataset(pair, crop_size=crop, batch_size=args.batch_size, seed=0,
                                        epochs=1000, steps=10).repeat()
    half = args.steps // 2
    model = cyclegan.build_cyclegan(
        channels=3, crop_size=crop, ngf=args.ngf, ndf=args.ndf, generator=args.generator,
        d_layers=args.d_layers, d_norm=args.d_norm, identity_weight=args.identity_weight,
        cycle_weight=args.cycle_weight, learning_rate=args.lr, constant_steps=half,
        decay_steps=args.steps - half, seed=0)
    started = time.time()
    a, known = test.a[:200], test.known_b[:200]

    class Report(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            fake = translation._translate_batches(self.model.generator_ab, a)
            errors = translation.known_answer_errors(fake, a, known)
            print(f"step {(epoch + 1) * args.every} ({time.time() - started:.0f} s): G(A) MAE "
                  f"{errors['mae_translation']:.2f}, identity {errors['mae_identity']:.2f}",
                  flush=True)

    model.fit(dataset, epochs=args.steps // args.every, steps_per_epoch=args.every, verbose=0,
              callbacks=[Report()])


if __name__ == "__main__":
    main()
