"""CycleGAN (Zhu et al. 2017): ResNet generators, 70x70 PatchGAN, image pool, cycle training.

Recipe of the paper (Sec. 4 and 7.1) and the authors' reference code: least-squares
adversarial loss, cycle-consistency L1 with lambda = 10, identity L1 with weight
0.5 * lambda, discriminators trained on a history of 50 generated images per domain
(Shrivastava et al. 2017), Adam 2e-4 with beta1 = 0.5, constant learning rate then a
linear decay to zero.

:func:`resnet_generator` and :func:`patchgan_discriminator` with instance norm are the
paper's networks (``translate train --preset paper``); :func:`residual_generator` (the
identity at initialisation) and the PatchGAN without normalisation are this toolkit's CPU
default, and their docstrings say where and why they depart from the paper.

Naming: ``generator_ab`` is G: A -> B, ``generator_ba`` is F: B -> A; ``discriminator_a``
judges domain A images (real a vs F(b)), ``discriminator_b`` judges domain B images
(real b vs G(a)), the paper's D_X and D_Y.
"""

from __future__ import annotations

import keras
import tensorflow as tf
from keras import ops

from gan_apps import objectives, runtime
from gan_apps.initializers import LayerSeeds, layer_seed
from gan_apps.training import TrainableModel, apply_update

STRIDE = 4  # the generator downsamples twice by 2
MIN_APPLY_SIZE = 8  # below this the innermost feature map is too small to reflect-pad
INIT_STD = 0.02  # reference code: init_type "normal", init_gain 0.02


@keras.saving.register_keras_serializable(package="gan_apps")
class ReflectionPadding2D(keras.layers.Layer):
    """Pad height and width by ``padding`` pixels with mirror reflection (no edge repeat)."""

    def __init__(self, padding=1, **kwargs):
        super().__init__(**kwargs)
        self.padding = int(padding)

    def call(self, inputs):
        p = self.padding
        return tf.pad(inputs, [[0, 0], [p, p], [p, p], [0, 0]], mode="REFLECT")

    def compute_output_shape(self, input_shape):
        n, h, w, c = input_shape
        grow = lambda d: None if d is None else d + 2 * self.padding  # noqa: E731
        return (n, grow(h), grow(w), c)

    def get_config(self):
        return {**super().get_config(), "padding": self.padding}


def _instance_norm():
    # Instance norm without affine parameters, as the reference code's InstanceNorm2d.
    return keras.layers.GroupNormalization(groups=-1, epsilon=1e-5, center=False, scale=False)


def _normal_initializers(seed):
    """N(0, 0.02) initializers seeded ``1000 seed + k`` for the k-th layer, k = 1, 2, ...

    The 1000 spacing keeps the four networks' seeds (``seed + i``) apart."""
    return LayerSeeds(None if seed is None else seed * 1000, first=1).initializers(
        keras.initializers.RandomNormal, mean=0.0, stddev=INIT_STD)


def _check_channels(channels):
    if channels not in (1, 3):
        raise ValueError(f"channels must be 1 or 3, got {channels}")


def _residual_block(x, width, init):
    y = ReflectionPadding2D(1)(x)
    y = keras.layers.Conv2D(width, 3, kernel_initializer=init())(y)
    y = keras.layers.ReLU()(_instance_norm()(y))
    y = ReflectionPadding2D(1)(y)
    y = keras.layers.Conv2D(width, 3, kernel_initializer=init())(y)
    y = _instance_norm()(y)
    return keras.layers.Add()([x, y])


def _encode(inputs, ngf, n_blocks, init):
    """Both generators' front: 7x7 conv, two stride-2 convs (ngf x2, x4), then
    ``n_blocks`` residual blocks; instance norm and ReLU after each conv."""
    x = ReflectionPadding2D(3)(inputs)
    x = keras.layers.Conv2D(ngf, 7, kernel_initializer=init())(x)
    x = keras.layers.ReLU()(_instance_norm()(x))
    for multiple in (2, 4):
        x = keras.layers.Conv2D(ngf * multiple, 3, strides=2, padding="same",
                                kernel_initializer=init())(x)
        x = keras.layers.ReLU()(_instance_norm()(x))
    for _ in range(n_blocks):
        x = _residual_block(x, ngf * 4, init)
    return x


