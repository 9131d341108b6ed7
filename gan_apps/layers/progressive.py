"""Layers of progressive growing (Karras et al. 2018, "Progressive Growing of GANs for
Improved Quality, Stability, and Variation").

- :class:`EqualizedDense`, :class:`EqualizedConv2D`: the equalized learning rate
  (Sec. 4.1): N(0, 1) weights scaled at run time by He's constant, so Adam moves every
  layer at the same speed;
- :class:`PixelNormalization`: pixelwise feature vector normalization in G (Sec. 4.2);
- :class:`MinibatchStdDev`: the minibatch standard deviation feature of D (Sec. 3), which
  lets D see the variation of a batch and discourages mode collapse;
- :class:`FadeIn`, :class:`StageSelect`: the smooth fade-in of a new resolution (Sec. 3,
  Fig. 2) and a saved switch between the stages, so one functional model holds every
  stage of the schedule (``gan_apps.models.progan``).
"""

from __future__ import annotations

import keras
from keras import ops


def he_scale(fan_in, gain=2.0 ** 0.5):
    """The He constant c = gain / sqrt(fan_in) of the equalized learning rate.

    Karras et al. 2018, Sec. 4.1: weights are drawn from N(0, 1) and multiplied by the
    per-layer constant c of He et al. 2015 at run time, so that Adam's scale-invariant
    step moves every layer's effective weights at the same speed.
    """
    return float(gain) / float(fan_in) ** 0.5


@keras.saving.register_keras_serializable(package="gan_apps")
class EqualizedDense(keras.layers.Layer):
    """Dense layer with an equalized learning rate: y = x (c W) + b, W ~ N(0, 1).

    Karras et al. 2018, Sec. 4.1, with c = :func:`he_scale` (fan_in = input units).

    Args:
        units: output units.
        gain: the He gain (sqrt(2) before a (leaky) ReLU, 1 for a linear output).
        use_bias: add a bias initialised to zero.
        seed: seed of the N(0, 1) initialiser.
    """

    def __init__(self, units, gain=2.0 ** 0.5, use_bias=True, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.units = int(units)
        self.gain = float(gain)
        self.use_bias = bool(use_bias)
        self.seed = seed

    def build(self, input_shape):
        fan_in = int(input_shape[-1])
        self.scale = he_scale(fan_in, self.gain)
        self.kernel = self.add_weight(
            name="kernel", shape=(fan_in, self.units),
            initializer=keras.initializers.RandomNormal(0.0, 1.0, seed=self.seed),
        )
        self.bias = self.add_weight(name="bias", shape=(self.units,), initializer="zeros") \
            if self.use_bias else None

    def call(self, inputs):
        outputs = ops.matmul(inputs, self.kernel * self.scale)
        return outputs + self.bias if self.use_bias else outputs

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], self.units)

    def get_config(self):
        return {**super().get_config(), "units": self.units, "gain": self.gain,
                "use_bias": self.use_bias, "seed": self.seed}


@keras.saving.register_keras_serializable(package="gan_apps")
class EqualizedConv2D(keras.layers.Layer):
    """Stride-1 "same" convolution with an equalized learning rate (Karras et al. 2018, Sec. 4.1).

    y = conv(x, c W) + b with W ~ N(0, 1) and c = :func:`he_scale` of
    fan_in = kernel_size^2 * input channels.

    Args:
        filters: output channels.
        kernel_size: square kernel size (3 for the blocks, 1 for toRGB / fromRGB).
        gain: the He gain (sqrt(2) before a leaky ReLU, 1 for toRGB).
        seed: seed of the N(0, 1) initialiser.
    """

    def __init__(self, filters, kernel_size=3, gain=2.0 ** 0.5, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.filters = int(filters)
        self.kernel_size = int(kernel_size)
        self.gain = float(gain)
        self.seed = seed

    def build(self, input_shape):
        channels = int(input_shape[-1])
        self.scale = he_scale(self.kernel_size * self.kernel_size * channels, self.gain)
        self.kernel = self.add_weight(
            name="kernel", shape=(self.kernel_size, self.kernel_size, channels, self.filters),
            initializer=keras.initializers.RandomNormal(0.0, 1.0, seed=self.seed),
        )
        self.bias = self.add_weight(name="bias", shape=(self.filters,), initializer="zeros")

    def call(self, inputs):
        return ops.conv(inputs, self.kernel * self.scale, padding="same") + self.bias

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], self.filters)

    def get_config(self):
        return {**super().get_config(), "filters": self.filters, "kernel_size": self.kernel_size,
                "gain": self.gain, "seed": self.seed}


