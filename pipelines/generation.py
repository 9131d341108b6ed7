"""Unconditional generation: train a preset with ``fit``, sample from it, export it.

``train`` writes one run folder (see :mod:`gan_apps.runs`) and resumes from its latest
checkpoint when run again with the same ``out``.
"""

from __future__ import annotations

import os

import numpy as np

from gan_apps import callbacks as gan_callbacks
from gan_apps import data as data_lib
from gan_apps import export as export_lib
from gan_apps import augment as augment_lib
from gan_apps import commands, registry, runs, runtime, sampling
from gan_apps.errors import UserInputError
from gan_apps.evaluation import features, report
from gan_apps.models import presets

KIND = "gan"
# Settings that define the networks and the data; a resumed run must keep them.
ARCHITECTURE_KEYS = (
    "model", "arch", "data", "resolution", "channels", "latent_dim", "width",
    "objective", "divergence", "coding", "batch_size", "ema", "ortho_reg", "pack", "augment",
    "g_lr", "d_lr", "zero_gp", "n_critic", "unroll_steps", "unroll_order", "gp_weight",
    "clip_value", "phase_images",
)
DEFAULTS = {
    "image": {"epochs": 60, "batch_size": 64, "width": 32},
    "points": {"epochs": 10, "batch_size": 256, "width": 128},
}
# Where a model's recipe departs from these (and from its paper) on a kind of data, the
# departure is its registry entry's `recipes` (gan_apps.registry, with the reasons).
SAMPLE_GRID = 64
# Periodic evaluation during training, on by default where a fitting extractor exists.
EVAL_SAMPLES = {"image": 1000, "points": 2500}
EVAL_MONITOR = {"image": "fid", "points": "high_quality_fraction"}


def train(*, callbacks=(), verbose="auto", **options):
    """Train a model of the family on a data source; returns the run folder.

    Args mirror ``gan-apps train``. ``steps`` is steps per epoch (default: the model's
    recipe for the data kind, :data:`gan_apps.registry.POINTS_RECIPES` on the 2-D mixtures,
    else one pass over the data); ``epochs`` the total number of epochs, counted across resumes.
    One step is one generator update; it consumes ``n_critic`` minibatches, one per critic
    update (``n_critic``: the model's recipe, else its paper's). ``eval_every`` evaluates every so many epochs (0 turns it off; default 5 on digits
    with the digits features, 1 on mixtures, off elsewhere) and keeps the best generator
    by FID (images) or high-quality fraction (mixtures) in ``best_generator.keras``.
    ``ema`` (a decay such as 0.999) keeps a moving average of the generator's weights,
    used for sample grids, evaluation, ``generator.keras`` and the export (the last
    iterate is saved as ``generator_raw.keras``; 0 turns a recipe's average off).
    ``zero_gp`` adds a zero-centred gradient penalty of that weight (0: off). ``ortho_reg`` adds orthogonal
    regularization of the generator with that weight.

    ``strategy`` (default / mirrored / multiworker), ``precision`` (float32 /
    mixed_float16 / mixed_bfloat16), ``deterministic`` (op determinism: an interrupted
    and resumed run ends with the same weights as an uninterrupted one) and
    ``steps_per_execution`` are described in :mod:`gan_apps.runtime`. ``on_nan="stop"``
    ends the run at the first non-finite loss, keeping the last good checkpoint;
    ``"rollback"`` restores that checkpoint, halves the learning rates and goes on
    (at most ``runs.MAX_ROLLBACKS`` times). ``callbacks`` are extra Keras callbacks, run
    before the checkpoint is written at the end of each epoch. The run itself is
    :func:`gan_apps.runs.train` of the plan :func:`plan_run` makes.
    """
    # Checked as the CLI checks them (a Python caller's learning_rate=0 is refused, not
    # replaced by a default).
    options = commands.validate("gan", "train", commands.settings("gan", "train", options))
    plan = plan_run({**options, "callbacks": callbacks, "verbose": verbose})
    runs.train(plan)
    return plan.out


