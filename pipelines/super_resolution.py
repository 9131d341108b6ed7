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

from gan_apps import commands, degradations, runs, runtime
from gan_apps import export as export_lib
from gan_apps import images as image_io
from gan_apps.data import folder as folder_lib
from gan_apps.data import hr_images
from gan_apps.errors import UserInputError
from gan_apps.evaluation.image_quality import psnr, rgb_to_y, ssim
from gan_apps.models import srresnet

KIND = "super_resolution"
MODELS = ("srresnet", "srgan")
DATASET_DEGRADATION = hr_images.DATASET_DEGRADATION  # div2k's own LR images
# Settings that define the networks and the data; a resumed run must keep them.
ARCHITECTURE_KEYS = (
    "model", "scale", "channels", "network", "blocks", "filters", "batch_norm", "patch_size",
    "degradation", "data", "content", "loss", "objective", "adversarial_weight", "batch_size",
)
# Recipes (--preset); an option given explicitly overrides its preset value.
# - cpu (default): the bicubic-residual network (gan_apps.models.srresnet.residual_generator),
#   L1 loss, Adam 1e-3 with cosine decay, 10 x 200 steps of 16 patches (32 LR px at x2,
#   24 at x4): minutes on 2 CPU cores, above bicubic from the first epoch.
# - paper: SRResNet as Ledig et al. 2017 train it (16 blocks of 64 with BN, MSE, Adam 1e-4
#   constant, 96-px HR patches, batch 16). The paper runs 10^6 updates; --epochs/--steps
#   set the length.
PRESETS = {
    "cpu": {"network": "residual", "blocks": 8, "filters": 32, "loss": "l1",
            "learning_rate": 1e-3, "lr_schedule": "cosine", "batch_size": 16,
            "epochs": 10, "steps": 200},
    "paper": {"network": "srresnet", "blocks": 16, "filters": 64, "loss": "mse",
              "learning_rate": 1e-4, "lr_schedule": "constant", "batch_size": 16,
              "epochs": 10, "steps": 100, "patch_size": 96},
}
CPU_PATCH_SIZE = {2: 64, 3: 96, 4: 96}  # HR patch of the cpu preset per scale
# SRGAN fine-tunes its generator at the paper's 1e-4 (Ledig et al. 2017, Sec. 3.2), constant,
# whatever the preset; a higher rate first undoes the pre-trained content fidelity.
SRGAN_SETTINGS = {"learning_rate": 1e-4, "lr_schedule": "constant", "epochs": 5}
LR_SCHEDULES = ("cosine", "constant")
# Tiles of DEFAULT_TILE LR pixels, each run with the network's receptive radius of context
# on every side by default (srresnet.generator_radius), so tiles join exactly.
DEFAULT_TILE = 128


def preset_settings(preset, scale, model="srresnet"):
    """The settings ``preset`` gives at ``scale`` (:data:`PRESETS`), SRGAN's fine-tuning
    rate and length for ``model="srgan"``."""
    if preset not in PRESETS:
        raise UserInputError(f"unknown --preset {preset!r}; choose from {', '.join(PRESETS)}")
    values = {"patch_size": CPU_PATCH_SIZE[scale], **PRESETS[preset]}
    return {**values, **SRGAN_SETTINGS} if model == "srgan" else values


# --- model --------------------------------------------------------------------------------


def build_model(config, *, jit=False, steps_per_execution=1):
    """The compiled :class:`~gan_apps.models.srresnet.SRGAN` a run config describes
    (:func:`gan_apps.models.srresnet.build_srgan`; the discriminator only for ``srgan``).

    Call it inside the strategy scope :func:`gan_apps.runtime.configure` returns. ``jit``
    compiles the train step with XLA; ``steps_per_execution`` runs that many steps per
    call into the compiled graph. Under mixed_float16 the optimizers get loss scaling.
    With the cosine schedule the rate decays to 0 over ``epochs x steps``.
    """
    cosine = config.get("lr_schedule", "constant") == "cosine"
    return srresnet.build_srgan(
        scale=config["scale"], channels=config["channels"], blocks=config["blocks"],
        filters=config["filters"], batch_norm=config["batch_norm"],
        network=config.get("network", "srresnet"),
        discriminator_patch=config["patch_size"] if config["model"] == "srgan" else None,
        objective=config["objective"], adversarial_weight=config["adversarial_weight"],
        content=config["content"], vgg_weights=config["vgg_weights"],
        pixel_loss=config.get("loss", "mse"), learning_rate=config["learning_rate"],
        decay_steps=config["epochs"] * config["steps"] if cosine else None,
        jit_compile=runtime.jit_compile(jit), steps_per_execution=steps_per_execution,
    )


