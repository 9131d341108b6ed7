"""How a training run uses the machine: distribution strategy, precision, determinism.

Every training command calls :func:`configure` once, before it builds a model, and builds
its model and optimizers inside the returned strategy's scope (KERAS_NOTES: optimizers built
lazily under a strategy fail). Per-replica losses are divided by the replica count in the
models' train steps (:func:`gan_apps.training.replica_scale`), so the update equals the
update on the global batch on one device.
"""

from __future__ import annotations

import os
import warnings

import keras
import tensorflow as tf

from gan_apps.errors import UserInputError

STRATEGIES = ("default", "mirrored", "multiworker", "tpu")
PRECISIONS = ("float32", "mixed_float16", "mixed_bfloat16")
# Split the CPU into this many logical devices (tests and demos of MirroredStrategy on a
# machine without accelerators); read once, before TensorFlow initialises its devices.
CPU_DEVICES_ENV = "GAN_APPS_CPU_DEVICES"


def split_cpu(count):
    """Expose ``count`` logical CPU devices; must run before the first TensorFlow op."""
    cpus = tf.config.list_physical_devices("CPU")
    try:
        tf.config.set_logical_device_configuration(
            cpus[0], [tf.config.LogicalDeviceConfiguration() for _ in range(count)]
        )
    except RuntimeError:
        # Devices are already initialised (an earlier run in this process): keep them.
        return


def make_strategy(name="default"):
    """A ``tf.distribute`` strategy by name.

    - ``default``: the current (single-device) strategy.
    - ``mirrored``: synchronous data parallelism over every local GPU (or every logical CPU
      when ``GAN_APPS_CPU_DEVICES`` splits the CPU).
    - ``multiworker``: synchronous data parallelism over the machines listed in
      ``TF_CONFIG`` (each worker runs the same command).
    - ``tpu``: the TPU named by ``TPU_NAME`` (empty: the TPU attached to this VM).
    """
    if name not in STRATEGIES:
        raise UserInputError(f"unknown strategy {name!r}; choose one of: {', '.join(STRATEGIES)}")
    if name == "default":
        return tf.distribute.get_strategy()
    count = int(os.environ.get(CPU_DEVICES_ENV, "0") or 0)
    if count > 1:
        split_cpu(count)
    if name == "mirrored":
        gpus = tf.config.list_logical_devices("GPU")
        devices = [d.name for d in gpus] or [d.name for d in tf.config.list_logical_devices("CPU")]
        return tf.distribute.MirroredStrategy(devices)
    if name == "tpu":
        try:
            resolver = tf.distribute.cluster_resolver.TPUClusterResolver(
                tpu=os.environ.get("TPU_NAME", "")
            )
            tf.config.experimental_connect_to_cluster(resolver)
            tf.tpu.experimental.initialize_tpu_system(resolver)
        except (ValueError, RuntimeError, tf.errors.OpError) as err:
            raise UserInputError(
                f"--strategy tpu found no TPU ({str(err).splitlines()[0]}); set TPU_NAME or "
                "run on a TPU VM"
            ) from None
        return tf.distribute.TPUStrategy(resolver)
    if "TF_CONFIG" not in os.environ:
        raise UserInputError(
            "--strategy multiworker needs TF_CONFIG describing the cluster and this worker's "
            "index; see the README section 'More than one device'"
        )
    return tf.distribute.MultiWorkerMirroredStrategy()


def configure(*, strategy="default", precision="float32", deterministic=False, seed=0):
    """Set the precision policy, determinism and seeds; return the strategy to build under.

    ``mixed_float16`` keeps variables in float32 and computes in float16; the models wrap
    their optimizers in a loss-scale optimizer (:func:`loss_scaled`). ``deterministic``
    turns on TensorFlow's op determinism, which makes two runs (and a resumed run)
    bit-identical on the same machine; it also turns off XLA auto-clustering.
    """
    if precision not in PRECISIONS:
        raise UserInputError(f"unknown precision {precision!r}; choose one of: {', '.join(PRECISIONS)}")
    chosen = make_strategy(strategy)
    keras.mixed_precision.set_global_policy(precision)
    keras.utils.set_random_seed(seed)
    if deterministic:
        tf.config.experimental.enable_op_determinism()
    return chosen


