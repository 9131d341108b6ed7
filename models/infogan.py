"""InfoGAN: latent codes made recoverable from the samples (Chen et al. 2016).

G(z, c) takes a categorical code c_cat ~ U{0..K-1} and continuous codes c_cont ~ U(-1, 1)^M
next to z. A head Q on D's body predicts the codes from an image; with

    L_I(G, Q) = E[log Q(c | G(z, c))] + H(c)  <=  I(c; G(z, c))    (Chen et al. eq. 4-5)

InfoGAN solves min_{G,Q} max_D V(D, G) - lambda L_I(G, Q) (eq. 6). Q is a softmax over
the K categories and a factored Gaussian over the continuous codes (Sec. 6), so
-E[log Q] is a softmax cross-entropy (on logits) plus a Gaussian negative log-likelihood.
H(c) = log K + M log 2 for these priors. G and Q minimise lambda (CE + NLL); Q's loss
reaches D's shared body through the discriminator update, as in the paper.
The bound L_I, in nats, is logged as ``mi_lower_bound`` and its categorical part
log K - CE (between -inf and log K) as ``mi_categorical``. With Q's std fixed at 1 the
continuous part M (log 2 - 0.5 log 2 pi) - 0.5 E||c - mu||^2 is always below zero:
still a valid, looser lower bound.
"""

from __future__ import annotations

import math

import keras
import numpy as np
from keras import layers, ops

from gan_apps import runtime
from gan_apps.errors import UserInputError
from gan_apps.layers.batch_norm import batch_normalization
from gan_apps.models.conditional import (
    AuxiliaryHeadGAN,
    accuracy,
    adam,
    dcgan_features,
    norm_wrapper,
    sparse_cross_entropy,
    uniform_classes,
)
from gan_apps.models.dcgan import dcgan_generator

LOG_2PI = math.log(2.0 * math.pi)
# Hidden units of Q's own layer (Chen et al. 2016, Table 1: FC.128-BN-lRELU-FC output).
Q_HIDDEN = 128


def _check_codes(num_categories, num_continuous):
    if not isinstance(num_categories, int) or num_categories < 2:
        raise UserInputError(f"InfoGAN needs num_categories >= 2, got {num_categories!r}")
    if not isinstance(num_continuous, int) or num_continuous < 1:
        raise UserInputError(f"InfoGAN needs num_continuous >= 1, got {num_continuous!r}")


def infogan_generator(latent_dim=62, num_categories=10, num_continuous=2, resolution=32,
                      channels=1, width=64, seed=None):
    """``[z [B, D], c_cat int32 [B], c_cont float32 [B, M]] -> images`` in [-1, 1].

    The categorical code is one-hot encoded inside the model and concatenated with z and
    the continuous codes (Chen et al. 2016, Sec. 6) before the DCGAN generator.
    """
    _check_codes(num_categories, num_continuous)
    z = keras.Input((latent_dim,), name="z")
    c_cat = keras.Input((), dtype="int32", name="c_cat")
    c_cont = keras.Input((num_continuous,), name="c_cont")
    one_hot = layers.CategoryEncoding(num_categories, output_mode="one_hot",
                                      name="c_cat_one_hot")(c_cat)
    joint = layers.Concatenate(name="z_and_codes")([z, one_hot, c_cont])
    body = dcgan_generator(latent_dim + num_categories + num_continuous, resolution, channels,
                           width=width, seed=seed)
    return keras.Model([z, c_cat, c_cont], body(joint), name="infogan_generator")


def infogan_discriminator(resolution=32, channels=1, num_categories=10, num_continuous=2,
                          width=64, norm="batch", learn_std=False, seed=None):
    """D and Q on one DCGAN body: ``images -> [logits, c_cat_logits, c_cont_mean(, log_std)]``.

    Q's head is FC(128)-norm-LeakyReLU then linear outputs (Chen et al. 2016, Table 1);
    ``learn_std`` adds a log standard deviation per continuous code (else it is fixed at 1,
    as in the authors' code).
    """
    _check_codes(num_categories, num_continuous)
    wrap = norm_wrapper(norm)
    body = dcgan_features(resolution, channels, width, norm, seed)
    images = keras.Input((resolution, resolution, channels), name="images")
    features = body(images)
    logits = wrap(layers.Dense(1, name="source"))(features)
    hidden = wrap(layers.Dense(Q_HIDDEN, name="q_hidden"))(features)
    if norm == "batch":
        hidden = batch_normalization(name="q_norm")(hidden)
    elif norm == "layer":
        hidden = layers.LayerNormalization(epsilon=1e-5, name="q_norm")(hidden)
    hidden = layers.LeakyReLU(0.2)(hidden)
    heads = {"c_cat_logits": num_categories, "c_cont_mean": num_continuous}
    if learn_std:
        heads["c_cont_log_std"] = num_continuous
    outputs = [layers.Activation("linear", dtype="float32", name="logits")(logits)]
    for name, size in heads.items():
        head = wrap(layers.Dense(size, name=f"{name}_dense"))(hidden)
        outputs.append(layers.Activation("linear", dtype="float32", name=name)(head))
    return keras.Model(images, outputs, name="infogan_discriminator")


