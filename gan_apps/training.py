"""The model base every trainable model stands on, and the one update idiom.

Every model of the toolkit (the GAN family, GMMN, VAE, CycleGAN, SRGAN, the PGD trainer)
is a :class:`TrainableModel`: it declares which optimizer trains which of its networks,
and the base does the rest of the contract that training pipelines rely on:

- ``compile(NAME=optimizer, ...)`` wraps each optimizer for loss scaling under the
  ``mixed_float16`` policy (:func:`gan_apps.runtime.loss_scaled`) and builds it now on
  its networks' variables (KERAS_NOTES: optimizers built lazily under ``tf.distribute``
  fail);
- ``get_compile_config`` / ``compile_from_config`` round-trip the optimizers, so a saved
  ``.keras`` file loads compiled (Keras cannot restore a custom ``compile``);
- ``get_config`` / ``from_config`` serialise the nested networks;
- ``networks()`` (saved as ``NAME.keras``) and ``checkpoint_items()`` (what exact resume
  needs: networks, optimizers, noise state, declared extra state);
- trackers looked up by name and the train-step logs of :func:`step_logs`.

Inside a train step, :func:`apply_update` is the update: divide the per-replica loss for
the replica sum (:func:`replica_scale`), scale it for float16 (``optimizer.scale_loss``),
differentiate, record the gradient norm, apply.
"""

from __future__ import annotations

import keras
import tensorflow as tf
from keras import ops

from gan_apps import runtime


def replica_scale(loss):
    """Divide a per-replica mean loss so that gradients summed over replicas average.

    Under ``tf.distribute`` the optimizers sum gradients across replicas; each replica
    computes a mean over its share of the global batch, so dividing by the replica count
    gives the gradient of the global-batch mean.
    """
    replicas = tf.distribute.get_strategy().num_replicas_in_sync
    return loss if replicas == 1 else loss / replicas


def gradient_norm(grads, optimizer):
    """Global L2 norm of the gradient of the (global-batch mean) loss.

    Undoes the loss scale of a :class:`keras.optimizers.LossScaleOptimizer` and the
    division by the replica count of :func:`replica_scale`.
    """
    norm = ops.sqrt(sum(ops.sum(ops.square(ops.cast(g, "float32"))) for g in grads if g is not None))
    if isinstance(optimizer, keras.optimizers.LossScaleOptimizer):
        norm = norm / ops.cast(optimizer.dynamic_scale, "float32")
    return norm * tf.distribute.get_strategy().num_replicas_in_sync


def record_gradient_norm(tracker, grads, optimizer):
    """Add this step's :func:`gradient_norm` to the ``tracker`` mean.

    Under a :class:`keras.optimizers.LossScaleOptimizer` a step whose scaled gradient
    overflowed is skipped and the loss scale lowered (dynamic loss scaling, Micikevicius
    et al. 2018, Sec. 3.2): a normal event of float16 training, not a divergence, so such
    a step adds nothing to the mean (NaN losses still show in the loss trackers).
    """
    norm = gradient_norm(grads, optimizer)
    if not isinstance(optimizer, keras.optimizers.LossScaleOptimizer):
        tracker.update_state(norm)
        return
    applied = ops.isfinite(norm)
    tracker.update_state(ops.where(applied, norm, 0.0), sample_weight=ops.cast(applied, "float32"))


def apply_update(tape, loss, variables, optimizer, grad_norm_tracker=None):
    """One optimizer step on ``loss``, a per-replica mean computed under ``tape``.

    The update every model makes: ``loss`` divided for the replica sum
    (:func:`replica_scale`) and scaled for float16 (``optimizer.scale_loss``; the
    :class:`keras.optimizers.LossScaleOptimizer` unscales in ``apply`` and skips a
    non-finite step), its gradient taken with respect to ``variables``, the gradient
    norm added to ``grad_norm_tracker`` (when given), then the step applied.

    ``tape`` must be a non-persistent ``tf.GradientTape`` whose context has been left:
    it resumes recording for the scaling, so the differentiated graph is the one of
    scaling inside the tape. The norm is measured before ``apply``, which may change the
    dynamic loss scale that :func:`gradient_norm` divides by.

    Returns:
        The gradients, in the order of ``variables``.
    """
    with tape:
        scaled = optimizer.scale_loss(replica_scale(loss))
    grads = tape.gradient(scaled, variables)
    if grad_norm_tracker is not None:
        record_gradient_norm(grad_norm_tracker, grads, optimizer)
    optimizer.apply(grads, variables)
    return grads


