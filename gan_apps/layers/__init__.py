"""The toolkit's Keras layers, one module per family:

- :mod:`gan_apps.layers.spectral`: spectral normalization (Miyato et al. 2018), the
  Lipschitz constraint of SN-GAN, SAGAN and BigGAN discriminators;
- :mod:`gan_apps.layers.batch_norm`: batch normalization synchronized across replicas;
- :mod:`gan_apps.layers.progressive`: equalized learning rate, pixel norm, minibatch
  stddev, fade-in and stage selection of progressive growing (Karras et al. 2018);
- :mod:`gan_apps.layers.biggan`: self-attention (Zhang et al. 2019) and class-conditional
  batch norm (Brock et al. 2019).

Code in this repository imports from the family modules. This package re-exports their
public names so that ``import gan_apps.layers`` registers every serializable layer
(``gan_apps>ClassName``) before a saved ``.keras`` file is loaded, and so that
``from gan_apps.layers import SpectralNormalization`` keeps working for outside code.
"""

from gan_apps.layers.batch_norm import batch_normalization
from gan_apps.layers.biggan import ConditionalBatchNormalization, SelfAttention
from gan_apps.layers.progressive import (
    EqualizedConv2D,
    EqualizedDense,
    FadeIn,
    MinibatchStdDev,
    PixelNormalization,
    StageSelect,
    he_scale,
)
from gan_apps.layers.spectral import SpectralNormalization, maybe_spectral

__all__ = [
    "ConditionalBatchNormalization",
    "EqualizedConv2D",
    "EqualizedDense",
    "FadeIn",
    "MinibatchStdDev",
    "PixelNormalization",
    "SelfAttention",
    "SpectralNormalization",
    "StageSelect",
    "batch_normalization",
    "he_scale",
    "maybe_spectral",
]
