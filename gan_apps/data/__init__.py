"""tf.data sources of the toolkit: embedded digits, 2-D mixtures, TFDS and image folders.

A source is a string: ``digits``, ``photos``, ``ring8``, ``grid25``, ``tfds:NAME[/CONFIG]``
or ``folder:PATH``, parsed once into a :class:`~gan_apps.data.sources.Source` (every
function here takes either). ``photos`` yields non-overlapping patches of the embedded photographs
(see :mod:`gan_apps.data.photos`; pipelines that want whole photos use that module).
Images come out float32 NHWC in [-1, 1]; mixtures as float32 points [N, 2].
"""

from __future__ import annotations

import dataclasses

import numpy as np
import tensorflow as tf

from gan_apps.data import embedded, feeding, folder, mixtures, photos, tfds_source
from gan_apps.data.mixtures import MIXTURES, Mixture
from gan_apps.data.sources import Source, as_source, parse_source
from gan_apps.errors import UserInputError

__all__ = ["MIXTURES", "Mixture", "Source", "SourceInfo", "image_source", "load_arrays",
           "load_dataset", "parse_source", "source_info"]

SOURCE_FORMS = "digits, photos, ring8, grid25, tfds:NAME[/CONFIG], folder:PATH"
MIN_RESOLUTION = 8
# Decoded TFDS data up to this size is cached in memory; larger sets re-decode every epoch.
TFDS_CACHE_BYTES = 2 << 30
# The shuffle buffer holds whole decoded examples; cap it so large images do not exhaust RAM.
SHUFFLE_BUFFER_BYTES = 1 << 30


@dataclasses.dataclass(frozen=True)
class SourceInfo:
    """What a data source yields: ``kind`` "image" or "points", image ``channels`` (the
    requested ones, else the source's default), ``num_classes`` (None without labels)."""

    kind: str
    channels: int | None
    num_classes: int | None
    name: str


def image_source(source):
    """The :class:`Source` of ``source`` (text or Source) if :func:`load_dataset` reads it.

    ``photos:tone`` parses (it is translation's pair) but is no source of single images.
    """
    parsed = as_source(source, forms=SOURCE_FORMS)
    if parsed.kind == "tone":
        raise UserInputError(f"unknown data source {parsed.text!r}; pass one of: {SOURCE_FORMS}")
    return parsed


def _is_int(value):
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)


def _check_options(kind, resolution, channels, num_examples, seed):
    if num_examples is not None and (not _is_int(num_examples) or num_examples < 1):
        raise UserInputError(f"num_examples must be a positive integer, got {num_examples!r}")
    if not _is_int(seed) or seed < 0:
        raise UserInputError(f"the seed must be an integer >= 0, got {seed!r}; pass --seed 0")
    if kind == "points":
        return
    if not _is_int(resolution) or resolution < MIN_RESOLUTION:
        raise UserInputError(
            f"image resolution must be an integer >= {MIN_RESOLUTION}, got {resolution!r}; "
            f"pass --resolution {MIN_RESOLUTION} or more"
        )
    if channels is not None and channels not in (1, 3):
        raise UserInputError(f"channels must be 1 or 3, got {channels!r}; pass --channels 1 or 3")


def source_info(source, *, channels=None, data_dir=None):
    """Describe ``source`` (text or :class:`Source`) without decoding its data (TFDS reads
    only its static metadata)."""
    source = image_source(source)
    kind, text = source.kind, source.text
    if channels is not None and kind != "points" and channels not in (1, 3):
        raise UserInputError(f"channels must be 1 or 3, got {channels!r}; pass --channels 1 or 3")
    if kind == "points":
        return SourceInfo("points", None, None, text)
    if kind == "digits":
        channels = channels or embedded.DIGITS_CHANNELS
        return SourceInfo("image", channels, embedded.DIGITS_CLASSES, text)
    if kind == "photos":
        return SourceInfo("image", channels or photos.PHOTOS_CHANNELS, None, text)
    if kind == "tfds":
        default, num_classes, _ = tfds_source.describe(source.tfds_name, data_dir)
        return SourceInfo("image", channels or default, num_classes, text)
    folder.check_folder(source.folder)
    return SourceInfo("image", channels or folder.DEFAULT_CHANNELS, None, text)


