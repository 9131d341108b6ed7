"""Unconditional generation: train a preset with ``fit``, sample from it, export it.

``train`` writes one run folder (see :mod:`gan_apps.runs`) and resumes from its latest
checkpoint when run again with the same ``out``.
"""

from __future__ import annotations

import os

import keras
import numpy as np

from gan_apps import callbacks as gan_callbacks
from gan_apps import data as data_lib
from gan_apps import export as export_lib
from gan_apps import plots, runs, runtime, sampling
from gan_apps.errors import UserInputError
from gan_apps.evaluation import features, report
from gan_apps.models import presets

KIND = "gan"
# Settings that define the networks and the data; a resumed run must keep them.
ARCHITECTURE_KEYS = (
    "model", "arch", "data", "resolution", "channels", "latent_dim", "width",
    "objective", "divergence", "coding", "batch_size", "ema", "ortho_reg",
)
DEFAULTS = {
    # The default job: recognisable digits in a few minutes on 2 CPU cores.
    "image": {"epochs": 60, "batch_size": 64, "width": 32},
    "points": {"epochs": 10, "batch_size": 256, "width": 128},
}
SAMPLE_GRID = 64
# --on-nan rollback: restore the last checkpoint and scale the learning rates by this.
ROLLBACK_FACTOR = 0.5
MAX_ROLLBACKS = 3
# Periodic evaluation during training, on by default where a fitting extractor exists.
EVAL_SAMPLES = {"image": 1000, "points": 2500}
EVAL_MONITOR = {"image": "fid", "points": "high_quality_fraction"}


def default_run_dir(model, data):
    safe = data.replace(":", "_").replace("/", "_").replace(",", "_")
    return os.path.join("runs", f"{model}-{safe}")


