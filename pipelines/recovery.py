"""Compressed sensing with a generative prior (Bora, Jalal, Price, Dimakis, ICML 2017).

Given y = A x + eta with m << n measurements, recover x as G(z*). The conventions are
those of the authors' code (AshishBora/csgm, the MNIST scripts), equation by equation:

1. A has i.i.d. N(0, 1) entries (``utils.get_A``) for the ``gaussian`` operator;
2. y = A x + eta with eta_i ~ N(0, noise^2) per measurement, noise = 0.1
   (``compressed_sensing.main``: ``noise_std * randn(batch, m)``);
3. z* = argmin_z (1/m) ||y - A G(z)||^2 + lambda ||z||^2 with lambda = 0.1
   (``mnist_estimators``: ``mloss2 = reduce_mean((y - y_hat)^2, 1)``,
   ``zp_loss = reduce_sum(z^2, 1)``; Bora et al. eq. 2 with the error averaged over m);
4. Adam (lr 0.01, beta1 0.9, beta2 0.999, eps 1e-8: TF1's defaults) for 1000 steps from
   z ~ N(0, I), 10 random restarts, the optimiser state reset per restart
   (``quant_scripts/mnist_reconstruction.sh``: ``--learning-rate 0.01 --max-update-iter
   1000 --num-random-restarts 10 --zprior_weight 0.1 --noise-std 0.1``);
5. per signal, the restart with the lowest *total* loss (3), prior included, is kept
   (``utils.BestKeeper`` on ``total_loss_batch``).

One departure, to make restarts nearly free on a CPU (``screen``): all restarts run for the
first ``screen * steps`` steps (default a tenth), the restart with the lowest total loss
per signal is kept there, and only it runs the remaining steps, with its Adam state. Ten
restarts then cost 1.46x one restart instead of 5.6x (docs/benchmarks.md, block
``recovery``); ``screen=1`` is the csgm procedure exactly (every restart runs every step, the best
by total loss at the end). All signals and restarts are optimised at once as one latent
tensor [signals * restarts, latent]; each row's loss depends on its own z only.

``estimate="posterior-mean"`` (not csgm's, off by default) returns E[G(z) | y] under the
posterior whose mode is z* (:func:`posterior_mean`): the estimator of least squared error,
which beats the Gaussian-prior linear estimator at 5 and 10 measurements of the digits
where the mode does not (docs/benchmarks.md, block ``recovery``).

Signals are flat vectors x in [0, 1]^n (n = H * W * C, flattened in H, W, C order); a
generator's output in [-1, 1] maps to a signal as (g + 1) / 2.
"""

from __future__ import annotations

import dataclasses
import math
import os
import time

import cv2
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
# csgm's MNIST scripts (quant_scripts/mnist_reconstruction.sh): Adam lr 0.01, 1000 steps,
# 10 restarts, lambda (zprior_weight) 0.1.
DEFAULT_LEARNING_RATE = 0.01
DEFAULT_RESTARTS = 10
DEFAULT_STEPS = 1000
DEFAULT_PENALTY = 0.1
# The fraction of the steps every restart runs before only the best one per signal goes on.
DEFAULT_SCREEN = 0.1
# TF1's AdamOptimizer defaults, which csgm uses.
ADAM_BETAS = (0.9, 0.999)
ADAM_EPSILON = 1e-8
# What recover returns: csgm's point estimate G(z*), or the mean of G(z) under the posterior
# whose mode z* is (:func:`posterior_mean`).
ESTIMATES = ("map", "posterior-mean")
# Unadjusted Langevin sampling for the posterior mean: chains per signal (each starting at
# z*), steps per chain (the first quarter discarded), step size.
LANGEVIN_CHAINS = 8
LANGEVIN_STEPS = 1000
LANGEVIN_RATE = 1e-3
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

    def parameters(self):
        """The operator's data as one tensor (the matrix, the kept indices, or nothing), so a
        compiled recovery takes a new draw of A as an argument instead of retracing."""
        if self.name == "gaussian":
            return tf.constant(self.matrix)
        if self.kept is not None:
            return tf.constant(self.kept)
        return tf.zeros([0])

    def forward(self, x, parameters=None):
        """A x for x [..., n] -> [..., m] (``parameters``: :meth:`parameters`, default own)."""
        if self.name == "gaussian":
            matrix = self.matrix if parameters is None else parameters
            return ops.matmul(x, ops.transpose(ops.convert_to_tensor(matrix)))
        if self.kept is not None:
            kept = self.kept if parameters is None else parameters
            return ops.take(x, ops.convert_to_tensor(kept), axis=-1)
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
        """y = A x + eta, eta ~ N(0, noise^2 I) (std ``noise`` per measurement, as csgm),
        for numpy signals [S, n]."""
        clean = np.asarray(self.forward(np.asarray(signals, np.float32)), np.float32)
        return clean + noise * rng.standard_normal(clean.shape).astype(np.float32)