def plan_run(options):
    """The :class:`~gan_apps.runs.RunPlan` of :func:`train`'s keyword ``options``."""
    source = data_lib.image_source(options["data"])
    entry = presets.get_preset(options["model"])
    info = data_lib.source_info(source, channels=options["channels"],
                                data_dir=options["data_dir"])
    config = run_config(options, source, info)
    _validate(config)
    needs_labels = entry.needs_labels
    if needs_labels and not info.num_classes:
        raise UserInputError(
            f"--model {config['model']} is class-conditional and needs labelled data "
            f"(digits, tfds:mnist, ...); {source.text!r} has no labels"
        )
    if info.kind not in entry.data_kinds:
        raise UserInputError(
            f"--model {config['model']} does not train on {info.kind} data ({source.text!r})")
    out = options["out"] or runs.default_run_dir(config["model"], source)
    builders = _Builders(options, config, source, info, needs_labels, out)
    return runs.RunPlan(
        kind=KIND, out=out, config=config, keys=ARCHITECTURE_KEYS, optional=("latent_dim",),
        build_model=builders.model, build_feed=builders.feed,
        early_callbacks=builders.early_callbacks, late_callbacks=builders.late_callbacks,
        checkpoint_items=builders.checkpoint_items, networks=builders.networks,
        export=builders.export, on_nan=options["on_nan"], plot_history=True,
        verbose=options["verbose"],
    )


def run_config(options, source, info):
    """config.json of a run: the options with the data's and the defaults' values filled in."""
    image = info.kind == "image"
    defaults = {**DEFAULTS[info.kind], **registry.get_model(options["model"]).recipe(info.kind)}
    eval_every = options["eval_every"]
    return {
        "kind": KIND,
        **{key: options[key] for key in (
            "model", "latent_dim", "divergence", "coding", "ortho_reg",
            "seed", "data_dir", "precision", "strategy")},
        "steps_per_execution": (options["steps_per_execution"]
                                or defaults.get("steps_per_execution", 1)),
        "objective": options["objective"] or defaults.get("objective"),
        "steps": options["steps"] or defaults.get("steps"),
        # 0 turns the recipe's moving average off (None in config.json, as before the recipes).
        "ema": _recipe_value(options["ema"], defaults.get("ema")),
        "arch": options["arch"] if image else "mlp",
        "data": source.text,
        "resolution": options["resolution"] if image else None,
        "channels": info.channels if image else None,
        "width": options["width"] or defaults["width"],
        "batch_size": options["batch_size"] or defaults["batch_size"],
        "epochs": options["epochs"] or defaults["epochs"],
        "jit": options["jit"],
        "deterministic": bool(options["deterministic"]),
        "eval_every": _default_eval_every(source, info.kind) if eval_every is None else eval_every,
        # None: the model's recipe.
        "g_lr": options["g_lr"] or defaults.get("g_lr"),
        "d_lr": options["d_lr"] or defaults.get("d_lr"),
        "n_critic": options["n_critic"] or defaults.get("n_critic"),
        # None: the paper's lambda (10 for wgan_gp); runs before this option have no entry.
        "gp_weight": options["gp_weight"] or defaults.get("gp_weight"),
        # None: the paper's clip value (0.01 for wgan and mmdgan); as gp_weight.
        "clip_value": options["clip_value"] or defaults.get("clip_value"),
        # None: the builder's 8k images (ProGAN's phases); as gp_weight.
        "phase_images": options["phase_images"] or defaults.get("phase_images"),
        # 0 is a setting here (the plain GAN), not "off"; None: the model's own K.
        "unroll_steps": (defaults.get("unroll_steps") if options["unroll_steps"] is None
                         else options["unroll_steps"]),
        "unroll_order": options["unroll_order"] or defaults.get("unroll_order"),
        # Recorded only when on, so runs from before these options resume unchanged.
        "pack": options["pack"] if (options["pack"] or 1) != 1 else None,
        "zero_gp": _recipe_value(options["zero_gp"], defaults.get("zero_gp")),
        "augment": ",".join(augment_lib.parse_policy(options["augment"])) or None,
    }


def _recipe_value(given, recipe):
    """An option that 0 turns off: the given value, else the recipe's; None when off."""
    value = recipe if given is None else given
    return value or None


