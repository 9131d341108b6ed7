"""Tests for gan_apps/evaluation/features.py and tools/train_digits_classifier.py."""

import importlib.util
import json
import pathlib

import keras
import numpy as np
import pytest
import tensorflow as tf

from gan_apps.data import load_arrays
from gan_apps.errors import UserInputError
from gan_apps.evaluation import features as features_lib
from gan_apps.evaluation.features import DigitsFeatures, InceptionFeatures, get_extractor

ROOT = pathlib.Path(__file__).resolve().parents[1]
SHIPPED = ROOT / "gan_apps" / "evaluation" / "weights" / "digits_classifier.keras"


@pytest.fixture(scope="module")
def digits():
    return DigitsFeatures()


@pytest.fixture(scope="module")
def test_split():
    return load_arrays("digits", resolution=32, split="test")


@pytest.fixture(scope="module")
def tool():
    spec = importlib.util.spec_from_file_location(
        "train_digits_classifier", ROOT / "tools" / "train_digits_classifier.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _upsample_bilinear_x2(images):
    """Half-pixel-centred bilinear x2 along H and W, edges clamped: output pixel 2k sits at
    source coordinate k - 1/4, 2k + 1 at k + 1/4, so the weights are 3/4 and 1/4."""
    for axis in (1, 2):
        n = images.shape[axis]
        x = np.take(images, np.arange(n), axis=axis)
        before = np.take(images, np.maximum(np.arange(n) - 1, 0), axis=axis)
        after = np.take(images, np.minimum(np.arange(n) + 1, n - 1), axis=axis)
        even, odd = 0.75 * x + 0.25 * before, 0.75 * x + 0.25 * after
        images = np.stack([even, odd], axis=axis + 1)
        shape = list(x.shape)
        shape[axis] = 2 * n
        images = images.reshape(shape)
    return images


def test_shipped_classifier_is_accurate_on_the_test_split(digits, test_split):
    images, labels = test_split
    out = digits(images)
    assert out["features"].shape == (len(labels), 128)
    assert out["features"].dtype == np.float32
    assert out["logits"].shape == (len(labels), 10)
    accuracy = np.mean(np.argmax(out["logits"], axis=1) == labels)
    assert accuracy > 0.95
    assert digits.name == "digits"
    assert "digits CNN penultimate features" in digits.description


def test_features_are_the_penultimate_layer(digits, test_split):
    """logits = features @ W + b of the last Dense layer, so the features feed it directly."""
    images, _ = test_split
    out = digits(images[:50])
    kernel, bias = keras.models.load_model(SHIPPED, compile=False).get_layer("logits").get_weights()
    np.testing.assert_allclose(out["features"] @ kernel + bias, out["logits"], rtol=1e-4,
                               atol=1e-4)
    assert np.all(out["features"] >= 0)  # ReLU


def test_batching_does_not_change_results(digits, test_split):
    images, _ = test_split
    small = DigitsFeatures(batch_size=7)
    a, b = digits(images[:30]), small(images[:30])
    np.testing.assert_allclose(a["features"], b["features"], rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(a["logits"], b["logits"], rtol=1e-5, atol=1e-5)


def test_empty_batch(digits):
    out = digits(np.zeros((0, 32, 32, 1), np.float32))
    assert out["features"].shape == (0, 128)
    assert out["logits"].shape == (0, 10)


def test_shrinking_averages_areas(digits, test_split):
    """A 4x larger image comes back as its 4x4 block means (plain bilinear would sample only
    the middle two of every four pixels)."""
    images, _ = test_split
    rng = np.random.default_rng(3)
    big = np.repeat(np.repeat(images[:40], 4, axis=1), 4, axis=2)
    big = np.clip(big + rng.uniform(-0.5, 0.5, big.shape), -1, 1).astype(np.float32)
    block_means = big.reshape(40, 32, 4, 32, 4, 1).mean(axis=(2, 4))
    np.testing.assert_allclose(digits(big)["features"], digits(block_means)["features"],
                               rtol=1e-4, atol=1e-4)


def test_enlarging_is_bilinear(digits, test_split):
    images, _ = test_split
    half = images[:40].reshape(40, 16, 2, 16, 2, 1).mean(axis=(2, 4))
    expected = digits(_upsample_bilinear_x2(half).astype(np.float32))["features"]
    np.testing.assert_allclose(digits(half)["features"], expected, rtol=1e-4, atol=1e-4)


def test_other_resolutions_still_classify(digits):
    for resolution in (24, 48):
        images, labels = load_arrays("digits", resolution=resolution, split="test")
        out = digits(images)
        assert out["features"].shape == (len(labels), 128)
        assert np.mean(np.argmax(out["logits"], axis=1) == labels) > 0.9


def test_rgb_becomes_bt601_luma(digits, test_split):
    images, _ = test_split
    gray = images[:20]
    rng = np.random.default_rng(0)
    tint = rng.uniform(-0.3, 0.3, size=(20, 32, 32, 3)).astype(np.float32)
    rgb = np.clip(gray + tint, -1, 1)
    luma = rgb @ np.array([0.299, 0.587, 0.114], np.float32)
    np.testing.assert_allclose(digits(rgb)["features"], digits(luma[..., None])["features"],
                               rtol=1e-4, atol=1e-4)
    repeated = np.repeat(gray, 3, axis=-1)
    np.testing.assert_allclose(digits(repeated)["features"], digits(gray)["features"],
                               rtol=1e-4, atol=1e-4)


def test_values_slightly_out_of_range_are_clipped(digits, test_split):
    images, _ = test_split
    loud = 1.3 * images[:20]
    np.testing.assert_allclose(digits(loud)["features"],
                               digits(np.clip(loud, -1, 1))["features"], rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize(
    "images, message",
    [
        (np.zeros((32, 32, 1), np.float32), "4-D"),
        (np.zeros((2, 32, 32, 2), np.float32), "1 or 3 channels"),
        (np.zeros((2, 32, 32, 1), np.uint8), "127.5"),
        (np.full((2, 32, 32, 1), 255.0, np.float32), "127.5"),
    ],
)
def test_bad_images_raise(digits, images, message):
    with pytest.raises(UserInputError, match=message):
        digits(images)


def test_missing_digits_classifier(tmp_path):
    with pytest.raises(UserInputError, match="train_digits_classifier"):
        DigitsFeatures(tmp_path / "absent.keras")


def test_tool_builds_the_shipped_architecture(tool):
    shipped = keras.models.load_model(SHIPPED, compile=False)
    built = tool.build_classifier()
    # A JSON round trip makes tuples and lists compare alike.
    assert json.loads(json.dumps(built.get_config())) == json.loads(
        json.dumps(shipped.get_config()))
    assert [w.shape for w in built.get_weights()] == [w.shape for w in shipped.get_weights()]


def test_tool_saves_atomically(tool, tmp_path):
    model = tool.build_classifier()
    path = tmp_path / "classifier.keras"
    path.write_text("old")
    tool.save_atomically(model, str(path))
    loaded = keras.models.load_model(path, compile=False)
    for a, b in zip(loaded.get_weights(), model.get_weights()):
        np.testing.assert_array_equal(a, b)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["classifier.keras"]


def test_resize_conventions_on_a_hand_case():
    """A row [0, 1] enlarged to width 4: half-pixel centres (TF2, pytorch-fid) sample the
    input at (i + 0.5) / 2 - 0.5 = -0.25, 0.25, 0.75, 1.25 -> [0, 0.25, 0.75, 1]; TF1's legacy
    bilinear (TTUR's Inception graph) at i / 2 = 0, 0.5, 1, 1.5 -> [0, 0.5, 1, 1]."""
    image = np.array([[0.0, 1.0], [0.0, 1.0]], np.float32)[None, :, :, None]
    half = np.asarray(features_lib.resize(image, 4, antialias=False))[0, :, :, 0]
    legacy = np.asarray(features_lib.resize(image, 4, convention="legacy"))[0, :, :, 0]
    np.testing.assert_allclose(half, np.tile([0.0, 0.25, 0.75, 1.0], (4, 1)), atol=1e-6)
    np.testing.assert_allclose(legacy, np.tile([0.0, 0.5, 1.0, 1.0], (4, 1)), atol=1e-6)
    with pytest.raises(UserInputError, match="half_pixel, legacy"):
        features_lib.resize(image, 4, convention="align_corners")


def test_inception_legacy_resize_reaches_the_network(monkeypatch):
    """InceptionFeatures(resize="legacy") feeds the network TF1-resized images: a stand-in
    network (the 299x299 input's top-left 6x6 patch as features) instead of InceptionV3."""
    def stand_in(weights_path, include_top):
        x = keras.Input((299, 299, 3))
        patch = keras.layers.Cropping2D(((0, 293), (0, 293)))(x)
        return keras.Model(x, [keras.layers.Flatten()(patch)])

    monkeypatch.setattr(features_lib, "_inception", stand_in)
    extractor = InceptionFeatures(resize="legacy", batch_size=2)
    assert extractor.resize_convention == "legacy" and "legacy TF1 resize" in extractor.description
    assert InceptionFeatures().resize_convention == "half_pixel"  # the default
    images = np.random.default_rng(3).uniform(-1, 1, (2, 32, 32, 1)).astype(np.float32)
    rgb = np.repeat(images, 3, axis=-1)

    def patch(resized):
        return np.asarray(resized)[:, :6, :6, :].reshape(2, -1)

    legacy = patch(tf.compat.v1.image.resize_bilinear(rgb, (299, 299), half_pixel_centers=False))
    half = patch(tf.image.resize(rgb, (299, 299), method="bilinear"))
    got = extractor(images)["features"]
    np.testing.assert_allclose(got, legacy, rtol=1e-6, atol=1e-6)
    assert np.abs(half - legacy).max() > 0.05
    np.testing.assert_allclose(get_extractor("inception")(images)["features"], half,
                               rtol=1e-6, atol=1e-6)
    with pytest.raises(UserInputError, match="'digits' features"):
        get_extractor("digits", inception_resize="legacy")


def test_inception_random_weights_says_so():
    extractor = InceptionFeatures()
    images = np.random.default_rng(1).uniform(-1, 1, (2, 32, 32, 1)).astype(np.float32)
    out = extractor(images)
    assert out["features"].shape == (2, 2048)
    assert np.all(np.isfinite(out["features"]))
    assert out["logits"] is None
    assert extractor.random_weights
    assert "RANDOM WEIGHTS" in extractor.description


@pytest.mark.parametrize("include_top, suffix", [(False, ".weights.h5"), (True, ".weights.h5")])
def test_inception_loads_a_weights_file(tmp_path, include_top, suffix):
    """Features (and logits with the top) equal those of the network that wrote the file."""
    source = features_lib._inception(None, include_top=include_top)
    path = str(tmp_path / f"inception{suffix}")
    source.save_weights(path)
    extractor = InceptionFeatures(path, batch_size=1)
    assert not extractor.random_weights
    assert "RANDOM" not in extractor.description
    images = np.random.default_rng(2).uniform(-1, 1, (2, 40, 40, 1)).astype(np.float32)
    resized = tf.image.resize(np.repeat(images, 3, axis=-1), (299, 299), method="bilinear")
    expected = source(resized, training=False)
    expected = expected if isinstance(expected, list) else [expected]
    out = extractor(images)
    np.testing.assert_allclose(out["features"], np.asarray(expected[0]), rtol=1e-4, atol=1e-5)
    if include_top:
        assert out["logits"].shape == (2, 1000)
        np.testing.assert_allclose(out["logits"], np.asarray(expected[1]), rtol=1e-4, atol=1e-4)
    else:
        assert out["logits"] is None


def test_inception_weights_errors(tmp_path):
    with pytest.raises(UserInputError, match="not found"):
        InceptionFeatures(tmp_path / "absent_notop.h5")
    other = tmp_path / "weights.npz"
    other.write_bytes(b"\0")
    with pytest.raises(UserInputError, match="not a Keras weights file"):
        InceptionFeatures(other)
    broken = tmp_path / "broken.h5"
    broken.write_bytes(b"not hdf5")
    with pytest.raises(UserInputError, match="cannot load"):
        InceptionFeatures(broken)


def test_get_extractor(tmp_path):
    assert isinstance(get_extractor("digits"), DigitsFeatures)
    with pytest.raises(UserInputError, match="digits"):
        get_extractor("digits", inception_weights=str(tmp_path / "w.h5"))
    with pytest.raises(UserInputError, match="not found"):
        get_extractor("inception", inception_weights=str(tmp_path / "w.h5"))
    with pytest.raises(UserInputError, match="unknown feature extractor"):
        get_extractor("vgg")