def make_operator(name, shape, num_measurements, rng):
    """Build a measurement operator for signals of ``shape`` (H, W, C).

    Args:
        name: ``gaussian`` (A with i.i.d. N(0, 1) entries, as csgm), ``inpaint-random`` (m pixels
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
        matrix = rng.standard_normal((m, n)).astype(np.float32)
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


def recovery_loss(prior, operator, z, measurements, penalty, parameters=None):
    """csgm's objective per row: (total [B], measurement error [B]) with

        measurement error = (1/m) sum_i (y_i - (A G(z))_i)^2,
        total = measurement error + penalty * sum_j z_j^2

    (Bora et al. 2017, eq. 2, the error averaged over the m measurements as in csgm's
    ``mnist_estimators``). ``z`` [B, D], ``measurements`` y [B, m]; tensors or numpy.
    """
    z = ops.convert_to_tensor(z, "float32")
    residual = (operator.forward(prior.signals(z), parameters)
                - ops.convert_to_tensor(measurements, "float32"))
    error = ops.mean(ops.square(residual), axis=-1)
    return error + penalty * ops.sum(ops.square(z), axis=-1), error


def best_restarts(totals):
    """Per signal, the restart with the lowest total loss: totals [S, R] -> indices [S]
    (csgm's ``utils.BestKeeper``: the prior term counts, not only the measurement error)."""
    return np.argmin(np.asarray(totals), axis=1)


def _loss_gradient(prior, operator, z, y, penalty, parameters):
    """d/dz of the summed :func:`recovery_loss` of the rows: each row's z gets the gradient
    of its own objective (the rows are independent)."""
    with tf.GradientTape() as tape:
        tape.watch(z)
        total = ops.sum(recovery_loss(prior, operator, z, y, penalty, parameters)[0])
    return tape.gradient(total, z)


def _specs(prior, operator):
    """Input specs of the compiled loops: (latent [B, D], scalar, count, measurements [B, m],
    the operator's parameters), any number of rows, any m."""
    parameters = operator.parameters()
    return (tf.TensorSpec([None, prior.latent_dim], tf.float32), tf.TensorSpec([], tf.float32),
            tf.TensorSpec([], tf.int32), tf.TensorSpec([None, None], tf.float32),
            tf.TensorSpec([None] * parameters.shape.rank, parameters.dtype))


def _cached_per_operator_kind(build):
    """Keep ``build(prior, operator)``'s compiled function on the prior, one per kind of
    operator (its name, signal shape and block size): a new draw of A, another m, penalty or
    rate are arguments of the same trace, so a sweep traces each loop once."""
    def cached(prior, operator):
        cache = prior.__dict__.setdefault("_compiled", {})
        key = (build.__name__, operator.name, operator.shape, operator.factor)
        if key not in cache:
            cache[key] = build(prior, operator)
        return cache[key]
    cached.__doc__, cached.__name__ = build.__doc__, build.__name__
    return cached


@_cached_per_operator_kind
def _adam_descent(prior, operator):
    """A compiled ``descend(z, m, v, t, y, steps, parameters, penalty, rate)`` -> (z, m, v, t):
    ``steps`` Adam steps (Kingma & Ba 2015, Algorithm 1 in TF1's form, :data:`ADAM_BETAS`,
    :data:`ADAM_EPSILON`) on each row's :func:`recovery_loss`. The moments travel with z, so
    a restart can stop and go on (the screening) exactly as if it had never stopped.

    Both phases of the screening run the same trace (:func:`_cached_per_operator_kind`).
    """
    beta1, beta2 = ADAM_BETAS

    def step(i, z, m, v, t, y, parameters, penalty, rate):
        grad = _loss_gradient(prior, operator, z, y, penalty, parameters)
        t = t + 1.0
        m = beta1 * m + (1.0 - beta1) * grad
        v = beta2 * v + (1.0 - beta2) * ops.square(grad)
        size = rate * ops.sqrt(1.0 - beta2**t) / (1.0 - beta1**t)
        z = z - size * m / (ops.sqrt(v) + ADAM_EPSILON)
        return i + 1, z, m, v, t, y, parameters, penalty, rate

    latent, scalar, count, measured, parameters = _specs(prior, operator)

    # An explicit while loop, so no AutoGraph conversion (which reads the source file).
    @tf.function(autograph=False, input_signature=[
        latent, latent, latent, scalar, measured, count, parameters, scalar, scalar])
    def descend(z, m, v, t, y, steps, parameters, penalty, rate):
        _, z, m, v, t, *_ = tf.while_loop(lambda i, *_: i < steps, step,
                                          (tf.constant(0), z, m, v, t, y, parameters, penalty, rate))
        return z, m, v, t

    return descend


@_cached_per_operator_kind
def _langevin(prior, operator):
    """A compiled ``sample(z, y, parameters, penalty, temperature, rate, steps, burn, seed)``
    -> the mean of G(z) [B, n] over the steps after ``burn`` of the unadjusted Langevin
    algorithm z <- z - rate grad U(z) + sqrt(2 rate) xi, U = total loss / temperature
    (Roberts & Tweedie 1996), one chain per row, noise from a stateless generator seeded by
    ``seed`` and the step (reproducible)."""
    def step(k, z, total, y, parameters, penalty, temperature, rate, burn, seed):
        grad = _loss_gradient(prior, operator, z, y, penalty, parameters) / temperature
        noise = tf.random.stateless_normal(tf.shape(z), seed=tf.stack([seed, k]))
        z = z - rate * grad + ops.sqrt(2.0 * rate) * noise
        total = total + ops.cast(k >= burn, "float32") * prior.signals(z)
        return k + 1, z, total, y, parameters, penalty, temperature, rate, burn, seed

    latent, scalar, count, measured, parameters = _specs(prior, operator)

    @tf.function(autograph=False, input_signature=[
        latent, measured, parameters, scalar, scalar, scalar, count, count, count])
    def sample(z, y, parameters, penalty, temperature, rate, steps, burn, seed):
        total = tf.zeros([tf.shape(z)[0], operator.signal_size])
        loop = (tf.constant(0), z, total, y, parameters, penalty, temperature, rate, burn, seed)
        total = tf.while_loop(lambda k, *_: k < steps, step, loop)[2]
        return total / ops.cast(steps - burn, "float32")

    return sample


def posterior_mean(prior, operator, measurements, latents, *, penalty=DEFAULT_PENALTY,
                   chains=LANGEVIN_CHAINS, steps=LANGEVIN_STEPS, rate=LANGEVIN_RATE, seed=0):
    """E[G(z) | y] under p(z | y) proportional to exp(-L(z) / T), T = 2 lambda, for
    csgm's loss L(z) = mean_i (y_i - (A G(z))_i)^2 + lambda ||z||^2.

    With T = 2 lambda the prior factor is exp(-||z||^2 / 2), the latent's own N(0, I), and
    the likelihood factor exp(-||y - A G(z)||^2 / (2 m lambda)): a Gaussian measurement
    model whose mode is csgm's z*. Where the measurements leave x ambiguous (m of 5 or 10
    on the 8x8 digits) the mode commits to one digit and the mean blends the candidates,
    which lowers the expected squared error (the mean is the estimator that minimises it).
    Estimated by ``chains`` unadjusted Langevin chains per signal started at ``latents``
    (the mode), ``steps`` steps each, the first quarter discarded. A departure from csgm,
    which returns the mode; docs/benchmarks.md, block ``recovery``, compares the two.

    Returns:
        signals [S, n] in [0, 1] (not clipped: an average of generator outputs is in range).
    """
    if not penalty > 0:
        raise UserInputError("the posterior mean needs --penalty > 0 (its prior is "
                             "exp(-penalty ||z||^2 / T) with T = 2 penalty)")
    y = np.asarray(measurements, np.float32)
    num = y.shape[0]
    sample = _langevin(prior, operator)
    z = tf.constant(np.repeat(np.asarray(latents, np.float32), chains, axis=0))
    means = sample(z, tf.constant(np.repeat(y, chains, axis=0)), operator.parameters(),
                   tf.constant(float(penalty)), tf.constant(2.0 * float(penalty)),
                   tf.constant(float(rate)), tf.constant(int(steps)), tf.constant(int(steps) // 4),
                   tf.constant(int(seed)))
    return np.asarray(means).reshape(num, chains, -1).mean(axis=1)


def recover(prior, operator, measurements, *, restarts=DEFAULT_RESTARTS, steps=DEFAULT_STEPS,
            learning_rate=DEFAULT_LEARNING_RATE, penalty=DEFAULT_PENALTY, screen=DEFAULT_SCREEN,
            estimate="map", seed=0, initial=None):
    """Minimise :func:`recovery_loss` for all signals and restarts at once (module docstring).

    Args:
        prior: a :class:`Prior`.
        operator: an :class:`Operator` (its forward is differentiated through).
        measurements: y [S, m].
        restarts: random restarts per signal; z starts from N(0, I).
        steps: Adam steps of the kept restart (learning rate ``learning_rate``).
        screen: the fraction of ``steps`` every restart runs before the best one per signal
            (lowest total loss) goes on alone; 1 runs every restart for every step (csgm).
        estimate: ``map`` (csgm's G(z*)) or ``posterior-mean`` (:func:`posterior_mean`,
            started at z*).
        initial: optional starting latents [S, R, D] (overrides the random draw).

    Returns:
        dict: ``signals`` [S, n] (the estimate, in [0, 1]), ``map_signals`` (G(z*)),
        ``latents`` [S, D] (z*),
        ``measurement_error`` and ``total_loss`` [S] of the kept restart at the end,
        ``all_totals`` [S, R] (every restart's total loss where the choice was made) and
        ``screen_steps`` (the steps every restart ran).
    """
    if estimate not in ESTIMATES:
        raise UserInputError(f"--estimate must be one of {', '.join(ESTIMATES)}, got {estimate!r}")
    y = np.asarray(measurements, np.float32)
    num = y.shape[0]
    if initial is None:
        rng = np.random.default_rng(seed)
        initial = rng.standard_normal((num, restarts, prior.latent_dim)).astype(np.float32)
    initial = np.asarray(initial, np.float32)
    num, restarts, latent_dim = initial.shape
    _check_screen(screen)
    first = steps if restarts == 1 else max(1, min(steps, math.ceil(screen * steps)))
    descend = _adam_descent(prior, operator)
    settings = (operator.parameters(), tf.constant(float(penalty)), tf.constant(float(learning_rate)))
    z = tf.constant(initial.reshape(num * restarts, latent_dim))
    zeros = tf.zeros_like(z)
    z, m, v, t = descend(z, zeros, zeros, tf.constant(0.0), tf.constant(np.repeat(y, restarts, axis=0)),
                         tf.constant(first), *settings)
    totals = np.asarray(recovery_loss(prior, operator, z, np.repeat(y, restarts, axis=0),
                                      penalty)[0]).reshape(num, restarts)
    rows = np.arange(num) * restarts + best_restarts(totals)
    z, m, v = (tf.gather(value, rows) for value in (z, m, v))
    if steps > first:
        z, m, v, t = descend(z, m, v, t, tf.constant(y), tf.constant(steps - first), *settings)
    total, error = (np.asarray(value) for value in recovery_loss(prior, operator, z, y, penalty))
    latents = z.numpy()
    signals = np.asarray(prior.signals(tf.constant(latents)))
    estimated = signals if estimate == "map" else posterior_mean(
        prior, operator, y, latents, penalty=penalty, seed=seed)
    return {"signals": estimated, "map_signals": signals, "latents": latents,
            "measurement_error": error, "total_loss": total, "all_totals": totals,
            "screen_steps": first}


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


def _check_screen(screen):
    if not isinstance(screen, (int, float)) or not 0 < screen <= 1:
        raise UserInputError(f"--screen is a fraction of the steps in (0, 1], got {screen!r}")


def _check_counts(num, restarts, steps):
    for flag, value in (("--num", num), ("--restarts", restarts), ("--steps", steps)):
        if not isinstance(value, (int, np.integer)) or value < 1:
            raise UserInputError(f"{flag} must be a positive integer, got {value!r}")


# --- actions ------------------------------------------------------------------------------


def run(*, generator, operator="gaussian", measurements=50, noise=0.1, input="digits", num=16,
        restarts=DEFAULT_RESTARTS, steps=DEFAULT_STEPS, learning_rate=DEFAULT_LEARNING_RATE,
        penalty=DEFAULT_PENALTY, screen=DEFAULT_SCREEN, estimate="map", seed=0, output=None,
        reference=None):
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
    _check_screen(screen)
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
    ours = recover(prior, op, y, restarts=restarts, steps=steps, learning_rate=learning_rate,
                   penalty=penalty, screen=screen, estimate=estimate, seed=seed)
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
          learning_rate=DEFAULT_LEARNING_RATE, penalty=DEFAULT_PENALTY, screen=DEFAULT_SCREEN,
          estimate="map", seed=0, out=None, reference=None, baselines_too=True):
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
    _check_screen(screen)
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
        ours = [recover(prior, op, y, restarts=restarts, steps=steps, learning_rate=learning_rate,
                        penalty=penalty, screen=screen, estimate=estimate, seed=seed + m)["signals"]
                for op, y in groups]
        seconds["ours"] = seconds.get("ours", 0.0) + time.perf_counter() - started
        row["ours"] = mean_and_stderr(per_signal_error(np.concatenate(ours), signals))
        if baselines_too:
            for name, estimates, spent in baselines.all_baselines(groups, train, noise, rng):
                row[name] = mean_and_stderr(per_signal_error(np.concatenate(estimates), signals))
                seconds[name] = seconds.get(name, 0.0) + spent
        rows.append(row)
    result = {"generator": generator, "kind": prior.kind, "operator": operator, "noise": noise,
              "num": num, "draws": draws, "restarts": restarts, "steps": steps,
              "learning_rate": learning_rate, "penalty": penalty, "screen": screen,
              "estimate": estimate, "seed": seed, "rows": rows, "seconds": seconds}
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

