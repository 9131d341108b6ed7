"""GAN: the adversarial ``train_step`` every unconditional variant shares."""

from __future__ import annotations

import dataclasses

import keras
import tensorflow as tf
from keras import ops

from gan_apps import augment as augment_lib
from gan_apps import objectives, runtime, sampling
from gan_apps import penalties as penalties_lib
from gan_apps.errors import UserInputError
from gan_apps.training import TrainableModel, apply_update


@dataclasses.dataclass
class StepContext:
    """What a penalty sees inside a discriminator or generator step."""

    discriminator: keras.Model
    generator: keras.Model
    real: object
    fake: object
    seed_generator: keras.random.SeedGenerator
    conditioning: object = None
    # ``x -> adversarial logits`` with the conditioning bound (what a gradient penalty
    # differentiates); None means ``discriminator(x)``.
    critic: object = None


def critic_chunks(batch, index, n_critic):
    """Rows ``index, index + n_critic, ...`` of ``batch`` (a tensor, a tuple/list of tensors,
    or None): the minibatch of critic update ``index`` within one training step."""
    if batch is None or n_critic == 1:
        return batch
    if isinstance(batch, (tuple, list)):
        return type(batch)(critic_chunks(b, index, n_critic) for b in batch)
    return batch[index::n_critic]


