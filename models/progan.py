"""Progressive growing of GANs (Karras et al. 2018, "Progressive Growing of GANs for
Improved Quality, Stability, and Variation").

Both networks start at 4x4 and grow by one resolution block at a time up to the target
resolution. Each new block is faded in: alpha goes linearly from 0 to 1 over
``fade_images`` real images, then the stage is stabilised for ``stabilize_images``
(Sec. 3, Fig. 2; 800k + 800k images in the paper). The paper's ingredients:

- WGAN-GP loss (lambda 10) plus the drift term eps_drift * E[D(x)^2], eps_drift = 0.001
  (Appendix A.1); one critic update per generator update;
- minibatch standard deviation before the last block of D (Sec. 3);
- pixelwise feature normalization after every convolution of G (Sec. 4.2, eq. 1);
- equalized learning rate: N(0, 1) weights scaled at run time by the He constant (Sec. 4.1);
- nearest-neighbour upsampling in G, average pooling in D, leaky ReLU 0.2, linear toRGB;
- Adam(lr 0.001, beta1 0, beta2 0.99, eps 1e-8) (Appendix A.1).

The schedule lives in the model: ``images_seen`` (a variable in the checkpoint) sets the
stage and alpha, which are saved as weights of the networks' :class:`StageSelect` and
:class:`FadeIn` layers. ``train_step`` advances them, so a resumed run continues the
schedule exactly without a callback. Training runs the stage's own sub-networks (one
compiled step per stage); the saved generator holds every stage and answers at the full
target resolution with the stage and alpha it was saved at (the current stage's output
upsampled by nearest neighbour). Real images arrive at the target resolution and are
average-pooled to the stage's resolution and faded like the paper's
``process_reals``: x = alpha * x_s + (1 - alpha) * up(down(x_s)).
"""

from __future__ import annotations

import math
import warnings

import keras
import tensorflow as tf
from keras import layers, ops

from gan_apps import penalties as penalties_lib
from gan_apps.errors import UserInputError
from gan_apps.gan import GAN, critic_chunks
from gan_apps.initializers import LayerSeeds
from gan_apps.layers.progressive import (
    EqualizedConv2D,
    EqualizedDense,
    FadeIn,
    MinibatchStdDev,
    PixelNormalization,
    StageSelect,
)

START = 4
LEAK = 0.2
# Appendix A.1: Adam(0.001, beta1 0, beta2 0.99, epsilon 1e-8); eps_drift = 0.001.
LEARNING_RATE = 1e-3
BETAS = (0.0, 0.99)
ADAM_EPSILON = 1e-8
DRIFT = 1e-3
GP_WEIGHT = 10.0
# 800k images per fade and per stabilisation in the paper; scaled down 100x so that the
# default digits run (about 60 epochs of 1,437 images) passes through every stage.
FADE_IMAGES = 8_000
STABILIZE_IMAGES = 8_000


def num_stages(resolution):
    """Stages from 4x4 to ``resolution`` (4 * 2^k), e.g. 4 for 32x32."""
    if not isinstance(resolution, int) or resolution < START * 2:
        raise UserInputError(f"progan needs a resolution of 8 or more, got {resolution!r}")
    doublings = math.log2(resolution / START)
    if not doublings.is_integer():
        raise UserInputError(
            f"progan grows from 4x4 by doubling; resolution {resolution} is not 4 times a power "
            "of two (use 8, 16, 32, 64, 128, ..., 1024)"
        )
    return int(doublings) + 1


def stage_filters(stage, stages, width, max_filters):
    """Channels at ``stage``: ``width`` at the target resolution, doubling per halving up to
    ``max_filters`` (the paper's min(8192 / res, 512) shape, scaled by ``width``)."""
    return int(min(width * 2 ** (stages - 1 - stage), max_filters))


