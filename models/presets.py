"""Presets: the papers' objective, architecture and hyper-parameters in one name.

Each preset picks an objective, the discriminator's normalization, critic updates per
generator update, penalties and optimizers as published:

- ``dcgan``: non-saturating GAN, batch norm, Adam(2e-4, beta1 0.5) (Radford et al. 2016, Sec. 4).
- ``lsgan``: least squares with the 0-1 coding (a, b, c) = (0, 1, 1) or ``coding="pearson"``
  (-1, 1, 0), DCGAN networks, Adam(2e-4, beta1 0.5) (Mao et al. 2017, eq. 9 and 10).
- ``fgan``: f-GAN with a chosen divergence, Adam(2e-4, beta1 0.5) (Nowozin et al. 2016).
- ``wgan``: Wasserstein critic, weight clipping at 0.01, 5 critic steps, RMSProp(5e-5)
  (Arjovsky et al. 2017, Algorithm 1 defaults) with the reference code's PyTorch RMSprop
  settings (rho 0.99, eps 1e-8 outside the sqrt: :func:`reference_rmsprop`).
- ``wgan_gp``: Wasserstein critic, gradient penalty lambda 10, 5 critic steps,
  Adam(1e-4, betas (0, 0.9)), layer norm instead of batch norm in the critic
  (Gulrajani et al. 2017, Algorithm 1 defaults and Sec. 4).
- ``sngan``: hinge loss, spectrally normalized discriminator, Adam(2e-4, betas (0.5, 0.999)),
  one critic step (Miyato et al. 2018, eq. 16-17 and setting C of their Table 1).
"""

from __future__ import annotations

import dataclasses
import importlib
import inspect
from typing import Callable

import keras

from gan_apps import augment as augment_lib
from gan_apps import penalties, registry
from gan_apps.errors import UserInputError
from gan_apps.gan import GAN
from gan_apps.models.dcgan import dcgan_discriminator, dcgan_generator
from gan_apps.models.mlp import mlp_discriminator, mlp_generator
from gan_apps.models.resnet import resnet_discriminator, resnet_generator

ARCHITECTURES = {
    "dcgan": (dcgan_generator, dcgan_discriminator),
    "resnet": (resnet_generator, resnet_discriminator),
}


def _adam(learning_rate, beta_1, beta_2=0.999):
    return lambda: keras.optimizers.Adam(learning_rate, beta_1=beta_1, beta_2=beta_2)


# PyTorch's torch.optim.RMSprop defaults, which the WGAN (martinarjovsky/WassersteinGAN) and
# MMD-GAN (OctoberChang/MMD-GAN) reference codes use: alpha 0.99, eps 1e-8 added OUTSIDE the
# square root, p -= lr g / (sqrt(v) + eps). Keras adds its epsilon INSIDE, lr g / sqrt(v + eps),
# so eps_keras = eps_torch^2 = 1e-16 gives the same step wherever sqrt(v) >> 1e-8 (relative
# difference ~ 1e-8 / sqrt(v); 1e-7 at the first step of a unit gradient). Keras' own
# defaults (rho 0.9, epsilon 1e-7) would make that first step 3.2x smaller.
RMSPROP_RHO = 0.99
RMSPROP_EPSILON = 1e-16  # (1e-8)^2 inside the sqrt ~ 1e-8 outside


def reference_rmsprop(learning_rate):
    """RMSprop with PyTorch's defaults (rho 0.99, eps 1e-8 outside the sqrt, see
    :data:`RMSPROP_EPSILON`), as the WGAN and MMD-GAN reference codes (lr 5e-5 in both)."""
    return keras.optimizers.RMSprop(learning_rate, rho=RMSPROP_RHO, epsilon=RMSPROP_EPSILON)


@dataclasses.dataclass(frozen=True)
class Preset:
    """A published training recipe."""

    name: str
    objective: str
    make_optimizer: Callable[[], keras.optimizers.Optimizer]
    d_norm: str = "batch"
    n_critic: int = 1
    make_penalties: Callable[[], list] = list
    description: str = ""


PRESETS = {
    p.name: p
    for p in (
        Preset("dcgan", "non_saturating", _adam(2e-4, 0.5),
               description="DCGAN, non-saturating loss (Radford et al. 2016)"),
        Preset("lsgan", "least_squares", _adam(2e-4, 0.5),
               description="least-squares GAN (Mao et al. 2017)"),
        Preset("fgan", "f:js", _adam(2e-4, 0.5),
               description="f-GAN, divergence chosen with --divergence (Nowozin et al. 2016)"),
        Preset("wgan", "wasserstein", lambda: reference_rmsprop(5e-5),
               n_critic=5, make_penalties=lambda: [penalties.WeightClipping(0.01)],
               description="WGAN with weight clipping (Arjovsky et al. 2017)"),
        Preset("wgan_gp", "wasserstein", _adam(1e-4, 0.0, 0.9), d_norm="layer",
               n_critic=5, make_penalties=lambda: [penalties.GradientPenalty(10.0)],
               description="WGAN-GP (Gulrajani et al. 2017)"),
        Preset("sngan", "hinge", _adam(2e-4, 0.5), d_norm="spectral",
               description="SN-GAN, hinge loss (Miyato et al. 2018)"),
    )
}


