"""Building blocks of SAGAN and BigGAN (Zhang et al. 2019, "Self-Attention Generative
Adversarial Networks"; Brock et al. 2019, "Large Scale GAN Training for High Fidelity
Natural Image Synthesis").

- :class:`SelfAttention`: SAGAN's non-local block (Zhang et al. 2019, Sec. 4), which
  lets G and D relate distant regions of an image that convolutions see only through
  many layers;
- :class:`ConditionalBatchNormalization`: BigGAN's class-conditional batch norm fed by
  a shared class embedding and a chunk of z (Brock et al. 2019, Sec. 3, Appendix B).

Both spectrally normalize their projections by default (:mod:`gan_apps.layers.spectral`),
as the two papers do for every weight. The networks that use them are in
``gan_apps.models.biggan``.
"""

from __future__ import annotations

import keras
from keras import ops

from gan_apps.initializers import LayerSeeds
from gan_apps.layers.spectral import maybe_spectral


@keras.saving.register_keras_serializable(package="gan_apps")
class SelfAttention(keras.layers.Layer):
    """Self-attention (non-local) block of SAGAN (Zhang et al. 2019, Sec. 4, eq. 1-3).

    f = W_f x, g = W_g x, h = W_h x (1x1 convolutions to C/8 channels);
    beta_{j,i} = softmax_i(f(x_i)^T g(x_j)) over the N = H*W locations i;
    o_j = W_v sum_i beta_{j,i} h(x_i) (a 1x1 convolution back to C channels);
    y = gamma * o + x with the learned scalar gamma initialised to 0, so the block starts
    as the identity and learns to use non-local evidence.

    Args:
        reduction: C / C-bar (8 in the paper).
        spectral: spectrally normalize the four 1x1 convolutions (SAGAN, BigGAN).
        seed: initialiser seed.
    """

    def __init__(self, reduction=8, spectral=True, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.reduction = int(reduction)
        self.spectral = bool(spectral)
        self.seed = seed

    def build(self, input_shape):
        channels = int(input_shape[-1])
        inner = max(1, channels // self.reduction)

        seeds = LayerSeeds(self.seed)  # query, key, value, out: seed + 0 .. seed + 3

        def conv(filters):
            init = seeds.initializer(keras.initializers.GlorotUniform)
            return maybe_spectral(
                keras.layers.Conv2D(filters, 1, use_bias=False, kernel_initializer=init),
                self.spectral)

        self.query = conv(inner)
        self.key = conv(inner)
        self.value = conv(inner)
        self.out = conv(channels)
        for layer in (self.query, self.key, self.value):
            layer.build(input_shape)
        self.out.build((*input_shape[:-1], inner))
        self.gamma = self.add_weight(name="gamma", shape=(), initializer="zeros")

    def call(self, inputs, training=None):
        shape = ops.shape(inputs)
        locations = shape[1] * shape[2]
        f = ops.reshape(self.query(inputs, training=training), (shape[0], locations, -1))
        g = ops.reshape(self.key(inputs, training=training), (shape[0], locations, -1))
        h = ops.reshape(self.value(inputs, training=training), (shape[0], locations, -1))
        # scores[b, j, i] = g(x_j) . f(x_i): row j attends over all locations i.
        scores = ops.matmul(g, ops.transpose(f, (0, 2, 1)))
        beta = ops.softmax(ops.cast(scores, "float32"), axis=-1)
        attended = ops.matmul(ops.cast(beta, h.dtype), h)
        attended = ops.reshape(attended, (shape[0], shape[1], shape[2], -1))
        return inputs + ops.cast(self.gamma, inputs.dtype) * self.out(attended, training=training)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "reduction": self.reduction, "spectral": self.spectral,
                "seed": self.seed}


@keras.saving.register_keras_serializable(package="gan_apps")
class ConditionalBatchNormalization(keras.layers.Layer):
    """Class-conditional batch normalization fed by a conditioning vector (BigGAN).

    y = (1 + gain(c)) * BN(x) + bias(c), BN without its own affine parameters and
    gain, bias linear maps of the conditioning vector c (de Vries et al. 2017; Dumoulin
    et al. 2017). In BigGAN (Brock et al. 2019, Sec. 3 and Appendix B) c is a shared class
    embedding concatenated with this block's chunk of z (hierarchical latent, "skip-z"),
    and gain / bias are spectrally normalized projections. Statistics are synchronized
    across replicas (:func:`gan_apps.layers.batch_norm.batch_normalization`).

    Call on ``[x [B, H, W, C], c [B, E]]``.

    Args:
        spectral: spectrally normalize the two projections.
        momentum, epsilon: of the batch statistics.
        seed: initialiser seed of the projections.
    """

    def __init__(self, spectral=True, momentum=0.9, epsilon=1e-5, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.spectral = bool(spectral)
        self.momentum = float(momentum)
        self.epsilon = float(epsilon)
        self.seed = seed

    def build(self, input_shape):
        x_shape, c_shape = input_shape
        channels = int(x_shape[-1])
        self.norm = keras.layers.BatchNormalization(
            center=False, scale=False, momentum=self.momentum, epsilon=self.epsilon,
            synchronized=True,
        )
        self.norm.build(x_shape)

        seeds = LayerSeeds(self.seed)  # gain, bias: seed + 0, seed + 1

        def projection():
            init = seeds.initializer(keras.initializers.GlorotUniform)
            return maybe_spectral(
                keras.layers.Dense(channels, use_bias=False, kernel_initializer=init), self.spectral)

        self.gain = projection()
        self.bias = projection()
        self.gain.build(c_shape)
        self.bias.build(c_shape)

    def call(self, inputs, training=None):
        x, condition = inputs
        normalized = self.norm(x, training=training)
        gain = 1.0 + self.gain(condition, training=training)
        bias = self.bias(condition, training=training)
        gain = ops.cast(gain[:, None, None, :], normalized.dtype)
        bias = ops.cast(bias[:, None, None, :], normalized.dtype)
        return normalized * gain + bias

    def compute_output_shape(self, input_shape):
        return input_shape[0]

    def get_config(self):
        return {**super().get_config(), "spectral": self.spectral, "momentum": self.momentum,
                "epsilon": self.epsilon, "seed": self.seed}
