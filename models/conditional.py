"""Class-conditional GAN: label-embedding generator and projection discriminator.

- Generator (Mirza & Osindero 2014, Sec. 3.2 and 4.1): the label y is fed to G next to
  z; here y is embedded (a learned ``Embedding``, the dense version of their one-hot y)
  and concatenated with z before the DCGAN generator.
- Discriminator (Miyato & Koyama 2018, eq. 3): f(x, y) = psi(phi(x)) + embed(y)^T phi(x),
  the "projection" of the class embedding on D's features, instead of concatenating y
  to D's input. With ``norm="spectral"`` every weight of D, the class embedding V
  included, is spectrally normalized, as in the paper's experiments.

Also here, for the other models with an auxiliary head on D (AC-GAN, InfoGAN):
:func:`dcgan_features`, the DCGAN discriminator's convolutional body, and
:class:`AuxiliaryHeadGAN`, the train step that adds a loss on D's extra outputs to
both players.
"""

from __future__ import annotations

import keras
from keras import layers, ops

from gan_apps import penalties as penalties_lib
from gan_apps import runtime
from gan_apps.errors import UserInputError
from gan_apps.gan import GAN
from gan_apps.layers.spectral import SpectralNormalization
from gan_apps.models.dcgan import DISCRIMINATOR_NORMS, dcgan_discriminator, dcgan_generator

# Size of the label embedding concatenated with z (Mirza & Osindero feed a one-hot y
# through a hidden layer; a learned embedding of this size plays that role).
DEFAULT_EMBED_DIM = 50


def check_num_classes(num_classes):
    """Raise UserInputError unless ``num_classes`` is an integer >= 2."""
    if not isinstance(num_classes, int) or num_classes < 2:
        raise UserInputError(
            f"a conditional model needs num_classes >= 2, got {num_classes!r}; "
            "train on a labelled source (digits, tfds:mnist, ...)"
        )


def norm_wrapper(norm):
    """``SpectralNormalization`` for ``norm="spectral"``, else the identity on layers."""
    return SpectralNormalization if norm == "spectral" else (lambda layer: layer)


def dcgan_features(resolution=32, channels=1, width=64, norm="batch", seed=None):
    """The DCGAN discriminator without its output layer: ``images -> features [B, F]``.

    The shared body of the projection discriminator, AC-GAN's and InfoGAN's heads
    (F = (R/2^k)^2 * width * 2^(k-1) for k stride-2 convolutions).
    """
    full = dcgan_discriminator(resolution, channels, width=width, norm=norm, seed=seed)
    flatten = [layer for layer in full.layers if isinstance(layer, layers.Flatten)][-1]
    return keras.Model(full.input, flatten.output, name="dcgan_features")


def conditional_generator(latent_dim=100, num_classes=10, resolution=32, channels=1, width=64,
                          embed_dim=DEFAULT_EMBED_DIM, seed=None):
    """Label-conditioned DCGAN generator ``[z [B, D], label int32 [B]] -> images`` in [-1, 1].

    Mirza & Osindero 2014, Sec. 3.2: G(z | y) with y joined to z in the input layer;
    y is embedded to ``embed_dim`` values and concatenated with z.
    """
    check_num_classes(num_classes)
    z = keras.Input((latent_dim,), name="z")
    label = keras.Input((), dtype="int32", name="label")
    embedded = layers.Embedding(num_classes, embed_dim, name="label_embedding")(label)
    joint = layers.Concatenate(name="z_and_label")([z, embedded])
    body = dcgan_generator(latent_dim + embed_dim, resolution, channels, width=width, seed=seed)
    return keras.Model([z, label], body(joint), name="conditional_generator")


def projection_discriminator(resolution=32, channels=1, num_classes=10, width=64, norm="spectral",
                             seed=None):
    """Projection discriminator ``[images, label int32 [B]] -> logits [B, 1]``.

    Miyato & Koyama 2018, eq. 3: f(x, y) = y^T V phi(x) + psi(phi(x)), phi the DCGAN
    convolutional body (:func:`dcgan_features`), psi a linear layer, V a class embedding
    of phi's size; with ``norm="spectral"`` psi and V are spectrally normalized too.
    """
    check_num_classes(num_classes)
    if norm not in DISCRIMINATOR_NORMS:
        raise UserInputError(f"unknown discriminator norm {norm!r}; choose {DISCRIMINATOR_NORMS}")
    wrap = norm_wrapper(norm)
    body = dcgan_features(resolution, channels, width, norm, seed)
    images = keras.Input((resolution, resolution, channels), name="images")
    label = keras.Input((), dtype="int32", name="label")
    features = body(images)
    unconditional = wrap(layers.Dense(1, name="psi"))(features)
    class_embedding = layers.Embedding(num_classes, features.shape[-1], name="class_embedding")
    embedded = wrap(class_embedding)(label)
    projection = layers.Dot(axes=1, name="projection")([embedded, features])
    logits = layers.Add()([unconditional, projection])
    logits = layers.Activation("linear", dtype="float32", name="logits")(logits)
    return keras.Model([images, label], logits, name="projection_discriminator")