def resnet_generator(channels=3, ngf=64, n_blocks=9, seed=None, name="generator"):
    """ResNet generator of Zhu et al. 2017, Sec. 7.2 (after Johnson et al. 2016).

    c7s1-ngf, d(2 ngf), d(4 ngf), ``n_blocks`` x R(4 ngf), u(2 ngf), u(ngf), c7s1-C, tanh;
    reflection padding and instance normalization. Fully convolutional: any height and
    width that are multiples of 4 (and at least 8) map to the same size.

    Args:
        channels: image channels in and out (1 or 3).
        ngf: width of the first layer (64 in the paper).
        n_blocks: residual blocks: 6 for 128 px training images, 9 for 256 px.
        seed: initializer seed.

    Returns:
        A functional model ``[B, H, W, C] in [-1, 1] -> [B, H, W, C] in [-1, 1]``.
    """
    _check_channels(channels)
    init = _normal_initializers(seed)
    inputs = keras.Input((None, None, channels), name="image")
    x = _encode(inputs, ngf, n_blocks, init)
    for multiple in (2, 1):
        x = keras.layers.Conv2DTranspose(ngf * multiple, 3, strides=2, padding="same",
                                         kernel_initializer=init())(x)
        x = keras.layers.ReLU()(_instance_norm()(x))
    x = ReflectionPadding2D(3)(x)
    x = keras.layers.Conv2D(channels, 7, kernel_initializer=init(), dtype="float32")(x)
    outputs = keras.layers.Activation("tanh", dtype="float32")(x)
    return keras.Model(inputs, outputs, name=name)


def _resize_conv(x, width, init):
    """2x nearest-neighbour upsampling then a 3x3 convolution (Odena et al. 2016,
    "Deconvolution and checkerboard artifacts"): every output pixel gets the same number of
    kernel taps, so no checkerboard, unlike the paper's stride-2 transposed convolution."""
    x = keras.layers.UpSampling2D(2, interpolation="nearest")(x)
    x = ReflectionPadding2D(1)(x)
    return keras.layers.Conv2D(width, 3, kernel_initializer=init())(x)


def residual_generator(channels=3, ngf=16, n_blocks=3, colour_width=32, seed=None,
                       name="generator"):
    """Identity-start generator, this toolkit's CPU default: ``G(x) = clip(x + r(x), -1, 1)``.

    Departs from Zhu et al. 2017 (Sec. 7.2, :func:`resnet_generator`) in three places, each
    so that a CPU budget of a few thousand steps is spent on the mapping and not on
    relearning the image:

    1. A global residual whose last layer is zero-initialised, so ``G(x) == x`` exactly at
       initialisation (the cycle loss is then 0 and the generator only moves as far as the
       discriminator pushes it). CycleGAN's translations keep most of the input; the paper's
       generator starts as a random function of it and spends its early training (on a CPU,
       the whole budget) relearning the content. The clip keeps outputs in [-1, 1] as the
       paper's tanh does, without bending the identity.
    2. A per-pixel colour branch (1x1 convolutions, no normalisation) beside the
       paper's trunk: colour and tone changes (season, lighting, film looks, the embedded
       ``photos:tone`` pair) are functions of the pixel's own colour, which the trunk's
       instance normalisation removes from its features.
    3. Upsampling by resize-convolution instead of transposed convolution (no
       checkerboard), and fewer residual blocks (3) at a width of 16 by default.

    The trunk keeps the paper's layout: c7s1-ngf, d(2 ngf), d(4 ngf), ``n_blocks`` x
    R(4 ngf), then two resize-convolutions u(2 ngf), u(ngf); its features and the colour
    branch's are concatenated and mapped to the residual by one zero-initialised 3x3
    convolution.

    Args:
        channels: image channels in and out (1 or 3).
        ngf: trunk width of the first layer.
        n_blocks: residual blocks in the trunk.
        colour_width: width of the per-pixel colour branch.
        seed: initializer seed.

    Returns:
        A functional model ``[B, H, W, C] in [-1, 1] -> [B, H, W, C] in [-1, 1]`` that is
        the identity at initialisation (H, W multiples of 4).
    """
    _check_channels(channels)
    init = _normal_initializers(seed)
    colour_init = LayerSeeds(None if seed is None else seed * 1000 + 500).initializers(
        keras.initializers.HeNormal)
    inputs = keras.Input((None, None, channels), name="image")
    x = _encode(inputs, ngf, n_blocks, init)
    for multiple in (2, 1):
        x = _resize_conv(x, ngf * multiple, init)
        x = keras.layers.ReLU()(_instance_norm()(x))
    colour = inputs
    for _ in range(2):
        colour = keras.layers.Conv2D(colour_width, 1, kernel_initializer=colour_init())(colour)
        colour = keras.layers.LeakyReLU(0.2)(colour)
    features = keras.layers.Concatenate()([x, colour])
    features = ReflectionPadding2D(1)(features)
    residual = keras.layers.Conv2D(channels, 3, kernel_initializer="zeros", dtype="float32",
                                   name="residual")(features)
    summed = keras.layers.Add(dtype="float32")([keras.layers.Activation("linear", dtype="float32")(inputs), residual])
    outputs = keras.layers.Activation(_clip_unit, dtype="float32", name="clip")(summed)
    return keras.Model(inputs, outputs, name=name)