@keras.saving.register_keras_serializable(package="gan_apps")
class GAN(TrainableModel):
    """A generator and a discriminator trained adversarially with ``fit``.

    Each ``fit`` step is one round of Arjovsky et al. 2017, Algorithm 1 (Gulrajani et al.
    2017, Algorithm 1): ``n_critic`` discriminator updates, each on its own real minibatch,
    then one generator update. A step's batch holds the ``n_critic`` minibatches
    interleaved: critic update i uses rows i, i + n_critic, i + 2 n_critic, ... (see
    :func:`critic_chunks`), so feed batches of ``n_critic`` x the critic batch size.
    Interleaving keeps ``tf.distribute`` exact: each replica's share of the batch splits
    into the replica's share of every minibatch. (No ``cond`` on a step counter: an
    optimizer update inside control flow cannot synchronise replicas.)

    Args:
        generator: functional model ``z -> x``.
        discriminator: functional model ``x -> logits`` (one logit per example).
        latent_dim: size of z; read from the generator's input when omitted.
        objective: an objective name from :mod:`gan_apps.objectives` or an Objective.
        objective_options: keyword options for :func:`gan_apps.objectives.get`
            (``coding`` for least squares, ``saturating`` for f-GAN).
        n_critic: discriminator updates per generator update.
        penalties: penalty objects, names or configs (:mod:`gan_apps.penalties`).
        seed: seed of the model's :class:`keras.random.SeedGenerator` (latent noise,
            interpolation weights, augmentation parameters).
        pack: PacGAN's packing degree k (Lin et al. 2018): the discriminator judges packs
            of k reals or k fakes concatenated along the channels (its input has k times
            the data's channels); 1 is the plain GAN. See :meth:`discriminator_view`.
        augment: a DiffAugment policy (Zhao et al. 2020), e.g. ``"color,translation,cutout"``
            (:mod:`gan_apps.augment`), applied alike to real and fake images before every
            discriminator call of both players' updates; None is off.
    """

    OPTIMIZERS = {"g_optimizer": ("generator",), "d_optimizer": ("discriminator",)}
    NETWORKS = {"generator": "generator", "discriminator": "discriminator"}
    NESTED = ("penalties",)

    def __init__(
        self,
        generator,
        discriminator,
        latent_dim=None,
        objective="non_saturating",
        objective_options=None,
        n_critic=1,
        penalties=(),
        seed=None,
        pack=1,
        augment=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if int(n_critic) < 1:
            raise ValueError(f"n_critic must be >= 1, got {n_critic}")
        if int(pack) < 1:
            raise UserInputError(f"--pack must be >= 1, got {pack}")
        self.pack = int(pack)
        self.augment_policy = augment_lib.parse_policy(augment)
        self.generator = generator
        self.discriminator = discriminator
        self.latent_dim = int(latent_dim or generator.inputs[0].shape[-1])
        self.objective_name = objective if isinstance(objective, str) else objective.name
        self.objective_options = dict(objective_options or {})
        self.objective = objectives.get(objective, **self.objective_options)
        self.n_critic = int(n_critic)
        self.penalties = [penalties_lib.get(p) for p in penalties]
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)

        self.d_loss_tracker = keras.metrics.Mean(name="d_loss")
        self.g_loss_tracker = keras.metrics.Mean(name="g_loss")
        self.d_real_tracker = keras.metrics.Mean(name="d_real")
        self.d_fake_tracker = keras.metrics.Mean(name="d_fake")
        self.d_grad_norm_tracker = keras.metrics.Mean(name="d_grad_norm")
        self.g_grad_norm_tracker = keras.metrics.Mean(name="g_grad_norm")
        self.accuracy_trackers = (
            {}
            if self.objective.threshold is None
            else {k: keras.metrics.Mean(name=k) for k in ("d_acc_real", "d_acc_fake")}
        )
        probe = self.objective.metrics(ops.zeros((1, 1)), ops.zeros((1, 1)))
        self.objective_trackers = {k: keras.metrics.Mean(name=k) for k in probe}
        self.penalty_trackers = {
            p.name: keras.metrics.Mean(name=p.name) for p in self.penalties if p.adds_loss
        }
        self.check_views()
        self.built = True

    # --- keras plumbing ----------------------------------------------------------------

    def call(self, z, training=False):
        return self.generator(z, training=training)

    def compile(self, g_optimizer, d_optimizer, **kwargs):
        """Set one optimizer per network, each loss-scaled under mixed_float16 and built
        now (required under tf.distribute); see :class:`gan_apps.training.TrainableModel`."""
        super().compile(g_optimizer=g_optimizer, d_optimizer=d_optimizer, **kwargs)

    @property
    def metrics(self):
        return [
            self.d_loss_tracker,
            self.g_loss_tracker,
            self.d_real_tracker,
            self.d_fake_tracker,
            self.d_grad_norm_tracker,
            self.g_grad_norm_tracker,
            *self.accuracy_trackers.values(),
            *self.objective_trackers.values(),
            *self.penalty_trackers.values(),
        ]

    def get_config(self):
        config = super().get_config()
        config.update(
            latent_dim=self.latent_dim,
            objective=self.objective_name,
            objective_options=self.objective_options,
            n_critic=self.n_critic,
            seed=self.seed,
            pack=self.pack,
            augment=",".join(self.augment_policy) or None,
        )
        return config

    # --- what a training pipeline needs of every model ----------------------------------

    def latent_spec(self):
        """The generator's inputs as data (see :mod:`gan_apps.sampling`)."""
        return sampling.unconditional_spec(self.latent_dim)

    # --- sampling -----------------------------------------------------------------------

    def sample_latent(self, batch_size):
        """z ~ N(0, I), drawn from the model's seed generator."""
        return runtime.global_batch_random(
            keras.random.normal, (batch_size, self.latent_dim), self.seed_generator
        )

    def generate(self, batch_size, training=False):
        return self.generator(self.sample_latent(batch_size), training=training)

    # --- training -----------------------------------------------------------------------

    def unpack(self, data):
        """Split a dataset element into (real examples, conditioning); labels are ignored."""
        if isinstance(data, (tuple, list)):
            return data[0], None
        return data, None

    def train_step(self, data):
        real, conditioning = self.unpack(data)
        for chunk in range(self.n_critic):
            minibatch = critic_chunks(real, chunk, self.n_critic)
            chunk_conditioning = critic_chunks(conditioning, chunk, self.n_critic)
            self.discriminator_step(minibatch, chunk_conditioning)
        self.generator_update(minibatch, chunk_conditioning)
        return self.step_logs()

    def generator_update(self, real, conditioning):
        """The step's generator update, after the critic updates; ``real`` is the last
        critic minibatch (variants that need real data for G, such as unrolling or MMD,
        override this)."""
        self.generator_step(ops.shape(real)[0], conditioning)

    # Hooks of the two steps. A variant overrides these instead of the steps: how a fake
    # batch is made, what the discriminator outputs besides its adversarial logits, and
    # an extra loss per player on those outputs (AC-GAN's class loss, InfoGAN's L_I).

    def discriminator_view(self, x):
        """What the discriminator is shown of a batch ``x`` of real or of fake examples:
        the DiffAugment policy applied (fresh parameters per example and per call), then
        packs of ``pack`` examples (:func:`gan_apps.augment.pack`: [B, ...] -> [B / k, ...]).

        :meth:`discriminator_step` and :meth:`generator_step` call it once per batch before
        every discriminator pass, so real and fake go through the same transformation
        family (Zhao et al. 2020, Sec. 3: T on both, in D's and G's updates) and a penalty
        sees (and interpolates) the batches as the discriminator saw them. Differentiable:
        the generator's gradient passes through it. Identity when both are off.
        """
        if self.augment_policy:
            x = augment_lib.diff_augment(x, self.augment_policy, self.seed_generator)
        return augment_lib.pack(x, self.pack)

    def check_views(self):
        """Refuse ``pack`` / ``augment`` on a model whose steps would not honour them.

        Both act in :class:`GAN`'s own :meth:`discriminator_step` and
        :meth:`generator_step`; a model that replaces those steps (MMD-GAN) or its
        generator update (the unrolled GAN calls its unrolled discriminator directly) would
        silently train without them. Packing also needs one adversarial output per pack:
        a model with per-example conditioning or auxiliary heads (class labels, InfoGAN's
        codes) cannot judge a pack of k examples as one.
        """
        cls = type(self)
        name = self.name
        steps = all(getattr(cls, hook) is getattr(GAN, hook) for hook in
                    ("discriminator_step", "generator_step", "generator_update"))
        if (self.pack > 1 or self.augment_policy) and not steps:
            flag = "--pack" if self.pack > 1 else "--augment"
            raise UserInputError(f"{flag} is not available for {name}: it has its own "
                                 "discriminator or generator step")
        if self.pack > 1 and any(getattr(cls, hook) is not getattr(GAN, hook) for hook in
                                 ("unpack", "discriminator_logits", "discriminator_outputs")):
            raise UserInputError(f"--pack is not available for {name}: its discriminator "
                                 "judges each example with its label or code; use a preset")

    def discriminator_logits(self, x, conditioning, training=True):
        """The adversarial logits [B, 1] of ``x`` (what penalties differentiate)."""
        return self.discriminator(x, training=training)

    def discriminator_outputs(self, x, conditioning, training=True):
        """(adversarial logits, extra outputs) of one discriminator pass; the extra
        outputs (None here) go to :meth:`extra_discriminator_loss` and
        :meth:`extra_generator_loss`."""
        return self.discriminator_logits(x, conditioning, training=training), None

    def generate_fake(self, batch_size, conditioning, training=True):
        return self.generator(self.sample_latent(batch_size), training=training)

    def fake_batch(self, batch_size, conditioning, training=True):
        """(fake examples, the codes they were made from); codes are None here."""
        return self.generate_fake(batch_size, conditioning, training=training), None

    def extra_discriminator_loss(self, real_extras, fake_extras, conditioning, codes):
        """(loss added to D's adversarial loss or None, ``{tracker name: value}``)."""
        return None, {}

    def extra_generator_loss(self, fake_extras, codes, conditioning):
        """(loss added to G's adversarial loss or None, ``{tracker name: value}``)."""
        return None, {}

    def discriminator_step(self, real, conditioning=None):
        """One discriminator update on a real batch and a fresh fake batch."""
        batch_size = ops.shape(real)[0]
        fake, codes = self.fake_batch(batch_size, conditioning)
        real, fake = self.discriminator_view(real), self.discriminator_view(ops.stop_gradient(fake))
        context = StepContext(
            self.discriminator, self.generator, real, fake, self.seed_generator, conditioning,
            critic=lambda x: self.discriminator_logits(x, conditioning),
        )
        with tf.GradientTape() as tape:
            real_logits, real_extras = self.discriminator_outputs(real, conditioning)
            fake_logits, fake_extras = self.discriminator_outputs(fake, conditioning)
            loss = self.objective.d_loss(real_logits, fake_logits)
            extra, extra_logs = self.extra_discriminator_loss(real_extras, fake_extras,
                                                              conditioning, codes)
            total = loss if extra is None else loss + extra
            penalty_values = {}
            for penalty in self.penalties:
                value = penalty.discriminator_loss(context)
                if value is not None:
                    penalty_values[penalty.name] = value
                    total = total + value
        apply_update(tape, total, self.discriminator.trainable_variables, self.d_optimizer,
                     self.d_grad_norm_tracker)
        for penalty in self.penalties:
            penalty.after_discriminator_update(self.discriminator)
        self.record_discriminator(real_logits, fake_logits, loss, penalty_values)
        self.update_trackers(extra_logs)

    def record_discriminator(self, real_logits, fake_logits, loss, penalty_values):
        """Update the discriminator's trackers after one critic update."""
        if self.accuracy_trackers:
            threshold = self.objective.threshold
            self.accuracy_trackers["d_acc_real"].update_state(
                ops.mean(ops.cast(ops.convert_to_tensor(real_logits) > threshold, "float32"))
            )
            self.accuracy_trackers["d_acc_fake"].update_state(
                ops.mean(ops.cast(ops.convert_to_tensor(fake_logits) <= threshold, "float32"))
            )
        self.d_loss_tracker.update_state(loss)
        self.d_real_tracker.update_state(ops.mean(self.objective.output(real_logits)))
        self.d_fake_tracker.update_state(ops.mean(self.objective.output(fake_logits)))
        for name, value in self.objective.metrics(real_logits, fake_logits).items():
            self.objective_trackers[name].update_state(value)
        for name, value in penalty_values.items():
            self.penalty_trackers[name].update_state(value)

    def generator_step(self, batch_size, conditioning=None):
        """One generator update on a fresh latent batch."""
        with tf.GradientTape() as tape:
            fake, codes = self.fake_batch(batch_size, conditioning)
            fake_logits, fake_extras = self.discriminator_outputs(
                self.discriminator_view(fake), conditioning)
            loss = self.objective.g_loss(fake_logits)
            extra, extra_logs = self.extra_generator_loss(fake_extras, codes, conditioning)
            total = loss if extra is None else loss + extra
            context = StepContext(
                self.discriminator, self.generator, None, fake, self.seed_generator, conditioning
            )
            for penalty in self.penalties:
                value = penalty.generator_loss(context)
                if value is not None:
                    self.penalty_trackers[penalty.name].update_state(value)
                    total = total + value
        apply_update(tape, total, self.generator.trainable_variables, self.g_optimizer,
                     self.g_grad_norm_tracker)
        self.g_loss_tracker.update_state(loss)
        self.update_trackers(extra_logs)