GENERATOR_KEYS = ("scale", "channels", "network", "blocks", "filters", "batch_norm")


def _initialise_from(model, init_from, config):
    """Copy a finished SRResNet/SRGAN run's generator weights into ``model.generator``."""
    previous = runs.read_config(init_from, kind=KIND)
    previous.setdefault("network", "srresnet")
    different = [k for k in GENERATOR_KEYS if previous.get(k) != config[k]]
    if different:
        raise UserInputError(
            f"--init-from {init_from!r} has a different generator ({', '.join(different)}); "
            "pass the same settings or another run"
        )
    source = runs.load_model(os.path.join(init_from, "generator.keras"), "generator")
    model.generator.set_weights(source.get_weights())


def estimate_step_seconds(model, config):
    """Median seconds of one training step's forward and backward passes, measured on a
    random batch without touching the model's weights (for the time estimate)."""
    scale, patch = config["scale"], config["patch_size"]
    lr = tf.random.uniform((config["batch_size"], patch // scale, patch // scale,
                            config["channels"]), -1.0, 1.0)
    hr = tf.random.uniform((config["batch_size"], patch, patch, config["channels"]), -1.0, 1.0)
    networks = [model.generator] + ([model.discriminator] if model.discriminator else [])
    variables = [v for network in networks for v in network.trainable_variables]

    @tf.function
    def step():
        with tf.GradientTape() as tape:
            sr = model.generator(lr, training=True)
            loss = model.content_loss(hr, sr)
            if model.discriminator is not None:
                loss += tf.reduce_mean(model.discriminator(sr, training=True))
                loss += tf.reduce_mean(model.discriminator(hr, training=True))
        return tape.gradient(loss, variables)

    return runs.time_step(lambda: [g.numpy() for g in step() if g is not None])


# --- train --------------------------------------------------------------------------------


def train(*, verbose="auto", **options):
    """Train the SR generator (``model="srresnet"``) or SRGAN (``"srgan"``); returns the run folder.

    Args mirror ``gan-apps super-resolve train``. ``preset`` (``cpu`` or ``paper``,
    :data:`PRESETS`) fills every size, loss and rate not given; ``epochs`` counts across
    resumes; each epoch is ``steps`` batches of random patches. ``vgg_weights`` switches
    the content loss to VGG54; without it the pixel loss is used (and said so for SRGAN).
    Before training it prints a time estimate measured on this machine.

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
        print("no --vgg-weights given: SRGAN uses the pixel content loss, not VGG54")
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
        remaining = (config["epochs"] - initial_epoch) * config["steps"]
        if remaining > 0:
            runs.print_estimate(estimate_step_seconds(sr_model, config), remaining)

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
    """config.json of a run: the options, with the preset's values where none was given."""
    srgan = options["model"] == "srgan"
    preset = preset_settings(options["preset"], options["scale"], options["model"])
    given = {key: options[key] if options[key] is not None else preset[key] for key in (
        "network", "blocks", "filters", "loss", "patch_size", "batch_size", "epochs", "steps",
        "learning_rate", "lr_schedule")}
    if given["lr_schedule"] not in LR_SCHEDULES:
        raise UserInputError(f"unknown --lr-schedule {given['lr_schedule']!r}; choose from "
                             f"{', '.join(LR_SCHEDULES)}")
    return {
        "kind": KIND, "data": source.text,
        **{key: options[key] for key in (
            "model", "scale", "channels", "degradation", "objective", "vgg_weights",
            "init_from", "seed", "data_dir", "strategy", "precision", "steps_per_execution",
            "preset")},
        **given,
        # BN is SRResNet's (the paper's form); the residual network has none.
        "batch_norm": bool(options["batch_norm"]) and given["network"] == "srresnet",
        "adversarial_weight": float(options["adversarial_weight"]) if srgan else 0.0,
        "content": "vgg54" if options["vgg_weights"] else "pixel",
        "jit": options["jit"], "deterministic": bool(options["deterministic"]),
    }


# --- apply -------------------------------------------------------------------------------


def _dihedral(image, k):
    """The ``k``-th of the 8 flips / 90-degree rotations of an [H, W, C] image."""
    image = np.rot90(image, k % 4)
    return image[:, ::-1] if k >= 4 else image