class Schedule:
    """Stage and fade weights as functions of the number of real images seen.

    Stage 0 (4x4) trains for ``stabilize`` images; stage s >= 1 starts at
    start_s = stabilize + (s - 1) * (fade + stabilize), fades in over ``fade`` images
    (alpha_s = clip((n - start_s) / fade, 0, 1)) and is then stabilised; the last stage
    goes on with alpha 1.
    """

    def __init__(self, stages, fade_images, stabilize_images):
        if fade_images < 1 or stabilize_images < 0:
            raise UserInputError("fade_images must be >= 1 and stabilize_images >= 0")
        self.stages = int(stages)
        self.fade = int(fade_images)
        self.stabilize = int(stabilize_images)

    def start(self, stage):
        """Images seen when ``stage`` begins."""
        return 0 if stage == 0 else self.stabilize + (stage - 1) * (self.fade + self.stabilize)

    def stage_at(self, images):
        """The stage being trained after ``images`` real images (a Python int)."""
        stage = 0
        for s in range(1, self.stages):
            if images >= self.start(s):
                stage = s
        return stage

    def alpha_at(self, stage, images):
        """Fade weight of ``stage``'s block after ``images`` images (numpy or tensor)."""
        if stage == 0:
            return 1.0
        return ops.clip((ops.cast(images, "float32") - self.start(stage)) / self.fade, 0.0, 1.0)


def _lrelu():
    return layers.LeakyReLU(LEAK)


