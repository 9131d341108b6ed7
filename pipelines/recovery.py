"""Compressed sensing with a generative prior (Bora, Jalal, Price, Dimakis, ICML 2017).

Given y = A x + eta with m << n measurements, recover x as G(z*) with

    z* = argmin_z ||A G(z) - y||^2 + lambda ||z||^2          (Bora et al. 2017, eq. 2 / Sec. 4)

by Adam on z from several random restarts, keeping per signal the restart with the lowest
measurement error ||A G(z) - y||^2. All signals and restarts are optimised at once as one
latent tensor [signals, restarts, latent].

Signals are flat vectors x in [0, 1]^n (n = H * W * C, flattened in H, W, C order); a
generator's output in [-1, 1] maps to a signal as (g + 1) / 2. The noise level ``noise``
sets the per-measurement std to noise / sqrt(m), so E||eta||^2 = noise^2 whatever m is
(Bora et al. Sec. 6.1 fix the noise vector's norm at 0.1).
"""

from __future__ import annotations

import dataclasses
import math
import os
import time

import cv2
import keras
import numpy as np
import tensorflow as tf
from keras import ops

from gan_apps import data as data_lib
from gan_apps import export as export_lib
from gan_apps import images as images_lib
from gan_apps import runs, sampling
from gan_apps.errors import UserInputError

OPERATORS = ("gaussian", "inpaint-random", "inpaint-block", "superres")
GENERATOR_KINDS = ("gan", "vae")
# Bora et al. 2017, Sec. 6.1.1 (MNIST): Adam with learning rate 0.1, 10 restarts, lambda 0.1.
DEFAULT_LEARNING_RATE = 0.1
DEFAULT_RESTARTS = 10
DEFAULT_STEPS = 300
DEFAULT_PENALTY = 0.1
GRID_SCALE = 4
PLOT_SIZE = (560, 380)


# --- measurement operators ----------------------------------------------------------------


