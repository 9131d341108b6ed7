"""Unpaired image-to-image translation (CycleGAN): train, apply, evaluate, export.

``train`` writes a run folder of kind ``"translation"`` (``config.json``, ``checkpoints/``,
``history.csv``, ``logs/``, ``samples/epoch_NNNN.png`` grids of (A, G(A), F(G(A))) and
(B, F(B), G(F(B))), the four networks as ``.keras`` and ``export/``) and resumes from its
latest checkpoint when run again with the same ``out``.
"""

from __future__ import annotations

import os
import time

import keras
import numpy as np
import tensorflow as tf

from gan_apps import images as image_io
from gan_apps import commands, runs, runtime
from gan_apps.data import folder, unpaired
from gan_apps.errors import UserInputError
from gan_apps.evaluation import features, frechet, report
from gan_apps.evaluation.image_quality import psnr
from gan_apps.export import checked_input, write_atomically
from gan_apps.models import cyclegan

KIND = "translation"
DIRECTIONS = ("a2b", "b2a")
# Settings that define the networks and the data; a resumed run must keep them.
ARCHITECTURE_KEYS = ("data", "preset", "generator", "d_norm", "crop_size", "load_size",
                     "channels", "ngf", "ndf", "n_blocks", "objective", "gan_weight", "cycle_weight",
                     "identity_weight", "pool_size", "batch_size", "learning_rate", "epochs",
                     "decay_epochs", "steps", "ema", "seed")
PRESETS = ("cpu", "paper")
# Zhu et al. 2017, Sec. 7.1-7.2 and the reference code: ResNet generator, 70x70 PatchGAN
# with instance norm, crop 256, batch 1, identity loss 0.5 lambda, 100 + 100 epochs.
PAPER_PRESET = {"generator": "paper", "d_norm": "instance", "crop_size": 256, "ngf": 64,
                "ndf": 64, "batch_size": 1, "identity_weight": 0.5, "gan_weight": 1.0,
                "epochs": 100, "decay_epochs": 100, "ema": 0.0}
# This toolkit's CPU recipe (docs/benchmarks.md, block translation): the identity-start
# generator (models/cyclegan.py:residual_generator), a PatchGAN without instance norm, no
# identity loss (the generator already starts at the identity, and the term pulls G(b)
# towards b, against any colour change), the adversarial terms weighted 2 (as lambda 5
# instead of 10: the cycle L1's gradient has the same size however small the cycle error,
# so a large lambda holds G to F's slower progress; see docs/benchmarks.md for the probes),
# batch 4 of crops of at most 64 px, and as many steps as fit in CPU_BUDGET_S on 2 cores,
# half at a constant learning rate, half decaying; the generators used and saved are the
# moving average of their weights (decay 0.999, a horizon of ~1,000 steps, most of the
# preset's ~1,300-step runs; models/cyclegan.py:average_generators): the last iterate's
# global colour cycles around the answer from one hundred steps to the next, the average
# does not.
CPU_PRESET = {"generator": "identity", "d_norm": "none", "ngf": 16, "ndf": 32, "n_blocks": 3,
              "batch_size": 4, "identity_weight": 0.0, "gan_weight": 2.0, "ema": 0.999}
CPU_MAX_CROP = 64
CPU_EPOCHS = 8  # the step budget is split into 8 epochs (4 constant + 4 decaying)
# Planned training time on 2 idle cores. 8 minutes, not 20: on a machine shared with
# other work (docs/benchmarks.md) the same steps took up to 2.5x longer, and start-up,
# sample grids, export and evaluation come on top.
CPU_BUDGET_S = 8 * 60
# Training seconds per pixel of a step (batch x crop^2) on the 2 reference cores (x86_64,
# TF 2.21), per generator at its preset's widths; other widths scale with (ngf^2 + ndf^2).
# identity: 400 steps of batch 4 at 64 px in 145 s on the idle machine (0.36 s a step);
# paper: 0.07 pairs/s at 128 px, batch 1 (docs/benchmarks.md, the earlier translation block).
SECONDS_PER_PIXEL = {"identity": (2.2e-5, 16, 32), "paper": (8.7e-4, 64, 64)}
GRID_EXAMPLES = 4
EVAL_BATCH = 16