def _undo_dihedral(image, k):
    image = image[:, ::-1] if k >= 4 else image
    return np.rot90(image, -(k % 4))


def super_resolve(generator, lr, scale, *, tile=DEFAULT_TILE, overlap=None, self_ensemble=False):
    """Upscale one uint8 LR image [h, w, C] with ``generator`` in overlapping tiles.

    With ``self_ensemble`` the image is upscaled under each of the 8 flips / 90-degree
    rotations, mapped back and averaged (the geometric self-ensemble of EDSR+, Lim et
    al. 2017, Sec. 3.4): 8x the time, usually a tenth of a dB or two more.
    """
    if self_ensemble:
        total = None
        for k in range(8):
            out = _undo_dihedral(super_resolve(generator, np.ascontiguousarray(_dihedral(lr, k)),
                                               scale, tile=tile, overlap=overlap), k)
            total = out.astype(np.uint16) if total is None else total + out
        return ((total + 4) // 8).astype(np.uint8)
    return _super_resolve(generator, lr, scale, tile=tile, overlap=overlap)


def _super_resolve(generator, lr, scale, *, tile=DEFAULT_TILE, overlap=None):
    """Upscale one uint8 LR image [h, w, C] with ``generator`` in overlapping tiles.

    Each ``tile`` x ``tile`` block of the LR image is run with ``overlap`` pixels of
    context on every side and only its centre is kept, so memory stays bounded by the
    tile (plus the uint8 input and output) and, with ``overlap`` at least the network's
    receptive radius, the result equals the whole-image output (no seams). Images under 3
    pixels on a side are mirrored up to 3 first (the bicubic branch mirrors 2 pixels) and
    the result cropped back.

    Args:
        overlap: LR context per tile side; None reads the receptive radius from the
            generator's layers (:func:`gan_apps.models.srresnet.generator_radius`).

    Returns:
        uint8 [h scale, w scale, C].
    """
    if overlap is None:
        overlap = srresnet.generator_radius(generator)
    if tile < 1 or overlap < 0:
        raise UserInputError(f"--tile must be >= 1 and --overlap >= 0, got {tile}, {overlap}")
    lr = np.asarray(lr)
    height, width = lr.shape[:2]
    if min(height, width) < 3:
        padded = np.pad(lr, ((0, max(3 - height, 0)), (0, max(3 - width, 0)), (0, 0)), "symmetric")
        return _super_resolve(generator, padded, scale, tile=tile,
                              overlap=overlap)[:height * scale, :width * scale]
    out = np.empty((height * scale, width * scale, lr.shape[2]), np.uint8)
    for top in range(0, height, tile):
        for left in range(0, width, tile):
            bottom, right = min(top + tile, height), min(left + tile, width)
            y0, x0 = max(top - overlap, 0), max(left - overlap, 0)
            y1, x1 = min(bottom + overlap, height), min(right + overlap, width)
            # A tile narrower than 3 px (an image edge) takes more context for the mirror.
            y0, x0 = min(y0, max(y1 - 3, 0)), min(x0, max(x1 - 3, 0))
            sr = generator(image_io.from_uint8(lr[None, y0:y1, x0:x1]), training=False)
            sr = image_io.to_uint8(np.asarray(sr)[0])
            out[top * scale:bottom * scale, left * scale:right * scale] = sr[
                (top - y0) * scale:(bottom - y0) * scale, (left - x0) * scale:(right - x0) * scale
            ]
    return out


# The keys of config.json that apply and export read, and those evaluate reads as well.
APPLY_KEYS = ("scale", "channels")
EVALUATE_KEYS = (*APPLY_KEYS, "model", "data", "degradation", "data_dir")
# Weights shipped in the package (tools/train_pretrained_sr.py): name -> file.
PRETRAINED = {"x2": "sr_x2.keras", "x4": "sr_x4.keras"}
PRETRAINED_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "weights")


def pretrained_path(name):
    """The file of the shipped generator ``name`` (``x2`` or ``x4``)."""
    if name not in PRETRAINED:
        raise UserInputError(f"no pretrained super-resolution model {name!r}; choose from "
                             f"{', '.join(PRETRAINED)}")
    return os.path.join(PRETRAINED_DIR, PRETRAINED[name])