@dataclasses.dataclass
class Operator:
    """A linear measurement map R^n -> R^m on flat signals, batched over the leading axis.

    ``forward`` works on numpy arrays and on tensors (it is differentiated through during
    recovery); ``adjoint`` is its transpose R^m -> R^n on numpy arrays.
    """

    name: str
    shape: tuple  # signal shape (H, W, C)
    num_measurements: int
    matrix: np.ndarray | None = None  # gaussian: A [m, n]
    kept: np.ndarray | None = None  # inpainting: indices of the observed entries [m]
    factor: int | None = None  # super-resolution: block size

    @property
    def signal_size(self):
        return int(np.prod(self.shape))

    def forward(self, x):
        """A x for x [..., n] -> [..., m]."""
        if self.name == "gaussian":
            return ops.matmul(x, ops.convert_to_tensor(self.matrix.T))
        if self.kept is not None:
            return ops.take(x, ops.convert_to_tensor(self.kept), axis=-1)
        h, w, c = self.shape
        f = self.factor
        lead = tuple(ops.shape(x)[:-1])
        blocks = ops.reshape(x, (-1, h // f, f, w // f, f, c))
        return ops.reshape(ops.mean(blocks, axis=(2, 4)), lead + (self.num_measurements,))

    def adjoint(self, y):
        """A^T y for numpy y [..., m] -> [..., n]."""
        y = np.asarray(y, dtype=np.float32)
        lead = y.shape[:-1]
        if self.name == "gaussian":
            return y @ self.matrix
        if self.kept is not None:
            out = np.zeros(lead + (self.signal_size,), np.float32)
            out[..., self.kept] = y
            return out
        h, w, c = self.shape
        f = self.factor
        low = y.reshape((-1, h // f, 1, w // f, 1, c)) / f**2
        return np.broadcast_to(low, (low.shape[0], h // f, f, w // f, f, c)).reshape(
            lead + (self.signal_size,)
        )

    def as_matrix(self):
        """A as a dense float64 numpy matrix [m, n] (the baselines solve with it)."""
        return np.asarray(self.forward(np.eye(self.signal_size, dtype=np.float32)), np.float64).T

    def measure(self, signals, noise, rng):
        """y = A x + eta, eta ~ N(0, (noise^2 / m) I), for numpy signals [S, n]."""
        clean = np.asarray(self.forward(np.asarray(signals, np.float32)), np.float32)
        std = noise / math.sqrt(self.num_measurements)
        return clean + std * rng.standard_normal(clean.shape).astype(np.float32)


def make_operator(name, shape, num_measurements, rng):
    """Build a measurement operator for signals of ``shape`` (H, W, C).

    Args:
        name: ``gaussian`` (A with i.i.d. N(0, 1/m) entries), ``inpaint-random`` (m pixels
            kept at random), ``inpaint-block`` (a centred square hidden, m = n - side^2 * C),
            ``superres`` (averages over f x f blocks, m = n / f^2).
        num_measurements: m, 1 <= m <= n.
        rng: numpy Generator for the random matrix or mask.
    """
    if name not in OPERATORS:
        raise UserInputError(f"unknown operator {name!r}; choose one of {', '.join(OPERATORS)}")
    h, w, c = (int(v) for v in shape)
    n = h * w * c
    m = num_measurements
    if not isinstance(m, (int, np.integer)) or isinstance(m, bool) or not 1 <= m <= n:
        raise UserInputError(
            f"the number of measurements must be an integer from 1 to n = {n} (the signal size), "
            f"got {m!r}; pass --measurements within that range"
        )
    m = int(m)
    if name == "gaussian":
        matrix = rng.standard_normal((m, n)).astype(np.float32) / np.float32(math.sqrt(m))
        return Operator(name, (h, w, c), m, matrix=matrix)
    if name == "inpaint-random":
        kept = np.sort(rng.choice(n, size=m, replace=False)).astype(np.int32)
        return Operator(name, (h, w, c), m, kept=kept)
    if name == "inpaint-block":
        return Operator(name, (h, w, c), m, kept=_block_kept(h, w, c, m))
    factors = [f for f in range(2, min(h, w) + 1) if h % f == 0 and w % f == 0]
    valid = {n // f**2: f for f in factors}
    if m not in valid:
        raise UserInputError(
            f"super-resolution of {h}x{w} signals measures m = n / f^2 for a block size f; "
            f"pass --measurements one of {sorted(valid)}"
        )
    return Operator(name, (h, w, c), m, factor=valid[m])


def _block_kept(h, w, c, m):
    """Indices outside a centred square whose area times C is n - m."""
    hidden = h * w * c - m
    side = math.isqrt(hidden // c) if hidden % c == 0 else -1
    if side < 0 or side * side * c != hidden or side > min(h, w):
        valid = sorted(h * w * c - s * s * c for s in range(0, min(h, w) + 1))
        raise UserInputError(
            f"inpaint-block hides a centred square, so m = n - side^2 * C; "
            f"pass --measurements one of {valid}"
        )
    mask = np.ones((h, w, c), bool)
    top, left = (h - side) // 2, (w - side) // 2
    mask[top:top + side, left:left + side] = False
    return np.flatnonzero(mask.reshape(-1)).astype(np.int32)


# --- generators ---------------------------------------------------------------------------


@dataclasses.dataclass
class Prior:
    """A generator as the recovery sees it: ``fn(z [B, D]) -> images [B, H, W, C]`` in [-1, 1]."""

    fn: object
    latent_dim: int
    shape: tuple
    kind: str
    config: dict

    def signals(self, z):
        """(G(z) + 1) / 2 flattened: [B, D] -> [B, n] in [0, 1]."""
        images = ops.cast(self.fn(z), "float32")
        return ops.reshape(images_lib.to_unit_range(images), (ops.shape(z)[0], -1))


def load_prior(path):
    """Load a generator from a run folder (kind gan or vae) or a SavedModel export folder."""
    if os.path.isfile(os.path.join(path, runs.CONFIG)):
        config = runs.read_config(path)
        if config.get("kind") not in GENERATOR_KINDS:
            raise UserInputError(
                f"{path!r} is a {config.get('kind')!r} run; recovery needs a generator run "
                f"of kind {' or '.join(GENERATOR_KINDS)}"
            )
        generator = runs.load_model(os.path.join(path, "generator.keras"), "generator")
        spec = config.get("latent_spec") or sampling.unconditional_spec(generator.inputs[0].shape[-1])
        if len(spec) != 1 or spec[0]["kind"] != "normal":
            raise UserInputError(
                f"{path!r} holds a generator with inputs {[e['kind'] for e in spec]}; recovery needs "
                "an unconditional generator with one normal latent input"
            )

        def fn(z):
            return generator(z, training=False)

        shape = tuple(int(v) for v in generator.outputs[0].shape[1:])
        return Prior(fn, int(spec[0]["dim"]), shape, config["kind"], config)
    loaded = export_lib.load_export(path)
    serve = loaded.signatures.get("serving_default")
    if serve is None:
        raise UserInputError(f"{path!r} has no serving_default signature; re-export the generator")
    specs = serve.structured_input_signature[1]
    if list(specs) != ["z"]:
        raise UserInputError(f"{path!r} serves inputs {sorted(specs)}; recovery needs one input 'z'")
    latent_dim = int(specs["z"].shape[-1])
    shape = tuple(int(v) for v in serve.structured_outputs["images_float"].shape[1:])

    def serve_fn(z):
        # Through ``loaded``, which owns the variables: the signature alone does not keep them alive.
        return loaded.signatures["serving_default"](z=z)["images_float"]

    return Prior(serve_fn, latent_dim, shape, "export", {"data": None})


# --- recovery -----------------------------------------------------------------------------


def recover(prior, operator, measurements, *, restarts=DEFAULT_RESTARTS, steps=DEFAULT_STEPS,
            learning_rate=DEFAULT_LEARNING_RATE, penalty=DEFAULT_PENALTY, seed=0, initial=None):
    """Solve min_z ||A G(z) - y||^2 + penalty ||z||^2 for all signals and restarts at once.

    Args:
        prior: a :class:`Prior`.
        operator: an :class:`Operator` (its forward is differentiated through).
        measurements: y [S, m].
        restarts: random restarts per signal; z starts from N(0, I).
        steps: Adam steps (learning rate ``learning_rate``).
        initial: optional starting latents [S, R, D] (overrides the random draw).

    Returns:
        dict: ``signals`` [S, n] (the best restart's G(z) in [0, 1]), ``latents`` [S, D],
        ``measurement_error`` [S] (||A G(z) - y||^2 of the chosen restart), ``all_errors`` [S, R].
    """
    y = np.asarray(measurements, np.float32)
    num = y.shape[0]
    if initial is None:
        rng = np.random.default_rng(seed)
        initial = rng.standard_normal((num, restarts, prior.latent_dim)).astype(np.float32)
    initial = np.asarray(initial, np.float32)
    num, restarts, latent_dim = initial.shape
    z = tf.Variable(initial.reshape(num * restarts, latent_dim), name="z")
    targets = tf.constant(np.repeat(y, restarts, axis=0))
    optimizer = keras.optimizers.Adam(learning_rate)
    optimizer.build([z])

    def errors():
        residual = operator.forward(prior.signals(z)) - targets
        return ops.sum(ops.square(residual), axis=-1)

    def step(i):
        with tf.GradientTape() as tape:
            # Summed over signals and restarts: each z gets the gradient of its own objective.
            objective = ops.sum(errors() + penalty * ops.sum(ops.square(z), axis=-1))
        optimizer.apply([tape.gradient(objective, z)], [z])
        return (i + 1,)

    # An explicit while loop: no AutoGraph conversion (which reads the source file) needed.
    @tf.function(autograph=False)
    def optimise():
        tf.while_loop(lambda i: i < steps, step, (tf.constant(0),))
        return errors()

    all_errors = np.asarray(optimise()).reshape(num, restarts)
    best = np.argmin(all_errors, axis=1)
    latents = z.numpy().reshape(num, restarts, latent_dim)[np.arange(num), best]
    signals = np.asarray(prior.signals(tf.constant(latents)))
    return {"signals": signals, "latents": latents,
            "measurement_error": all_errors[np.arange(num), best], "all_errors": all_errors}


# What per_signal_error measures (the unit of every printed and plotted error).
ERROR_UNITS = "per-pixel MSE ||x_hat - x||^2 / n, pixels in [0, 1]"
ERROR_AXIS_LABEL = "per-pixel MSE, [0,1] pixels (log)"


def per_signal_error(estimates, signals):
    """||x_hat - x||^2 / n per signal [S] (signals in [0, 1]; estimates are not clipped)."""
    return np.mean(np.square(np.asarray(estimates, np.float64) - np.asarray(signals, np.float64)), axis=1)


def mean_and_stderr(values):
    """Mean and standard error of the mean of a 1-D array."""
    values = np.asarray(values, np.float64)
    stderr = values.std(ddof=1) / math.sqrt(len(values)) if len(values) > 1 else 0.0
    return float(values.mean()), float(stderr)


# --- signals ------------------------------------------------------------------------------


def load_signals(source, shape, num, *, split="test", offset=0):
    """Signals [num, n] in [0, 1] of ``shape`` (H, W, C).

    ``source`` is ``digits`` (the held-out digits at their native 8x8, x = pixel / 16),
    a PNG/JPEG file, or a folder of images; files are read at their own size, which must
    equal the generator's output.
    """
    h, w, c = shape
    if source == "digits":
        if (h, w, c) != (8, 8, 1):
            raise UserInputError(
                f"the generator outputs {h}x{w}x{c} images but the digits signals are 8x8x1; "
                "use a generator trained with --resolution 8 on digits"
            )
        images, _ = data_lib.load_arrays("digits", resolution=8, split=split)
        chosen = images[offset:offset + num]
        if len(chosen) < num:
            raise UserInputError(
                f"digits {split} split has {len(images)} images, fewer than {offset + num}; pass a smaller --num"
            )
        return images_lib.to_unit_range(chosen).reshape(num, -1).astype(np.float32)
    if os.path.isdir(source):
        # Regular files only: reading a named pipe nobody writes to would block forever.
        files = sorted(path for path in (os.path.join(source, f) for f in os.listdir(source))
                       if path.lower().endswith((".png", ".jpg", ".jpeg", ".bmp"))
                       and os.path.isfile(path))
    elif os.path.isfile(source):
        files = [source]
    else:
        raise UserInputError(f"input {source!r} is neither 'digits', an image file nor a folder of images")
    if not files:
        raise UserInputError(f"no images (.png, .jpg, .bmp) in {source!r}")
    signals = []
    for path in files[:num]:
        image = cv2.imread(path, cv2.IMREAD_GRAYSCALE if c == 1 else cv2.IMREAD_COLOR)
        if image is None:
            raise UserInputError(f"cannot decode {path!r}; pass PNG or JPEG images")
        if image.shape[:2] != (h, w):
            raise UserInputError(
                f"{path!r} is {image.shape[1]}x{image.shape[0]} but the generator outputs {w}x{h}; "
                f"resize the inputs or use a generator trained at that size"
            )
        if c == 3:
            image = cv2.cvtColor(image, cv2.COLOR_BGR2RGB)
        signals.append(image.reshape(-1).astype(np.float32) / 255.0)
    return np.stack(signals)


def _reference_data(prior, reference):
    """Training images [N, n] in [0, 1] for the baselines (the generator's data by default)."""
    source = reference or prior.config.get("data") or "digits"
    h, w, c = prior.shape
    if h != w:
        raise UserInputError(f"baselines need square signals, got {h}x{w}")
    images, _ = data_lib.load_arrays(source, resolution=h, channels=c, split="train")
    return images_lib.to_unit_range(images).reshape(len(images), -1).astype(np.float64)


def _check_noise(noise):
    if not isinstance(noise, (int, float)) or not noise >= 0:
        raise UserInputError(f"the noise level must be >= 0, got {noise!r}; pass --noise 0 or more")


def _check_counts(num, restarts, steps):
    for flag, value in (("--num", num), ("--restarts", restarts), ("--steps", steps)):
        if not isinstance(value, (int, np.integer)) or value < 1:
            raise UserInputError(f"{flag} must be a positive integer, got {value!r}")


# --- actions ------------------------------------------------------------------------------


def run(*, generator, operator="gaussian", measurements=50, noise=0.1, input="digits", num=16,
        restarts=DEFAULT_RESTARTS, steps=DEFAULT_STEPS, penalty=DEFAULT_PENALTY, seed=0,
        output=None, reference=None):
    """Recover ``num`` signals from m measurements; write a grid PNG (rows: truth, Lasso, ours).

    Errors of ours and of every baseline of :func:`sweep`: Lasso in the pixel and the DCT
    basis (each with its weight picked on the validation signals), the Gaussian-prior
    linear MMSE and the mean image (see :mod:`gan_apps.pipelines.recovery_baselines`).
    The grid's Lasso row is the better basis on the validation signals. Errors are
    :data:`ERROR_UNITS`.

    Returns:
        dict with the grid path and per-method errors (mean, standard error).
    """
    from gan_apps.pipelines import recovery_baselines as baselines

    _check_noise(noise)
    _check_counts(num, restarts, steps)
    prior = load_prior(generator)
    signals = load_signals(input, prior.shape, num)
    rng = np.random.default_rng(seed)
    op = make_operator(operator, prior.shape, measurements, rng)
    y = op.measure(signals, noise, rng)
    train = _reference_data(prior, reference)
    # Both bases scored on one validation draw; the grid's Lasso is the better of the two
    # (baselines.fit_lasso's choice, with the same random draws).
    fits = baselines.fit_lasso_bases([(op, train[:baselines.VALIDATION_SIGNALS])], noise, rng,
                                     bases=("dct", "pixel"))
    lasso = min(fits.values(), key=lambda fit: fit.validation_error)
    ours = recover(prior, op, y, restarts=restarts, steps=steps, penalty=penalty, seed=seed)
    estimates = {f"lasso-{basis}": fit.estimate(op, y) for basis, fit in fits.items()}
    gaussian = baselines.GaussianPrior.fit(train)
    estimates["gaussian-mmse"] = gaussian.mmse(op, y, noise)
    estimates["mean"] = np.broadcast_to(gaussian.mean, estimates["gaussian-mmse"].shape)
    estimates["ours"] = ours["signals"]
    errors = {name: mean_and_stderr(per_signal_error(value, signals))
              for name, value in estimates.items()}
    lasso_estimates = estimates[f"lasso-{lasso.basis}"]
    rows = [signals, np.clip(lasso_estimates, 0.0, 1.0), ours["signals"]]
    output = output or os.path.join(generator, f"recover_{operator}_m{op.num_measurements}.png")
    _write_grid(output, rows, prior.shape)
    return {"grid": output, "errors": errors, "units": ERROR_UNITS, "operator": operator,
            "measurements": op.num_measurements, "lasso_basis": lasso.basis, "lasso_alpha": lasso.alpha}


def _write_grid(path, rows, shape):
    """One row per method, one column per signal, upscaled for visibility."""
    columns = len(rows[0])
    stacked = np.concatenate([np.asarray(r, np.float32).reshape((-1,) + tuple(shape)) for r in rows])
    uint8 = images_lib.to_uint8(images_lib.from_unit_range(stacked))
    big = np.stack([cv2.resize(im, None, fx=GRID_SCALE, fy=GRID_SCALE, interpolation=cv2.INTER_NEAREST)
                    .reshape(shape[0] * GRID_SCALE, shape[1] * GRID_SCALE, shape[2]) for im in uint8])
    images_lib.write_png(path, images_lib.make_grid(big, columns=columns, pad_value=128))


def sweep(*, generator, measurements=(10, 25, 50, 100, 200), operator="gaussian", noise=0.1,
          input="digits", num=100, draws=5, restarts=DEFAULT_RESTARTS, steps=DEFAULT_STEPS,
          penalty=DEFAULT_PENALTY, seed=0, out=None, reference=None, baselines_too=True):
    """Per-pixel error vs m for ours and every baseline on held-out signals.

    For each m the ``num`` test signals are split into ``draws`` groups, each measured by
    its own operator draw (the error of Lasso varies much between draws of A), shared by
    every method; per-signal error ||x_hat - x||^2 / n; mean and standard error over the
    signals. Writes ``recovery_sweep.json``, ``recovery_sweep.md`` and
    ``recovery_sweep.png`` into ``out`` (default: the generator's folder).

    Returns:
        dict: ``rows`` (one per m: method -> [mean, stderr]), ``seconds`` per method, settings.
    """
    from gan_apps.pipelines import recovery_baselines as baselines

    _check_noise(noise)
    _check_counts(num, restarts, steps)
    if not isinstance(draws, (int, np.integer)) or not 1 <= draws <= num:
        raise UserInputError(f"--draws must be an integer from 1 to --num ({num}), got {draws!r}")
    measurements = sorted({int(m) for m in measurements})
    prior = load_prior(generator)
    signals = load_signals(input, prior.shape, num)
    n = signals.shape[1]
    for m in measurements:
        if not 1 <= m <= n:
            raise UserInputError(
                f"the number of measurements must be from 1 to n = {n}, got {m}; "
                "pass --measurements within that range"
            )
    train = _reference_data(prior, reference) if baselines_too else None
    parts = np.array_split(np.arange(num), draws)
    rows, seconds = [], {}
    for m in measurements:
        rng = np.random.default_rng([seed, m])
        groups = []
        for part in parts:
            op = make_operator(operator, prior.shape, m, rng)
            groups.append((op, op.measure(signals[part], noise, rng)))
        row = {"m": m}
        started = time.perf_counter()
        ours = [recover(prior, op, y, restarts=restarts, steps=steps, penalty=penalty,
                        seed=seed + m)["signals"] for op, y in groups]
        seconds["ours"] = seconds.get("ours", 0.0) + time.perf_counter() - started
        row["ours"] = mean_and_stderr(per_signal_error(np.concatenate(ours), signals))
        if baselines_too:
            for name, estimates, spent in baselines.all_baselines(groups, train, noise, rng):
                row[name] = mean_and_stderr(per_signal_error(np.concatenate(estimates), signals))
                seconds[name] = seconds.get(name, 0.0) + spent
        rows.append(row)
    result = {"generator": generator, "kind": prior.kind, "operator": operator, "noise": noise,
              "num": num, "draws": draws, "restarts": restarts, "steps": steps,
              "penalty": penalty, "seed": seed, "rows": rows, "seconds": seconds}
    out = out or (generator if os.path.isdir(generator) else ".")
    runs.write_json(os.path.join(out, "recovery_sweep.json"), result)
    table_path = os.path.join(out, "recovery_sweep.md")
    with open(table_path + ".tmp", "w") as f:
        f.write(format_table(rows) + "\n")
    os.replace(table_path + ".tmp", table_path)
    plot_sweep(rows, os.path.join(out, "recovery_sweep.png"))
    result["out"] = out
    return result


def methods_of(rows):
    """Method names in the order they first appear in the rows."""
    names = []
    for row in rows:
        names += [k for k in row if k != "m" and k not in names]
    return names


def format_table(rows, labels=None):
    """Markdown table: one row per m, one column per method (mean ± stderr)."""
    names = methods_of(rows)
    labels = labels or {}
    header = "| m | " + " | ".join(labels.get(k, k) for k in names) + " |"
    lines = [header, "|---" * (len(names) + 1) + "|"]
    for row in rows:
        cells = [f"{row[k][0]:.4f} ± {row[k][1]:.4f}" if k in row else "" for k in names]
        lines.append(f"| {row['m']} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def plot_sweep(rows, path):
    """Error (:data:`ERROR_UNITS`) vs m on a log error axis, one line per method (OpenCV, no
    matplotlib); the y axis is labelled with the units."""
    width, height = PLOT_SIZE
    left, right, top, bottom = 60, 150, 20, 40
    canvas = np.full((height, width, 3), 255, np.uint8)
    names = methods_of(rows)
    ms = [row["m"] for row in rows]
    values = [row[k][0] for row in rows for k in names if k in row and row[k][0] > 0]
    lo, hi = math.log10(min(values)), math.log10(max(values))
    hi = hi if hi > lo else lo + 1.0
    m_lo, m_hi = min(ms), max(ms) if max(ms) > min(ms) else min(ms) + 1

    def point(m, value):
        x = left + (m - m_lo) / (m_hi - m_lo) * (width - left - right)
        y = top + (hi - math.log10(max(value, 1e-12))) / (hi - lo) * (height - top - bottom)
        return int(round(x)), int(round(y))

    cv2.rectangle(canvas, (left, top), (width - right, height - bottom), (170, 170, 170), 1)
    font = cv2.FONT_HERSHEY_SIMPLEX
    for m in ms:
        x, _ = point(m, 10**lo)
        cv2.putText(canvas, str(m), (x - 8, height - bottom + 15), font, 0.35, (30, 30, 30), 1)
    for exponent in (lo, (lo + hi) / 2, hi):
        _, y = point(m_lo, 10**exponent)
        cv2.putText(canvas, f"{10**exponent:.3f}", (5, y + 4), font, 0.35, (30, 30, 30), 1)
    cv2.putText(canvas, "measurements m", (left + 100, height - 8), font, 0.4, (30, 30, 30), 1)
    # The y label, written horizontally then rotated to run up the left margin.
    (text_w, text_h), base = cv2.getTextSize(ERROR_AXIS_LABEL, font, 0.35, 1)
    label = np.full((text_h + base + 2, text_w + 2, 3), 255, np.uint8)
    cv2.putText(label, ERROR_AXIS_LABEL, (1, text_h + 1), font, 0.35, (30, 30, 30), 1)
    label = cv2.rotate(label, cv2.ROTATE_90_COUNTERCLOCKWISE)[: height - top - bottom]
    y0 = top + max(0, (height - top - bottom - label.shape[0]) // 2)
    canvas[y0:y0 + label.shape[0], 44:44 + label.shape[1]] = np.minimum(
        canvas[y0:y0 + label.shape[0], 44:44 + label.shape[1]], label)
    colours = [(31, 119, 180), (255, 127, 14), (44, 160, 44), (214, 39, 40), (148, 103, 189),
               (140, 86, 75), (227, 119, 194), (127, 127, 127)]
    for index, name in enumerate(names):
        colour = colours[index % len(colours)]
        points = [point(row["m"], row[name][0]) for row in rows if name in row]
        for a, b in zip(points, points[1:]):
            cv2.line(canvas, a, b, colour, 2)
        for p in points:
            cv2.circle(canvas, p, 3, colour, -1)
        cv2.putText(canvas, name, (width - right + 8, top + 15 + 16 * index), font, 0.4, colour, 1)
    images_lib.write_png(path, canvas)
    return path

