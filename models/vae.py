"""Variational auto-encoder (Kingma & Welling 2013) whose decoder is a generator of the toolkit.

The decoder ``z -> images`` in [-1, 1] is the model's ``generator`` (a DCGAN generator from
:mod:`gan_apps.models.dcgan`, or an MLP for 8x8 images), so a trained VAE serves every place
a GAN generator does: sampling, export, and the generative prior of compressed sensing
(Bora et al. 2017 used a VAE on MNIST).

Training maximises the SGVB estimate of the evidence lower bound (Kingma & Welling 2013,
eq. 10) with the analytic KL of a diagonal Gaussian posterior to N(0, I) (their
Appendix B), one sample of z per image through the reparameterization
z = mu + sigma * eps (their Sec. 2.4).

Likelihoods p(x | z):

- ``"bernoulli"`` (default, as Kingma & Welling on MNIST): the pixel intensity
  t = (x + 1) / 2 in [0, 1] is the target of a Bernoulli with logits 2a, where a is the
  pre-tanh activation of the decoder's output layer, so that the mean sigmoid(2a) equals
  (tanh(a) + 1) / 2, the decoder's image mapped to [0, 1]. log p = t * l - softplus(l).
- ``"gaussian"``: x in [-1, 1] is N(decoder(z), s^2 I) with a fixed std s
  (``gaussian_std``), as the Frey-face model of Kingma & Welling (Sec. 5) with s fixed.
"""

from __future__ import annotations

import math

import keras
import tensorflow as tf
from keras import layers, ops

from gan_apps import sampling
from gan_apps.errors import UserInputError
from gan_apps.images import to_unit_range
from gan_apps.initializers import LayerSeeds, layer_seed
from gan_apps.models.dcgan import dcgan_generator
from gan_apps.training import TrainableModel, apply_update, step_logs

LIKELIHOODS = ("bernoulli", "gaussian")
ARCHS = ("auto", "mlp", "dcgan")
# Bora et al. 2017 (Sec. 6.1.1): MNIST VAE 784-500-500-20, Adam with learning rate 1e-3.
DEFAULT_LATENT_DIM = 20
DEFAULT_HIDDEN = (500, 500)
DEFAULT_LEARNING_RATE = 1e-3
OUTPUT_LAYER = "images"


def gaussian_kl(mean, log_var):
    """KL(N(mean, exp(log_var)) || N(0, I)) per example, summed over the latent axis.

    Kingma & Welling 2013, Appendix B: -KL = 1/2 sum(1 + log sigma^2 - mu^2 - sigma^2).
    """
    return -0.5 * ops.sum(1.0 + log_var - ops.square(mean) - ops.exp(log_var), axis=-1)


def bernoulli_log_likelihood(targets, logits):
    """sum over pixels of t log sigmoid(l) + (1 - t) log(1 - sigmoid(l)) = t l - softplus(l)."""
    flat_t = ops.reshape(targets, (ops.shape(targets)[0], -1))
    flat_l = ops.reshape(logits, (ops.shape(logits)[0], -1))
    return ops.sum(flat_t * flat_l - ops.softplus(flat_l), axis=-1)


def gaussian_log_likelihood(images, means, std):
    """sum over pixels of log N(x; mean, std^2) for a fixed scalar std."""
    flat_x = ops.reshape(images, (ops.shape(images)[0], -1))
    flat_m = ops.reshape(means, (ops.shape(means)[0], -1))
    pixels = ops.cast(ops.shape(flat_x)[1], "float32")
    squares = ops.sum(ops.square(flat_x - flat_m), axis=-1) / (2.0 * std**2)
    return -squares - 0.5 * pixels * math.log(2.0 * math.pi * std**2)


def mlp_encoder(resolution, channels, latent_dim, hidden=DEFAULT_HIDDEN, seed=None):
    """MLP encoder ``images -> (mean, log_var)`` of q(z | x), each [B, latent_dim]."""
    seeds = LayerSeeds(seed)
    images = keras.Input((resolution, resolution, channels), name="images")
    x = layers.Flatten()(images)
    for units in hidden:
        x = layers.Dense(units, activation="relu",
                         kernel_initializer=seeds.initializer(keras.initializers.HeNormal))(x)
    return _posterior_heads(images, x, latent_dim, seeds)


def conv_encoder(resolution, channels, latent_dim, width=32, seed=None):
    """Strided-convolution encoder (the DCGAN discriminator's body) ``images -> (mean, log_var)``."""
    seeds = LayerSeeds(seed)
    images = keras.Input((resolution, resolution, channels), name="images")
    x = images
    filters = width
    size = resolution
    while size > 4 and size % 2 == 0:
        x = layers.Conv2D(filters, 4, strides=2, padding="same",
                          kernel_initializer=seeds.initializer(keras.initializers.HeNormal))(x)
        x = layers.LeakyReLU(0.2)(x)
        filters, size = filters * 2, size // 2
    return _posterior_heads(images, layers.Flatten()(x), latent_dim, seeds)


