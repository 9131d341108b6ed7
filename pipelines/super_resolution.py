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
import re
import warnings

import keras
import numpy as np
import tensorflow as tf

from gan_apps import callbacks as gan_callbacks
from gan_apps import degradations, runs, runtime
from gan_apps import export as export_lib
from gan_apps import images as image_io
from gan_apps.data import folder as folder_lib
from gan_apps.data import photos as photos_lib
from gan_apps.errors import UserInputError
from gan_apps.evaluation.image_quality import psnr, ssim
from gan_apps.models import srresnet

KIND = "super_resolution"
MODELS = ("srresnet", "srgan")
DATASET_DEGRADATION = "dataset"  # div2k's own LR images
# Settings that define the networks and the data; a resumed run must keep them.
ARCHITECTURE_KEYS = (
    "model", "scale", "channels", "blocks", "filters", "batch_norm", "patch_size",
    "degradation", "data", "content", "objective", "adversarial_weight", "batch_size",
)
DEFAULTS = {"epochs": 10, "steps": 100, "batch_size": 16, "patch_size": 96, "blocks": 16,
            "filters": 64, "learning_rate": 1e-4}
# Tiles of DEFAULT_TILE LR pixels, each run with the network's receptive radius of context
# on every side by default (srresnet.receptive_radius), so tiles join exactly.
DEFAULT_TILE = 128
TFDS_PATCHES_PER_IMAGE = 8


# --- data -------------------------------------------------------------------------------


def parse_source(source):
    """``photos`` | ``folder:PATH`` | ``tfds:NAME[/CONFIG]`` -> (kind, argument)."""
    if source == "photos":
        return "photos", None
    for prefix in ("folder", "tfds"):
        if isinstance(source, str) and source.startswith(prefix + ":") and len(source) > len(prefix) + 1:
            return prefix, source[len(prefix) + 1:]
    raise UserInputError(
        f"super-resolution reads HR images from photos, folder:PATH or tfds:div2k/CONFIG, "
        f"not {source!r}; pass one of those with --data"
    )


def _tfds_scale(name):
    match = re.search(r"_x(\d)$", name)
    return int(match.group(1)) if match else None


def _check_tfds(name, scale, degradation):
    if not name.startswith("div2k"):
        raise UserInputError(
            f"super-resolution reads tfds:div2k/CONFIG (lr/hr pairs), not tfds:{name}; "
            "use folder:PATH for other HR images"
        )
    config_scale = _tfds_scale(name)
    if degradation == DATASET_DEGRADATION and config_scale != scale:
        raise UserInputError(
            f"tfds:{name} holds x{config_scale} LR images but --scale is {scale}; "
            f"pick the div2k config for x{scale} or a named --degradation"
        )


def load_images(source, *, split, channels, data_dir=None, max_images=None):
    """Whole uint8 HR images [H, W, channels] (with div2k's LR images where it has them).

    Args:
        source: ``photos``, ``folder:PATH`` or ``tfds:div2k/CONFIG``.
        split: ``train`` or ``test`` (photos: the fixed split by image; folder: every
            image; div2k: ``train`` or ``validation``).

    Returns:
        list of (name, hr uint8, lr uint8 or None).
    """
    kind, argument = parse_source(source)
    if kind == "photos":
        images, names = photos_lib.load_photos(split, channels=channels)
        return [(n, image, None) for n, image in zip(names, images)][:max_images]
    if kind == "folder":
        return _load_folder(argument, channels, max_images)
    return _load_tfds(argument, "train" if split == "train" else "validation", channels,
                      data_dir, max_images)


def read_image(path, channels):
    """One image file as uint8 [H, W, channels], or None when OpenCV cannot decode it."""
    image = folder_lib.decode_image(path)
    return None if image is None else _uint8_channels(image, channels)


def _uint8_channels(image, channels):
    """A decoded float [0, 1] image as uint8 with ``channels`` channels."""
    return photos_lib.to_channels(np.round(image * 255.0).astype(np.uint8), channels)


def _load_folder(path, channels, max_images):
    folder_lib.check_folder(path)
    files = folder_lib.list_files(path)
    if not files:
        raise UserInputError(f"image folder {path!r} contains no files; put HR images (PNG, JPEG, ...) in it")
    images, skipped = [], []
    for file in files:
        if max_images is not None and len(images) == max_images:
            break
        image = read_image(file, channels)
        if image is None:
            skipped.append(file)
        else:
            images.append((os.path.relpath(file, path), image, None))
    if not images:
        raise UserInputError(
            f"none of the {len(files)} files under {path!r} could be decoded; pass a folder of "
            "images (PNG, JPEG, BMP, TIFF, WebP)"
        )
    if skipped:
        warnings.warn(f"skipped {len(skipped)} undecodable files under {path!r} "
                      f"(first: {os.path.relpath(skipped[0], path)})", stacklevel=3)
    return images


