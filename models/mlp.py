"""Small fully connected generator and discriminator for 2-D mixtures.

Three hidden layers of 128 units and a 2-D latent by default, as in the toy
experiments of Gulrajani et al. 2017 (their networks are 512 wide; 128 trains
several times faster on CPU and still covers the ring and grid mixtures).
"""

from __future__ import annotations

import keras
from keras import layers

from gan_apps.layers import SpectralNormalization


def _offset(seed, layer):
    """A distinct seed per layer: a seeded Keras initializer repeats its values."""
    return None if seed is None else seed + layer


def mlp_generator(latent_dim=2, output_dim=2, hidden=(128, 128, 128), seed=None):
    """MLP generator ``z -> points [B, output_dim]`` with ReLU hidden layers, linear output."""
    z = keras.Input((latent_dim,), name="z")
    x = z
    for i, units in enumerate(hidden):
        x = layers.Dense(units, activation="relu",
                         kernel_initializer=keras.initializers.HeNormal(_offset(seed, i)))(x)
    points = layers.Dense(output_dim, dtype="float32", name="points")(x)
    return keras.Model(z, points, name="mlp_generator")


def mlp_discriminator(input_dim=2, hidden=(128, 128, 128), norm="none", seed=None):
    """MLP discriminator ``points -> logits [B, 1]``; ``norm="spectral"`` wraps every Dense."""
    wrap = SpectralNormalization if norm == "spectral" else (lambda layer: layer)
    points = keras.Input((input_dim,), name="points")
    x = points
    for i, units in enumerate(hidden):
        x = wrap(layers.Dense(units, kernel_initializer=keras.initializers.HeNormal(_offset(seed, i))))(x)
        x = layers.LeakyReLU(0.2)(x)
    logits = wrap(layers.Dense(1))(x)
    logits = layers.Activation("linear", dtype="float32", name="logits")(logits)
    return keras.Model(points, logits, name="mlp_discriminator")
