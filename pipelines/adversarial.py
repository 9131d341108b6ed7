"""Unrestricted adversarial examples from an AC-GAN (Song, Shu, Kushman & Ermon, NeurIPS 2018).

For a source class s and a target class t, search a latent z near a random z0 so that the
classifier under attack f says t on G(z, s) while the AC-GAN's auxiliary classifier c
still says s (Song et al. 2018, Sec. 3.2, the targeted loss, with the closeness term of
their reference code, ermongroup/generative_adversary main.py):

    L(z) = -log f(t | G(z, s))
           + lambda1 * (1/m) * sum_i max((z_i - z0_i)^2 - eps^2, 0)
           + lambda2 * (-log c(s | G(z, s)))

The paper writes the closeness term as the L1 hinge (1/m) sum_i max(|z_i - z0_i| - eps, 0);
the reference code (``--lambda1 100 --lambda2 100 --z_eps 0.1``) uses the squared hinge
above, which is the default here (``closeness="squared"``; ``closeness="l1"`` gives the
paper's form). Departure: the reference minimises the batch mean by plain gradient
descent (lr 1, annealed Langevin noise on z, 1000 steps); here each example's loss is
minimised by Adam (lr 0.05, 200 steps). Adam's step does not depend on the scale of the
loss, only on the ratios of its terms, so the reference's lambdas do not carry over: the
defaults lambda1 = 3, lambda2 = 10 and lr 0.05 come from the calibration grid in
docs/benchmarks.md (block ``adversarial_lambdas``), where 100 / 100 keeps z within eps of z0
and fails (0 %).
The untargeted form replaces the first term by min_{t != s} -log f(t | G(z, s)) (their
code). The noise-augmented attack (Sec. 3.2) searches G(z, s) + noise * tanh(n) jointly
over z and an image-sized n; only f sees the noisy image, the auxiliary classifier c
judges the clean G(z, s) (as the reference code). All N examples of a call are one
tensor z [N, m] optimised together by Adam; each example's loss depends on its own z
only, so a batch gives the same result as N separate searches.

Actions (the CLI's ``gan-apps adversarial``): :func:`train_gan` (the AC-GAN with WGAN-GP
through :func:`gan_apps.pipelines.generation.train`), :func:`train_classifier` (a plain
or a PGD-trained classifier, or the independent evaluator), :func:`attack` and
:func:`evaluate` (success, validity by the evaluator, and the PGD baseline).
"""

from __future__ import annotations

import os

import keras
import numpy as np
import tensorflow as tf
from keras import ops

from gan_apps import data as data_lib
from gan_apps import commands, runs, runtime, sampling
from gan_apps.errors import UserInputError
from gan_apps.images import make_grid, to_uint8, write_png
from gan_apps.models import classifiers as classifiers_lib
from gan_apps.pipelines import generation

CLASSIFIER_KIND = "classifier"
# Song et al.'s reference code: squared hinge, lambda1 = lambda2 = 100, z_eps = 0.1, for plain
# gradient descent on the batch mean. With Adam only the ratios of the terms matter; 3 / 10
# with lr 0.05 is the calibrated choice (docs/benchmarks.md, block adversarial_lambdas).
CLOSENESS = ("squared", "l1")
LAMBDA1 = 3.0
LAMBDA2 = 10.0
LATENT_EPS = 0.1
# Their code runs plain gradient descent (lr 1, annealed gradient noise, 1000 steps); Adam
# moves each z_i by about lr per step, so 200 steps at 0.05 reach |z - z0| of a few units.
LEARNING_RATE = 0.05
ATTACK_STEPS = 200
# Digits split of the classifiers: the train split halved by a fixed permutation, so the
# evaluator learns from images the attacked classifiers never saw.
SPLITS = ("train", "half-a", "half-b")
SPLIT_STATE = 1234
# PGD radius in [0, 1] pixel units, doubled on [-1, 1]. Madry et al. 2018 use 0.3 on 28x28
# MNIST; on the 16x16 and 8x8 digits PGD training at 0.3 collapses to chance (test accuracy
# 0.100, docs/benchmarks.md), so the default is 0.1.
PGD_EPS = 0.1
PGD_STEPS = 10
GRID_PAIRS_PER_ROW = 8


