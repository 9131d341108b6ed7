"""Moment-matching generators: GMMN (Li, Swersky and Zemel 2015) and MMD-GAN (Li et al. 2017).

Both minimise the squared maximum mean discrepancy (MMD^2) between a real batch and a
generated batch under a mixture of Gaussian kernels (:mod:`gan_apps.kernels`):

- GMMN ("Generative Moment Matching Networks", ICML 2015) on the data itself, with fixed
  kernels and no discriminator (Sec. 3.1, eq. 2-3, one optimizer).
- MMD-GAN ("MMD GAN: Towards Deeper Understanding of Moment Matching Network", NeurIPS
  2017) on learned features f_phi(x): the critic maximises MMD^2(f_phi(x), f_phi(G(z)))
  and the generator minimises it (eq. 3-4, Algorithm 1), with phi kept in a compact set
  by weight clipping at 0.01 as the paper (Sec. 3.1 and Algorithm 1; RMSProp 5e-5,
  n_critic 5). :func:`build_mmd_gan` adds what the authors' code trains with
  (OctoberChang/MMD-GAN ``mmd_gan.py``): a decoder whose reconstruction error the critic
  also minimises, the paper's autoencoder approximation of f_phi's injectivity
  (lambda_AE = 8 for real and fake alike), the one-sided ranking term E f(x) >= E f(G(z))
  (lambda_rg = 16), and sqrt(MMD^2) in place of MMD^2 for both players.
"""

from __future__ import annotations

import keras
import tensorflow as tf
from keras import layers, ops

from gan_apps import kernels, runtime, sampling
from gan_apps import penalties as penalties_lib
from gan_apps.errors import UserInputError
from gan_apps.gan import GAN
from gan_apps.initializers import LayerSeeds, layer_seed
from gan_apps.models.dcgan import dcgan_generator, normal_initializers, start_size
from gan_apps.models.mlp import mlp_generator
from gan_apps.models.presets import reference_rmsprop
from gan_apps.training import TrainableModel, apply_update

# Li et al. 2015, MNIST experiments: a mixture of six Gaussian kernels, "sigma" = 2, 5, 10,
# 20, 40, 80 in the reference code (yujiali/gmmn train.py, mnist_mmd_input_space). There the
# kernel is k = exp(-|x-y|^2 / (2 sigma)) (GaussianKernelMmdLoss), so each number is a kernel
# VARIANCE, on pixels in [0, 1] (dataio/mnist.py). Ours are standard deviations on [-1, 1]
# data: see :func:`bandwidths_from_variances`.
GMMN_REFERENCE_VARIANCES = (2.0, 5.0, 10.0, 20.0, 40.0, 80.0)
# Our pixels are x' = 2x - 1: distances double, so the data scale is 2.
REFERENCE_TO_OUR_PIXELS = 2.0


def bandwidths_from_variances(variances, scale=REFERENCE_TO_OUR_PIXELS):
    """Our kernel sigmas (standard deviations, :func:`gan_apps.kernels.rbf_mixture_kernel`)
    equal to the kernels exp(-|x - y|^2 / (2 v)) of the GMMN reference code, on data
    rescaled by ``scale``.

    With x' = scale x (+ a shift), |x' - y'|^2 = scale^2 |x - y|^2, so
    exp(-|x - y|^2 / (2 v)) = exp(-|x' - y'|^2 / (2 scale^2 v)): sigma = scale sqrt(v).
    For [0, 1] -> [-1, 1] pixels (scale 2) the reference's 2 ... 80 become
    2 sqrt(2) = 2.83 ... 2 sqrt(80) = 17.9.
    """
    return tuple(float(scale) * float(v) ** 0.5 for v in variances)


GMMN_BANDWIDTHS = bandwidths_from_variances(GMMN_REFERENCE_VARIANCES)
# Our choice for 2-D mixtures (ring8 spacing ~1.5, std 0.02; grid25 spacing 2, std 0.05):
# from the mode width to the whole layout.
POINT_BANDWIDTHS = (0.05, 0.1, 0.2, 0.5, 1.0, 2.0)
# Li et al. 2017, Sec. 5 and reference code (github.com/OctoberChang/MMD-GAN): {1, 2, 4, 8, 16}.
MMD_GAN_BANDWIDTHS = (1.0, 2.0, 4.0, 8.0, 16.0)


