"""Baselines for compressed sensing: Lasso (pixel and DCT bases), Gaussian-prior MMSE, mean image.

- Lasso (Tibshirani 1996; the baseline of Bora et al. 2017, Sec. 6): for a basis Phi
  (identity or the orthonormal 2-D DCT-II), x_hat = Phi c_hat with
  c_hat = argmin_c 1/(2m) ||y - A Phi c||^2 + alpha ||c||_1, solved exactly by LARS
  (``sklearn.linear_model.lars_path`` with ``method="lasso"``; coordinate descent's
  default tolerance is loose at small alpha). alpha is chosen on validation signals
  (training images measured with the same operator and noise level) by the rule: the alpha
  of a log grid with the lowest mean per-pixel error, the basis likewise when several are
  offered.
- Gaussian-prior linear MMSE: with x ~ N(mu, Sigma) fitted on the training images and
  eta ~ N(0, s^2 I), E[x | y] = mu + Sigma A^T (A Sigma A^T + s^2 I)^-1 (y - A mu)
  (the conditional mean of jointly Gaussian vectors; Kay, *Fundamentals of Statistical
  Signal Processing: Estimation*, 1993, Theorem 10.2). A learned linear prior: the baseline
  any generative prior has to beat.
- Mean image: x_hat = mu whatever y is.
"""

from __future__ import annotations

import dataclasses
import time

import numpy as np
from scipy import fft
from sklearn.linear_model import lars_path

BASES = ("pixel", "dct")
VALIDATION_SIGNALS = 100
# Candidate Lasso weights (sklearn's alpha, per 1/(2m) scaled residual). With csgm's A of
# N(0, 1) entries the useful alpha grows with m (alpha_max = ||A^T y||_inf / m ~ ||x||), so the
# grid runs to 1e3: 6 points per decade over 8 decades.
ALPHA_GRID = np.geomspace(1e-5, 1e3, 49)
# Added to the fitted covariance: the digits have pixels that are always 0, so Sigma is singular.
COVARIANCE_JITTER = 1e-6


def basis_matrix(basis, shape):
    """Phi [n, n] whose columns are the basis vectors of flat signals of ``shape`` (H, W, C)."""
    n = int(np.prod(shape))
    if basis == "pixel":
        return np.eye(n)
    if basis != "dct":
        raise ValueError(f"unknown basis {basis!r}; choose one of {BASES}")
    coefficients = np.eye(n).reshape((n,) + tuple(shape))
    # Orthonormal inverse DCT-II over H and W of each channel.
    return fft.idctn(coefficients, type=2, norm="ortho", axes=(1, 2)).reshape(n, n).T


def lasso_path(dictionary, y, alpha_min):
    """Exact Lasso path down to ``alpha_min``: (alphas decreasing [K], coefs [n, K])."""
    alphas, _, coefs = lars_path(dictionary, y, method="lasso", alpha_min=alpha_min)
    return alphas, coefs


def coefs_on_grid(alphas, coefs, grid):
    """Coefficients [n, G] at every alpha of ``grid`` by linear interpolation along the
    (piecewise linear) path; 0 above its first alpha, its last coefficients below its last."""
    order = np.argsort(alphas)
    xp, fp = np.asarray(alphas, np.float64)[order], np.asarray(coefs, np.float64)[:, order]
    grid = np.asarray(grid, np.float64)
    if len(xp) == 1:
        return np.repeat(fp, len(grid), axis=1) * (grid < xp[0])
    x = np.clip(grid, xp[0], xp[-1])
    j = np.clip(np.searchsorted(xp, x, side="right") - 1, 0, len(xp) - 2)
    spacing = xp[j + 1] - xp[j]
    weight = np.divide(x - xp[j], spacing, out=np.zeros_like(x), where=spacing > 0)
    values = fp[:, j] * (1.0 - weight) + fp[:, j + 1] * weight
    values[:, grid >= xp[-1]] = 0.0
    return values


def coefs_at(alphas, coefs, alpha):
    """Coefficients [n] at one ``alpha`` (:func:`coefs_on_grid`)."""
    return coefs_on_grid(alphas, coefs, [alpha])[:, 0]


