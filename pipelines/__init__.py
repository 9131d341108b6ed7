"""Task pipelines built on the GAN family (installed as ``gan_apps.pipelines``)."""