# ----------------------------------------------------------------------------- the loss


def closeness_term(z, z0, eps=LATENT_EPS, form="squared"):
    """Per-example soft distance of z from z0 beyond eps, [N].

    ``squared``: (1/m) sum_i max((z_i - z0_i)^2 - eps^2, 0), the reference code's
    (ermongroup/generative_adversary main.py, ``targeted_attack``); ``l1``: (1/m) sum_i
    max(|z_i - z0_i| - eps, 0), Song et al. 2018's Sec. 3.2. Both are 0 inside the box
    |z_i - z0_i| <= eps; the squared form pulls less near it (gradient 2|d| < 1 for
    |d| < 0.5) and more far from it.
    """
    if form not in CLOSENESS:
        raise UserInputError(f"--closeness must be one of {', '.join(CLOSENESS)}, got {form!r}")
    distance = z - z0
    if form == "squared":
        return ops.mean(ops.relu(ops.square(distance) - eps**2), axis=-1)
    return ops.mean(ops.relu(ops.abs(distance) - eps), axis=-1)


def song_loss_terms(classifier_logits, aux_logits, z, z0, source, target=None, *, eps=LATENT_EPS,
                    closeness="squared"):
    """Per-example terms of Song et al. 2018's loss (Sec. 3.2).

    Args:
        classifier_logits: f's logits on G(z, s), [N, K].
        aux_logits: the AC-GAN auxiliary classifier's logits on the clean G(z, s), [N, K]
            (without the noise of the noise-augmented attack, which only f sees).
        z, z0: latents [N, m] and their starting points.
        source: int [N], the class G is conditioned on (and c must keep).
        target: int [N] for the targeted attack; None for the untargeted one
            (min over t != s of -log f(t | x), as in the authors' code).
        eps: the soft radius of the latent search region.
        closeness: ``squared`` (the reference code's, default) or ``l1`` (the paper's);
            see :func:`closeness_term`.

    Returns:
        (adversarial [N], closeness [N], auxiliary [N]): -log f(t | x),
        :func:`closeness_term` and -log c(s | x).
    """
    source = ops.cast(source, "int32")
    log_probs = ops.log_softmax(ops.cast(classifier_logits, "float32"), axis=-1)
    if target is None:
        num_classes = ops.shape(log_probs)[-1]
        is_source = ops.one_hot(source, num_classes) > 0
        adversarial = ops.min(ops.where(is_source, np.inf, -log_probs), axis=-1)
    else:
        adversarial = classifiers_lib.cross_entropy(ops.cast(target, "int32"), log_probs)
    close = closeness_term(z, z0, eps, closeness)
    auxiliary = classifiers_lib.cross_entropy(source, ops.cast(aux_logits, "float32"))
    return adversarial, close, auxiliary


