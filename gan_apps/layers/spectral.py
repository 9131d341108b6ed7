"""Spectral normalization (Miyato et al. 2018, "Spectral Normalization for Generative
Adversarial Networks") as a Keras wrapper.

``SpectralNormalization(layer)`` divides the wrapped layer's kernel by an estimate of
its largest singular value on every forward pass, which bounds the layer's Lipschitz
constant by 1 and so the discriminator's (SN-GAN, Miyato et al. 2018; SAGAN, Zhang et al.
2019; BigGAN, Brock et al. 2019, spectrally normalize every weight). Unlike
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


def maybe_spectral(layer, spectral):
    """``SpectralNormalization(layer)`` when ``spectral``, else ``layer`` itself."""
    return SpectralNormalization(layer) if spectral else layer
