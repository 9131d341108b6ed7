"""AC-GAN: a discriminator that also classifies (Odena et al. 2017).

G(z, c) takes a class label c next to z (:func:`conditional_generator`); D outputs an
adversarial logit and class logits from one shared body. With L_S the adversarial
objective and

    L_C = E[log P(C = c | X_real)] + E[log P(C = c | X_fake)]      (Odena et al. eq. 2)

D maximises L_S + L_C and G maximises L_C - L_S: each player adds a weighted softmax
cross-entropy (the negative log-likelihood, on logits) to its adversarial loss, D on real
data with its labels and on fakes with their sampled labels, G on fakes. Any objective of
:mod:`gan_apps.objectives` serves as L_S; :func:`build_acgan` with
``objective="wasserstein"`` gives the WGAN-GP AC-GAN of Gulrajani et al. 2017 (Sec. 5):
layer-normalized critic, gradient penalty 10, five critic steps, class weights 1 for the
critic and 0.1 for the generator, the critic's class loss on real data only (their
reference code). Song et al. 2018's AC-GAN for unrestricted adversarial examples
(ermongroup/generative_adversary, models/acwgan_gp.py) is a WGAN-GP AC-GAN too, but with
generator class weight 1 and ~9,400 generator updates on MNIST; ``gan-apps adversarial
train-gan`` uses the non-saturating recipe instead, which is class-conditional after ~1,300
updates on the embedded digits where the WGAN-GP one is not (docs/benchmarks.md, block
``adversarial``).
"""

from __future__ import annotations

import keras
import numpy as np
from keras import layers, ops

from gan_apps import penalties as penalties_lib
from gan_apps.errors import UserInputError
from gan_apps.evaluation.metrics import conditional_accuracy
from gan_apps.models.conditional import (
    DEFAULT_EMBED_DIM,
    AuxiliaryHeadGAN,
    adam,
    check_num_classes,
    norm_wrapper,
    accuracy,
    conditional_generator,
    dcgan_features,
    labels_of,
    sparse_cross_entropy,
    uniform_classes,
)


def acgan_discriminator(resolution=32, channels=1, num_classes=10, width=64, norm="batch",
                        seed=None):
    """AC-GAN discriminator ``images -> [logits [B, 1], class_logits [B, K]]``.

    One DCGAN body (:func:`dcgan_features`) with two linear heads: the source S and the
    class C (Odena et al. 2017, Sec. 3: "the discriminator gives both a probability
    distribution over sources and a probability distribution over the class labels").
    """
    check_num_classes(num_classes)
    wrap = norm_wrapper(norm)
    body = dcgan_features(resolution, channels, width, norm, seed)
    images = keras.Input((resolution, resolution, channels), name="images")
    features = body(images)
    logits = wrap(layers.Dense(1, name="source"))(features)
    class_logits = wrap(layers.Dense(num_classes, name="class"))(features)
    logits = layers.Activation("linear", dtype="float32", name="logits")(logits)
    class_logits = layers.Activation("linear", dtype="float32", name="class_logits")(class_logits)
    return keras.Model(images, [logits, class_logits], name="acgan_discriminator")


@keras.saving.register_keras_serializable(package="gan_apps")
class ACGAN(AuxiliaryHeadGAN):
    """Auxiliary-classifier GAN (Odena et al. 2017, eq. 1-2) trained with ``fit``.

    Args:
        generator: functional model ``[z, label] -> images``.
        discriminator: functional model ``images -> [logits [B, 1], class_logits [B, K]]``.
        num_classes: K; read from the class head when omitted.
        class_weight: weight of D's class loss (1 in Odena et al. and Gulrajani et al.).
        generator_class_weight: weight of G's class loss; None means ``class_weight``
            (Gulrajani et al.'s WGAN-GP AC-GAN uses 0.1).
        fake_class_loss: include the fakes' class loss in D's loss (Odena et al. eq. 2);
            False trains D's classifier on real data only (Gulrajani et al.'s code).
        **kwargs: as :class:`gan_apps.gan.GAN`.
    """

    def __init__(self, generator, discriminator, num_classes=None, class_weight=1.0,
                 generator_class_weight=None, fake_class_loss=True, **kwargs):
        super().__init__(generator, discriminator, **kwargs)
        self.num_classes = int(num_classes or discriminator.outputs[1].shape[-1])
        self.class_weight = float(class_weight)
        self.generator_class_weight = float(
            class_weight if generator_class_weight is None else generator_class_weight
        )
        self.fake_class_loss = bool(fake_class_loss)

    def get_config(self):
        return {
            **super().get_config(),
            "num_classes": self.num_classes,
            "class_weight": self.class_weight,
            "generator_class_weight": self.generator_class_weight,
            "fake_class_loss": self.fake_class_loss,
        }

    def latent_spec(self):
        return [
            {"name": "z", "kind": "normal", "dim": self.latent_dim},
            {"name": "label", "kind": "class", "num_classes": self.num_classes},
        ]

    def auxiliary_metric_names(self):
        return ("d_class_loss", "g_class_loss", "aux_acc_real", "aux_acc_fake")

    def unpack(self, data):
        return labels_of(data, "AC-GAN")

    def sample_codes(self, batch_size):
        """c ~ U{0, ..., K-1} (Odena et al. Sec. 3: "c ~ p_c")."""
        return [uniform_classes(batch_size, self.num_classes, self.seed_generator)]

    def generate(self, batch_size, labels=None, training=False):
        """``batch_size`` samples of ``labels`` int32 [B] (uniform random labels when None)."""
        codes = self.sample_codes(batch_size) if labels is None else [ops.cast(labels, "int32")]
        return self.generate_from_codes(batch_size, codes, training=training)

    def discriminator_auxiliary_loss(self, real_aux, conditioning, fake_aux, codes):
        """class_weight * (CE(real) [+ CE(fake)]): D's share of -L_C (Odena et al. eq. 2)."""
        real_ce = sparse_cross_entropy(conditioning, real_aux[0])
        fake_ce = sparse_cross_entropy(codes[0], fake_aux[0])
        class_loss = real_ce + fake_ce if self.fake_class_loss else real_ce
        logs = {
            "d_class_loss": class_loss,
            "aux_acc_real": accuracy(conditioning, real_aux[0]),
            "aux_acc_fake": accuracy(codes[0], fake_aux[0]),
        }
        return self.class_weight * class_loss, logs

    def generator_auxiliary_loss(self, fake_aux, codes):
        """generator_class_weight * CE(fake): G's share of -L_C (Odena et al. eq. 2)."""
        class_loss = sparse_cross_entropy(codes[0], fake_aux[0])
        return self.generator_class_weight * class_loss, {"g_class_loss": class_loss}

    def classify(self, images, batch_size=500):
        """The auxiliary classifier's class logits (numpy) for ``images`` [N, H, W, C] in [-1, 1]."""
        parts = [np.asarray(self.discriminator(images[i:i + batch_size], training=False)[1])
                 for i in range(0, len(images), batch_size)]
        return np.concatenate(parts)

    def auxiliary_accuracy(self, images, labels):
        """Accuracy of the auxiliary classifier on labelled images (real or generated)."""
        return conditional_accuracy(self.classify(images), labels)