def train(*, callbacks=(), verbose="auto", **options):
    """Train a CycleGAN on two unpaired domains; returns the run folder.

    Args mirror ``gan-apps translate train``. ``epochs`` at a constant learning rate, then
    ``decay_epochs`` with a linear decay to zero (paper: 100 + 100). ``steps`` caps the
    steps per epoch (default max(|A|, |B|) // batch_size).

    ``strategy``, ``precision``, ``jit``, ``steps_per_execution`` and ``deterministic`` are
    those of :func:`gan_apps.pipelines.generation.train` (see :mod:`gan_apps.runtime`):
    ``batch_size`` is the global batch, split over the replicas, and the image pools
    evolve as on one device. A run killed at any point resumes from its last epoch-end
    checkpoint; with ``deterministic`` it ends with the weights of an uninterrupted run.
    ``callbacks`` are extra Keras callbacks, run before each epoch's checkpoint. The run
    itself is :func:`gan_apps.runs.train` of the plan :func:`plan_run` makes.
    """
    options = commands.validate("translate", "train",
                                commands.settings("translate", "train", options))
    plan = plan_run({**options, "callbacks": callbacks, "verbose": verbose})
    runs.train(plan)
    return plan.out


def plan_run(options):
    """The :class:`~gan_apps.runs.RunPlan` of :func:`train`'s keyword ``options``."""
    source = unpaired.check_source(options["data"])
    config = run_config(options, source)
    _validate(config)
    out = options["out"] or runs.default_run_dir("cyclegan", source)
    total_epochs = config["epochs"] + config["decay_epochs"]
    loaded = {}

    def load_data():
        pair = unpaired.load_pair(source, split="train", crop_size=config["crop_size"],
                                  load_size=config["load_size"], channels=config["channels"],
                                  data_dir=config["data_dir"])
        config["channels"] = pair.channels
        loaded["steps"] = _steps_per_epoch(pair, config)
        if options["verbose"] != 0:
            print(describe_plan(config, loaded["steps"]), flush=True)
        return pair

    def build_model(pair):
        return cyclegan.build_cyclegan(
            channels=pair.channels, crop_size=config["crop_size"], ngf=config["ngf"],
            ndf=config["ndf"], n_blocks=config["n_blocks"], generator=config["generator"],
            d_norm=config["d_norm"], gan_weight=config["gan_weight"], objective=config["objective"],
            cycle_weight=config["cycle_weight"], identity_weight=config["identity_weight"],
            pool_size=config["pool_size"], learning_rate=config["learning_rate"],
            constant_steps=config["epochs"] * loaded["steps"],
            decay_steps=config["decay_epochs"] * loaded["steps"], ema=config["ema"],
            seed=config["seed"],
            jit_compile=runtime.jit_compile(config["jit"]),
            steps_per_execution=config["steps_per_execution"],
        )

    def build_feed(_, pair):
        def dataset(initial_epoch):
            return unpaired.training_dataset(
                pair, crop_size=config["crop_size"], batch_size=config["batch_size"],
                seed=config["seed"], initial_epoch=initial_epoch, epochs=total_epochs,
                steps=loaded["steps"],
            ).repeat()

        return runs.Feed(dataset, loaded["steps"])

    def late_callbacks(_):
        grid = TranslationGrid(os.path.join(out, "samples"), _grid_examples(config, source))
        timer = [EpochTimer(total_epochs)] if options["verbose"] != 0 else []
        return [grid, *timer, *options["callbacks"]]

    def networks(model):
        # Saved (and exported) with the averaged weights; the checkpoint keeps both.
        model.average_generators()
        return model.networks()

    def export(model):
        export_translators(model.generator_ab, model.generator_ba, os.path.join(out, "export"))
        keep_last_checkpoint(os.path.join(out, runs.CHECKPOINTS))

    # ``channels`` is settled by the data; a resume compares it only when it is given.
    return runs.RunPlan(
        kind=KIND, out=out, config=config, keys=ARCHITECTURE_KEYS, optional=("channels",),
        epochs=total_epochs, load_data=load_data, build_model=build_model,
        build_feed=build_feed, late_callbacks=late_callbacks, networks=networks, export=export,
        verbose=options["verbose"],
    )


def estimate_seconds(config):
    """Calibrated training time of ``config`` on the 2 reference cores, in seconds."""
    per_pixel, ngf, ndf = SECONDS_PER_PIXEL[config["generator"]]
    scale = (config["ngf"] ** 2 + config["ndf"] ** 2) / (ngf ** 2 + ndf ** 2)
    steps = config["steps"] * (config["epochs"] + config["decay_epochs"])
    return steps * config["batch_size"] * config["crop_size"] ** 2 * per_pixel * scale


def cpu_crop(side):
    """The CPU preset's crop for images whose smallest side is ``side`` px: the largest
    multiple of 4 that leaves room for the jitter (286/256), at most 64 and at least 32."""
    fit = int(side / unpaired.LOAD_RATIO) // cyclegan.STRIDE * cyclegan.STRIDE
    return max(32, min(CPU_MAX_CROP, fit))