def progan_networks(latent_dim=128, resolution=32, channels=1, width=32, max_filters=None,
                    group_size=4, seed=None):
    """Every layer of the growing networks, wired as per-stage and full models.

    Returns a dict with ``generator`` and ``discriminator`` (functional models at the full
    resolution holding all stages, with a :class:`StageSelect` output) and lists
    ``stage_generators`` / ``stage_discriminators`` (stage s works at 4 * 2^s and shares
    its layers with the full models; linear output, the full generator's clipped to
    [-1, 1]), ``fades`` ([generator FadeIns, discriminator
    FadeIns], stage 1 first) and ``selects`` (the two StageSelect layers).

    Generator stage s: PixelNorm(z) -> Dense(16 C_0) -> 4x4 -> LReLU, PixelNorm ->
    Conv3x3, LReLU, PixelNorm; each later block: nearest 2x upsample -> 2 x (Conv3x3,
    LReLU, PixelNorm); toRGB (1x1, linear). During the fade, the output is
    FadeIn(up(toRGB_{s-1}(h_{s-1})), toRGB_s(h_s)) (Karras et al. 2018, Fig. 2 and Table 2).
    Discriminator stage s: fromRGB (1x1, LReLU); each block: 2 x (Conv3x3, LReLU), 2x2
    average pool, the new one faded against fromRGB_{s-1}(avgpool(x)); last block:
    minibatch stddev, Conv3x3, LReLU, Dense(C_0) on the 4x4 map, LReLU, Dense(1) linear.
    """
    stages = num_stages(resolution)
    max_filters = max_filters or 4 * width
    seeds = LayerSeeds(seed)
    filters = [stage_filters(s, stages, width, max_filters) for s in range(stages)]

    # --- generator layers ---
    g_first = [
        PixelNormalization(name="g_normalize_z"),
        EqualizedDense(START * START * filters[0], gain=2.0 ** 0.5 / 4, seed=seeds(),
                       name="g_dense_4x4"),
        layers.Reshape((START, START, filters[0]), name="g_reshape"),
        _lrelu(), PixelNormalization(),
        EqualizedConv2D(filters[0], 3, seed=seeds(), name="g_conv_4x4"),
        _lrelu(), PixelNormalization(),
    ]
    g_blocks = [g_first]
    for s in range(1, stages):
        size = START * 2 ** s
        g_blocks.append([
            layers.UpSampling2D(2, interpolation="nearest", name=f"g_up_{size}"),
            EqualizedConv2D(filters[s], 3, seed=seeds(), name=f"g_conv1_{size}"),
            _lrelu(), PixelNormalization(),
            EqualizedConv2D(filters[s], 3, seed=seeds(), name=f"g_conv2_{size}"),
            _lrelu(), PixelNormalization(),
        ])
    to_rgb = [EqualizedConv2D(channels, 1, gain=1.0, seed=seeds(), name=f"to_rgb_{START * 2 ** s}")
              for s in range(stages)]
    g_fades = [None] + [FadeIn(name=f"g_fade_{START * 2 ** s}") for s in range(1, stages)]

    def run(block, x):
        for layer in block:
            x = layer(x)
        return x

    def generator_outputs(z, last_stage):
        """Stage outputs 0..last_stage, each at its own resolution."""
        outputs, h = [], z
        for s in range(last_stage + 1):
            previous = h
            h = run(g_blocks[s], h)
            rgb = to_rgb[s](h)
            if s > 0:
                low = layers.UpSampling2D(2, interpolation="nearest")(to_rgb[s - 1](previous))
                rgb = g_fades[s]([low, rgb])
            outputs.append(rgb)
        return outputs

    stage_generators = []
    for s in range(stages):
        z = keras.Input((latent_dim,), name="z")
        out = generator_outputs(z, s)[-1]
        out = layers.Activation("linear", dtype="float32", name="images")(out)
        stage_generators.append(keras.Model(z, out, name=f"progan_generator_{START * 2 ** s}"))
    z = keras.Input((latent_dim,), name="z")
    full = []
    for s, out in enumerate(generator_outputs(z, stages - 1)):
        factor = 2 ** (stages - 1 - s)
        full.append(layers.UpSampling2D(factor, interpolation="nearest")(out) if factor > 1 else out)
    images = StageSelect(name="g_stage")(full)
    # G's last layer is linear (Appendix A.1); the saved generator clips to the toolkit's
    # image range [-1, 1], as the authors' code does when it writes images.
    images = ops.clip(images, -1.0, 1.0)
    images = layers.Activation("linear", dtype="float32", name="images")(images)
    generator = keras.Model(z, images, name="progan_generator")

    # --- discriminator layers ---
    from_rgb = [
        [EqualizedConv2D(filters[s], 1, seed=seeds(), name=f"from_rgb_{START * 2 ** s}"), _lrelu()]
        for s in range(stages)
    ]
    d_blocks = [[
        MinibatchStdDev(group_size, name="minibatch_stddev"),
        EqualizedConv2D(filters[0], 3, seed=seeds(), name="d_conv_4x4"), _lrelu(),
        layers.Flatten(),
        EqualizedDense(filters[0], seed=seeds(), name="d_dense_4x4"), _lrelu(),
        EqualizedDense(1, gain=1.0, seed=seeds(), name="d_logit"),
    ]]
    for s in range(1, stages):
        size = START * 2 ** s
        d_blocks.append([
            EqualizedConv2D(filters[s], 3, seed=seeds(), name=f"d_conv1_{size}"), _lrelu(),
            EqualizedConv2D(filters[s - 1], 3, seed=seeds(), name=f"d_conv2_{size}"), _lrelu(),
            layers.AveragePooling2D(2, name=f"d_down_{size}"),
        ])
    d_fades = [None] + [FadeIn(name=f"d_fade_{START * 2 ** s}") for s in range(1, stages)]

    def discriminator_logits(images, stage):
        h = run(from_rgb[stage], images)
        for s in range(stage, -1, -1):
            h = run(d_blocks[s], h)
            if s == stage and s > 0:
                low = run(from_rgb[s - 1], layers.AveragePooling2D(2)(images))
                h = d_fades[s]([low, h])
        return h

    stage_discriminators = []
    for s in range(stages):
        size = START * 2 ** s
        images = keras.Input((size, size, channels), name="images")
        logits = layers.Activation("linear", dtype="float32", name="logits")(discriminator_logits(images, s))
        stage_discriminators.append(keras.Model(images, logits, name=f"progan_discriminator_{size}"))
    images = keras.Input((resolution, resolution, channels), name="images")
    per_stage = []
    for s in range(stages):
        factor = 2 ** (stages - 1 - s)
        x = layers.AveragePooling2D(factor)(images) if factor > 1 else images
        per_stage.append(discriminator_logits(x, s))
    logits = StageSelect(name="d_stage")(per_stage)
    logits = layers.Activation("linear", dtype="float32", name="logits")(logits)
    discriminator = keras.Model(images, logits, name="progan_discriminator")
    return {
        "generator": generator, "discriminator": discriminator,
        "stage_generators": stage_generators, "stage_discriminators": stage_discriminators,
        "fades": [g_fades[1:], d_fades[1:]],
        "selects": [generator.get_layer("g_stage"), discriminator.get_layer("d_stage")],
    }