def _check_bandwidths(bandwidths):
    values = [float(s) for s in bandwidths]
    if not values or min(values) <= 0:
        raise UserInputError(f"kernel bandwidths must be positive numbers, got {list(bandwidths)}; "
                             "pass e.g. 1,2,4,8,16")
    return tuple(values)


@keras.saving.register_keras_serializable(package="gan_apps")
class GMMN(TrainableModel):
    """Generative moment matching network: a generator trained on MMD^2 alone (Li et al. 2015).

    Loss: the biased MMD^2 of eq. 2-3 (the squared distance of the mean embeddings of
    a real and a generated batch) with the kernel sum_s exp(-|x - y|^2 / (2 sigma_s^2));
    ``biased=False`` uses the unbiased estimator (Gretton et al. 2012, Lemma 6). The
    reference code minimises sqrt(MMD^2) (``mmdgen_sqrt_gaussian``); we minimise MMD^2, whose
    gradient has the same direction (scaled by 2 sqrt(MMD^2)), which Adam largely normalises.

    Args:
        generator: functional model ``z -> x``.
        latent_dim: size of z; read from the generator's input when omitted.
        bandwidths: the kernel sigmas on the data's scale (default :data:`GMMN_BANDWIDTHS`:
            the reference code's MNIST kernels on [-1, 1] pixels).
        biased: which MMD^2 estimator.
        seed: seed of the model's :class:`keras.random.SeedGenerator`.
    """

    OPTIMIZERS = {"g_optimizer": ("generator",)}
    NETWORKS = {"generator": "generator"}

    def __init__(self, generator, latent_dim=None, bandwidths=GMMN_BANDWIDTHS, biased=True,
                 seed=None, **kwargs):
        super().__init__(**kwargs)
        self.generator = generator
        self.latent_dim = int(latent_dim or generator.inputs[0].shape[-1])
        self.bandwidths = _check_bandwidths(bandwidths)
        self.biased = bool(biased)
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)
        self.num_classes = None
        self.g_loss_tracker = keras.metrics.Mean(name="g_loss")
        self.g_grad_norm_tracker = keras.metrics.Mean(name="g_grad_norm")
        self.built = True

    def call(self, z, training=False):
        return self.generator(z, training=training)

    def compile(self, g_optimizer, **kwargs):
        """Set the generator's optimizer (loss-scaled under mixed_float16, built now)."""
        super().compile(g_optimizer=g_optimizer, **kwargs)

    @property
    def metrics(self):
        return [self.g_loss_tracker, self.g_grad_norm_tracker]

    def get_config(self):
        config = super().get_config()
        config.update(latent_dim=self.latent_dim, bandwidths=list(self.bandwidths),
                      biased=self.biased, seed=self.seed)
        return config

    def latent_spec(self):
        """The generator's inputs as data (see :mod:`gan_apps.sampling`)."""
        return sampling.unconditional_spec(self.latent_dim)

    def sample_latent(self, batch_size):
        """z ~ N(0, I), drawn from the model's seed generator (per-replica slices of the
        global batch's draw under tf.distribute)."""
        return runtime.global_batch_random(
            keras.random.normal, (batch_size, self.latent_dim), self.seed_generator
        )

    def generate(self, batch_size, training=False):
        return self.generator(self.sample_latent(batch_size), training=training)

    def train_step(self, data):
        real = data[0] if isinstance(data, (tuple, list)) else data
        z = self.sample_latent(ops.shape(real)[0])
        with tf.GradientTape() as tape:
            fake = self.generator(z, training=True)
            loss = kernels.mmd2(real, fake, self.bandwidths, biased=self.biased)
        apply_update(tape, loss, self.generator.trainable_variables, self.g_optimizer,
                     self.g_grad_norm_tracker)
        self.g_loss_tracker.update_state(loss)
        return self.step_logs()


# The reference code's weights (OctoberChang/MMD-GAN mmd_gan.py: lambda_AE_X = lambda_AE_Y = 8,
# lambda_rg = 16).
AUTOENCODER_WEIGHT = 8.0
HINGE_WEIGHT = 16.0


def one_sided_ranking(real_features, fake_features):
    """-mean_j relu(mean f_j(G(z)) - mean f_j(x)): zero when every feature's mean over the
    real batch is at least its mean over the fake batch, negative otherwise (Li et al. 2017's
    feasible-set reduction; the reference code's ``ONE_SIDED`` on
    ``f_enc_X.mean(0) - f_enc_Y.mean(0)``). The critic maximises it, the generator minimises
    it."""
    gap = ops.mean(real_features, axis=0) - ops.mean(fake_features, axis=0)
    return -ops.mean(ops.relu(-gap))


