"""Single-image super-resolution: SRResNet / SRGAN training, tiled application, evaluation, export.

Data: whole HR images (``photos``: the embedded photographs, held-out split by image;
``folder:PATH``; ``tfds:div2k/CONFIG``), from which random HR patches with flips and
90-degree rotations are cut and degraded on the fly to LR patches by a named degradation
(:mod:`gan_apps.degradations`, MATLAB bicubic by default; ``dataset`` uses div2k's own
``lr`` images). Two phases as in Ledig et al. 2017: ``srresnet`` on the content loss,
then ``srgan`` fine-tuned from it with ``init_from``.
"""

from __future__ import annotations

import os
import warnings

import keras
import numpy as np
import tensorflow as tf

from gan_apps import commands, degradations, runs
from gan_apps import export as export_lib
from gan_apps import images as image_io
from gan_apps.data import folder as folder_lib
from gan_apps.data import hr_images
from gan_apps.errors import UserInputError
from gan_apps.evaluation.image_quality import psnr, ssim
from gan_apps.models import srresnet

KIND = "super_resolution"
MODELS = ("srresnet", "srgan")
DATASET_DEGRADATION = hr_images.DATASET_DEGRADATION  # div2k's own LR images
# Settings that define the networks and the data; a resumed run must keep them.
ARCHITECTURE_KEYS = (
    "model", "scale", "channels", "blocks", "filters", "batch_norm", "patch_size",
    "degradation", "data", "content", "objective", "adversarial_weight", "batch_size",
)
# The declared defaults (gan_apps.commands), also used when a caller passes None.
DEFAULTS = {key: value for key, value in commands.settings("super-resolve", "train").items()
            if key in ("epochs", "steps", "batch_size", "patch_size", "blocks", "filters",
                       "learning_rate")}
# Tiles of DEFAULT_TILE LR pixels, each run with the network's receptive radius of context
# on every side by default (srresnet.receptive_radius), so tiles join exactly.
DEFAULT_TILE = 128


# --- model --------------------------------------------------------------------------------


def build_model(config, *, jit=False, steps_per_execution=1):
    """The compiled :class:`~gan_apps.models.srresnet.SRGAN` a run config describes
    (:func:`gan_apps.models.srresnet.build_srgan`; the discriminator only for ``srgan``).

    Call it inside the strategy scope :func:`gan_apps.runtime.configure` returns. ``jit``
    compiles the train step with XLA; ``steps_per_execution`` runs that many steps per
    call into the compiled graph. Under mixed_float16 the optimizers get loss scaling.
    """
    return srresnet.build_srgan(
        scale=config["scale"], channels=config["channels"], blocks=config["blocks"],
        filters=config["filters"], batch_norm=config["batch_norm"],
        discriminator_patch=config["patch_size"] if config["model"] == "srgan" else None,
        objective=config["objective"], adversarial_weight=config["adversarial_weight"],
        content=config["content"], vgg_weights=config["vgg_weights"],
        learning_rate=config["learning_rate"], jit_compile=True if jit else "auto",
        steps_per_execution=steps_per_execution,
    )


def _initialise_from(model, init_from, config):
    """Copy a finished SRResNet/SRGAN run's generator weights into ``model.generator``."""
    previous = runs.read_config(init_from, kind=KIND)
    different = [k for k in ("scale", "channels", "blocks", "filters", "batch_norm")
                 if previous.get(k) != config[k]]
    if different:
        raise UserInputError(
            f"--init-from {init_from!r} has a different generator ({', '.join(different)}); "
            "pass the same settings or another run"
        )
    source = runs.load_model(os.path.join(init_from, "generator.keras"), "generator")
    model.generator.set_weights(source.get_weights())


# --- train --------------------------------------------------------------------------------