class _Builders:
    """The model, the data and the callbacks of one :func:`train` run (see RunPlan)."""

    def __init__(self, options, config, source, info, needs_labels, out):
        self.options, self.config, self.source, self.info = options, config, source, info
        self.needs_labels, self.out = needs_labels, out
        self.averager = None
        self.network = None
        self.spec = None

    def model(self, _):
        options, config = self.options, self.config
        network = presets.build_model(
            config["model"], data_kind=self.info.kind, arch=options["arch"],
            resolution=options["resolution"], channels=config["channels"],
            num_classes=self.info.num_classes if self.needs_labels else None,
            latent_dim=options["latent_dim"], width=config["width"],
            objective=config["objective"], divergence=options["divergence"],
            coding=options["coding"], ortho_reg=options["ortho_reg"] or 0.0,
            seed=options["seed"], jit_compile=runtime.jit_compile(options["jit"]),
            steps_per_execution=config["steps_per_execution"],
            pack=config["pack"] or 1, augment=config["augment"],
            g_lr=config["g_lr"], d_lr=config["d_lr"], zero_gp=config.get("zero_gp") or 0.0,
            n_critic=config.get("n_critic"), gp_weight=config.get("gp_weight"),
            clip_value=config.get("clip_value"), phase_images=config.get("phase_images"),
            unroll_steps=config.get("unroll_steps"),
            unroll_order=config.get("unroll_order"),
        )
        if config["ema"]:
            self.averager = gan_callbacks.ExponentialMovingAverage(network, config["ema"])
        self.network = network
        return network

    def feed(self, network, _):
        config = self.config
        # One fit step makes n_critic critic updates, each on its own minibatch of batch_size.
        critic_updates = getattr(network, "n_critic", 1)
        dataset = data_lib.load_dataset(
            self.source, resolution=self.options["resolution"], channels=config["channels"],
            batch_size=config["batch_size"] * critic_updates, split="train",
            seed=config["seed"], data_dir=config["data_dir"], with_labels=self.needs_labels,
        )
        steps_per_epoch = config["steps"] or int(dataset.cardinality())
        self.spec = network.latent_spec()
        config["latent_dim"] = self.spec[0]["dim"]
        config["latent_spec"] = self.spec
        # Skipping the batches earlier epochs consumed makes a resumed run see exactly the
        # batches an uninterrupted one would (the shuffle order is a function of the seed).
        return runs.Feed(lambda epoch: dataset.repeat().skip(epoch * steps_per_epoch),
                         steps_per_epoch)

    def sampled_generator(self):
        return self.averager.generator if self.averager else self.network.generator

    def early_callbacks(self, _):
        extra = [*self.options["callbacks"], *([self.averager] if self.averager else [])]
        return extra + _evaluation_callbacks(self.config, self.info, self.out,
                                             self.sampled_generator)

    def late_callbacks(self, network):
        reference = (data_lib.MIXTURES[self.source.name].centers
                     if self.info.kind == "points" else None)
        grid_inputs, columns = _grid_inputs(self.spec, self.config["seed"])
        return [
            gan_callbacks.SampleGrid(
                os.path.join(self.out, "samples"), grid_inputs, reference=reference,
                generator_fn=self.sampled_generator, columns=columns,
            ),
            # Last, so the epoch-end cost it measures includes the evaluation and the grid.
            gan_callbacks.TimeEstimate(eval_every=self.config["eval_every"]),
        ]

    def checkpoint_items(self, _):
        return self.averager.checkpoint_items() if self.averager else None

    def networks(self, network):
        saved = {}
        for name, net in network.networks().items():
            if name == "generator" and self.averager:
                saved["generator_raw"] = net
                net = self.averager.generator
            saved[name] = net
        return saved

    def export(self, _):
        export_lib.export_generator(self.sampled_generator(), os.path.join(self.out, "export"),
                                    spec=self.spec, sample_endpoint=True)


