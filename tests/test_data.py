"""Tests for gan_apps.data: digits, mixtures, TFDS (mocked), image folders, errors."""

import hashlib
import os
import time

import cv2
import numpy as np
import pytest
import tensorflow as tf
from sklearn.datasets import load_digits

from gan_apps import data as data_lib
from gan_apps.data import embedded, tfds_source
from gan_apps.errors import UserInputError


def _digest(array):
    return hashlib.sha256(np.ascontiguousarray(array).tobytes()).hexdigest()


def _row_digests(images):
    return sorted(_digest(image) for image in images)


# ----------------------------------------------------------------------------- digits


@pytest.mark.parametrize("resolution, channels", [(8, None), (16, 3), (32, None)])
def test_digits_shapes_dtype_range(resolution, channels):
    images, labels = data_lib.load_arrays("digits", resolution=resolution, channels=channels)
    assert images.shape == (1437, resolution, resolution, channels or 1)
    assert images.dtype == np.float32 and labels.dtype == np.int32
    assert images.min() >= -1.0 and images.max() <= 1.0
    # Background pixels are exactly -1 and full strokes reach close to +1.
    assert images.min() == -1.0 and images.max() > 0.9


def test_digits_native_resolution_is_exact_scaling():
    images, labels = data_lib.load_arrays("digits", resolution=8, split="all")
    reference = load_digits()
    np.testing.assert_array_equal(images[..., 0], reference.images / 16.0 * 2.0 - 1.0)
    np.testing.assert_array_equal(labels, reference.target)


def test_digits_three_channels_repeat_the_gray_one():
    gray, _ = data_lib.load_arrays("digits", resolution=16, split="test")
    rgb, _ = data_lib.load_arrays("digits", resolution=16, split="test", channels=3)
    for c in range(3):
        np.testing.assert_array_equal(rgb[..., c], gray[..., 0])


def test_digits_split_disjoint_stratified_and_stable():
    train = embedded.digits_split_indices("train")
    test = embedded.digits_split_indices("test")
    assert len(test) == 360 and len(train) == 1437
    assert not set(train) & set(test)
    assert sorted(np.concatenate([train, test])) == list(range(1797))
    target = load_digits().target
    # Stratified: each class holds ~20% of its digits in the test split.
    for k in range(10):
        share = np.sum(target[test] == k) / np.sum(target == k)
        assert abs(share - 0.2) < 0.01

    first = data_lib.load_arrays("digits", resolution=8, split="test")
    embedded._digits_raw.cache_clear()  # recompute the split from scratch
    second = data_lib.load_arrays("digits", resolution=8, split="test")
    assert _digest(first[0]) == _digest(second[0])
    assert _digest(first[1]) == _digest(second[1])
    np.testing.assert_array_equal(first[0][..., 0], load_digits().images[test] / 8.0 - 1.0)


def test_digits_labels_cover_all_classes():
    for split in ("train", "test"):
        _, labels = data_lib.load_arrays("digits", resolution=8, split=split)
        assert labels.min() == 0 and labels.max() == 9
        assert set(np.unique(labels)) == set(range(10))


def test_digits_resized_keeps_class_structure():
    images, labels = data_lib.load_arrays("digits", resolution=32, split="all")
    flat = images.reshape(len(images), -1)
    means = np.stack([flat[labels == k].mean(0) for k in range(10)])
    assert np.abs(means[0] - means[1]).mean() > 0.2
    # Nearest class mean classifies ~90% of the upsampled digits (chance is 10%).
    distances = ((flat[:, None, :] - means[None]) ** 2).sum(-1)
    assert np.mean(np.argmin(distances, axis=1) == labels) > 0.85
    # Area-downsampling back to 8x8 recovers the original digits up to the cubic ringing.
    back = np.stack(
        [cv2.resize(image[..., 0], (8, 8), interpolation=cv2.INTER_AREA) for image in images]
    )
    assert np.abs(back - (load_digits().images / 8.0 - 1.0)).mean() < 0.12


