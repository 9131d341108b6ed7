"""Unrolled GAN (Metz et al. 2017, "Unrolled Generative Adversarial Networks", ICLR).

The generator descends the surrogate objective f_K(theta_G, theta_D) = f(theta_G,
theta_D^K(theta_G, theta_D)) (Sec. 2.2, eq. 5), where theta_D^K comes from K steps of
the discriminator's optimisation started at its current weights (eq. 4):
theta_D^{k+1} = theta_D^k - eta^k dL_D(theta_G, theta_D^k)/dtheta_D^k, with L_D the
discriminator loss (= -f for the minimax game). The generator steps on df_K/dtheta_G
(eq. 6); only the real discriminator is updated by its optimizer, on the ordinary f
(eq. 7), so the unrolling changes the generator's update alone.

- ``second_order=True``: the generator's gradient flows through the K updates (nested
  gradient tapes): df_K/dtheta_G = df/dtheta_G + df/dtheta_D^K dtheta_D^K/dtheta_G,
  both terms of the decomposition in Sec. 2.3.
- ``second_order=False``: the unrolled weights are treated as constants
  (``stop_gradient``); the generator simply plays against the K-step-ahead
  discriminator, dropping the second term, which Sec. 2.3 identifies as the one that
  counters mode collapse. Cheaper: no gradients of gradients.

The unrolled copy is functional: ``keras.Model.stateless_call`` evaluates the
discriminator with substituted weights, so the real weights are never touched.
Update rules of the unrolled steps (``unroll_rule``):

- ``"adam"`` (default): Adam, as the paper's experiments (Appendix A) and its reference
  notebook (github.com/poolio/unrolled_gan), with the discriminator optimizer's learning
  rate, betas and epsilon. Difference: our moments restart at zero at every unroll
  (the reference code continues the live optimizer's moments; Keras does not expose
  them publicly), so step t uses Adam's bias-corrected first steps.
- ``"sgd"``: plain gradient steps of eq. 4 with ``unroll_learning_rate`` (default the
  discriminator optimizer's learning rate).

The same real batch and the same z are used for every unrolled step and for the final
surrogate loss, as in the reference notebook. Penalties apply to the real
discriminator's update only, not to the unrolled copy.
"""

from __future__ import annotations

import keras
import tensorflow as tf
from keras import ops

from gan_apps.errors import UserInputError
from gan_apps.initializers import layer_seed
from gan_apps.gan import GAN
from gan_apps.models.dcgan import dcgan_discriminator, dcgan_generator
from gan_apps.models.mlp import mlp_discriminator, mlp_generator
from gan_apps.training import apply_update

UNROLL_RULES = ("adam", "sgd")
# Adam hyper-parameters of the unrolled steps when the discriminator's optimizer is not Adam.
DEFAULT_ADAM = {"beta_1": 0.5, "beta_2": 0.999, "epsilon": 1e-8}


def unroll_discriminator_weights(discriminator, weights, non_trainable, real, fake, d_loss, *,
                                 steps, rule="sgd", learning_rate=1e-4, beta_1=0.5,
                                 beta_2=0.999, epsilon=1e-8):
    """K optimisation steps of a functional copy of the discriminator (Metz et al. eq. 4).

    Called inside an outer ``tf.GradientTape`` with ``fake`` depending on the generator,
    the returned weights are differentiable with respect to the generator (each inner
    gradient is itself recorded by the outer tape).

    Args:
        discriminator: the Keras model whose architecture is evaluated.
        weights: list of tensors, one per ``discriminator.trainable_variables``.
        non_trainable: list of tensors for ``discriminator.non_trainable_variables``
            (held fixed; batch-norm statistics updates of the copy are discarded).
        real, fake: the batches of the discriminator loss.
        d_loss: ``(real_logits, fake_logits) -> scalar`` minimised by the discriminator.
        steps: K >= 0.
        rule: ``"sgd"`` (theta <- theta - lr g) or ``"adam"`` (moments from zero,
            bias-corrected; Kingma and Ba 2015, Algorithm 1).

    Returns:
        The list of weights theta_D^K.
    """
    if rule not in UNROLL_RULES:
        raise UserInputError(f"unknown unroll rule {rule!r}; choose one of: {', '.join(UNROLL_RULES)}")
    weights = list(weights)
    first = [ops.zeros_like(w) for w in weights]
    second = [ops.zeros_like(w) for w in weights]
    for step in range(1, steps + 1):
        with tf.GradientTape() as tape:
            tape.watch(weights)
            real_logits, _ = discriminator.stateless_call(weights, non_trainable, real, training=True)
            fake_logits, _ = discriminator.stateless_call(weights, non_trainable, fake, training=True)
            loss = d_loss(real_logits, fake_logits)
        grads = tape.gradient(loss, weights)
        if rule == "sgd":
            weights = [w - learning_rate * g for w, g in zip(weights, grads)]
            continue
        first = [beta_1 * m + (1.0 - beta_1) * g for m, g in zip(first, grads)]
        second = [beta_2 * v + (1.0 - beta_2) * ops.square(g) for v, g in zip(second, grads)]
        correction_1, correction_2 = 1.0 - beta_1**step, 1.0 - beta_2**step
        weights = [
            w - learning_rate * (m / correction_1) / (ops.sqrt(v / correction_2) + epsilon)
            for w, m, v in zip(weights, first, second)
        ]
    return weights