def scaled_by_spread(real_features, fake_features):
    """Both batches divided by d, the root mean square distance between the rows of the two
    batches pooled, held constant in the gradient: a kernel of bandwidth sigma on the result
    is one of bandwidth sigma * d on the features (our departure, see :class:`MMDGAN`)."""
    pooled = ops.concatenate([ops.cast(real_features, "float32"),
                              ops.cast(fake_features, "float32")], axis=0)
    spread = ops.sqrt(ops.maximum(ops.mean(kernels.squared_distances(pooled, pooled)), 1e-24))
    spread = ops.stop_gradient(spread)
    return real_features / spread, fake_features / spread


@keras.saving.register_keras_serializable(package="gan_apps")
class MMDGAN(GAN):
    """MMD-GAN: MMD^2 on features of a learned critic (Li et al. 2017, eq. 3-4, Algorithm 1).

    One training step is :meth:`gan_apps.gan.GAN.train_step`'s: ``n_critic`` critic updates,
    each on its own minibatch of the step's batch (rows i, i + n_critic, ...), then one
    generator update. With the defaults (the paper's eq. 3): the critic update maximises
    M = MMD^2_b(f_phi(x), f_phi(G(z))) (logged as ``d_loss`` = -M), then applies the
    penalties' constraints (weight clipping at 0.01 by default, Algorithm 1); the generator
    update minimises the same M with a fresh z against the last critic minibatch
    (``g_loss``). The base GAN's objective is not used.

    The authors' code (OctoberChang/MMD-GAN ``mmd_gan.py``) trains with three additions,
    each off by default here and on in :func:`build_mmd_gan`:

    - ``sqrt_mmd``: both players use sqrt(M) instead of M (same direction, scaled by
      1 / (2 sqrt(M)), which keeps the step from vanishing as M shrinks);
    - ``hinge_weight`` lambda_rg: + lambda_rg * :func:`one_sided_ranking` in both players'
      objectives (the critic ranks real features above fake ones);
    - ``decoder`` with ``autoencoder_weight`` lambda_AE: the critic also minimises
      lambda_AE * (mean (x - dec(f(x)))^2 + mean (y - dec(f(y)))^2) for the real batch x and
      the fake batch y (the paper approximates f_phi's injectivity, which the MMD of the
      features needs to be a distance, with an autoencoder; the code's ``errD``). The
      decoder is trained by the critic's optimizer and is not clipped (the code clamps only
      the encoder).

    ``relative_bandwidths`` (our departure, off by default): the kernel's sigmas are multiples
    of the features' own spread (:func:`scaled_by_spread`) instead of absolute numbers. Under
    clipping at 0.01 an image critic's features lie ~0.03 apart, where every kernel of
    sigma 1 ... 16 is linear in the squared distance, so MMD^2 compares only the two
    batches' mean features. The ranking term then takes the scaled features too, so it
    keeps its weight against sqrt(M) whatever the features' scale.

    So the critic maximises sqrt(M) + lambda_rg R - lambda_AE (AE_x + AE_y) (logged as
    ``d_loss``, its negative) and the generator minimises sqrt(M) + lambda_rg R (``g_loss``);
    ``mmd2``, ``ranking`` and ``autoencoder`` log the terms of the critic's updates.

    Args:
        generator: functional model ``z -> x``.
        critic: functional model ``x -> features [B, h]`` (the paper's f_phi, the encoder).
        decoder: functional model ``features [B, h] -> x``, or None (no autoencoder term).
        bandwidths: kernel sigmas on the features.
        biased: biased MMD^2 (the reference code's choice) or unbiased.
        n_critic: critic updates per generator update (5 in the paper).
        penalties: critic penalties/constraints; None gives WeightClipping(0.01).
        sqrt_mmd, hinge_weight, autoencoder_weight: the additions above (off: False, 0, 0).
        relative_bandwidths: sigmas as multiples of the features' spread (off: False).
        latent_dim, seed: as :class:`gan_apps.gan.GAN`.
    """

    # The critic is the GAN's ``discriminator`` attribute, saved and configured as "critic".
    NETWORKS = {"generator": "generator", "critic": "discriminator", "decoder": "decoder"}
    OPTIMIZERS = {"g_optimizer": ("generator",), "d_optimizer": ("discriminator", "decoder")}

    def __init__(self, generator, critic, decoder=None, bandwidths=MMD_GAN_BANDWIDTHS, biased=True,
                 n_critic=5, penalties=None, sqrt_mmd=False, hinge_weight=0.0,
                 autoencoder_weight=0.0, relative_bandwidths=False, latent_dim=None, seed=None,
                 **kwargs):
        if penalties is None:
            penalties = [penalties_lib.WeightClipping(0.01)]
        super().__init__(generator, critic, latent_dim=latent_dim, objective="wasserstein",
                         n_critic=n_critic, penalties=penalties, seed=seed, **kwargs)
        if float(autoencoder_weight) < 0 or float(hinge_weight) < 0:
            raise UserInputError("MMD-GAN's autoencoder and ranking weights must be >= 0, got "
                                 f"{autoencoder_weight} and {hinge_weight}")
        if float(autoencoder_weight) > 0 and decoder is None:
            raise UserInputError("MMD-GAN's autoencoder term needs a decoder")
        self.decoder = decoder
        self.num_classes = None
        self.bandwidths = _check_bandwidths(bandwidths)
        self.biased = bool(biased)
        self.sqrt_mmd = bool(sqrt_mmd)
        self.hinge_weight = float(hinge_weight)
        self.autoencoder_weight = float(autoencoder_weight)
        self.relative_bandwidths = bool(relative_bandwidths)
        self.mmd2_tracker = keras.metrics.Mean(name="mmd2")
        self.term_trackers = {}
        if self.hinge_weight:
            self.term_trackers["ranking"] = keras.metrics.Mean(name="ranking")
        if self.autoencoder_weight:
            self.term_trackers["autoencoder"] = keras.metrics.Mean(name="autoencoder")

    @property
    def metrics(self):
        return [self.d_loss_tracker, self.g_loss_tracker, self.mmd2_tracker,
                *self.term_trackers.values(), self.d_grad_norm_tracker,
                self.g_grad_norm_tracker, *self.penalty_trackers.values()]

    def get_config(self):
        config = super().get_config()
        for key in ("objective", "objective_options"):
            config.pop(key)
        config.update(bandwidths=list(self.bandwidths), biased=self.biased,
                      sqrt_mmd=self.sqrt_mmd, hinge_weight=self.hinge_weight,
                      autoencoder_weight=self.autoencoder_weight,
                      relative_bandwidths=self.relative_bandwidths)
        return config

    def shared_objective(self, real_features, fake_features):
        """What the critic maximises and the generator minimises: M (or sqrt(M)) plus
        lambda_rg times the ranking term; returns (objective, M, ranking), ranking None when
        its weight is 0."""
        if self.relative_bandwidths:
            real_features, fake_features = scaled_by_spread(real_features, fake_features)
        value = kernels.mmd2(real_features, fake_features, self.bandwidths, biased=self.biased)
        # The biased estimate is >= 0 up to rounding; the floor keeps sqrt's gradient finite.
        objective = ops.sqrt(ops.maximum(value, 1e-12)) if self.sqrt_mmd else value
        ranking = None
        if self.hinge_weight:
            ranking = one_sided_ranking(real_features, fake_features)
            objective = objective + self.hinge_weight * ranking
        return objective, value, ranking

    def reconstruction_error(self, images, features):
        """mean (x - dec(f(x)))^2 over every entry, in float32 (the reference's L2 ``match``)."""
        decoded = ops.cast(self.decoder(features, training=True), "float32")
        return ops.mean(ops.square(ops.cast(images, "float32") - decoded))

    def generator_update(self, real, conditioning):
        self.mmd_generator_step(real)

    def discriminator_step(self, real, conditioning=None):
        """One critic (and decoder) update: gradient ascent on the critic's objective."""
        fake = ops.stop_gradient(self.generate_fake(ops.shape(real)[0], conditioning))
        variables = self.optimizer_variables("d_optimizer")
        with tf.GradientTape() as tape:
            real_features = self.discriminator(real, training=True)
            fake_features = self.discriminator(fake, training=True)
            objective, value, ranking = self.shared_objective(real_features, fake_features)
            loss = -objective
            if self.autoencoder_weight:
                autoencoder = (self.reconstruction_error(real, real_features)
                               + self.reconstruction_error(fake, fake_features))
                loss = loss + self.autoencoder_weight * autoencoder
        apply_update(tape, loss, variables, self.d_optimizer, self.d_grad_norm_tracker)
        for penalty in self.penalties:
            penalty.after_discriminator_update(self.discriminator)
        self.d_loss_tracker.update_state(loss)
        self.mmd2_tracker.update_state(value)
        if self.hinge_weight:
            self.term_trackers["ranking"].update_state(ranking)
        if self.autoencoder_weight:
            self.term_trackers["autoencoder"].update_state(autoencoder)

    def mmd_generator_step(self, real):
        """One generator update: gradient descent on the shared objective (Algorithm 1)."""
        with tf.GradientTape() as tape:
            fake = self.generate_fake(ops.shape(real)[0], None)
            real_features = self.discriminator(real, training=True)
            fake_features = self.discriminator(fake, training=True)
            loss, _, _ = self.shared_objective(real_features, fake_features)
        apply_update(tape, loss, self.generator.trainable_variables, self.g_optimizer,
                     self.g_grad_norm_tracker)
        self.g_loss_tracker.update_state(loss)