def cpu_steps(config, budget_s=CPU_BUDGET_S):
    """Steps per epoch so that CPU_EPOCHS epochs take ``budget_s`` by the calibration."""
    one_step = estimate_seconds({**config, "steps": 1, "epochs": 1, "decay_epochs": 0})
    return max(1, int(budget_s / one_step / CPU_EPOCHS))


def keep_last_checkpoint(directory):
    """Delete every checkpoint but the newest once a run has finished.

    During training the previous epoch's checkpoint is the fallback for a torn write; a
    finished run's newest checkpoint is complete (the networks were saved after it), and it
    alone is what continuing the run (more epochs, same folder) needs. The index is
    rewritten to name only it."""
    import tensorflow as tf

    candidates = runs.checkpoint_candidates(directory)
    for prefix in candidates[1:]:
        for name in os.listdir(directory):
            if name.startswith(os.path.basename(prefix) + "."):
                os.remove(os.path.join(directory, name))
    if candidates:
        tf.compat.v1.train.update_checkpoint_state(
            directory, os.path.basename(candidates[0]),
            all_model_checkpoint_paths=[os.path.basename(candidates[0])])


def run_config(options, source, side=None):
    """config.json of a run: the options with the preset's defaults filled in.

    ``--preset paper`` gives Zhu et al.'s sizes; ``--preset cpu`` (the default) sizes the
    run from the data: the crop from the smallest image side ``side`` (:func:`cpu_crop`;
    measured from the data when None), the widths and batch of :data:`CPU_PRESET`, and the
    steps from the calibrated cost (:func:`cpu_steps`). Any flag given wins.
    """
    preset = options.get("preset") or "cpu"
    if preset not in PRESETS:
        raise UserInputError(f"--preset must be one of {', '.join(PRESETS)}, got {preset!r}")
    defaults = dict(PAPER_PRESET if preset == "paper" else CPU_PRESET)
    given = lambda key: options.get(key) is not None  # noqa: E731
    if preset == "cpu" and not given("crop_size"):
        defaults["crop_size"] = cpu_crop(unpaired.smallest_side(source) if side is None else side)
    pick = lambda key: options[key] if given(key) else defaults.get(key)  # noqa: E731
    crop_size = pick("crop_size")
    generator = pick("generator")
    config = {
        "kind": KIND, "data": source.text, "preset": preset, "generator": generator,
        "d_norm": defaults["d_norm"], "crop_size": crop_size,
        "load_size": options["load_size"] or unpaired.default_load_size(crop_size),
        "ngf": pick("ngf"), "ndf": pick("ndf"), "batch_size": pick("batch_size"),
        "n_blocks": pick("n_blocks") or (3 if generator == "identity"
                                         else 6 if crop_size <= 128 else 9),
        **{key: options[key] for key in (
            "channels", "objective", "pool_size", "seed", "data_dir", "strategy", "precision",
            "steps_per_execution")},
        "gan_weight": float(pick("gan_weight")),
        "cycle_weight": float(options["cycle_weight"]),
        "identity_weight": float(pick("identity_weight")),
        "ema": float(pick("ema")),
        "learning_rate": float(options["learning_rate"]),
        "steps": options.get("steps"), "epochs": options["epochs"],
        "decay_epochs": options["decay_epochs"],
        "jit": options["jit"], "deterministic": bool(options["deterministic"]),
    }
    if preset == "paper":
        config["epochs"] = pick("epochs")
        config["decay_epochs"] = pick("decay_epochs")
    elif config["epochs"] is None and config["decay_epochs"] is None:
        config["epochs"] = CPU_EPOCHS // 2
        config["decay_epochs"] = CPU_EPOCHS - CPU_EPOCHS // 2
    else:
        config["epochs"] = config["epochs"] or 0
        config["decay_epochs"] = config["decay_epochs"] or 0
    if preset == "cpu" and config["steps"] is None and not (given("epochs") or
                                                          given("decay_epochs")):
        config["steps"] = cpu_steps(config)
    return config


def describe_plan(config, steps):
    """The line ``train`` prints before training: sizes and the calibrated time estimate."""
    total = config["epochs"] + config["decay_epochs"]
    minutes = estimate_seconds({**config, "steps": steps}) / 60
    averaged = f", generators averaged (EMA {config['ema']:g})" if config.get("ema") else ""
    return (f"translate: {config['preset']} preset, {config['generator']} generator "
            f"(ngf {config['ngf']}, {config['n_blocks']} blocks), ndf {config['ndf']}, crop "
            f"{config['crop_size']} (load {config['load_size']}), batch {config['batch_size']}, "
            f"{total} epochs x {steps} steps ({config['epochs']} constant, "
            f"{config['decay_epochs']} decaying){averaged}; estimated training time "
            f"{minutes:.0f} min "
            f"on 2 CPU cores (calibrated cost; each epoch's time is printed as it ends)")