def labels_of(data, model_name):
    """Split an ``(images, labels)`` dataset element; bare images are a user error."""
    if not isinstance(data, (tuple, list)) or len(data) < 2:
        raise UserInputError(
            f"{model_name} trains on (images, labels) batches; load a labelled source "
            "(digits, tfds:mnist, ...) with with_labels=True"
        )
    return data[0], ops.cast(data[1], "int32")


@keras.saving.register_keras_serializable(package="gan_apps")
class ConditionalGAN(GAN):
    """GAN with G(z, y) and D(x, y) (Mirza & Osindero 2014, eq. 2).

    min_G max_D E[log D(x | y)] + E[log(1 - D(G(z | y) | y))], with any objective of
    :mod:`gan_apps.objectives` in place of the log-loss. The fake batch of each step is
    conditioned on the real batch's labels, so y follows the data's class frequencies.

    Args:
        generator: functional model ``[z, label] -> images``.
        discriminator: functional model ``[images, label] -> logits [B, 1]``.
        num_classes: K; read from the generator's label embedding when omitted.
        **kwargs: as :class:`gan_apps.gan.GAN`.
    """

    def __init__(self, generator, discriminator, num_classes=None, **kwargs):
        super().__init__(generator, discriminator, **kwargs)
        self.num_classes = int(num_classes or generator.get_layer("label_embedding").input_dim)

    def get_config(self):
        return {**super().get_config(), "num_classes": self.num_classes}

    def latent_spec(self):
        return [
            {"name": "z", "kind": "normal", "dim": self.latent_dim},
            {"name": "label", "kind": "class", "num_classes": self.num_classes},
        ]

    def sample_labels(self, batch_size):
        """y ~ U{0, ..., K-1}, from the model's seed generator."""
        return uniform_classes(batch_size, self.num_classes, self.seed_generator)

    def generate(self, batch_size, labels=None, training=False):
        """``batch_size`` samples for ``labels`` int32 [B] (uniform random labels when None)."""
        labels = self.sample_labels(batch_size) if labels is None else ops.cast(labels, "int32")
        return self.generator([self.sample_latent(batch_size), labels], training=training)

    def unpack(self, data):
        return labels_of(data, "a conditional GAN")

    def generate_fake(self, batch_size, conditioning, training=True):
        return self.generator([self.sample_latent(batch_size), conditioning], training=training)

    def discriminator_logits(self, x, conditioning, training=True):
        return self.discriminator([x, conditioning], training=training)


class AuxiliaryHeadGAN(GAN):
    """A GAN whose discriminator has extra heads trained with an extra loss by both players.

    The discriminator model outputs ``[adversarial logits [B, 1], *auxiliary outputs]``;
    the generator takes ``[z, *codes]``. Each step samples fresh codes, and a subclass
    defines the auxiliary losses: AC-GAN's class log-likelihood L_C (Odena et al. 2017,
    eq. 2) or InfoGAN's mutual-information bound L_I (Chen et al. 2016, eq. 5).
    ``discriminator_logits`` returns the adversarial logit alone, so penalties such as
    the gradient penalty see the critic of the adversarial objective only. The steps are
    :class:`gan_apps.gan.GAN`'s; this class fills its hooks (the fake batch with its codes,
    the auxiliary outputs, the extra loss of each player).

    Subclasses implement ``sample_codes``, ``discriminator_auxiliary_loss``,
    ``generator_auxiliary_loss`` and ``auxiliary_metric_names``.
    """

    def __init__(self, generator, discriminator, **kwargs):
        super().__init__(generator, discriminator, **kwargs)
        self.auxiliary_trackers = {
            name: keras.metrics.Mean(name=name) for name in self.auxiliary_metric_names()
        }

    @property
    def metrics(self):
        return [*super().metrics, *self.auxiliary_trackers.values()]

    def auxiliary_metric_names(self):
        """Names of the auxiliary logs (one ``keras.metrics.Mean`` each)."""
        raise NotImplementedError

    def sample_codes(self, batch_size):
        """The generator's inputs after z, drawn from the model's seed generator."""
        raise NotImplementedError

    def discriminator_auxiliary_loss(self, real_aux, conditioning, fake_aux, codes):
        """(weighted loss, logs dict) added to D's loss; ``conditioning`` is the real labels."""
        raise NotImplementedError

    def generator_auxiliary_loss(self, fake_aux, codes):
        """(weighted loss, logs dict) added to G's loss."""
        raise NotImplementedError

    def generate_from_codes(self, batch_size, codes, training=True):
        return self.generator([self.sample_latent(batch_size), *codes], training=training)

    def fake_batch(self, batch_size, conditioning, training=True):
        """Fresh codes (drawn before z), and the fakes made from them."""
        codes = self.sample_codes(batch_size)
        return self.generate_from_codes(batch_size, codes, training), codes

    def generate_fake(self, batch_size, conditioning, training=True):
        return self.fake_batch(batch_size, conditioning, training)[0]

    def generate(self, batch_size, training=False):
        return self.generate_fake(batch_size, None, training=training)

    def discriminator_outputs(self, x, conditioning=None, training=True):
        """(adversarial logits [B, 1], list of auxiliary outputs)."""
        outputs = self.discriminator(x, training=training)
        return outputs[0], list(outputs[1:])

    def discriminator_logits(self, x, conditioning, training=True):
        return self.discriminator_outputs(x, conditioning, training=training)[0]

    def extra_discriminator_loss(self, real_extras, fake_extras, conditioning, codes):
        return self.discriminator_auxiliary_loss(real_extras, conditioning, fake_extras, codes)

    def extra_generator_loss(self, fake_extras, codes, conditioning):
        return self.generator_auxiliary_loss(fake_extras, codes)


