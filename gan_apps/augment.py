"""Differentiable augmentation (DiffAugment, Zhao et al. 2020) and packing (PacGAN, Lin et al.
2018): what the discriminator sees of a batch, applied alike to real and fake examples.

DiffAugment (Zhao et al. 2020, "Differentiable Augmentation for Data-Efficient GAN
Training", Sec. 3, eq. 3-4): with little data the discriminator memorises the training set
and its feedback stops helping the generator. Augmenting only the reals shifts the target
distribution (the generator learns to make translated, cut-out images), so the same family
of random transformations T is applied to real and fake images before *every*
discriminator call, in the discriminator's update (D(T(x)), D(T(G(z)))) and in the
generator's (D(T(G(z)))), and T is differentiable so the generator's gradient passes through
it. Each call draws its own parameters per example. The transformations and their ranges
are the authors' TensorFlow reference (github.com/mit-han-lab/data-efficient-gans,
``DiffAugment_tf.py``), on images in [-1, 1]:

- ``color``: brightness + U(-0.5, 0.5); saturation (channel mean kept) x U(0, 2);
  contrast (image mean kept) x U(0.5, 1.5);
- ``translation``: an integer shift of up to 1/8 of the size along each axis, zero filled;
- ``cutout``: a zeroed square of half the size at a uniformly drawn centre (clipped at the
  border).

The paper's policy for its few-shot and CIFAR experiments is ``color,translation,cutout``
(:data:`PAPER_POLICY`).

PacGAN (Lin et al. 2018, "PacGAN: The power of two samples in generative adversarial
networks", Sec. 3): the discriminator judges packs of ``k`` samples of one kind (k reals or
k fakes) concatenated along the channels, which penalises a generator whose samples lack
variety; ``k = 1`` is the plain GAN (:func:`pack`).
"""

from __future__ import annotations

import keras
import tensorflow as tf

from gan_apps import runtime
from gan_apps.errors import UserInputError

POLICIES = ("color", "translation", "cutout")
PAPER_POLICY = "color,translation,cutout"
TRANSLATION_RATIO = (1, 8)  # the reference's ``ratio=(1, 8)``: up to W // 8 pixels
CUTOUT_RATIO = (1, 2)  # a square of half the image size


def parse_policy(text):
    """``"color,translation"`` -> ``("color", "translation")``; None or "" -> ``()``.

    Raises UserInputError naming the choices for an unknown or repeated name.
    """
    if not text:
        return ()
    names = tuple(name.strip() for name in str(text).split(",") if name.strip())
    unknown = [name for name in names if name not in POLICIES]
    if unknown or len(set(names)) != len(names) or not names:
        raise UserInputError(
            f"--augment takes a comma-separated DiffAugment policy of {', '.join(POLICIES)} "
            f"(each at most once; the paper's: {PAPER_POLICY}), got {text!r}")
    return names


# --- the transformations with explicit parameters (what the tests check by hand) -----------


def brightness(x, shift):
    """``x + shift`` (``shift`` [B, 1, 1, 1])."""
    return x + ops_cast(shift, x)


def saturation(x, factor):
    """Scale each pixel's distance from its channel mean by ``factor`` [B, 1, 1, 1]."""
    mean = tf.reduce_mean(x, axis=3, keepdims=True)
    return (x - mean) * ops_cast(factor, x) + mean


def contrast(x, factor):
    """Scale each image's distance from its mean by ``factor`` [B, 1, 1, 1]."""
    mean = tf.reduce_mean(x, axis=[1, 2, 3], keepdims=True)
    return (x - mean) * ops_cast(factor, x) + mean


def translate(x, shift_y, shift_x):
    """``out[b, i, j] = x[b, i + shift_y[b], j + shift_x[b]]``, 0 where that is outside.

    Integer shifts [B] (positive moves the content up / left). Gathers from the image padded
    by one zero row and column, as the reference does, so the gradient with respect to
    ``x`` is 1 at every pixel that stays in view.
    """
    height, width = tf.shape(x)[1], tf.shape(x)[2]
    rows = tf.clip_by_value(tf.range(height)[None, :] + tf.cast(shift_y, tf.int32)[:, None] + 1,
                            0, height + 1)
    cols = tf.clip_by_value(tf.range(width)[None, :] + tf.cast(shift_x, tf.int32)[:, None] + 1,
                            0, width + 1)
    padded = tf.pad(x, [[0, 0], [1, 1], [1, 1], [0, 0]])
    x = tf.gather(padded, rows, axis=1, batch_dims=1)
    return tf.gather(x, cols, axis=2, batch_dims=1)