def _load_tfds(name, split, channels, data_dir, max_images):
    import tensorflow_datasets as tfds

    from gan_apps.data import tfds_source

    tfds_source._builder(name, data_dir)
    try:
        dataset = tfds.load(name, split=split, data_dir=data_dir, download=False,
                            shuffle_files=False)
    except (AssertionError, FileNotFoundError, tf.errors.NotFoundError):
        where = data_dir or "the default TFDS folder (~/tensorflow_datasets)"
        raise UserInputError(
            f"TFDS dataset {name!r} is not prepared in {where}; prepare it on a machine with "
            f"network access (`tfds build {name} --data_dir DIR`) and pass --data-dir DIR"
        ) from None
    if max_images is not None:
        dataset = dataset.take(max_images)
    return [
        (f"{split}_{i:04d}", photos_lib.to_channels(example["hr"], channels),
         photos_lib.to_channels(example["lr"], channels))
        for i, example in enumerate(tfds.as_numpy(dataset))
    ]


def _augment(arrays, choice):
    """The same flip / 90-degree rotation (one of the 8 dihedral maps) of every array."""
    out = []
    for array in arrays:
        array = np.rot90(array, choice % 4)
        out.append(np.ascontiguousarray(array[:, ::-1] if choice >= 4 else array))
    return out


def _paired(hr, lr, scale):
    """Whether a dataset LR image is the HR image shrunk by ``scale`` (up to modcrop)."""
    return all(0 <= h - l * scale < scale for h, l in zip(hr.shape[:2], lr.shape[:2]))


def usable_images(images, *, scale, patch_size, degradation):
    """The images a patch sampler can use; warn about those skipped, fail if none is left."""
    usable, small, unpaired = [], 0, 0
    for name, hr, lr in images:
        if min(hr.shape[:2]) < patch_size:
            small += 1
        elif degradation == DATASET_DEGRADATION and (lr is None or not _paired(hr, lr, scale)):
            unpaired += 1
        else:
            usable.append((name, hr, lr))
    if not usable:
        smallest = min(min(hr.shape[:2]) for _, hr, _ in images)
        if small:
            raise UserInputError(
                f"every HR image is smaller than the {patch_size}-px patch (smallest side "
                f"{smallest} px); pass a smaller --patch-size"
            )
        raise UserInputError(
            f"no LR image of the dataset is its HR image shrunk x{scale}; pass a named --degradation"
        )
    if small or unpaired:
        warnings.warn(f"skipped {small} images smaller than the {patch_size}-px patch and "
                      f"{unpaired} without a matching x{scale} LR image", stacklevel=2)
    return usable


def patch_batches(images, *, scale, patch_size, batch_size, degradation, seed):
    """Endless (lr, hr) float32 batches in [-1, 1] of random augmented HR patches.

    Each patch: a random image, a random ``patch_size`` crop, one of the 8 flips /
    rotations, then LR = degradation(HR patch) (or the aligned crop of the dataset's LR).
    """
    rng = np.random.default_rng(seed)
    degrade = None if degradation == DATASET_DEGRADATION else degradations.get(degradation)
    lr_size = patch_size // scale
    while True:
        lr_batch, hr_batch = [], []
        for _ in range(batch_size):
            _, hr, lr = images[rng.integers(len(images))]
            if degrade is None:
                top = rng.integers(lr.shape[0] - lr_size + 1)
                left = rng.integers(lr.shape[1] - lr_size + 1)
                lr_patch = lr[top:top + lr_size, left:left + lr_size]
                hr_patch = hr[top * scale:top * scale + patch_size, left * scale:left * scale + patch_size]
                lr_patch, hr_patch = _augment((lr_patch, hr_patch), rng.integers(8))
            else:
                top = rng.integers(hr.shape[0] - patch_size + 1)
                left = rng.integers(hr.shape[1] - patch_size + 1)
                (hr_patch,) = _augment((hr[top:top + patch_size, left:left + patch_size],),
                                       rng.integers(8))
                lr_patch = degrade(hr_patch, scale)
            lr_batch.append(lr_patch)
            hr_batch.append(hr_patch)
        yield (np.stack(lr_batch).astype(np.float32) / 127.5 - 1.0,
               np.stack(hr_batch).astype(np.float32) / 127.5 - 1.0)