def downsample_real(images, stage, stages, alpha):
    """Real images at ``stage``'s resolution, faded as the paper's ``process_reals``.

    x_s = avgpool(x, 2^(S-1-s)); returns alpha * x_s + (1 - alpha) * up(avgpool(x_s, 2))
    (Karras et al. 2018, Sec. 3 and Appendix A.1: the real images are blended between the
    two resolutions during the fade-in, like the generator's output).
    """
    factor = 2 ** (stages - 1 - stage)
    x = ops.average_pool(images, factor, factor) if factor > 1 else images
    if stage == 0:
        return x
    coarse = ops.repeat(ops.repeat(ops.average_pool(x, 2, 2), 2, axis=1), 2, axis=2)
    return coarse + ops.cast(alpha, x.dtype) * (x - coarse)


@keras.saving.register_keras_serializable(package="gan_apps")
class DriftPenalty(penalties_lib.Penalty):
    """eps_drift * E[D(x)^2] on real data (Karras et al. 2018, Appendix A.1, eps_drift = 0.001).

    Keeps the Wasserstein critic's output near zero, which WGAN-GP leaves free.
    """

    name = "drift"

    def __init__(self, weight=DRIFT):
        self.weight = float(weight)

    def discriminator_loss(self, context):
        logits = context.critic(context.real) if context.critic is not None \
            else context.discriminator(context.real, training=True)
        return self.weight * ops.mean(ops.square(ops.cast(logits, "float32")))

    def get_config(self):
        return {"weight": self.weight}