def train(*, verbose="auto", **options):
    """Train SRResNet (``model="srresnet"``) or SRGAN (``"srgan"``); returns the run folder.

    Args mirror ``gan-apps super-resolve train``. ``epochs`` counts across resumes; each
    epoch is ``steps`` batches of random patches. ``vgg_weights`` switches the content
    loss to VGG54; without it the pixel MSE is used (and said so for SRGAN).

    Runtime (see :mod:`gan_apps.runtime`): ``strategy`` (default / mirrored /
    multiworker / tpu) spreads each batch over devices; ``precision`` (float32 /
    mixed_float16 / mixed_bfloat16) sets the compute dtype, with loss scaling for
    float16; ``jit`` compiles the train step with XLA; ``steps_per_execution`` runs that
    many steps per graph call; ``deterministic`` turns on op determinism. They are
    recorded in ``config.json``; a run may resume with other values, except into or out
    of mixed_float16 (its checkpoint holds loss-scaled optimizers). The run itself is
    :func:`gan_apps.runs.train` of the plan :func:`plan_run` makes.
    """
    # Checked as the CLI checks them: learning_rate=0 is refused, not replaced by the
    # default in run_config.
    options = commands.validate("super-resolve", "train",
                                commands.settings("super-resolve", "train", options))
    plan = plan_run({**options, "verbose": verbose})
    runs.train(plan)
    return plan.out


def plan_run(options):
    """The :class:`~gan_apps.runs.RunPlan` of :func:`train`'s keyword ``options``."""
    scale, model = srresnet.check_scale(options["scale"]), options["model"]
    if model not in MODELS:
        raise UserInputError(f"unknown model {model!r}; pass --model srresnet or srgan")
    source = hr_images.check_source(options["data"])
    hr_images.check_degradation(source, scale, options["degradation"])
    if options["channels"] not in (1, 3):
        raise UserInputError(f"--channels must be 1 or 3, got {options['channels']!r}")
    if model == "srgan" and not options["vgg_weights"]:
        print("no --vgg-weights given: SRGAN uses the pixel MSE content loss, not VGG54")
    config = run_config(options, source)
    runs.check_steps_per_execution(config["steps_per_execution"])
    patch = config["patch_size"]
    if patch % scale:
        raise UserInputError(f"--patch-size {patch} is not a multiple of --scale {scale}; "
                             f"pass e.g. {patch - patch % scale}")
    if patch < 2 * scale:
        raise UserInputError(f"--patch-size must be at least {2 * scale} for x{scale}")

    def load_data():
        return hr_images.usable_images(
            hr_images.load_images(source, split="train", channels=config["channels"],
                                  data_dir=config["data_dir"]),
            scale=scale, patch_size=patch, degradation=config["degradation"],
        )

    def build_feed(_, images):
        # Reseeded per start epoch, so a resumed run draws new patches, reproducibly.
        return runs.Feed(lambda initial_epoch: hr_images.patch_dataset(
            images, scale=scale, patch_size=patch, batch_size=config["batch_size"],
            channels=config["channels"], degradation=config["degradation"],
            seed=(config["seed"], initial_epoch),
        ), config["steps"])

    def after_restore(sr_model, initial_epoch):
        if initial_epoch == 0 and config["init_from"]:
            _initialise_from(sr_model, config["init_from"], config)

    out = options["out"] or os.path.join("runs", f"{model}-x{scale}")
    return runs.RunPlan(
        kind=KIND, out=out, config=config, keys=ARCHITECTURE_KEYS, load_data=load_data,
        build_model=lambda _: build_model(config, jit=config["jit"],
                                          steps_per_execution=config["steps_per_execution"]),
        build_feed=build_feed, after_restore=after_restore,
        export=lambda sr_model: export_generator(sr_model.generator, scale,
                                                 os.path.join(out, "export")),
        verbose=options["verbose"],
    )


def run_config(options, source):
    """config.json of a run: the options with :data:`DEFAULTS` filled in."""
    srgan = options["model"] == "srgan"
    return {
        "kind": KIND, "data": source.text,
        **{key: options[key] for key in (
            "model", "scale", "channels", "degradation", "objective", "vgg_weights",
            "init_from", "seed", "data_dir", "strategy", "precision", "steps_per_execution")},
        **{key: options[key] or DEFAULTS[key] for key in (
            "blocks", "filters", "patch_size", "batch_size", "epochs", "steps",
            "learning_rate")},
        "batch_norm": bool(options["batch_norm"]),
        "adversarial_weight": float(options["adversarial_weight"]) if srgan else 0.0,
        "content": "vgg54" if options["vgg_weights"] else "pixel",
        "jit": bool(options["jit"]), "deterministic": bool(options["deterministic"]),
    }


