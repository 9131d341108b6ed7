"""Penalties and constraints on the networks: gradient penalty, weight clipping,
orthogonal regularization.

Pure functions compute each term; small :class:`Penalty` objects plug them into the
GAN's steps (``discriminator_loss`` inside the critic's tape, ``generator_loss`` inside
the generator's tape, ``after_discriminator_update`` after the critic's optimizer step).
"""

from __future__ import annotations

import keras
import tensorflow as tf
from keras import ops

from gan_apps import runtime
from gan_apps.errors import UserInputError


def sample_interpolation_weights(batch_size, ndim, seed):
    """alpha ~ U(0, 1), one per example, shaped [B, 1, ...] to broadcast over the other axes.

    Gulrajani et al. 2017, Algorithm 1 line 4 (epsilon there).

    Args:
        batch_size: B (an int or a scalar tensor).
        ndim: rank of the batch the weights interpolate, e.g. 4 for NHWC, 2 for points.
        seed: a ``keras.random.SeedGenerator`` (an int seed repeats inside ``tf.function``).
    """
    return runtime.global_batch_random(keras.random.uniform, (batch_size,) + (1,) * (ndim - 1), seed)


def gradient_penalty(critic, real, fake, alpha, *, target=1.0, one_sided=False,
                     epsilon=1e-12, training=True):
    """WGAN-GP gradient penalty (Gulrajani et al. 2017, eq. 3 and Algorithm 1 lines 6-7).

    x_hat = alpha x + (1 - alpha) x_fake;  penalty = E[(||grad_x_hat D(x_hat)||_2 - target)^2],
    or E[max(0, ||grad|| - target)^2] when ``one_sided`` (Gulrajani et al. Appendix C;
    Petzka et al. 2018). The norm is sqrt(sum g^2 + epsilon): with epsilon inside the
    root its gradient stays finite where the critic's gradient vanishes. Everything runs
    in float32, so the term is stable when the critic computes in float16.

    Called inside the critic's ``tf.GradientTape``, the result is differentiable with
    respect to the critic's weights (the inner tape's gradient is recorded by the outer one).

    Args:
        critic: a Keras layer/model, or any callable ``x -> logits`` (wrap a conditional
            critic in a lambda that closes over its labels).
        real, fake: batches of the same shape [B, ...].
        alpha: interpolation weights [B, 1, ...] (see :func:`sample_interpolation_weights`).
        training: passed to ``critic`` when it is a Keras layer; plain callables get ``x`` only.

    Returns:
        Scalar float32 penalty (unweighted).
    """
    real = ops.cast(real, "float32")
    fake = ops.cast(fake, "float32")
    alpha = ops.cast(alpha, "float32")
    x_hat = alpha * real + (1.0 - alpha) * fake
    with tf.GradientTape() as tape:
        tape.watch(x_hat)
        if isinstance(critic, keras.layers.Layer):
            logits = critic(x_hat, training=training)
        else:
            logits = critic(x_hat)
        total = ops.sum(ops.cast(logits, "float32"))
    grads = ops.cast(tape.gradient(total, x_hat), "float32")
    axes = tuple(range(1, len(grads.shape)))
    norm = ops.sqrt(ops.sum(ops.square(grads), axis=axes) + epsilon)
    excess = norm - target
    if one_sided:
        excess = ops.relu(excess)
    return ops.mean(ops.square(excess))


def clip_weights(model, clip_value):
    """WGAN weight clipping: w <- clip(w, -c, c) for every trainable variable
    (Arjovsky et al. 2017, Algorithm 1 line 7)."""
    for variable in model.trainable_variables:
        variable.assign(ops.clip(variable, -clip_value, clip_value))


def _as_matrix(kernel):
    """Kernel as a float32 matrix with one column per output unit.

    Keras keeps the filters on the last axis: Dense (in, out), Conv2D (h, w, in, out),
    so a filter is one column of the (h*w*in, out) matrix. Conv2DTranspose stores
    (h, w, out, in): its columns are the filters of the input channels, the same
    grouping as PyTorch's ``weight.view(weight.shape[0], -1)`` in BigGAN's code.
    """
    kernel = ops.cast(kernel, "float32")
    return ops.reshape(kernel, (-1, kernel.shape[-1]))


