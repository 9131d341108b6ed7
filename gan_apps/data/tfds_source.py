"""Named datasets from the TFDS catalog, read from a prepared ``data_dir`` without a network."""

from __future__ import annotations

import tensorflow as tf

from gan_apps.errors import UserInputError
from gan_apps.images import from_unit_range

CATALOG = "https://www.tensorflow.org/datasets/catalog/overview"


def _tfds():
    # Importing tensorflow_datasets takes seconds; only tfds: sources should pay for it.
    import tensorflow_datasets as tfds

    return tfds


def _first_line(error):
    return str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__


def dataset_builder(name, data_dir):
    """The TFDS builder of ``name`` ("NAME" or "NAME/CONFIG") under ``data_dir``; an unknown
    name or config is a :class:`UserInputError` that points to the catalog. Building it
    reads no examples, so it also serves to check a name before loading."""
    tfds = _tfds()
    try:
        return tfds.builder(name, data_dir=data_dir)
    except tfds.core.DatasetNotFoundError:
        raise UserInputError(
            f"unknown TFDS dataset {name!r}; pass tfds:NAME[/CONFIG] with a name from {CATALOG}"
        ) from None
    except ValueError as error:
        raise UserInputError(
            f"TFDS cannot build {name!r} ({_first_line(error)}); check the CONFIG in "
            "tfds:NAME/CONFIG against the catalog"
        ) from None


def _image_channels(feature):
    """Channels the toolkit gives an image feature: alpha and gray+alpha lose their alpha."""
    stored = feature.shape[-1]
    return 1 if stored in (1, 2) else 3


def describe(name, data_dir=None):
    """Static facts of a TFDS dataset, known without its data.

    Returns:
        (default channels, number of classes or None, whether it has a ``label`` feature).
    """
    features = dataset_builder(name, data_dir).info.features
    if "image" not in features:
        raise UserInputError(
            f"TFDS dataset {name!r} has no 'image' feature (it has {sorted(features.keys())}); "
            "pass an image dataset such as tfds:mnist or tfds:cifar10"
        )
    label = features["label"] if "label" in features else None
    num_classes = getattr(label, "num_classes", None)
    return _image_channels(features["image"]), num_classes, label is not None


def decode(image, resolution, channels):
    """One stored image (any integer or float dtype) to float32 [res, res, channels] in [-1, 1].

    Channels convert with ITU-R 601 luma (gray) or by repetition (RGB); the central square
    is cropped and resized with an antialiasing filter so shrinking does not alias.
    """
    image = tf.image.convert_image_dtype(image, tf.float32)
    stored = image.shape[-1]
    if stored in (2, 4):
        image = image[..., : stored - 1]
    if channels == 1 and image.shape[-1] == 3:
        image = tf.image.rgb_to_grayscale(image)
    elif channels == 3 and image.shape[-1] == 1:
        image = tf.image.grayscale_to_rgb(image)
    height, width = tf.shape(image)[0], tf.shape(image)[1]
    side = tf.minimum(height, width)
    top, left = (height - side) // 2, (width - side) // 2
    image = image[top : top + side, left : left + side]
    # Bilinear with antialias=True is exact at equal size and a proper low-pass when shrinking.
    image = tf.image.resize(image, (resolution, resolution), method="bilinear", antialias=True)
    image = from_unit_range(tf.clip_by_value(image, 0.0, 1.0))
    return tf.ensure_shape(image, (resolution, resolution, channels))


def load_decoded(name, *, resolution, channels, split, data_dir=None, num_examples=None,
                 with_labels=False):
    """Unbatched decoded examples: images, or ``(images, int32 labels)`` with ``with_labels``.

    Returns:
        (tf.data.Dataset, number of examples or None where TFDS does not know it).
    """
    _, _, has_label = describe(name, data_dir)
    if with_labels and not has_label:
        raise UserInputError(
            f"TFDS dataset {name!r} has no 'label' feature; train an unconditional model on it"
        )
    dataset = load_split(name, split, data_dir)
    if num_examples is not None:
        dataset = dataset.take(num_examples)

    def convert(example):
        image = decode(example["image"], resolution, channels)
        if with_labels:
            return image, tf.cast(example["label"], tf.int32)
        return image

    dataset = dataset.map(convert, num_parallel_calls=tf.data.AUTOTUNE)
    count = int(dataset.cardinality())
    return dataset, (count if count >= 0 else None)


def load_split(name, split, data_dir=None):
    """``tfds.load`` of a prepared dataset's split (never downloading), its failures as one
    line that names the fix: an unknown name, a set not prepared in ``data_dir``, a bad split."""
    tfds = _tfds()
    try:
        return tfds.load(
            name, split=split, data_dir=data_dir, download=False, shuffle_files=False
        )
    except tfds.core.DatasetNotFoundError:
        raise UserInputError(
            f"unknown TFDS dataset {name!r}; pass tfds:NAME[/CONFIG] with a name from {CATALOG}"
        ) from None
    except (AssertionError, FileNotFoundError, tf.errors.NotFoundError):
        # download=False makes TFDS fail at once when no prepared copy exists.
        where = data_dir or "the default TFDS folder (~/tensorflow_datasets)"
        raise UserInputError(
            f"TFDS dataset {name!r} is not prepared in {where}; prepare it on a machine with "
            f"network access (`tfds build {name} --data_dir DIR`) and pass --data-dir DIR"
        ) from None
    except ValueError as error:
        raise UserInputError(
            f"TFDS cannot load split {split!r} of {name!r} ({_first_line(error)}); "
            "pass a split the dataset has, e.g. 'train' or 'test'"
        ) from None
