"""DCGAN generator and discriminator (Radford et al. 2016), as functional Keras models.

The paper's rules: strided (transposed) convolutions instead of pooling, no fully
connected hidden layers beyond the projection of z, batch normalization in both networks
except at the generator output and the discriminator input, ReLU in the generator with a
tanh output, LeakyReLU(0.2) in the discriminator.
"""

from __future__ import annotations

import math

import keras
from keras import layers

from gan_apps.errors import UserInputError
from gan_apps.initializers import LayerSeeds
from gan_apps.layers.batch_norm import batch_normalization
from gan_apps.layers.spectral import SpectralNormalization

KERNEL_SIZE = 4
# DCGAN initialises every weight from N(0, 0.02) (Radford et al. 2016, Sec. 4).
INIT_STD = 0.02
DISCRIMINATOR_NORMS = ("batch", "layer", "none", "spectral")


def start_size(resolution):
    """Spatial size of the first feature map: resolution / 2^k with k >= 1 doublings."""
    if not isinstance(resolution, int) or resolution < 8:
        raise UserInputError(f"resolution must be an integer >= 8, got {resolution!r}")
    for start in (4, 7, 5, 3):
        ratio = resolution / start
        if ratio >= 2 and ratio.is_integer() and math.log2(ratio).is_integer():
            return start, int(math.log2(ratio))
    raise UserInputError(
        f"resolution {resolution} is not 4, 5, 7 or 3 times a power of two; "
        "use one of 8, 16, 28, 32, 64 (or 12, 20, 24, 40, 48, 56, 80, 96, 128, ...)"
    )


def normal_initializers(seed):
    """DCGAN's N(0, 0.02) initializers: each call of the returned function makes the next
    layer's, seeded ``seed + k`` for the k-th call (:class:`gan_apps.initializers.LayerSeeds`)."""
    return LayerSeeds(seed).initializers(keras.initializers.RandomNormal, stddev=INIT_STD)


def dcgan_generator(latent_dim=100, resolution=32, channels=1, width=64, seed=None):
    """DCGAN generator ``z [B, latent_dim] -> images [B, R, R, channels]`` in [-1, 1].

    z is projected to a start map (4x4 for powers of two, 7x7 for 28), then each
    stride-2 transposed convolution doubles the size and halves the filters, ending with
    ``width`` filters before the output layer.

    Args:
        latent_dim: size of z.
        resolution: output height and width (8, 16, 28, 32, 64, ...).
        channels: 1 or 3.
        width: filters of the last hidden layer; the projection has width * 2^(k-1).
        seed: seed for the weight initialisers.
    """
    start, doublings = start_size(resolution)
    init = normal_initializers(seed)
    filters = width * 2 ** (doublings - 1)
    z = keras.Input((latent_dim,), name="z")
    x = layers.Dense(start * start * filters, use_bias=False, kernel_initializer=init())(z)
    x = layers.Reshape((start, start, filters))(x)
    x = batch_normalization()(x)
    x = layers.ReLU()(x)
    for _ in range(doublings - 1):
        filters //= 2
        x = layers.Conv2DTranspose(
            filters, KERNEL_SIZE, strides=2, padding="same", use_bias=False,
            kernel_initializer=init(),
        )(x)
        x = batch_normalization()(x)
        x = layers.ReLU()(x)
    x = layers.Conv2DTranspose(
        channels, KERNEL_SIZE, strides=2, padding="same", kernel_initializer=init()
    )(x)
    # float32 output keeps tanh exact under mixed precision.
    images = layers.Activation("tanh", dtype="float32", name="images")(x)
    return keras.Model(z, images, name="dcgan_generator")


def dcgan_discriminator(resolution=32, channels=1, width=64, norm="batch", seed=None):
    """DCGAN discriminator ``images -> logits [B, 1]`` (no sigmoid: objectives take logits).

    Args:
        resolution, channels: input image shape.
        width: filters of the first convolution, doubled at every stride-2 step.
        norm: ``"batch"`` (DCGAN), ``"layer"`` (WGAN-GP: batch norm would couple the
            examples the gradient penalty treats independently, Gulrajani et al. Sec. 4),
            ``"spectral"`` (SN-GAN: every weight spectrally normalized, no other
            normalization, Miyato et al. 2018), or ``"none"``.
    """
    if norm not in DISCRIMINATOR_NORMS:
        raise UserInputError(f"unknown discriminator norm {norm!r}; choose {DISCRIMINATOR_NORMS}")
    start, doublings = start_size(resolution)
    init = normal_initializers(seed)
    wrap = SpectralNormalization if norm == "spectral" else (lambda layer: layer)
    images = keras.Input((resolution, resolution, channels), name="images")
    x = images
    filters = width
    for i in range(doublings):
        x = wrap(
            layers.Conv2D(
                filters, KERNEL_SIZE, strides=2, padding="same", kernel_initializer=init()
            )
        )(x)
        if i > 0 and norm == "batch":
            x = batch_normalization()(x)
        elif i > 0 and norm == "layer":
            # Statistics over H, W and C with a scale per channel, as WGAN-GP's critic.
            x = layers.GroupNormalization(groups=1, epsilon=1e-5)(x)
        x = layers.LeakyReLU(0.2)(x)
        filters *= 2
    x = layers.Flatten()(x)
    logits = wrap(layers.Dense(1, kernel_initializer=init()))(x)
    logits = layers.Activation("linear", dtype="float32", name="logits")(logits)
    return keras.Model(images, logits, name="dcgan_discriminator")