def orthogonal_penalty(kernel, *, off_diagonal=False):
    """Orthogonal regularization of one kernel, as a matrix W with a column per filter.

    Plain: ||W^T W - I||_F^2 (Brock et al. 2017, "Neural Photo Editing", Sec. 3.2;
    Saxe et al. 2014 for orthogonal weights). Off-diagonal: ||W^T W * (1 - I)||_F^2,
    which leaves the filter norms free (Brock et al. 2019, BigGAN, eq. 3; the caller
    applies their beta = 1e-4).

    Returns:
        Scalar float32 penalty (unweighted).
    """
    w = _as_matrix(kernel)
    gram = ops.matmul(ops.transpose(w), w)
    eye = ops.eye(gram.shape[0], dtype="float32")
    residual = gram * (1.0 - eye) if off_diagonal else gram - eye
    return ops.sum(ops.square(residual))


def _excluded(variable, exclude):
    """Whether one of the layer names in ``exclude`` is a component of ``variable.path``
    (e.g. "shared_embedding" in "shared_embedding/embeddings")."""
    return bool(exclude) and not exclude.isdisjoint(variable.path.split("/"))


def orthogonal_regularization(model, *, weight=1e-4, off_diagonal=True, exclude=()):
    """(weight / 2) * sum of :func:`orthogonal_penalty` over the model's trainable weights of
    rank >= 2, except those of the layers named in ``exclude``.

    Biases, normalization scales and other vectors are skipped, as in BigGAN
    (Brock et al. 2019, Sec. 3.1). Embedding matrices have rank 2 and are included unless
    excluded: BigGAN's reference code (ajbrock/BigGAN-PyTorch, train_fns.py) blacklists the
    generator's shared class embedding ("Don't ortho reg shared, it makes no sense"), and
    :func:`gan_apps.models.biggan.build_biggan` passes its name here.

    The factor 1/2 is the reference code's: the paper writes
    R_beta(W) = beta ||W^T W o (1 - I)||_F^2 (eq. 3, beta = 1e-4), whose gradient is
    4 beta (W W^T o (1 - I)) W in the reference's row-per-filter layout, but the code adds
    ``strength * 2 (W W^T o (1 - I)) W`` with strength 1e-4 (utils.ortho), the gradient of
    (beta / 2) ||.||_F^2. We follow the code, so ``weight`` 1e-4 gives the reference's
    update (eq. 3 taken literally would be twice as strong); the same factor applies to the
    plain form, so ``weight`` means the same for both.

    Args:
        model: a Keras model (or layer) whose ``trainable_variables`` are regularized.
        weight: beta.
        off_diagonal: BigGAN's off-diagonal form (True) or the plain ||W^T W - I||_F^2.
        exclude: layer names whose weights are skipped; each must name a layer of ``model``
            that has trainable weights (a typo would otherwise silently regularize it).
    """
    exclude = frozenset((exclude,) if isinstance(exclude, str) else exclude)
    variables = model.trainable_variables
    unknown = sorted(name for name in exclude
                     if not any(_excluded(v, frozenset((name,))) for v in variables))
    if unknown:
        raise UserInputError(
            f"orthogonal regularization cannot exclude {unknown}: no trainable weight of "
            f"{getattr(model, 'name', 'the model')!r} belongs to a layer of that name; pass "
            "the layer names as in model.summary()"
        )
    total = ops.zeros((), "float32")
    for variable in variables:
        if len(variable.shape) >= 2 and not _excluded(variable, exclude):
            total = total + orthogonal_penalty(variable, off_diagonal=off_diagonal)
    return 0.5 * weight * total


class Penalty:
    """A term added to a player's loss or a constraint applied after its update.

    Subclasses override what they need. The loss methods receive a context with
    ``discriminator``, ``generator``, ``real``, ``fake``, ``seed_generator`` and
    ``conditioning`` (None when unconditional), ``critic`` (``x -> adversarial logits``
    with the conditioning bound, or None) and return the already weighted term,
    which the GAN logs under ``name``, or None.
    """

    name = "penalty"
    adds_loss = True  # False for pure constraints, which log nothing

    def discriminator_loss(self, context):
        return None

    def generator_loss(self, context):
        return None

    def after_discriminator_update(self, discriminator):
        return None

    def get_config(self):
        return {}

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"