def get_preset(name):
    """The registry entry (:class:`gan_apps.registry.ModelEntry`) of model ``name``; a
    one-line UserInputError naming the choices when there is none."""
    try:
        return registry.get_model(name)
    except ValueError as err:
        raise UserInputError(str(err)) from None


def build_model(name, *, data_kind="image", arch="dcgan", resolution=32, channels=1,
                num_classes=None, latent_dim=None, width=64, objective=None, divergence=None,
                coding=None, ortho_reg=0.0, seed=None, jit_compile="auto", steps_per_execution=1,
                pack=1, augment=None, g_lr=None, d_lr=None, zero_gp=0.0, n_critic=None,
                gp_weight=None, clip_value=None, unroll_steps=None, unroll_order=None,
                phase_images=None):
    """Build and compile any model of the family by name (a preset, or a family member by
    the builder its :mod:`gan_apps.registry` entry names).

    ``pack`` (PacGAN) builds a preset's discriminator for packs of that many examples;
    ``augment`` (a DiffAugment policy) applies to every model whose adversarial steps are
    :class:`GAN`'s (:meth:`GAN.check_views` refuses the others in one line).

    ``ortho_reg`` > 0 adds BigGAN's off-diagonal orthogonal regularization of the generator
    with that weight (Brock et al. 2019, Sec. 3.1, eq. 3; their beta is 1e-4).

    ``zero_gp`` > 0 adds a zero-centred gradient penalty of that weight, on interpolates of
    real and fake examples, to the discriminator's loss (Thanh-Tung et al. 2019, "Improving
    generalization and stability of GANs", Sec. 5; the 2-D mixtures' recipes of
    :data:`gan_apps.registry.POINTS_RECIPES` use it), for any model with a discriminator.

    ``g_lr`` and ``d_lr`` replace the learning rates of the generator's and the
    discriminator's optimizers (None keeps the recipe's), for any model with both.

    ``n_critic`` replaces the number of discriminator updates per generator update (None keeps
    the paper's: 5 for wgan, wgan_gp, cgan and mmdgan, 2 for biggan, else 1), for any model
    whose steps are :class:`GAN`'s; each critic update takes its own minibatch (Arjovsky et al.
    2017, Algorithm 1), so the pipeline feeds ``n_critic`` minibatches a step.

    ``gp_weight`` replaces the weight of the model's own (1-centred) gradient penalty,
    WGAN-GP's lambda (Gulrajani et al. 2017, Algorithm 1: 10; their toy-data code,
    igul222/improved_wgan_training ``gan_toy.py``, uses 0.1), for any model that has one; the
    zero-centred penalty of ``zero_gp`` keeps its own weight.

    ``clip_value`` replaces c of the critic's weight clipping (Arjovsky et al. 2017,
    Algorithm 1: 0.01; MMD-GAN's encoder is clipped alike), for any model that clips.

    ``phase_images`` replaces the length of ProGAN's phases, the real images over which a new
    block fades in and then the images it is stabilised for (Karras et al. 2018, Sec. 3 and
    Appendix A.1: 800k each; our builder's default 8k); ``--model progan`` only.

    ``unroll_steps`` replaces the unrolled GAN's K, the discriminator updates its generator
    looks ahead through (None keeps the paper's 5; Metz et al. 2017, Sec. 2.2), and
    ``unroll_order`` whether its generator's gradient flows through those updates
    (``"second"``, the paper's, eq. 6) or treats the unrolled weights as constants
    (``"first"``: the look-ahead alone, without the term Sec. 2.3 credits with countering
    mode collapse); both refused for every other model.
    """
    model = _build_model(name, data_kind=data_kind, arch=arch, resolution=resolution,
                         channels=channels, num_classes=num_classes, latent_dim=latent_dim,
                         width=width, objective=objective, divergence=divergence, coding=coding,
                         ortho_reg=ortho_reg, seed=seed, jit_compile=jit_compile,
                         steps_per_execution=steps_per_execution, pack=pack, augment=augment,
                         zero_gp=zero_gp, unroll_steps=unroll_steps, unroll_order=unroll_order,
                         phase_images=phase_images)
    for flag, attribute, value in (("--g-lr", "g_optimizer", g_lr), ("--d-lr", "d_optimizer", d_lr)):
        if value is None:
            continue
        optimizer = getattr(model, attribute, None)
        if optimizer is None:
            raise UserInputError(f"{flag} is not available for --model {name}: it has no "
                                 f"{attribute.replace('_', ' ')}")
        getattr(optimizer, "inner_optimizer", optimizer).learning_rate = float(value)
    if n_critic is not None:
        if not isinstance(model, GAN):
            raise UserInputError(f"--n-critic is not available for --model {name}: it has no "
                                 "discriminator")
        if int(n_critic) < 1:
            raise UserInputError(f"--n-critic must be >= 1, got {n_critic}")
        model.n_critic = int(n_critic)
    if gp_weight is not None:
        _set_penalties(model, name, "--gp-weight", gp_weight, "weight",
                       lambda p: isinstance(p, penalties.GradientPenalty) and p.target == 1.0,
                       "it has no gradient penalty of its own (wgan_gp has)")
    if clip_value is not None:
        _set_penalties(model, name, "--clip-value", clip_value, "clip_value",
                       lambda p: isinstance(p, penalties.WeightClipping),
                       "its critic's weights are not clipped (wgan's and mmdgan's are)")
    return model


