"""Sample diversity: mean pairwise L2 distance within a batch, and its fake/real ratio."""

from __future__ import annotations

import numpy as np


def mean_pairwise_distance(x, chunk_size=256):
    """Mean Euclidean distance over all N (N - 1) / 2 distinct pairs of a batch ``[N, ...]``.

    Each sample is flattened. Distances come from ||a||^2 + ||b||^2 - 2 a.b, one block of
    ``chunk_size`` rows at a time, so memory stays O(chunk_size * N) instead of the
    O(N^2 * D) of broadcasting differences.
    """
    x = np.asarray(x, dtype=np.float64)
    if x.ndim < 1 or len(x) < 2:
        raise ValueError(f"need at least 2 samples to measure diversity, got shape {x.shape}")
    x = x.reshape(len(x), -1)
    # Distances do not change under translation; centring shrinks the norms, and with them
    # the cancellation error of the expansion (a constant batch gives exactly 0).
    x = x - x.mean(axis=0)
    squared = np.einsum("ij,ij->i", x, x)
    n = len(x)
    total = 0.0
    for start in range(0, n, chunk_size):
        stop = min(start + chunk_size, n)
        # Rows [start, stop) against rows [start, n): each pair is visited once, and the
        # strict upper triangle of the leading block drops the diagonal and repeats.
        d2 = squared[start:stop, None] + squared[None, start:] - 2.0 * x[start:stop] @ x[start:].T
        distances = np.sqrt(np.clip(d2, 0.0, None))
        total += np.sum(np.triu(distances, k=1))
    return float(total / (n * (n - 1) / 2))


def collapse_ratio(fake, real, chunk_size=256):
    """Mean pairwise distance of generated samples divided by that of real samples.

    A cheap mode-collapse signal. Near 1, the samples are about as spread out as the data;
    far below 1 (as a rule of thumb, under 0.5) they are much less diverse, and exactly 0
    means every sample is the same. The idea is the one that motivates minibatch
    discrimination (Salimans et al. 2016, "Improved Techniques for Training GANs", sec. 3.2):
    a collapsed generator shows up as samples that sit close to each other within a batch.
    Arora & Zhang (2017, "Do GANs actually learn the distribution? An empirical study") test
    diversity more sharply by counting near-duplicate pairs (the birthday paradox test).

    This ratio is coarse: it compares spreads only, so a generator that drops some modes
    but covers distant ones can still score near 1, and pixel-space distances track
    perceptual diversity loosely. Pass features (for example classifier embeddings)
    instead of pixels for a more meaningful distance; use mode coverage where modes are
    known. Both batches must have the same per-sample size.
    """
    fake = np.asarray(fake)
    real = np.asarray(real)
    if np.prod(fake.shape[1:]) != np.prod(real.shape[1:]):
        raise ValueError(
            f"fake and real samples differ in size: {fake.shape[1:]} vs {real.shape[1:]}"
        )
    real_spread = mean_pairwise_distance(real, chunk_size)
    if real_spread == 0.0:
        raise ValueError("every real sample is identical, so no diversity ratio exists")
    return mean_pairwise_distance(fake, chunk_size) / real_spread
