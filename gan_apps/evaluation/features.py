"""Feature extractors for Frechet distance and KID: the shipped digits CNN and InceptionV3.

An extractor maps images float32 [N, H, W, C] in [-1, 1] (any resolution, 1 or 3 channels) to
``{"features": [N, D], "logits": [N, K] or None}``. FID (Heusel et al. 2017) and KID
(Binkowski et al. 2018) are defined on InceptionV3's 2048-d pool3 features; offline, the
toolkit computes the same statistics on the penultimate layer of a small digits classifier
(tools/train_digits_classifier.py), and says which features a number was computed on through
``description``.
"""

from __future__ import annotations

import importlib.resources
import os
import warnings

import keras
import numpy as np
import tensorflow as tf

from gan_apps.errors import UserInputError

__all__ = ["FEATURE_BATCH", "FeatureExtractor", "DigitsFeatures", "InceptionFeatures",
           "EXTRACTORS", "RESIZE_CONVENTIONS", "get_extractor", "convert_channels", "resize"]

FEATURE_BATCH = 256
INCEPTION_SIZE = 299
# ITU-R BT.601 luma. The weights sum to 1, so they apply to [-1, 1] values as they are.
LUMA = (0.299, 0.587, 0.114)
# Images a little outside [-1, 1] (a generator without tanh) are clipped, as saving them as
# uint8 would; values beyond this are another scale altogether, e.g. [0, 255].
RANGE_LIMIT = 2.0
DIGITS_WEIGHTS = ("weights", "digits_classifier.keras")
INCEPTION_WEIGHTS_HINT = (
    "Keras InceptionV3 weights, e.g. inception_v3_weights_tf_dim_ordering_tf_kernels_notop.h5 "
    "from https://storage.googleapis.com/tensorflow/keras-applications/inception_v3/"
)
WEIGHT_SUFFIXES = (".h5", ".hdf5", ".keras", ".weights.json")


def _check_images(images):
    """The input as a numpy array, after checking it is float NHWC with 1 or 3 channels."""
    array = np.asarray(images)
    if array.ndim != 4:
        raise UserInputError(
            f"images must be a 4-D batch [N, H, W, C], got shape {array.shape}; "
            "add a batch axis with images[None] or a channel axis with images[..., None]"
        )
    if array.shape[-1] not in (1, 3):
        raise UserInputError(
            f"images must have 1 or 3 channels (NHWC), got shape {array.shape}; "
            "pass channels-last grayscale or RGB images"
        )
    if not np.issubdtype(array.dtype, np.floating):
        raise UserInputError(
            f"images must be float in [-1, 1], got dtype {array.dtype}; "
            "convert uint8 images with images.astype('float32') / 127.5 - 1"
        )
    if array.size and np.nanmax(np.abs(array)) > RANGE_LIMIT:
        raise UserInputError(
            f"images must be in [-1, 1], got values up to {np.nanmax(np.abs(array)):.4g}; "
            "scale [0, 255] images with images / 127.5 - 1"
        )
    return array


def convert_channels(images, channels):
    """Gray -> RGB by repetition, RGB -> gray by BT.601 luma; ``images`` [N, H, W, C]."""
    have = images.shape[-1]
    if have == channels:
        return images
    if channels == 3:
        return tf.repeat(images, 3, axis=-1)
    return tf.reduce_sum(images * tf.constant(LUMA, images.dtype), axis=-1, keepdims=True)


# Bilinear sampling conventions. "half_pixel": TF2's tf.image.resize (pixel centres at
# i + 0.5 in both grids), as pytorch-fid (F.interpolate(mode="bilinear",
# align_corners=False)) and the current TF-GAN classifier_metrics. "legacy": TF1's
# resize_bilinear with align_corners=False, half_pixel_centers=False (output pixel i samples
# input i * in / out), the ResizeBilinear inside the 2015 Inception graph that the TTUR FID
# code (bioinf-jku/TTUR fid.py) feeds. Enlarging a row [0, 1] to width 4 gives
# [0, 0.25, 0.75, 1] and [0, 0.5, 1, 1] respectively.
RESIZE_CONVENTIONS = ("half_pixel", "legacy")


def _check_convention(convention):
    if convention not in RESIZE_CONVENTIONS:
        raise UserInputError(f"unknown resize convention {convention!r}; pass one of "
                             f"{', '.join(RESIZE_CONVENTIONS)}")
    return convention


def resize(images, size, *, antialias=True, convention="half_pixel"):
    """Resize [N, H, W, C] to [N, size, size, C].

    ``convention="half_pixel"``: with ``antialias``, shrinking averages areas (an image
    enlarged by pixel repetition comes back exactly) and enlarging is bilinear; without it,
    always plain bilinear. ``convention="legacy"``: TF1's bilinear without half-pixel centres
    (see :data:`RESIZE_CONVENTIONS`), never antialiased.
    """
    _check_convention(convention)
    height, width = images.shape[1], images.shape[2]
    if (height, width) == (size, size):
        return images
    if convention == "legacy":
        return tf.compat.v1.image.resize_bilinear(images, (size, size), align_corners=False,
                                                  half_pixel_centers=False)
    if antialias and height >= size and width >= size:
        return tf.image.resize(images, (size, size), method="area")
    return tf.image.resize(images, (size, size), method="bilinear", antialias=antialias)


