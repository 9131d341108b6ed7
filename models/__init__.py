"""The GAN family and its architectures (installed as ``gan_apps.models``)."""
