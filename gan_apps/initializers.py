"""Seeded weight initialisation: one base seed, a distinct deterministic seed per layer.

A Keras initializer given an integer seed is stateless: every call with the same seed
and shape returns the same values. Two same-shaped layers built from one seed would
therefore start identical (two identical filters in a layer get identical gradients and
stay identical), so every network derives a seed per layer from its base seed:
``seed + offset``, offsets counted in the order the layers are created. An unseeded
network (``seed=None``) stays unseeded: each initializer then draws its own seed from
Keras' global seed (``keras.utils.set_random_seed``) when it is constructed, so the
initializers are constructed at the point each layer is made, never ahead of time.

The offsets are part of a network's definition: a seeded run in ``docs/benchmarks.md``
reproduces only as long as every layer keeps its offset and its initializer.
"""

from __future__ import annotations


def layer_seed(seed, offset):
    """``seed + offset``, the seed of the layer (or sub-network) at ``offset``; None stays None."""
    return None if seed is None else seed + offset


class LayerSeeds:
    """Hands out the per-layer seeds ``seed + first``, ``seed + first + 1``, ... in call order.

    ``seeds()`` returns the next seed (for layers that take a ``seed`` argument);
    ``seeds.initializer(cls, **options)`` returns ``cls(**options, seed=seeds())``, a new
    Keras initializer with the next seed; ``seeds.initializers(cls, **options)`` returns a
    function that does so on every call (``init = seeds.initializers(...)``, then
    ``kernel_initializer=init()`` per layer). Several such functions made from one
    ``LayerSeeds`` share its counter. With ``seed=None`` every seed is None.

    Args:
        seed: the network's base seed, or None.
        first: offset of the first layer.
    """

    def __init__(self, seed, first=0):
        self.seed = seed
        self.offset = int(first)

    def __call__(self):
        """The next layer's seed (None when unseeded)."""
        value = layer_seed(self.seed, self.offset)
        self.offset += 1
        return value

    def initializer(self, cls, **options):
        """A new ``cls`` initializer (a ``keras.initializers`` class) seeded with the next seed."""
        return cls(**options, seed=self())

    def initializers(self, cls, **options):
        """A function returning a new ``cls`` initializer with the next seed at every call."""
        return lambda: self.initializer(cls, **options)