def multi_worker():
    """Whether the current strategy is a ``MultiWorkerMirroredStrategy``."""
    return isinstance(tf.distribute.get_strategy(), tf.distribute.MultiWorkerMirroredStrategy)


def step_logs(metrics):
    """The ``train_step`` return value: each tracker's result by name.

    Under ``MultiWorkerMirroredStrategy`` Keras 3 reduces the step outputs with
    ``strategy.reduce("MEAN", v, axis=0)``, which fails on scalars (tensorflow/tensorflow
    issue 72388); a length-1 vector reduces to the same scalar.
    """
    logs = {m.name: m.result() for m in metrics}
    if multi_worker():
        logs = {name: ops.reshape(value, (1,)) for name, value in logs.items()}
    return logs


def map_nested(function, value):
    """``function`` applied to ``value``, to each item of a list or tuple, or None to None."""
    if value is None:
        return None
    if isinstance(value, (list, tuple)):
        return [function(v) for v in value]
    return function(value)


def serialize_nested(value):
    """A Keras object, a list of them, or None, serialised for a model config."""
    return map_nested(keras.saving.serialize_keras_object, value)


def deserialize_nested(config):
    """The inverse of :func:`serialize_nested`."""
    return map_nested(keras.saving.deserialize_keras_object, config)