def _steps_per_epoch(pair, config):
    steps = unpaired.steps_per_epoch(pair, config["batch_size"])
    if steps < 1:
        raise UserInputError(
            f"the domains have {len(pair.a)} and {len(pair.b)} examples, fewer than the batch "
            f"size {config['batch_size']}; pass a smaller --batch-size"
        )
    return int(config["steps"] or steps)


def _validate(config):
    if config["generator"] not in cyclegan.GENERATORS:
        raise UserInputError(f"--generator must be one of {', '.join(cyclegan.GENERATORS)}, "
                             f"got {config['generator']!r}")
    for key in ("batch_size", "ngf", "ndf", "n_blocks", "crop_size", "load_size"):
        if int(config[key]) < 1:
            raise UserInputError(f"--{key.replace('_', '-')} must be >= 1, got {config[key]}")
    if config["crop_size"] < 32 or config["crop_size"] % cyclegan.STRIDE:
        raise UserInputError(
            f"--crop-size must be a multiple of {cyclegan.STRIDE} and at least 32 (the PatchGAN "
            f"needs it), got {config['crop_size']}"
        )
    if config["epochs"] < 0 or config["decay_epochs"] < 0 or \
            config["epochs"] + config["decay_epochs"] < 1:
        raise UserInputError("--epochs and --decay-epochs must be >= 0 and not both 0")
    if config["steps"] is not None and config["steps"] < 1:
        raise UserInputError(f"--steps must be >= 1, got {config['steps']}")
    if not 0.0 <= config["ema"] < 1.0:
        raise UserInputError(
            f"--ema is a decay in [0, 1) such as 0.999 (0 = off), got {config['ema']}")
    if config["pool_size"] < 0:
        raise UserInputError(f"--pool-size must be >= 0, got {config['pool_size']}")
    for key in ("gan_weight", "cycle_weight", "identity_weight", "learning_rate"):
        if not config[key] >= 0:
            raise UserInputError(f"--{key.replace('_', '-')} must be >= 0, got {config[key]}")


def _grid_examples(config, source):
    """A few fixed crops of each domain (test split where the source has one) for the grids."""
    split = "test" if unpaired.has_test_split(source) else "train"
    pair = unpaired.load_pair(source, split=split, crop_size=config["crop_size"],
                              load_size=config["load_size"], channels=config["channels"],
                              data_dir=config["data_dir"])
    size = config["crop_size"]
    pick = lambda x: np.linspace(0, len(x) - 1, min(GRID_EXAMPLES, len(x))).astype(int)  # noqa: E731
    return _center_crop(pair.a[pick(pair.a)], size), _center_crop(pair.b[pick(pair.b)], size)


def _center_crop(images, size):
    """Training-split images are at the load size: their central ``size`` crop."""
    top, left = (images.shape[1] - size) // 2, (images.shape[2] - size) // 2
    return images[:, top:top + size, left:left + size]


def cycle_grid(generator_ab, generator_ba, a, b):
    """uint8 grid with rows (a, G(a), F(G(a))) then (b, F(b), G(F(b)))."""
    fake_b = cyclegan.translate(generator_ab, a)
    fake_a = cyclegan.translate(generator_ba, b)
    rows = [a, fake_b, cyclegan.translate(generator_ba, fake_b),
            b, fake_a, cyclegan.translate(generator_ab, fake_a)]
    triplets = []
    for start in (0, 3):
        for i in range(len(rows[start])):
            triplets.extend(np.asarray(rows[start + j][i]) for j in range(3))
    return image_io.make_grid(image_io.to_uint8(np.stack(triplets)), columns=3)


class EpochTimer(keras.callbacks.Callback):
    """Print each epoch's wall time and the time left at that pace (the measured check on
    :func:`describe_plan`'s calibrated estimate)."""

    def __init__(self, epochs):
        super().__init__()
        self.epochs = epochs
        self.started = None

    def on_epoch_begin(self, epoch, logs=None):
        self.started = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        seconds = time.perf_counter() - self.started
        left = (self.epochs - epoch - 1) * seconds / 60
        print(f"epoch {epoch + 1}/{self.epochs}: {seconds:.0f} s; about {left:.0f} min left "
              "at this pace", flush=True)


class TranslationGrid(keras.callbacks.Callback):
    """Write ``epoch_NNNN.png``: rows (A, G(A), F(G(A))) and (B, F(B), G(F(B))) per epoch."""

    def __init__(self, directory, examples):
        super().__init__()
        self.directory = directory
        self.a, self.b = examples

    def on_epoch_end(self, epoch, logs=None):
        grid = cycle_grid(self.model.generator_ab, self.model.generator_ba, self.a, self.b)
        image_io.write_png(os.path.join(self.directory, f"epoch_{epoch + 1:04d}.png"), grid)