# --- apply -------------------------------------------------------------------------------


def super_resolve(generator, lr, scale, *, tile=DEFAULT_TILE, overlap=None):
    """Upscale one uint8 LR image [h, w, C] with ``generator`` in overlapping tiles.

    Each ``tile`` x ``tile`` block of the LR image is run with ``overlap`` pixels of
    context on every side and only its centre is kept, so memory stays bounded by the
    tile and, with ``overlap`` at least the network's receptive radius, the result equals
    the whole-image output (no seams).

    Args:
        overlap: LR context per tile side; None reads the receptive radius from the
            generator's residual blocks.

    Returns:
        uint8 [h scale, w scale, C].
    """
    if overlap is None:
        blocks = sum(1 for layer in generator.layers if layer.name.endswith("_add"))
        overlap = srresnet.receptive_radius(scale, blocks)
    if tile < 1 or overlap < 0:
        raise UserInputError(f"--tile must be >= 1 and --overlap >= 0, got {tile}, {overlap}")
    lr = image_io.from_uint8(lr)
    height, width = lr.shape[:2]
    out = np.empty((height * scale, width * scale, lr.shape[2]), np.float32)
    for top in range(0, height, tile):
        for left in range(0, width, tile):
            bottom, right = min(top + tile, height), min(left + tile, width)
            y0, x0 = max(top - overlap, 0), max(left - overlap, 0)
            y1, x1 = min(bottom + overlap, height), min(right + overlap, width)
            sr = np.asarray(generator(lr[None, y0:y1, x0:x1], training=False))[0]
            out[top * scale:bottom * scale, left * scale:right * scale] = sr[
                (top - y0) * scale:(bottom - y0) * scale, (left - x0) * scale:(right - x0) * scale
            ]
    return image_io.to_uint8(out)


# The keys of config.json that apply and export read, and those evaluate reads as well.
APPLY_KEYS = ("scale", "channels")
EVALUATE_KEYS = (*APPLY_KEYS, "model", "data", "degradation", "data_dir")


def load_run(run_dir, required=APPLY_KEYS):
    """A super-resolution run's config (checked to hold ``required``) and its trained
    generator."""
    config = runs.read_config(run_dir, kind=KIND, required=required)
    generator = runs.load_model(os.path.join(run_dir, "generator.keras"), "generator")
    return config, generator


def apply(run_dir, *, input, output, tile=DEFAULT_TILE, overlap=None):
    """Super-resolve an image file or every image in a folder into ``output`` (PNG files).

    Colour images given to a grayscale model become gray (BT.601) and gray images given
    to a colour model are repeated to RGB, with a warning; undecodable files are skipped.

    Returns:
        list of written paths.
    """
    runs.check_output_folder(output)
    config, generator = load_run(run_dir)
    if os.path.isdir(input):
        files, root = folder_lib.list_files(input), input
    elif os.path.isfile(input):
        files, root = [input], os.path.dirname(input)
    else:
        raise UserInputError(f"--input {input!r} does not exist; pass an image file or a folder")
    written, skipped, converted = [], [], 0
    for file in files:
        image = folder_lib.decode_image(file)
        if image is None:
            skipped.append(file)
            continue
        converted += image.shape[-1] != config["channels"]
        lr = hr_images.to_uint8_channels(image, config["channels"])
        hr = super_resolve(generator, lr, config["scale"], tile=tile, overlap=overlap)
        stem = os.path.splitext(os.path.relpath(file, root))[0]
        written.append(image_io.write_png(os.path.join(output, stem + ".png"), hr))
    if not written:
        raise UserInputError(f"no decodable image in {input!r}; pass PNG, JPEG, BMP, TIFF or WebP files")
    if skipped:
        warnings.warn(f"skipped {len(skipped)} undecodable files (first: {skipped[0]})", stacklevel=2)
    if converted:
        kind = "grayscale" if config["channels"] == 1 else "colour"
        warnings.warn(f"converted {converted} images to {kind} for this {kind} model", stacklevel=2)
    return written