@keras.saving.register_keras_serializable(package="gan_apps")
def _clip_unit(x):
    """Clip to [-1, 1] (the image range)."""
    return ops.clip(x, -1.0, 1.0)


def patchgan_discriminator(channels=3, ndf=64, n_layers=3, seed=None, name="discriminator",
                           norm="instance"):
    """70x70 PatchGAN of Isola et al. 2017 used by Zhu et al. 2017, Sec. 7.2.

    C64-C128-C256-C512 (4x4 convolutions, stride 2 except the last, instance norm from the
    second, LeakyReLU 0.2), then a 4x4 convolution to one logit per patch. Padding 1 on every
    convolution as the reference code, so each logit sees a 70x70 input patch.

    ``norm="none"`` drops the instance normalisation (the CPU default): instance norm
    subtracts each feature's mean over the image, which hides a global colour cast, the
    very thing a colour or tone translation changes, from every layer after the first.
    ``n_layers=2`` gives the 34x34 PatchGAN (Isola et al. 2017, Sec. 4.4).

    Returns:
        A functional model ``[B, H, W, C] -> [B, H', W', 1]`` logits (H, W >= 32).
    """
    _check_channels(channels)
    init = _normal_initializers(seed)
    inputs = keras.Input((None, None, channels), name="image")
    x = inputs
    for layer in range(n_layers + 1):
        stride = 2 if layer < n_layers else 1
        width = ndf * min(2 ** layer, 8)
        x = keras.layers.ZeroPadding2D(1)(x)
        x = keras.layers.Conv2D(width, 4, strides=stride, kernel_initializer=init())(x)
        if layer > 0 and norm == "instance":
            x = _instance_norm()(x)
        x = keras.layers.LeakyReLU(0.2)(x)
    x = keras.layers.ZeroPadding2D(1)(x)
    outputs = keras.layers.Conv2D(1, 4, kernel_initializer=init(), dtype="float32")(x)
    return keras.Model(inputs, outputs, name=name)


def translate(generator, images):
    """Run a fully convolutional generator on images of any size (float [-1, 1], NHWC).

    Height and width are reflection-padded up to a multiple of the stride (4), then the
    output is cropped back, so every input size returns the same size.
    """
    images = tf.convert_to_tensor(images, tf.float32)
    height, width = tf.shape(images)[1], tf.shape(images)[2]
    pad_h, pad_w = (-height) % STRIDE, (-width) % STRIDE
    top, left = pad_h // 2, pad_w // 2
    padded = tf.pad(images, [[0, 0], [top, pad_h - top], [left, pad_w - left], [0, 0]],
                    mode="REFLECT")
    out = tf.cast(generator(padded, training=False), tf.float32)
    return out[:, top:top + height, left:left + width, :]