def search(generator, aux_classifier, classifier, z0, source, target=None, *, steps=ATTACK_STEPS,
           learning_rate=LEARNING_RATE, lambda1=LAMBDA1, lambda2=LAMBDA2, eps=LATENT_EPS,
           noise=0.0, closeness="squared"):
    """Minimise Song et al.'s loss over z (and the noise image) for a batch, with Adam.

    Args:
        generator: ``[z [N, m], label int32 [N]] -> images``.
        aux_classifier: ``images -> class logits`` (the AC-GAN discriminator's class head).
        classifier: ``images -> logits``, the classifier under attack f.
        z0: float32 [N, m], the starting latents.
        source, target: int [N] (target None: untargeted).
        noise: amplitude of the noise-augmented attack (0: off).
        closeness: ``squared`` (default) or ``l1``, see :func:`closeness_term`.

    Returns:
        dict of numpy arrays: ``z``, ``initial`` and ``adversarial`` images (what f sees:
        noisy when ``noise`` > 0), ``clean`` (G(z, s), what the auxiliary classifier sees;
        equal to ``adversarial`` without noise), and the per-example loss terms at the end.
    """
    z0 = tf.constant(np.asarray(z0, np.float32))
    source = tf.constant(np.asarray(source, np.int32))
    target = None if target is None else tf.constant(np.asarray(target, np.int32))
    z = tf.Variable(z0, name="z")
    variables = [z]
    noise_image = None
    if noise > 0:
        shape = (int(z0.shape[0]), *generator.output.shape[1:])
        noise_image = tf.Variable(tf.zeros(shape), name="noise")
        variables.append(noise_image)
    optimizer = keras.optimizers.Adam(learning_rate)
    optimizer.build(variables)

    def images_of(latent):
        """(clean G(z, s), the image f sees): with noise, f sees G(z, s) + noise * tanh(n)
        clipped, while the auxiliary classifier keeps the clean image (as the reference code,
        ermongroup/generative_adversary main.py, takes the AC-GAN's logits before adding
        the noise)."""
        clean = generator([latent, source], training=False)
        if noise_image is None:
            return clean, clean
        return clean, ops.clip(clean + noise * ops.tanh(noise_image), -1.0, 1.0)

    def terms():
        clean, images = images_of(z)
        return song_loss_terms(classifier(images, training=False), aux_classifier(clean),
                               z, z0, source, target, eps=eps, closeness=closeness)

    @tf.function
    def step():
        with tf.GradientTape() as tape:
            adversarial, close, auxiliary = terms()
            # A sum, not a mean: each z_i's gradient is that of its own loss, whatever N is.
            loss = ops.sum(adversarial + lambda1 * close + lambda2 * auxiliary)
        optimizer.apply(tape.gradient(loss, variables), variables)

    initial = np.asarray(generator([z0, source], training=False))
    for _ in range(int(steps)):
        step()
    adversarial, close, auxiliary = terms()
    clean, images = images_of(z)
    return {
        "z": z.numpy(),
        "initial": initial,
        "adversarial": np.asarray(images),
        "clean": np.asarray(clean),
        "adversarial_loss": np.asarray(adversarial),
        "closeness_loss": np.asarray(close),
        "auxiliary_loss": np.asarray(auxiliary),
    }


# ----------------------------------------------------------------------------- loading


def load_acgan(run_dir, required=()):
    """(generator, auxiliary classifier fn, config) of an AC-GAN run folder whose config.json
    has the keys in ``required`` besides the model and the latent spec."""
    config = runs.read_config(run_dir, kind=generation.KIND,
                              required=("model", runs.LATENT_KEYS, *required))
    spec = generation.run_latent_spec(config)
    if config.get("model") != "acgan" or sampling.class_input(spec) != 1:
        raise UserInputError(f"{run_dir!r} holds a {config.get('model')!r} run; attacks need an "
                             "AC-GAN: gan-apps adversarial train-gan --out RUN")
    generator = runs.load_model(os.path.join(run_dir, "generator.keras"), "generator")
    discriminator = runs.load_model(os.path.join(run_dir, "discriminator.keras"), "discriminator")

    def aux_classifier(images, training=False):
        # The critic's class head at inference; ``training`` is accepted for a uniform call.
        return discriminator(images, training=False)[1]

    return generator, aux_classifier, config


def load_classifier(path, generator=None, num_classes=None, what="--classifier"):
    """(model, config) of a classifier folder, checked against the generator's images."""
    config = runs.read_config(path, kind=CLASSIFIER_KIND)
    model = runs.load_model(os.path.join(path, "classifier.keras"), "classifier")
    if generator is not None:
        wanted = tuple(generator.output.shape[1:])
        have = tuple(model.input.shape[1:])
        if have != wanted:
            raise UserInputError(
                f"{what} {path!r} takes images of shape {have} but the generator makes {wanted}; "
                f"train it with --resolution {wanted[0]}"
            )
    classes = int(model.output.shape[-1])
    if num_classes is not None and classes != num_classes:
        raise UserInputError(f"{what} {path!r} has {classes} classes but the generator has "
                             f"{num_classes}; train it on the generator's data")
    return model, config


def _num_classes(config):
    spec = generation.run_latent_spec(config)
    return int(spec[sampling.class_input(spec)]["num_classes"])


def _check_class(name, value, num_classes):
    if not isinstance(value, (int, np.integer)) or not 0 <= value < num_classes:
        raise UserInputError(f"{name} must be a class in 0..{num_classes - 1}, got {value!r}")


