"""ResNet generator and discriminator of SN-GAN and WGAN-GP, as functional Keras models.

The CIFAR-10 architectures of Miyato et al. 2018 (Appendix B, Table 4; the STL-10 model of
Table 5 has the same blocks) and Gulrajani et al. 2017 (Appendix F and their
``gan_cifar_resnet.py``): pre-activation residual blocks that upsample by nearest
neighbour in the generator and downsample by 2x2 average pooling in the discriminator,
a 4x4 start map in the generator, and global sum pooling before the discriminator's
linear output. One constant ``width`` runs through every block, as in those CIFAR models;
other resolutions add or remove up/down blocks.
"""

from __future__ import annotations

import math

import keras
from keras import layers, ops

from gan_apps.errors import UserInputError
from gan_apps.initializers import LayerSeeds
from gan_apps.layers.batch_norm import batch_normalization
from gan_apps.layers.spectral import SpectralNormalization

RESOLUTIONS = (16, 32, 64, 128)
DISCRIMINATOR_NORMS = ("batch", "layer", "none", "spectral")
START_SIZE = 4
# The discriminator downsamples to 8x8, then runs this many non-resampling blocks
# (Miyato et al. 2018, Table 4: two "ResBlock 128" after the two "ResBlock down 128").
FINAL_SIZE = 8
FINAL_BLOCKS = 2


@keras.saving.register_keras_serializable(package="gan_apps")
class GlobalSumPooling2D(keras.layers.Layer):
    """Sum over height and width: ``[B, H, W, C] -> [B, C]`` (Miyato et al. 2018, Table 4).

    A sum, not a mean, as in the paper: the mean would rescale the input of the
    (spectrally normalized) output layer by 1 / (H * W).
    """

    def call(self, inputs):
        return ops.sum(inputs, axis=(1, 2))

    def compute_output_shape(self, input_shape):
        return (input_shape[0], input_shape[3])


def _check_resolution(resolution):
    if not isinstance(resolution, int) or resolution not in RESOLUTIONS:
        raise UserInputError(
            f"ResNet models support resolution {', '.join(map(str, RESOLUTIONS))}; "
            f"got {resolution!r}. Resize the images to one of those."
        )


def _check_channels(channels):
    if not isinstance(channels, int) or channels < 1:
        raise UserInputError(f"channels must be a positive integer (1 or 3), got {channels!r}")


class _Initializers:
    """Weight initialisers of Miyato et al.'s code: Glorot uniform, gain sqrt(2) in residuals.

    ``residual()`` and ``plain()`` share one :class:`gan_apps.initializers.LayerSeeds`
    counter: the k-th initializer a network asks for, of either kind, is seeded ``seed + k``.
    """

    def __init__(self, seed):
        seeds = LayerSeeds(seed)
        # Glorot uniform with gain g is VarianceScaling(g**2, "fan_avg", "uniform").
        self.residual = seeds.initializers(
            keras.initializers.VarianceScaling, scale=2.0, mode="fan_avg", distribution="uniform")
        self.plain = seeds.initializers(keras.initializers.GlorotUniform)


def _conv(filters, kernel_size, initializer):
    return layers.Conv2D(filters, kernel_size, padding="same", kernel_initializer=initializer)


def _generator_block(x, width, init):
    """Up ResBlock (Miyato et al. 2018, Table 4(a)): BN-ReLU-up-conv3-BN-ReLU-conv3 + up-conv1."""
    h = batch_normalization()(x)
    h = layers.ReLU()(h)
    h = layers.UpSampling2D(2, interpolation="nearest")(h)
    h = _conv(width, 3, init.residual())(h)
    h = batch_normalization()(h)
    h = layers.ReLU()(h)
    h = _conv(width, 3, init.residual())(h)
    shortcut = layers.UpSampling2D(2, interpolation="nearest")(x)
    shortcut = _conv(width, 1, init.plain())(shortcut)
    return layers.Add()([h, shortcut])


