"""SRResNet and SRGAN (Ledig et al. 2017, "Photo-Realistic Single Image Super-Resolution
Using a Generative Adversarial Network"), and the bicubic-residual network used by default.

- :func:`residual_generator` (the default, ``network="residual"``): the SR image is a
  bicubic upscaling of the input plus a learned correction, so the untrained network
  already equals bicubic and training only has to add detail. EDSR-style blocks without BN
  (Lim et al. 2017), all at LR resolution; one sub-pixel convolution straight to the
  output's correction, initialised with ICNR (Aitken et al. 2017) so its sub-pixel phases
  start equal (no checkerboard), behind a scalar gate that starts at 0. Departures from
  SRResNet and why: a small data set and a CPU budget. Learning the residual over bicubic
  (as VDSR, Kim et al. 2016) makes the network useful from the first step instead of
  after relearning the image; no BN (EDSR: BN hurts PSNR and costs time); convolutions at
  LR resolution only (ESPCN, Shi et al. 2016; 16x cheaper at x4 than SRResNet's HR 9x9
  tail). Train it with the L1 loss and cosine decay (:mod:`gan_apps.pipelines.super_resolution`).
- :func:`srresnet_generator` (``network="srresnet"``, the paper's form): Fig. 4 (top): a 9x9 conv + PReLU, B residual blocks
  (conv3-BN-PReLU-conv3-BN + identity), conv3-BN plus a long skip over the blocks,
  sub-pixel convolution upsampling (Shi et al. 2016) by 2 per stage (x2, x4) or by 3
  (x3), and a 9x9 conv to the output channels. Fully convolutional: any input size.
- :func:`srgan_discriminator`: Fig. 4 (bottom): eight 3x3 convs with LeakyReLU(0.2),
  widths 64-64-128-128-256-256-512-512, stride 2 on every second, BN after the first,
  then Dense(1024), LeakyReLU, Dense(1) (a logit; the sigmoid lives in the objective).
- :class:`SRGAN`: content loss (pixel MSE, eq. 5, or the VGG54 loss, eq. 6) plus
  ``adversarial_weight`` (1e-3, eq. 3) times any objective of :mod:`gan_apps.objectives`
  (the paper's is the non-saturating loss, eq. 7). Without a discriminator it is the
  SRResNet trained on the content loss alone (the paper's pre-training phase).

Images are float32 NHWC in [-1, 1], LR and HR alike.
"""

from __future__ import annotations

import math
import os

import keras
import numpy as np
import tensorflow as tf
from keras import layers, ops

from gan_apps import degradations, objectives, runtime
from gan_apps.errors import UserInputError
from gan_apps.images import to_unit_range
from gan_apps.training import TrainableModel, apply_update

SCALES = (2, 3, 4)
CONTENT_LOSSES = ("pixel", "vgg54")
PIXEL_LOSSES = ("l1", "mse")
# Ledig et al. 2017, Sec. 2.2.1: VGG feature maps rescaled by 1/12.75 so that the VGG
# loss is of a scale comparable to the MSE loss.
VGG_RESCALE = 1.0 / 12.75
VGG_LAYER = "block5_conv4"  # phi_{5,4}: 4th conv (after ReLU) before the 5th max-pool
# Caffe-style VGG input: BGR, ImageNet mean subtracted, 0..255 (keras vgg19.preprocess_input).
VGG_BGR_MEAN = (103.939, 116.779, 123.68)
DISCRIMINATOR_WIDTHS = (64, 64, 128, 128, 256, 256, 512, 512)


def check_scale(scale):
    """Return ``scale`` if SRResNet supports it, else raise a UserInputError."""
    if scale not in SCALES:
        raise UserInputError(f"super-resolution supports --scale 2, 3 or 4, got {scale!r}")
    return scale