def gaussian_nll(codes, mean, log_std=None):
    """-log N(codes; mean, diag(exp(log_std))^2), summed over code dims, averaged over the batch.

    Per dim: 0.5 log(2 pi) + log sigma + (c - mu)^2 / (2 sigma^2); sigma = 1 without ``log_std``.
    """
    codes, mean = ops.cast(codes, "float32"), ops.cast(mean, "float32")
    if log_std is None:
        per_dim = 0.5 * LOG_2PI + 0.5 * ops.square(codes - mean)
    else:
        log_std = ops.cast(log_std, "float32")
        per_dim = 0.5 * LOG_2PI + log_std + 0.5 * ops.square((codes - mean) * ops.exp(-log_std))
    return ops.mean(ops.sum(per_dim, axis=-1))


@keras.saving.register_keras_serializable(package="gan_apps")
class InfoGAN(AuxiliaryHeadGAN):
    """InfoGAN (Chen et al. 2016, eq. 6) trained with ``fit``; dataset labels are ignored.

    Args:
        generator: functional model ``[z, c_cat, c_cont] -> images``.
        discriminator: functional model
            ``images -> [logits, c_cat_logits, c_cont_mean(, c_cont_log_std)]``.
        num_categories, num_continuous: K and M; read from the generator when omitted.
        categorical_weight, continuous_weight: lambda for each part of L_I (1 and 1).
        **kwargs: as :class:`gan_apps.gan.GAN`.
    """

    def __init__(self, generator, discriminator, num_categories=None, num_continuous=None,
                 categorical_weight=1.0, continuous_weight=1.0, **kwargs):
        super().__init__(generator, discriminator, **kwargs)
        self.num_categories = int(num_categories or discriminator.outputs[1].shape[-1])
        self.num_continuous = int(num_continuous or generator.inputs[2].shape[-1])
        self.categorical_weight = float(categorical_weight)
        self.continuous_weight = float(continuous_weight)
        self.learn_std = len(discriminator.outputs) == 4
        # InfoGAN is unconditional: it takes no labels, whatever its categorical code learns.
        self.num_classes = None

    def get_config(self):
        return {
            **super().get_config(),
            "num_categories": self.num_categories,
            "num_continuous": self.num_continuous,
            "categorical_weight": self.categorical_weight,
            "continuous_weight": self.continuous_weight,
        }

    def latent_spec(self):
        return [
            {"name": "z", "kind": "normal", "dim": self.latent_dim},
            {"name": "c_cat", "kind": "class", "num_classes": self.num_categories},
            {"name": "c_cont", "kind": "uniform", "dim": self.num_continuous},
        ]

    def auxiliary_metric_names(self):
        return ("mi_lower_bound", "mi_categorical", "q_cat_loss", "q_cont_loss", "q_cat_acc",
                "g_info_loss")

    def sample_codes(self, batch_size):
        """c_cat ~ U{0..K-1}, c_cont ~ U(-1, 1)^M (Chen et al. 2016, Sec. 6)."""
        c_cat = uniform_classes(batch_size, self.num_categories, self.seed_generator)
        c_cont = runtime.global_batch_random(
            lambda shape, seed: keras.random.uniform(shape, -1.0, 1.0, seed=seed),
            (batch_size, self.num_continuous), self.seed_generator)
        return [c_cat, c_cont]

    def generate(self, batch_size, c_cat=None, c_cont=None, training=False):
        """Samples for given codes (each drawn from its prior when None)."""
        sampled = self.sample_codes(batch_size)
        codes = [sampled[0] if c_cat is None else ops.cast(c_cat, "int32"),
                 sampled[1] if c_cont is None else ops.cast(c_cont, "float32")]
        return self.generate_from_codes(batch_size, codes, training=training)

    def information_terms(self, q_outputs, codes):
        """(categorical CE, continuous NLL, L_I) for Q's outputs on images made from ``codes``.

        L_I = [log K - CE] + [M log 2 - NLL] (Chen et al. 2016, Lemma 5.1 with H(c) of the priors).
        """
        cat_ce = sparse_cross_entropy(codes[0], q_outputs[0])
        log_std = q_outputs[2] if self.learn_std else None
        cont_nll = gaussian_nll(codes[1], q_outputs[1], log_std)
        bound = (math.log(self.num_categories) - cat_ce) + (
            self.num_continuous * math.log(2.0) - cont_nll)
        return cat_ce, cont_nll, bound

    def _weighted(self, cat_ce, cont_nll):
        return self.categorical_weight * cat_ce + self.continuous_weight * cont_nll

    def discriminator_auxiliary_loss(self, real_aux, conditioning, fake_aux, codes):
        """lambda (CE + NLL) on the fakes: Q's loss, minimised through D's shared body."""
        cat_ce, cont_nll, bound = self.information_terms(fake_aux, codes)
        logs = {"mi_lower_bound": bound, "mi_categorical": math.log(self.num_categories) - cat_ce,
                "q_cat_loss": cat_ce, "q_cont_loss": cont_nll,
                "q_cat_acc": accuracy(codes[0], fake_aux[0])}
        return self._weighted(cat_ce, cont_nll), logs

    def generator_auxiliary_loss(self, fake_aux, codes):
        """lambda (CE + NLL) = -lambda L_I + const, minimised by G (Chen et al. eq. 6)."""
        cat_ce, cont_nll, _ = self.information_terms(fake_aux, codes)
        loss = self._weighted(cat_ce, cont_nll)
        return loss, {"g_info_loss": loss}

    def predict_codes(self, images, batch_size=500):
        """Q's most likely categorical code for ``images`` [N, H, W, C] in [-1, 1] (numpy int)."""
        parts = [np.asarray(self.discriminator(images[i:i + batch_size], training=False)[1])
                 for i in range(0, len(images), batch_size)]
        return np.argmax(np.concatenate(parts), axis=-1)


