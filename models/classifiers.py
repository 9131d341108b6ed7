"""Image classifiers to attack and to judge attacks, and PGD adversarial training.

- :func:`cnn_classifier`: a plain CNN (two conv/max-pool stages, a dense layer), the
  classifier under attack.
- :func:`strided_classifier`: a different architecture (strided convolutions, leaky ReLU,
  no pooling, dropout) for the independent evaluator that judges whether an adversarial
  image still shows its source class.
- :func:`pgd_perturb`: projected gradient descent in an L-infinity ball (Madry et al. 2018,
  eq. 2 with the update of Sec. 2.1), targeted or untargeted.
- :class:`PGDTrainer`: adversarial training, min_theta E[max_{||delta||_inf <= eps}
  L(theta, x + delta, y)] (Madry et al. 2018, eq. 2-3), the inner max solved by PGD with
  a random start, trained with ``fit``.

Classifiers map images float32 [B, H, W, C] in [-1, 1] to class logits [B, K].
"""

from __future__ import annotations

import keras
import tensorflow as tf
from keras import layers, ops

from gan_apps import runtime
from gan_apps.errors import UserInputError
from gan_apps.training import TrainableModel, apply_update, step_logs

ARCHITECTURES = ("cnn", "strided")
# Images live in [-1, 1]; a perturbation never leaves that box.
PIXEL_MIN, PIXEL_MAX = -1.0, 1.0


def _check_shape(resolution, channels, num_classes):
    if not isinstance(resolution, int) or resolution < 8 or resolution % 4:
        raise UserInputError(f"classifier resolution must be a multiple of 4 and >= 8, "
                             f"got {resolution!r}; pass --resolution 16 or 32")
    if channels not in (1, 3):
        raise UserInputError(f"classifier channels must be 1 or 3, got {channels!r}")
    if not isinstance(num_classes, int) or num_classes < 2:
        raise UserInputError(f"a classifier needs num_classes >= 2, got {num_classes!r}")


def cnn_classifier(resolution=32, channels=1, num_classes=10, width=32, seed=None):
    """Plain CNN ``images -> logits [B, K]``: (conv3x3, ReLU) x2 stages with max-pooling, a
    dense ReLU layer of 4 * width units, a linear output (the MNIST model of Madry et al.
    2018 at a smaller width)."""
    _check_shape(resolution, channels, num_classes)
    init = keras.initializers.GlorotUniform(seed=seed)
    images = keras.Input((resolution, resolution, channels), name="images")
    x = images
    for stage, filters in enumerate((width, 2 * width)):
        x = layers.Conv2D(filters, 3, padding="same", activation="relu", kernel_initializer=init,
                          name=f"conv{stage}")(x)
        x = layers.MaxPooling2D(name=f"pool{stage}")(x)
    x = layers.Flatten(name="flatten")(x)
    x = layers.Dense(4 * width, activation="relu", kernel_initializer=init, name="features")(x)
    logits = layers.Dense(num_classes, kernel_initializer=init, dtype="float32", name="logits")(x)
    return keras.Model(images, logits, name="cnn_classifier")


def strided_classifier(resolution=32, channels=1, num_classes=10, width=32, seed=None):
    """A second architecture ``images -> logits [B, K]`` for the independent evaluator:
    (conv4x4 stride 2, leaky ReLU 0.2) x2, global average and max pooling, dropout 0.3, a
    linear output. No max-pooling and no dense hidden layer, so it shares little with
    :func:`cnn_classifier`."""
    _check_shape(resolution, channels, num_classes)
    init = keras.initializers.HeNormal(seed=seed)
    images = keras.Input((resolution, resolution, channels), name="images")
    x = images
    for stage, filters in enumerate((width, 2 * width, 4 * width)):
        strides = 2 if stage < 2 else 1
        x = layers.Conv2D(filters, 4 if strides == 2 else 3, strides=strides, padding="same",
                          kernel_initializer=init, name=f"conv{stage}")(x)
        x = layers.LeakyReLU(0.2, name=f"lrelu{stage}")(x)
    pooled = layers.Concatenate(name="features")([layers.GlobalAveragePooling2D()(x),
                                                  layers.GlobalMaxPooling2D()(x)])
    x = layers.Dropout(0.3, seed=seed, name="dropout")(pooled)
    logits = layers.Dense(num_classes, kernel_initializer=init, dtype="float32", name="logits")(x)
    return keras.Model(images, logits, name="strided_classifier")


def build_classifier(architecture="cnn", *, resolution=32, channels=1, num_classes=10, width=32,
                     seed=None):
    """The classifier network called ``architecture`` (one of :data:`ARCHITECTURES`)."""
    builders = {"cnn": cnn_classifier, "strided": strided_classifier}
    if architecture not in builders:
        raise UserInputError(f"unknown classifier architecture {architecture!r}; choose from "
                             f"{', '.join(ARCHITECTURES)}")
    return builders[architecture](resolution, channels, num_classes, width, seed)


def cross_entropy(labels, logits):
    """Per-example softmax cross-entropy -log p(label | x) from logits (log-sum-exp inside)."""
    return keras.losses.sparse_categorical_crossentropy(labels, logits, from_logits=True)