@dataclasses.dataclass
class LassoBaseline:
    """Lasso in a basis with a chosen weight; ``estimate(operator, y)`` recovers signals [S, n]."""

    basis: str
    alpha: float
    validation_error: float

    def estimate(self, operator, measurements):
        phi = basis_matrix(self.basis, operator.shape)
        dictionary = operator.as_matrix() @ phi
        out = []
        for y in np.asarray(measurements, np.float64):
            alphas, coefs = lasso_path(dictionary, y, self.alpha)
            out.append(phi @ coefs_at(alphas, coefs, self.alpha))
        return np.stack(out)


def fit_lasso(groups, noise, rng, bases=BASES):
    """Pick the basis and alpha with the lowest mean error on measured validation signals.

    The best of :func:`fit_lasso_bases` (the first basis on a tie); same arguments.
    """
    fits = fit_lasso_bases(groups, noise, rng, bases)
    return min(fits.values(), key=lambda fit: fit.validation_error)


def fit_lasso_bases(groups, noise, rng, bases=BASES):
    """Per basis, the alpha with the lowest mean error on measured validation signals.

    Args:
        groups: pairs (operator, validation signals [V, n] in [0, 1]); each group's signals
            are measured with its operator and the errors of all groups are pooled, so one
            alpha serves every operator draw. Never pass the test signals.
        noise: noise std per measurement.
        rng: numpy Generator for the validation noise.
        bases: the candidate bases.

    Returns:
        dict basis -> :class:`LassoBaseline`, in the order of ``bases``; every basis is
        scored on the same measured validation signals (one noise draw).
    """
    measured = [(op, np.asarray(v, np.float64), op.measure(v, noise, rng).astype(np.float64))
                for op, v in groups]
    count = sum(len(v) for _, v, _ in measured)
    fits = {}
    for basis in bases:
        errors = np.zeros(len(ALPHA_GRID))
        for op, validation, y in measured:
            phi = basis_matrix(basis, op.shape)
            dictionary = op.as_matrix() @ phi
            for signal, observed in zip(validation, y):
                alphas, coefs = lasso_path(dictionary, observed, ALPHA_GRID[0])
                estimates = phi @ coefs_on_grid(alphas, coefs, ALPHA_GRID)  # [n, G]
                errors += np.mean((estimates - signal[:, None]) ** 2, axis=0)
        errors /= count
        k = int(np.argmin(errors))
        fits[basis] = LassoBaseline(basis, float(ALPHA_GRID[k]), float(errors[k]))
    return fits


@dataclasses.dataclass
class GaussianPrior:
    """x ~ N(mean, covariance) fitted on training signals [N, n]."""

    mean: np.ndarray
    covariance: np.ndarray

    @classmethod
    def fit(cls, train):
        train = np.asarray(train, np.float64)
        covariance = np.cov(train, rowvar=False) + COVARIANCE_JITTER * np.eye(train.shape[1])
        return cls(train.mean(axis=0), covariance)

    def mmse(self, operator, measurements, noise):
        """E[x | y] = mu + Sigma A^T (A Sigma A^T + s^2 I)^-1 (y - A mu), s = noise (the std
        per measurement)."""
        a = operator.as_matrix()
        noise_var = noise**2
        gram = a @ self.covariance @ a.T + noise_var * np.eye(operator.num_measurements)
        residual = np.asarray(measurements, np.float64) - self.mean @ a.T
        return self.mean + np.linalg.solve(gram, residual.T).T @ (a @ self.covariance)


def all_baselines(groups, train, noise, rng, validation_size=VALIDATION_SIGNALS):
    """Yield (name, estimates per group, seconds) for every baseline.

    Args:
        groups: pairs (operator, measurements y [S_g, m]) of the test signals.
        train: training signals [N, n]; the Gaussian prior and the mean image are fitted on
            all of them, Lasso weights chosen on the first ``validation_size``, split evenly
            over the groups' operators.
    """
    validation = np.array_split(np.asarray(train[:validation_size]), len(groups))
    for basis in BASES:
        started = time.perf_counter()
        lasso = fit_lasso([(op, v) for (op, _), v in zip(groups, validation)], noise, rng,
                          bases=(basis,))
        estimates = [lasso.estimate(op, y) for op, y in groups]
        yield f"lasso-{basis}", estimates, time.perf_counter() - started
    started = time.perf_counter()
    prior = GaussianPrior.fit(train)
    estimates = [prior.mmse(op, y, noise) for op, y in groups]
    yield "gaussian-mmse", estimates, time.perf_counter() - started
    yield "mean", [np.broadcast_to(prior.mean, e.shape) for e in estimates], 0.0