# Recipes: the paper's defaults per objective family. Keys are build_acgan options.
_ODENA = dict(d_norm="batch", n_critic=1, penalties=(), learning_rate=2e-4, betas=(0.5, 0.999),
              class_weight=1.0, generator_class_weight=None, fake_class_loss=True)
_GULRAJANI = dict(d_norm="layer", n_critic=5, penalties=("gradient_penalty",),
                  learning_rate=1e-4, betas=(0.0, 0.9), class_weight=1.0,
                  generator_class_weight=0.1, fake_class_loss=False)


def build_acgan(*, data_kind="image", resolution=32, channels=1, num_classes=None,
                latent_dim=None, width=32, objective=None, seed=None, jit_compile="auto",
                embed_dim=DEFAULT_EMBED_DIM, **options):
    """A compiled :class:`ACGAN`.

    Defaults with the non-saturating objective (the default): Odena et al. 2017,
    Appendix B: Adam(2e-4, betas (0.5, 0.999)), batch norm in D, one D step per G step,
    class weight 1 for both players, D's class loss on real and fake. With
    ``objective="wasserstein"``: Gulrajani et al. 2017, Sec. 5 and their AC-GAN code:
    layer norm in the critic, ``GradientPenalty(10)``, ``n_critic=5``, Adam(1e-4,
    betas (0, 0.9)), class weight 1 for the critic (real data only) and 0.1 for G.
    z has 100 entries; networks are DCGAN's at ``resolution``.

    Args:
        num_classes: K, the classes of the training labels (required).
        **options: override any recipe entry: ``d_norm``, ``n_critic``, ``penalties``,
            ``learning_rate``, ``betas``, ``class_weight``, ``generator_class_weight``,
            ``fake_class_loss``.
    """
    if data_kind != "image":
        raise UserInputError(f"AC-GAN trains on labelled images, not {data_kind!r} data; "
                             "pass an image source such as digits")
    check_num_classes(num_classes)
    objective = objective or "non_saturating"
    recipe = dict(_GULRAJANI if objective == "wasserstein" else _ODENA)
    unknown = sorted(set(options) - set(recipe))
    if unknown:
        raise UserInputError(f"unknown AC-GAN option(s) {', '.join(unknown)}; "
                             f"choose from {', '.join(sorted(recipe))}")
    recipe.update(options)
    latent_dim = latent_dim or 100
    generator = conditional_generator(latent_dim, num_classes, resolution, channels, width,
                                      embed_dim=embed_dim, seed=seed)
    discriminator = acgan_discriminator(resolution, channels, num_classes, width,
                                        norm=recipe["d_norm"], seed=seed)
    gan = ACGAN(generator, discriminator, num_classes=num_classes, latent_dim=latent_dim,
                objective=objective, n_critic=recipe["n_critic"],
                penalties=[penalties_lib.get(p) for p in recipe["penalties"]],
                class_weight=recipe["class_weight"],
                generator_class_weight=recipe["generator_class_weight"],
                fake_class_loss=recipe["fake_class_loss"], seed=seed, name="acgan")
    gan.compile(g_optimizer=adam(recipe["learning_rate"], *recipe["betas"]),
                d_optimizer=adam(recipe["learning_rate"], *recipe["betas"]),
                jit_compile=jit_compile)
    return gan