def load_pretrained(name):
    """The shipped generator ``name`` (``"x2"`` or ``"x4"``) as a Keras model, uint8-free:
    ``[B, h, w, 3]`` in [-1, 1] -> ``[B, h s, w s, 3]``. Trained on the embedded photos by
    ``tools/train_pretrained_sr.py`` (scores in ``docs/benchmarks.md``)."""
    return runs.load_model(pretrained_path(name), "pretrained generator")


def pretrained_config(name):
    """The config of a shipped generator: what :func:`load_run` reads from a run folder."""
    pretrained_path(name)
    return {"kind": KIND, "scale": int(name[1:]), "channels": 3, "model": f"pretrained {name}",
            "data": "photos", "degradation": degradations.DEFAULT_DEGRADATION, "data_dir": None}


def load_run(run_dir, required=APPLY_KEYS, pretrained=None):
    """A super-resolution run's config (checked to hold ``required``) and its trained
    generator, or with ``pretrained`` (``x2``/``x4``) a shipped generator and its config."""
    if pretrained and run_dir:
        raise UserInputError("pass a run folder or --pretrained, not both")
    if pretrained:
        return pretrained_config(pretrained), load_pretrained(pretrained)
    if not run_dir:
        raise UserInputError("pass a run folder or --pretrained x2 / x4")
    config = runs.read_config(run_dir, kind=KIND, required=required)
    generator = runs.load_model(os.path.join(run_dir, "generator.keras"), "generator")
    return config, generator


def apply(run_dir=None, *, input, output, tile=DEFAULT_TILE, overlap=None, pretrained=None,
          self_ensemble=False):
    """Super-resolve an image file or every image in a folder into ``output`` (PNG files).

    ``run_dir`` is a training run; ``pretrained`` (``x2`` / ``x4``) uses a shipped
    generator instead; ``self_ensemble`` averages the 8 flipped / rotated passes
    (:func:`super_resolve`). Colour images given to a grayscale model become gray (BT.601)
    and gray images given to a colour model are repeated to RGB, with a warning;
    undecodable files are skipped. Memory: the uint8 input and output plus one tile at a
    time (and a uint16 sum with ``self_ensemble``).

    Returns:
        list of written paths.
    """
    runs.check_output_folder(output)
    config, generator = load_run(run_dir, pretrained=pretrained)
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
        del image
        hr = super_resolve(generator, lr, config["scale"], tile=tile, overlap=overlap,
                           self_ensemble=self_ensemble)
        del lr
        stem = os.path.splitext(os.path.relpath(file, root))[0]
        written.append(image_io.write_png(os.path.join(output, stem + ".png"), hr))
        del hr
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


def colour_bias(sr, hr, border):
    """Largest per-channel mean difference ``mean(SR_c) - mean(HR_c)`` in grey levels (0-255),
    signed, over the image less ``border`` pixels: a colour cast shows here."""
    crop = (slice(border, -border or None),) * 2
    difference = (sr[crop].astype(np.float64) - hr[crop].astype(np.float64)).reshape(-1, sr.shape[-1])
    means = difference.mean(axis=0)
    return float(means[np.argmax(np.abs(means))])


