"""Mode metrics on synthetic samples with known answers."""

import numpy as np
import pytest
from scipy import stats

from gan_apps.data import MIXTURES
from gan_apps.evaluation.modes import mixture_mode_stats

RING = MIXTURES["ring8"]


def test_samples_on_every_centre():
    samples = np.repeat(RING.centers, 100, axis=0)
    result = mixture_mode_stats(samples, RING.centers, RING.std)
    assert result["modes_captured"] == 8 and result["num_modes"] == 8
    assert result["high_quality_fraction"] == 1.0
    assert result["kl_to_uniform"] == pytest.approx(0.0, abs=1e-12)


def test_true_mixture_samples_are_captured():
    samples = RING.sample(2500, np.random.default_rng(0))
    result = mixture_mode_stats(samples, RING.centers, RING.std)
    assert result["modes_captured"] == 8
    assert result["high_quality_fraction"] > 0.99  # 3 sigma in 2-D holds 98.9 %


def test_three_modes_and_the_count_threshold():
    samples = np.concatenate([np.repeat(RING.centers[:3], 30, axis=0),
                              np.repeat(RING.centers[3:4], 19, axis=0)])
    result = mixture_mode_stats(samples, RING.centers, RING.std)
    assert result["modes_captured"] == 3  # 19 samples do not make a mode, 20 would
    assert result["mode_counts"][:4] == [30, 30, 30, 19]
    samples = np.concatenate([samples, RING.centers[3:4]])
    assert mixture_mode_stats(samples, RING.centers, RING.std)["modes_captured"] == 4


def test_far_samples_capture_nothing():
    samples = np.full((100, 2), 50.0)
    result = mixture_mode_stats(samples, RING.centers, RING.std)
    assert result["modes_captured"] == 0 and result["high_quality_fraction"] == 0.0
    assert result["kl_to_uniform"] == pytest.approx(np.log(8))


def test_kl_against_scipy():
    counts = [50, 10, 0, 30, 5, 5, 0, 100]
    samples = np.repeat(RING.centers, counts, axis=0)
    result = mixture_mode_stats(samples, RING.centers, RING.std)
    p = np.array(counts) / sum(counts)
    assert result["kl_to_uniform"] == pytest.approx(stats.entropy(p, np.full(8, 1 / 8)))


def test_three_sigma_boundary():
    just_in = RING.centers[0] + np.array([2.99 * RING.std, 0.0])
    just_out = RING.centers[0] + np.array([3.01 * RING.std, 0.0])
    result = mixture_mode_stats(np.stack([just_in, just_out]), RING.centers, RING.std)
    assert result["high_quality_fraction"] == 0.5


def test_grid_collapse_to_one_mode():
    grid = MIXTURES["grid25"]
    samples = grid.centers[7] + np.random.default_rng(1).normal(size=(2500, 2)) * grid.std * 0.5
    result = mixture_mode_stats(samples, grid.centers, grid.std)
    assert result["num_modes"] == 25 and result["modes_captured"] == 1
    assert result["mode_counts"][7] == 2500 and sum(result["mode_counts"]) == 2500
    assert result["kl_to_uniform"] == pytest.approx(np.log(25))
    assert mixture_mode_stats(samples, grid.centers, grid.std, min_count=2501)["modes_captured"] == 0


def test_cut_free_balance_and_distance():
    # A ring-shaped smear at 10 sigma from every mode: nothing is high quality, yet the
    # mass is shared evenly among the eight cells (nearest-mode KL 0); a cloud in one
    # cell gives log 8. Distances are checked against a hand-placed sample.
    angles = 2 * np.pi * (np.arange(800) + 0.5) / 800
    radius = np.linalg.norm(RING.centers[0]) + 10 * RING.std
    smear = radius * np.stack([np.cos(angles), np.sin(angles)], axis=1)
    result = mixture_mode_stats(smear, RING.centers, RING.std)
    assert result["modes_captured"] == 0 and result["high_quality_fraction"] == 0.0
    assert result["nearest_kl_to_uniform"] == pytest.approx(0.0, abs=1e-12)
    assert result["kl_to_uniform"] == pytest.approx(np.log(8))
    assert result["median_distance_sigma"] > 10
    cloud = np.repeat(RING.centers[2:3] + np.array([[0.0, 4 * RING.std]]), 5, axis=0)
    result = mixture_mode_stats(cloud, RING.centers, RING.std)
    assert result["nearest_kl_to_uniform"] == pytest.approx(np.log(8))
    assert result["median_distance_sigma"] == pytest.approx(4.0)
