"""Mean pairwise distance against a brute-force loop, scipy's pdist and a Gaussian closed form."""

import itertools

import numpy as np
import pytest
from scipy.spatial.distance import pdist
from scipy.special import gammaln

from gan_apps.evaluation.diversity import collapse_ratio, mean_pairwise_distance


def brute_force(x):
    x = np.asarray(x, np.float64).reshape(len(x), -1)
    distances = [np.sqrt(np.sum((a - b) ** 2)) for a, b in itertools.combinations(x, 2)]
    return float(np.mean(distances))


@pytest.mark.parametrize("chunk_size", [1, 7, 256])
def test_matches_double_loop_and_pdist_on_image_batches(chunk_size):
    x = np.random.default_rng(0).uniform(-1, 1, size=(23, 3, 4, 2)).astype(np.float32)
    got = mean_pairwise_distance(x, chunk_size=chunk_size)
    assert got == pytest.approx(brute_force(x), rel=1e-9)
    assert got == pytest.approx(pdist(x.reshape(23, -1).astype(np.float64)).mean(), rel=1e-9)


def test_two_samples_give_their_distance():
    assert mean_pairwise_distance([[0.0, 0.0], [3.0, 4.0]]) == pytest.approx(5.0, rel=1e-12)


def test_far_from_origin_keeps_precision():
    # Without centring, ||a||^2 + ||b||^2 - 2ab would cancel ~1e12 down to ~1.
    x = np.random.default_rng(1).normal(size=(40, 6)) + 1e6
    assert mean_pairwise_distance(x, chunk_size=16) == pytest.approx(pdist(x).mean(), rel=1e-7)


def test_gaussian_closed_form():
    # a, b ~ N(0, I_d): a - b ~ N(0, 2 I_d) and E||a - b|| = 2 Gamma((d+1)/2) / Gamma(d/2).
    d = 5
    x = np.random.default_rng(2).normal(size=(2000, d))
    expected = 2.0 * np.exp(gammaln((d + 1) / 2) - gammaln(d / 2))
    assert mean_pairwise_distance(x) == pytest.approx(expected, rel=0.02)


def test_needs_two_samples():
    with pytest.raises(ValueError, match="at least 2"):
        mean_pairwise_distance(np.zeros((1, 4)))


def test_ratio_near_one_for_the_same_distribution():
    rng = np.random.default_rng(3)
    real = rng.normal(size=(400, 16))
    fake = rng.normal(size=(300, 16))
    assert collapse_ratio(fake, real) == pytest.approx(1.0, abs=0.05)


def test_ratio_zero_for_a_constant_batch():
    real = np.random.default_rng(4).uniform(-1, 1, size=(64, 4, 4, 1))
    fake = np.full((64, 4, 4, 1), 0.3)
    assert collapse_ratio(fake, real) == 0.0


def test_ratio_of_a_shrunk_copy_is_the_shrink_factor():
    real = np.random.default_rng(5).normal(size=(100, 8))
    assert collapse_ratio(0.25 * real + 2.0, real) == pytest.approx(0.25, rel=1e-9)


def test_ratio_rejects_mismatched_or_degenerate_batches():
    rng = np.random.default_rng(6)
    with pytest.raises(ValueError, match="differ in size"):
        collapse_ratio(rng.normal(size=(10, 4)), rng.normal(size=(10, 5)))
    with pytest.raises(ValueError, match="identical"):
        collapse_ratio(rng.normal(size=(10, 4)), np.ones((10, 4)))