@keras.saving.register_keras_serializable(package="gan_apps")
class ProGAN(GAN):
    """A progressively grown WGAN-GP (Karras et al. 2018) trained with ``fit``.

    Args:
        latent_dim, resolution, channels, width, max_filters, group_size: the networks
            (:func:`progan_networks`).
        fade_images, stabilize_images: the schedule (:class:`Schedule`).
        network_seed: seed of the weight initialisers (the networks are rebuilt from it).
        **kwargs: as :class:`gan_apps.gan.GAN` (objective, penalties, seed, ...).
    """

    # The schedule's position: a resumed run continues the fade where it stopped.
    EXTRA_STATE = ("images_seen",)

    def __init__(self, latent_dim=128, resolution=32, channels=1, width=32, max_filters=None,
                 group_size=4, fade_images=FADE_IMAGES, stabilize_images=STABILIZE_IMAGES,
                 network_seed=None, **kwargs):
        nets = progan_networks(latent_dim, resolution, channels, width, max_filters,
                               group_size, network_seed)
        super().__init__(nets["generator"], nets["discriminator"], latent_dim=latent_dim, **kwargs)
        self.resolution = int(resolution)
        self.channels = int(channels)
        self.width = int(width)
        self.max_filters = max_filters
        self.group_size = group_size
        self.network_seed = network_seed
        self.num_classes = None
        self.stage_generators = nets["stage_generators"]
        self.stage_discriminators = nets["stage_discriminators"]
        self.stages = len(self.stage_generators)
        self.schedule = Schedule(self.stages, fade_images, stabilize_images)
        # A model weight, so the .keras file and the checkpoint both carry the schedule.
        self.images_seen = self.add_weight(
            shape=(), dtype="int64", initializer="zeros", trainable=False, name="images_seen",
            aggregation="only_first_replica",
        )
        self.stage_tracker = keras.metrics.Mean(name="stage")
        self.alpha_tracker = keras.metrics.Mean(name="alpha")
        self._fades = nets["fades"]
        self._selects = nets["selects"]
        self._trace_stage = 0
        self.set_schedule_weights()

    @property
    def metrics(self):
        return [*super().metrics, self.stage_tracker, self.alpha_tracker]

    def get_config(self):
        config = super().get_config()
        for key in ("generator", "discriminator"):
            config.pop(key)
        config.update(resolution=self.resolution, channels=self.channels, width=self.width,
                      max_filters=self.max_filters, group_size=self.group_size,
                      fade_images=self.schedule.fade, stabilize_images=self.schedule.stabilize,
                      network_seed=self.network_seed)
        return config

    def build(self, input_shape=None):
        self.built = True

    # --- schedule -----------------------------------------------------------------------

    def current_stage(self):
        """The stage the next training step trains (from ``images_seen``)."""
        return self.schedule.stage_at(int(self.images_seen.numpy()))

    def current_alpha(self):
        """Fade weight of the current stage's new block (1 when stabilising or at 4x4)."""
        return float(self.schedule.alpha_at(self.current_stage(), int(self.images_seen.numpy())))

    def averaging_ready(self):
        """Whether a moving average of G may go on averaging: not while a block fades in.

        Karras et al. (2018, Appendix A.1) average G with decay 0.999 throughout, over phases
        of 800k images (50k updates at batch 16), so the average's memory (about 1k updates)
        is a small part of a phase. Our phases of 4k-8k images are 125-250 updates at batch
        32, about the memory of a 0.995 average (200 updates): averaged across a fade, the new
        block's weights mix their initial and trained values while the old path fades out,
        and the samples were worse than the last iterate (FID 611 against 295 at epoch 20 on
        digits). So the average restarts from G during each fade and averages while a stage
        is stabilised (:class:`gan_apps.callbacks.ExponentialMovingAverage` reads this after
        every step).
        """
        return self.current_alpha() >= 1.0

    def set_schedule_weights(self, images=None):
        """Write stage and alpha for ``images`` seen (default: ``images_seen``) into the
        networks' StageSelect and FadeIn weights."""
        images = self.images_seen if images is None else images
        images = ops.cast(ops.convert_to_tensor(images), "int64")
        stage = ops.zeros((), "int32")
        for s in range(1, self.stages):
            stage = stage + ops.cast(images >= self.schedule.start(s), "int32")
        for select in self._selects:
            select.stage.assign(stage)
        for fades in self._fades:
            for s, fade in enumerate(fades, start=1):
                fade.alpha.assign(self.schedule.alpha_at(s, images))

    def restore_schedule(self):
        """Re-derive the stage and fade weights from ``images_seen`` (after a restore)."""
        self.set_schedule_weights()

    # --- training -----------------------------------------------------------------------

    def make_train_function(self, force=False):
        """One compiled step per stage, chosen before each call from ``images_seen``.

        Each stage trains its own sub-networks, so the step of the stage being trained is
        traced (once) when the schedule reaches it; the stage only changes between steps.
        """
        if self.train_function is not None and not force:
            return self.train_function
        if self.steps_per_execution != 1:
            raise UserInputError("progan switches networks between steps; use steps_per_execution 1")
        compiled = {}
        parent = super()

        def train_function(iterator):
            stage = self.current_stage()
            self._trace_stage = stage
            if stage not in compiled:
                parent.make_train_function(force=True)
                compiled[stage] = self.train_function
                self.train_function = train_function
            with warnings.catch_warnings():
                # Weights of the other stages get no gradient at this stage, by design.
                warnings.filterwarnings("ignore", message="Gradients do not exist")
                return compiled[stage](iterator)

        self.train_function = train_function
        return train_function

    def fit(self, *args, **kwargs):
        # A checkpoint restore writes images_seen only; bring the layer weights in line.
        self.restore_schedule()
        return super().fit(*args, **kwargs)

    def stage_alpha(self, stage):
        """The fade weight the stage's networks use now (a tensor; 1 at 4x4)."""
        if stage == 0:
            return ops.ones((), "float32")
        return ops.convert_to_tensor(self._fades[0][stage - 1].alpha)

    def generate_fake(self, batch_size, conditioning, training=True):
        return self.stage_generators[self._trace_stage](self.sample_latent(batch_size),
                                                        training=training)

    def discriminator_logits(self, x, conditioning, training=True):
        return self.stage_discriminators[self._trace_stage](x, training=training)

    def train_step(self, data):
        real, _ = self.unpack(data)
        stage = self._trace_stage
        alpha = self.stage_alpha(stage)
        real = downsample_real(ops.cast(real, "float32"), stage, self.stages, alpha)
        for chunk in range(self.n_critic):
            self.discriminator_step(critic_chunks(real, chunk, self.n_critic), None)
        batch_size = ops.shape(critic_chunks(real, 0, self.n_critic))[0]
        self.generator_step(batch_size, None)
        self.stage_tracker.update_state(float(stage))
        self.alpha_tracker.update_state(alpha)
        global_batch = ops.cast(ops.shape(real)[0], "int64") * \
            tf.distribute.get_strategy().num_replicas_in_sync
        self.images_seen.assign_add(global_batch)
        self.set_schedule_weights()
        return self.step_logs()


