"""Callbacks for adversarial training: sample grids, checkpoints, a NaN guard, evaluation,
the time estimate."""

from __future__ import annotations

import csv
import math
import os
import statistics
import sys
import time
import warnings

import keras
import numpy as np
import tensorflow as tf

from gan_apps import images as image_io
from gan_apps import faults, runs, sampling


class NonFiniteLossError(RuntimeError):
    """A loss became NaN or Inf; training stopped before anything was saved."""


class SampleGrid(keras.callbacks.Callback):
    """Write a PNG of generator samples from fixed inputs after every ``every`` epochs.

    Images become a grid; 2-D points become a scatter plot over ``reference`` points
    (for example the mixture's mode centres).

    Args:
        inputs: the generator's inputs (an array, or a list per :mod:`gan_apps.sampling`).
        generator_fn: ``() -> generator`` to sample (default: the model's ``generator``;
            the EMA copy when one is kept).
        columns: grid columns (default: about the square root of the sample count).
    """

    def __init__(self, directory, inputs, every=1, reference=None, prefix="epoch",
                 generator_fn=None, columns=None):
        super().__init__()
        self.directory = directory
        self.inputs = inputs
        self.every = every
        self.reference = reference
        self.prefix = prefix
        self.generator_fn = generator_fn
        self.columns = columns

    def on_epoch_end(self, epoch, logs=None):
        if (epoch + 1) % self.every == 0:
            generator = self.generator_fn() if self.generator_fn else self.model.generator
            write_samples(
                generator, self.inputs,
                os.path.join(self.directory, f"{self.prefix}_{epoch + 1:04d}.png"),
                reference=self.reference, columns=self.columns,
            )


def write_samples(generator, inputs, path, reference=None, columns=None):
    """Generate from ``inputs`` and write a grid (images) or a scatter plot (points)."""
    inputs = list(inputs) if isinstance(inputs, (list, tuple)) else [np.asarray(inputs, np.float32)]
    out = sampling.generate(generator, inputs)
    if out.ndim == 2:
        picture = image_io.scatter_image(out, reference=reference)
    else:
        columns = columns or math.ceil(math.sqrt(len(out)))
        picture = image_io.make_grid(image_io.to_uint8(out), columns=columns)
    return image_io.write_png(path, picture)


class ExponentialMovingAverage(keras.callbacks.Callback):
    """Keep an exponential moving average of the generator's weights.

    After every generator update, w_ema <- decay * w_ema + (1 - decay) * w for the trainable
    weights; non-trainable state (batch-norm statistics) is copied as is. Sampling from the
    averaged weights gives better images than the last iterate (Yazici et al. 2019; BigGAN,
    Brock et al. 2019, Sec. 4 / Appendix: decay 0.9999, started after 20k iterations).

    A model whose generator changes shape while it trains (ProGAN's fade-in) says when an
    average makes sense with ``averaging_ready()``; while it returns False the average
    copies the generator, so averaging restarts on every stable stretch.

    Args:
        model: the training model (reads ``generator`` and its optimizer's ``iterations``).
        decay: averaging decay in (0, 1).
        start: generator updates before averaging starts (the average copies until then).
    """

    def __init__(self, model, decay=0.999, start=0):
        super().__init__()
        if not 0.0 < decay < 1.0:
            raise ValueError(f"the EMA decay must lie in (0, 1), got {decay}")
        self.decay = float(decay)
        self.start = int(start)
        source = model.generator
        self.generator = keras.models.clone_model(source)
        self.generator.set_weights(source.get_weights())
        self.generator.trainable = False
        self._last_update = tf.Variable(-1, dtype=tf.int64, trainable=False, name="ema_last_update")
        self._pairs = list(zip(self.generator.weights, source.weights))
        self._trainable = [w.path in {v.path for v in source.trainable_weights} for w in source.weights]

    def checkpoint_items(self):
        return {"ema_generator": self.generator, "ema_last_update": self._last_update}

    @tf.function
    def _update(self, decay):
        for (average, weight), trainable in zip(self._pairs, self._trainable):
            if trainable:
                average.assign(decay * average + (1.0 - decay) * tf.cast(weight, average.dtype))
            else:
                average.assign(weight)

    def on_train_batch_end(self, batch, logs=None):
        # The generator's optimizer (``optimizer`` for single-optimizer models such as a VAE).
        optimizer = getattr(self.model, "g_optimizer", None) or self.model.optimizer
        iterations = int(optimizer.iterations.numpy())
        if iterations == int(self._last_update.numpy()):
            # No generator update since the last batch: every step makes one, except a
            # loss-scaled step whose gradients were not finite (the optimizer skips it).
            return
        updates = iterations - max(int(self._last_update.numpy()), 0)
        self._last_update.assign(iterations)
        # With steps_per_execution = N the callback sees N updates at once: decay^N is the
        # weight the old average keeps after N averaging steps of (nearly) equal weights.
        ready = getattr(self.model, "averaging_ready", None)
        if iterations <= self.start or (ready is not None and not ready()):
            decay = 0.0
        else:
            decay = self.decay ** updates
        self._update(tf.constant(decay, tf.float32))