def patch_dataset(images, *, scale, patch_size, batch_size, channels, degradation, seed):
    """:func:`patch_batches` as a prefetched ``tf.data.Dataset`` of (lr, hr)."""
    lr_size = patch_size // scale
    signature = (
        tf.TensorSpec((batch_size, lr_size, lr_size, channels), tf.float32),
        tf.TensorSpec((batch_size, patch_size, patch_size, channels), tf.float32),
    )
    return tf.data.Dataset.from_generator(
        lambda: patch_batches(images, scale=scale, patch_size=patch_size, batch_size=batch_size,
                              degradation=degradation, seed=seed),
        output_signature=signature,
    ).prefetch(2)


# --- model --------------------------------------------------------------------------------


def build_model(config, *, jit=False, steps_per_execution=1):
    """The compiled :class:`~gan_apps.models.srresnet.SRGAN` a run config describes.

    Call it inside the strategy scope :func:`gan_apps.runtime.configure` returns. ``jit``
    compiles the train step with XLA; ``steps_per_execution`` runs that many steps per
    call into the compiled graph. Under mixed_float16 the optimizers get loss scaling.
    """
    generator = srresnet.srresnet_generator(
        config["scale"], config["channels"], config["blocks"], config["filters"],
        batch_norm=config["batch_norm"],
    )
    discriminator = None
    if config["model"] == "srgan":
        discriminator = srresnet.srgan_discriminator(config["patch_size"], config["channels"],
                                                     filters=config["filters"])
    model = srresnet.SRGAN(
        generator, discriminator, objective=config["objective"],
        adversarial_weight=config["adversarial_weight"], content=config["content"],
        vgg_weights=config["vgg_weights"],
    )
    rate = config["learning_rate"]
    # Ledig et al. 2017, Sec. 3.2: Adam with beta1 = 0.9.
    model.compile(
        g_optimizer=runtime.loss_scaled(keras.optimizers.Adam(rate, beta_1=0.9)),
        d_optimizer=(runtime.loss_scaled(keras.optimizers.Adam(rate, beta_1=0.9))
                     if discriminator is not None else None),
        jit_compile=True if jit else "auto",
        steps_per_execution=steps_per_execution,
    )
    return model


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