def _snapshot(variables):
    """Current values of variables as tensors (the starting point of a functional copy)."""
    return [tf.identity(v.value) for v in variables]


@keras.saving.register_keras_serializable(package="gan_apps")
class UnrolledGAN(GAN):
    """A GAN whose generator plays against a K-step unrolled discriminator (Metz et al. 2017).

    Args:
        generator, discriminator, latent_dim, objective, objective_options, n_critic,
            penalties, seed: as :class:`gan_apps.gan.GAN`. With the zero-sum
            ``"minimax"`` objective (the paper's) the generator minimises the full f_K,
            E[log D_K(x)] + E[log(1 - D_K(G(z)))], whose first term depends on G through
            theta_D^K; other objectives use their own generator loss on D_K.
        unroll_steps: K (0 gives the plain GAN; the paper uses 5 or 10 on mixtures).
        second_order: differentiate through the unrolled updates (see module docstring).
        unroll_rule: ``"adam"`` or ``"sgd"``.
        unroll_learning_rate: step size of the unrolled updates; None uses the
            discriminator optimizer's learning rate at each step.
    """

    def __init__(self, generator, discriminator, unroll_steps=5, second_order=True,
                 unroll_rule="adam", unroll_learning_rate=None, objective="minimax", **kwargs):
        super().__init__(generator, discriminator, objective=objective, **kwargs)
        if int(unroll_steps) < 0:
            raise UserInputError(f"unroll_steps must be >= 0, got {unroll_steps}")
        if unroll_rule not in UNROLL_RULES:
            raise UserInputError(
                f"unknown unroll rule {unroll_rule!r}; choose one of: {', '.join(UNROLL_RULES)}"
            )
        self.num_classes = None
        self.unroll_steps = int(unroll_steps)
        self.second_order = bool(second_order)
        self.unroll_rule = unroll_rule
        self.unroll_learning_rate = None if unroll_learning_rate is None else float(unroll_learning_rate)
        self.unrolled_d_loss_tracker = keras.metrics.Mean(name="unrolled_d_loss")

    @property
    def metrics(self):
        return [*super().metrics, self.unrolled_d_loss_tracker]

    def get_config(self):
        config = super().get_config()
        config.update(
            unroll_steps=self.unroll_steps,
            second_order=self.second_order,
            unroll_rule=self.unroll_rule,
            unroll_learning_rate=self.unroll_learning_rate,
        )
        return config

    # --- training -----------------------------------------------------------------------

    def generator_update(self, real, conditioning):
        self.unrolled_generator_step(real)

    def _unroll_options(self):
        optimizer = self.d_optimizer
        inner = getattr(optimizer, "inner_optimizer", optimizer)  # a LossScaleOptimizer's
        if self.unroll_learning_rate is not None:
            learning_rate = self.unroll_learning_rate
        else:
            learning_rate = ops.cast(inner.learning_rate, "float32")
        options = {"steps": self.unroll_steps, "rule": self.unroll_rule,
                   "learning_rate": learning_rate}
        if self.unroll_rule == "adam":
            adam = isinstance(inner, keras.optimizers.Adam)
            options.update({key: getattr(inner, key) if adam else value
                            for key, value in DEFAULT_ADAM.items()})
        return options

    def unrolled_weights(self, real, fake):
        """theta_D^K for this batch (differentiable w.r.t. ``fake`` when second order)."""
        return unroll_discriminator_weights(
            self.discriminator,
            _snapshot(self.discriminator.trainable_variables),
            _snapshot(self.discriminator.non_trainable_variables),
            real, fake, self.objective.d_loss, **self._unroll_options(),
        )

    def surrogate_generator_loss(self, real_logits, fake_logits):
        """The generator's loss on the unrolled discriminator's logits (Metz et al. eq. 5)."""
        if self.objective_name == "minimax":
            return -self.objective.d_loss(real_logits, fake_logits)
        return self.objective.g_loss(fake_logits)

    def unrolled_generator_step(self, real):
        """One generator update against the K-step unrolled discriminator."""
        batch_size = ops.shape(real)[0]
        z = self.sample_latent(batch_size)
        non_trainable = _snapshot(self.discriminator.non_trainable_variables)
        if not self.second_order:
            fake = ops.stop_gradient(self.generator(z, training=True))
            weights = [ops.stop_gradient(w) for w in self.unrolled_weights(real, fake)]
        with tf.GradientTape() as tape:
            fake = self.generator(z, training=True)
            if self.second_order:
                weights = self.unrolled_weights(real, fake)
            real_logits, _ = self.discriminator.stateless_call(weights, non_trainable, real,
                                                               training=True)
            fake_logits, _ = self.discriminator.stateless_call(weights, non_trainable, fake,
                                                               training=True)
            loss = self.surrogate_generator_loss(real_logits, fake_logits)
        apply_update(tape, loss, self.generator.trainable_variables, self.g_optimizer,
                     self.g_grad_norm_tracker)
        self.g_loss_tracker.update_state(loss)
        self.unrolled_d_loss_tracker.update_state(self.objective.d_loss(real_logits, fake_logits))