def build_progan(*, data_kind="image", resolution=32, channels=1, num_classes=None,
                 latent_dim=None, width=32, objective=None, seed=None, jit_compile="auto",
                 extra_penalties=(), max_filters=None, fade_images=FADE_IMAGES,
                 stabilize_images=STABILIZE_IMAGES, group_size=4, learning_rate=LEARNING_RATE,
                 betas=BETAS, drift=DRIFT, gp_weight=GP_WEIGHT):
    """A compiled :class:`ProGAN` with the paper's recipe (Karras et al. 2018, Appendix A.1).

    WGAN-GP (lambda 10, one critic step) with the drift term 0.001; Adam(0.001, beta1 0,
    beta2 0.99, eps 1e-8). Paper sizes are 512-d z and 512 channels up to 64x64; here z
    has 128 dimensions and ``width`` channels at the target resolution, doubling per
    halving up to ``max_filters`` (default 4 * width). The fade and stabilisation
    lengths default to 8k images each (the paper's 800k, scaled to the embedded data).

    Args:
        data_kind: ``"image"`` only.
        resolution: the target resolution, 4 * 2^k (8 ... 1024).
        num_classes: must be None (progan is unconditional).
        objective: default ``"wasserstein"``.
        extra_penalties: added to the gradient penalty and the drift term.
    """
    if data_kind != "image":
        raise UserInputError(f"progan trains on images, not {data_kind!r} data")
    if num_classes is not None:
        raise UserInputError("progan is unconditional; drop the labels")
    latent_dim = latent_dim or 128
    penalties = [penalties_lib.GradientPenalty(gp_weight), DriftPenalty(drift), *extra_penalties]
    model = ProGAN(latent_dim=latent_dim, resolution=resolution, channels=channels, width=width,
                   max_filters=max_filters, group_size=group_size, fade_images=fade_images,
                   stabilize_images=stabilize_images, network_seed=seed,
                   objective=objective or "wasserstein", n_critic=1, penalties=penalties,
                   seed=seed, name="progan")

    def adam():
        return keras.optimizers.Adam(learning_rate, beta_1=betas[0], beta_2=betas[1],
                                     epsilon=ADAM_EPSILON)

    model.compile(g_optimizer=adam(), d_optimizer=adam(), jit_compile=jit_compile)
    return model


def stage_resolutions(resolution):
    """The resolutions the schedule passes through, e.g. [4, 8, 16, 32]."""
    return [START * 2 ** s for s in range(num_stages(resolution))]


def images_until_stage(resolution, stage, fade_images=FADE_IMAGES, stabilize_images=STABILIZE_IMAGES):
    """Real images before ``stage`` starts (for planning a run's length)."""
    return Schedule(num_stages(resolution), fade_images, stabilize_images).start(stage)