# --- export ---------------------------------------------------------------------------


def export_translators(generator_ab, generator_ba, export_dir):
    """Export both generators as one SavedModel with signatures ``a2b`` and ``b2a``.

    ``a2b`` is also ``serving_default``. Each takes ``images`` uint8 [B, H, W, C] of any
    H and W and returns ``images`` uint8 of the same shape; written atomically.
    """
    channels = generator_ab.inputs[0].shape[-1]
    spec = tf.TensorSpec([None, None, None, channels], tf.uint8, name="images")

    def endpoint(generator):
        @tf.function(input_signature=[spec])
        def serve(images):
            images = checked_input(images, [None, None, None, channels], "images")
            out = cyclegan.translate(generator, image_io.from_uint8(images))
            return {"images": image_io.to_uint8(out)}

        return serve

    archive = keras.export.ExportArchive()
    archive.track(generator_ab)
    archive.track(generator_ba)
    archive.add_endpoint("a2b", endpoint(generator_ab))
    archive.add_endpoint("b2a", endpoint(generator_ba))
    return write_atomically(archive, export_dir)


def export(run_dir, *, output=None):
    """Export a finished run's generators; returns the export folder."""
    runs.read_config(run_dir, kind=KIND)
    generators = [_load_generator(run_dir, d) for d in DIRECTIONS]
    return export_translators(*generators, output or os.path.join(run_dir, "export"))


# --- apply ----------------------------------------------------------------------------


def _load_generator(run_dir, direction):
    if direction not in DIRECTIONS:
        raise UserInputError(f"unknown direction {direction!r}; pass --direction a2b or b2a")
    name = "generator_ab" if direction == "a2b" else "generator_ba"
    return runs.load_model(os.path.join(run_dir, f"{name}.keras"), name)


def _with_channels(image, channels):
    """float [H, W, 1 or 3] in [0, 1] converted to ``channels`` (BT.601 luma for gray)."""
    if image.shape[-1] == channels:
        return image
    if channels == 3:
        return np.repeat(image, 3, axis=-1)
    return (image @ np.array([0.299, 0.587, 0.114], np.float32))[..., None]


def translate_array(generator, image_uint8):
    """Translate one uint8 [H, W, C] image with a loaded generator; uint8 of the same size."""
    floats = image_io.from_uint8(image_uint8)[None]
    return image_io.to_uint8(np.asarray(cyclegan.translate(generator, floats))[0])


def apply(run_dir, *, direction="a2b", input, output):  # noqa: A002 - mirrors the CLI flag
    """Translate an image file or every image in a folder; returns the written paths."""
    runs.check_output_folder(output)
    runs.read_config(run_dir, kind=KIND)
    generator = _load_generator(run_dir, direction)
    channels = generator.inputs[0].shape[-1]
    if not os.path.exists(input):
        raise UserInputError(f"input {input!r} does not exist; pass --input FILE_OR_DIR")
    files = folder.list_files(input) if os.path.isdir(input) else [input]
    if not files:
        raise UserInputError(f"input folder {input!r} holds no files; put images in it")
    written = []
    for file in files:
        image = folder.decode_image(file)
        if image is None:
            if len(files) == 1:
                raise UserInputError(f"OpenCV cannot decode {file!r}; pass an image file")
            continue
        if min(image.shape[:2]) < cyclegan.MIN_APPLY_SIZE:
            raise UserInputError(
                f"{file} is {image.shape[1]}x{image.shape[0]} px; the generator needs at least "
                f"{cyclegan.MIN_APPLY_SIZE} px on each side"
            )
        uint8 = np.round(_with_channels(image, channels) * 255.0).astype(np.uint8)
        name = os.path.splitext(os.path.relpath(file, input) if file != input
                                else os.path.basename(file))[0] + ".png"
        written.append(image_io.write_png(os.path.join(output, name),
                                          translate_array(generator, uint8)))
    if not written:
        raise UserInputError(f"none of the {len(files)} files under {input!r} could be decoded")
    return written


# --- evaluate -------------------------------------------------------------------------


def _translate_batches(generator, images):
    return np.concatenate([np.asarray(cyclegan.translate(generator, images[i:i + EVAL_BATCH]))
                           for i in range(0, len(images), EVAL_BATCH)])


def known_answer_errors(translated, source, known):
    """Per-pixel error of a translation and of the identity mapping against the true answer.

    All three are float [-1, 1] images; errors are measured on their uint8 forms (what a
    user would save): mean absolute error in [0, 255] and RGB PSNR (data range 255).
    """
    translated, source, known = (image_io.to_uint8(x).astype(np.float32)
                                 for x in (translated, source, known))
    return {
        "mae_translation": float(np.mean(np.abs(translated - known))),
        "mae_identity": float(np.mean(np.abs(source - known))),
        "psnr_translation": float(psnr(translated, known, y_channel=False)),
        "psnr_identity": float(psnr(source, known, y_channel=False)),
    }