def resnet_generator(latent_dim=128, resolution=32, channels=3, width=128, seed=None):
    """ResNet generator ``z [B, latent_dim] -> images [B, R, R, channels]`` in [-1, 1].

    Miyato et al. 2018, Table 4(a): z -> dense 4x4xwidth -> log2(R/4) up ResBlocks
    (three for 32x32) -> BN, ReLU, conv3x3 -> tanh. Table 4 uses width 256; Gulrajani
    et al. 2017 (Appendix F) use 128 for CIFAR-10.

    Args:
        latent_dim: size of z (128 in both papers).
        resolution: output height and width: 16, 32, 64 or 128.
        channels: output channels (1 or 3).
        width: filters of every residual block.
        seed: base seed of the weight initialisers.
    """
    _check_resolution(resolution)
    _check_channels(channels)
    init = _Initializers(seed)
    z = keras.Input((latent_dim,), name="z")
    x = layers.Dense(START_SIZE * START_SIZE * width, kernel_initializer=init.plain())(z)
    x = layers.Reshape((START_SIZE, START_SIZE, width))(x)
    for _ in range(int(math.log2(resolution // START_SIZE))):
        x = _generator_block(x, width, init)
    x = batch_normalization()(x)
    x = layers.ReLU()(x)
    x = _conv(channels, 3, init.plain())(x)
    # float32 output keeps tanh exact under mixed precision.
    images = layers.Activation("tanh", dtype="float32", name="images")(x)
    return keras.Model(z, images, name="resnet_generator")


def _discriminator_block(x, width, init, norm, wrap, downsample):
    """D ResBlock (Miyato et al. 2018, Table 4(b)): [norm]-ReLU-conv3-[norm]-ReLU-conv3[-pool].

    The shortcut is conv1x1 then average pooling when the block downsamples, and the
    identity otherwise (the width never changes after the first block).
    """
    h = x
    for _ in range(2):
        h = _normalize(h, norm)
        h = layers.ReLU()(h)
        h = wrap(_conv(width, 3, init.residual()))(h)
    shortcut = x
    if downsample:
        h = layers.AveragePooling2D(2)(h)
        shortcut = wrap(_conv(width, 1, init.plain()))(shortcut)
        shortcut = layers.AveragePooling2D(2)(shortcut)
    return layers.Add()([h, shortcut])


def _optimized_block(x, width, init, wrap):
    """First D block: conv3-ReLU-conv3-pool + pool-conv1 (no activation on raw pixels).

    Miyato et al. 2018, Table 4(b), first "ResBlock down", as in their released code and
    Gulrajani et al.'s ``OptimizedResBlockDisc1``, which normalizes nothing here.
    """
    h = wrap(_conv(width, 3, init.residual()))(x)
    h = layers.ReLU()(h)
    h = wrap(_conv(width, 3, init.residual()))(h)
    h = layers.AveragePooling2D(2)(h)
    shortcut = layers.AveragePooling2D(2)(x)
    shortcut = wrap(_conv(width, 1, init.plain()))(shortcut)
    return layers.Add()([h, shortcut])


def _normalize(x, norm):
    if norm == "batch":
        return batch_normalization()(x)
    if norm == "layer":
        # Gulrajani et al.'s layer norm: statistics over H, W, C per example, one scale
        # and offset per channel (GroupNormalization with one group), epsilon 1e-5.
        return layers.GroupNormalization(groups=1, epsilon=1e-5)(x)
    return x


def resnet_discriminator(resolution=32, channels=3, width=128, norm="spectral", seed=None):
    """ResNet discriminator ``images -> logits [B, 1]`` (no sigmoid: objectives take logits).

    Miyato et al. 2018, Table 4(b) for 32x32: optimized down block, ResBlock down,
    two ResBlocks, ReLU, global sum pooling, dense -> 1. Other resolutions add or remove
    down blocks so that the two non-resampling blocks always run at 8x8.

    Args:
        resolution: input height and width: 16, 32, 64 or 128.
        channels: input channels (1 or 3).
        width: filters of every residual block (128 in both papers).
        norm: ``"spectral"`` (SN-GAN: every Conv2D and Dense spectrally normalized, no
            other normalization), ``"layer"`` (WGAN-GP: layer norm before each ReLU of
            the residual blocks, since batch norm would couple the examples the gradient
            penalty treats independently, Gulrajani et al. 2017, Sec. 4), ``"batch"``
            (batch norm in the same places) or ``"none"``.
        seed: base seed of the weight initialisers.
    """
    if norm not in DISCRIMINATOR_NORMS:
        raise UserInputError(f"unknown discriminator norm {norm!r}; choose {DISCRIMINATOR_NORMS}")
    _check_resolution(resolution)
    _check_channels(channels)
    init = _Initializers(seed)
    wrap = SpectralNormalization if norm == "spectral" else (lambda layer: layer)
    images = keras.Input((resolution, resolution, channels), name="images")
    x = _optimized_block(images, width, init, wrap)
    for _ in range(int(math.log2(resolution // FINAL_SIZE)) - 1):
        x = _discriminator_block(x, width, init, norm, wrap, downsample=True)
    for _ in range(FINAL_BLOCKS):
        x = _discriminator_block(x, width, init, norm, wrap, downsample=False)
    x = layers.ReLU()(x)
    x = GlobalSumPooling2D()(x)
    logits = wrap(layers.Dense(1, kernel_initializer=init.plain()))(x)
    logits = layers.Activation("linear", dtype="float32", name="logits")(logits)
    return keras.Model(images, logits, name="resnet_discriminator")
