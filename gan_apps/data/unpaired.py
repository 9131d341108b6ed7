"""Two unpaired image domains A and B for translation (CycleGAN, Zhu et al. 2017).

Sources:

- ``photos:tone``: the embedded pair with a known answer. Domain A is patches of three
  training photos (astronaut, rocket, immunohistochemistry); domain B is patches of two
  *other* training photos (motorcycle_left, china) passed through :func:`tone_map`, a
  fixed colour mix plus per-channel gamma. The test split is patches of the held-out
  photos (chelsea, coffee, flower) as A and ``tone_map(A)`` as B, so ``G(A)`` can be
  scored against the true answer. hubble_deep_field is left out: its mostly black sky
  would dominate domain B's colour statistics.
- ``folder:DIR_A,DIR_B``: a user's two folders of images (no test split: evaluation
  uses the same folders).
- ``tfds:cycle_gan/NAME``: TFDS ``cycle_gan`` sets (trainA/trainB/testA/testB) read
  offline from a prepared ``--data-dir``.

Training examples are float32 [load, load, C] in [-1, 1] (images resized to the load
size, photo patches cut at it); :func:`training_dataset` adds the paper's random jitter
(random crop to the crop size and horizontal flip) with stateless ops keyed by the seed
and the epoch, so a resumed run sees exactly the batches an uninterrupted one would.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import tensorflow as tf

from gan_apps.data import feeding, folder, photos, tfds_source
from gan_apps.images import from_uint8, from_unit_range, to_uint8
from gan_apps.data.sources import as_source
from gan_apps.errors import UserInputError

SOURCE_FORMS = "photos:tone, folder:DIR_A,DIR_B, tfds:cycle_gan/NAME"
TONE_PHOTOS_A = ("astronaut", "rocket", "immunohistochemistry")
TONE_PHOTOS_B = ("motorcycle_left", "china")
# The fixed tone map of photos:tone: y = (M x) ** gamma on RGB in [0, 1]. Rows of M are
# non-negative and sum to 1, so M x stays in [0, 1] (nothing clips) and M is invertible
# (det 0.35), so the map is a bijection a cycle-consistent pair of generators can learn:
# a warm tone (red lifted, blue lowered) that moves held-out pixels by ~20/255 on average.
TONE_MIX = np.array([[0.70, 0.30, 0.00], [0.10, 0.80, 0.10], [0.00, 0.30, 0.70]], np.float32)
TONE_GAMMA = np.array([0.6, 0.9, 1.6], np.float32)
TFDS_SPLITS = {"train": ("trainA", "trainB"), "test": ("testA", "testB")}
# Paper's jitter at 256 px: resize to 286, random crop 256 (Zhu et al. 2017, Sec. 7.1).
LOAD_RATIO = 286 / 256


@dataclasses.dataclass(frozen=True)
class DomainPair:
    """Decoded examples of both domains of one split.

    Attributes:
        a, b: float32 [N, S, S, C] in [-1, 1] (S the load size for training, the crop
            size for the test split).
        known_b: for ``photos:tone`` test data, the true translation of ``a`` (same shape),
            else None.
        channels: 1 or 3.
    """

    a: np.ndarray
    b: np.ndarray
    known_b: np.ndarray | None
    channels: int


def check_source(source):
    """The :class:`~gan_apps.data.sources.Source` of an unpaired ``source`` (text or Source);
    a UserInputError for any other form."""
    parsed = as_source(source, what="unpaired data source", forms=SOURCE_FORMS)
    text = parsed.text
    if parsed.kind == "folder" and (len(parsed.paths) != 2 or not all(parsed.paths)):
        raise UserInputError(
            f"{text!r} needs two folders; pass folder:DIR_A,DIR_B (comma, no space)"
        )
    if parsed.kind == "tfds" and (parsed.name != "cycle_gan" or not parsed.config):
        raise UserInputError(
            f"{text!r} is not an unpaired TFDS set; pass tfds:cycle_gan/NAME "
            "(e.g. tfds:cycle_gan/horse2zebra)"
        )
    if parsed.kind not in ("tone", "folder", "tfds"):
        raise UserInputError(f"unknown unpaired data source {text!r}; pass one of: {SOURCE_FORMS}")
    return parsed


def default_load_size(crop_size):
    """The size images are resized to before the random crop (286 for 256 in the paper)."""
    return int(round(crop_size * LOAD_RATIO))


def tone_map(images):
    """The fixed transform of ``photos:tone``: per-pixel colour mix then per-channel gamma.

    Args:
        images: uint8 [..., 3].

    Returns:
        uint8 of the same shape, round((M x) ** gamma * 255) with x = images / 255.
    """
    x = np.asarray(images, np.float32) / 255.0
    mixed = np.clip(x @ TONE_MIX.T, 0.0, 1.0)
    return np.clip(np.round(mixed ** TONE_GAMMA * 255.0), 0, 255).astype(np.uint8)


def _patches(image, size, stride):
    height, width = image.shape[:2]
    return [
        image[top:top + size, left:left + size]
        for top in range(0, height - size + 1, stride)
        for left in range(0, width - size + 1, stride)
    ]


def _photo_patches(names, size, stride):
    patches = []
    for name in names:
        patches.extend(_patches(photos.photo(name), size, stride))
    if not patches:
        raise UserInputError(f"the photos are smaller than {size} px; pass a smaller --crop-size")
    return np.stack(patches)


def _tone_pair(split, size):
    if split == "train":
        # Half-overlapping patches double the examples of the small photo set.
        a = _photo_patches(TONE_PHOTOS_A, size, size // 2)
        b = tone_map(_photo_patches(TONE_PHOTOS_B, size, size // 2))
        return DomainPair(from_uint8(a), from_uint8(b), None, 3)
    a = _photo_patches(photos.photo_names("test"), size, size)
    known = tone_map(a)
    return DomainPair(from_uint8(a), from_uint8(known), from_uint8(known), 3)


def _decode_domain(path, label):
    """Every decodable image of one folder as float32 [H, W, C] in [0, 1]."""
    folder.check_folder(path)
    files = folder.list_files(path)
    if not files:
        raise UserInputError(
            f"domain {label} folder {path!r} contains no files; put images (PNG, JPEG, ...) in it"
        )
    decoded = [(file, folder.decode_image(file)) for file in files]
    good = [(file, image) for file, image in decoded if image is not None]
    if not good:
        raise UserInputError(
            f"none of the {len(files)} files in domain {label} folder {path!r} could be decoded "
            "by OpenCV; pass a folder of images (PNG, JPEG, BMP, TIFF, WebP)"
        )
    return good


def _domain_channels(images):
    return 3 if any(image.shape[-1] == 3 for _, image in images) else 1


def _folder_pair(paths, split, size, crop_size, channels):
    decoded = [_decode_domain(path, label) for path, label in zip(paths, "AB")]
    found = [_domain_channels(images) for images in decoded]
    if channels is None:
        if found[0] != found[1]:
            kinds = ["colour" if c == 3 else "grayscale" for c in found]
            raise UserInputError(
                f"domain A is {kinds[0]} and domain B is {kinds[1]}; pass --channels 1 or 3 "
                "to convert both domains to one"
            )
        channels = found[0]
    domains = []
    for (path, label), images in zip(zip(paths, "AB"), decoded):
        for file, image in images:
            if min(image.shape[:2]) < crop_size:
                raise UserInputError(
                    f"{file} in domain {label} is {image.shape[1]}x{image.shape[0]} px, smaller "
                    f"than the crop size {crop_size}; pass a smaller --crop-size or remove it"
                )
        domains.append(from_unit_range(
            np.stack([folder.square_resize(image, size, channels) for _, image in images])))
    return DomainPair(domains[0].astype(np.float32), domains[1].astype(np.float32), None, channels)


def _tfds_pair(name, split, size, channels, data_dir):
    default_channels, _, _ = tfds_source.describe(name, data_dir)
    channels = channels or default_channels
    domains = []
    for tfds_split in TFDS_SPLITS[split]:
        dataset, _ = tfds_source.load_decoded(
            name, resolution=size, channels=channels, split=tfds_split, data_dir=data_dir
        )
        parts = list(dataset.batch(64).as_numpy_iterator())
        if not parts:
            raise UserInputError(f"split {tfds_split!r} of tfds:{name} is empty; prepare it again")
        domains.append(np.concatenate(parts))
    return DomainPair(domains[0], domains[1], None, channels)


def load_pair(source, *, split="train", crop_size=256, load_size=None, channels=None,
              data_dir=None):
    """Decode both domains of ``split`` ("train" at the load size, "test" at the crop size).

    Returns:
        A :class:`DomainPair`.
    """
    source = check_source(source)
    if split not in TFDS_SPLITS:
        raise UserInputError(f"unpaired data has splits 'train' and 'test', not {split!r}")
    if channels is not None and channels not in (1, 3):
        raise UserInputError(f"channels must be 1 or 3, got {channels!r}; pass --channels 1 or 3")
    load_size = load_size or default_load_size(crop_size)
    if load_size < crop_size:
        raise UserInputError(
            f"the load size {load_size} is smaller than the crop size {crop_size}; "
            "pass --load-size at least --crop-size"
        )
    size = load_size if split == "train" else crop_size
    if source.kind == "tone":
        if channels == 1:
            raise UserInputError("photos:tone is a colour mapping; drop --channels 1")
        return _tone_pair(split, size)
    if source.kind == "folder":
        return _folder_pair(source.paths, split, size, crop_size, channels)
    return _tfds_pair(source.tfds_name, split, size, channels, data_dir)


def smallest_side(source):
    """The smallest height or width among the training images of ``source`` (pixels).

    What the CPU defaults of ``translate train`` are sized from: ``photos:tone`` patches are
    cut from photos of at least 300 px; a folder pair is decoded and measured; the TFDS
    ``cycle_gan`` sets are 256 px.
    """
    source = check_source(source)
    if source.kind == "tone":
        return min(min(photos.photo(name).shape[:2]) for name in TONE_PHOTOS_A + TONE_PHOTOS_B)
    if source.kind == "tfds":
        return 256
    return min(min(image.shape[:2]) for path, label in zip(source.paths, "AB")
               for _, image in _decode_domain(path, label))


def has_test_split(source):
    """Whether ``source`` holds test images apart from its training images."""
    return check_source(source).kind != "folder"


def _jitter(image, crop_size, channels, seed):
    """Random crop to ``crop_size`` and random horizontal flip (Zhu et al. 2017, Sec. 7.1)."""
    seeds = tf.random.experimental.stateless_split(seed, 2)
    image = tf.image.stateless_random_crop(image, (crop_size, crop_size, channels), seed=seeds[0])
    return tf.image.stateless_random_flip_left_right(image, seed=seeds[1])


def steps_per_epoch(pair, batch_size):
    """max(|A|, |B|) // batch: one epoch sees every example of the larger domain once."""
    return max(len(pair.a), len(pair.b)) // batch_size