def _set_penalties(model, name, flag, value, attribute, selects, missing):
    """Set ``attribute`` of the model's penalties that ``selects`` picks to ``value`` (> 0),
    for ``flag`` of ``--model name``; one-line errors when it has none (``missing`` says
    why) or the value is not positive."""
    chosen = [p for p in getattr(model, "penalties", ()) if selects(p)]
    if not chosen:
        raise UserInputError(f"{flag} is not available for --model {name}: {missing}")
    if not value > 0:
        raise UserInputError(f"{flag} must be > 0, got {value}")
    for penalty in chosen:
        setattr(penalty, attribute, float(value))


def _builder(entry):
    """The build function a family member's registry entry names (``module:function``)."""
    module, function = entry.builder.split(":")
    return getattr(importlib.import_module(f"gan_apps.models.{module}"), function)


def _build_model(name, *, data_kind, arch, resolution, channels, num_classes, latent_dim, width,
                 objective, divergence, coding, ortho_reg, seed, jit_compile,
                 steps_per_execution, pack, augment, zero_gp=0.0, unroll_steps=None,
                 unroll_order=None, phase_images=None):
    extra = []
    if zero_gp:
        if zero_gp < 0:
            raise UserInputError(f"--zero-gp must be >= 0, got {zero_gp}")
        extra.append(penalties.GradientPenalty(zero_gp, target=0.0))
    if ortho_reg:
        if ortho_reg < 0:
            raise UserInputError(f"--ortho-reg must be >= 0, got {ortho_reg}")
        extra.append(penalties.OrthogonalRegularization(ortho_reg, off_diagonal=True, on="generator"))
    entry = get_preset(name)
    # The keyword options a family member's builder takes (none for a preset: build_gan).
    builder = None if entry.kind == "preset" else _builder(entry)
    parameters = inspect.signature(builder).parameters if builder else {}
    for flag, value in (("--unroll-steps", unroll_steps), ("--unroll-order", unroll_order)):
        if value is not None and "unroll_steps" not in parameters:
            raise UserInputError(f"{flag} is not available for --model {name}: only "
                                 "--model unrolled looks ahead through discriminator updates")
    if phase_images is not None and "fade_images" not in parameters:
        raise UserInputError(f"--phase-images is not available for --model {name}: only "
                             "--model progan grows in phases")
    if unroll_order not in (None, *registry.UNROLL_ORDERS):
        raise UserInputError(f"--unroll-order must be one of {', '.join(registry.UNROLL_ORDERS)}, "
                             f"got {unroll_order!r}")
    if entry.kind == "preset":
        return build_gan(
            name, data_kind=data_kind, arch=arch, resolution=resolution, channels=channels,
            latent_dim=latent_dim, width=width, objective=objective, divergence=divergence,
            coding=coding, seed=seed, jit_compile=jit_compile, extra_penalties=extra,
            steps_per_execution=steps_per_execution, pack=pack, augment=augment,
        )
    for flag, value in (("--divergence", divergence), ("--coding", coding)):
        if value is not None:
            raise UserInputError(f"{flag} does not apply to --model {name}")
    if arch != "dcgan":
        raise UserInputError(f"--model {name} has its own networks; drop --arch {arch}")
    if int(pack or 1) > 1:
        raise UserInputError(f"--pack is available for the presets "
                             f"({', '.join(PRESETS)}), not --model {name}")
    options = {}
    if steps_per_execution != 1:
        if "steps_per_execution" not in parameters:
            raise UserInputError(f"--steps-per-execution is not available for --model {name}")
        options["steps_per_execution"] = steps_per_execution
    if extra:
        if "extra_penalties" not in parameters:
            flags = " and ".join(flag for flag, value in (("--ortho-reg", ortho_reg),
                                                         ("--zero-gp", zero_gp)) if value)
            raise UserInputError(f"{flags} is not available for --model {name}")
        options["extra_penalties"] = extra
    if unroll_steps is not None:
        options["unroll_steps"] = unroll_steps
    if unroll_order is not None:
        options["second_order"] = unroll_order == "second"
    if phase_images is not None:
        options["fade_images"] = options["stabilize_images"] = int(phase_images)
    model = builder(
        data_kind=data_kind, resolution=resolution, channels=channels, num_classes=num_classes,
        latent_dim=latent_dim, width=width, objective=objective, seed=seed,
        jit_compile=jit_compile, **options,
    )
    if augment:
        if not isinstance(model, GAN):
            raise UserInputError(f"--augment is not available for --model {name}: it has no "
                                 "discriminator")
        model.augment_policy = augment_lib.parse_policy(augment)
        model.check_views()
    return model