def build_unrolled_gan(*, data_kind="image", resolution=32, channels=1, num_classes=None,
                       latent_dim=None, width=32, objective=None, seed=None, jit_compile="auto",
                       unroll_steps=5, second_order=True, unroll_rule="adam",
                       unroll_learning_rate=None, hidden_units=128):
    """A compiled :class:`UnrolledGAN` with the paper's settings.

    Points (Metz et al. 2017, Appendix A, and the reference notebook
    github.com/poolio/unrolled_gan): MLPs with 2 hidden layers of ``hidden_units`` = 128,
    tanh activations and orthogonal weights of gain 1.4 in both networks, a 256-d latent,
    the minimax objective, Adam with G learning rate 1e-3, D learning rate 1e-4, beta1 0.5,
    epsilon 1e-8, and K = 5 unrolled Adam steps. (With ReLU / LeakyReLU networks and He
    initialisation neither K = 0 nor K = 5 reached a mode of ring8 in 4,000 updates.)
    Images: DCGAN networks (``width`` filters) with Adam 2e-4, beta1 0.5 for both
    players (Radford et al. 2016), latent 100, minimax objective, K = 5.

    Args:
        num_classes: must be None (the model takes no labels).
        objective: overrides ``"minimax"``.
        Other arguments as :class:`UnrolledGAN` and the contract of the model family.
    """
    if num_classes is not None:
        raise UserInputError("the unrolled GAN takes no labels; drop --num-classes or use a conditional model")
    if data_kind == "points":
        latent_dim = latent_dim or 256
        hidden = (int(hidden_units),) * 2
        generator = mlp_generator(latent_dim, output_dim=2, hidden=hidden, seed=seed,
                                  activation="tanh", initializer="orthogonal")
        discriminator = mlp_discriminator(2, hidden=hidden, seed=layer_seed(seed, 100),
                                          activation="tanh", initializer="orthogonal")
        g_rate, d_rate = 1e-3, 1e-4
    elif data_kind == "image":
        latent_dim = latent_dim or 100
        generator = dcgan_generator(latent_dim, resolution, channels, width=width, seed=seed)
        discriminator = dcgan_discriminator(resolution, channels, width=width, seed=seed)
        g_rate = d_rate = 2e-4
    else:
        raise UserInputError(f"unknown data kind {data_kind!r}; choose image or points")
    gan = UnrolledGAN(
        generator, discriminator, latent_dim=latent_dim, objective=objective or "minimax",
        unroll_steps=unroll_steps, second_order=second_order, unroll_rule=unroll_rule,
        unroll_learning_rate=unroll_learning_rate, seed=seed, name="unrolled_gan",
    )
    gan.compile(
        g_optimizer=keras.optimizers.Adam(g_rate, beta_1=0.5, epsilon=1e-8),
        d_optimizer=keras.optimizers.Adam(d_rate, beta_1=0.5, epsilon=1e-8),
        jit_compile=jit_compile,
    )
    return gan