@keras.saving.register_keras_serializable(package="gan_apps")
class ImagePool(keras.layers.Layer):
    """History of generated images for the discriminator (Shrivastava et al. 2017, Sec. 2.3).

    As the reference code of Zhu et al. 2017: until the pool holds ``pool_size`` images each
    new image is stored and returned; once full, each new image is, with probability 0.5,
    swapped for a random stored one (the stored one is returned, the new one takes its
    place), else returned as is. The buffer and the count are non-trainable variables, so a
    checkpoint holds the pool.

    Under a ``tf.distribute`` strategy with several replicas every replica gathers the
    global batch of fakes, runs the same query on it (the random draws come from the shared
    seed state, so they agree) and keeps its own slice of the result; the pool variables
    are assigned with the first replica's value, which every replica computed identically.
    The pool therefore evolves exactly as on one device fed the global batch.

    Args:
        pool_size: images kept (50 in the paper); 0 passes images through.
        image_shape: (H, W, C) of the images (the training crop).
    """

    def __init__(self, pool_size=50, image_shape=(256, 256, 3), **kwargs):
        super().__init__(**kwargs)
        self.pool_size = int(pool_size)
        self.image_shape = tuple(int(d) for d in image_shape)
        self.images = self.add_weight(
            shape=(max(self.pool_size, 1), *self.image_shape), initializer="zeros",
            trainable=False, name="images", aggregation="only_first_replica",
        )
        self.count = self.add_weight(shape=(), initializer="zeros", dtype="int32",
                                     trainable=False, name="count",
                                     aggregation="only_first_replica")
        self.built = True

    def query(self, images, seed_generator):
        """Return a batch for the discriminator and update the pool (one image at a time)."""
        images = ops.cast(ops.stop_gradient(images), "float32")
        if self.pool_size == 0:
            return images
        local_batch = images.shape[0]
        context = runtime.replica_context()
        if context is not None:
            gathered = context.all_gather(images, axis=0)
            # all_gather drops the static batch size the per-image loop below needs.
            images = tf.ensure_shape(
                gathered, (local_batch * context.num_replicas_in_sync, *images.shape[1:]))
        batch = images.shape[0]
        coins = keras.random.uniform((batch,), seed=seed_generator)
        slots = keras.random.randint((batch,), 0, self.pool_size, seed=seed_generator)
        buffer, count = self.images.value, self.count.value
        outputs = []
        for i in range(batch):
            image = images[i]
            filling = count < self.pool_size
            swap = tf.logical_and(tf.logical_not(filling), coins[i] > 0.5)
            slot = tf.where(filling, count, slots[i])
            # tf.gather, not buffer[slot]: XLA would bake the slot in as a constant and
            # recompile the train step at every step.
            returned = tf.where(swap, tf.gather(buffer, slot), image)
            stored = tf.logical_or(filling, swap)
            buffer = tf.where(
                stored,
                tf.tensor_scatter_nd_update(buffer, tf.reshape(slot, (1, 1)), image[None]),
                buffer,
            )
            count = count + tf.cast(filling, "int32")
            outputs.append(returned)
        self.images.assign(buffer)
        self.count.assign(count)
        outputs = tf.stack(outputs)
        return outputs if context is None else runtime.replica_share(outputs, context, local_batch)

    def get_config(self):
        return {**super().get_config(), "pool_size": self.pool_size,
                "image_shape": list(self.image_shape)}


@keras.saving.register_keras_serializable(package="gan_apps")
class LinearDecay(keras.optimizers.schedules.LearningRateSchedule):
    """Constant rate for ``constant_steps`` optimizer steps, then linear decay to 0 over
    ``decay_steps`` (Zhu et al. 2017, Sec. 7.1: 100 epochs constant, 100 decaying)."""

    def __init__(self, initial_learning_rate=2e-4, constant_steps=0, decay_steps=0):
        self.initial_learning_rate = float(initial_learning_rate)
        self.constant_steps = int(constant_steps)
        self.decay_steps = int(decay_steps)

    def __call__(self, step):
        step = ops.cast(step, "float32")
        if self.decay_steps == 0:
            return ops.full((), self.initial_learning_rate, "float32")
        progress = (step - self.constant_steps) / self.decay_steps
        return self.initial_learning_rate * ops.clip(1.0 - progress, 0.0, 1.0)

    def get_config(self):
        return {"initial_learning_rate": self.initial_learning_rate,
                "constant_steps": self.constant_steps, "decay_steps": self.decay_steps}


