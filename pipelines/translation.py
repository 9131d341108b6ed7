"""Unpaired image-to-image translation (CycleGAN): train, apply, evaluate, export.

``train`` writes a run folder of kind ``"translation"`` (``config.json``, ``checkpoints/``,
``history.csv``, ``logs/``, ``samples/epoch_NNNN.png`` grids of (A, G(A), F(G(A))) and
(B, F(B), G(F(B))), the four networks as ``.keras`` and ``export/``) and resumes from its
latest checkpoint when run again with the same ``out``.
"""

from __future__ import annotations

import os

import keras
import numpy as np
import tensorflow as tf

from gan_apps import images as image_io
from gan_apps import commands, runs
from gan_apps.data import folder, unpaired
from gan_apps.errors import UserInputError
from gan_apps.evaluation import features, report
from gan_apps.evaluation.image_quality import psnr
from gan_apps.export import checked_input, write_atomically
from gan_apps.models import cyclegan

KIND = "translation"
DIRECTIONS = ("a2b", "b2a")
# Settings that define the networks and the data; a resumed run must keep them.
ARCHITECTURE_KEYS = ("data", "crop_size", "load_size", "channels", "ngf", "ndf", "n_blocks",
                     "objective", "cycle_weight", "identity_weight", "pool_size", "batch_size",
                     "learning_rate", "epochs", "decay_epochs", "steps", "seed")
# Zhu et al. 2017, Sec. 7.1 for real data; the embedded pair is sized for a CPU.
PAPER_DEFAULTS = {"crop_size": 256, "ngf": 64, "epochs": 100, "decay_epochs": 100}
TONE_DEFAULTS = {"crop_size": 64, "ngf": 32, "epochs": 3, "decay_epochs": 3}
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
        return pair

    def build_model(pair):
        return cyclegan.build_cyclegan(
            channels=pair.channels, crop_size=config["crop_size"], ngf=config["ngf"],
            ndf=config["ndf"], n_blocks=config["n_blocks"], objective=config["objective"],
            cycle_weight=options["cycle_weight"], identity_weight=options["identity_weight"],
            pool_size=config["pool_size"], learning_rate=options["learning_rate"],
            constant_steps=config["epochs"] * loaded["steps"],
            decay_steps=config["decay_epochs"] * loaded["steps"], seed=config["seed"],
            jit_compile=True if config["jit"] else "auto",
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
        return [grid, *options["callbacks"]]

    def export(model):
        export_translators(model.generator_ab, model.generator_ba, os.path.join(out, "export"))

    # ``channels`` is settled by the data; a resume compares it only when it is given.
    return runs.RunPlan(
        kind=KIND, out=out, config=config, keys=ARCHITECTURE_KEYS, optional=("channels",),
        epochs=total_epochs, load_data=load_data, build_model=build_model,
        build_feed=build_feed, late_callbacks=late_callbacks, export=export,
        verbose=options["verbose"],
    )


def run_config(options, source):
    """config.json of a run: the options with the defaults for the source filled in."""
    defaults = TONE_DEFAULTS if source.kind == "tone" else PAPER_DEFAULTS
    crop_size = options["crop_size"] or defaults["crop_size"]
    return {
        "kind": KIND, "data": source.text, "crop_size": crop_size,
        "load_size": options["load_size"] or unpaired.default_load_size(crop_size),
        "ngf": options["ngf"] or defaults["ngf"],
        "n_blocks": options["n_blocks"] or (6 if crop_size <= 128 else 9),
        **{key: options[key] for key in (
            "channels", "ndf", "objective", "pool_size", "batch_size", "steps", "seed",
            "data_dir", "strategy", "precision", "steps_per_execution")},
        **{key: float(options[key]) for key in (
            "cycle_weight", "identity_weight", "learning_rate")},
        "epochs": defaults["epochs"] if options["epochs"] is None else options["epochs"],
        "decay_epochs": (defaults["decay_epochs"] if options["decay_epochs"] is None
                         else options["decay_epochs"]),
        "jit": bool(options["jit"]), "deterministic": bool(options["deterministic"]),
    }


def _steps_per_epoch(pair, config):
    steps = min(unpaired.steps_per_epoch(pair, config["batch_size"]), config["steps"] or np.inf)
    if steps < 1:
        raise UserInputError(
            f"the domains have {len(pair.a)} and {len(pair.b)} examples, fewer than the batch "
            f"size {config['batch_size']}; pass a smaller --batch-size"
        )
    return int(steps)


def _validate(config):
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
    if config["pool_size"] < 0:
        raise UserInputError(f"--pool-size must be >= 0, got {config['pool_size']}")
    for key in ("cycle_weight", "identity_weight", "learning_rate"):
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


def evaluate(run_dir, *, extractor=None, inception_weights=None):
    """Measure a finished run on held-out data; writes ``metrics.json`` and returns the dict.

    For ``photos:tone`` the held-out A patches have a known answer: the error of G(A) next
    to that of the identity mapping. With an ``extractor`` (``digits``, or ``inception``
    with ``inception_weights``): FID of G(A) against B and of F(B) against A, next to
    FID(A, B) before translation.
    """
    config = runs.read_config(run_dir, kind=KIND,
                              required=("data", "crop_size", "channels", "data_dir"))
    source = unpaired.check_source(config["data"])
    split = "test" if unpaired.has_test_split(source) else "train"
    pair = unpaired.load_pair(source, split=split, crop_size=config["crop_size"],
                              load_size=config["crop_size"], channels=config["channels"],
                              data_dir=config["data_dir"])
    if pair.known_b is None and extractor is None:
        raise UserInputError(
            f"{config['data']!r} has no known answer to compare with; pass --extractor digits, "
            "or --extractor inception --inception-weights FILE, for FID"
        )
    generator_ab, generator_ba = (_load_generator(run_dir, d) for d in DIRECTIONS)
    fake_b = _translate_batches(generator_ab, pair.a)
    results = {"data": config["data"], "split": split, "examples_a": len(pair.a),
               "examples_b": len(pair.b)}
    if pair.known_b is not None:
        results.update(known_answer_errors(fake_b, pair.a, pair.known_b))
    if extractor is not None:
        model = features.get_extractor(extractor, inception_weights=inception_weights)
        fake_a = _translate_batches(generator_ba, pair.b)
        fid = lambda fake, real: report.evaluate(fake, real, ("fid",), extractor=model)  # noqa: E731
        results["extractor"] = model.description
        results["fid_a2b"] = fid(fake_b, pair.b)["fid"]
        results["fid_b2a"] = fid(fake_a, pair.a)["fid"]
        results["fid_untranslated"] = fid(pair.a, pair.b)["fid"]
    runs.write_json(os.path.join(run_dir, "metrics.json"), results)
    return results