class TrainingCheckpoint(keras.callbacks.Callback):
    """Save a model's ``checkpoint_items()`` and the epoch after every epoch.

    ``tf.train.CheckpointManager`` writes the new files first and then swaps the index
    atomically, so an interrupted save leaves the previous checkpoint as the latest.
    """

    def __init__(self, directory, model, max_to_keep=2, extra_items=None):
        super().__init__()
        self.epoch = tf.Variable(0, dtype=tf.int64, trainable=False, name="epoch")
        # Each model names what exact resume needs (networks, optimizers, noise state,
        # pools) in ``checkpoint_items()``; callbacks with state (EMA) add theirs.
        self.checkpoint = tf.train.Checkpoint(
            **model.checkpoint_items(), **(extra_items or {}), epoch=self.epoch
        )
        self.manager = tf.train.CheckpointManager(self.checkpoint, directory, max_to_keep)
        self.directory = directory
        self.max_to_keep = max_to_keep

    def restore(self):
        """Restore the newest readable checkpoint (falling back to the one before it when it
        is torn; :func:`gan_apps.runs.restore_checkpoint`); return the epoch to start from.

        Rows of ``history.csv`` (next to the checkpoint folder) from epochs after the
        restored one are dropped (:func:`gan_apps.runs.trim_history`): they were logged
        before a checkpoint that a kill prevented, and the resumed run logs them again.
        """
        restored = runs.restore_checkpoint(self.checkpoint, self.directory)
        if restored != self.manager.latest_checkpoint:  # the index was repaired: re-read it
            self.manager = tf.train.CheckpointManager(self.checkpoint, self.directory,
                                                      self.max_to_keep)
        epoch = int(self.epoch.numpy()) if restored else 0
        run_dir = os.path.dirname(os.path.abspath(self.directory))
        runs.trim_history(os.path.join(run_dir, runs.HISTORY), epoch)
        return epoch

    def on_epoch_end(self, epoch, logs=None):
        faults.point("checkpoint:before-save")  # after this epoch's history.csv row
        self.epoch.assign(epoch + 1)
        self.manager.save(checkpoint_number=epoch + 1)
        faults.point("checkpoint:saved")


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
                steps = (self.params or {}).get("steps") or 0
                step = self.epoch * steps + batch + 1
                raise NonFiniteLossError(
                    f"{name} became {float(np.asarray(value))} at step {step} (epoch "
                    f"{self.epoch + 1}, batch {batch + 1}); the last good checkpoint is kept. "
                    "Lower the learning rate, change the objective, or pass --on-nan rollback"
                )


def progress_verbosity(verbose):
    """``fit``'s ``verbose`` for a run's ``verbose`` setting: ``"auto"`` is the live
    progress bar (1) on a terminal and one line per epoch (2) otherwise.

    Keras's bar redraws itself with carriage returns; written to a file or a pipe, every
    redraw of an epoch lands on one line (400 characters a step with the evaluation
    metrics: a 390-step mixtures epoch made a 149 KB line). One summary line per epoch is
    what a log needs. Any other value is passed through.
    """
    if verbose != "auto":
        return verbose
    stream = sys.stdout
    return 1 if hasattr(stream, "isatty") and stream.isatty() else 2


class HistoryLogger(keras.callbacks.Callback):
    """``history.csv``: one row per epoch, numbered from 1 as the progress bar, the sample
    grids and the checkpoints count, with one column per logged value.

    Replaces Keras's ``CSVLogger``, which numbers epochs from 0 and, when a fit has no
    validation data, adds a ``val_`` column for every key that stays empty for ever. The
    columns are the keys of the first epoch a file sees (a run's first epoch is always
    evaluated, :class:`PeriodicEvaluation`); a later epoch's missing value is written
    ``NA`` (what :mod:`gan_apps.plots` reads as missing). Appending to an existing file
    keeps its header and its numbering (a run written before this logger counted from 0
    and goes on doing so, so :func:`gan_apps.runs.trim_history` stays exact).
    """

    def __init__(self, path):
        super().__init__()
        self.path = path
        self.keys = None
        self.offset = 1

    def on_train_begin(self, logs=None):
        self.keys, self.offset = None, 1
        try:
            with open(self.path, newline="") as f:
                rows = list(csv.reader(f))
        except FileNotFoundError:
            return
        if rows and rows[0] and rows[0][0] == "epoch":
            self.keys = rows[0][1:]
            first = next((row[0] for row in rows[1:] if row), None)
            self.offset = 0 if first == "0" else 1

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        lines = []
        if self.keys is None:
            self.keys = sorted(logs)
            lines.append(["epoch", *self.keys])
        lines.append([epoch + self.offset, *(_csv_value(logs.get(k, "NA")) for k in self.keys)])
        with open(self.path, "a", newline="") as f:
            csv.writer(f).writerows(lines)