def mlp_feature_critic(input_dim=2, hidden=(128, 128), feature_dim=16, seed=None):
    """MLP critic ``points -> features [B, feature_dim]``: Dense, batch norm, LeakyReLU(0.2).

    Batch norm keeps the features at a usable scale under weight clipping, as in the
    reference code's convolutional encoder.
    """
    seeds = LayerSeeds(seed)
    points = keras.Input((input_dim,), name="points")
    x = points
    for units in hidden:
        x = layers.Dense(units, kernel_initializer=seeds.initializer(keras.initializers.HeNormal))(x)
        x = layers.BatchNormalization()(x)
        x = layers.LeakyReLU(0.2)(x)
    features = layers.Dense(feature_dim, dtype="float32", name="features")(x)
    return keras.Model(points, features, name="mlp_feature_critic")


def dcgan_feature_critic(resolution=32, channels=1, width=32, feature_dim=100, seed=None):
    """DCGAN encoder ``images -> features [B, feature_dim]`` (Li et al. 2017, Sec. 5).

    Stride-2 4x4 convolutions doubling the filters, batch norm after all but the first,
    LeakyReLU(0.2), then a linear projection to the features.
    """
    _, doublings = start_size(resolution)
    init = normal_initializers(seed)
    images = keras.Input((resolution, resolution, channels), name="images")
    x = images
    filters = width
    for i in range(doublings):
        x = layers.Conv2D(filters, 4, strides=2, padding="same", kernel_initializer=init())(x)
        if i > 0:
            x = layers.BatchNormalization()(x)
        x = layers.LeakyReLU(0.2)(x)
        filters *= 2
    x = layers.Flatten()(x)
    features = layers.Dense(feature_dim, kernel_initializer=init(), dtype="float32",
                            name="features")(x)
    return keras.Model(images, features, name="dcgan_feature_critic")