def mlp_decoder(latent_dim, resolution, channels, hidden=DEFAULT_HIDDEN, seed=None):
    """MLP decoder ``z -> images`` in [-1, 1]; the tanh output layer is named ``images``."""
    seeds = LayerSeeds(seed, first=100)
    z = keras.Input((latent_dim,), name="z")
    x = z
    for units in hidden:
        x = layers.Dense(units, activation="relu",
                         kernel_initializer=seeds.initializer(keras.initializers.HeNormal))(x)
    x = layers.Dense(resolution * resolution * channels)(x)
    x = layers.Reshape((resolution, resolution, channels))(x)
    images = layers.Activation("tanh", dtype="float32", name=OUTPUT_LAYER)(x)
    return keras.Model(z, images, name="mlp_decoder")


def _posterior_heads(images, features, latent_dim, seeds):
    """The mean and log-variance heads, seeded with the next two of ``seeds`` (a LayerSeeds)."""
    mean = layers.Dense(latent_dim, dtype="float32", name="mean",
                        kernel_initializer=seeds.initializer(keras.initializers.GlorotUniform))(features)
    log_var = layers.Dense(latent_dim, dtype="float32", name="log_var",
                           kernel_initializer=seeds.initializer(keras.initializers.GlorotUniform))(features)
    return keras.Model(images, [mean, log_var], name="encoder")


def _logit_net(decoder):
    """``z -> a``, the pre-tanh activation of the decoder's output layer (shares its weights)."""
    try:
        output_layer = decoder.get_layer(OUTPUT_LAYER)
    except ValueError:
        raise UserInputError(
            f"the VAE decoder needs a tanh output layer named {OUTPUT_LAYER!r} "
            "(as dcgan_generator and mlp_decoder have)"
        ) from None
    return keras.Model(decoder.inputs, output_layer.input, name="decoder_logits")


@keras.saving.register_keras_serializable(package="gan_apps")
class VAE(TrainableModel):
    """Encoder q(z | x) and decoder (the ``generator``) trained on the ELBO with ``fit``.

    Args:
        encoder: functional model ``images -> (mean, log_var)``.
        generator: functional decoder ``z -> images`` in [-1, 1] with a tanh output layer
            named ``images``.
        likelihood: ``"bernoulli"`` on (x + 1) / 2 or ``"gaussian"`` with a fixed std.
        gaussian_std: the std of the Gaussian likelihood, in units of x in [-1, 1].
        seed: seed of the model's :class:`keras.random.SeedGenerator` (eps, prior samples).
    """

    num_classes = None
    # One optimizer over encoder and decoder (the ELBO trains both).
    OPTIMIZERS = {"optimizer": ("encoder", "generator")}
    NETWORKS = {"generator": "generator", "encoder": "encoder"}

    def __init__(self, encoder, generator, likelihood="bernoulli", gaussian_std=0.1, seed=None,
                 **kwargs):
        super().__init__(**kwargs)
        if likelihood not in LIKELIHOODS:
            raise UserInputError(f"unknown VAE likelihood {likelihood!r}; choose one of {LIKELIHOODS}")
        if not gaussian_std > 0:
            raise UserInputError(f"gaussian_std must be > 0, got {gaussian_std!r}")
        self.encoder = encoder
        self.generator = generator
        self.latent_dim = int(generator.inputs[0].shape[-1])
        self.likelihood = likelihood
        self.gaussian_std = float(gaussian_std)
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)
        self._decoder_logits = _logit_net(generator)
        self.loss_tracker = keras.metrics.Mean(name="loss")
        self.elbo_tracker = keras.metrics.Mean(name="elbo")
        self.reconstruction_tracker = keras.metrics.Mean(name="reconstruction")
        self.kl_tracker = keras.metrics.Mean(name="kl")
        self.grad_norm_tracker = keras.metrics.Mean(name="grad_norm")
        self.built = True

    # --- keras plumbing ----------------------------------------------------------------

    def call(self, z, training=False):
        return self.generator(z, training=training)

    def compile(self, optimizer=None, **kwargs):
        """One optimizer for encoder and decoder (default Adam 1e-3), loss-scaled under
        mixed_float16 and built now (required under tf.distribute)."""
        super().compile(optimizer=optimizer or keras.optimizers.Adam(DEFAULT_LEARNING_RATE),
                        **kwargs)

    @property
    def metrics(self):
        return [self.loss_tracker, self.elbo_tracker, self.reconstruction_tracker,
                self.kl_tracker, self.grad_norm_tracker]

    def get_config(self):
        config = super().get_config()
        config.update(likelihood=self.likelihood, gaussian_std=self.gaussian_std, seed=self.seed)
        return config

    # --- what a training pipeline needs of every model ----------------------------------

    def latent_spec(self):
        """z ~ N(0, I): the VAE prior (see :mod:`gan_apps.sampling`)."""
        return sampling.unconditional_spec(self.latent_dim)

    def sample_latent(self, batch_size):
        """z ~ N(0, I), drawn from the model's seed generator."""
        return keras.random.normal((batch_size, self.latent_dim), seed=self.seed_generator)

    def generate(self, batch_size, training=False):
        return self.generator(self.sample_latent(batch_size), training=training)

    # --- the objective ------------------------------------------------------------------

    def elbo_terms(self, images, training=False):
        """Per-example (log-likelihood, KL) of the one-sample SGVB estimator (K&W eq. 10).

        Returns:
            dict with ``log_likelihood`` [B] and ``kl`` [B], in nats; ELBO = ll - kl.
        """
        mean, log_var = self.encoder(images, training=training)
        eps = keras.random.normal(ops.shape(mean), seed=self.seed_generator)
        z = mean + ops.exp(0.5 * log_var) * eps
        if self.likelihood == "bernoulli":
            logits = 2.0 * ops.cast(self._decoder_logits(z, training=training), "float32")
            log_likelihood = bernoulli_log_likelihood(to_unit_range(images), logits)
        else:
            decoded = ops.cast(self.generator(z, training=training), "float32")
            log_likelihood = gaussian_log_likelihood(images, decoded, self.gaussian_std)
        return {"log_likelihood": log_likelihood, "kl": gaussian_kl(mean, log_var)}

    def elbo(self, images, training=False):
        """One-sample ELBO estimate per example [B], in nats."""
        terms = self.elbo_terms(images, training=training)
        return terms["log_likelihood"] - terms["kl"]

    def train_step(self, data):
        images = data[0] if isinstance(data, (tuple, list)) else data
        with tf.GradientTape() as tape:
            terms = self.elbo_terms(images, training=True)
            elbo = ops.mean(terms["log_likelihood"] - terms["kl"])
            loss = -elbo
        apply_update(tape, loss, self.optimizer_variables("optimizer"), self.optimizer,
                     self.grad_norm_tracker)
        self.loss_tracker.update_state(loss)
        self.elbo_tracker.update_state(elbo)
        self.reconstruction_tracker.update_state(-ops.mean(terms["log_likelihood"]))
        self.kl_tracker.update_state(ops.mean(terms["kl"]))
        return self.step_logs()

    def test_step(self, data):
        images = data[0] if isinstance(data, (tuple, list)) else data
        terms = self.elbo_terms(images, training=False)
        elbo = ops.mean(terms["log_likelihood"] - terms["kl"])
        self.loss_tracker.update_state(-elbo)
        self.elbo_tracker.update_state(elbo)
        self.reconstruction_tracker.update_state(-ops.mean(terms["log_likelihood"]))
        self.kl_tracker.update_state(ops.mean(terms["kl"]))
        return step_logs([m for m in self.metrics if m is not self.grad_norm_tracker])