def predict(model, images, batch_size=500):
    """Logits (numpy) of ``model`` on ``images`` in batches."""
    return np.concatenate([np.asarray(model(images[i:i + batch_size], training=False))
                           for i in range(0, len(images), batch_size)])


# ----------------------------------------------------------------------------- train


def train_gan(*, verbose="auto", **options):
    """Train the AC-GAN (WGAN-GP by default) and report its auxiliary accuracy and FID.

    Training is :func:`gan_apps.pipelines.generation.train` with ``model="acgan"``; the
    report (``adversarial_gan.json`` in the run folder) holds the auxiliary classifier's
    accuracy on the real test split and on ``samples`` generated images of cycling
    labels, and the digits-feature FID of those samples against the test split.
    ``strategy``, ``precision``, ``jit``, ``steps_per_execution``, ``deterministic`` and
    ``on_nan`` go to :func:`~gan_apps.pipelines.generation.train` unchanged (devices,
    compute dtype, XLA, steps per graph call, op determinism, what a NaN loss does).
    """
    options = commands.validate("adversarial", "train-gan",
                                commands.settings("adversarial", "train-gan", options))
    samples = options.pop("samples")
    options["out"] = options["out"] or runs.default_run_dir("acgan", options["data"])
    generation.train(model="acgan", **options, eval_every=0, verbose=verbose)
    return report_gan(options["out"], samples=samples, seed=options["seed"])


def report_gan(run_dir, *, samples=1000, seed=0):
    """Auxiliary accuracy (real test images, generated) and FID of an AC-GAN run; writes
    ``adversarial_gan.json`` and returns it."""
    generator, aux_classifier, config = load_acgan(run_dir, generation.EVALUATE_KEYS)
    real, labels = data_lib.load_arrays(config["data"], resolution=config["resolution"],
                                        channels=config["channels"], split="test")
    spec = generation.run_latent_spec(config)
    inputs = sampling.sample_inputs(spec, samples, np.random.default_rng(seed))
    fake = sampling.generate(generator, inputs)
    info = data_lib.source_info(config["data"], channels=config["channels"])
    quality = generation.make_evaluator(config, info, names="fid", samples=samples,
                                        seed=seed)(generator)
    result = {
        "objective": config.get("objective"),
        "num_classes": _num_classes(config),
        "aux_accuracy_real": float(np.mean(np.argmax(predict(aux_classifier, real), -1) == labels)),
        "aux_accuracy_generated": float(
            np.mean(np.argmax(predict(aux_classifier, fake), -1) == inputs[1])),
        "fid": quality["fid"],
        "conditional_accuracy": quality.get("conditional_accuracy"),
        "extractor": quality.get("extractor"),
        "samples": samples,
        "seed": seed,
    }
    runs.write_json(os.path.join(run_dir, "adversarial_gan.json"), result)
    return result