def _generator(data_kind, resolution, channels, latent_dim, width, hidden_units, seed):
    if data_kind == "points":
        latent_dim = latent_dim or 256
        return mlp_generator(latent_dim, 2, hidden=(int(hidden_units),) * 2, seed=seed), latent_dim
    if data_kind == "image":
        latent_dim = latent_dim or 100
        return dcgan_generator(latent_dim, resolution, channels, width=width, seed=seed), latent_dim
    raise UserInputError(f"unknown data kind {data_kind!r}; choose image or points")


def _no_labels_no_objective(name, num_classes, objective):
    if num_classes is not None:
        raise UserInputError(f"{name} takes no labels; drop the class count or use a conditional model")
    if objective is not None:
        raise UserInputError(f"{name} trains on MMD, not an adversarial objective; drop --objective")


def build_gmmn(*, data_kind="image", resolution=32, channels=1, num_classes=None, latent_dim=None,
               width=32, objective=None, seed=None, jit_compile="auto", bandwidths=None,
               biased=True, learning_rate=1e-3, hidden_units=128):
    """A compiled :class:`GMMN`.

    Defaults: images: DCGAN generator (latent 100), the reference code's MNIST kernels
    (variances 2, 5, 10, 20, 40, 80 on [0, 1] pixels = sigmas 2.83 ... 17.9 on our [-1, 1]
    pixels, :func:`bandwidths_from_variances`; Li et al. 2015, Sec. 4); points: MLP
    generator with 2 hidden layers of 128 and a 256-d latent (as the unrolled GAN's) with
    :data:`POINT_BANDWIDTHS`. Adam(``learning_rate`` 1e-3, beta1 0.5) is our choice: the
    paper tunes SGD with momentum per data set by Bayesian optimisation.
    """
    _no_labels_no_objective("GMMN", num_classes, objective)
    generator, latent_dim = _generator(data_kind, resolution, channels, latent_dim, width,
                                       hidden_units, seed)
    if bandwidths is None:
        bandwidths = POINT_BANDWIDTHS if data_kind == "points" else GMMN_BANDWIDTHS
    model = GMMN(generator, latent_dim=latent_dim, bandwidths=bandwidths, biased=biased,
                 seed=seed, name="gmmn")
    model.compile(g_optimizer=keras.optimizers.Adam(learning_rate, beta_1=0.5),
                  jit_compile=jit_compile)
    return model