def _csv_value(value):
    if isinstance(value, str):
        return value
    array = np.asarray(value)
    return array.item() if array.size == 1 else f"[{', '.join(map(str, array.ravel()))}]"


class PeriodicEvaluation(keras.callbacks.Callback):
    """Evaluate the generator every ``every`` epochs, add the numbers to the epoch logs
    (so the history logger and TensorBoard record them), warn on collapse, keep the best generator.

    Epochs without an evaluation add nothing to the logs, so the progress bar shows only the
    losses there (no ``fid: nan``); :class:`HistoryLogger` takes its columns from the first
    epoch of a fit (always evaluated) and writes ``NA`` in the metric columns of the others, which
    :mod:`gan_apps.plots` reads as missing.

    The collapse warning (:meth:`collapsing`) waits for the generator to have had a chance:
    see there.

    Args:
        evaluate_fn: ``generator -> dict`` of metric values.
        every: evaluate after every ``every``-th epoch (and after the first of each fit, so
            the CSV columns exist from the start).
        monitor: metric that picks the best generator (for example ``"fid"``); None keeps none.
        mode: ``"min"`` or ``"max"`` for ``monitor``.
        best_path: where the best generator is saved (.keras, atomically); its score and
            epoch go to ``best_path`` with ``.json`` instead of ``.keras``, read back on
            resume so a resumed run only replaces the best with a better one.
        collapse_ratio: warn when ``diversity_ratio`` falls below this (after the warm-up,
            or at once when it had been above; :meth:`collapsing`).
        warmup: the fraction of the run's epochs during which a generator that has not yet
            been diverse is not warned about.
        generator_fn: ``() -> generator`` to evaluate (default: the model's ``generator``).
    """

    def __init__(self, evaluate_fn, every=1, monitor=None, mode="min", best_path=None,
                 collapse_ratio=0.5, generator_fn=None, warmup=0.2):
        super().__init__()
        if mode not in ("min", "max"):
            raise ValueError(f"mode must be 'min' or 'max', got {mode!r}")
        self.evaluate_fn = evaluate_fn
        self.every = every
        self.monitor = monitor
        self.mode = mode
        self.best_path = best_path
        self.collapse_ratio = collapse_ratio
        self.generator_fn = generator_fn
        self.warmup = warmup
        self.best = None
        self.most_diverse = None  # the highest diversity_ratio seen in this process
        self.first_epoch = None
        self.best_state_path = None
        if best_path is not None:
            self.best_state_path = os.path.splitext(best_path)[0] + ".json"
            state = runs.read_json(self.best_state_path)
            if state and state.get("monitor") == monitor and os.path.exists(best_path):
                self.best = state.get("value")

    def on_epoch_begin(self, epoch, logs=None):
        if self.first_epoch is None:
            self.first_epoch = epoch

    def collapsing(self, epoch, ratio):
        """Whether a ``diversity_ratio`` of ``ratio`` after epoch ``epoch`` (0-based) is a
        collapse worth a warning; records ``ratio`` as the most diverse so far if it is.

        A generator starts from random weights that map every latent to nearly the same
        image: its diversity ratio starts near 0 and rises as it learns (the healthy default
        digits run measures 0.00 after epoch 1 and 0.84 after epoch 10, docs/benchmarks.md),
        so a low ratio early is the starting point, not a collapse. Mode collapse is the
        generator *losing* variety (Goodfellow 2016, NIPS tutorial Sec. 5.1.1), or never
        gaining it. So this warns when the ratio is below ``collapse_ratio`` and either
        - it was at or above ``collapse_ratio`` at an earlier evaluation (variety lost:
          warned at once, whatever the epoch), or
        - the warm-up is over: more than ``warmup`` of the run's epochs (``fit``'s
          ``epochs``) are done (20 % by default: from epoch 13 of the default 60), and the
          ratio never reached it.
        """
        lost = self.most_diverse is not None and self.most_diverse >= self.collapse_ratio
        self.most_diverse = ratio if self.most_diverse is None else max(self.most_diverse, ratio)
        if ratio >= self.collapse_ratio:
            return False
        epochs = (self.params or {}).get("epochs") or 0
        return lost or epoch + 1 > math.ceil(self.warmup * epochs)

    def on_epoch_end(self, epoch, logs=None):
        logs = logs if logs is not None else {}
        if (epoch + 1) % self.every and epoch != self.first_epoch:
            return  # nothing to show: no NaN placeholders in the bar (history.csv gets NA)
        generator = self.generator_fn() if self.generator_fn else self.model.generator
        results = {k: v for k, v in self.evaluate_fn(generator).items()
                   if isinstance(v, (int, float))}
        logs.update(results)
        ratio = results.get("diversity_ratio")
        if ratio is not None and self.collapsing(epoch, ratio):
            warnings.warn(
                f"epoch {epoch + 1}: samples are {ratio:.2f}x as diverse as the data "
                "(mean pairwise distance); the generator may be collapsing", stacklevel=1
            )
        value = results.get(self.monitor)
        if value is None or self.best_path is None or not np.isfinite(value):
            return
        if self.best is None or (value < self.best if self.mode == "min" else value > self.best):
            self.best = value
            runs.save_model(generator, self.best_path)
            runs.write_json(self.best_state_path,
                            {"monitor": self.monitor, "value": value, "epoch": epoch + 1})