def test_digits_dataset_batches_drop_remainder_and_shuffle():
    dataset = data_lib.load_dataset("digits", resolution=8, batch_size=100, with_labels=True)
    assert int(dataset.cardinality()) == 14  # 1437 // 100, the last 37 dropped
    batches = list(dataset.as_numpy_iterator())
    assert len(batches) == 14
    for images, labels in batches:
        assert images.shape == (100, 8, 8, 1) and images.dtype == np.float32
        assert labels.shape == (100,) and labels.dtype == np.int32
    seen = np.concatenate([images for images, _ in batches])
    everything, all_labels = data_lib.load_arrays("digits", resolution=8)
    assert set(_row_digests(seen)) <= set(_row_digests(everything))
    # Labels stay paired with their images through the shuffle.
    lookup = {_digest(image): label for image, label in zip(everything, all_labels)}
    images, labels = batches[0]
    assert [lookup[_digest(image)] for image in images] == list(labels)

    again = next(iter(data_lib.load_dataset("digits", resolution=8, batch_size=100)))
    other = next(iter(data_lib.load_dataset("digits", resolution=8, batch_size=100, seed=1)))
    np.testing.assert_array_equal(again.numpy(), batches[0][0])
    assert not np.array_equal(other.numpy(), batches[0][0])
    second_epoch = next(iter(dataset))[0].numpy()
    assert not np.array_equal(second_epoch, batches[0][0])


def test_unshuffled_dataset_follows_array_order_and_repeat_is_infinite():
    images, _ = data_lib.load_arrays("digits", resolution=8, split="test")
    dataset = data_lib.load_dataset(
        "digits", resolution=8, split="test", batch_size=7, shuffle=False
    )
    np.testing.assert_array_equal(next(iter(dataset)).numpy(), images[:7])
    repeated = data_lib.load_dataset("digits", resolution=8, batch_size=7, repeat=True)
    assert int(repeated.cardinality()) == int(tf.data.INFINITE_CARDINALITY)


def test_training_datasets_prefetch_two_batches_with_the_autotuner_off():
    """Every dataset the toolkit trains from ends in feeding.feed (tf.data's autotuner made
    steps of small models wait, see gan_apps/data/feeding.py); the batches are those of the
    same pipeline without it, in the same shuffled order."""
    from gan_apps.data import feeding, hr_images, unpaired

    digits = data_lib.load_dataset("digits", resolution=8, batch_size=16, seed=3)
    points = data_lib.load_dataset("ring8", batch_size=64)
    pair = unpaired.load_pair("photos:tone", crop_size=32)
    translation = unpaired.training_dataset(pair, crop_size=32, batch_size=2)
    photo = ("photo", np.zeros((32, 32, 3), np.uint8), None)  # (name, HR, dataset LR)
    patches = hr_images.patch_dataset([photo], scale=2, patch_size=16, batch_size=2,
                                      channels=3, degradation="matlab_bicubic", seed=0)
    for dataset in (digits, points, translation, patches, digits.repeat().take(2)):
        assert dataset.options().autotune.enabled is False
    assert feeding.PREFETCH_BATCHES == 2
    assert next(iter(patches))[1].shape == (2, 16, 16, 3)
    assert next(iter(translation))[0].shape == (2, 32, 32, 3)

    arrays, _ = data_lib.load_arrays("digits", resolution=8)
    plain = tf.data.Dataset.from_tensor_slices(arrays).shuffle(
        len(arrays), seed=3, reshuffle_each_iteration=True).batch(16, drop_remainder=True)
    for ours, theirs in zip(digits.take(5), plain.take(5)):
        np.testing.assert_array_equal(ours.numpy(), theirs.numpy())


def test_batch_size_larger_than_split_is_an_error():
    with pytest.raises(UserInputError, match="--batch-size"):
        data_lib.load_dataset("digits", split="test", batch_size=361)
    one = data_lib.load_dataset("digits", resolution=8, split="test", batch_size=360)
    assert len(list(one)) == 1
    with pytest.raises(UserInputError, match="--batch-size"):
        data_lib.load_dataset("digits", batch_size=0)