def train(*, scale=4, data="photos", out=None, model="srresnet", init_from=None, epochs=None,
          steps=None, batch_size=None, patch_size=None, blocks=None, filters=None,
          batch_norm=True, learning_rate=None, degradation=degradations.DEFAULT_DEGRADATION,
          objective="non_saturating", adversarial_weight=1e-3, vgg_weights=None, channels=3,
          seed=0, data_dir=None, strategy="default", precision="float32", jit=False,
          steps_per_execution=1, deterministic=False, verbose="auto"):
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
    of mixed_float16 (its checkpoint holds loss-scaled optimizers).
    """
    srresnet.check_scale(scale)
    if model not in MODELS:
        raise UserInputError(f"unknown model {model!r}; pass --model srresnet or srgan")
    if degradation != DATASET_DEGRADATION:
        degradations.get(degradation)
    kind, argument = parse_source(data)
    if kind == "tfds":
        _check_tfds(argument, scale, degradation)
    elif degradation == DATASET_DEGRADATION:
        raise UserInputError("--degradation dataset needs tfds:div2k/CONFIG; pass a named degradation")
    if channels not in (1, 3):
        raise UserInputError(f"--channels must be 1 or 3, got {channels!r}")
    if model == "srgan" and not vgg_weights:
        print("no --vgg-weights given: SRGAN uses the pixel MSE content loss, not VGG54")
    config = {
        "kind": KIND, "model": model, "scale": scale, "data": data, "channels": channels,
        "blocks": blocks or DEFAULTS["blocks"], "filters": filters or DEFAULTS["filters"],
        "batch_norm": bool(batch_norm), "patch_size": patch_size or DEFAULTS["patch_size"],
        "batch_size": batch_size or DEFAULTS["batch_size"], "epochs": epochs or DEFAULTS["epochs"],
        "steps": steps or DEFAULTS["steps"], "learning_rate": learning_rate or DEFAULTS["learning_rate"],
        "degradation": degradation, "objective": objective,
        "adversarial_weight": float(adversarial_weight) if model == "srgan" else 0.0,
        "content": "vgg54" if vgg_weights else "pixel", "vgg_weights": vgg_weights,
        "init_from": init_from, "seed": seed, "data_dir": data_dir,
        "strategy": strategy, "precision": precision, "jit": bool(jit),
        "steps_per_execution": steps_per_execution, "deterministic": bool(deterministic),
    }
    if not isinstance(steps_per_execution, int) or steps_per_execution < 1:
        raise UserInputError(f"--steps-per-execution must be >= 1, got {steps_per_execution!r}")
    if config["patch_size"] % scale:
        raise UserInputError(
            f"--patch-size {config['patch_size']} is not a multiple of --scale {scale}; "
            f"pass e.g. {config['patch_size'] - config['patch_size'] % scale}"
        )
    if config["patch_size"] < 2 * scale:
        raise UserInputError(f"--patch-size must be at least {2 * scale} for x{scale}")
    out = out or os.path.join("runs", f"{model}-x{scale}")
    runs.check_resumable(out, config, kind=KIND, keys=ARCHITECTURE_KEYS)

    # Before any TensorFlow op: a mirrored strategy may split the CPU into devices.
    strategy = runtime.configure(strategy=strategy, precision=precision,
                                 deterministic=deterministic, seed=seed)
    images = usable_images(
        load_images(data, split="train", channels=channels, data_dir=data_dir),
        scale=scale, patch_size=config["patch_size"], degradation=degradation,
    )
    runtime.check_global_batch(strategy, config["batch_size"])
    with strategy.scope():
        sr_model = build_model(config, jit=jit, steps_per_execution=steps_per_execution)
    if strategy.num_replicas_in_sync > 1:
        print(f"training on {strategy.num_replicas_in_sync} replicas ({config['strategy']}); "
              f"each step splits the batch of {config['batch_size']} between them")
    runs.check_writable(out)
    checkpoint = gan_callbacks.TrainingCheckpoint(os.path.join(out, "checkpoints"), sr_model)
    initial_epoch = checkpoint.restore()
    if initial_epoch == 0 and init_from:
        _initialise_from(sr_model, init_from, config)
    runs.write_json(os.path.join(out, runs.CONFIG), config)

    if initial_epoch < config["epochs"]:
        if initial_epoch:
            print(f"resuming {out} from epoch {initial_epoch}")
        # Reseeded per start epoch, so a resumed run draws new patches, reproducibly.
        dataset = patch_dataset(
            images, scale=scale, patch_size=config["patch_size"], batch_size=config["batch_size"],
            channels=channels, degradation=degradation, seed=(seed, initial_epoch),
        )
        sr_model.fit(
            dataset, epochs=config["epochs"], steps_per_epoch=config["steps"],
            initial_epoch=initial_epoch, verbose=verbose, shuffle=False,
            callbacks=[
                gan_callbacks.NaNGuard(),
                keras.callbacks.CSVLogger(os.path.join(out, "history.csv"), append=True),
                keras.callbacks.TensorBoard(os.path.join(out, "logs")),
                checkpoint,
            ],
        )
    else:
        print(f"{out} is already trained to epoch {initial_epoch}; writing its final files")
    for name, network in sr_model.networks().items():
        runs.save_model(network, os.path.join(out, f"{name}.keras"))
    export_generator(sr_model.generator, scale, os.path.join(out, "export"))
    return out


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
    lr = np.asarray(lr, np.float32) / 127.5 - 1.0
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


def _load_run(run_dir):
    config = runs.read_config(run_dir, kind=KIND)
    generator = runs.load_model(os.path.join(run_dir, "generator.keras"), "generator")
    return config, generator


def apply(run_dir, *, input, output, tile=DEFAULT_TILE, overlap=None):
    """Super-resolve an image file or every image in a folder into ``output`` (PNG files).

    Colour images given to a grayscale model become gray (BT.601) and gray images given
    to a colour model are repeated to RGB, with a warning; undecodable files are skipped.

    Returns:
        list of written paths.
    """
    config, generator = _load_run(run_dir)
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
        lr = _uint8_channels(image, config["channels"])
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
    config, generator = _load_run(run_dir)
    data = data or config["data"]
    scale = config["scale"]
    degradation = config["degradation"]
    if degradation == DATASET_DEGRADATION and parse_source(data)[0] != "tfds":
        degradation = degradations.DEFAULT_DEGRADATION
    images = load_images(data, split="test", channels=config["channels"],
                         data_dir=data_dir or config["data_dir"], max_images=max_images)
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
        x = tf.cast(lr, tf.float32) / 127.5 - 1.0
        sr = tf.cast(generator(x, training=False), tf.float32)
        return {"hr": tf.cast(tf.clip_by_value(tf.round((sr + 1.0) * 127.5), 0.0, 255.0), tf.uint8)}

    archive = keras.export.ExportArchive()
    archive.track(generator)
    archive.add_endpoint("serving_default", serve)
    return export_lib._write_atomically(archive, export_dir)


def export(run_dir, *, output=None):
    """Export a finished run's generator as a SavedModel; returns the export folder."""
    config, generator = _load_run(run_dir)
    return export_generator(generator, config["scale"], output or os.path.join(run_dir, "export"))