class TimeEstimate(keras.callbacks.Callback):
    """Print once, early in a fit, how long the rest of the run will take, measured on this
    machine.

    A calibrated guess made before training is wrong on another machine or under load; the
    first two epochs of the fit measure this run's costs here and now: the time per step
    (the median interval between batch ends, leaving out the first, which carries tracing
    or XLA compilation) and what the callbacks before this one cost at an epoch's end: the
    first epoch of a fit is always evaluated, the second is not (unless ``eval_every`` is
    1), so their difference is the evaluation's cost and the second's the cost of every
    epoch (history, sample grid). Printed at the end of the second epoch (about 10 s into
    the default job) as ``remaining epochs x (steps x time per step + epoch end) +
    remaining evaluations x evaluation``, evaluations every ``eval_every`` epochs (0: none).
    Put it after the callbacks whose cost it should count.
    """

    def __init__(self, eval_every=0, print_fn=None):
        super().__init__()
        self.eval_every = eval_every
        self.print_fn = print_fn or (lambda text: print(text, flush=True))
        self.epochs_seen = []  # (epoch, its batch-end times, its epoch-end overhead)
        self.ends = []
        self.done = False

    def on_epoch_begin(self, epoch, logs=None):
        self.ends = []
        if not self.epochs_seen:
            self.started = time.perf_counter()

    def on_train_batch_end(self, batch, logs=None):
        if not self.done:
            # With steps_per_execution > 1 Keras reports the last step of each execution.
            self.ends.append((batch, time.perf_counter()))

    def evaluated(self, epoch):
        """Whether the periodic evaluation runs after 0-based ``epoch`` of this fit."""
        first = self.epochs_seen[0][0]
        return bool(self.eval_every) and (epoch == first or (epoch + 1) % self.eval_every == 0)

    def on_epoch_end(self, epoch, logs=None):
        if self.done or not self.ends:
            return
        now = time.perf_counter()
        self.epochs_seen.append((epoch, self.ends, now - self.ends[-1][1]))
        epochs, steps = self.params.get("epochs") or 0, self.params.get("steps")
        if len(self.epochs_seen) < 2 and epoch + 2 <= epochs:
            return  # measure a second epoch
        self.done = True
        if not steps or epoch + 1 >= epochs:
            return
        rates = [(t1 - t0) / max(b1 - b0, 1)
                 for _, ends, _ in self.epochs_seen
                 for (b0, t0), (b1, t1) in zip(ends[1:], ends[2:])]
        if not rates:
            return
        step = statistics.median(rates)
        (_, _, first_end), (second, _, second_end) = self.epochs_seen
        plain = 0.0 if self.evaluated(second) else second_end
        evaluation = (second_end if self.evaluated(second) else first_end) - plain
        later = range(epoch + 1, epochs)  # 0-based epochs still to run
        evaluations = sum(1 for e in later if self.evaluated(e))
        seconds = len(later) * (steps * step + plain) + evaluations * max(evaluation, 0.0)
        self.print_fn(
            f"estimated time to the end of training: about {runs.format_duration(seconds)} "
            f"({len(later)} more epochs of {steps} steps at {step * 1000:.0f} ms a step"
            + (f", {evaluations} evaluations at {evaluation:.1f} s" if evaluations else "")
            + f"; measured on this machine in the first {now - self.started:.0f} s)")