@keras.saving.register_keras_serializable(package="gan_apps")
class PixelShuffle(layers.Layer):
    """Sub-pixel convolution's rearrangement (Shi et al. 2016, eq. 4), TensorFlow's order.

    ``[B, H, W, C r^2] -> [B, H r, W r, C]`` with
    ``out[b, h r + i, w r + j, c] = in[b, h, w, (i r + j) C + c]`` (``depth_to_space``).
    """

    def __init__(self, block_size, **kwargs):
        super().__init__(**kwargs)
        self.block_size = int(block_size)

    def call(self, inputs):
        return ops.depth_to_space(inputs, self.block_size)

    def compute_output_shape(self, input_shape):
        b, h, w, c = input_shape
        r = self.block_size
        return (b, None if h is None else h * r, None if w is None else w * r, c // (r * r))

    def get_config(self):
        return {**super().get_config(), "block_size": self.block_size}


def bicubic_phase_weights(scale):
    """[scale, 5] taps of MATLAB ``imresize(x, scale, 'bicubic')`` per output phase.

    Output pixel ``i scale + p`` (0-based) sits at LR coordinate ``i + (p + 0.5) / scale
    - 0.5`` (MATLAB's u = x / s + (1 - 1 / s) / 2 in 1-based terms), so it takes the LR
    pixels ``i - 2 .. i + 2`` with Keys' cubic weights (a = -0.5) of their distances.
    When upscaling, MATLAB does not widen the kernel and Keys' weights sum to one.
    """
    shift = (np.arange(scale) + 0.5) / scale - 0.5
    return degradations.cubic(shift[:, None] - np.arange(-2, 3)[None, :]).astype(np.float32)


@keras.saving.register_keras_serializable(package="gan_apps")
class BicubicUpsample(layers.Layer):
    """MATLAB ``imresize(x, scale, 'bicubic')`` as a fixed layer (float, no rounding).

    A depthwise 5x5 convolution with one kernel per output phase (the outer product of
    :func:`bicubic_phase_weights`), the input mirrored by 2 pixels as MATLAB mirrors its
    borders (``symmetric``), then the phases rearranged by ``depth_to_space``. Equals
    :func:`gan_apps.degradations.upscale` on float input; inputs need at least 2 pixels
    per side.
    """

    def __init__(self, scale, **kwargs):
        super().__init__(**kwargs)
        self.scale = int(scale)
        taps = bicubic_phase_weights(self.scale)
        # [5, 5, 1, s * s]: phase (p, q) -> taps[p] (rows) x taps[q] (columns)
        kernel = np.einsum("pi,qj->ijpq", taps, taps).reshape(5, 5, 1, self.scale ** 2)
        self._kernel = kernel

    def call(self, inputs):
        channels = inputs.shape[-1]
        kernel = ops.cast(np.tile(self._kernel, (1, 1, channels, 1)), inputs.dtype)
        padded = tf.pad(inputs, [[0, 0], [2, 2], [2, 2], [0, 0]], mode="SYMMETRIC")
        phases = tf.nn.depthwise_conv2d(padded, kernel, [1, 1, 1, 1], "VALID")
        # depthwise order is channel-major (c s^2 + m); depth_to_space wants m C + c.
        shape = tf.shape(phases)
        phases = tf.reshape(phases, [shape[0], shape[1], shape[2], channels, self.scale ** 2])
        phases = tf.reshape(tf.transpose(phases, [0, 1, 2, 4, 3]),
                            [shape[0], shape[1], shape[2], self.scale ** 2 * channels])
        return tf.nn.depth_to_space(phases, self.scale)

    def compute_output_shape(self, input_shape):
        b, h, w, c = input_shape
        s = self.scale
        return (b, None if h is None else h * s, None if w is None else w * s, c)

    def get_config(self):
        return {**super().get_config(), "scale": self.scale}


@keras.saving.register_keras_serializable(package="gan_apps")
class ICNR(keras.initializers.Initializer):
    """ICNR (Aitken et al. 2017, "Checkerboard artifact free sub-pixel convolution").

    Initialises a convolution feeding :class:`PixelShuffle` (block ``scale``) so that all
    ``scale ** 2`` sub-pixel phases start with the same kernel: the output at
    initialisation is a nearest-neighbour upscaling of a convolution, free of the
    checkerboard a random sub-pixel kernel produces. ``base`` draws the
    ``[k, k, in, out / scale^2]`` kernel that is repeated (He normal by default).
    """

    def __init__(self, scale, base=None, seed=None):
        self.scale = int(scale)
        self.seed = seed
        self.base = keras.initializers.get(base or keras.initializers.HeNormal(seed=seed))

    def __call__(self, shape, dtype=None):
        *kernel, out = shape
        phases = self.scale ** 2
        if out % phases:
            raise ValueError(f"ICNR needs output channels divisible by {phases}, got {out}")
        sub = self.base((*kernel, out // phases), dtype=dtype)
        # PixelShuffle's channel order is phase-major (m C + c): repeat the whole kernel.
        return ops.tile(sub, (1,) * len(kernel) + (phases,))

    def get_config(self):
        return {"scale": self.scale, "seed": self.seed,
                "base": keras.initializers.serialize(self.base)}

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config["base"] = keras.initializers.deserialize(config["base"])
        return cls(**config)


@keras.saving.register_keras_serializable(package="gan_apps")
class ResidualGate(layers.Layer):
    """``gate * x`` with one trainable scalar that starts at 0 (ReZero, Bachlechner et al.
    2020): the branch it closes contributes nothing at initialisation, so a residual
    network starts as its skip path, yet every layer of the branch gets gradients once
    the gate has moved."""

    def build(self, input_shape):
        self.gate = self.add_weight(name="gate", shape=(), initializer="zeros")

    def call(self, inputs):
        return inputs * ops.cast(self.gate, inputs.dtype)


def _prelu(name):
    # He et al. 2015 initialise the PReLU slope at 0.25; one slope per channel.
    return layers.PReLU(alpha_initializer=keras.initializers.Constant(0.25),
                        shared_axes=[1, 2], name=name)


def _norm(x, batch_norm, name):
    # momentum 0.9 (PyTorch's 0.1): short CPU runs still get usable moving statistics.
    return layers.BatchNormalization(momentum=0.9, name=name)(x) if batch_norm else x


def upsample_factors(scale):
    """Sub-pixel stages for ``scale``: x2 -> (2,), x3 -> (3,), x4 -> (2, 2)."""
    return {2: (2,), 3: (3,), 4: (2, 2)}[check_scale(scale)]


def receptive_radius(scale, num_blocks, network="srresnet"):
    """LR pixels on each side that one output pixel of a generator depends on.

    ``srresnet``: 9x9 head (4) + two 3x3 convs per block + the 3x3 body conv + one 3x3
    conv per upsampling stage (at its own resolution) + the 9x9 tail at HR, rounded up.
    ``residual``: 3x3 head, two 3x3 convs per block, the body and the sub-pixel conv (all at
    LR), and at least the bicubic's 2 pixels.
    """
    if network == "residual":
        return max(2 * num_blocks + 3, 2)
    radius, resolution = 4 + 2 * num_blocks + 1, 1
    for factor in upsample_factors(scale):
        radius += 1 / resolution
        resolution *= factor
    return math.ceil(radius + 4 / resolution)


def generator_radius(generator):
    """:func:`receptive_radius` of a generator built here, read from its layers."""
    blocks = sum(1 for layer in generator.layers if layer.name.endswith("_add")
                 and layer.name.startswith("block"))
    bicubic = [layer for layer in generator.layers if isinstance(layer, BicubicUpsample)]
    if bicubic:
        return receptive_radius(bicubic[0].scale, blocks, "residual")
    shuffles = [layer.block_size for layer in generator.layers if isinstance(layer, PixelShuffle)]
    return receptive_radius(math.prod(shuffles), blocks, "srresnet")


def generator_input(scale, channels, num_blocks, filters):
    """The LR input of a generator, after checking its settings (one-line errors)."""
    check_scale(scale)
    if channels not in (1, 3):
        raise UserInputError(f"channels must be 1 or 3, got {channels!r}")
    if num_blocks < 1 or filters < 1:
        raise UserInputError(f"num_blocks and filters must be >= 1, got {num_blocks}, {filters}")
    return keras.Input((None, None, channels), name="lr")


def srresnet_generator(scale=4, channels=3, num_blocks=16, filters=64, batch_norm=True,
                       name="srresnet"):
    """SRResNet (Ledig et al. 2017, Fig. 4 top; B = 16 blocks of k3n64s1).

    Args:
        scale: 2, 3 or 4.
        channels: 1 (grayscale) or 3 (RGB), in and out.
        num_blocks: residual blocks B.
        filters: feature maps n of every block.
        batch_norm: the paper's BN inside the blocks (off gives the EDSR variant).

    Returns:
        functional Model ``[B, h, w, channels] -> [B, h scale, w scale, channels]``.
    """
    inputs = generator_input(scale, channels, num_blocks, filters)
    x = layers.Conv2D(filters, 9, padding="same", name="head_conv")(inputs)
    x = head = _prelu("head_prelu")(x)
    for i in range(num_blocks):
        y = layers.Conv2D(filters, 3, padding="same", name=f"block{i}_conv1")(x)
        y = _norm(y, batch_norm, f"block{i}_bn1")
        y = _prelu(f"block{i}_prelu")(y)
        y = layers.Conv2D(filters, 3, padding="same", name=f"block{i}_conv2")(y)
        y = _norm(y, batch_norm, f"block{i}_bn2")
        x = layers.Add(name=f"block{i}_add")([x, y])
    x = layers.Conv2D(filters, 3, padding="same", name="body_conv")(x)
    x = _norm(x, batch_norm, "body_bn")
    x = layers.Add(name="long_skip")([head, x])
    for stage, factor in enumerate(upsample_factors(scale)):
        x = layers.Conv2D(filters * factor * factor, 3, padding="same", name=f"up{stage}_conv")(x)
        x = PixelShuffle(factor, name=f"up{stage}_shuffle")(x)
        x = _prelu(f"up{stage}_prelu")(x)
    outputs = layers.Conv2D(channels, 9, padding="same", dtype="float32", name="tail_conv")(x)
    return keras.Model(inputs, outputs, name=name)


def residual_generator(scale=4, channels=3, num_blocks=8, filters=32, name="residual_sr"):
    """Bicubic plus a learned correction (the default network; see the module docstring).

    ``SR = bicubic(LR) + gate * PixelShuffle(conv(body(LR)))``: a 3x3 head conv, B
    residual blocks (conv3-ReLU-conv3 + identity, no BN, EDSR), a 3x3 body conv with a
    long skip, and one 3x3 conv to ``channels * scale^2`` maps (ICNR-initialised) shuffled
    to HR. The gate (:class:`ResidualGate`) starts at 0, so the untrained network returns
    exactly :class:`BicubicUpsample` of its input.

    Returns:
        functional Model ``[B, h, w, channels] -> [B, h scale, w scale, channels]``.
    """
    inputs = generator_input(scale, channels, num_blocks, filters)
    x = head = layers.Conv2D(filters, 3, padding="same", name="head_conv")(inputs)
    for i in range(num_blocks):
        y = layers.Conv2D(filters, 3, padding="same", activation="relu", name=f"block{i}_conv1")(x)
        y = layers.Conv2D(filters, 3, padding="same", name=f"block{i}_conv2")(y)
        x = layers.Add(name=f"block{i}_add")([x, y])
    x = layers.Conv2D(filters, 3, padding="same", name="body_conv")(x)
    x = layers.Add(name="long_skip")([head, x])
    x = layers.Conv2D(channels * scale * scale, 3, padding="same",
                      kernel_initializer=ICNR(scale), name="up_conv")(x)
    x = PixelShuffle(scale, name="up_shuffle")(x)
    correction = ResidualGate(name="gate")(x)
    bicubic = BicubicUpsample(scale, name="bicubic")(inputs)
    outputs = layers.Add(dtype="float32", name="sr")([bicubic, correction])
    return keras.Model(inputs, outputs, name=name)


GENERATORS = {"residual": residual_generator, "srresnet": srresnet_generator}


def build_generator(network, scale, channels, num_blocks, filters, batch_norm=False):
    """The generator called ``network`` (:data:`GENERATORS`); ``batch_norm`` is SRResNet's."""
    if network not in GENERATORS:
        raise UserInputError(f"unknown network {network!r}; choose from {', '.join(GENERATORS)}")
    if network == "srresnet":
        return srresnet_generator(scale, channels, num_blocks, filters, batch_norm=batch_norm)
    if batch_norm:
        raise UserInputError("the residual network has no batch norm; pass --no-batch-norm "
                             "or --network srresnet")
    return residual_generator(scale, channels, num_blocks, filters)


def srgan_discriminator(patch_size=96, channels=3, filters=64, dense_units=1024,
                        name="srgan_discriminator"):
    """SRGAN discriminator (Ledig et al. 2017, Fig. 4 bottom) on ``patch_size`` HR patches.

    Widths are ``filters`` times (1, 1, 2, 2, 4, 4, 8, 8) (the paper's 64 ... 512), stride 2
    on the 2nd, 4th, 6th and 8th conv; BN after every conv but the first; LeakyReLU(0.2).

    Returns:
        functional Model ``[B, patch, patch, channels] -> [B, 1]`` logits.
    """
    if patch_size < 16:
        raise UserInputError(f"the discriminator needs HR patches of at least 16 px, got {patch_size}")
    inputs = keras.Input((patch_size, patch_size, channels), name="hr")
    x = inputs
    for i, width in enumerate(DISCRIMINATOR_WIDTHS):
        x = layers.Conv2D(width * filters // 64, 3, strides=1 + i % 2, padding="same",
                          name=f"conv{i}")(x)
        if i:
            x = layers.BatchNormalization(momentum=0.9, name=f"bn{i}")(x)
        x = layers.LeakyReLU(0.2, name=f"lrelu{i}")(x)
    x = layers.Flatten(name="flatten")(x)
    x = layers.Dense(dense_units, name="dense")(x)
    x = layers.LeakyReLU(0.2, name="dense_lrelu")(x)
    outputs = layers.Dense(1, dtype="float32", name="logit")(x)
    return keras.Model(inputs, outputs, name=name)


def vgg54_extractor(weights_path):
    """VGG19 up to phi_{5,4} (block5_conv4 after ReLU) with weights from a local file.

    Args:
        weights_path: a Keras VGG19 weights file without the top
            (``vgg19_weights_tf_dim_ordering_tf_kernels_notop.h5`` or ``*.weights.h5``).
    """
    if not weights_path or not os.path.isfile(weights_path):
        raise UserInputError(
            f"VGG19 weights file {weights_path!r} not found; pass --vgg-weights with a local "
            "Keras VGG19 (include_top=False) weights file"
        )
    try:
        vgg = keras.applications.VGG19(weights=weights_path, include_top=False,
                                       input_shape=(None, None, 3))
    except (ValueError, OSError) as err:
        raise UserInputError(
            f"cannot load VGG19 weights from {weights_path!r} ({str(err).splitlines()[0]}); "
            "pass a Keras VGG19 weights file saved with include_top=False"
        ) from None
    extractor = keras.Model(vgg.input, vgg.get_layer(VGG_LAYER).output, name="vgg54")
    extractor.trainable = False
    return extractor


def vgg_preprocess(images):
    """[-1, 1] RGB (or gray) images to VGG's caffe input: 0..255 BGR minus the ImageNet mean."""
    images = ops.cast(images, "float32")
    if images.shape[-1] == 1:
        images = ops.concatenate([images] * 3, axis=-1)
    bgr = to_unit_range(images[..., ::-1]) * 255.0
    return bgr - ops.convert_to_tensor(VGG_BGR_MEAN, "float32")


def pixel_loss(hr, sr, kind="mse"):
    """Pixel content loss, mean over every pixel of the batch, in float32.

    ``mse``: Ledig et al. 2017, eq. 5. ``l1``: mean absolute error, what EDSR (Lim et al.
    2017, Sec. 4.1) and later SR recipes train with: it converges to sharper, higher-PSNR
    results than MSE for the same budget because large errors (edges) do not dominate.
    """
    difference = ops.cast(hr, "float32") - ops.cast(sr, "float32")
    if kind == "l1":
        return ops.mean(ops.abs(difference))
    if kind == "mse":
        return ops.mean(ops.square(difference))
    raise UserInputError(f"unknown pixel loss {kind!r}; choose from {', '.join(PIXEL_LOSSES)}")


@keras.saving.register_keras_serializable(package="gan_apps")
class SRGAN(TrainableModel):
    """SRGAN (Ledig et al. 2017): content loss + ``adversarial_weight`` x adversarial loss.

    The generator's perceptual loss is eq. 3: l_X + 1e-3 l_Gen, with l_X the pixel loss
    (``pixel_loss``: the paper's MSE, eq. 5, or L1) or the VGG54 loss (eq. 6: MSE between phi_{5,4} features of HR and SR, scaled
    by 1/12.75 as in Sec. 2.2.1) and l_Gen the generator loss of ``objective`` (eq. 7 is
    ``non_saturating``). The discriminator minimises the objective's d_loss on HR vs SR
    patches. With ``discriminator=None`` only the content loss is trained (SRResNet).

    Runtime: build and compile it inside a ``tf.distribute`` strategy's scope; each
    replica's loss is divided by the replica count and scaled by ``optimizer.scale_loss``
    (:func:`gan_apps.training.apply_update`; ``compile`` wraps the optimizers for loss
    scaling under mixed_float16); both networks end in a float32 layer and the losses
    are computed in float32 under mixed precision.

    Args:
        generator: functional model LR -> SR.
        discriminator: functional model HR patch -> logit, or None.
        objective: a name from :mod:`gan_apps.objectives`.
        adversarial_weight: weight of the adversarial loss (1e-3 in the paper).
        content: ``"pixel"`` or ``"vgg54"``.
        pixel_loss: ``"mse"`` (eq. 5) or ``"l1"``, the pixel content loss.
        vgg_weights: local VGG19 weights file, required for ``content="vgg54"``.
    """

    OPTIMIZERS = {"g_optimizer": ("generator",), "d_optimizer": ("discriminator",)}
    NETWORKS = {"generator": "generator", "discriminator": "discriminator"}

    def __init__(self, generator, discriminator=None, objective="non_saturating",
                 adversarial_weight=1e-3, content="pixel", vgg_weights=None, pixel_loss="mse",
                 **kwargs):
        super().__init__(**kwargs)
        if content not in CONTENT_LOSSES:
            raise UserInputError(f"unknown content loss {content!r}; choose from {', '.join(CONTENT_LOSSES)}")
        self.generator = generator
        self.discriminator = discriminator
        self.objective_name = objective
        self.objective = objectives.get(objective)
        self.adversarial_weight = float(adversarial_weight)
        if pixel_loss not in PIXEL_LOSSES:
            raise UserInputError(f"unknown pixel loss {pixel_loss!r}; choose from {', '.join(PIXEL_LOSSES)}")
        self.content = content
        self.pixel_loss = pixel_loss
        self.vgg_weights = vgg_weights
        self.vgg = vgg54_extractor(vgg_weights) if content == "vgg54" else None

        names = ["content_loss", "psnr", "g_grad_norm"]
        if discriminator is not None:
            names += ["g_loss", "d_loss", "d_real", "d_fake", "d_grad_norm"]
        self.trackers = {n: keras.metrics.Mean(name=n) for n in names}
        self.built = True

    def call(self, lr, training=False):
        return self.generator(lr, training=training)

    def compile(self, g_optimizer, d_optimizer=None, **kwargs):
        """One optimizer per network (``d_optimizer`` only with a discriminator), each
        loss-scaled under mixed_float16 and built now (required under tf.distribute)."""
        super().compile(g_optimizer=g_optimizer, d_optimizer=d_optimizer, **kwargs)

    def get_config(self):
        config = super().get_config()
        config.update(objective=self.objective_name, adversarial_weight=self.adversarial_weight,
                      content=self.content, vgg_weights=self.vgg_weights,
                      pixel_loss=self.pixel_loss)
        return config

    # --- losses and training ------------------------------------------------------------

    def content_loss(self, hr, sr):
        """l_X: the pixel loss (MSE, eq. 5, or L1) or VGG54 feature MSE (eq. 6, features / 12.75)."""
        if self.vgg is None:
            return pixel_loss(hr, sr, self.pixel_loss)
        # Features in float32: under mixed precision VGG computes in half precision.
        real = ops.cast(self.vgg(vgg_preprocess(hr), training=False), "float32") * VGG_RESCALE
        fake = ops.cast(self.vgg(vgg_preprocess(sr), training=False), "float32") * VGG_RESCALE
        return ops.mean(ops.square(real - fake))

    def train_step(self, data):
        lr, hr = data[0], data[1]
        if self.discriminator is not None:
            self.discriminator_step(lr, hr)
        self.generator_step(lr, hr)
        return self.step_logs()

    def discriminator_step(self, lr, hr):
        """One discriminator update: HR patches against SR patches (objective d_loss)."""
        sr = ops.stop_gradient(self.generator(lr, training=True))
        with tf.GradientTape() as tape:
            real_logits = self.discriminator(hr, training=True)
            fake_logits = self.discriminator(sr, training=True)
            loss = self.objective.d_loss(real_logits, fake_logits)
        apply_update(tape, loss, self.discriminator.trainable_variables, self.d_optimizer,
                     self.trackers["d_grad_norm"])
        self.trackers["d_loss"].update_state(loss)
        self.trackers["d_real"].update_state(ops.mean(self.objective.output(real_logits)))
        self.trackers["d_fake"].update_state(ops.mean(self.objective.output(fake_logits)))

    def generator_step(self, lr, hr):
        """One generator update on l_X + adversarial_weight * l_Gen (eq. 3)."""
        with tf.GradientTape() as tape:
            sr = self.generator(lr, training=True)
            content = self.content_loss(hr, sr)
            total = content
            if self.discriminator is not None:
                adversarial = self.objective.g_loss(self.discriminator(sr, training=True))
                total = content + self.adversarial_weight * adversarial
                self.trackers["g_loss"].update_state(adversarial)
        apply_update(tape, total, self.generator.trainable_variables, self.g_optimizer,
                     self.trackers["g_grad_norm"])
        self.trackers["content_loss"].update_state(content)
        # PSNR of the batch on [-1, 1] RGB (peak-to-peak 2): a training diagnostic only.
        mse = ops.mean(ops.square(ops.cast(hr, "float32") - ops.cast(sr, "float32")))
        self.trackers["psnr"].update_state(10.0 * ops.log(4.0 / (mse + 1e-12)) / ops.log(10.0))


def build_srgan(*, scale=4, channels=3, blocks=16, filters=64, batch_norm=True,
                network="srresnet", discriminator_patch=None, objective="non_saturating",
                adversarial_weight=1e-3, content="pixel", vgg_weights=None, pixel_loss="mse",
                learning_rate=1e-4, decay_steps=None, jit_compile="auto", steps_per_execution=1):
    """A compiled :class:`SRGAN`: the ``network`` generator (:data:`GENERATORS`) and, with
    ``discriminator_patch`` (the HR patch size), the SRGAN discriminator; without it the
    SRResNet phase.

    Call it inside the strategy scope :func:`gan_apps.runtime.configure` returns. Both
    optimizers are Adam with beta1 = 0.9 (Ledig et al. 2017, Sec. 3.2), loss-scaled under
    the mixed_float16 policy (:func:`gan_apps.runtime.loss_scaled`). With ``decay_steps``
    the learning rate follows a cosine from ``learning_rate`` to 0 over that many steps
    (Loshchilov & Hutter 2017, without restarts); without it it is constant (the paper's).
    """
    generator = build_generator(network, scale, channels, blocks, filters, batch_norm)
    discriminator = None
    if discriminator_patch is not None:
        discriminator = srgan_discriminator(discriminator_patch, channels, filters=filters)
    model = SRGAN(generator, discriminator, objective=objective,
                  adversarial_weight=adversarial_weight, content=content,
                  vgg_weights=vgg_weights, pixel_loss=pixel_loss)

    def adam():
        rate = learning_rate
        if decay_steps:
            rate = keras.optimizers.schedules.CosineDecay(learning_rate, int(decay_steps))
        return runtime.loss_scaled(keras.optimizers.Adam(rate, beta_1=0.9))

    model.compile(
        g_optimizer=adam(),
        d_optimizer=adam() if discriminator is not None else None,
        jit_compile=jit_compile,
        steps_per_execution=steps_per_execution,
    )
    return model