# --- evaluate -------------------------------------------------------------------------------

BASELINES = {"bicubic": "cubic", "lanczos3": "lanczos3"}


def evaluate_images(upscalers, images, *, scale, degradation):
    """Mean Y-channel PSNR/SSIM (border ``scale``) of each upscaler on HR images.

    Args:
        upscalers: dict name -> ``uint8 LR -> uint8 SR``.
        images: list of (name, hr uint8, dataset lr or None).
        degradation: how LR is made from the modcropped HR (or ``dataset``).

    Returns:
        dict name -> {"psnr", "ssim"}, plus "images".
    """
    degrade = None if degradation == DATASET_DEGRADATION else degradations.get(degradation)
    scores = {name: {"psnr": [], "ssim": []} for name in upscalers}
    for _, hr, lr in images:
        hr = degradations.modcrop(hr, scale)
        lr = lr[:hr.shape[0] // scale, :hr.shape[1] // scale] if degrade is None else degrade(hr, scale)
        for name, upscale in upscalers.items():
            sr = upscale(lr)
            scores[name]["psnr"].append(psnr(sr, hr, border=scale))
            scores[name]["ssim"].append(ssim(sr, hr, border=scale))
    results = {name: {k: float(np.mean(v)) for k, v in s.items()} for name, s in scores.items()}
    results["images"] = len(images)
    return results


def baseline_upscalers(scale):
    """MATLAB-imresize bicubic and Lanczos-3 upscaling by ``scale``."""
    return {name: (lambda lr, k=kernel: degradations.upscale(lr, scale, k))
            for name, kernel in BASELINES.items()}


def evaluate(run_dir, *, data=None, data_dir=None, max_images=None, tile=DEFAULT_TILE,
             overlap=None):
    """PSNR/SSIM (Y, border = scale) of a run's generator and of bicubic on held-out images.

    Writes ``metrics.json`` in the run folder and returns the dict.
    """
    config, generator = load_run(run_dir, EVALUATE_KEYS)
    data = data or config["data"]
    scale = config["scale"]
    degradation = config["degradation"]
    source = hr_images.check_source(data)
    if degradation == DATASET_DEGRADATION and source.kind != "tfds":
        degradation = degradations.DEFAULT_DEGRADATION
    images = hr_images.load_images(source, split="test", channels=config["channels"],
                                   data_dir=data_dir or config["data_dir"],
                                   max_images=max_images)
    images = [item for item in images if min(item[1].shape[:2]) >= 11 * scale + 2 * scale]
    if not images:
        raise UserInputError(f"the images of {data!r} are too small to evaluate at x{scale}; pass larger ones")
    upscalers = {
        config["model"]: lambda lr: super_resolve(generator, lr, scale, tile=tile, overlap=overlap),
        "bicubic": baseline_upscalers(scale)["bicubic"],
    }
    results = {"data": data, "scale": scale, "degradation": degradation,
               **evaluate_images(upscalers, images, scale=scale, degradation=degradation)}
    runs.write_json(os.path.join(run_dir, "metrics.json"), results)
    return results


# --- export ---------------------------------------------------------------------------------


def export_generator(generator, scale, export_dir):
    """SavedModel with ``serving_default``: ``lr`` uint8 [B, h, w, C] -> ``hr`` uint8 [B, h s, w s, C]."""
    channels = generator.inputs[0].shape[-1]

    @tf.function(input_signature=[tf.TensorSpec([None, None, None, channels], tf.uint8, name="lr")])
    def serve(lr):
        lr = export_lib.checked_input(lr, [None, None, None, channels], "lr")
        sr = generator(image_io.from_uint8(lr), training=False)
        return {"hr": image_io.to_uint8(sr)}

    archive = keras.export.ExportArchive()
    archive.track(generator)
    archive.add_endpoint("serving_default", serve)
    return export_lib.write_atomically(archive, export_dir)


def export(run_dir, *, output=None):
    """Export a finished run's generator as a SavedModel; returns the export folder."""
    config, generator = load_run(run_dir)
    return export_generator(generator, config["scale"], output or os.path.join(run_dir, "export"))