def paired_errors(translated, source, target):
    """Error of a translation and of the identity against the paired answers, 0-255 units.

    Each argument is a list of float [-1, 1] images [H, W, C] (sizes may differ between
    pairs); the errors are pooled over every pixel of every pair, on the uint8 forms.

    Returns:
        (mae, mae_identity, psnr, psnr_identity).
    """
    flat = lambda images: np.concatenate([  # noqa: E731
        image_io.to_uint8(np.asarray(x)).astype(np.float64).ravel() for x in images])
    translated, source, target = flat(translated), flat(source), flat(target)
    to_psnr = lambda x: float(10 * np.log10(255.0 ** 2 / max(np.mean((x - target) ** 2), 1e-10)))  # noqa: E731
    return (float(np.mean(np.abs(translated - target))), float(np.mean(np.abs(source - target))),
            to_psnr(translated), to_psnr(source))


COLOUR_QUANTILES = 256
TEXTURE_LOCATIONS = 20000  # feature vectors sampled per set for the texture distance
TEXTURE_SEED = 0


def colour_distance(x, y):
    """Per-channel 1-D Wasserstein-1 distance between the pixel values of two image sets,
    averaged over channels, in 0-255 units (the mean shift of each channel's histogram,
    computed from 256 quantiles).

    Args:
        x, y: float [-1, 1] images [N, H, W, C] (or lists of [H, W, C]).
    """
    q = (np.arange(COLOUR_QUANTILES) + 0.5) / COLOUR_QUANTILES
    pixels = lambda images: np.concatenate([  # noqa: E731
        np.asarray(image, np.float64).reshape(-1, np.shape(image)[-1]) for image in images])
    px, py = pixels(x), pixels(y)
    per_channel = [np.mean(np.abs(np.quantile(px[:, c], q) - np.quantile(py[:, c], q)))
                   for c in range(px.shape[1])]
    return float(np.mean(per_channel) * 127.5)


def _texture_network(channels):
    """Fixed random features: 3x3 conv (32) + ReLU, 3x3 stride-2 conv (64) + ReLU, He-normal
    weights from a fixed seed (no training, so no domain a network was trained on)."""
    rng = np.random.default_rng(TEXTURE_SEED)
    k1 = rng.normal(0, np.sqrt(2 / (9 * channels)), (3, 3, channels, 32)).astype(np.float32)
    k2 = rng.normal(0, np.sqrt(2 / (9 * 32)), (3, 3, 32, 64)).astype(np.float32)

    def features(images):
        x = tf.nn.relu(tf.nn.conv2d(tf.convert_to_tensor(images, tf.float32), k1, 1, "VALID"))
        x = tf.nn.relu(tf.nn.conv2d(x, k2, 2, "VALID"))
        return list(x.numpy().reshape(len(images), -1, 64))

    return features


def texture_distance(x, y):
    """Frechet distance between Gaussians fitted to the per-location features of a fixed
    random two-layer convolutional network (5x5 px receptive field: local colour and
    texture, no semantics), ``TEXTURE_LOCATIONS`` locations sampled per set.

    Args:
        x, y: float [-1, 1] images [N, H, W, C] (or lists of [H, W, C]), same C.
    """
    network = _texture_network(np.shape(x[0])[-1])
    rng = np.random.default_rng(TEXTURE_SEED)

    def sample(images):
        feats = np.concatenate(_by_shape(list(images), network))
        keep = rng.choice(len(feats), min(TEXTURE_LOCATIONS, len(feats)), replace=False)
        return feats[np.sort(keep)]

    return float(frechet.frechet_distance(sample(x), sample(y)))


def distribution_scores(generator_ab, generator_ba, a, b):
    """Scores that need no pairing: cycle error and distances of G(A) to B and F(B) to A,
    each beside the same distance before translation."""
    fake_b, fake_a = _translate_all(generator_ab, a), _translate_all(generator_ba, b)
    rec_a, rec_b = _translate_all(generator_ba, fake_b), _translate_all(generator_ab, fake_a)
    u8 = lambda images: [image_io.to_uint8(np.asarray(x)).astype(np.float64) for x in images]  # noqa: E731
    cycle = lambda rec, real: float(np.mean(np.concatenate(  # noqa: E731
        [np.abs(r - x).ravel() for r, x in zip(u8(rec), u8(real))])))
    return {
        "cycle_a": cycle(rec_a, a), "cycle_b": cycle(rec_b, b),
        "colour_a2b": colour_distance(fake_b, b), "colour_a_vs_b": colour_distance(a, b),
        "colour_b2a": colour_distance(fake_a, a),
        "texture_a2b": texture_distance(fake_b, b), "texture_a_vs_b": texture_distance(a, b),
        "texture_b2a": texture_distance(fake_a, a),
    }, fake_b, fake_a


