"""Frechet distance against scipy's sqrtm and the closed form for Gaussians."""

import numpy as np
import pytest
from scipy import linalg

from gan_apps.evaluation.frechet import frechet_distance


def scipy_frechet(a, b):
    mu_a, mu_b = a.mean(0), b.mean(0)
    cov_a, cov_b = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    covmean = linalg.sqrtm(cov_a @ cov_b).real
    return np.sum((mu_a - mu_b) ** 2) + np.trace(cov_a + cov_b - 2 * covmean)


def test_matches_scipy_sqrtm():
    rng = np.random.default_rng(0)
    a = rng.normal(size=(500, 6)) @ rng.normal(size=(6, 6))
    b = rng.normal(0.3, 1.5, size=(400, 6))
    assert frechet_distance(a, b) == pytest.approx(scipy_frechet(a, b), rel=1e-6)


def test_identical_sets_give_zero():
    a = np.random.default_rng(1).normal(size=(300, 5))
    assert frechet_distance(a, a) == pytest.approx(0.0, abs=1e-8)


def test_shifted_gaussians_give_closed_form():
    # N(0, I) vs N(m, 4 I) in d dims: ||m||^2 + d (1 + 4 - 2*2) = ||m||^2 + d.
    rng = np.random.default_rng(2)
    d, n = 3, 200_000
    shift = np.array([1.0, -2.0, 0.5])
    a = rng.normal(size=(n, d))
    b = shift + 2.0 * rng.normal(size=(n, d))
    assert frechet_distance(a, b) == pytest.approx(np.sum(shift**2) + d, rel=0.01)


def test_singular_covariance_stays_finite():
    rng = np.random.default_rng(3)
    a = rng.normal(size=(10, 50))
    b = rng.normal(size=(12, 50))
    assert np.isfinite(frechet_distance(a, b))