def cutout(x, center_y, center_x, size):
    """Zero the ``size = (h, w)`` rectangle whose rows are ``center_y - h // 2`` to
    ``center_y - h // 2 + h - 1`` (likewise columns), clipped to the image: the reference's
    mask, built by comparisons instead of a scatter."""
    height, width = tf.shape(x)[1], tf.shape(x)[2]
    top = tf.cast(center_y, tf.int32)[:, None, None] - size[0] // 2
    left = tf.cast(center_x, tf.int32)[:, None, None] - size[1] // 2
    rows = tf.range(height)[None, :, None]
    cols = tf.range(width)[None, None, :]
    inside = (rows >= top) & (rows < top + size[0]) & (cols >= left) & (cols < left + size[1])
    return x * tf.cast(~inside, x.dtype)[..., None]


def ops_cast(value, like):
    return tf.cast(value, like.dtype)


# --- random parameters, drawn from the model's seed generator ------------------------------


def _uniform(batch, seed_generator):
    """U(0, 1) of shape [B, 1, 1, 1], one per example of the global batch."""
    return runtime.global_batch_random(keras.random.uniform, (batch, 1, 1, 1), seed_generator)


def _integers(batch, low, high, seed_generator):
    """Integers uniform in [low, high) ([B], int32; ``high - low`` a tensor or an int)."""
    u = tf.reshape(_uniform(batch, seed_generator), [-1])
    span = tf.cast(high - low, tf.float32)
    return tf.cast(tf.minimum(tf.floor(u * span), span - 1.0), tf.int32) + low


def diff_augment(x, policy, seed_generator):
    """Apply the DiffAugment ``policy`` (names of :data:`POLICIES`, in order) to images
    ``x`` [B, H, W, C], with fresh parameters per example from ``seed_generator``."""
    if not policy:
        return x
    if x.shape.rank != 4:
        raise UserInputError("--augment (DiffAugment) transforms images; drop it for "
                             f"{x.shape.rank}-D data such as ring8 or grid25")
    batch = x.shape[0] if x.shape[0] is not None else tf.shape(x)[0]
    height, width = tf.shape(x)[1], tf.shape(x)[2]
    for name in policy:
        if name == "color":
            x = brightness(x, _uniform(batch, seed_generator) - 0.5)
            x = saturation(x, _uniform(batch, seed_generator) * 2.0)
            x = contrast(x, _uniform(batch, seed_generator) + 0.5)
        elif name == "translation":
            num, den = TRANSLATION_RATIO
            max_y, max_x = height * num // den, width * num // den
            shift_y = _integers(batch, -max_y, max_y + 1, seed_generator)
            shift_x = _integers(batch, -max_x, max_x + 1, seed_generator)
            x = translate(x, shift_y, shift_x)
        elif name == "cutout":
            num, den = CUTOUT_RATIO
            size = (tf.cast(tf.cast(height * num, tf.float32) / den + 0.5, tf.int32),
                    tf.cast(tf.cast(width * num, tf.float32) / den + 0.5, tf.int32))
            center_y = _integers(batch, 0, height + (1 - size[0] % 2), seed_generator)
            center_x = _integers(batch, 0, width + (1 - size[1] % 2), seed_generator)
            x = cutout(x, center_y, center_x, size)
        else:
            raise ValueError(f"unknown DiffAugment transformation {name!r}")
    return x


# --- PacGAN packing -----------------------------------------------------------------------


def pack(x, k):
    """Concatenate groups of ``k`` consecutive examples along the last axis.

    ``[B, ..., C] -> [B / k, ..., k C]``: pack j holds examples ``j k, ..., j k + k - 1``
    in that order (for images, channels ``i C .. i C + C - 1`` of pack j are example
    ``j k + i``; for points ``[B, D] -> [B / k, k D]``). Lin et al. 2018, Sec. 3: packs of k
    reals and packs of k fakes, never mixed. ``k = 1`` returns ``x`` itself.
    """
    k = int(k)
    if k == 1:
        return x
    static = x.shape[0]
    if static is not None and static % k:
        raise UserInputError(f"--pack {k} needs a batch size divisible by {k}, got {static}")
    shape = tf.shape(x)
    inner = x.shape[1:]
    grouped = tf.reshape(x, tf.concat([[-1, k], shape[1:]], axis=0))  # [B/k, k, ..., C]
    rank = len(inner) + 2
    # Move the group axis next to the channels: [B/k, ..., k, C].
    order = [0, *range(2, rank - 1), 1, rank - 1]
    moved = tf.transpose(grouped, order)
    packed = tf.reshape(moved, tf.concat([[-1], shape[1:-1], [k * shape[-1]]], axis=0))
    last = None if inner[-1] is None else k * inner[-1]
    return tf.ensure_shape(packed, [None, *inner[:-1], last])