def _by_shape(images, function):
    """``function`` applied to batches of same-shaped images; results in the input order."""
    out = [None] * len(images)
    groups = {}
    for i, image in enumerate(images):
        groups.setdefault(np.shape(image), []).append(i)
    for indices in groups.values():
        for start in range(0, len(indices), EVAL_BATCH):
            chunk = indices[start:start + EVAL_BATCH]
            for i, result in zip(chunk, function(np.stack([images[i] for i in chunk]))):
                out[i] = result
    return out


def _translate_all(generator, images):
    """G of every image (a list of any sizes, or an array), as a list."""
    return _by_shape(list(images), lambda x: np.asarray(cyclegan.translate(generator, x)))


def load_test_pair(test, channels):
    """``folder:A_TEST,B_TEST``: the images of both folders whose names match (relative path
    without extension), as two lists of float [-1, 1] [H, W, channels]; a pair's two images
    must have the same size."""
    source = unpaired.check_source(test)
    if source.kind != "folder":
        raise UserInputError(f"--test takes folder:A_TEST,B_TEST, not {test!r}")
    domains = []
    for path, label in zip(source.paths, "AB"):
        folder.check_folder(path)
        files = {os.path.splitext(os.path.relpath(f, path))[0]: f for f in folder.list_files(path)}
        domains.append(files)
    names = sorted(set(domains[0]) & set(domains[1]))
    if not names:
        raise UserInputError(
            f"no file of {source.paths[0]!r} has a namesake in {source.paths[1]!r}; --test "
            "pairs A_TEST/NAME.EXT with B_TEST/NAME.EXT (any extension)"
        )
    a, b = [], []
    for name in names:
        pair = [folder.decode_image(domains[i][name]) for i in range(2)]
        for i, image in enumerate(pair):
            if image is None:
                raise UserInputError(f"OpenCV cannot decode {domains[i][name]!r}; remove it or "
                                     "replace it with an image")
        if pair[0].shape[:2] != pair[1].shape[:2]:
            raise UserInputError(
                f"{domains[0][name]} is {pair[0].shape[1]}x{pair[0].shape[0]} px but "
                f"{domains[1][name]} is {pair[1].shape[1]}x{pair[1].shape[0]}; the pair of "
                "one name must have one size"
            )
        if min(pair[0].shape[:2]) < cyclegan.MIN_APPLY_SIZE:
            raise UserInputError(f"{domains[0][name]} is smaller than "
                                 f"{cyclegan.MIN_APPLY_SIZE} px; remove it")
        a.append(image_io.from_unit_range(_with_channels(pair[0], channels)))
        b.append(image_io.from_unit_range(_with_channels(pair[1], channels)))
    return a, b, names


def verdict(results):
    """One line: is G better than leaving A unchanged?"""
    if "mae_translation" in results:
        ratio = results["mae_translation"] / max(results["mae_identity"], 1e-9)
        word = "better" if ratio < 1 else "worse"
        return (f"verdict: G(A) error {ratio:.2f}x the identity's ({results['mae_translation']:.2f} "
                f"vs {results['mae_identity']:.2f}): {word} than leaving A unchanged")
    closer = [name for name in ("colour", "texture")
              if results[f"{name}_a2b"] < results[f"{name}_a_vs_b"]]
    if len(closer) == 2:
        return "verdict: G(A) is closer to B than A is, in colour and in texture"
    if not closer:
        return "verdict: G(A) is no closer to B than A is (worse than leaving A unchanged)"
    return f"verdict: G(A) is closer to B than A is in {closer[0]} only"