def split_arrays(data, split, resolution, channels=None):
    """Images and labels of a classifier's training split (see :data:`SPLITS`)."""
    if split not in SPLITS:
        raise UserInputError(f"--split must be one of {', '.join(SPLITS)}, got {split!r}")
    source = data_lib.image_source(data)
    images, labels = data_lib.load_arrays(source, resolution=resolution, channels=channels,
                                          split="train")
    if labels is None:
        raise UserInputError(
            f"{source.text!r} has no labels; classifiers train on labelled data (digits)")
    if split == "train":
        return images, labels
    order = np.random.default_rng(SPLIT_STATE).permutation(len(images))
    half = order[: len(order) // 2] if split == "half-a" else order[len(order) // 2:]
    return images[half], labels[half]


def train_classifier(*, out, pgd_step_size=None, verbose="auto", **options):
    """Train a classifier with ``fit``; writes ``classifier.keras`` and ``config.json``.

    ``adversarial="pgd"`` trains with :class:`gan_apps.models.classifiers.PGDTrainer`
    (Madry et al. 2018); ``pgd_eps`` is in [0, 1] pixel units (doubled on the [-1, 1]
    scale), ``pgd_step_size`` defaults to 2.5 * eps / steps (Madry et al.'s rule).
    ``split`` defaults to ``half-a`` for the cnn and ``half-b`` for the strided evaluator.
    Reports clean test accuracy and accuracy under an untargeted PGD attack of the same
    radius (20 steps) on the test split.

    Runtime (see :mod:`gan_apps.runtime`): ``strategy`` spreads each batch over devices,
    ``precision`` sets the compute dtype (loss scaling under mixed_float16), ``jit``
    compiles the train step with XLA, ``steps_per_execution`` runs that many steps per
    graph call and ``deterministic`` turns on op determinism; all go to ``config.json``.
    The run is :func:`gan_apps.runs.train` without checkpoints (a classifier trains in
    one go); config.json is written at the end, with the test accuracies.
    """
    options = commands.validate("adversarial", "train-classifier", commands.settings(
        "adversarial", "train-classifier", {**options, "out": out}))
    return runs.train(plan_classifier({**options, "pgd_step_size": pgd_step_size,
                                       "verbose": verbose}))


def plan_classifier(options):
    """The :class:`~gan_apps.runs.RunPlan` of :func:`train_classifier`'s ``options``."""
    if options["adversarial"] not in (None, "pgd"):
        raise UserInputError(f"--adversarial takes pgd, got {options['adversarial']!r}")
    for name in ("epochs", "batch_size", "width", "pgd_steps", "steps_per_execution"):
        value = options[name]
        if not isinstance(value, int) or value < 1:
            raise UserInputError(f"--{name.replace('_', '-')} must be >= 1, got {value!r}")
    if not 0 < options["pgd_eps"] <= 1:
        raise UserInputError(f"--pgd-eps is in [0, 1] pixel units, got {options['pgd_eps']}")
    source = data_lib.image_source(options["data"])
    config = classifier_config(options, source)
    out, resolution, seed = options["out"], config["resolution"], config["seed"]
    eps = 2.0 * options["pgd_eps"]
    trained = {}

    def load_data():
        info = data_lib.source_info(source)
        images, labels = split_arrays(source, config["split"], resolution)
        config.update(channels=int(images.shape[-1]), num_classes=info.num_classes)
        return images, labels

    def build_model(data):
        trained["model"] = classifiers_lib.build_classifier(
            config["architecture"], resolution=resolution, channels=config["channels"],
            num_classes=config["num_classes"], width=config["width"], seed=seed)
        return _compile_classifier(trained["model"], config)

    def build_feed(_, data):
        # The dataset reshuffles itself each epoch (seeded); fit cannot shuffle a tf.data source.
        dataset = data_lib.feeding.feed(tf.data.Dataset.from_tensor_slices(data).shuffle(
            len(data[0]), seed=seed).batch(config["batch_size"]))
        return runs.Feed(lambda _: dataset, None)

    def export(_):
        model = trained["model"]
        test_images, test_labels = data_lib.load_arrays(source, resolution=resolution,
                                                        split="test")
        clean = float(np.mean(np.argmax(predict(model, test_images), -1) == test_labels))
        attacked = classifiers_lib.pgd_perturb(model, test_images, test_labels, eps=eps,
                                               step_size=2.5 * eps / 20, steps=20,
                                               seed=seed)
        robust = float(np.mean(np.argmax(predict(model, np.asarray(attacked)), -1) == test_labels))
        config.update(test_accuracy=clean, pgd_test_accuracy=robust,
                      pgd_eval_eps_01=options["pgd_eps"])
        runs.write_json(os.path.join(out, runs.CONFIG), config)
        return config

    return runs.RunPlan(
        kind=CLASSIFIER_KIND, out=out, config=config, keys=None, load_data=load_data,
        build_model=build_model, build_feed=build_feed,
        networks=lambda _: {"classifier": trained["model"]}, export=export,
        verbose=options["verbose"],
    )


def classifier_config(options, source):
    """config.json of a classifier before training (the data fills in channels and classes)."""
    eps = 2.0 * options["pgd_eps"]
    step_size = (2.0 * options["pgd_step_size"] if options["pgd_step_size"]
                 else 2.5 * eps / options["pgd_steps"])
    architecture = options["architecture"]
    return {
        "kind": CLASSIFIER_KIND, "data": source.text, "architecture": architecture,
        "split": options["split"] or ("half-b" if architecture == "strided" else "half-a"),
        **{key: options[key] for key in (
            "resolution", "width", "epochs", "batch_size", "learning_rate", "seed",
            "adversarial", "strategy", "precision", "steps_per_execution")},
        "channels": None, "num_classes": None,
        "jit": options["jit"], "deterministic": bool(options["deterministic"]),
        "pgd": {"eps_01": options["pgd_eps"], "eps": eps, "step_size": step_size,
                "steps": options["pgd_steps"]} if options["adversarial"] else None,
    }


def _compile_classifier(model, config):
    """The model to fit: the classifier itself, or its PGD trainer (Madry et al. 2018)."""
    compile_args = {"jit_compile": runtime.jit_compile(config["jit"]),
                    "steps_per_execution": config["steps_per_execution"]}
    optimizer = runtime.loss_scaled(keras.optimizers.Adam(config["learning_rate"]))
    if config["adversarial"] == "pgd":
        pgd = config["pgd"]
        trainer = classifiers_lib.PGDTrainer(model, eps=pgd["eps"], step_size=pgd["step_size"],
                                             steps=pgd["steps"], seed=config["seed"])
        trainer.compile(optimizer=optimizer, **compile_args)
        return trainer
    model.compile(optimizer=optimizer,
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=["accuracy"], **compile_args)
    return model


# ----------------------------------------------------------------------------- attack


def _latents(config, num, seed):
    spec = generation.run_latent_spec(config)
    return sampling.sample_inputs(spec, num, np.random.default_rng(seed))[0]


def _attack_settings(steps, learning_rate, lambda1, lambda2, eps, noise, closeness):
    if not isinstance(steps, int) or steps < 0:
        raise UserInputError(f"--steps must be >= 0, got {steps!r}")
    for name, value in (("--lr", learning_rate), ("--lambda1", lambda1), ("--lambda2", lambda2),
                        ("--eps", eps), ("--noise", noise)):
        if not value >= 0:
            raise UserInputError(f"{name} must be >= 0, got {value!r}")
    if closeness not in CLOSENESS:
        raise UserInputError(f"--closeness must be one of {', '.join(CLOSENESS)}, got {closeness!r}")
    return dict(steps=steps, learning_rate=learning_rate, lambda1=lambda1, lambda2=lambda2,
                eps=eps, noise=noise, closeness=closeness)


def _outcome(result, source, target, classifier, aux_classifier, evaluator=None):
    """Per-example predictions and the attack's summary numbers."""
    predicted = np.argmax(predict(classifier, result["adversarial"]), -1)
    # The auxiliary classifier judges the clean G(z, s), as in the search (and the reference).
    aux = np.argmax(predict(aux_classifier, result.get("clean", result["adversarial"])), -1)
    fooled = predicted == target if target is not None else predicted != source
    distance = np.linalg.norm(result["z"] - result["z0"], axis=-1)
    summary = {
        "success_rate": float(np.mean(fooled)),
        "aux_keeps_source": float(np.mean(aux == source)),
        "success_and_aux": float(np.mean(fooled & (aux == source))),
        "mean_latent_l2": float(np.mean(distance)),
        "mean_latent_linf": float(np.mean(np.max(np.abs(result["z"] - result["z0"]), -1))),
        "initial_predicted_source": float(np.mean(
            np.argmax(predict(classifier, result["initial"]), -1) == source)),
    }
    per_example = {"predicted": predicted, "aux_predicted": aux}
    if evaluator is not None:
        judged = np.argmax(predict(evaluator, result["adversarial"]), -1)
        summary["validity"] = float(np.mean(judged == source))
        summary["success_and_valid"] = float(np.mean(fooled & (judged == source)))
        summary["evaluator_on_initial"] = float(np.mean(
            np.argmax(predict(evaluator, result["initial"]), -1) == source))
        per_example["evaluator_predicted"] = judged
    return summary, per_example


def write_grid(path, initial, adversarial):
    """PNG of (z0 sample, adversarial sample) pairs side by side, up to 8 pairs a row."""
    pairs = np.stack([initial, adversarial], axis=1).reshape(-1, *initial.shape[1:])
    columns = 2 * min(len(initial), GRID_PAIRS_PER_ROW)
    return write_png(path, make_grid(to_uint8(pairs), columns=columns))


def attack(run_dir, *, classifier, source, target=None, num=16, evaluator=None, steps=ATTACK_STEPS,
           learning_rate=LEARNING_RATE, lambda1=LAMBDA1, lambda2=LAMBDA2, eps=LATENT_EPS,
           noise=0.0, closeness="squared", seed=0, out=None):
    """Search ``num`` adversarial examples from ``source`` to ``target`` in one batch.

    Writes into ``out`` (default RUN/attack_SOURCE_to_TARGET): ``grid.png`` (each z0
    sample next to its adversarial sample), ``examples.npz`` (uint8 images, the initial
    images, z, z0, source, target, predictions) and ``metrics.json``; returns the metrics.
    """
    generator, aux_classifier, config = load_acgan(run_dir)
    num_classes = _num_classes(config)
    _check_class("--source", source, num_classes)
    if target is not None:
        _check_class("--target", target, num_classes)
        if target == source:
            raise UserInputError(f"--target equals --source ({source}); pick another target class, "
                                 "or drop --target for the untargeted attack")
    if not isinstance(num, int) or num < 1:
        raise UserInputError(f"-n must be >= 1, got {num!r}")
    settings = _attack_settings(steps, learning_rate, lambda1, lambda2, eps, noise, closeness)
    model, _ = load_classifier(classifier, generator, num_classes)
    judge = load_classifier(evaluator, generator, num_classes, "--evaluator")[0] if evaluator else None
    z0 = _latents(config, num, seed)
    sources = np.full(num, source, np.int32)
    targets = None if target is None else np.full(num, target, np.int32)
    result = search(generator, aux_classifier, model, z0, sources, targets, **settings)
    result["z0"] = z0
    summary, per_example = _outcome(result, sources, targets, model, aux_classifier, judge)
    name = f"attack_{source}_to_{'any' if target is None else target}"
    out = out or os.path.join(run_dir, name)
    runs.check_writable(out)
    write_grid(os.path.join(out, "grid.png"), result["initial"], result["adversarial"])
    path = os.path.join(out, "examples.npz")
    np.savez(path + ".tmp.npz", images=to_uint8(result["adversarial"]),
             initial=to_uint8(result["initial"]), z=result["z"], z0=z0, source=sources,
             target=targets if targets is not None else np.full(num, -1, np.int32),
             **per_example)
    os.replace(path + ".tmp.npz", path)
    metrics = {"run": run_dir, "classifier": classifier, "evaluator": evaluator,
               "source": source, "target": target, "num": num, "seed": seed, **settings, **summary}
    runs.write_json(os.path.join(out, "metrics.json"), metrics)
    metrics["out"] = out
    return metrics


# ----------------------------------------------------------------------------- evaluate


def parse_pairs(text, num_classes):
    """``"all"`` (every ordered pair s != t) or ``"S:T,S:T"`` into a list of (s, t)."""
    if text in (None, "all"):
        return [(s, t) for s in range(num_classes) for t in range(num_classes) if s != t]
    pairs = []
    for item in text.split(","):
        try:
            s, t = (int(v) for v in item.split(":"))
        except ValueError:
            raise UserInputError(f"--pairs takes 'all' or S:T,S:T, got {text!r}") from None
        _check_class("a source", s, num_classes)
        _check_class("a target", t, num_classes)
        if s == t:
            raise UserInputError(f"pair {item!r} has source equal to target; drop it")
        pairs.append((s, t))
    return pairs


def pgd_baseline(model, evaluator, images, sources, targets, *, eps, steps, seed=0):
    """Targeted L-inf PGD from real images of class s to t: success against ``model`` and
    validity by ``evaluator`` (it still says s)."""
    adversarial = np.asarray(classifiers_lib.pgd_perturb(
        model, images, targets, eps=eps, step_size=2.5 * eps / steps, steps=steps,
        targeted=True, seed=seed))
    fooled = np.argmax(predict(model, adversarial), -1) == targets
    valid = np.argmax(predict(evaluator, adversarial), -1) == sources
    return {"success_rate": float(np.mean(fooled)), "validity": float(np.mean(valid)),
            "success_and_valid": float(np.mean(fooled & valid))}


def _real_of_class(data, resolution, channels, pairs, num):
    images, labels = data_lib.load_arrays(data, resolution=resolution, channels=channels,
                                          split="test")
    chosen = []
    for s, _ in pairs:
        pool = np.flatnonzero(labels == s)
        chosen.append(pool[np.arange(num) % len(pool)])
    return images[np.concatenate(chosen)]


def evaluate(run_dir, *, classifiers, evaluator, pairs="all", num=20, steps=ATTACK_STEPS,
             learning_rate=LEARNING_RATE, lambda1=LAMBDA1, lambda2=LAMBDA2, eps=LATENT_EPS,
             noise=0.0, closeness="squared", pgd_eps=PGD_EPS, pgd_steps=40, seed=0, out=None):
    """Targeted attacks for every pair, against each classifier, judged by the evaluator.

    Every (s, t) pair gets ``num`` examples; all pairs of one classifier run as one batched
    search. Per classifier: success rate (f says t), the AC-GAN's auxiliary classifier
    keeping s, validity (the independent evaluator says s), success and valid, mean latent
    distance; and the baseline: targeted L-inf PGD (radius ``pgd_eps`` in [0, 1] units,
    ``pgd_steps`` steps) from ``num`` real test images of s per pair, with its success
    and validity by the same evaluator. Writes ``adversarial_eval.json`` (default in RUN).
    """
    generator, aux_classifier, config = load_acgan(run_dir, ("data", "resolution", "channels"))
    num_classes = _num_classes(config)
    pair_list = parse_pairs(pairs, num_classes)
    if not classifiers:
        raise UserInputError("pass at least one --classifier to attack")
    if not isinstance(num, int) or num < 1:
        raise UserInputError(f"-n must be >= 1, got {num!r}")
    settings = _attack_settings(steps, learning_rate, lambda1, lambda2, eps, noise, closeness)
    judge, judge_config = load_classifier(evaluator, generator, num_classes, "--evaluator")
    sources = np.repeat([s for s, _ in pair_list], num).astype(np.int32)
    targets = np.repeat([t for _, t in pair_list], num).astype(np.int32)
    z0 = _latents(config, len(sources), seed)
    real = _real_of_class(config["data"], config["resolution"], config["channels"], pair_list, num)
    results = {"run": run_dir, "evaluator": evaluator, "evaluator_split": judge_config.get("split"),
               "pairs": len(pair_list), "per_pair": num, "seed": seed, **settings,
               "pgd_eps_01": pgd_eps, "pgd_steps": pgd_steps, "classifiers": {}}
    for path in classifiers:
        model, model_config = load_classifier(path, generator, num_classes)
        result = search(generator, aux_classifier, model, z0, sources, targets, **settings)
        result["z0"] = z0
        summary, per_example = _outcome(result, sources, targets, model, aux_classifier, judge)
        fooled = per_example["predicted"] == targets
        per_pair = {f"{s}:{t}": float(np.mean(fooled[i * num:(i + 1) * num]))
                    for i, (s, t) in enumerate(pair_list)}
        baseline = pgd_baseline(model, judge, real, sources, targets, eps=2.0 * pgd_eps,
                                steps=pgd_steps, seed=seed)
        results["classifiers"][path] = {
            "adversarial_training": model_config.get("adversarial"),
            "test_accuracy": model_config.get("test_accuracy"),
            "song": summary, "song_success_per_pair": per_pair, "pgd": baseline,
        }
    out = out or run_dir
    runs.write_json(os.path.join(out, "adversarial_eval.json"), results)
    return results


def format_evaluation(results):
    """A plain-text table of :func:`evaluate`'s results."""
    lines = [f"{results['pairs']} pairs x {results['per_pair']} examples; validity by "
             f"{results['evaluator']}",
             f"{'classifier':40s} {'song success':>12s} {'validity':>9s} {'succ&valid':>10s} "
             f"{'pgd success':>11s} {'pgd valid':>9s}"]
    for path, entry in results["classifiers"].items():
        song, pgd = entry["song"], entry["pgd"]
        lines.append(f"{path[-40:]:40s} {song['success_rate']:12.3f} {song['validity']:9.3f} "
                     f"{song['success_and_valid']:10.3f} {pgd['success_rate']:11.3f} "
                     f"{pgd['validity']:9.3f}")
    return "\n".join(lines)
