"""Frechet distance between two sets of features (Heusel et al. 2017, eq. 6 for FID)."""

from __future__ import annotations

import numpy as np


def _sqrt_psd(matrix):
    values, vectors = np.linalg.eigh(matrix)
    return (vectors * np.sqrt(np.clip(values, 0, None))) @ vectors.T


def frechet_distance(features_a, features_b):
    """d^2 = ||mu_a - mu_b||^2 + Tr(S_a + S_b - 2 (S_a S_b)^(1/2)) of Gaussians fitted to each set.

    Tr((S_a S_b)^(1/2)) is computed as the trace of (S_a^(1/2) S_b S_a^(1/2))^(1/2), which
    is symmetric positive semi-definite, so the result is real and stable even for
    singular covariances (fewer samples than feature dimensions).
    """
    a = np.asarray(features_a, np.float64).reshape(len(features_a), -1)
    b = np.asarray(features_b, np.float64).reshape(len(features_b), -1)
    if a.shape[1] != b.shape[1]:
        raise ValueError(f"feature sizes differ: {a.shape[1]} vs {b.shape[1]}")
    if len(a) < 2 or len(b) < 2:
        raise ValueError("need at least two samples in each set")
    mu_a, mu_b = a.mean(0), b.mean(0)
    cov_a = np.atleast_2d(np.cov(a, rowvar=False))
    cov_b = np.atleast_2d(np.cov(b, rowvar=False))
    root_a = _sqrt_psd(cov_a)
    cross = np.linalg.eigvalsh(root_a @ cov_b @ root_a)
    trace_sqrt = np.sum(np.sqrt(np.clip(cross, 0, None)))
    distance = np.sum((mu_a - mu_b) ** 2) + np.trace(cov_a) + np.trace(cov_b) - 2 * trace_sqrt
    return float(max(distance, 0.0))
