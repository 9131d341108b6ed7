"""Train the digits classifier whose features the toolkit's digits Frechet distance and KID use.

    python tools/train_digits_classifier.py [--seed 0] [--epochs 25] [--output PATH]

A small CNN on the embedded digits at 32x32 (train split, random shifts of up to 2 pixels),
trained with a fixed seed and op determinism so that a rerun gives the same weights. It prints
the test-split accuracy and, when that reaches ``--min-accuracy``, replaces
gan_apps/evaluation/weights/digits_classifier.keras atomically; a worse run leaves the old file.
The layer named "features" gives the penultimate features, "logits" the class logits.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from gan_apps import data as data_lib  # noqa: E402

RESOLUTION = 32
NUM_CLASSES = 10
FEATURES = 128
SHIFT_PIXELS = 2
DEFAULT_OUTPUT = os.path.join(
    os.path.dirname(os.path.abspath(__file__)), os.pardir,
    "gan_apps", "evaluation", "weights", "digits_classifier.keras",
)


def build_classifier(resolution=RESOLUTION, num_classes=NUM_CLASSES, features=FEATURES):
    """The classifier: three conv/max-pool stages, a ReLU layer "features", a linear "logits"."""
    images = keras.Input((resolution, resolution, 1), name="images")
    x = images
    for stage, filters in enumerate((32, 64, 128)):
        x = keras.layers.Conv2D(filters, 3, padding="same", activation="relu",
                                name=f"conv{stage}")(x)
        x = keras.layers.MaxPooling2D(name=f"pool{stage}")(x)
    x = keras.layers.Flatten(name="flatten")(x)
    x = keras.layers.Dense(features, activation="relu", name="features")(x)
    x = keras.layers.Dropout(0.3, name="dropout")(x)
    logits = keras.layers.Dense(num_classes, name="logits")(x)
    return keras.Model(images, logits, name="digits_classifier")


def train(seed=0, epochs=25, batch_size=64, verbose=0):
    """Train ``build_classifier()`` on the digits train split.

    Returns:
        (classifier, test accuracy in [0, 1]).
    """
    keras.utils.set_random_seed(seed)
    tf.config.experimental.enable_op_determinism()
    train_images, train_labels = data_lib.load_arrays("digits", resolution=RESOLUTION,
                                                      split="train")
    test_images, test_labels = data_lib.load_arrays("digits", resolution=RESOLUTION,
                                                    split="test")
    classifier = build_classifier()
    # The shifts live in a training-only wrapper so the saved classifier is augmentation-free;
    # the fill value -1 is the digits' background.
    shift = SHIFT_PIXELS / RESOLUTION
    trainer = keras.Sequential(
        [
            keras.Input((RESOLUTION, RESOLUTION, 1)),
            keras.layers.RandomTranslation(shift, shift, fill_mode="constant", fill_value=-1.0,
                                           seed=seed),
            classifier,
        ]
    )
    trainer.compile(
        optimizer=keras.optimizers.Adam(1e-3),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    dataset = tf.data.Dataset.from_tensor_slices((train_images, train_labels))
    dataset = dataset.shuffle(len(train_labels), seed=seed).batch(batch_size)
    # The dataset shuffles itself with the seed; fit's own shuffle does not apply to datasets.
    trainer.fit(dataset, epochs=epochs, shuffle=False, verbose=verbose)
    logits = classifier.predict(test_images, batch_size=256, verbose=0)
    accuracy = float(np.mean(np.argmax(logits, axis=1) == test_labels))
    return classifier, accuracy


def save_atomically(model, path):
    """Write ``model`` into a temporary folder beside ``path``, then rename it over ``path``."""
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    # A folder on the same file system keeps the rename atomic, and the file it holds gets
    # the ordinary permissions that a mkstemp file (0600) would not.
    with tempfile.TemporaryDirectory(dir=folder) as scratch:
        temporary = os.path.join(scratch, "model.keras")
        model.save(temporary)
        os.replace(temporary, path)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--epochs", type=int, default=25)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--min-accuracy", type=float, default=0.97,
                        help="save only when the test accuracy reaches this")
    parser.add_argument("--output", default=DEFAULT_OUTPUT)
    args = parser.parse_args(argv)
    started = time.time()
    classifier, accuracy = train(args.seed, args.epochs, args.batch_size)
    print(f"test accuracy {accuracy:.4f} (seed {args.seed}, {args.epochs} epochs, "
          f"{time.time() - started:.0f} s)")
    if accuracy < args.min_accuracy:
        print(f"below --min-accuracy {args.min_accuracy}; {args.output} left unchanged",
              file=sys.stderr)
        return 1
    save_atomically(classifier, args.output)
    print(f"saved {os.path.normpath(args.output)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