def build_vae(*, data_kind="image", resolution=32, channels=1, num_classes=None, latent_dim=None,
              width=32, objective=None, seed=None, jit_compile="auto", arch="auto",
              hidden=DEFAULT_HIDDEN, likelihood="bernoulli", gaussian_std=0.1,
              learning_rate=DEFAULT_LEARNING_RATE):
    """A compiled :class:`VAE` with the defaults of Bora et al. 2017 (Sec. 6.1.1).

    Latent size 20, MLP encoder and decoder with hidden layers (500, 500) for 8x8 images
    (``arch="auto"`` picks the MLP at resolution 8 and the DCGAN generator with a strided
    convolution encoder above), Adam with learning rate 1e-3, Bernoulli likelihood as
    Kingma & Welling 2013 on MNIST.

    Args:
        data_kind: only ``"image"``; the VAE has no points variant.
        num_classes, objective: must stay None (no labels, no adversarial objective).
        width: filters of the DCGAN decoder's last hidden layer and of the encoder's first.
        arch: ``"auto"``, ``"mlp"`` or ``"dcgan"``.
        hidden: hidden units of the MLP encoder and decoder.
    """
    if data_kind != "image":
        raise UserInputError(f"the VAE models images, not {data_kind!r} data; pass image data")
    if num_classes is not None:
        raise UserInputError("the VAE is unconditional; train it without labels")
    if objective is not None:
        raise UserInputError(
            "the VAE has no adversarial objective; choose its likelihood (bernoulli or gaussian)"
        )
    if arch not in ARCHS:
        raise UserInputError(f"unknown VAE architecture {arch!r}; choose one of {ARCHS}")
    latent_dim = int(latent_dim or DEFAULT_LATENT_DIM)
    if arch == "auto":
        arch = "mlp" if resolution <= 8 else "dcgan"
    if arch == "mlp":
        encoder = mlp_encoder(resolution, channels, latent_dim, hidden, seed=seed)
        decoder = mlp_decoder(latent_dim, resolution, channels, hidden, seed=seed)
    else:
        encoder = conv_encoder(resolution, channels, latent_dim, width, seed=seed)
        decoder = dcgan_generator(latent_dim, resolution, channels, width=width,
                                  seed=layer_seed(seed, 1000))
    vae = VAE(encoder, decoder, likelihood=likelihood, gaussian_std=gaussian_std, seed=seed)
    vae.compile(optimizer=keras.optimizers.Adam(learning_rate), jit_compile=jit_compile)
    return vae

