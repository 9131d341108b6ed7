"""Tests for gan_apps.data.unpaired: photos:tone, two folders, TFDS cycle_gan (mocked), jitter."""

import cv2
import numpy as np
import pytest
import tensorflow_datasets as tfds

from gan_apps.data import photos, unpaired
from gan_apps.errors import UserInputError


def _write(path, image):
    path.parent.mkdir(parents=True, exist_ok=True)
    image = image[..., ::-1] if image.ndim == 3 and image.shape[-1] == 3 else image
    assert cv2.imwrite(str(path), image)


def _folders(tmp_path, shape_a=(40, 48, 3), shape_b=(44, 44, 3), count=3):
    rng = np.random.default_rng(0)
    for label, shape in (("A", shape_a), ("B", shape_b)):
        for i in range(count):
            _write(tmp_path / label / f"{i}.png", rng.integers(0, 256, shape, dtype=np.uint8))
    return f"folder:{tmp_path / 'A'},{tmp_path / 'B'}"


def test_tone_map_matches_closed_form():
    pixels = np.array([[255, 0, 0], [0, 255, 0], [0, 0, 255], [128, 64, 32]], np.uint8)
    x = pixels / 255.0
    mix = np.array([[0.7, 0.3, 0.0], [0.1, 0.8, 0.1], [0.0, 0.3, 0.7]])
    expected = np.round((x @ mix.T) ** np.array([0.6, 0.9, 1.6]) * 255)
    np.testing.assert_array_equal(unpaired.tone_map(pixels), expected.astype(np.uint8))
    # A pure red pixel: red 0.7 ** 0.6, green 0.1 ** 0.9, blue 0.
    assert unpaired.tone_map(pixels[:1])[0].tolist() == [
        round(0.7 ** 0.6 * 255), round(0.1 ** 0.9 * 255), 0]


def test_tone_domains_use_disjoint_training_photos():
    assert not set(unpaired.TONE_PHOTOS_A) & set(unpaired.TONE_PHOTOS_B)
    train = set(photos.photo_names("train"))
    assert set(unpaired.TONE_PHOTOS_A) <= train and set(unpaired.TONE_PHOTOS_B) <= train
    pair = unpaired.load_pair("photos:tone", crop_size=32, load_size=36)
    assert pair.a.shape[1:] == (36, 36, 3) and pair.b.shape[1:] == (36, 36, 3)
    assert pair.known_b is None and pair.channels == 3
    # The first A patch is the astronaut's top-left corner; the first B patch is the
    # tone-mapped top-left corner of motorcycle_left.
    corner = photos.photo("astronaut")[:36, :36]
    np.testing.assert_allclose(pair.a[0], corner / 127.5 - 1.0, atol=1e-6)
    toned = unpaired.tone_map(photos.photo("motorcycle_left")[:36, :36])
    np.testing.assert_allclose(pair.b[0], toned / 127.5 - 1.0, atol=1e-6)


def test_tone_test_split_holds_the_known_answer():
    pair = unpaired.load_pair("photos:tone", split="test", crop_size=64)
    assert pair.a.shape[1:] == (64, 64, 3)
    a_uint8 = np.round((pair.a + 1.0) * 127.5).astype(np.uint8)
    np.testing.assert_allclose(pair.known_b, unpaired.tone_map(a_uint8) / 127.5 - 1.0, atol=1e-6)
    # The held-out photos give 4x7 + 6x9 + 6x10 patches of 64 px (chelsea, coffee, flower).
    assert len(pair.a) == 4 * 7 + 6 * 9 + 6 * 10
    # The map changes pixels by about 20/255 on average: a baseline worth beating.
    assert 10 < np.abs(a_uint8.astype(float) - unpaired.tone_map(a_uint8)).mean() < 40


def test_folder_pair_resizes_to_load_size(tmp_path):
    pair = unpaired.load_pair(_folders(tmp_path), crop_size=32, load_size=36)
    assert pair.a.shape == (3, 36, 36, 3) and pair.b.shape == (3, 36, 36, 3)
    assert pair.a.min() >= -1 and pair.a.max() <= 1 and pair.channels == 3
    assert not unpaired.has_test_split(_folders(tmp_path))


def test_folder_gray_vs_colour_needs_channels(tmp_path):
    source = _folders(tmp_path, shape_a=(40, 40), shape_b=(40, 40, 3))
    with pytest.raises(UserInputError, match="grayscale.*colour.*--channels"):
        unpaired.load_pair(source, crop_size=32)
    pair = unpaired.load_pair(source, crop_size=32, load_size=32, channels=1)
    assert pair.a.shape[-1] == 1 and pair.b.shape[-1] == 1


