"""gan-apps: the GAN family on TensorFlow/Keras 3, trained with ``model.fit``."""

__version__ = "0.1.0"