def jit_compile(choice):
    """``compile``'s ``jit_compile`` for the ``--jit`` / ``--no-jit`` choice (True / False),
    or ``"auto"`` when neither was given.

    ``"auto"`` is Keras' rule: XLA on a GPU or TPU when every layer supports it, graph mode
    (``tf.function`` without XLA) on a CPU. On this project's 2-core CPU that is the right
    call for the default job (block ``speed_job`` of docs/benchmarks.md): XLA is 0.87x of
    graph mode at one thread, and at two threads even XLA with a whole epoch per execution
    (1.1x per image) ends training no sooner once its longer compilation is counted.
    """
    return "auto" if choice is None else bool(choice)


def fit(model, *args, **kwargs):
    """``model.fit``, retried once in graph mode when XLA cannot compile the train step.

    XLA refuses some ops (a ``tf.numpy_function``, an op without an XLA kernel on the
    device); it says so when the first step is compiled, before any weight, optimizer or
    noise state changes, so running the same ``fit`` again without XLA loses nothing. A
    one-line warning names the op's message; other errors propagate unchanged.
    """
    try:
        return model.fit(*args, **kwargs)
    except (tf.errors.InvalidArgumentError, tf.errors.UnimplementedError) as err:
        if not (model.jit_compile and XLA_REFUSAL in str(err)):
            raise
        detail = next((line for line in str(err).splitlines() if XLA_REFUSAL in line), "")
        warnings.warn(f"XLA cannot compile this model's train step, training in graph mode "
                      f"instead ({detail.strip()[:200]})", RuntimeWarning, stacklevel=2)
    model.jit_compile = False
    model.make_train_function(force=True)
    return model.fit(*args, **kwargs)


# How TensorFlow words an XLA compilation refusal.
XLA_REFUSAL = "Detected unsupported operations when trying to compile graph"


def check_global_batch(strategy, batch_size):
    """Refuse a global batch that the strategy's replicas cannot share equally.

    Each replica computes on ``batch_size / replicas`` examples; with a remainder some
    replicas would get a smaller (or empty) batch and the update would no longer equal the
    one-device update on the global batch.
    """
    replicas = strategy.num_replicas_in_sync
    if batch_size % replicas:
        raise UserInputError(
            f"--batch-size {batch_size} is not a multiple of the {replicas} replicas of the "
            "strategy; pass a batch size that is"
        )


def loss_scaled(optimizer):
    """Wrap ``optimizer`` in a dynamic loss-scale optimizer under the float16 policy.

    float16 gradients underflow without loss scaling (Micikevicius et al. 2018, Sec. 3.2);
    bfloat16 has float32's exponent range and needs none.
    """
    policy = keras.mixed_precision.global_policy().name
    if policy == "mixed_float16" and not isinstance(optimizer, keras.optimizers.LossScaleOptimizer):
        return keras.optimizers.LossScaleOptimizer(optimizer)
    return optimizer


def global_batch_random(draw, shape, seed):
    """Draw random numbers for the global batch and keep this replica's slice.

    Under a strategy with R replicas each replica computes on B = global / R examples;
    drawing the [R * B, ...] block from the shared seed state and slicing it by replica id
    gives every example its own noise, exactly as on one device with the global batch (each
    replica drawing [B, ...] from the same state would repeat the same noise R times).

    Args:
        draw: ``keras.random.normal`` or ``keras.random.uniform`` (or any ``(shape, seed=)``).
        shape: the per-replica shape, batch first.
        seed: a ``keras.random.SeedGenerator``.
    """
    context = replica_context()
    if context is None:
        return draw(shape, seed=seed)
    batch = shape[0]
    values = draw((batch * context.num_replicas_in_sync, *shape[1:]), seed=seed)
    return replica_share(values, context, batch)


def replica_context():
    """The replica context inside a step that runs on more than one replica, else None."""
    context = tf.distribute.get_replica_context()
    if context is None or tf.distribute.get_strategy().num_replicas_in_sync == 1:
        return None
    return context


def replica_share(values, context, batch):
    """This replica's ``batch`` rows of a global-batch tensor (replicas in id order)."""
    start = context.replica_id_in_sync_group * batch
    return values[start:start + batch]