def _epoch_order(count, epoch, steps, batch_size, seed, salt):
    """Indices of one domain for one epoch: permutations (repeated if it is the smaller)."""
    rng = np.random.default_rng([seed, epoch, salt])
    needed = steps * batch_size
    return np.concatenate([rng.permutation(count) for _ in range(-(-needed // count))])[:needed]


def training_dataset(pair, *, crop_size, batch_size, seed=0, initial_epoch=0, epochs=1,
                     steps=None):
    """Batches ``(a, b)`` of jittered crops for epochs ``initial_epoch .. epochs - 1``.

    The two domains are shuffled independently (unpaired); the order and the jitter of
    epoch ``e`` depend only on ``(seed, e)``, so resuming at epoch ``e`` replays it exactly.
    ``steps`` (batches per epoch) defaults to :func:`steps_per_epoch`; more than that
    repeats the data within the epoch (fresh permutations, fresh jitter). Training must
    consume exactly ``steps`` per epoch for resume to be exact.
    """
    if batch_size < 1:
        raise UserInputError(f"--batch-size must be >= 1, got {batch_size}")
    if steps_per_epoch(pair, batch_size) < 1:
        steps = 0
    steps = steps or steps_per_epoch(pair, batch_size)
    if steps < 1:
        raise UserInputError(
            f"the domains have {len(pair.a)} and {len(pair.b)} examples, fewer than the batch "
            f"size {batch_size}; pass a smaller --batch-size"
        )
    steps = int(steps)
    epoch_list = range(initial_epoch, max(epochs, initial_epoch + 1))
    order_a = np.concatenate([_epoch_order(len(pair.a), e, steps, batch_size, seed, 0)
                              for e in epoch_list])
    order_b = np.concatenate([_epoch_order(len(pair.b), e, steps, batch_size, seed, 1)
                              for e in epoch_list])
    # Example k of epoch e jitters with the key (seed, e * steps * batch + k).
    positions = np.concatenate([e * steps * batch_size + np.arange(steps * batch_size)
                                for e in epoch_list])
    # uint8 tables: a quarter of the memory of float32 (cycle_gan sets hold ~1,000 images).
    table_a = tf.constant(to_uint8(pair.a))
    table_b = tf.constant(to_uint8(pair.b))
    channels = pair.channels

    def pick(position, index_a, index_b):
        keys = tf.random.experimental.stateless_split(tf.stack([tf.cast(seed, tf.int64), position]), 2)
        a = _jitter(from_uint8(tf.gather(table_a, index_a)), crop_size, channels, keys[0])
        b = _jitter(from_uint8(tf.gather(table_b, index_b)), crop_size, channels, keys[1])
        return a, b

    dataset = tf.data.Dataset.from_tensor_slices(
        (positions.astype(np.int64), order_a.astype(np.int64), order_b.astype(np.int64))
    )
    return feeding.feed(dataset.map(pick, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
                        .batch(batch_size, drop_remainder=True))
