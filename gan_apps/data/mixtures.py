"""2-D Gaussian mixtures for mode-collapse studies (ring of 8, grid of 25)."""

from __future__ import annotations

import dataclasses

import numpy as np

from gan_apps.errors import UserInputError

# Points per epoch when num_examples is not given: 100 batches of 256.
DEFAULT_SIZE = 25_600
# Each split draws from its own stream derived from the user's seed, so train and test
# points are independent but both repeatable.
SPLIT_STREAMS = {"train": 0, "test": 1}


@dataclasses.dataclass(frozen=True, eq=False)
class Mixture:
    """Equal-weight isotropic Gaussian mixture p(x) = 1/K sum_k N(x; centers[k], std^2 I).

    Args:
        centers: mode means, shape [K, 2].
        std: standard deviation of every mode along each axis.
    """

    centers: np.ndarray
    std: float

    def __post_init__(self):
        centers = np.array(self.centers, dtype=np.float32)
        if centers.ndim != 2 or centers.shape[1] != 2:
            raise ValueError(f"centers must have shape [K, 2], got {centers.shape}")
        centers.setflags(write=False)
        object.__setattr__(self, "centers", centers)
        object.__setattr__(self, "std", float(self.std))

    def sample(self, n, rng):
        """Draw ``n`` points as float32 [n, 2]: a mode uniformly, then Gaussian noise around it."""
        modes = rng.integers(len(self.centers), size=n)
        noise = rng.normal(size=(n, 2)) * self.std
        return (self.centers[modes] + noise).astype(np.float32)


def _ring(modes=8, radius=2.0):
    angles = 2.0 * np.pi * np.arange(modes) / modes
    return np.stack([radius * np.cos(angles), radius * np.sin(angles)], axis=1)


def _grid(values=(-4.0, -2.0, 0.0, 2.0, 4.0)):
    xs, ys = np.meshgrid(values, values, indexing="ij")
    return np.stack([xs.ravel(), ys.ravel()], axis=1)


MIXTURES = {
    # Metz et al. 2016, "Unrolled GANs", appendix: 8 modes on a circle of radius 2, std 0.02.
    "ring8": Mixture(centers=_ring(), std=0.02),
    # Srivastava et al. 2017 (VEEGAN) and Lin et al. 2018 (PacGAN): 5x5 grid, spacing 2, std 0.05.
    "grid25": Mixture(centers=_grid(), std=0.05),
}


def load_points(name, *, split="train", num_examples=None, seed=0):
    """A fixed, seeded draw of points from mixture ``name`` as float32 [N, 2]."""
    if split not in SPLIT_STREAMS:
        raise UserInputError(
            f"{name} has splits {sorted(SPLIT_STREAMS)}, not {split!r}; pass one of those"
        )
    n = DEFAULT_SIZE if num_examples is None else num_examples
    rng = np.random.default_rng([seed, SPLIT_STREAMS[split]])
    return MIXTURES[name].sample(n, rng)