def build_gan(
    preset,
    *,
    data_kind="image",
    arch="dcgan",
    resolution=32,
    channels=1,
    latent_dim=None,
    width=64,
    objective=None,
    divergence=None,
    coding=None,
    seed=None,
    jit_compile="auto",
    extra_penalties=(),
    steps_per_execution=1,
    pack=1,
    augment=None,
):
    """Build and compile a :class:`GAN` from a preset.

    Args:
        preset: a name in :data:`PRESETS`.
        data_kind: ``"image"`` (convolutional networks) or ``"points"`` (2-D MLPs).
        arch: image architecture, ``"dcgan"`` or ``"resnet"`` (SN-GAN / WGAN-GP style).
        resolution, channels: image shape for ``"image"`` data.
        latent_dim: size of z (default 100 for images as in DCGAN, 2 for points).
        width: network width (filters of the widest-resolution layer; hidden units for points).
        objective: override the preset's objective (any name of gan_apps.objectives).
        divergence: the f-divergence for ``fgan`` (kl, reverse_kl, pearson, hellinger,
            js, gan, total_variation).
        coding: least-squares coding (``"binary"``, ``"pearson"`` or (a, b, c)).
        seed: seeds weight initialisation and the model's noise.
        jit_compile: passed to ``compile``; ``True`` forces XLA (``"auto"`` is off on CPU).
        extra_penalties: penalties added to the preset's (for example orthogonal regularization).
        pack: PacGAN's k (Lin et al. 2018): the discriminator takes k examples concatenated
            along the channels (k x channels for images, 2 k inputs for points).
        augment: a DiffAugment policy for the discriminator's input (:mod:`gan_apps.augment`).
    """
    if preset not in PRESETS:
        raise UserInputError(f"unknown model {preset!r}; the presets are {', '.join(PRESETS)}")
    spec = PRESETS[preset]
    if divergence is not None and spec.name != "fgan":
        raise UserInputError("--divergence only applies to --model fgan")
    if coding is not None and (objective or spec.objective) != "least_squares":
        raise UserInputError("--coding only applies to the least_squares objective (lsgan)")
    chosen = objective or (f"f:{divergence}" if divergence else spec.objective)
    options = {"coding": coding} if coding is not None else {}
    if data_kind == "points":
        latent_dim = latent_dim or 2
        hidden = (width,) * 3
        generator = mlp_generator(latent_dim, output_dim=2, hidden=hidden, seed=seed)
        norm = "spectral" if spec.d_norm == "spectral" else "none"
        discriminator = mlp_discriminator(2 * int(pack), hidden=hidden, norm=norm, seed=seed)
    elif data_kind == "image":
        latent_dim = latent_dim or 100
        if arch not in ARCHITECTURES:
            raise UserInputError(f"unknown architecture {arch!r}; choose one of: {', '.join(ARCHITECTURES)}")
        make_generator, make_discriminator = ARCHITECTURES[arch]
        generator = make_generator(latent_dim, resolution, channels, width=width, seed=seed)
        discriminator = make_discriminator(
            resolution, channels * int(pack), width=width, norm=spec.d_norm, seed=seed
        )
    else:
        raise ValueError(f"unknown data kind {data_kind!r}")
    gan = GAN(
        generator,
        discriminator,
        latent_dim=latent_dim,
        objective=chosen,
        objective_options=options,
        n_critic=spec.n_critic,
        penalties=[*spec.make_penalties(), *extra_penalties],
        seed=seed,
        name=spec.name,
        pack=pack,
        augment=augment,
    )
    gan.compile(
        g_optimizer=spec.make_optimizer(),
        d_optimizer=spec.make_optimizer(),
        jit_compile=jit_compile,
        steps_per_execution=steps_per_execution,
    )
    return gan