def test_num_examples_caps_the_data():
    images, labels = data_lib.load_arrays("digits", resolution=8, num_examples=50)
    full, full_labels = data_lib.load_arrays("digits", resolution=8)
    np.testing.assert_array_equal(images, full[:50])
    np.testing.assert_array_equal(labels, full_labels[:50])
    assert int(data_lib.load_dataset("digits", batch_size=16, num_examples=50).cardinality()) == 3


# --------------------------------------------------------------------------- mixtures


def test_mixture_centers_match_the_papers():
    ring = data_lib.MIXTURES["ring8"]
    angles = np.arctan2(ring.centers[:, 1], ring.centers[:, 0])
    np.testing.assert_allclose(np.linalg.norm(ring.centers, axis=1), 2.0, rtol=1e-6)
    np.testing.assert_allclose(np.sort(np.mod(angles, 2 * np.pi)), np.arange(8) * np.pi / 4,
                               atol=1e-6)
    assert ring.std == 0.02
    grid = data_lib.MIXTURES["grid25"]
    expected = {(x, y) for x in (-4, -2, 0, 2, 4) for y in (-4, -2, 0, 2, 4)}
    assert {tuple(c) for c in grid.centers.astype(int).tolist()} == expected
    np.testing.assert_array_equal(grid.centers, np.round(grid.centers))
    assert grid.std == 0.05


@pytest.mark.parametrize("name", ["ring8", "grid25"])
def test_mixture_points_have_the_stated_modes(name):
    mixture = data_lib.MIXTURES[name]
    points, labels = data_lib.load_arrays(name)
    assert labels is None
    assert points.shape == (25_600, 2) and points.dtype == np.float32
    k = len(mixture.centers)
    owner = np.argmin(((points[:, None] - mixture.centers[None]) ** 2).sum(-1), axis=1)
    counts = np.bincount(owner, minlength=k)
    # Modes are picked uniformly: each count is Binomial(N, 1/K); allow 5 standard deviations.
    expected = len(points) / k
    assert np.all(np.abs(counts - expected) < 5 * np.sqrt(expected * (1 - 1 / k)))
    for mode in range(k):
        near = points[owner == mode].astype(np.float64)
        n = len(near)
        np.testing.assert_allclose(near.mean(0), mixture.centers[mode],
                                   atol=5 * mixture.std / np.sqrt(n))
        # The sample std has standard error ~ std / sqrt(2n).
        np.testing.assert_allclose(near.std(0, ddof=1), mixture.std,
                                   atol=5 * mixture.std / np.sqrt(2 * n))


def test_mixture_draws_are_seeded_and_splits_differ():
    a, _ = data_lib.load_arrays("ring8", seed=3, num_examples=1000)
    b, _ = data_lib.load_arrays("ring8", seed=3, num_examples=1000)
    c, _ = data_lib.load_arrays("ring8", seed=4, num_examples=1000)
    test, _ = data_lib.load_arrays("ring8", seed=3, split="test", num_examples=1000)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c) and not np.array_equal(a, test)
    dataset = data_lib.load_dataset("grid25", batch_size=256, resolution=None)
    assert int(dataset.cardinality()) == 100
    assert next(iter(dataset)).shape == (256, 2)
    with pytest.raises(UserInputError, match="no labels"):
        data_lib.load_dataset("ring8", with_labels=True)
    info = data_lib.source_info("ring8")
    assert info.kind == "points" and info.num_classes is None


# ---------------------------------------------------------------------------- TFDS


@pytest.fixture(scope="module")
def tfds():
    import tensorflow_datasets

    return tensorflow_datasets


def _raw_tfds(tfds, name, split="train"):
    examples = list(tfds.load(name, split=split, download=False).as_numpy_iterator())
    return np.stack([e["image"] for e in examples]), np.array([e["label"] for e in examples])