def format_evaluation(results):
    """The lines ``translate evaluate`` prints."""
    lines = []
    if "mae_translation" in results:
        lines += [
            f"paired test ({results['pairs']} pairs, {results['test']}): MAE (0-255), PSNR (dB)",
            f"  G(A) vs B:         MAE {results['mae_translation']:7.2f}   PSNR {results['psnr_translation']:6.2f}",
            f"  A unchanged vs B:  MAE {results['mae_identity']:7.2f}   PSNR {results['psnr_identity']:6.2f}",
            f"  F(B) vs A:         MAE {results['mae_b2a']:7.2f}   PSNR {results['psnr_b2a']:6.2f}",
            f"  B unchanged vs A:  MAE {results['mae_identity_b2a']:7.2f}   PSNR {results['psnr_identity_b2a']:6.2f}",
        ]
    lines += [
        f"unpaired ({results['examples_a']} A, {results['examples_b']} B images, {results['split']} "
        "split): colour = per-channel histogram W1 (0-255), texture = Frechet distance of fixed "
        "random conv features",
        f"  colour:  G(A) vs B {results['colour_a2b']:7.2f}   A vs B {results['colour_a_vs_b']:7.2f}"
        f"   F(B) vs A {results['colour_b2a']:7.2f}",
        f"  texture: G(A) vs B {results['texture_a2b']:7.3f}   A vs B {results['texture_a_vs_b']:7.3f}"
        f"   F(B) vs A {results['texture_b2a']:7.3f}",
        f"  cycle error (0-255): |F(G(A)) - A| {results['cycle_a']:.2f}   |G(F(B)) - B| "
        f"{results['cycle_b']:.2f}",
    ]
    if "fid_a2b" in results:
        lines.append(f"  FID ({results['extractor']}): G(A) vs B {results['fid_a2b']:.2f}   "
                     f"A vs B {results['fid_untranslated']:.2f}   F(B) vs A {results['fid_b2a']:.2f}")
    if results.get("warning"):
        lines.append(f"warning: {results['warning']}")
    lines.append(results["verdict"])
    return "\n".join(lines)


def evaluate(run_dir, *, test=None, extractor=None, inception_weights=None):
    """Measure a finished run offline; writes ``metrics.json`` and returns the dict.

    Paired scores, when a true answer exists (``test="folder:A_TEST,B_TEST"``, files
    matched by name, or the held-out ``photos:tone`` patches): mean absolute error (0-255)
    and PSNR of G(A) against B beside the identity's (A unchanged), and the same for F(B)
    against A. Always, on the test split (the training folders for a folder pair): the
    cycle error, and the colour and texture distances (:func:`colour_distance`,
    :func:`texture_distance`) of G(A) to B beside those of A to B, so a user without pairs
    sees whether G moved A towards B. With an ``extractor``: FID of G(A) against B and of
    F(B) against A beside FID(A, B); ``digits`` is refused for colour runs (a network
    trained on 8x8 handwritten digits says nothing about photos).
    """
    config = runs.read_config(run_dir, kind=KIND,
                              required=("data", "crop_size", "channels", "data_dir"))
    source = unpaired.check_source(config["data"])
    if extractor == "digits" and config["channels"] != 1:
        raise UserInputError(
            "--extractor digits uses a network trained on grayscale handwritten digits; on "
            "colour images its FID means nothing; drop --extractor (the default scores need no "
            "network) or pass --extractor inception --inception-weights FILE"
        )
    split = "test" if unpaired.has_test_split(source) else "train"
    pair = unpaired.load_pair(source, split=split, crop_size=config["crop_size"],
                              load_size=config["crop_size"], channels=config["channels"],
                              data_dir=config["data_dir"])
    generator_ab, generator_ba = (_load_generator(run_dir, d) for d in DIRECTIONS)
    results = {"data": config["data"], "split": split, "examples_a": len(pair.a),
               "examples_b": len(pair.b)}
    paired = None
    if test is not None:
        a, b, names = load_test_pair(test, config["channels"])
        paired = (a, b, test, len(names))
    elif pair.known_b is not None:
        paired = (list(pair.a), list(pair.known_b), "held-out photos:tone patches", len(pair.a))
    if paired is not None:
        a, b, results["test"], results["pairs"] = paired
        fake_b, fake_a = _translate_all(generator_ab, a), _translate_all(generator_ba, b)
        (results["mae_translation"], results["mae_identity"], results["psnr_translation"],
         results["psnr_identity"]) = paired_errors(fake_b, a, b)
        (results["mae_b2a"], results["mae_identity_b2a"], results["psnr_b2a"],
         results["psnr_identity_b2a"]) = paired_errors(fake_a, b, a)
    scores, fake_b, fake_a = distribution_scores(generator_ab, generator_ba, pair.a, pair.b)
    results.update(scores)
    if extractor is not None:
        if extractor == "digits":
            results["warning"] = ("the digits extractor is meaningful only when both domains "
                                  "are handwritten digits")
        model = features.get_extractor(extractor, inception_weights=inception_weights)
        fid = lambda fake, real: report.evaluate(np.stack(fake), real, ("fid",), extractor=model)  # noqa: E731
        results["extractor"] = model.description
        results["fid_a2b"] = fid(fake_b, pair.b)["fid"]
        results["fid_b2a"] = fid(fake_a, pair.a)["fid"]
        results["fid_untranslated"] = fid(list(pair.a), pair.b)["fid"]
    results["verdict"] = verdict(results)
    runs.write_json(os.path.join(run_dir, "metrics.json"), results)
    return results