def build_infogan(*, data_kind="image", resolution=32, channels=1, num_classes=None,
                  latent_dim=None, width=32, objective=None, seed=None, jit_compile="auto",
                  num_categories=10, num_continuous=2, categorical_weight=1.0,
                  continuous_weight=1.0, learn_std=False, d_norm="batch", n_critic=1,
                  penalties=(), g_learning_rate=1e-3, d_learning_rate=2e-4, betas=(0.5, 0.999)):
    """A compiled :class:`InfoGAN` with the MNIST recipe of Chen et al. 2016 (Sec. 6, Appendix C.1).

    62 noise variables, one 10-way categorical and two U(-1, 1) continuous codes,
    lambda = 1 for both parts of L_I, the non-saturating GAN objective, batch norm,
    Adam with learning rate 1e-3 for G and 2e-4 for D and Q, beta1 0.5; the continuous
    codes' Gaussian has a fixed std of 1 (``learn_std=True`` learns it). Networks are
    DCGAN's at ``resolution`` with Q's own FC(128) layer on D's body.

    Args:
        num_classes: ignored (InfoGAN needs no labels); kept for the builder contract.
    """
    if data_kind != "image":
        raise UserInputError(f"InfoGAN trains on images, not {data_kind!r} data; "
                             "pass an image source such as digits")
    latent_dim = latent_dim or 62
    generator = infogan_generator(latent_dim, num_categories, num_continuous, resolution, channels,
                                  width, seed=seed)
    discriminator = infogan_discriminator(resolution, channels, num_categories, num_continuous,
                                          width, norm=d_norm, learn_std=learn_std, seed=seed)
    gan = InfoGAN(generator, discriminator, num_categories=num_categories,
                  num_continuous=num_continuous, categorical_weight=categorical_weight,
                  continuous_weight=continuous_weight, latent_dim=latent_dim,
                  objective=objective or "non_saturating", n_critic=n_critic,
                  penalties=list(penalties), seed=seed, name="infogan")
    gan.compile(g_optimizer=adam(g_learning_rate, *betas),
                d_optimizer=adam(d_learning_rate, *betas), jit_compile=jit_compile)
    return gan