def build_mmd_gan(*, data_kind="image", resolution=32, channels=1, num_classes=None,
                  latent_dim=None, width=32, objective=None, seed=None, jit_compile="auto",
                  bandwidths=None, biased=True, n_critic=5, clip_value=0.01, learning_rate=5e-5,
                  feature_dim=None, hidden_units=128, autoencoder_weight=AUTOENCODER_WEIGHT,
                  hinge_weight=HINGE_WEIGHT, sqrt_mmd=True, relative_bandwidths=None):
    """A compiled :class:`MMDGAN` with the settings of the paper and its code (Li et al. 2017,
    Sec. 5; OctoberChang/MMD-GAN).

    RMSProp(5e-5) with PyTorch's rho 0.99 and epsilon as the reference code
    (:func:`gan_apps.models.presets.reference_rmsprop`) for both players, n_critic 5, weight
    clipping 0.01 of the encoder, bandwidths {1, 2, 4, 8, 16}, biased MMD^2, and the code's
    training objective: sqrt(MMD^2), the one-sided ranking term (16) and the autoencoder
    term (8) with a decoder shaped as the generator (``autoencoder_weight=0,
    hinge_weight=0, sqrt_mmd=False`` is eq. 3 alone). The critic: a DCGAN encoder
    (``width`` filters) for images, an MLP with 2 hidden layers of 128 and batch norm for
    points; its feature size defaults to the latent size as in the reference code (100 for
    images; 16 for points, our choice). ``relative_bandwidths`` None turns the sigmas
    relative to the features' spread on for images (our departure, see :class:`MMDGAN`:
    with the paper's absolute sigmas the image recipe stalled at FID 106-134) and leaves
    them absolute for points. Not implemented: the code's 100 critic updates for the first
    25 and every 500th generator update.
    """
    _no_labels_no_objective("MMD-GAN", num_classes, objective)
    generator, latent_dim = _generator(data_kind, resolution, channels, latent_dim, width,
                                       hidden_units, seed)
    critic_seed = layer_seed(seed, 100)
    if data_kind == "points":
        feature_dim = feature_dim or 16
        critic = mlp_feature_critic(2, (int(hidden_units),) * 2, feature_dim, seed=critic_seed)
    else:
        feature_dim = feature_dim or latent_dim
        critic = dcgan_feature_critic(resolution, channels, width, feature_dim, seed=critic_seed)
    decoder = None
    if autoencoder_weight:
        # The reference's decoder has the generator's architecture, with the features as input.
        decoder, _ = _generator(data_kind, resolution, channels, feature_dim, width,
                                hidden_units, layer_seed(seed, 200))
    model = MMDGAN(generator, critic, decoder=decoder, bandwidths=bandwidths or MMD_GAN_BANDWIDTHS,
                   biased=biased, n_critic=n_critic,
                   penalties=[penalties_lib.WeightClipping(clip_value)], sqrt_mmd=sqrt_mmd,
                   hinge_weight=hinge_weight, autoencoder_weight=autoencoder_weight,
                   relative_bandwidths=(data_kind == "image" if relative_bandwidths is None
                                        else relative_bandwidths),
                   latent_dim=latent_dim, seed=seed, name="mmd_gan")
    # PyTorch's RMSprop as the reference code (OctoberChang/MMD-GAN): see reference_rmsprop.
    model.compile(g_optimizer=reference_rmsprop(learning_rate),
                  d_optimizer=reference_rmsprop(learning_rate), jit_compile=jit_compile)
    return model