def uniform_classes(batch_size, num_classes, seed_generator):
    """int32 [B] drawn uniformly from {0, ..., K-1}; each replica keeps its slice of the
    global batch (:func:`gan_apps.runtime.global_batch_random`)."""

    def draw(shape, seed):
        return keras.random.randint(shape, 0, num_classes, seed=seed, dtype="int32")

    return runtime.global_batch_random(draw, (batch_size,), seed_generator)


def sparse_cross_entropy(labels, logits):
    """Mean softmax cross-entropy -E[log softmax(logits)[label]], on logits (log-sum-exp inside)."""
    return ops.mean(ops.sparse_categorical_crossentropy(
        ops.cast(labels, "int32"), ops.cast(logits, "float32"), from_logits=True))


def accuracy(labels, logits):
    """Fraction of rows whose argmax equals the label."""
    predicted = ops.cast(ops.argmax(logits, axis=-1), "int32")
    return ops.mean(ops.cast(ops.equal(predicted, ops.cast(labels, "int32")), "float32"))


def adam(learning_rate, beta_1, beta_2=0.999):
    """A fresh Adam optimizer (one per network)."""
    return keras.optimizers.Adam(learning_rate, beta_1=beta_1, beta_2=beta_2)


def build_conditional(*, data_kind="image", resolution=32, channels=1, num_classes=None,
                      latent_dim=None, width=32, objective=None, seed=None, jit_compile="auto",
                      embed_dim=DEFAULT_EMBED_DIM, d_norm="spectral", n_critic=5,
                      penalties=(), learning_rate=2e-4, betas=(0.0, 0.9)):
    """A compiled :class:`ConditionalGAN` with a projection discriminator.

    Defaults follow Miyato & Koyama 2018, Sec. 5: hinge loss, spectral normalization in
    D, Adam(2e-4, betas (0, 0.9)), five D updates per G update; z of size 100 and the
    DCGAN networks (Radford et al. 2016) at ``resolution``.

    Args:
        data_kind: ``"image"`` only (a label-conditioned mixture is not offered).
        num_classes: K, the classes of the training labels (required).
        latent_dim: size of z (default 100).
        width: DCGAN width of both networks.
        objective: any objective name (default ``"hinge"``).
        embed_dim: size of the generator's label embedding.
        d_norm: discriminator normalization (``"spectral"``, ``"batch"``, ``"layer"``, ``"none"``).
        n_critic, penalties, learning_rate, betas: the training recipe.
    """
    if data_kind != "image":
        raise UserInputError(f"the conditional GAN trains on images, not {data_kind!r} data; "
                             "pass an image source such as digits")
    check_num_classes(num_classes)
    latent_dim = latent_dim or 100
    generator = conditional_generator(latent_dim, num_classes, resolution, channels, width,
                                      embed_dim=embed_dim, seed=seed)
    discriminator = projection_discriminator(resolution, channels, num_classes, width,
                                             norm=d_norm, seed=seed)
    gan = ConditionalGAN(generator, discriminator, num_classes=num_classes, latent_dim=latent_dim,
                         objective=objective or "hinge", n_critic=n_critic,
                         penalties=[penalties_lib.get(p) for p in penalties], seed=seed,
                         name="conditional")
    gan.compile(g_optimizer=adam(learning_rate, *betas), d_optimizer=adam(learning_rate, *betas),
                jit_compile=jit_compile)
    return gan