def adam(learning_rate, ema=0.0):
    """Adam with beta1 = 0.5, beta2 = 0.999 (Zhu et al. 2017, Sec. 7.1).

    ``ema`` in (0, 1) also keeps an exponential moving average of the weights it updates,
    w_ema <- ema w_ema + (1 - ema) w after every step (Keras's ``use_ema``): the averages
    are optimizer variables, so a checkpoint of the optimizer holds them (exact resume),
    and :meth:`CycleGAN.average_generators` copies them into the networks. 0 = none."""
    if not 0.0 <= ema < 1.0:
        raise ValueError(f"the EMA decay must lie in [0, 1), got {ema}")
    return keras.optimizers.Adam(learning_rate, beta_1=0.5, beta_2=0.999, use_ema=ema > 0,
                                 ema_momentum=ema if ema > 0 else 0.99)


# Zhu et al. 2017, Sec. 4: G minimises E[(D(G(x)) - 1)^2], twice the least-squares
# generator loss of Mao et al. (eq. 2, with its 1/2). D's loss there, halved "to slow
# down D", is exactly Mao's 1/2-weighted discriminator loss, so it needs no factor.
ADVERSARIAL_WEIGHTS = {"least_squares": 2.0}


@keras.saving.register_keras_serializable(package="gan_apps")
class CycleGAN(TrainableModel):
    """Unpaired translation with two generators and two discriminators (Zhu et al. 2017).

    Full objective (eq. 3, plus the identity term of Sec. 5.2):
    L = L_GAN(G, D_B) + L_GAN(F, D_A) + lambda (|F(G(a)) - a|_1 + |G(F(b)) - b|_1)
        + identity_weight * lambda (|G(b) - b|_1 + |F(a) - a|_1),
    the L1 terms as per-pixel means. Each ``fit`` step updates both generators on one
    batch (a, b), then both discriminators on real images and pooled fakes from that step.
    Two optimizers as in the reference code: one over G and F, one over D_A and D_B.

    Args:
        generator_ab, generator_ba: G: A -> B and F: B -> A.
        discriminator_a, discriminator_b: logits for domain A and domain B images.
        objective: a name from :mod:`gan_apps.objectives` (least squares by default).
        objective_options: keyword options for :func:`gan_apps.objectives.get`.
        cycle_weight: lambda (10).
        identity_weight: the identity term's weight as a fraction of lambda (0.5; 0 = off).
        pool_size: generated images kept per domain for the discriminators (50).
        image_shape: (H, W, C) of training crops (sizes the pools).
        seed: seed of the model's SeedGenerator (pool draws).
        gan_weight: factor on both adversarial terms (1 in the paper). Adam is invariant to
            the loss's overall scale, so ``gan_weight = k`` trains as ``cycle_weight / k``
            (and ``identity`` likewise) with the paper's adversarial weight.
    """

    OPTIMIZERS = {"g_optimizer": ("generator_ab", "generator_ba"),
                  "d_optimizer": ("discriminator_a", "discriminator_b")}
    NETWORKS = {name: name for name in ("generator_ab", "generator_ba", "discriminator_a",
                                        "discriminator_b")}
    # The image pools: the discriminators' history is part of exact resume.
    EXTRA_STATE = ("pool_a", "pool_b")

    def __init__(self, generator_ab, generator_ba, discriminator_a, discriminator_b,
                 objective="least_squares", objective_options=None, cycle_weight=10.0,
                 identity_weight=0.5, pool_size=50, image_shape=(256, 256, 3), seed=None,
                 gan_weight=1.0, **kwargs):
        super().__init__(**kwargs)
        self.generator_ab = generator_ab
        self.generator_ba = generator_ba
        self.discriminator_a = discriminator_a
        self.discriminator_b = discriminator_b
        self.objective_name = objective if isinstance(objective, str) else objective.name
        self.objective_options = dict(objective_options or {})
        self.objective = objectives.get(objective, **self.objective_options)
        self.gan_weight = float(gan_weight)
        self.adversarial_weight = ADVERSARIAL_WEIGHTS.get(self.objective_name, 1.0) * self.gan_weight
        self.cycle_weight = float(cycle_weight)
        self.identity_weight = float(identity_weight)
        self.pool_size = int(pool_size)
        self.image_shape = tuple(int(d) for d in image_shape)
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)
        self.pool_a = ImagePool(self.pool_size, self.image_shape, name="pool_a")
        self.pool_b = ImagePool(self.pool_size, self.image_shape, name="pool_b")
        names = ("g_loss", "gan_ab", "gan_ba", "cycle_a", "cycle_b", "identity_a",
                 "identity_b", "d_a_loss", "d_b_loss", "d_a_real", "d_a_fake", "d_b_real",
                 "d_b_fake", "g_grad_norm", "d_grad_norm")
        self.trackers = {name: keras.metrics.Mean(name=name) for name in names}
        self.built = True

    # --- keras plumbing ----------------------------------------------------------------

    def call(self, images, training=False):
        return self.generator_ab(images, training=training)

    def compile(self, g_optimizer, d_optimizer, **kwargs):
        """One optimizer over both generators, one over both discriminators; each
        loss-scaled under mixed_float16 and built now."""
        super().compile(g_optimizer=g_optimizer, d_optimizer=d_optimizer, **kwargs)

    def get_config(self):
        config = super().get_config()
        config.update(objective=self.objective_name, objective_options=self.objective_options,
                      cycle_weight=self.cycle_weight, identity_weight=self.identity_weight,
                      pool_size=self.pool_size, image_shape=list(self.image_shape),
                      seed=self.seed, gan_weight=self.gan_weight)
        return config

    # --- losses -------------------------------------------------------------------------

    def generator_losses(self, real_a, real_b, training=True):
        """Every generator term of the full objective, and the fakes for the discriminators.

        Returns:
            (dict of named loss terms (unweighted L1 means and adversarial losses), fake_a, fake_b).
        """
        fake_b = self.generator_ab(real_a, training=training)
        fake_a = self.generator_ba(real_b, training=training)
        rec_a = self.generator_ba(fake_b, training=training)
        rec_b = self.generator_ab(fake_a, training=training)
        terms = {
            "gan_ab": self.objective.g_loss(self.discriminator_b(fake_b, training=training)),
            "gan_ba": self.objective.g_loss(self.discriminator_a(fake_a, training=training)),
            "cycle_a": _l1(rec_a, real_a),
            "cycle_b": _l1(rec_b, real_b),
        }
        if self.identity_weight > 0:
            terms["identity_a"] = _l1(self.generator_ba(real_a, training=training), real_a)
            terms["identity_b"] = _l1(self.generator_ab(real_b, training=training), real_b)
        return terms, fake_a, fake_b

    def total_generator_loss(self, terms):
        """Weighted sum of :meth:`generator_losses` terms (eq. 3 and the identity term)."""
        total = self.adversarial_weight * (terms["gan_ab"] + terms["gan_ba"])
        total = total + self.cycle_weight * (terms["cycle_a"] + terms["cycle_b"])
        if "identity_a" in terms:
            weight = self.identity_weight * self.cycle_weight
            total = total + weight * (terms["identity_a"] + terms["identity_b"])
        return total

    def average_generators(self):
        """Copy the generator optimizer's moving averages into G and F (no-op without EMA).

        Averaging the iterates (Yazici et al. 2019, "The unusual effectiveness of averaging
        in GAN training") damps the cycling of a GAN around its equilibrium: on the embedded
        tone pair the last iterate's global colour swings by +-20/255 between checkpoints a
        hundred steps apart (docs/benchmarks.md, translation section), which the average
        cancels. Call it once training has ended: the raw weights are overwritten (the last
        checkpoint still holds them beside the averages, so training can continue)."""
        self.g_optimizer.finalize_variable_values(self.optimizer_variables("g_optimizer"))

    # --- training -----------------------------------------------------------------------

    def train_step(self, data):
        real_a, real_b = data
        with tf.GradientTape() as tape:
            terms, fake_a, fake_b = self.generator_losses(real_a, real_b)
            g_loss = self.total_generator_loss(terms)
        apply_update(tape, g_loss, self.optimizer_variables("g_optimizer"), self.g_optimizer,
                     self.trackers["g_grad_norm"])
        self.trackers["g_loss"].update_state(g_loss)
        for name, value in terms.items():
            self.trackers[name].update_state(value)

        pooled_a = self.pool_a.query(fake_a, self.seed_generator)
        pooled_b = self.pool_b.query(fake_b, self.seed_generator)
        with tf.GradientTape() as tape:
            real_logits_a = self.discriminator_a(real_a, training=True)
            fake_logits_a = self.discriminator_a(pooled_a, training=True)
            real_logits_b = self.discriminator_b(real_b, training=True)
            fake_logits_b = self.discriminator_b(pooled_b, training=True)
            d_a = self.objective.d_loss(real_logits_a, fake_logits_a)
            d_b = self.objective.d_loss(real_logits_b, fake_logits_b)
            d_loss = d_a + d_b
        apply_update(tape, d_loss, self.optimizer_variables("d_optimizer"), self.d_optimizer,
                     self.trackers["d_grad_norm"])
        self.trackers["d_a_loss"].update_state(d_a)
        self.trackers["d_b_loss"].update_state(d_b)
        for name, logits in (("d_a_real", real_logits_a), ("d_a_fake", fake_logits_a),
                             ("d_b_real", real_logits_b), ("d_b_fake", fake_logits_b)):
            self.trackers[name].update_state(ops.mean(self.objective.output(logits)))
        return self.step_logs()