@keras.saving.register_keras_serializable(package="gan_apps")
class PixelNormalization(keras.layers.Layer):
    """Pixelwise feature vector normalization (Karras et al. 2018, Sec. 4.2, eq. 1).

    b_{x,y} = a_{x,y} / sqrt(mean_j (a^j_{x,y})^2 + epsilon) over the C channels of each
    pixel (or of each vector, for a rank-2 input such as z); epsilon = 1e-8.
    """

    def __init__(self, epsilon=1e-8, **kwargs):
        super().__init__(**kwargs)
        self.epsilon = float(epsilon)

    def call(self, inputs):
        return inputs * ops.rsqrt(ops.mean(ops.square(inputs), axis=-1, keepdims=True) + self.epsilon)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "epsilon": self.epsilon}


@keras.saving.register_keras_serializable(package="gan_apps")
class MinibatchStdDev(keras.layers.Layer):
    """Minibatch standard deviation feature map (Karras et al. 2018, Sec. 3).

    The standard deviation of every feature at every location over a group of examples,
    averaged over features and locations into one value per group, is appended to the
    input as one more channel. Groups follow the authors' code (``group_size`` 4; examples
    ``m, m + B/G, m + 2B/G, ...`` form group m); when
    the batch is not a multiple of the group size the whole batch is one group (the
    paper's text). std = sqrt(mean((x - mean x)^2) + 1e-8), the biased variance.

    Args:
        group_size: examples per group (None: the whole batch).
        epsilon: added to the variance before the square root.
    """

    def __init__(self, group_size=4, epsilon=1e-8, **kwargs):
        super().__init__(**kwargs)
        self.group_size = None if group_size is None else int(group_size)
        self.epsilon = float(epsilon)

    def call(self, inputs):
        shape = ops.shape(inputs)
        batch = shape[0]
        if self.group_size is None:
            group = batch
        else:
            group = ops.minimum(self.group_size, batch)
            group = ops.where(ops.equal(batch % group, 0), group, batch)
        x = ops.cast(inputs, "float32")
        # [G, M, H, W, C]: group g holds examples m, m + M, ... as the authors' reshape does.
        grouped = ops.reshape(x, (group, -1, shape[1], shape[2], shape[3]))
        centred = grouped - ops.mean(grouped, axis=0, keepdims=True)
        std = ops.sqrt(ops.mean(ops.square(centred), axis=0) + self.epsilon)  # [M, H, W, C]
        per_group = ops.mean(std, axis=(1, 2, 3))  # [M]
        feature = ops.tile(ops.reshape(per_group, (-1, 1, 1, 1)), (group, shape[1], shape[2], 1))
        return ops.concatenate([inputs, ops.cast(feature, inputs.dtype)], axis=-1)

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], input_shape[-1] + 1)

    def get_config(self):
        return {**super().get_config(), "group_size": self.group_size, "epsilon": self.epsilon}


@keras.saving.register_keras_serializable(package="gan_apps")
class FadeIn(keras.layers.Layer):
    """(1 - alpha) * low + alpha * high, alpha a saved non-trainable weight in [0, 1].

    The smooth fade-in of a new resolution block (Karras et al. 2018, Sec. 3 and Fig. 2):
    ``low`` is the old path (upsampled toRGB output in G, downsampled fromRGB input in D),
    ``high`` the new block's output. The training model sets alpha from the images seen.
    """

    def build(self, input_shape):
        self.alpha = self.add_weight(
            name="alpha", shape=(), initializer="zeros", dtype="float32", trainable=False,
            autocast=False, aggregation="only_first_replica",
        )

    def call(self, inputs):
        low, high = inputs
        alpha = ops.cast(self.alpha, low.dtype)
        return low + alpha * (high - low)

    def compute_output_shape(self, input_shape):
        return input_shape[0]


@keras.saving.register_keras_serializable(package="gan_apps")
class StageSelect(keras.layers.Layer):
    """Output ``inputs[stage]`` of a list of same-shaped tensors; ``stage`` a saved int weight.

    Lets one functional model hold every stage of a progressively grown network and answer
    with the stage being trained (Karras et al. 2018): the saved generator then samples
    like the training one at any point of the schedule.
    """

    def build(self, input_shape):
        self.stage = self.add_weight(
            name="stage", shape=(), initializer="zeros", dtype="int32", trainable=False,
            autocast=False, aggregation="only_first_replica",
        )
        self.num_inputs = len(input_shape)

    def call(self, inputs):
        stacked = ops.stack(list(inputs), axis=0)
        return ops.take(stacked, ops.clip(self.stage, 0, self.num_inputs - 1), axis=0)

    def compute_output_shape(self, input_shape):
        return input_shape[0]