class TrainableModel(keras.Model):
    """A model trained with ``fit`` by named optimizers over named networks.

    A subclass declares, as class attributes:

    - ``OPTIMIZERS``: each ``compile`` keyword -> the attribute names of the networks that
      optimizer trains, e.g. ``{"g_optimizer": ("generator",), "d_optimizer":
      ("discriminator",)}``. One optimizer instance per entry (KERAS_NOTES: sharing one
      raises "Unknown variable"). A network attribute may be None (SRGAN without a
      discriminator): its optimizer is then absent.
    - ``NETWORKS``: the name of each network (its ``NAME.keras`` file, its constructor
      keyword and config key, its checkpoint name) -> the attribute holding it, the
      generator first.
    - ``NESTED``: other constructor keywords holding Keras objects (or lists of them),
      serialised in the config (the GAN's penalties).
    - ``EXTRA_STATE``: attributes besides networks, optimizers and the seed generator
      that exact resume needs (image pools, a schedule counter).

    A ``seed_generator`` attribute, when the model has one, is checkpointed as
    ``seed_state``. The attribute names are those of the ``.keras`` files and
    checkpoints already written, so they keep loading.
    """

    OPTIMIZERS: dict = {}
    NETWORKS: dict = {}
    NESTED: tuple = ()
    EXTRA_STATE: tuple = ()

    # --- compile ------------------------------------------------------------------------

    def compile(self, *optimizers, **kwargs):
        """Set the optimizers named in ``OPTIMIZERS`` (by keyword, or positionally in that
        order), loss-scaled under ``mixed_float16`` and built now; the other keywords go
        to ``keras.Model.compile`` (``jit_compile``, ``steps_per_execution``, ...)."""
        names = tuple(self.OPTIMIZERS)
        if len(optimizers) > len(names):
            raise TypeError(f"{type(self).__name__}.compile takes at most {len(names)} "
                            f"positional optimizers ({', '.join(names)})")
        given = dict(zip(names, optimizers))
        for name in names:
            if name in kwargs:
                if name in given:
                    raise TypeError(f"{type(self).__name__}.compile got two values for {name}")
                given[name] = kwargs.pop(name)
        if "optimizer" in kwargs:
            raise TypeError(f"{type(self).__name__}.compile takes its optimizers as "
                            f"{', '.join(names)}, not optimizer")
        self.check_optimizers(given)
        super().compile(optimizer=None, **kwargs)
        for name in names:
            optimizer = given.get(name)
            if optimizer is not None:
                optimizer = runtime.loss_scaled(optimizer)
                optimizer.build(self.optimizer_variables(name))
            setattr(self, name, optimizer)

    def check_optimizers(self, given):
        """Raise ValueError unless each present network has its own optimizer."""
        owners = {}
        for name, optimizer in given.items():
            trains = " and ".join(self.OPTIMIZERS[name])
            if not self.optimizer_active(name):
                if optimizer is not None:
                    raise ValueError(f"{type(self).__name__} has no {trains}; drop {name}")
                continue
            if optimizer is None:
                raise ValueError(f"{type(self).__name__} needs a {name} for its {trains}")
            if id(optimizer) in owners:
                raise ValueError(f"the {owners[id(optimizer)]} and the {trains} need separate "
                                 "optimizers")
            owners[id(optimizer)] = trains
        for name in self.OPTIMIZERS:
            if name not in given and self.optimizer_active(name):
                raise ValueError(f"{type(self).__name__} needs a {name} for its "
                                 f"{' and '.join(self.OPTIMIZERS[name])}")

    def optimizer_active(self, name):
        """Whether any network that optimizer ``name`` trains is present."""
        return any(getattr(self, net) is not None for net in self.OPTIMIZERS[name])

    def optimizer_variables(self, name):
        """The trainable variables optimizer ``name`` updates, its networks' in order."""
        return [v for net in self.OPTIMIZERS[name] if getattr(self, net) is not None
                for v in getattr(self, net).trainable_variables]

    def optimizers(self):
        """The present optimizers by compile keyword (after ``compile``)."""
        found = {}
        for name in self.OPTIMIZERS:
            if not self.optimizer_active(name):
                continue
            optimizer = getattr(self, name, None)
            if optimizer is None:
                raise ValueError(f"{type(self).__name__} is not compiled: it has no {name}")
            found[name] = optimizer
        return found

    def get_compile_config(self):
        values = {name: getattr(self, name, None) for name in self.OPTIMIZERS}
        if all(value is None for value in values.values()):
            return None
        return {name: serialize_nested(value) for name, value in values.items()}

    def compile_from_config(self, config):
        # Keys other than the optimizers (the Keras default compile config of files
        # written before this base) are left out.
        self.compile(**{name: deserialize_nested(config.get(name)) for name in self.OPTIMIZERS})

    # --- config -------------------------------------------------------------------------

    def get_config(self):
        config = super().get_config()
        for name, attribute in self.NETWORKS.items():
            config[name] = serialize_nested(getattr(self, attribute))
        for name in self.NESTED:
            config[name] = serialize_nested(getattr(self, name))
        return config

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        for name in (*cls.NETWORKS, *cls.NESTED):
            if name in config:
                config[name] = deserialize_nested(config[name])
        return cls(**config)

    # --- what a training pipeline needs of every model ----------------------------------

    def networks(self):
        """The networks saved as ``NAME.keras`` at the end of training (``generator`` first)."""
        return {name: getattr(self, attribute) for name, attribute in self.NETWORKS.items()
                if getattr(self, attribute) is not None}

    def checkpoint_items(self):
        """Everything that exact resume needs, for ``tf.train.Checkpoint(**items)``."""
        items = {**self.networks(), **self.optimizers()}
        seed_generator = getattr(self, "seed_generator", None)
        if seed_generator is not None:
            items["seed_state"] = seed_generator.state
        items.update({name: getattr(self, name) for name in self.EXTRA_STATE})
        return items

    # --- trackers -----------------------------------------------------------------------

    @property
    def metrics(self):
        """The trackers, in log order (models with a ``trackers`` dict; others override)."""
        return list(self.trackers.values())

    def update_trackers(self, values):
        """Add each ``{metric name: value}`` to the tracker of that name."""
        trackers = {m.name: m for m in self.metrics}
        for name, value in values.items():
            trackers[name].update_state(value)

    def step_logs(self):
        """The train step's logs: :func:`step_logs` of :attr:`metrics`."""
        return step_logs(self.metrics)
