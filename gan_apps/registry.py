"""What the toolkit can train and on what: one record per model and per data source.

Imports nothing heavy (no TensorFlow, no Keras), so ``gan-apps --help`` and ``--model``
validation answer instantly, and the README's tables can be checked against it. The
recipes of the plain GANs stay in :mod:`gan_apps.models.presets` (``PRESETS``, which a test
keeps equal to the presets here); a family member names its builder here, so adding a
model is one builder function plus one line in :data:`MODELS`.
"""

from __future__ import annotations

import dataclasses

IMAGE = "image"
POINTS = "points"


@dataclasses.dataclass(frozen=True)
class ModelEntry:
    """A model ``gan-apps train --model`` accepts.

    ``kind`` is ``"preset"`` (a plain GAN recipe of :data:`gan_apps.models.presets.PRESETS`)
    or ``"family"`` (its own model class, built by ``builder``: ``"module:function"`` under
    ``gan_apps.models``, with the signature ``build_x(*, data_kind, resolution, channels,
    num_classes, latent_dim, width, objective, seed, jit_compile, **options)`` returning a
    compiled model). ``data_kinds`` are the data it trains on (``"image"``, ``"points"``);
    ``needs_labels`` means a labelled source.
    """

    name: str
    kind: str
    description: str
    paper: str
    needs_labels: bool = False
    data_kinds: tuple = (IMAGE, POINTS)
    builder: str = None


MODELS = {
    m.name: m
    for m in (
        ModelEntry("dcgan", "preset", "non-saturating GAN, batch norm, Adam 2e-4",
                   "Radford et al. 2016"),
        ModelEntry("lsgan", "preset", "least squares, coding (0,1,1) or --coding pearson",
                   "Mao et al. 2017"),
        ModelEntry("fgan", "preset", "f-GAN, divergence chosen with --divergence",
                   "Nowozin et al. 2016"),
        ModelEntry("wgan", "preset", "Wasserstein critic, weight clipping 0.01, RMSProp",
                   "Arjovsky et al. 2017"),
        ModelEntry("wgan_gp", "preset", "Wasserstein critic, gradient penalty 10, layer norm",
                   "Gulrajani et al. 2017"),
        ModelEntry("sngan", "preset", "hinge loss, spectrally normalized discriminator",
                   "Miyato et al. 2018"),
        ModelEntry("cgan", "family", "conditional GAN, projection discriminator",
                   "Mirza & Osindero 2014; Miyato & Koyama 2018", True, (IMAGE,),
                   builder="conditional:build_conditional"),
        ModelEntry("acgan", "family", "AC-GAN, auxiliary classifier head", "Odena et al. 2017",
                   True, (IMAGE,), builder="acgan:build_acgan"),
        ModelEntry("infogan", "family", "InfoGAN, latent codes and a Q head", "Chen et al. 2016",
                   False, (IMAGE,), builder="infogan:build_infogan"),
        ModelEntry("unrolled", "family", "unrolled GAN, look-ahead critic steps",
                   "Metz et al. 2016", builder="unrolled:build_unrolled_gan"),
        ModelEntry("gmmn", "family", "GMMN, MMD with a mixture of RBF kernels", "Li et al. 2015",
                   builder="mmd:build_gmmn"),
        ModelEntry("mmdgan", "family", "MMD-GAN, MMD on learned critic features",
                   "Li et al. 2017", builder="mmd:build_mmd_gan"),
        ModelEntry("vae", "family", "variational autoencoder, ELBO logged",
                   "Kingma & Welling 2013", False, (IMAGE,), builder="vae:build_vae"),
        ModelEntry("progan", "family", "progressive growing, WGAN-GP + drift",
                   "Karras et al. 2018", False, (IMAGE,), builder="progan:build_progan"),
        ModelEntry("biggan", "family", "BigGAN: CBN + skip-z, self-attention, SN, hinge",
                   "Brock et al. 2019", True, (IMAGE,), builder="biggan:build_biggan"),
    )
}


@dataclasses.dataclass(frozen=True)
class DataSource:
    """A form ``--data`` accepts: ``form`` as the user types it (NAME, PATH... are
    placeholders), what it yields (``kind``: image, points, unpaired or hr), whether it
    carries class labels (``"yes"``, ``"no"`` or ``"if the set has them"``), and the
    commands that read it."""

    form: str
    kind: str
    labels: str
    description: str
    commands: tuple


TRAIN, ADVERSARIAL, TRANSLATE, SUPER_RESOLVE = "train", "adversarial", "translate", "super-resolve"
DATA_SOURCES = tuple(
    (
        DataSource("digits", IMAGE, "yes", "scikit-learn's real handwritten digits (embedded)",
                   (TRAIN, ADVERSARIAL)),
        DataSource("photos", IMAGE, "no", "real photographs shipped in scikit-image and "
                   "scikit-learn (train: patches; super-resolve: whole images)",
                   (TRAIN, SUPER_RESOLVE)),
        DataSource("ring8", POINTS, "no", "2-D mixture: ring of 8 Gaussians", (TRAIN,)),
        DataSource("grid25", POINTS, "no", "2-D mixture: grid of 25 Gaussians", (TRAIN,)),
        DataSource("tfds:NAME[/CONFIG]", IMAGE, "if the set has them",
                   "a TensorFlow Datasets set prepared under --data-dir", (TRAIN, ADVERSARIAL)),
        DataSource("folder:PATH", IMAGE, "no", "your own images (anything OpenCV decodes)",
                   (TRAIN, SUPER_RESOLVE)),
        DataSource("photos:tone", "unpaired", "no", "embedded photo pair with a known answer "
                   "(B is a fixed tone map of A)", (TRANSLATE,)),
        DataSource("folder:DIR_A,DIR_B", "unpaired", "no", "two folders of unpaired images",
                   (TRANSLATE,)),
        DataSource("tfds:cycle_gan/NAME", "unpaired", "no", "a prepared TFDS cycle_gan set",
                   (TRANSLATE,)),
        DataSource("tfds:div2k/CONFIG", "hr", "no", "a prepared TFDS div2k set (HR with its LR)",
                   (SUPER_RESOLVE,)),
    )
)


def model_names():
    """Every name ``--model`` accepts, in table order (presets first)."""
    return tuple(MODELS)


def get_model(name):
    """The :class:`ModelEntry` called ``name``; ValueError naming the choices otherwise."""
    try:
        return MODELS[name]
    except KeyError:
        raise ValueError(f"unknown model {name!r}; choose one of: {', '.join(MODELS)}") from None


def source_forms(command):
    """The ``--data`` forms ``command`` reads, as text for help: ``"a, b or c"``."""
    forms = [s.form for s in DATA_SOURCES if command in s.commands]
    return forms[0] if len(forms) == 1 else f"{', '.join(forms[:-1])} or {forms[-1]}"


def models_help():
    """One line per model for ``--help`` (name, description, paper, labels)."""
    return "; ".join(
        f"{m.name} ({m.paper}{', labels' if m.needs_labels else ''})" for m in MODELS.values()
    )