@pytest.mark.parametrize("case, message", [
    ("empty", "contains no files"),
    ("undecodable", "could be decoded"),
    ("small", "smaller than the crop size"),
    ("missing", "does not exist"),
])
def test_folder_bad_input_is_one_clear_error(tmp_path, case, message):
    source = _folders(tmp_path)
    broken = tmp_path / "A"
    for file in broken.iterdir():
        file.unlink()
    if case == "undecodable":
        (broken / "x.png").write_bytes(b"not an image")
    elif case == "small":
        _write(broken / "tiny.png", np.zeros((20, 40, 3), np.uint8))
    elif case == "missing":
        broken.rmdir()
    with pytest.raises(UserInputError, match=message):
        unpaired.load_pair(source, crop_size=32)


@pytest.mark.parametrize("source", ["photos", "folder:onlyone", "tfds:mnist", "tfds:cycle_gan/", 3])
def test_bad_source_strings(source):
    with pytest.raises(UserInputError):
        unpaired.check_source(source)


def test_load_size_below_crop_is_refused():
    with pytest.raises(UserInputError, match="--load-size"):
        unpaired.load_pair("photos:tone", crop_size=64, load_size=48)


def test_tfds_cycle_gan_mocked_train_and_test():
    with tfds.testing.mock_data(num_examples=3):
        train = unpaired.load_pair("tfds:cycle_gan/horse2zebra", crop_size=32, load_size=36)
        test = unpaired.load_pair("tfds:cycle_gan/horse2zebra", split="test", crop_size=32)
    assert train.a.shape == (3, 36, 36, 3) and train.b.shape == (3, 36, 36, 3)
    assert test.a.shape == (3, 32, 32, 3) and test.known_b is None
    assert unpaired.has_test_split("tfds:cycle_gan/horse2zebra")


def test_tfds_offline_names_data_dir(tmp_path):
    with pytest.raises(UserInputError, match="--data-dir"):
        unpaired.load_pair("tfds:cycle_gan/horse2zebra", crop_size=32, data_dir=str(tmp_path))


def _tiny_pair():
    rng = np.random.default_rng(1)
    a = rng.uniform(-1, 1, (5, 36, 36, 3)).astype(np.float32)
    b = rng.uniform(-1, 1, (3, 36, 36, 3)).astype(np.float32)
    return unpaired.DomainPair(a, b, None, 3)


def _batches(dataset):
    return [(a.numpy(), b.numpy()) for a, b in dataset]


def test_training_dataset_jitter_and_epochs():
    pair = _tiny_pair()
    assert unpaired.steps_per_epoch(pair, 2) == 2  # max(5, 3) // 2
    batches = _batches(unpaired.training_dataset(pair, crop_size=32, batch_size=2, epochs=2))
    assert len(batches) == 4
    quantized = np.round((pair.a + 1) * 127.5) / 127.5 - 1
    for a, b in batches:
        assert a.shape == (2, 32, 32, 3) and b.shape == (2, 32, 32, 3)
        # Each crop is a window of some (possibly flipped) quantized example.
        for crop in a:
            assert any(_is_window(crop, image) or _is_window(crop[:, ::-1], image)
                       for image in quantized)


def _is_window(crop, image):
    size = crop.shape[0]
    return any(np.allclose(image[t:t + size, s:s + size], crop, atol=1e-6)
               for t in range(image.shape[0] - size + 1) for s in range(image.shape[1] - size + 1))


def test_training_dataset_resumes_exactly():
    pair = _tiny_pair()
    whole = _batches(unpaired.training_dataset(pair, crop_size=32, batch_size=2, seed=3, epochs=3))
    resumed = _batches(unpaired.training_dataset(pair, crop_size=32, batch_size=2, seed=3,
                                                 initial_epoch=1, epochs=3))
    assert len(resumed) == 4
    for (a1, b1), (a2, b2) in zip(whole[2:], resumed):
        np.testing.assert_array_equal(a1, a2)
        np.testing.assert_array_equal(b1, b2)
    # Epochs differ from each other and another seed gives other batches.
    assert not np.array_equal(whole[0][0], whole[2][0])
    other = _batches(unpaired.training_dataset(pair, crop_size=32, batch_size=2, seed=4, epochs=1))
    assert not np.array_equal(whole[0][0], other[0][0])


def test_batch_larger_than_domains_is_refused():
    with pytest.raises(UserInputError, match="--batch-size"):
        unpaired.training_dataset(_tiny_pair(), crop_size=32, batch_size=8)


def test_smallest_side_of_each_source(tmp_path):
    assert unpaired.smallest_side(_folders(tmp_path)) == 40  # 40x48 and 44x44 images
    assert unpaired.smallest_side("photos:tone") == min(
        min(photos.photo(name).shape[:2])
        for name in unpaired.TONE_PHOTOS_A + unpaired.TONE_PHOTOS_B)


def test_steps_beyond_one_pass_repeat_the_data(tmp_path):
    pair = unpaired.load_pair(_folders(tmp_path), crop_size=32, load_size=36)
    batches = list(unpaired.training_dataset(pair, crop_size=32, batch_size=2, steps=5))
    assert len(batches) == 5  # 3 images per domain: one pass is 1 step, the rest repeats
