"""GAN layers: spectral normalization (Miyato et al. 2018) as a Keras wrapper.

``SpectralNormalization(layer)`` divides the wrapped layer's kernel by an estimate of
its largest singular value on every forward pass. Unlike
``keras.layers.SpectralNormalization`` it never overwrites the kernel variable, and the
gradient flows through sigma(W) into W, as in the paper and in PyTorch.
"""

from __future__ import annotations

import keras
from keras import ops

# Not exported by keras: the only way to read a float32 variable as float32 inside a
# layer whose compute dtype is float16 (Layer.__call__ opens a float16 autocast scope).
from keras.src.backend import AutocastScope

_SUPPORTED = (
    keras.layers.Dense,
    keras.layers.Conv2D,
    keras.layers.Conv2DTranspose,
    keras.layers.Embedding,
)


def layer_seed(seed, layer):
    """A distinct seed per layer (None stays None): a seeded Keras initializer repeats its
    values, so layers built from one seed need offsets."""
    return None if seed is None else seed + layer


def _unit_normal(shape, dtype=None):
    """A random direction: a standard normal draw scaled to unit length."""
    u = keras.random.normal(shape, dtype=dtype)
    return u / ops.norm(u)


@keras.saving.register_keras_serializable(package="gan_apps")
class SpectralNormalization(keras.layers.Wrapper):
    """Spectrally normalized ``Dense``, ``Conv2D``, ``Conv2DTranspose`` or ``Embedding``.

    Implements W_SN = W / sigma(W) (Miyato et al. 2018, eq. 8) with sigma estimated by
    the power iteration of Algorithm 1: v = W^T u / ||W^T u||, u = W v / ||W v||,
    sigma = u^T W v, where u and v are constants for the gradient (stop_gradient) and
    the gradient reaches W through both W and sigma(W).

    Matrix view of the kernel, with the output channels as the columns
    (``[fan_in, out]``, the transpose of the paper's ``W``): Dense ``(in, out)`` as is;
    Conv2D ``(h, w, in, out) -> (h*w*in, out)``; Conv2DTranspose ``(h, w, out, in)``,
    whose output channels are axis 2, is transposed to ``(h, w, in, out)`` first;
    Embedding ``(vocab, dim)`` as is. The persistent vector ``u`` has shape
    ``(1, out)``; the top singular value is the same for either orientation, which
    only decides which side the state lives on (this matches PyTorch's
    ``torch.nn.utils.spectral_norm`` for Dense, Conv and ConvTranspose).

    ``u`` is a saved, non-trainable float32 weight, updated only in a call with
    ``training=True``; an inference call reads it and leaves it unchanged. sigma is
    always computed in float32 and the normalized kernel is cast to the layer's compute
    dtype, so the wrapper works under mixed precision.

    Args:
        layer: an instance of one of the four supported layer types (exactly those
            classes: a subclass may change ``call``, which this wrapper reimplements).
        power_iterations: power-iteration steps per training call (1 in the paper).
        epsilon: lower bound on the norm when normalizing u and v.
        **kwargs: base layer arguments; ``dtype`` defaults to the wrapped layer's.
    """

    def __init__(self, layer, power_iterations=1, epsilon=1e-12, **kwargs):
        if type(layer) not in _SUPPORTED:
            names = ", ".join(f"keras.layers.{cls.__name__}" for cls in _SUPPORTED)
            raise TypeError(
                f"SpectralNormalization wraps only {names}; got "
                f"{type(layer).__module__}.{type(layer).__name__}. Wrap one of those "
                "layers, or normalize this layer's weights some other way."
            )
        if int(power_iterations) != power_iterations or power_iterations < 1:
            raise ValueError(f"power_iterations must be an integer >= 1; got {power_iterations!r}")
        if not epsilon > 0:
            raise ValueError(f"epsilon must be > 0; got {epsilon!r}")
        # The wrapper computes in the wrapped layer's precision unless told otherwise.
        kwargs.setdefault("dtype", layer.dtype_policy)
        super().__init__(layer, **kwargs)
        self.power_iterations = int(power_iterations)
        self.epsilon = float(epsilon)
        self.supports_masking = layer.supports_masking

    def build(self, input_shape):
        super().build(input_shape)
        if self.layer.quantization_mode is not None:
            raise ValueError(
                f"SpectralNormalization cannot wrap a layer quantized with "
                f"{self.layer.quantization_mode!r}; wrap the float layer and quantize after."
            )
        out_dim = self._matrix(self._raw_kernel()).shape[-1]
        self.u = self.add_weight(
            name="u",
            shape=(1, out_dim),
            initializer=_unit_normal,
            dtype="float32",
            trainable=False,
            autocast=False,
            # Every replica computes the same u from the same W and u; keeping the
            # first replica's value makes the replica-context assign well defined.
            aggregation="only_first_replica",
        )

    def _raw_kernel(self):
        if isinstance(self.layer, keras.layers.Embedding):
            return self.layer.embeddings
        return self.layer.kernel

    def _matrix(self, kernel):
        """The ``[fan_in, out]`` matrix view described in the class docstring."""
        if isinstance(self.layer, keras.layers.Conv2DTranspose):
            kernel = ops.transpose(kernel, (0, 1, 3, 2))
        return ops.reshape(kernel, (-1, kernel.shape[-1]))

    def _normalize(self, x):
        return x / ops.maximum(ops.norm(x), self.epsilon)

    def _sigma(self, training):
        """Returns (kernel, sigma, new u or None), all float32; sigma carries W's gradient."""
        with AutocastScope(None):
            kernel = ops.cast(self._raw_kernel(), "float32")
        matrix = self._matrix(kernel)
        frozen = ops.stop_gradient(matrix)
        u = self.u.value
        new_u = None
        if training:
            for _ in range(self.power_iterations):
                v = self._normalize(ops.matmul(u, ops.transpose(frozen)))
                vw = ops.matmul(v, frozen)
                # A zero kernel gives a zero vector; keep the old direction so u can
                # recover once W is non-zero.
                u = ops.where(ops.norm(vw) > self.epsilon, self._normalize(vw), u)
            new_u = u
        else:
            v = self._normalize(ops.matmul(u, ops.transpose(frozen)))
        u = ops.stop_gradient(u)
        v = ops.stop_gradient(v)
        sigma = ops.sum(ops.matmul(v, matrix) * u)
        return kernel, sigma, new_u

    def spectral_norm(self):
        """Current estimate of sigma(W) from the stored ``u`` (float32 scalar; u unchanged)."""
        if not self.built:
            raise ValueError("Call the layer on an input before asking for its spectral norm.")
        return self._sigma(training=False)[1]

    def call(self, inputs, training=None):
        kernel, sigma, new_u = self._sigma(bool(training))
        if new_u is not None:
            self.u.assign(new_u)
        # A zero kernel has sigma 0: dividing by epsilon keeps the output 0, not NaN.
        kernel = ops.cast(kernel / ops.maximum(sigma, self.epsilon), self.compute_dtype)
        layer = self.layer
        if isinstance(layer, keras.layers.Embedding):
            if keras.backend.standardize_dtype(inputs.dtype) not in ("int32", "int64"):
                inputs = ops.cast(inputs, "int32")
            return ops.take(kernel, inputs, axis=0)

        if isinstance(layer, keras.layers.Dense):
            outputs = ops.matmul(inputs, kernel)
        elif isinstance(layer, keras.layers.Conv2DTranspose):
            outputs = ops.conv_transpose(
                inputs,
                kernel,
                strides=list(layer.strides),
                padding=layer.padding,
                output_padding=layer.output_padding,
                dilation_rate=layer.dilation_rate,
                data_format=layer.data_format,
            )
        else:
            outputs = layer.convolution_op(inputs, kernel)

        if layer.use_bias:
            bias = ops.cast(layer.bias, self.compute_dtype)
            if getattr(layer, "data_format", "channels_last") == "channels_first":
                bias = ops.reshape(bias, (1, -1) + (1,) * (len(outputs.shape) - 2))
            outputs = ops.add(outputs, bias)
        if layer.activation is not None:
            outputs = layer.activation(outputs)
        return outputs

    def compute_output_shape(self, input_shape):
        return self.layer.compute_output_shape(input_shape)

    def compute_mask(self, inputs, mask=None):
        return self.layer.compute_mask(inputs, mask)

    def get_config(self):
        config = super().get_config()
        config.update(power_iterations=self.power_iterations, epsilon=self.epsilon)
        return config