def _no_labels(source):
    return UserInputError(
        f"data source {source!r} has no labels; use a labelled source (digits, tfds:mnist, ...) "
        "or a model that needs no labels"
    )


def load_arrays(source, *, resolution=32, channels=None, split="train", data_dir=None,
                num_examples=None, seed=0):
    """Decode a whole source split into numpy.

    Returns:
        (images float32 [N, H, W, C] in [-1, 1] or points float32 [N, 2],
         labels int32 [N] or None).
    """
    source = image_source(source)
    kind = source.kind
    _check_options(kind, resolution, channels, num_examples, seed)
    if kind == "points":
        points = mixtures.load_points(source.name, split=split, num_examples=num_examples, seed=seed)
        return points, None
    if kind == "digits":
        return embedded.load_digits(
            resolution=resolution, channels=channels or embedded.DIGITS_CHANNELS, split=split,
            num_examples=num_examples,
        )
    if kind == "photos":
        images = photos.photo_patches(
            split, resolution=resolution, channels=channels or photos.PHOTOS_CHANNELS,
            num_examples=num_examples,
        )
        return images, None
    if kind == "folder":
        images = folder.load_folder(
            source.folder, resolution=resolution, channels=channels or folder.DEFAULT_CHANNELS,
            split=split, num_examples=num_examples,
        )
        return images, None
    default_channels, _, has_label = tfds_source.describe(source.tfds_name, data_dir)
    dataset, _ = tfds_source.load_decoded(
        source.tfds_name, resolution=resolution, channels=channels or default_channels, split=split,
        data_dir=data_dir, num_examples=num_examples, with_labels=has_label,
    )
    parts = list(dataset.batch(256).as_numpy_iterator())
    if not parts:
        raise UserInputError(f"split {split!r} of {source.text!r} is empty; pass another split")
    if has_label:
        return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])
    return np.concatenate(parts), None


def load_dataset(source, *, resolution=32, channels=None, batch_size=64, split="train",
                 shuffle=True, repeat=False, seed=0, data_dir=None, with_labels=False,
                 num_examples=None):
    """Batches of a source as a ``tf.data.Dataset``.

    Elements are float32 images [B, H, W, C] in [-1, 1] (points [B, 2] for mixtures), or
    ``(images, int32 labels [B])`` with ``with_labels``. Every batch is full
    (``drop_remainder=True``, which XLA and ``tf.distribute`` want); with ``shuffle`` the order
    is seeded by ``seed`` and reshuffled on each pass.
    """
    source = image_source(source)
    kind = source.kind
    _check_options(kind, resolution, channels, num_examples, seed)
    if not _is_int(batch_size) or batch_size < 1:
        raise UserInputError(f"the batch size must be an integer >= 1, got {batch_size!r}; "
                             "pass --batch-size 1 or more")
    if kind == "tfds":
        info = source_info(source, channels=channels, data_dir=data_dir)
        dataset, count = tfds_source.load_decoded(
            source.tfds_name, resolution=resolution, channels=info.channels, split=split,
            data_dir=data_dir, num_examples=num_examples, with_labels=with_labels,
        )
        example_bytes = resolution * resolution * info.channels * 4
        if count is not None and count * example_bytes <= TFDS_CACHE_BYTES:
            dataset = dataset.cache()
    else:
        if with_labels and kind != "digits":
            raise _no_labels(source.text)
        images, labels = load_arrays(
            source, resolution=resolution, channels=channels, split=split,
            data_dir=data_dir, num_examples=num_examples, seed=seed,
        )
        # The arrays are decoded once and already live in memory, so .cache() would only copy.
        dataset = tf.data.Dataset.from_tensor_slices((images, labels) if with_labels else images)
        count, example_bytes = len(images), images[0].nbytes
    if count is not None and count < batch_size:
        raise UserInputError(
            f"{source.text!r} ({split} split) has {count} examples, fewer than the batch size "
            f"{batch_size}, so it gives no full batch; pass a smaller --batch-size"
        )
    if shuffle:
        buffer = max(1, SHUFFLE_BUFFER_BYTES // example_bytes)
        buffer = min(buffer, count) if count is not None else buffer
        dataset = dataset.shuffle(buffer, seed=seed, reshuffle_each_iteration=True)
    if repeat:
        dataset = dataset.repeat()
    return feeding.feed(dataset.batch(batch_size, drop_remainder=True))