class FeatureExtractor:
    """Images in [-1, 1] -> ``{"features": [N, D], "logits": [N, K] or None}`` through a model.

    Args:
        model: a Keras model taking [B, S, S, C] in [-1, 1] with outputs ``[features]`` or
            ``[features, logits]``.
        name: short name ("digits", "inception").
        description: what the features are, to print next to every number computed on them.
        antialias: shrink by area averaging (True) or plain bilinear (False).
        batch_size: images per forward pass.
        resize: the bilinear convention, one of :data:`RESIZE_CONVENTIONS`.
    """

    def __init__(self, model, *, name, description, antialias=True, batch_size=FEATURE_BATCH,
                 resize="half_pixel"):
        if not isinstance(batch_size, int) or batch_size < 1:
            raise UserInputError(f"the feature batch size must be an integer >= 1, got "
                                 f"{batch_size!r}; pass a positive batch size")
        _, height, width, channels = model.input_shape
        if height != width or height is None:
            raise ValueError(f"the feature model needs a fixed square input, got "
                             f"{model.input_shape}")
        self.model = model
        self.name = name
        self.description = description
        self.size = height
        self.channels = channels
        self.antialias = antialias
        self.resize_convention = _check_convention(resize)
        self.batch_size = batch_size
        self.feature_size = model.outputs[0].shape[-1]
        self.num_classes = model.outputs[1].shape[-1] if len(model.outputs) > 1 else None
        self._forwards = {}

    def _preprocess_and_run(self, images):
        images = convert_channels(images, self.channels)
        images = resize(images, self.size, antialias=self.antialias, convention=self.resize_convention)
        outputs = self.model(images, training=False)
        return outputs if isinstance(outputs, (list, tuple)) else [outputs]

    def _forward(self, batch):
        # One graph per input resolution; the batch axis stays open so the last, smaller
        # batch does not trace again.
        shape = batch.shape[1:]
        if shape not in self._forwards:
            spec = tf.TensorSpec((None, *shape), tf.float32)
            self._forwards[shape] = tf.function(self._preprocess_and_run, input_signature=[spec])
        return self._forwards[shape](tf.constant(batch))

    def __call__(self, images):
        """Features (and logits) of ``images`` float [N, H, W, 1 or 3] in [-1, 1], as float32."""
        images = _check_images(images)
        features, logits = [np.zeros((0, self.feature_size), np.float32)], []
        if self.num_classes is not None:
            logits.append(np.zeros((0, self.num_classes), np.float32))
        for start in range(0, len(images), self.batch_size):
            batch = np.clip(images[start:start + self.batch_size].astype(np.float32), -1, 1)
            outputs = self._forward(batch)
            features.append(outputs[0].numpy())
            if self.num_classes is not None:
                logits.append(outputs[1].numpy())
        return {
            "features": np.concatenate(features),
            "logits": np.concatenate(logits) if self.num_classes is not None else None,
        }

    def __repr__(self):
        return f"<{type(self).__name__} {self.name}: {self.description}>"


def _load_classifier(path):
    if not os.path.isfile(path):
        raise UserInputError(
            f"digits classifier not found at {path}; run "
            "`python tools/train_digits_classifier.py` to write the shipped one, or pass the "
            ".keras file it wrote"
        )
    try:
        return keras.models.load_model(path, compile=False)
    except Exception as error:
        raise UserInputError(
            f"cannot load the digits classifier {path} ({error}); pass a .keras file written "
            "by tools/train_digits_classifier.py"
        ) from error


class DigitsFeatures(FeatureExtractor):
    """The penultimate ("features") layer and logits of the shipped digits classifier.

    Inputs of any resolution are resized to the classifier's 32x32 and RGB becomes luma.

    Args:
        path: a .keras classifier with layers "features" and "logits"; default the one
            shipped in gan_apps/evaluation/weights/.
    """

    def __init__(self, path=None, *, batch_size=FEATURE_BATCH):
        if path is None:
            resource = importlib.resources.files("gan_apps.evaluation")
            for part in DIGITS_WEIGHTS:
                resource = resource / part
            with importlib.resources.as_file(resource) as shipped:
                classifier = _load_classifier(os.fspath(shipped))
            source = "shipped classifier"
        else:
            classifier = _load_classifier(os.fspath(path))
            source = f"classifier {os.fspath(path)}"
        try:
            features = classifier.get_layer("features").output
            logits = classifier.get_layer("logits").output
        except ValueError as error:
            raise UserInputError(
                f"the digits {source} lacks a layer named 'features' or 'logits'; pass a "
                "model written by tools/train_digits_classifier.py"
            ) from error
        model = keras.Model(classifier.inputs, [features, logits])
        super().__init__(
            model, name="digits", batch_size=batch_size,
            description=f"digits CNN penultimate features ({features.shape[-1]}-d, {source})",
        )