def train(
    *,
    model="dcgan",
    data="digits",
    arch="dcgan",
    out=None,
    epochs=None,
    steps=None,
    batch_size=None,
    resolution=32,
    channels=None,
    latent_dim=None,
    width=None,
    objective=None,
    divergence=None,
    coding=None,
    ema=None,
    ortho_reg=None,
    seed=0,
    data_dir=None,
    jit=False,
    eval_every=None,
    strategy="default",
    precision="float32",
    deterministic=False,
    steps_per_execution=1,
    on_nan="stop",
    callbacks=(),
    verbose="auto",
):
    """Train a model of the family on a data source; returns the run folder.

    Args mirror ``gan-apps train``. ``steps`` is steps per epoch (default: one pass over
    the data); ``epochs`` the total number of epochs, counted across resumes.
    One step is one generator update; with ``n_critic`` > 1 it consumes ``n_critic``
    minibatches (one per critic update). ``eval_every`` evaluates every so many epochs (0 turns it off; default 5 on digits
    with the digits features, 1 on mixtures, off elsewhere) and keeps the best generator
    by FID (images) or high-quality fraction (mixtures) in ``best_generator.keras``.
    ``ema`` (a decay such as 0.999) keeps a moving average of the generator's weights,
    used for sample grids, evaluation, ``generator.keras`` and the export (the last
    iterate is saved as ``generator_raw.keras``). ``ortho_reg`` adds orthogonal
    regularization of the generator with that weight.

    ``strategy`` (default / mirrored / multiworker), ``precision`` (float32 /
    mixed_float16 / mixed_bfloat16), ``deterministic`` (op determinism: an interrupted
    and resumed run ends with the same weights as an uninterrupted one) and
    ``steps_per_execution`` are described in :mod:`gan_apps.runtime`. ``on_nan="stop"``
    ends the run at the first non-finite loss, keeping the last good checkpoint;
    ``"rollback"`` restores that checkpoint, halves the learning rates and goes on
    (at most ``MAX_ROLLBACKS`` times). ``callbacks`` are extra Keras callbacks, run before
    the checkpoint is written at the end of each epoch.
    """
    if on_nan not in ("stop", "rollback"):
        raise UserInputError(f"--on-nan must be stop or rollback, got {on_nan!r}")
    if not isinstance(steps_per_execution, int) or steps_per_execution < 1:
        raise UserInputError(f"--steps-per-execution must be >= 1, got {steps_per_execution!r}")
    entry = presets.get_preset(model)
    info = data_lib.source_info(data, channels=channels, data_dir=data_dir)
    defaults = DEFAULTS[info.kind]
    config = {
        "kind": KIND,
        "model": model,
        "arch": arch if info.kind == "image" else "mlp",
        "data": data,
        "resolution": resolution if info.kind == "image" else None,
        "channels": info.channels if info.kind == "image" else None,
        "latent_dim": latent_dim,
        "width": width or defaults["width"],
        "objective": objective,
        "divergence": divergence,
        "coding": coding,
        "ema": ema,
        "ortho_reg": ortho_reg,
        "batch_size": batch_size or defaults["batch_size"],
        "epochs": epochs or defaults["epochs"],
        "steps": steps,
        "seed": seed,
        "data_dir": data_dir,
        "jit": bool(jit),
        "precision": precision,
        "strategy": strategy,
        "deterministic": bool(deterministic),
        "steps_per_execution": steps_per_execution,
        "eval_every": _default_eval_every(data, info.kind) if eval_every is None else eval_every,
    }
    _validate(config)
    needs_labels = getattr(entry, "needs_labels", False)
    if needs_labels and not info.num_classes:
        raise UserInputError(
            f"--model {model} is class-conditional and needs labelled data "
            f"(digits, tfds:mnist, ...); {data!r} has no labels"
        )
    if info.kind not in getattr(entry, "data_kinds", ("image", "points")):
        raise UserInputError(f"--model {model} does not train on {info.kind} data ({data!r})")
    out = out or default_run_dir(model, data)
    runs.check_resumable(out, config, kind=KIND, keys=ARCHITECTURE_KEYS, optional=("latent_dim",))

    strategy = runtime.configure(strategy=strategy, precision=precision,
                                 deterministic=deterministic, seed=seed)
    runtime.check_global_batch(strategy, config["batch_size"])
    with strategy.scope():
        network = presets.build_model(
            model, data_kind=info.kind, arch=arch, resolution=resolution,
            channels=config["channels"], num_classes=info.num_classes if needs_labels else None,
            latent_dim=latent_dim, width=config["width"], objective=objective,
            divergence=divergence, coding=coding, ortho_reg=ortho_reg or 0.0, seed=seed,
            jit_compile=True if jit else "auto", steps_per_execution=steps_per_execution,
        )
        averager = gan_callbacks.ExponentialMovingAverage(network, ema) if ema else None
    # One fit step makes n_critic critic updates, each on its own minibatch of batch_size.
    critic_updates = getattr(network, "n_critic", 1)
    dataset = data_lib.load_dataset(
        data, resolution=resolution, channels=config["channels"],
        batch_size=config["batch_size"] * critic_updates, split="train", seed=seed,
        data_dir=data_dir, with_labels=needs_labels,
    )
    steps_per_epoch = steps or int(dataset.cardinality())
    spec = network.latent_spec()
    config["latent_dim"] = spec[0]["dim"]
    config["latent_spec"] = spec
    runs.check_writable(out)
    checkpoint = gan_callbacks.TrainingCheckpoint(
        os.path.join(out, "checkpoints"), network,
        extra_items=averager.checkpoint_items() if averager else None,
    )
    initial_epoch = checkpoint.restore()
    runs.write_json(os.path.join(out, runs.CONFIG), config)

    def sampled_generator():
        return averager.generator if averager else network.generator

    if initial_epoch >= config["epochs"]:
        print(f"{out} is already trained to epoch {initial_epoch}; writing its final files")
    rollbacks = 0
    while initial_epoch < config["epochs"]:
        if initial_epoch:
            print(f"resuming {out} from epoch {initial_epoch}")
        reference = data_lib.MIXTURES[data].centers if info.kind == "points" else None
        grid_inputs, columns = _grid_inputs(spec, seed)
        fit_callbacks = [gan_callbacks.NaNGuard(), *callbacks]
        if averager:
            fit_callbacks.append(averager)
        fit_callbacks += [
            *_evaluation_callbacks(config, info, out, sampled_generator),
            keras.callbacks.CSVLogger(os.path.join(out, "history.csv"), append=True),
            keras.callbacks.TensorBoard(os.path.join(out, "logs")),
            gan_callbacks.SampleGrid(
                os.path.join(out, "samples"), grid_inputs, reference=reference,
                generator_fn=sampled_generator, columns=columns,
            ),
            checkpoint,
        ]
        # Skipping the batches earlier epochs consumed makes a resumed run see exactly the
        # batches an uninterrupted one would (the shuffle order is a function of the seed).
        stream = dataset.repeat().skip(initial_epoch * steps_per_epoch)
        try:
            network.fit(
                stream,
                epochs=config["epochs"],
                steps_per_epoch=steps_per_epoch,
                initial_epoch=initial_epoch,
                verbose=verbose,
                callbacks=fit_callbacks,
            )
        except gan_callbacks.NonFiniteLossError as err:
            if on_nan != "rollback" or rollbacks >= MAX_ROLLBACKS:
                raise
            rollbacks += 1
            initial_epoch = checkpoint.restore()
            factors = lower_learning_rates(network, ROLLBACK_FACTOR)
            print(f"{err}; rolled back to epoch {initial_epoch} and multiplied the learning "
                  f"rates by {ROLLBACK_FACTOR} (now {', '.join(f'{v:.3g}' for v in factors)}); "
                  f"rollback {rollbacks} of at most {MAX_ROLLBACKS}")
            continue
        break
    if os.path.exists(os.path.join(out, "history.csv")):
        plots.plot_history(os.path.join(out, "history.csv"), os.path.join(out, "history.png"))
    for name, net in network.networks().items():
        if name == "generator" and averager:
            runs.save_model(net, os.path.join(out, "generator_raw.keras"))
            net = averager.generator
        runs.save_model(net, os.path.join(out, f"{name}.keras"))
    export_lib.export_generator(sampled_generator(), os.path.join(out, "export"), spec=spec,
                                sample_endpoint=True)
    return out