def batch_normalization(**kwargs):
    """Batch normalization whose statistics span the global batch under ``tf.distribute``.

    A GAN's batch statistics are part of its objective (the discriminator sees them), so a
    multi-replica run must normalize over the whole batch to train the same model as one
    device; ``synchronized=True`` all-reduces the moments across replicas and is a no-op on
    one device.
    """
    return keras.layers.BatchNormalization(synchronized=True, **kwargs)


# --- Progressive growing (Karras et al. 2018) -------------------------------------------


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


# --- BigGAN building blocks (Brock et al. 2019; Zhang et al. 2019) ------------------------


def _maybe_spectral(layer, spectral):
    return SpectralNormalization(layer) if spectral else layer


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

        def conv(filters, offset):
            init = keras.initializers.GlorotUniform(
                seed=None if self.seed is None else self.seed + offset)
            return _maybe_spectral(
                keras.layers.Conv2D(filters, 1, use_bias=False, kernel_initializer=init),
                self.spectral)

        self.query = conv(inner, 0)
        self.key = conv(inner, 1)
        self.value = conv(inner, 2)
        self.out = conv(channels, 3)
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
    across replicas (:func:`batch_normalization`).

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

        def projection(offset):
            init = keras.initializers.GlorotUniform(
                seed=None if self.seed is None else self.seed + offset)
            return _maybe_spectral(
                keras.layers.Dense(channels, use_bias=False, kernel_initializer=init), self.spectral)

        self.gain = projection(0)
        self.bias = projection(1)
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