def test_tfds_mnist_native_resize_and_channels(tfds):
    with tfds.testing.mock_data(num_examples=12):
        raw, raw_labels = _raw_tfds(tfds, "mnist")
        images, labels = data_lib.load_arrays("tfds:mnist", resolution=28)
        np.testing.assert_allclose(images, raw / 255.0 * 2.0 - 1.0, atol=1e-6)
        np.testing.assert_array_equal(labels, raw_labels)
        assert labels.dtype == np.int32 and labels.min() >= 0 and labels.max() <= 9

        small, _ = data_lib.load_arrays("tfds:mnist", resolution=14, channels=3)
        assert small.shape == (12, 14, 14, 3) and small.dtype == np.float32
        assert small.min() >= -1.0 and small.max() <= 1.0
        np.testing.assert_array_equal(small[..., 0], small[..., 2])
        # The antialiasing filter preserves each image's mean brightness.
        np.testing.assert_allclose(small.mean(axis=(1, 2, 3)), images.mean(axis=(1, 2, 3)),
                                   atol=0.02)

        dataset = data_lib.load_dataset("tfds:mnist", resolution=32, batch_size=5,
                                        with_labels=True)
        batches = list(dataset.as_numpy_iterator())
        assert len(batches) == 2  # 12 examples -> two full batches of 5
        assert batches[0][0].shape == (5, 32, 32, 1) and batches[0][1].dtype == np.int32
    info = data_lib.source_info("tfds:mnist")
    assert (info.kind, info.channels, info.num_classes) == ("image", 1, 10)


def test_tfds_cifar10_to_gray_uses_luma(tfds):
    with tfds.testing.mock_data(num_examples=6):
        raw, _ = _raw_tfds(tfds, "cifar10", split="test")
        gray, labels = data_lib.load_arrays("tfds:cifar10", resolution=32, channels=1, split="test")
        colour, _ = data_lib.load_arrays("tfds:cifar10", resolution=32, split="test")
    luma = (raw / 255.0) @ np.array([0.299, 0.587, 0.114])
    assert gray.shape == (6, 32, 32, 1) and colour.shape == (6, 32, 32, 3)
    np.testing.assert_allclose(gray[..., 0], luma * 2.0 - 1.0, atol=2e-3)
    np.testing.assert_allclose(colour, raw / 255.0 * 2.0 - 1.0, atol=1e-6)
    assert set(labels) <= set(range(10))
    assert data_lib.source_info("tfds:cifar10").channels == 3


def test_tfds_non_square_images_are_cropped_to_the_centre(tfds):
    image = np.zeros((10, 30, 3), np.uint8)
    image[:, 10:20] = 255  # the central 10x10 square is white, the sides black
    out = tfds_source.decode(tf.constant(image), 10, 3).numpy()
    np.testing.assert_array_equal(out, np.ones((10, 10, 3), np.float32))
    wide = tfds_source.decode(tf.constant(np.full((4, 6, 1), 65535, np.uint16)), 8, 1).numpy()
    np.testing.assert_allclose(wide, 1.0, atol=1e-6)
    with tfds.testing.mock_data(num_examples=4):  # mocked images come in random sizes
        images, labels = data_lib.load_arrays("tfds:cycle_gan/horse2zebra", resolution=16,
                                              split="trainA")
    assert images.shape == (4, 16, 16, 3) and labels.shape == (4,)


