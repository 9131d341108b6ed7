"""Whole HR images for super-resolution and the random LR/HR patches cut from them.

Sources (a :class:`~gan_apps.data.sources.Source` or its text): ``photos`` (the embedded
photographs, held-out split by image), ``folder:PATH`` (every decodable image) and
``tfds:div2k/CONFIG`` (HR images with div2k's own LR images, read offline). Training
patches are random HR crops with one of the 8 flips / 90-degree rotations, degraded on the
fly to LR by a named degradation (:mod:`gan_apps.degradations`) or, for ``dataset``, cut
from div2k's aligned LR image (Ledig et al. 2017, Sec. 3.2: random 96 px HR crops).
"""

from __future__ import annotations

import os
import re
import warnings

import numpy as np
import tensorflow as tf

from gan_apps import degradations
from gan_apps.data import feeding
from gan_apps.data import folder as folder_lib
from gan_apps.data import photos as photos_lib
from gan_apps.data import tfds_source
from gan_apps.data.sources import as_source
from gan_apps.errors import UserInputError
from gan_apps.images import from_uint8

DATASET_DEGRADATION = "dataset"  # div2k's own LR images
SOURCE_FORMS = "photos, folder:PATH, tfds:div2k/CONFIG"


def check_source(source):
    """The :class:`~gan_apps.data.sources.Source` of an HR image ``source`` (text or Source)."""
    parsed = as_source(source, what="HR image source", forms=SOURCE_FORMS)
    if parsed.kind not in ("photos", "folder", "tfds"):
        raise UserInputError(
            f"super-resolution reads HR images from photos, folder:PATH or tfds:div2k/CONFIG, "
            f"not {parsed.text!r}; pass one of those with --data"
        )
    return parsed


def check_degradation(source, scale, degradation):
    """Refuse a degradation the source cannot give: ``dataset`` needs div2k at ``scale``."""
    if degradation != DATASET_DEGRADATION:
        degradations.get(degradation)
    if source.kind == "tfds":
        _check_tfds(source.tfds_name, scale, degradation)
    elif degradation == DATASET_DEGRADATION:
        raise UserInputError("--degradation dataset needs tfds:div2k/CONFIG; pass a named degradation")


def _tfds_scale(name):
    match = re.search(r"_x(\d)$", name)
    return int(match.group(1)) if match else None


def _check_tfds(name, scale, degradation):
    if not name.startswith("div2k"):
        raise UserInputError(
            f"super-resolution reads tfds:div2k/CONFIG (lr/hr pairs), not tfds:{name}; "
            "use folder:PATH for other HR images"
        )
    config_scale = _tfds_scale(name)
    if degradation == DATASET_DEGRADATION and config_scale != scale:
        raise UserInputError(
            f"tfds:{name} holds x{config_scale} LR images but --scale is {scale}; "
            f"pick the div2k config for x{scale} or a named --degradation"
        )


def load_images(source, *, split, channels, data_dir=None, max_images=None):
    """Whole uint8 HR images [H, W, channels] (with div2k's LR images where it has them).

    Args:
        source: ``photos``, ``folder:PATH`` or ``tfds:div2k/CONFIG`` (text or Source).
        split: ``train`` or ``test`` (photos: the fixed split by image, and for ``train``
            the grayscale photos as well (repeated to RGB for a colour model): brick,
            gravel, grass and the rest add the textures six colour photos lack; folder:
            every image; div2k: ``train`` or ``validation``).

    Returns:
        list of (name, hr uint8, lr uint8 or None).
    """
    source = check_source(source)
    if source.kind == "photos":
        images, names = photos_lib.load_photos(split, channels=channels,
                                               include_gray=split == "train")
        return [(n, image, None) for n, image in zip(names, images)][:max_images]
    if source.kind == "folder":
        return _load_folder(source.folder, channels, max_images)
    return _load_tfds(source.tfds_name, "train" if split == "train" else "validation", channels,
                      data_dir, max_images)


def read_image(path, channels):
    """One image file as uint8 [H, W, channels], or None when OpenCV cannot decode it."""
    image = folder_lib.decode_image(path)
    return None if image is None else to_uint8_channels(image, channels)


def to_uint8_channels(image, channels):
    """A decoded float [0, 1] image as uint8 with ``channels`` channels."""
    return photos_lib.to_channels(np.round(image * 255.0).astype(np.uint8), channels)


def _load_folder(path, channels, max_images):
    folder_lib.check_folder(path)
    files = folder_lib.list_files(path)
    if not files:
        raise UserInputError(f"image folder {path!r} contains no files; put HR images (PNG, JPEG, ...) in it")
    images, skipped = [], []
    for file in files:
        if max_images is not None and len(images) == max_images:
            break
        image = read_image(file, channels)
        if image is None:
            skipped.append(file)
        else:
            images.append((os.path.relpath(file, path), image, None))
    if not images:
        raise UserInputError(
            f"none of the {len(files)} files under {path!r} could be decoded; pass a folder of "
            "images (PNG, JPEG, BMP, TIFF, WebP)"
        )
    if skipped:
        warnings.warn(f"skipped {len(skipped)} undecodable files under {path!r} "
                      f"(first: {os.path.relpath(skipped[0], path)})", stacklevel=3)
    return images