def _grid_inputs(spec, seed):
    """Fixed inputs for the per-epoch sample grid: one column per class when conditional."""
    class_index = sampling.class_input(spec)
    if class_index is None:
        return sampling.sample_inputs(spec, SAMPLE_GRID, np.random.default_rng(seed)), None
    classes = spec[class_index]["num_classes"]
    rows = max(1, SAMPLE_GRID // classes) if classes <= SAMPLE_GRID else 1
    return sampling.sample_inputs(spec, rows * classes, np.random.default_rng(seed)), classes


def _default_eval_every(source, kind):
    if kind == "points":
        return 1
    return 5 if source.kind == "digits" else 0


def _evaluation_callbacks(config, info, out, generator_fn):
    if not config["eval_every"]:
        return []
    evaluate_fn = make_evaluator(config, info, extractor="digits")
    return [
        gan_callbacks.PeriodicEvaluation(
            evaluate_fn,
            every=config["eval_every"],
            monitor=EVAL_MONITOR[info.kind],
            mode="min" if info.kind == "image" else "max",
            best_path=os.path.join(out, "best_generator.keras"),
            generator_fn=generator_fn,
        )
    ]


# The keys of config.json make_evaluator reads (evaluate, adversarial report_gan).
EVALUATE_KEYS = ("data", "resolution", "channels", "data_dir", runs.LATENT_KEYS)


# The real-data floor compares real examples of the other split with the reference set.
FLOOR_SPLIT = {"test": "train", "train": "test"}


def make_evaluator(config, info, *, names=None, samples=None, extractor="digits",
                   inception_weights=None, seed=0):
    """``generator -> metrics dict`` comparing its samples with held-out real data.

    The function also has ``real_data_floor()``: the same metrics, with the same extractor
    and reference set, for as many real examples of the other split (the training split when
    the reference is the test split) as there are samples; what a generator that reproduced
    the data distribution would score, or None when the data has one split only.
    """
    kind = info.kind
    names = report.parse_metrics(names, kind)
    samples = samples or EVAL_SAMPLES[kind]
    source = data_lib.image_source(config["data"])
    split = "test" if source.kind in ("digits", "points") else "train"
    real, _ = data_lib.load_arrays(
        source, resolution=config["resolution"] or 32, channels=config["channels"],
        split=split, data_dir=config["data_dir"],
        num_examples=samples if kind == "points" else None, seed=seed,
    )
    kwargs = {"mixture": data_lib.MIXTURES.get(source.name) if kind == "points" else None}
    if kind == "image":
        extractor_model = features.get_extractor(extractor, inception_weights=inception_weights)
        kwargs.update(extractor=extractor_model, num_classes=extractor_model.num_classes)
    spec = run_latent_spec(config)
    inputs = sampling.sample_inputs(spec, samples, np.random.default_rng(seed))
    class_index = sampling.class_input(spec)
    if class_index is not None and kind == "image":
        # A label-conditioned model's class input is a digit class; an unsupervised model's
        # (InfoGAN's c_cat) is a code whose meaning the model chose.
        entry = registry.MODELS.get(config.get("model"))
        labelled = entry is None or entry.needs_labels
        kwargs["fake_labels" if labelled else "fake_codes"] = inputs[class_index]

    def evaluate_fn(generator):
        fake = sampling.generate(generator, inputs)
        return report.evaluate(fake, real, names, seed=seed, **kwargs)

    def real_data_floor():
        return _real_data_floor(source, config, split, real, names, samples, seed, kwargs)

    evaluate_fn.real_data_floor = real_data_floor
    return evaluate_fn


def _real_data_floor(source, config, split, reference, names, samples, seed, kwargs):
    """The metrics ``names`` of ``samples`` real examples of the split that is not
    ``split`` (the reference's) against ``reference``: ``{"split", "examples", metric:
    value, ...}``, or None when the source has one split only (an image folder). Cheap: the
    extractor's features of real data, no generator."""
    try:
        held_out, _ = data_lib.load_arrays(
            source, resolution=config["resolution"] or 32, channels=config["channels"],
            split=FLOOR_SPLIT[split], data_dir=config["data_dir"], num_examples=samples,
            seed=seed,
        )
    except UserInputError:
        return None
    kwargs = {k: v for k, v in kwargs.items() if k not in ("fake_labels", "fake_codes")}
    floor = report.evaluate(held_out, reference, names, seed=seed, **kwargs)
    floor.pop("extractor", None)  # the same as the results'
    return {"split": FLOOR_SPLIT[split], "examples": int(len(held_out)), **floor}


def run_latent_spec(config):
    """The generator inputs of a run (runs written before specs existed: one z input)."""
    return config.get("latent_spec") or sampling.unconditional_spec(config["latent_dim"])


def _validate(config):
    if config["ema"] is not None and not 0.0 < config["ema"] < 1.0:
        raise UserInputError(f"--ema is a decay in (0, 1) such as 0.999, got {config['ema']}")
    if config["ortho_reg"] is not None and config["ortho_reg"] < 0:
        raise UserInputError(f"--ortho-reg must be >= 0, got {config['ortho_reg']}")
    for key in ("epochs", "batch_size", "width"):
        if int(config[key]) < 1:
            raise UserInputError(f"--{key.replace('_', '-')} must be >= 1, got {config[key]}")
    if config["steps"] is not None and config["steps"] < 1:
        raise UserInputError(f"--steps must be >= 1, got {config['steps']}")
    if config["eval_every"] < 0:
        raise UserInputError(f"--eval-every must be >= 0, got {config['eval_every']}")
    if config["latent_dim"] is not None and config["latent_dim"] < 1:
        raise UserInputError(f"--latent-dim must be >= 1, got {config['latent_dim']}")
    pack = config["pack"] or 1
    if pack < 1:
        raise UserInputError(f"--pack must be >= 1, got {pack}")
    if config["batch_size"] % pack:
        raise UserInputError(f"--pack {pack} needs a batch size divisible by {pack}; "
                             f"--batch-size is {config['batch_size']}")
    if config["augment"] and config["resolution"] is None:
        raise UserInputError("--augment (DiffAugment) transforms images; drop it for "
                             f"{config['data']} (2-D points)")


def sample(run_dir, *, num=64, seed=0, output=None, label=None, truncation=None):
    """Write a grid (or scatter plot) of ``num`` samples from a finished run; returns its path.

    ``label`` fixes the class of a conditional model (default: every class in turn, one
    column each); ``truncation`` resamples normal inputs beyond that magnitude.
    """
    config = runs.read_config(run_dir, kind=KIND, required=("data", runs.LATENT_KEYS))
    if num < 1:
        raise UserInputError(f"--num must be >= 1, got {num}")
    if truncation is not None and truncation <= 0:
        raise UserInputError(f"--truncation must be > 0, got {truncation}")
    spec = run_latent_spec(config)
    class_index = sampling.class_input(spec)
    labels, columns = None, None
    if label is not None:
        if class_index is None:
            raise UserInputError(f"{run_dir!r} holds an unconditional model; drop --label")
        classes = spec[class_index]["num_classes"]
        if not 0 <= label < classes:
            raise UserInputError(f"--label must lie in 0..{classes - 1}, got {label}")
        labels = np.full(num, label, np.int32)
    elif class_index is not None:
        columns = spec[class_index]["num_classes"]
    generator = runs.load_model(os.path.join(run_dir, "generator.keras"), "generator")
    inputs = sampling.sample_inputs(spec, num, np.random.default_rng(seed), labels=labels,
                                    truncation=truncation)
    source = data_lib.image_source(config["data"])
    reference = data_lib.MIXTURES[source.name].centers if source.kind == "points" else None
    output = output or os.path.join(run_dir, "samples", f"sample_seed{seed}.png")
    return gan_callbacks.write_samples(generator, inputs, output, reference=reference,
                                       columns=columns)


def export(run_dir, *, output=None):
    """Export a finished run's generator as a SavedModel; returns the export folder."""
    config = runs.read_config(run_dir, kind=KIND, required=(runs.LATENT_KEYS,))
    generator = runs.load_model(os.path.join(run_dir, "generator.keras"), "generator")
    return export_lib.export_generator(generator, output or os.path.join(run_dir, "export"),
                                       spec=run_latent_spec(config), sample_endpoint=True)


def evaluate(run_dir, *, metrics=None, samples=None, extractor="digits",
             inception_weights=None, seed=0, use_best=False):
    """Evaluate a finished run's generator; prints nothing, writes ``metrics.json``, returns the dict.

    The dict holds the metrics and, under ``floor``, the same metrics for real held-out data
    (:func:`make_evaluator`'s ``real_data_floor``; None when the data has no second split),
    which :func:`gan_apps.evaluation.report.format_table` prints beside each metric.
    """
    config = runs.read_config(run_dir, kind=KIND, required=EVALUATE_KEYS)
    info = data_lib.source_info(config["data"], channels=config["channels"],
                                data_dir=config["data_dir"])
    if samples is not None and samples < 2:
        raise UserInputError(f"--samples must be >= 2, got {samples}")
    name = "best_generator.keras" if use_best else "generator.keras"
    generator = runs.load_model(os.path.join(run_dir, name), "generator")
    evaluate_fn = make_evaluator(config, info, names=metrics, samples=samples,
                                 extractor=extractor, inception_weights=inception_weights,
                                 seed=seed)
    results = {"generator": name, "samples": samples or EVAL_SAMPLES[info.kind], "seed": seed,
               **evaluate_fn(generator), "floor": evaluate_fn.real_data_floor()}
    runs.write_json(os.path.join(run_dir, "metrics.json"), results)
    return results