def test_tfds_absent_data_unknown_names_and_missing_features(tmp_path, tfds):
    start = time.monotonic()
    with pytest.raises(UserInputError, match="--data-dir") as error:
        data_lib.load_dataset("tfds:mnist", data_dir=str(tmp_path))
    assert "not prepared" in str(error.value) and str(tmp_path) in str(error.value)
    assert time.monotonic() - start < 10  # fails at once instead of trying a download
    with pytest.raises(UserInputError, match="unknown TFDS dataset"):
        data_lib.load_dataset("tfds:no_such_dataset_xyz", data_dir=str(tmp_path))
    with pytest.raises(UserInputError, match="unknown TFDS dataset"):
        data_lib.source_info("tfds:no_such_dataset_xyz")
    with pytest.raises(UserInputError, match="CONFIG"):
        data_lib.source_info("tfds:mnist/no_such_config")
    with pytest.raises(UserInputError, match="no 'label'"):
        data_lib.load_dataset("tfds:celeb_a", with_labels=True, data_dir=str(tmp_path))
    with pytest.raises(UserInputError, match="no 'image'"):
        data_lib.source_info("tfds:div2k/bicubic_x2")


# --------------------------------------------------------------------------- folders


def _write(path, image):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    assert cv2.imwrite(str(path), image)


@pytest.fixture
def image_folder(tmp_path):
    """Six decodable images of assorted kinds plus one corrupt file, with known contents."""
    rng = np.random.default_rng(0)
    gray = rng.integers(0, 256, (16, 16), dtype=np.uint8)
    bgra = rng.integers(0, 256, (16, 16, 4), dtype=np.uint8)
    gray16 = rng.integers(0, 65536, (32, 32), dtype=np.uint16)
    wide = np.zeros((16, 40, 3), np.uint8)
    wide[:, 12:28] = (0, 0, 255)  # BGR red in the central square, black on the sides
    _write(tmp_path / "a_gray.png", gray)
    _write(tmp_path / "b_colour.jpg", np.full((24, 24, 3), (200, 100, 50), np.uint8))
    _write(tmp_path / "c_rgba.png", bgra)
    _write(tmp_path / "d_gray16.png", gray16)
    _write(tmp_path / "e_wide.png", wide)
    (tmp_path / "f_corrupt.png").write_bytes(b"\x89PNG this is not an image")
    _write(tmp_path / "g_sub" / "h_small.png", np.full((8, 8, 3), 255, np.uint8))
    return tmp_path, {"gray": gray, "bgra": bgra, "gray16": gray16}


def test_folder_decodes_every_kind_and_warns_about_the_rest(image_folder):
    path, raw = image_folder
    with pytest.warns(UserWarning, match="skipped 1 of 7 files"):
        images, labels = data_lib.load_arrays(f"folder:{path}", resolution=16)
    assert labels is None
    assert images.shape == (6, 16, 16, 3) and images.dtype == np.float32
    assert images.min() >= -1.0 and images.max() <= 1.0
    scale = lambda x, top: x.astype(np.float64) / top * 2.0 - 1.0  # noqa: E731
    np.testing.assert_allclose(images[0], np.repeat(scale(raw["gray"], 255)[..., None], 3, -1),
                               atol=1e-6)
    np.testing.assert_allclose(images[1].mean(axis=(0, 1)), scale(np.array([50, 100, 200]), 255),
                               atol=0.05)  # JPEG is lossy; BGR became RGB
    np.testing.assert_allclose(images[2], scale(raw["bgra"][..., 2::-1], 255), atol=1e-6)
    # 32 -> 16 with area interpolation is the mean of each 2x2 block.
    blocks = raw["gray16"].astype(np.float64).reshape(16, 2, 16, 2).mean(axis=(1, 3))
    np.testing.assert_allclose(images[3][..., 1], scale(blocks, 65535), atol=1e-5)
    np.testing.assert_allclose(images[4], np.broadcast_to([1.0, -1.0, -1.0], (16, 16, 3)),
                               atol=1e-6)
    np.testing.assert_allclose(images[5], 1.0, atol=1e-6)  # enlarged from the subfolder


