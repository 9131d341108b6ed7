"""Small fully connected generator and discriminator for 2-D mixtures.

Three hidden layers of 128 units and a 2-D latent by default, as in the toy
experiments of Gulrajani et al. 2017 (their networks are 512 wide; 128 trains
several times faster on CPU and still covers the ring and grid mixtures).
The activation and the weight initialisation are options so that other papers' toy
networks can be built too (the unrolled GAN's reference notebook: tanh, orthogonal
weights with gain 1.4).
"""

from __future__ import annotations

import keras
from keras import layers

from gan_apps.errors import UserInputError
from gan_apps.initializers import LayerSeeds
from gan_apps.layers.spectral import SpectralNormalization

INITIALIZERS = ("he_normal", "orthogonal")
# Gain of the orthogonal initialiser (Saxe et al. 2014) in the unrolled GAN notebook.
ORTHOGONAL_GAIN = 1.4


def _kernel_initializer(kind, seed):
    if kind == "he_normal":
        return keras.initializers.HeNormal(seed)
    if kind == "orthogonal":
        return keras.initializers.Orthogonal(gain=ORTHOGONAL_GAIN, seed=seed)
    raise UserInputError(f"unknown initializer {kind!r}; choose one of: {', '.join(INITIALIZERS)}")


def _output_initializer(initializer, seeds):
    """The last layer's: orthogonal like the hidden layers (with the seed after theirs),
    else Keras' Glorot uniform."""
    if initializer == "orthogonal":
        return _kernel_initializer(initializer, seeds())
    return "glorot_uniform"


def _activation(name):
    return layers.LeakyReLU(0.2) if name == "leaky_relu" else layers.Activation(name)


def mlp_generator(latent_dim=2, output_dim=2, hidden=(128, 128, 128), seed=None,
                  activation="relu", initializer="he_normal"):
    """MLP generator ``z -> points [B, output_dim]`` with ``activation`` hidden layers, linear output.

    ``initializer`` (he_normal or orthogonal) is used for the hidden layers, and for the
    output layer too when orthogonal (else Keras' Glorot uniform).
    """
    seeds = LayerSeeds(seed)
    z = keras.Input((latent_dim,), name="z")
    x = z
    for units in hidden:
        x = layers.Dense(units, kernel_initializer=_kernel_initializer(initializer, seeds()))(x)
        x = _activation(activation)(x)
    points = layers.Dense(output_dim, kernel_initializer=_output_initializer(initializer, seeds),
                          dtype="float32", name="points")(x)
    return keras.Model(z, points, name="mlp_generator")


def mlp_discriminator(input_dim=2, hidden=(128, 128, 128), norm="none", seed=None,
                      activation="leaky_relu", initializer="he_normal"):
    """MLP discriminator ``points -> logits [B, 1]``; ``norm="spectral"`` wraps every Dense.

    ``activation``: "leaky_relu" (slope 0.2) or any Keras activation name.
    ``initializer`` as :func:`mlp_generator`.
    """
    wrap = SpectralNormalization if norm == "spectral" else (lambda layer: layer)
    seeds = LayerSeeds(seed)
    points = keras.Input((input_dim,), name="points")
    x = points
    for units in hidden:
        x = wrap(layers.Dense(units, kernel_initializer=_kernel_initializer(initializer, seeds())))(x)
        x = _activation(activation)(x)
    logits = wrap(layers.Dense(1, kernel_initializer=_output_initializer(initializer, seeds)))(x)
    logits = layers.Activation("linear", dtype="float32", name="logits")(logits)
    return keras.Model(points, logits, name="mlp_discriminator")
