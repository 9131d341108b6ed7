"""Batch normalization over the global batch of a ``tf.distribute`` run.

Batch normalization (Ioffe & Szegedy 2015) is part of the DCGAN recipe (Radford et al. 2016,
Sec. 3), of the SN-GAN / WGAN-GP ResNet generators (Miyato et al. 2018, Table 4;
Gulrajani et al. 2017, Appendix F) and of BigGAN (Brock et al. 2019). Its statistics are
taken over the batch, so under data parallelism they must span every replica's slice, or a
multi-replica run trains a different model than one device does.
"""

from __future__ import annotations

import keras


def batch_normalization(**kwargs):
    """Batch normalization whose statistics span the global batch under ``tf.distribute``.

    A GAN's batch statistics are part of its objective (the discriminator sees them), so a
    multi-replica run must normalize over the whole batch to train the same model as one
    device; ``synchronized=True`` all-reduces the moments across replicas and is a no-op on
    one device.
    """
    return keras.layers.BatchNormalization(synchronized=True, **kwargs)