@keras.saving.register_keras_serializable(package="gan_apps")
class GradientPenalty(Penalty):
    """lambda * :func:`gradient_penalty` on the critic (Gulrajani et al. 2017, lambda = 10)."""

    name = "gradient_penalty"

    def __init__(self, weight=10.0, target=1.0, one_sided=False):
        self.weight = float(weight)
        self.target = float(target)
        self.one_sided = bool(one_sided)

    def discriminator_loss(self, context):
        real = context.real
        alpha = sample_interpolation_weights(
            ops.shape(real)[0], len(real.shape), context.seed_generator
        )
        critic = context.critic
        if critic is None:
            discriminator, conditioning = context.discriminator, context.conditioning

            def critic(x):
                inputs = x if conditioning is None else [x, conditioning]
                return discriminator(inputs, training=True)

        return self.weight * gradient_penalty(
            critic, real, context.fake, alpha, target=self.target, one_sided=self.one_sided
        )

    def get_config(self):
        return {"weight": self.weight, "target": self.target, "one_sided": self.one_sided}


@keras.saving.register_keras_serializable(package="gan_apps")
class WeightClipping(Penalty):
    """Clip every critic weight to [-c, c] after each update (Arjovsky et al. 2017, c = 0.01)."""

    name = "weight_clipping"
    adds_loss = False

    def __init__(self, clip_value=0.01):
        if clip_value <= 0:
            raise UserInputError(f"weight clipping needs a positive clip value, got {clip_value}")
        self.clip_value = float(clip_value)

    def after_discriminator_update(self, discriminator):
        clip_weights(discriminator, self.clip_value)

    def get_config(self):
        return {"clip_value": self.clip_value}


@keras.saving.register_keras_serializable(package="gan_apps")
class OrthogonalRegularization(Penalty):
    """:func:`orthogonal_regularization` added to the loss of G, D or both (BigGAN: G, 1e-4),
    skipping the layers named in ``exclude`` (BigGAN: the shared class embedding)."""

    name = "orthogonal_regularization"
    PLAYERS = ("generator", "discriminator", "both")

    def __init__(self, weight=1e-4, off_diagonal=True, on="generator", exclude=()):
        if on not in self.PLAYERS:
            raise UserInputError(
                f"orthogonal regularization 'on' must be one of {', '.join(self.PLAYERS)}, got {on!r}"
            )
        if isinstance(exclude, str):
            exclude = (exclude,)
        self.weight = float(weight)
        self.off_diagonal = bool(off_diagonal)
        self.on = on
        self.exclude = tuple(str(name) for name in exclude)

    def _term(self, model):
        return orthogonal_regularization(model, weight=self.weight, off_diagonal=self.off_diagonal,
                                         exclude=self.exclude)

    def generator_loss(self, context):
        return self._term(context.generator) if self.on in ("generator", "both") else None

    def discriminator_loss(self, context):
        return self._term(context.discriminator) if self.on in ("discriminator", "both") else None

    def get_config(self):
        return {"weight": self.weight, "off_diagonal": self.off_diagonal, "on": self.on,
                "exclude": list(self.exclude)}


NAMES = {
    "gradient_penalty": GradientPenalty,
    "weight_clipping": WeightClipping,
    "orthogonal": OrthogonalRegularization,
    "orthogonal_regularization": OrthogonalRegularization,
}


def get(identifier):
    """A :class:`Penalty` from an instance, a serialized config dict, or a name in :data:`NAMES`
    (defaults of the papers)."""
    if isinstance(identifier, Penalty):
        return identifier
    if isinstance(identifier, dict):
        classes = {cls.__name__: cls for cls in NAMES.values()}
        try:
            penalty = keras.saving.deserialize_keras_object(identifier, custom_objects=classes)
        except (TypeError, ValueError):
            raise UserInputError(
                f"cannot build a penalty from {identifier!r}; pass a dict from "
                f"keras.saving.serialize_keras_object or with a class_name in: {', '.join(classes)}"
            ) from None
        if not isinstance(penalty, Penalty):
            raise UserInputError(f"{identifier!r} does not describe a penalty; "
                                 f"choose one of: {', '.join(NAMES)}")
        return penalty
    if isinstance(identifier, str) and identifier in NAMES:
        return NAMES[identifier]()
    raise UserInputError(f"unknown penalty {identifier!r}; choose one of: {', '.join(NAMES)}")
