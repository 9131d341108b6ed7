"""gan_apps.initializers: one base seed, a distinct reproducible seed per layer, and the seed
layout of the networks (which seeded runs in docs/benchmarks.md depend on)."""

import keras
import numpy as np

from gan_apps.initializers import LayerSeeds, layer_seed
from gan_apps.models.biggan import biggan_discriminator
from gan_apps.models.cyclegan import patchgan_discriminator
from gan_apps.models.dcgan import dcgan_generator


def test_layer_seed_offsets_and_keeps_none():
    assert layer_seed(10, 0) == 10 and layer_seed(10, 1000) == 1010
    assert layer_seed(None, 5) is None


def test_seeds_are_distinct_in_call_order_and_reproducible():
    seeds = LayerSeeds(7)
    first = [seeds() for _ in range(5)]
    assert first == [7, 8, 9, 10, 11]
    again = LayerSeeds(7)
    assert [again() for _ in range(5)] == first
    assert [LayerSeeds(7, first=100)() for _ in range(1)] == [107]
    unseeded = LayerSeeds(None)
    assert [unseeded() for _ in range(3)] == [None, None, None]


def test_initializer_factories_share_one_counter():
    seeds = LayerSeeds(3, first=1)
    normal = seeds.initializers(keras.initializers.RandomNormal, stddev=0.02)
    ortho = seeds.initializers(keras.initializers.Orthogonal)
    made = [normal(), ortho(), normal(), seeds.initializer(keras.initializers.HeNormal)]
    assert [type(m).__name__ for m in made] == ["RandomNormal", "Orthogonal", "RandomNormal", "HeNormal"]
    assert [m.get_config()["seed"] for m in made] == [4, 5, 6, 7]
    assert made[0].get_config()["stddev"] == 0.02


def test_same_shaped_layers_start_different_and_rebuild_identically():
    def kernels():
        init = LayerSeeds(11).initializers(keras.initializers.GlorotUniform)
        return [np.asarray(init()((4, 4))) for _ in range(3)]

    a, b = kernels(), kernels()
    assert not np.array_equal(a[0], a[1]) and not np.array_equal(a[1], a[2])
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x, y)


def _kernel_seeds(model):
    seeds = []
    for layer in model._flatten_layers(include_self=False):
        for attribute in ("kernel_initializer", "embeddings_initializer"):
            initializer = getattr(layer, attribute, None)
            if isinstance(initializer, keras.initializers.Initializer):
                seeds.append(initializer.get_config().get("seed"))
    return seeds


def test_network_seed_layouts_are_unchanged():
    # DCGAN: seed + k for the k-th layer; CycleGAN: 1000 seed + k from k = 1; BigGAN's D:
    # orthogonal from seed + 1001 on, its self-attention block from seed + 300.
    assert _kernel_seeds(dcgan_generator(16, 16, 1, width=8, seed=3)) == [3, 4, 5]
    assert _kernel_seeds(patchgan_discriminator(1, 4, n_layers=2, seed=2)) == [2001, 2002, 2003, 2004]
    d_seeds = _kernel_seeds(biggan_discriminator(16, 1, 3, width=4, attention=8, seed=5))
    assert d_seeds[:3] == [1006, 1007, 1008]
    assert {305, 306, 307, 308} <= set(d_seeds)
    assert len(set(d_seeds)) == len(d_seeds)
