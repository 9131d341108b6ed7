"""Callbacks for adversarial training: sample grids, checkpoints, a NaN guard, evaluation."""

from __future__ import annotations

import math
import os
import warnings

import keras
import numpy as np
import tensorflow as tf

from gan_apps import images as image_io
from gan_apps import runs


class NonFiniteLossError(RuntimeError):
    """A loss became NaN or Inf; training stopped before anything was saved."""


class SampleGrid(keras.callbacks.Callback):
    """Write a PNG of generator samples from fixed noise after every ``every`` epochs.

    Images become a grid; 2-D points become a scatter plot over ``reference`` points
    (for example the mixture's mode centres).
    """

    def __init__(self, directory, z, every=1, reference=None, prefix="epoch"):
        super().__init__()
        self.directory = directory
        self.z = np.asarray(z, np.float32)
        self.every = every
        self.reference = reference
        self.prefix = prefix

    def on_epoch_end(self, epoch, logs=None):
        if (epoch + 1) % self.every == 0:
            write_samples(
                self.model.generator, self.z,
                os.path.join(self.directory, f"{self.prefix}_{epoch + 1:04d}.png"),
                reference=self.reference,
            )


def write_samples(generator, z, path, reference=None):
    """Generate from ``z`` and write a grid (images) or a scatter plot (points)."""
    out = np.asarray(generator(z, training=False))
    if out.ndim == 2:
        picture = image_io.scatter_image(out, reference=reference)
    else:
        picture = image_io.make_grid(image_io.to_uint8(out), columns=math.ceil(math.sqrt(len(z))))
    return image_io.write_png(path, picture)


class TrainingCheckpoint(keras.callbacks.Callback):
    """Save a model's ``checkpoint_items()`` and the epoch after every epoch.

    ``tf.train.CheckpointManager`` writes the new files first and then swaps the index
    atomically, so an interrupted save leaves the previous checkpoint as the latest.
    """

    def __init__(self, directory, model, max_to_keep=2):
        super().__init__()
        self.epoch = tf.Variable(0, dtype=tf.int64, trainable=False, name="epoch")
        # Each model names what exact resume needs (networks, optimizers, noise state,
        # pools, EMA weights) in ``checkpoint_items()``.
        self.checkpoint = tf.train.Checkpoint(**model.checkpoint_items(), epoch=self.epoch)
        self.manager = tf.train.CheckpointManager(self.checkpoint, directory, max_to_keep)

    def restore(self):
        """Restore the latest checkpoint if there is one; return the epoch to start from."""
        if self.manager.latest_checkpoint is None:
            return 0
        self.checkpoint.restore(self.manager.latest_checkpoint).assert_existing_objects_matched()
        return int(self.epoch.numpy())

    def on_epoch_end(self, epoch, logs=None):
        self.epoch.assign(epoch + 1)
        self.manager.save(checkpoint_number=epoch + 1)


class NaNGuard(keras.callbacks.Callback):
    """Stop at the first batch whose logs hold a NaN or Inf, before any epoch-end save."""

    def __init__(self):
        super().__init__()
        self.epoch = 0

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        for name, value in (logs or {}).items():
            if not np.all(np.isfinite(np.asarray(value, dtype=np.float64))):
                raise NonFiniteLossError(
                    f"{name} became {float(np.asarray(value))} at epoch {self.epoch + 1}, "
                    f"batch {batch + 1}; the last good checkpoint is kept. Lower the learning "
                    "rate or change the objective and run again."
                )


class PeriodicEvaluation(keras.callbacks.Callback):
    """Evaluate the generator every ``every`` epochs, add the numbers to the epoch logs
    (so CSVLogger and TensorBoard record them), warn on collapse, keep the best generator.

    Args:
        evaluate_fn: ``generator -> dict`` of metric values.
        every: evaluate after every ``every``-th epoch (and after the first of each fit, so
            the CSV columns exist from the start; other epochs log NaN).
        monitor: metric that picks the best generator (for example ``"fid"``); None keeps none.
        mode: ``"min"`` or ``"max"`` for ``monitor``.
        best_path: where the best generator is saved (.keras, atomically).
        collapse_ratio: warn when ``diversity_ratio`` falls below this.
    """

    def __init__(self, evaluate_fn, every=1, monitor=None, mode="min", best_path=None,
                 collapse_ratio=0.5):
        super().__init__()
        if mode not in ("min", "max"):
            raise ValueError(f"mode must be 'min' or 'max', got {mode!r}")
        self.evaluate_fn = evaluate_fn
        self.every = every
        self.monitor = monitor
        self.mode = mode
        self.best_path = best_path
        self.collapse_ratio = collapse_ratio
        self.best = None
        self.keys = ()
        self.first_epoch = None

    def on_epoch_begin(self, epoch, logs=None):
        if self.first_epoch is None:
            self.first_epoch = epoch

    def on_epoch_end(self, epoch, logs=None):
        logs = logs if logs is not None else {}
        if (epoch + 1) % self.every and epoch != self.first_epoch:
            logs.update({key: float("nan") for key in self.keys})
            return
        results = {k: v for k, v in self.evaluate_fn(self.model.generator).items()
                   if isinstance(v, (int, float))}
        self.keys = tuple(results)
        logs.update(results)
        ratio = results.get("diversity_ratio")
        if ratio is not None and ratio < self.collapse_ratio:
            warnings.warn(
                f"epoch {epoch + 1}: samples are {ratio:.2f}x as diverse as the data "
                "(mean pairwise distance); the generator may be collapsing", stacklevel=1
            )
        value = results.get(self.monitor)
        if value is None or self.best_path is None or not np.isfinite(value):
            return
        if self.best is None or (value < self.best if self.mode == "min" else value > self.best):
            self.best = value
            runs.save_model(self.model.generator, self.best_path)