def pgd_perturb(classifier, images, labels, *, eps, step_size, steps, targeted=False,
                random_start=True, seed=None):
    """Projected gradient descent in the L-inf ball of radius ``eps`` around ``images``.

    Madry et al. 2018, Sec. 2.1: x^{t+1} = Proj_{x + S}(x^t + alpha sgn(grad_x L(theta, x^t, y))),
    S = {delta : ||delta||_inf <= eps}, starting from a uniform random point of x + S; the
    iterate is also clipped to the image box [-1, 1]. Untargeted, L is the cross-entropy of
    the true ``labels`` (ascended); ``targeted`` descends the cross-entropy of ``labels``
    taken as targets.

    Args:
        classifier: ``images -> logits``.
        images: float32 [B, H, W, C] in [-1, 1].
        labels: int [B], true classes (untargeted) or targets (targeted).
        eps, step_size: radius and step alpha in the [-1, 1] image scale.
        seed: an int or a ``keras.random.SeedGenerator`` for the random start.

    Under a ``tf.distribute`` strategy each replica takes its slice of random starts drawn
    for the global batch (:func:`gan_apps.runtime.global_batch_random`), so the starts
    are those of one device; the loss is computed on float32 logits.

    Returns:
        The perturbed images, float32 [B, H, W, C].
    """
    images = ops.convert_to_tensor(images, "float32")
    labels = ops.cast(labels, "int32")
    direction = -1.0 if targeted else 1.0
    x = images
    if random_start:
        x = x + runtime.global_batch_random(
            lambda shape, seed: keras.random.uniform(shape, -eps, eps, seed=seed),
            ops.shape(images), seed)
        x = ops.clip(x, PIXEL_MIN, PIXEL_MAX)
    for _ in range(int(steps)):
        with tf.GradientTape() as tape:
            tape.watch(x)
            logits = ops.cast(classifier(x, training=False), "float32")
            loss = ops.sum(cross_entropy(labels, logits))
        gradient = tape.gradient(loss, x)
        x = x + direction * step_size * ops.sign(gradient)
        x = ops.clip(x, images - eps, images + eps)
        x = ops.clip(x, PIXEL_MIN, PIXEL_MAX)
    return ops.stop_gradient(x)


@keras.saving.register_keras_serializable(package="gan_apps")
class PGDTrainer(TrainableModel):
    """Adversarial training of a classifier (Madry et al. 2018, eq. 2-3).

    Each ``fit`` step solves the inner maximisation max_{||delta||_inf <= eps} L(x + delta, y)
    approximately with :func:`pgd_perturb` (random start, ``steps`` sign-gradient steps of
    ``step_size``) and takes an optimizer step on the cross-entropy of the perturbed batch,
    the outer minimisation of eq. 2 (Danskin's theorem, Sec. 2.1: the gradient at the
    maximiser is a descent direction of the saddle-point objective).

    Args:
        classifier: functional model ``images -> logits``.
        eps, step_size: L-inf radius and PGD step in the [-1, 1] image scale.
        steps: PGD iterations per training step.
        seed: seed of the random starts.

    Runtime: build and compile it inside a ``tf.distribute`` strategy's scope; the loss
    of each replica is divided by the replica count and scaled by
    ``optimizer.scale_loss`` (:func:`gan_apps.training.apply_update`; ``compile`` wraps
    the optimizer for loss scaling under mixed_float16); logits and loss are float32
    under mixed precision.
    """

    OPTIMIZERS = {"optimizer": ("classifier",)}
    NETWORKS = {"classifier": "classifier"}

    def __init__(self, classifier, eps=0.6, step_size=0.1, steps=10, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.classifier = classifier
        self.eps = float(eps)
        self.step_size = float(step_size)
        self.steps = int(steps)
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)
        self.loss_tracker = keras.metrics.Mean(name="adv_loss")
        self.accuracy_tracker = keras.metrics.SparseCategoricalAccuracy(name="adv_accuracy")

    def call(self, images, training=False):
        return self.classifier(images, training=training)

    @property
    def metrics(self):
        return [self.loss_tracker, self.accuracy_tracker]

    def compile(self, optimizer, **kwargs):
        """The classifier's optimizer, loss-scaled under mixed_float16 and built now."""
        super().compile(optimizer=optimizer, **kwargs)

    def get_config(self):
        return {**super().get_config(), "eps": self.eps, "step_size": self.step_size,
                "steps": self.steps, "seed": self.seed}

    def train_step(self, data):
        images, labels = data
        labels = ops.cast(labels, "int32")
        adversarial = pgd_perturb(self.classifier, images, labels, eps=self.eps,
                                  step_size=self.step_size, steps=self.steps,
                                  seed=self.seed_generator)
        with tf.GradientTape() as tape:
            logits = ops.cast(self.classifier(adversarial, training=True), "float32")
            loss = ops.mean(cross_entropy(labels, logits))
        apply_update(tape, loss, self.classifier.trainable_variables, self.optimizer)
        # The unscaled per-replica mean: the tracker averages it over replicas itself.
        self.loss_tracker.update_state(loss)
        self.accuracy_tracker.update_state(labels, logits)
        return self.step_logs()

    def test_step(self, data):
        images, labels = data
        logits = ops.cast(self.classifier(images, training=False), "float32")
        self.loss_tracker.update_state(ops.mean(cross_entropy(ops.cast(labels, "int32"), logits)))
        self.accuracy_tracker.update_state(labels, logits)
        return step_logs(self.metrics)