def high_frequency_energy(sr, hr, scale, border):
    """Fraction of the HR image's high-frequency energy that ``sr`` has (Y channel).

    High frequency = the image minus its bicubic down-and-up copy (``x - up(down(x))``),
    the detail an x``scale`` bicubic degradation removes. 1 = as much detail energy as the
    truth (not necessarily the right detail); bicubic upscaling is near 0. SRGAN trades
    PSNR for a higher value (Ledig et al. 2017, Sec. 3.4).
    """
    def high_pass(image):
        luma = rgb_to_y(image)[..., 0] if image.shape[-1] == 3 else image[..., 0].astype(np.float64)
        smooth = degradations.imresize(degradations.imresize(luma, (luma.shape[0] // scale, luma.shape[1] // scale)), luma.shape)
        crop = (slice(border, -border or None),) * 2
        return (luma - smooth)[crop]

    truth = float(np.sum(high_pass(hr) ** 2))
    return float(np.sum(high_pass(sr) ** 2)) / truth if truth > 0 else float("nan")


def evaluate_images(upscalers, images, *, scale, degradation):
    """Mean Y-channel PSNR/SSIM (border ``scale``), colour bias and high-frequency energy
    of each upscaler on HR images.

    Args:
        upscalers: dict name -> ``uint8 LR -> uint8 SR``.
        images: list of (name, hr uint8, dataset lr or None).
        degradation: how LR is made from the modcropped HR (or ``dataset``).

    Returns:
        dict name -> {"psnr", "ssim", "colour_bias", "hf_energy"} (means over the images;
        colour_bias is the one of largest magnitude), plus "images".
    """
    degrade = None if degradation == DATASET_DEGRADATION else degradations.get(degradation)
    metrics = ("psnr", "ssim", "colour_bias", "hf_energy")
    scores = {name: {key: [] for key in metrics} for name in upscalers}
    for _, hr, lr in images:
        hr = degradations.modcrop(hr, scale)
        lr = lr[:hr.shape[0] // scale, :hr.shape[1] // scale] if degrade is None else degrade(hr, scale)
        for name, upscale in upscalers.items():
            sr = upscale(lr)
            scores[name]["psnr"].append(psnr(sr, hr, border=scale))
            scores[name]["ssim"].append(ssim(sr, hr, border=scale))
            scores[name]["colour_bias"].append(colour_bias(sr, hr, scale))
            scores[name]["hf_energy"].append(high_frequency_energy(sr, hr, scale, scale))
    results = {}
    for name, values in scores.items():
        results[name] = {key: float(np.mean(values[key])) for key in ("psnr", "ssim", "hf_energy")}
        biases = values["colour_bias"]
        results[name]["colour_bias"] = float(biases[int(np.argmax(np.abs(biases)))])
    results["images"] = len(images)
    return results


def baseline_upscalers(scale):
    """MATLAB-imresize bicubic and Lanczos-3 upscaling by ``scale``."""
    return {name: (lambda lr, k=kernel: degradations.upscale(lr, scale, k))
            for name, kernel in BASELINES.items()}


def describe(config):
    """``"srresnet run, residual network 8 x 32"`` or ``"pretrained x4"``: what is evaluated."""
    if config["model"].startswith("pretrained"):
        return config["model"]
    network = config.get("network", "srresnet")
    return (f"{config['model']} run, {network} network {config.get('blocks', '?')} x "
            f"{config.get('filters', '?')}")


def verdict(results, name="model"):
    """One line: how far ``name`` is above or below bicubic in Y-PSNR."""
    gain = results[name]["psnr"] - results["bicubic"]["psnr"]
    if gain > 0.05:
        return f"verdict: the {name} is {gain:.2f} dB above bicubic: better than plain resizing"
    if gain < -0.05:
        return (f"verdict: the {name} is {-gain:.2f} dB below bicubic: worse than plain "
                "resizing (train longer, or try --pretrained)")
    return f"verdict: the {name} is level with bicubic ({gain:+.2f} dB): no gain over plain resizing"


def evaluate(run_dir=None, *, data=None, data_dir=None, max_images=None, tile=DEFAULT_TILE,
             overlap=None, pretrained=None, self_ensemble=False):
    """Y-PSNR/SSIM (border = scale), colour bias and high-frequency energy of a run's (or a
    ``pretrained``) generator beside bicubic and Lanczos-3 on held-out images
    (``self_ensemble``: the model's output averaged over the 8 flips / rotations).

    Writes ``metrics.json`` in the run folder (not for ``pretrained``) and returns the
    dict, with ``gain_db`` over bicubic and a ``verdict`` line.
    """
    config, generator = load_run(run_dir, EVALUATE_KEYS, pretrained=pretrained)
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
    name = "model"
    upscalers = {
        name: lambda lr: super_resolve(generator, lr, scale, tile=tile, overlap=overlap,
                                       self_ensemble=self_ensemble),
        **baseline_upscalers(scale),
    }
    results = {"data": data, "scale": scale, "degradation": degradation,
               "description": describe(config) + (" + self-ensemble" if self_ensemble else ""),
               **evaluate_images(upscalers, images, scale=scale, degradation=degradation)}
    results["gain_db"] = results[name]["psnr"] - results["bicubic"]["psnr"]
    results["verdict"] = verdict(results, name)
    if run_dir:
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


def export(run_dir=None, *, output=None, pretrained=None):
    """Export a finished run's (or a ``pretrained``) generator as a SavedModel; returns the
    export folder (default RUN/export; ``--output`` is required with ``pretrained``)."""
    config, generator = load_run(run_dir, pretrained=pretrained)
    if not (output or run_dir):
        raise UserInputError("pass --output FOLDER for the export of a pretrained model")
    return export_generator(generator, config["scale"], output or os.path.join(run_dir, "export"))