def _inception(weights_path, include_top):
    """InceptionV3 with ``[pool3 features]`` or ``[pool3 features, logits]`` as outputs."""
    if include_top:
        network = keras.applications.InceptionV3(
            include_top=True, weights=weights_path, classifier_activation=None,
        )
        return keras.Model(network.inputs, [network.get_layer("avg_pool").output,
                                            network.output])
    network = keras.applications.InceptionV3(
        include_top=False, weights=weights_path, pooling="avg",
        input_shape=(INCEPTION_SIZE, INCEPTION_SIZE, 3),
    )
    return keras.Model(network.inputs, [network.output])


class InceptionFeatures(FeatureExtractor):
    """InceptionV3's 2048-d pool3 features (Szegedy et al. 2016), the FID/KID feature space.

    Images are resized to 299x299 with plain bilinear interpolation, by default in TF2's
    half-pixel convention (``tf.image.resize``: align_corners=False, half-pixel centres),
    the convention of pytorch-fid (``F.interpolate(mode="bilinear", align_corners=False)``)
    and of today's TF-GAN; ``resize="legacy"`` uses TF1's ResizeBilinear without half-pixel
    centres, as the 2015 graph that the TTUR FID code (Heusel et al. 2017) feeds
    (:data:`RESIZE_CONVENTIONS`). Gray becomes RGB, and [-1, 1] is already the range
    InceptionV3 expects.
    A weights file with the classification top also gives the 1000 ImageNet logits.
    Keras' ImageNet weights are not the 2015 graph of the reference FID code, so their
    FID is close to, not equal to, published values.

    Args:
        weights_path: Keras InceptionV3 weights (.h5, .weights.h5 or .keras), with or
            without the top. None builds random weights: the code path runs, but the
            features mean nothing and ``description`` says so.
        resize: "half_pixel" (default, pytorch-fid's) or "legacy" (TTUR's); the
            description names the legacy convention.
    """

    def __init__(self, weights_path=None, *, batch_size=FEATURE_BATCH, resize="half_pixel"):
        self.random_weights = weights_path is None
        if weights_path is None:
            model = _inception(None, include_top=False)
            description = ("InceptionV3 pool3 (RANDOM WEIGHTS: not a standard FID, "
                           "for tests only)")
        else:
            model = self._load(os.fspath(weights_path))
            description = f"InceptionV3 pool3 ({os.path.basename(weights_path)})"
        if _check_convention(resize) == "legacy":
            description = f"{description[:-1]}, legacy TF1 resize)"
        super().__init__(model, name="inception", description=description, antialias=False,
                         batch_size=batch_size, resize=resize)

    @staticmethod
    def _load(path):
        if not os.path.isfile(path):
            raise UserInputError(
                f"InceptionV3 weights file not found: {path}; pass the path of the "
                f"{INCEPTION_WEIGHTS_HINT}"
            )
        if not path.endswith(WEIGHT_SUFFIXES):
            raise UserInputError(
                f"{path} is not a Keras weights file (.h5, .weights.h5, .keras); pass the "
                f"{INCEPTION_WEIGHTS_HINT}"
            )
        # A .weights.h5 file with the top also loads into the top-less network, silently
        # dropping the logits, while a top-less file never loads into the network with the
        # top: so try the top first and fall back (the first try's warnings are moot then).
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                return _inception(path, include_top=True)
            except (ValueError, OSError) as error:
                with_top_error = error  # a top-less file: load it without the top
        try:
            return _inception(path, include_top=False)
        except (ValueError, OSError) as error:
            error.__context__ = with_top_error
            raise UserInputError(
                f"cannot load InceptionV3 weights from {path} ({error}); pass the "
                f"{INCEPTION_WEIGHTS_HINT}"
            ) from error


EXTRACTORS = ("digits", "inception")


def get_extractor(name, *, inception_weights=None, batch_size=FEATURE_BATCH,
                  inception_resize="half_pixel"):
    """The extractor called ``name``: "digits" (shipped classifier) or "inception" (with
    ``inception_resize``, see :class:`InceptionFeatures`)."""
    if name == "digits":
        if inception_weights is not None:
            raise UserInputError(
                "Inception weights were given for the 'digits' features; use the 'inception' "
                "extractor with them, or drop the weights"
            )
        if inception_resize != "half_pixel":
            raise UserInputError(
                f"the Inception resize convention {inception_resize!r} was given for the "
                "'digits' features; use the 'inception' extractor with it, or drop it"
            )
        return DigitsFeatures(batch_size=batch_size)
    if name == "inception":
        return InceptionFeatures(inception_weights, batch_size=batch_size, resize=inception_resize)
    raise UserInputError(f"unknown feature extractor {name!r}; pass one of {list(EXTRACTORS)}")