def _load_tfds(name, split, channels, data_dir, max_images):
    import tensorflow_datasets as tfds

    tfds_source.dataset_builder(name, data_dir)
    dataset = tfds_source.load_split(name, split, data_dir)
    if max_images is not None:
        dataset = dataset.take(max_images)
    return [
        (f"{split}_{i:04d}", photos_lib.to_channels(example["hr"], channels),
         photos_lib.to_channels(example["lr"], channels))
        for i, example in enumerate(tfds.as_numpy(dataset))
    ]


def _augment(arrays, choice):
    """The same flip / 90-degree rotation (one of the 8 dihedral maps) of every array."""
    out = []
    for array in arrays:
        array = np.rot90(array, choice % 4)
        out.append(np.ascontiguousarray(array[:, ::-1] if choice >= 4 else array))
    return out


def _paired(hr, lr, scale):
    """Whether a dataset LR image is the HR image shrunk by ``scale`` (up to modcrop)."""
    return all(0 <= h - l * scale < scale for h, l in zip(hr.shape[:2], lr.shape[:2]))


def usable_images(images, *, scale, patch_size, degradation):
    """The images a patch sampler can use; warn about those skipped, fail if none is left."""
    usable, small, unpaired = [], 0, 0
    for name, hr, lr in images:
        if min(hr.shape[:2]) < patch_size:
            small += 1
        elif degradation == DATASET_DEGRADATION and (lr is None or not _paired(hr, lr, scale)):
            unpaired += 1
        else:
            usable.append((name, hr, lr))
    if not usable:
        smallest = min(min(hr.shape[:2]) for _, hr, _ in images)
        if small:
            raise UserInputError(
                f"every HR image is smaller than the {patch_size}-px patch (smallest side "
                f"{smallest} px); pass a smaller --patch-size"
            )
        raise UserInputError(
            f"no LR image of the dataset is its HR image shrunk x{scale}; pass a named --degradation"
        )
    if small or unpaired:
        warnings.warn(f"skipped {small} images smaller than the {patch_size}-px patch and "
                      f"{unpaired} without a matching x{scale} LR image", stacklevel=2)
    return usable


def patch_batches(images, *, scale, patch_size, batch_size, degradation, seed):
    """Endless (lr, hr) float32 batches in [-1, 1] of random augmented HR patches.

    Each patch: a random image, a random ``patch_size`` crop, one of the 8 flips /
    rotations, then LR = degradation(HR patch) (or the aligned crop of the dataset's LR).
    """
    rng = np.random.default_rng(seed)
    degrade = None if degradation == DATASET_DEGRADATION else degradations.get(degradation)
    lr_size = patch_size // scale
    while True:
        lr_batch, hr_batch = [], []
        for _ in range(batch_size):
            _, hr, lr = images[rng.integers(len(images))]
            if degrade is None:
                top = rng.integers(lr.shape[0] - lr_size + 1)
                left = rng.integers(lr.shape[1] - lr_size + 1)
                lr_patch = lr[top:top + lr_size, left:left + lr_size]
                hr_patch = hr[top * scale:top * scale + patch_size, left * scale:left * scale + patch_size]
                lr_patch, hr_patch = _augment((lr_patch, hr_patch), rng.integers(8))
            else:
                top = rng.integers(hr.shape[0] - patch_size + 1)
                left = rng.integers(hr.shape[1] - patch_size + 1)
                (hr_patch,) = _augment((hr[top:top + patch_size, left:left + patch_size],),
                                       rng.integers(8))
                lr_patch = degrade(hr_patch, scale)
            lr_batch.append(lr_patch)
            hr_batch.append(hr_patch)
        yield from_uint8(np.stack(lr_batch)), from_uint8(np.stack(hr_batch))


def patch_dataset(images, *, scale, patch_size, batch_size, channels, degradation, seed):
    """:func:`patch_batches` as a prefetched ``tf.data.Dataset`` of (lr, hr)."""
    lr_size = patch_size // scale
    signature = (
        tf.TensorSpec((batch_size, lr_size, lr_size, channels), tf.float32),
        tf.TensorSpec((batch_size, patch_size, patch_size, channels), tf.float32),
    )
    return feeding.feed(tf.data.Dataset.from_generator(
        lambda: patch_batches(images, scale=scale, patch_size=patch_size, batch_size=batch_size,
                              degradation=degradation, seed=seed),
        output_signature=signature,
    ))