def test_folder_gray_channel_dataset_and_cap(image_folder):
    path, _ = image_folder
    with pytest.warns(UserWarning):
        gray, _ = data_lib.load_arrays(f"folder:{path}", resolution=16, channels=1)
    assert gray.shape == (6, 16, 16, 1)
    np.testing.assert_allclose(gray[4], 0.299 * 2.0 - 1.0, atol=1e-3)  # cv2 luma of red
    capped, _ = data_lib.load_arrays(f"folder:{path}", resolution=8, num_examples=3)
    assert capped.shape == (3, 8, 8, 3)
    with pytest.warns(UserWarning):
        dataset = data_lib.load_dataset(f"folder:{path}", resolution=16, batch_size=4)
    batches = list(dataset.as_numpy_iterator())
    assert len(batches) == 1 and batches[0].shape == (4, 16, 16, 3)
    info = data_lib.source_info(f"folder:{path}")
    assert (info.kind, info.channels, info.num_classes) == ("image", 3, None)


def test_folder_errors(tmp_path, image_folder):
    path, _ = image_folder
    with pytest.raises(UserInputError, match="does not exist"):
        data_lib.load_arrays(f"folder:{tmp_path / 'missing'}")
    empty = tmp_path / "empty"
    (empty / "nested").mkdir(parents=True)
    with pytest.raises(UserInputError, match="contains no files"):
        data_lib.load_arrays(f"folder:{empty}")
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "a.png").write_bytes(b"garbage")
    (broken / "b.jpg").write_bytes(b"")
    with pytest.raises(UserInputError, match="none of the 2 files"):
        data_lib.load_arrays(f"folder:{broken}")
    with pytest.raises(UserInputError, match="no labels"):
        data_lib.load_dataset(f"folder:{path}", with_labels=True)
    with pytest.raises(UserInputError, match="split"):
        data_lib.load_arrays(f"folder:{path}", split="test")


# ---------------------------------------------------------------------------- errors


def test_unknown_sources_and_bad_options():
    with pytest.raises(UserInputError) as error:
        data_lib.load_dataset("imagenet")
    for form in ("digits", "ring8", "grid25", "tfds:NAME[/CONFIG]", "folder:PATH"):
        assert form in str(error.value)
    with pytest.raises(UserInputError, match="folder:PATH"):
        data_lib.source_info("folder:")
    with pytest.raises(UserInputError, match="--resolution"):
        data_lib.load_arrays("digits", resolution=4)
    with pytest.raises(UserInputError, match="--resolution"):
        data_lib.load_arrays("digits", resolution=16.0)
    with pytest.raises(UserInputError, match="--channels"):
        data_lib.load_dataset("digits", channels=2)
    with pytest.raises(UserInputError, match="split"):
        data_lib.load_arrays("digits", split="validation")
    with pytest.raises(UserInputError, match="split"):
        data_lib.load_arrays("ring8", split="all")


def test_photos_split_by_whole_image_and_patch_grid():
    from gan_apps.data import photos

    train, test = photos.photo_names("train"), photos.photo_names("test")
    assert not set(train) & set(test) and set(test) == set(photos.TEST_PHOTOS)
    images, names = photos.load_photos("test")
    assert names == list(test) and all(im.dtype == np.uint8 and im.shape[-1] == 3 for im in images)
    patches, labels = data_lib.load_arrays("photos", resolution=64, split="test")
    assert labels is None and patches.shape[1:] == (64, 64, 3)
    expected = sum((h // 64) * (w // 64) for h, w in (im.shape[:2] for im in images))
    assert len(patches) == expected and patches.min() >= -1 and patches.max() <= 1
    first = images[0][:64, :64].astype(np.float32) / 127.5 - 1
    np.testing.assert_allclose(patches[0], first, atol=1e-6)
    gray, _ = data_lib.load_arrays("photos", resolution=32, channels=1, split="test", num_examples=5)
    assert gray.shape == (5, 32, 32, 1)
    assert data_lib.source_info("photos").channels == 3


def test_photos_errors():
    from gan_apps.data import photos

    with pytest.raises(UserInputError, match="splits"):
        photos.photo_names("validation")
    with pytest.raises(UserInputError, match="no embedded photo"):
        photos.photo("lena")
    with pytest.raises(UserInputError, match="smaller"):
        photos.photo_patches("test", resolution=4096)