def _l1(x, y):
    """Mean absolute difference in float32 (the reference code's nn.L1Loss)."""
    return ops.mean(ops.abs(ops.cast(x, "float32") - ops.cast(y, "float32")))


GENERATORS = ("identity", "paper")


def build_cyclegan(*, channels=3, crop_size=256, ngf=64, ndf=64, n_blocks=None,
                   generator="paper", d_layers=3, d_norm="instance", gan_weight=1.0,
                   objective="least_squares", cycle_weight=10.0, identity_weight=0.5,
                   pool_size=50, learning_rate=2e-4, constant_steps=0, decay_steps=0,
                   ema=0.0, seed=None, jit_compile="auto", steps_per_execution=1):
    """A compiled :class:`CycleGAN` with the chosen networks and the paper's optimizers.

    Args:
        generator: ``"paper"`` (:func:`resnet_generator`) or ``"identity"``
            (:func:`residual_generator`, the identity at initialisation).
        n_blocks: residual blocks; default 6 for crops up to 128 px, else 9 (Sec. 7.2) for
            the paper's generator, 3 for the identity-start one.
        gan_weight: factor on the adversarial terms (:class:`CycleGAN`).
        d_layers, d_norm: PatchGAN depth (3: 70x70, 2: 34x34) and normalisation
            (``"instance"`` as the paper, or ``"none"``).
        constant_steps, decay_steps: optimizer steps of the constant and the decaying phase.
        ema: decay of the moving average of both generators' weights kept by their
            optimizer (:func:`adam`; 0 = none, as the paper).
        jit_compile, steps_per_execution: as ``keras.Model.compile``. Under the
            mixed_float16 policy both optimizers are loss-scaled (gan_apps.runtime).
    """
    if generator not in GENERATORS:
        raise ValueError(f"generator must be one of {GENERATORS}, got {generator!r}")
    if d_norm not in ("instance", "none"):
        raise ValueError(f"d_norm must be 'instance' or 'none', got {d_norm!r}")
    seeds = [layer_seed(seed, i) for i in range(4)]
    if generator == "paper":
        n_blocks = n_blocks or (6 if crop_size <= 128 else 9)
        make = lambda i, name: resnet_generator(channels, ngf, n_blocks, seeds[i], name=name)  # noqa: E731
    else:
        n_blocks = n_blocks or 3
        make = lambda i, name: residual_generator(channels, ngf, n_blocks, seed=seeds[i], name=name)  # noqa: E731
    model = CycleGAN(
        make(0, "generator_ab"), make(1, "generator_ba"),
        patchgan_discriminator(channels, ndf, d_layers, seeds[2], "discriminator_a", d_norm),
        patchgan_discriminator(channels, ndf, d_layers, seeds[3], "discriminator_b", d_norm),
        objective=objective, cycle_weight=cycle_weight, identity_weight=identity_weight,
        pool_size=pool_size, image_shape=(crop_size, crop_size, channels), seed=seed,
        gan_weight=gan_weight,
    )

    def schedule():
        return LinearDecay(learning_rate, constant_steps, decay_steps)

    model.compile(g_optimizer=runtime.loss_scaled(adam(schedule(), ema)),
                  d_optimizer=runtime.loss_scaled(adam(schedule())),
                  jit_compile=jit_compile, steps_per_execution=steps_per_execution)
    return model
