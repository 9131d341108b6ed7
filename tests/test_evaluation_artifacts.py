"""Artifact energy above the 8x8 bottleneck."""

import numpy as np
import pytest

from gan_apps.data import load_arrays
from gan_apps.evaluation import artifacts, report


def test_constant_blocks_have_no_residual_and_a_checkerboard_keeps_all_of_its_energy():
    # A constant image passes the bottleneck unchanged.
    flat = np.full((2, 32, 32, 1), 0.3, np.float32)
    assert artifacts.residual_energy(flat) == pytest.approx(0.0, abs=1e-10)
    # A one-pixel checkerboard of +-a averages to 0 in every 4x4 cell: the residual is the
    # image itself, energy a^2.
    checker = 0.5 * np.where((np.indices((32, 32)).sum(0) % 2) == 0, 1.0, -1.0)
    images = np.broadcast_to(checker[None, :, :, None], (3, 32, 32, 1)).astype(np.float32)
    assert artifacts.residual_energy(images) == pytest.approx(0.25, rel=1e-5)


def test_real_digits_lie_almost_inside_the_bottleneck():
    real, _ = load_arrays("digits", resolution=32, split="test", num_examples=100)
    noisy = np.clip(real + np.random.default_rng(0).normal(0, 0.2, real.shape), -1, 1)
    clean, dirty = artifacts.residual_energy(real), artifacts.residual_energy(noisy)
    assert clean < 0.02 and dirty > 2 * clean


class _PixelFeatures:
    description = "raw pixels (test)"

    def __call__(self, images):
        return {"features": np.asarray(images).reshape(len(images), -1)}


def test_report_gives_energy_and_ratio_to_real():
    real, _ = load_arrays("digits", resolution=16, split="test", num_examples=50)
    results = report.evaluate(real, real, ("artifacts",), extractor=_PixelFeatures())
    assert results["artifact_ratio"] == pytest.approx(1.0)
    assert results["artifact_energy"] == pytest.approx(artifacts.residual_energy(real))
    with pytest.raises(ValueError):
        artifacts.residual_energy(np.zeros((1, 4, 4, 1)))