def lower_learning_rates(model, factor):
    """Multiply the learning rate of every optimizer of ``model`` by ``factor``; returns them."""
    values = []
    for optimizer in _optimizers(model):
        inner = getattr(optimizer, "inner_optimizer", optimizer)
        if isinstance(inner.learning_rate, keras.optimizers.schedules.LearningRateSchedule):
            raise UserInputError("--on-nan rollback cannot lower a scheduled learning rate; "
                                 "use --on-nan stop")
        inner.learning_rate = float(inner.learning_rate) * factor
        values.append(float(inner.learning_rate))
    return values


def _optimizers(model):
    found = [value for key, value in model.checkpoint_items().items()
             if isinstance(value, keras.optimizers.Optimizer)]
    return found


def _grid_inputs(spec, seed):
    """Fixed inputs for the per-epoch sample grid: one column per class when conditional."""
    class_index = sampling.class_input(spec)
    if class_index is None:
        return sampling.sample_inputs(spec, SAMPLE_GRID, np.random.default_rng(seed)), None
    classes = spec[class_index]["num_classes"]
    rows = max(1, SAMPLE_GRID // classes) if classes <= SAMPLE_GRID else 1
    return sampling.sample_inputs(spec, rows * classes, np.random.default_rng(seed)), classes


def _default_eval_every(data, kind):
    if kind == "points":
        return 1
    return 5 if data == "digits" else 0


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


def make_evaluator(config, info, *, names=None, samples=None, extractor="digits",
                   inception_weights=None, seed=0):
    """``generator -> metrics dict`` comparing its samples with held-out real data."""
    kind = info.kind
    names = report.parse_metrics(names, kind)
    samples = samples or EVAL_SAMPLES[kind]
    split = "test" if config["data"] in ("digits", *data_lib.MIXTURES) else "train"
    real, _ = data_lib.load_arrays(
        config["data"], resolution=config["resolution"] or 32, channels=config["channels"],
        split=split, data_dir=config["data_dir"],
        num_examples=samples if kind == "points" else None, seed=seed,
    )
    kwargs = {"mixture": data_lib.MIXTURES.get(config["data"])}
    if kind == "image":
        extractor_model = features.get_extractor(extractor, inception_weights=inception_weights)
        kwargs.update(extractor=extractor_model, num_classes=extractor_model.num_classes)
    spec = run_latent_spec(config)
    inputs = sampling.sample_inputs(spec, samples, np.random.default_rng(seed))
    class_index = sampling.class_input(spec)
    if class_index is not None and kind == "image":
        kwargs["fake_labels"] = inputs[class_index]

    def evaluate_fn(generator):
        fake = sampling.generate(generator, inputs)
        return report.evaluate(fake, real, names, seed=seed, **kwargs)

    return evaluate_fn


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


def sample(run_dir, *, num=64, seed=0, output=None, label=None, truncation=None):
    """Write a grid (or scatter plot) of ``num`` samples from a finished run; returns its path.

    ``label`` fixes the class of a conditional model (default: every class in turn, one
    column each); ``truncation`` resamples normal inputs beyond that magnitude.
    """
    config = runs.read_config(run_dir, kind=KIND)
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
    reference = data_lib.MIXTURES[config["data"]].centers if config["data"] in data_lib.MIXTURES else None
    output = output or os.path.join(run_dir, "samples", f"sample_seed{seed}.png")
    return gan_callbacks.write_samples(generator, inputs, output, reference=reference,
                                       columns=columns)


def export(run_dir, *, output=None):
    """Export a finished run's generator as a SavedModel; returns the export folder."""
    config = runs.read_config(run_dir, kind=KIND)
    generator = runs.load_model(os.path.join(run_dir, "generator.keras"), "generator")
    return export_lib.export_generator(generator, output or os.path.join(run_dir, "export"),
                                       spec=run_latent_spec(config), sample_endpoint=True)


def evaluate(run_dir, *, metrics=None, samples=None, extractor="digits",
             inception_weights=None, seed=0, use_best=False):
    """Evaluate a finished run's generator; prints nothing, writes ``metrics.json``, returns the dict."""
    config = runs.read_config(run_dir, kind=KIND)
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
               **evaluate_fn(generator)}
    runs.write_json(os.path.join(run_dir, "metrics.json"), results)
    return results
