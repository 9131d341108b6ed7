"""Every ``gan-apps`` command and action, declared once: options as records, actions as a table.

The CLI (:mod:`gan_apps.cli`) builds its parsers by a loop over :data:`COMMANDS`; the
pipelines take their defaults from :func:`settings`, so a flag's name, type, default and
help live here and nowhere else. Imports no TensorFlow (``--help`` and flag errors answer
without loading it).

Commands and their actions (``settings(command, action)``):

- ``gan``: ``train``, ``sample``, ``evaluate``, ``export``. Its actions are the top-level
  subcommands (``gan-apps train``...), the GAN family of :mod:`gan_apps.pipelines.generation`;
  ``evaluate`` measures a run folder of any kind (it dispatches on ``config.json``'s kind).
- ``translate``: ``train``, ``apply``, ``evaluate``, ``export`` (CycleGAN).
- ``recover``: ``run``, ``sweep`` (compressed sensing with a generative prior).
- ``super-resolve``: ``train``, ``apply``, ``evaluate``, ``export`` (SRResNet / SRGAN).
- ``adversarial``: ``train-gan``, ``train-classifier``, ``attack``, ``evaluate``.

An option's ``dest`` is the keyword its pipeline function takes (``--lr`` ->
``learning_rate``, ``--blocks`` -> ``n_blocks`` or ``blocks``, ``--no-batch-norm`` ->
``batch_norm``). Its ``type`` validates at parse time (issue 19: every number finite and in
range, so ``--lr inf`` or ``--penalty nan`` never reach training); :func:`validate` applies
the same checks to values given from Python.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
from typing import Any, Callable

from gan_apps import registry

SEED_MAX = 2**32 - 1  # NumPy and TensorFlow seeds are unsigned 32-bit.
# Images the builders grow to: every architecture starts at 3-7 px and doubles; beyond
# 1024 px (ProGAN's largest) a generator does not fit one accelerator's memory.
RESOLUTION_RANGE = (8, 1024)
LATENT_DIM_MAX = 4096


# --- value types: each parses a string (or checks a Python value) and says what it wants --

class Integer:
    """An integer in [low, high]; ``bool`` and non-integral numbers are refused."""

    def __init__(self, low=None, high=None):
        self.low, self.high = low, high
        if low == 1 and high is None:
            self.wanted = "a positive integer"
        elif high is None:
            self.wanted = f"an integer >= {low}" if low is not None else "an integer"
        else:
            self.wanted = f"an integer between {low} and {high}"
        self.__name__ = "integer"

    def __call__(self, value):
        if isinstance(value, bool) or isinstance(value, float) and not value.is_integer():
            raise argparse.ArgumentTypeError(f"expected {self.wanted}, got {value!r}")
        try:
            number = int(value)
        except (TypeError, ValueError, OverflowError):
            raise argparse.ArgumentTypeError(f"expected {self.wanted}, got {value!r}") from None
        if (self.low is not None and number < self.low) or (self.high is not None and number > self.high):
            raise argparse.ArgumentTypeError(f"expected {self.wanted}, got {value!r}")
        return number


class Real:
    """A finite number above ``low`` (``>`` if ``open_low``, else ``>=``) and below ``high``."""

    def __init__(self, low=None, open_low=False, high=None, closed_low=False):
        self.low, self.open_low, self.high = low, open_low, high
        # With ``high``, the interval is open at ``low`` unless ``closed_low``.
        self.closed_low = closed_low
        if high is not None and closed_low:
            self.wanted = f"{low:g} (off) or a number between {low:g} and {high:g}"
        elif high is not None:
            self.wanted = f"a number between {low:g} and {high:g}"
        elif low is not None:
            self.wanted = f"a finite number {'>' if open_low else '>='} {low:g}"
        else:
            self.wanted = "a finite number"
        self.__name__ = "number"

    def __call__(self, value):
        if isinstance(value, bool):
            raise argparse.ArgumentTypeError(f"expected {self.wanted}, got {value!r}")
        try:
            number = float(value)
        except (TypeError, ValueError):
            raise argparse.ArgumentTypeError(f"expected {self.wanted}, got {value!r}") from None
        if self.high is not None:
            inside = (self.low <= number if self.closed_low else self.low < number) \
                and number < self.high
        elif self.low is not None:
            inside = number > self.low if self.open_low else number >= self.low
        else:
            inside = True
        if not (math.isfinite(number) and inside):
            raise argparse.ArgumentTypeError(f"expected {self.wanted}, got {value!r}")
        return number


class IntegerList:
    """Comma-separated integers (``"10,25,50"``), each checked by ``item``."""

    def __init__(self, item):
        self.item = item
        self.__name__ = "integer list"

    def __call__(self, value):
        parts = value.split(",") if isinstance(value, str) else list(value)
        try:
            numbers = [self.item(p.strip() if isinstance(p, str) else p)
                       for p in parts if not isinstance(p, str) or p.strip()]
        except argparse.ArgumentTypeError:
            raise argparse.ArgumentTypeError(
                f"expected comma-separated integers, each {self.item.wanted}, got {value!r}"
            ) from None
        if not numbers:
            raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {value!r}")
        return numbers


class ModelName:
    """A name of :data:`gan_apps.registry.MODELS`."""

    __name__ = "model"

    def __call__(self, value):
        try:
            return registry.get_model(value).name
        except ValueError as err:
            raise argparse.ArgumentTypeError(str(err)) from None


POSITIVE_INT = Integer(1)
COUNT = Integer(0)  # 0 allowed (0 = off, or no steps)
SEED = Integer(0, SEED_MAX)
RESOLUTION = Integer(*RESOLUTION_RANGE)
LATENT_DIM = Integer(1, LATENT_DIM_MAX)
LEARNING_RATE = Real(0.0, open_low=True)
POSITIVE = Real(0.0, open_low=True)
WEIGHT = Real(0.0)  # loss weights, penalties, radii, noise levels
FRACTION = Real(0.0, high=1.0)  # open interval (0, 1)
DECAY = Real(0.0, high=1.0, closed_low=True)  # [0, 1): 0 turns a moving average off
CHANNELS = INTEGER = Integer()
# Checked for type (and finiteness) only where the pipeline's own range check names the
# data-dependent bound (class labels 0..K-1, measurements 1..n, --scale 2, 3 or 4) or its
# message is what users know (recover's "noise level must be >= 0").
FINITE = Real()


@dataclasses.dataclass(frozen=True)
class Option:
    """One flag (``--lr``) or positional (``run_dir``) and the keyword it becomes (``dest``).

    ``action`` is argparse's: ``store``, ``store_true``, ``store_false`` (default True) or
    ``append``; or ``optional_bool``: ``--flag`` gives True, ``--no-flag`` False, neither
    None (the command decides). ``type`` parses and validates the text; ``None`` keeps it a string.
    """

    flag: str
    dest: str
    type: Callable | None = None
    default: Any = None
    help: str | None = None
    choices: tuple | None = None
    metavar: str | None = None
    required: bool = False
    action: str = "store"
    aliases: tuple = ()

    @property
    def positional(self):
        return not self.flag.startswith("-")

    @property
    def initial(self):
        """The value the option has when not given."""
        return {"store_true": False, "store_false": True}.get(self.action, self.default)


@dataclasses.dataclass(frozen=True)
class Action:
    """One action: its options, the function it calls (``"module:function"``, given every
    option as a keyword) and ``report(result, settings)``, which prints the result."""

    name: str
    help: str
    function: str
    options: tuple
    report: Callable
    epilog: str | None = None


@dataclasses.dataclass(frozen=True)
class Command:
    """A group of actions. ``top_level``: its actions are ``gan-apps ACTION`` themselves."""

    name: str
    help: str | None
    actions: tuple
    top_level: bool = False


# --- reports: how each action prints its result (exactly as the CLI always has) ------------

def print_result(result, settings):
    print(result)


def print_run_folder(result, settings):
    print(f"run folder: {result}")


def print_written(result, settings):
    print(f"wrote {len(result)} image(s) to {settings['output']}")


def print_table(result, settings):
    from gan_apps.evaluation.report import format_table

    print(format_table(result))


def print_recovery(result, settings):
    from gan_apps.pipelines import recovery

    print(f"error: {result.get('units', recovery.ERROR_UNITS)} (mean ± standard error over "
          f"the signals)")
    for name, (mean, stderr) in result["errors"].items():
        print(f"{name}: per-pixel MSE {mean:.4f} ± {stderr:.4f}")
    print(f"grid (truth, {result['lasso_basis']} Lasso, ours): {result['grid']}")


def print_sweep(result, settings):
    from gan_apps.pipelines import recovery

    print(f"error: {recovery.ERROR_UNITS} (mean ± standard error over the signals)")
    print(recovery.format_table(result["rows"]))
    print(f"wrote recovery_sweep.json, .md and .png to {result['out']}")


def print_super_resolution(result, settings):
    print(f"{result['description']}: {result['images']} images of {result['data']}, "
          f"x{result['scale']}, {result['degradation']} LR; Y channel, border {result['scale']}")
    print(f"{'':14s} {'PSNR dB':>8s} {'vs bicubic':>10s} {'SSIM':>7s} {'colour bias':>11s} "
          f"{'HF energy':>9s}")
    bicubic = result["bicubic"]["psnr"]
    for name in (n for n, v in result.items() if isinstance(v, dict)):
        row = result[name]
        print(f"{name:14s} {row['psnr']:8.2f} {row['psnr'] - bicubic:+10.2f} {row['ssim']:7.4f} "
              f"{row['colour_bias']:+11.2f} {row['hf_energy']:9.2f}")
    print("colour bias: largest per-channel mean difference from the truth in grey levels; "
          "HF energy: detail energy relative to the truth's (1 = as much)")
    print(result["verdict"])


def near_chance(accuracy, num_classes):
    """Whether an accuracy is near chance: below 1.5 / num_classes (0.15 for 10 classes)."""
    return accuracy is not None and num_classes and accuracy < 1.5 / num_classes


def classifier_warning(result, settings):
    """A one-line ``warning: ...`` when a trained classifier's test accuracy is near chance
    (what to try depends on whether PGD training collapsed), else None."""
    classes = result.get("num_classes") or 10
    accuracy = result.get("test_accuracy")
    if not near_chance(accuracy, classes):
        return None
    fix = ("PGD training at this radius collapsed: try --pgd-eps 0.1"
           if settings.get("adversarial") == "pgd" else "try more --epochs or another --lr")
    return (f"warning: test accuracy {accuracy:.3f} is near chance (1/{classes}); the "
            f"classifier did not learn: {fix}")


def acgan_warning(result):
    """A one-line ``warning: ...`` when the AC-GAN's auxiliary accuracy on generated or real
    images is near chance (its generator ignores the labels), else None."""
    classes = result.get("num_classes") or 10
    low = {name: result.get(f"aux_accuracy_{name}") for name in ("generated", "real")
           if near_chance(result.get(f"aux_accuracy_{name}"), classes)}
    if not low:
        return None
    said = ", ".join(f"{name} {a:.3f}" for name, a in low.items())
    return (f"warning: auxiliary accuracy ({said}) is near chance (1/{classes}); the AC-GAN "
            f"ignores its labels: try --objective non_saturating (the recipe of "
            f"docs/benchmarks.md) or more --epochs")


def _print_warning(warning):
    if warning is not None:
        print(warning)


def print_acgan(result, settings):
    print(f"auxiliary accuracy: real test {result['aux_accuracy_real']:.3f}, "
          f"generated {result['aux_accuracy_generated']:.3f}; FID {result['fid']:.2f}")
    _print_warning(acgan_warning(result))


def print_classifier(result, settings):
    print(f"test accuracy {result['test_accuracy']:.3f}; under PGD (eps {settings['pgd_eps']:g}) "
          f"{result['pgd_test_accuracy']:.3f}; classifier folder: {settings['out']}")
    _print_warning(classifier_warning(result, settings))


def print_attack(result, settings):
    valid = f", validity {result['validity']:.3f}" if "validity" in result else ""
    print(f"success {result['success_rate']:.3f}, auxiliary keeps source "
          f"{result['aux_keeps_source']:.3f}{valid}, mean latent L2 "
          f"{result['mean_latent_l2']:.3f}; wrote {result['out']}")


def print_adversarial_evaluation(result, settings):
    from gan_apps.pipelines import adversarial

    print(adversarial.format_evaluation(result))


# --- shared options -------------------------------------------------------------------------

def run_dir(help=None, required=True):
    """The run folder positional; ``required=False`` makes it optional (``RUN`` or a flag)."""
    return Option("run_dir", "run_dir", help=help, required=required)


def seed():
    return Option("--seed", "seed", SEED, 0, help=f"random seed, 0 to {SEED_MAX} (default 0)")


def export_options():
    return (run_dir(), Option("--output", "output", help="export folder (default RUN/export)"))


def data_dir(what="prepared datasets"):
    return Option("--data-dir", "data_dir", help=f"TFDS data_dir holding {what}")


STEPS_PER_EXECUTION = Option("--steps-per-execution", "steps_per_execution", POSITIVE_INT, 1,
                             metavar="N", help="train steps per call into the compiled graph "
                                               "(default 1)")
# `train`'s: the model's recipe decides when the flag is not given.
RECIPE_STEPS_PER_EXECUTION = dataclasses.replace(
    STEPS_PER_EXECUTION, default=None,
    help="train steps per call into the compiled graph (default: the model's recipe, listed "
         "below; otherwise 1)")
RUNTIME = (
    Option("--strategy", "strategy", default="default",
           choices=("default", "mirrored", "multiworker", "tpu"),
           help="tf.distribute strategy: one device, all local devices, the workers in "
                "TF_CONFIG, or a TPU (default: one device)"),
    Option("--precision", "precision", default="float32",
           choices=("float32", "mixed_float16", "mixed_bfloat16"),
           help="compute precision; mixed_float16 adds loss scaling (default float32)"),
    Option("--jit", "jit", action="optional_bool",
           help="--jit compiles the train step with XLA, --no-jit never does (default: "
                "XLA on a GPU or TPU, graph mode on a CPU, the faster there as measured)"),
    STEPS_PER_EXECUTION,
    Option("--deterministic", "deterministic", action="store_true",
           help="bit-identical runs and resumes (TensorFlow op determinism)"),
)
ON_NAN = Option("--on-nan", "on_nan", default="stop", choices=("stop", "rollback"),
                help="at a NaN/Inf loss: stop keeping the last checkpoint, or roll back to it "
                     "with halved learning rates (default stop)")


# `gan-apps train` without --model (its recipe: registry.MODELS["sngan"].recipes).
DEFAULT_MODEL = "sngan"


def _model_help():
    presets = [m.name for m in registry.MODELS.values() if m.kind == "preset"]
    family = [m.name for m in registry.MODELS.values() if m.kind == "family"]
    return (f"preset: {', '.join(presets)}; or family member: {', '.join(family)} "
            f"(default {DEFAULT_MODEL})")


def rate_text(value):
    """A learning rate as people write it: ``1e-4`` rather than Python's ``0.0001``."""
    return f"{value:.1e}".replace(".0e", "e").replace("e-0", "e-") if value < 1e-3 else f"{value:g}"


def _recipe_text(entry):
    """``"; on images 110 epochs, batch 32, D's rate 1e-4"`` for a model's recipes."""
    names = {"epochs": "{} epochs".format, "batch_size": "batch {}".format,
             "g_lr": lambda v: f"G's rate {rate_text(v)}", "d_lr": lambda v: f"D's rate {rate_text(v)}",
             "width": "width {}".format, "steps": "{} steps an epoch".format,
             "ema": "EMA of G {}".format, "zero_gp": "zero-centred GP {:g}".format,
             "n_critic": "{} D update(s) per G update".format,
             "unroll_steps": "{} unrolled D step(s)".format,
             "unroll_order": "{}-order unrolling".format, "objective": "{} objective".format,
             "steps_per_execution": "{} steps per execution".format,
             "gp_weight": "gradient penalty weight {:g}".format,
             "clip_value": "weights clipped at {:g}".format,
             "phase_images": "phases of {} images".format}
    return "".join(f"; on {'images' if kind == registry.IMAGE else kind} "
                   + ", ".join(names[k](v) for k, v in recipe.items())
                   for kind, recipe in entry.recipes.items())


def _train_epilog():
    models = "\n".join(f"  {m.name:9s} {m.description} ({m.paper})"
                       f"{'; needs labels' if m.needs_labels else ''}{_recipe_text(m)}"
                       for m in registry.MODELS.values())
    sources = "\n".join(f"  {s.form:20s} {s.description}" for s in registry.DATA_SOURCES
                        if registry.TRAIN in s.commands)
    return f"models (--model):\n{models}\n\ndata sources (--data):\n{sources}"


def _sources_epilog(command):
    return "data sources (--data):\n" + "\n".join(
        f"  {s.form:20s} {s.description}" for s in registry.DATA_SOURCES if command in s.commands)


# --- gan: the top-level train / sample / evaluate / export ----------------------------------

GAN = Command("gan", None, top_level=True, actions=(
    Action("train", "train a model of the GAN family with model.fit",
           "gan_apps.pipelines.generation:train", report=print_run_folder, epilog=_train_epilog(),
           options=(
               Option("--model", "model", ModelName(), DEFAULT_MODEL, help=_model_help()),
               Option("--data", "data", default="digits",
                      help=f"{registry.source_forms(registry.TRAIN)} (default digits)"),
               Option("--arch", "arch", default="dcgan", choices=("dcgan", "resnet"),
                      help="image architecture (default dcgan)"),
               Option("--out", "out", help="run folder (default runs/MODEL-DATA); an existing "
                                           "run resumes"),
               Option("--epochs", "epochs", POSITIVE_INT,
                      help="total epochs (default: the model's recipe, listed below; otherwise "
                           "60 on images, 10 for points)"),
               Option("--steps", "steps", POSITIVE_INT,
                      help="steps per epoch (default: the model's recipe, listed below; "
                           "otherwise one pass over the data)"),
               Option("--batch-size", "batch_size", POSITIVE_INT,
                      help="examples per update (default: the model's recipe, listed below; "
                           "otherwise 64 on images, 256 for points)"),
               Option("--resolution", "resolution", RESOLUTION, 32,
                      help=f"image size, {RESOLUTION_RANGE[0]} to {RESOLUTION_RANGE[1]} (default 32)"),
               Option("--channels", "channels", CHANNELS, choices=(1, 3),
                      help="image channels (default: the data's)"),
               Option("--latent-dim", "latent_dim", LATENT_DIM,
                      help=f"size of z, at most {LATENT_DIM_MAX} (default: the model's)"),
               Option("--width", "width", POSITIVE_INT,
                      help="network width (default: the model's recipe, listed below; "
                           "otherwise 32 for images, 128 for points)"),
               Option("--objective", "objective",
                      help="override the model's objective, e.g. hinge or f:kl (default: the "
                           "model's recipe, listed below; otherwise its paper's)"),
               Option("--divergence", "divergence",
                      help="f-divergence for --model fgan (kl, reverse_kl, pearson, hellinger, "
                           "js, gan, total_variation)"),
               Option("--coding", "coding", choices=("binary", "pearson"),
                      help="least-squares coding for lsgan"),
               Option("--g-lr", "g_lr", LEARNING_RATE, metavar="LR",
                      help="the generator's learning rate (default: the model's recipe)"),
               Option("--d-lr", "d_lr", LEARNING_RATE, metavar="LR",
                      help="the discriminator's learning rate (default: the model's recipe, "
                           "listed below; otherwise its paper's)"),
               Option("--n-critic", "n_critic", POSITIVE_INT, metavar="N",
                      help="discriminator updates per generator update, each on its own "
                           "minibatch (default: the model's recipe, listed below; otherwise "
                           "its paper's)"),
               Option("--unroll-steps", "unroll_steps", COUNT, metavar="K",
                      help="for --model unrolled: the discriminator updates the generator "
                           "looks ahead through (default: the model's recipe, listed below; "
                           "otherwise the paper's 5; 0 is the plain GAN)"),
               Option("--phase-images", "phase_images", POSITIVE_INT, metavar="N",
                      help="for --model progan: the real images over which each new block "
                           "fades in, and again those it is then stabilised for (default: the "
                           "model's recipe, listed below; otherwise 8000; the paper's 800k)"),
               Option("--unroll-order", "unroll_order", choices=registry.UNROLL_ORDERS,
                      help="for --model unrolled: second differentiates the generator's "
                           "loss through the unrolled updates (the paper's), first treats "
                           "the unrolled weights as constants (default: the model's recipe, "
                           "listed below; otherwise second)"),
               Option("--ema", "ema", DECAY, metavar="DECAY",
                      help="keep an exponential moving average of G's weights with this decay "
                           "(e.g. 0.999); used for samples, evaluation and export (default: "
                           "the model's recipe, listed below; 0 turns it off)"),
               Option("--zero-gp", "zero_gp", WEIGHT, metavar="WEIGHT",
                      help="add a zero-centred gradient penalty of this weight on real-fake "
                           "interpolates to the discriminator's loss (default: the model's "
                           "recipe, listed below; 0 turns it off)"),
               Option("--gp-weight", "gp_weight", POSITIVE, metavar="LAMBDA",
                      help="the weight of the model's own gradient penalty, WGAN-GP's lambda "
                           "(default: the model's recipe, listed below; otherwise its paper's, "
                           "10 for wgan_gp)"),
               Option("--clip-value", "clip_value", POSITIVE, metavar="C",
                      help="clip the critic's weights to [-C, C] after each update, for a "
                           "model that clips (default: the model's recipe, listed below; "
                           "otherwise its paper's, 0.01 for wgan and mmdgan)"),
               Option("--ortho-reg", "ortho_reg", WEIGHT, metavar="WEIGHT",
                      help="orthogonal regularization of G (BigGAN uses 1e-4)"),
               Option("--pack", "pack", POSITIVE_INT, metavar="K",
                      help="PacGAN (Lin et al. 2018): the discriminator judges packs of K "
                           "real or K fake samples concatenated along the channels; presets "
                           "only, the batch size a multiple of K (default 1: off)"),
               Option("--augment", "augment", metavar="POLICY",
                      help="DiffAugment (Zhao et al. 2020) on real and fake images before "
                           "every discriminator call: comma-separated color, translation, "
                           "cutout (the paper's: color,translation,cutout; default off)"),
               seed(),
               data_dir(),
               *(RECIPE_STEPS_PER_EXECUTION if o is STEPS_PER_EXECUTION else o for o in RUNTIME),
               ON_NAN,
               Option("--eval-every", "eval_every", COUNT, metavar="N",
                      help="evaluate every N epochs, 0 = off (default 5 on digits, 1 on mixtures)"),
           )),
    Action("sample", "write a grid of samples from a trained run",
           "gan_apps.pipelines.generation:sample", report=print_result, options=(
               run_dir(),
               Option("--num", "num", POSITIVE_INT, 64),
               seed(),
               Option("--output", "output", help="PNG path (default RUN/samples/sample_seedS.png)"),
               Option("--label", "label", INTEGER,
                      help="class of a conditional model (default: all, a column each)"),
               Option("--truncation", "truncation", POSITIVE,
                      help="resample latent entries beyond this magnitude (truncation trick)"),
           )),
    Action("evaluate", "measure a trained run; writes RUN/metrics.json",
           "gan_apps.cli:evaluate_run", report=print_table, options=(
               run_dir(),
               Option("--metrics", "metrics",
                      help="comma-separated: fid,kid,pr,dc,is,classes,diversity (images) or "
                           "modes,fid,kid,pr,dc,diversity (points)"),
               Option("--samples", "samples", POSITIVE_INT,
                      help="generated samples (default 1000 images, 2500 points)"),
               Option("--extractor", "extractor", choices=("digits", "inception"),
                      help="image features (default digits for generation runs; translation "
                           "runs report FID only when given one)"),
               Option("--inception-weights", "inception_weights",
                      help="local InceptionV3 weights file for the standard FID"),
               Option("--best", "use_best", action="store_true",
                      help="evaluate best_generator.keras"),
               seed(),
           )),
    Action("export", "export a trained generator as a SavedModel",
           "gan_apps.pipelines.generation:export", report=print_result, options=export_options()),
))


# --- translate ------------------------------------------------------------------------------

def print_translation(result, settings):
    from gan_apps.pipelines import translation

    print(translation.format_evaluation(result))


TRANSLATE = Command("translate", "unpaired image-to-image translation (CycleGAN)", actions=(
    Action("train", "train a CycleGAN on two unpaired domains",
           "gan_apps.pipelines.translation:train", report=print_run_folder,
           epilog=_sources_epilog(registry.TRANSLATE), options=(
               Option("--data", "data", default="photos:tone",
                      help=f"{registry.source_forms(registry.TRANSLATE)} (default photos:tone)"),
               Option("--out", "out", help="run folder (default runs/cyclegan-DATA); an "
                                           "existing run resumes"),
               Option("--preset", "preset", default="cpu", choices=("cpu", "paper"),
                      help="cpu (default): identity-start generator, sizes picked from the "
                           "images so training takes about 8 min on 2 idle cores (estimate "
                           "printed first); paper: Zhu et al.'s networks and sizes (crop 256, "
                           "ngf/ndf 64, batch 1, 100 + 100 epochs)"),
               Option("--generator", "generator", choices=("identity", "paper"),
                      help="identity (cpu preset): G(x) = x at start, learns a residual; "
                           "paper: the paper's ResNet generator"),
               Option("--epochs", "epochs", COUNT,
                      help="epochs at a constant learning rate (default cpu 4, paper 100)"),
               Option("--decay-epochs", "decay_epochs", COUNT,
                      help="epochs of linear decay to zero (default cpu 4, paper 100)"),
               Option("--steps", "steps", POSITIVE_INT,
                      help="steps per epoch (default cpu: from the time budget; paper: "
                           "max(|A|, |B|) / batch)"),
               Option("--batch-size", "batch_size", POSITIVE_INT,
                      help="default cpu 4, paper 1"),
               Option("--crop-size", "crop_size", POSITIVE_INT,
                      help="training crop (default cpu: from the images, at most 64; paper 256)"),
               Option("--load-size", "load_size", POSITIVE_INT,
                      help="resize before the crop (default 286/256 x crop)"),
               Option("--channels", "channels", CHANNELS, choices=(1, 3),
                      help="convert both domains to 1 or 3 channels"),
               Option("--ngf", "ngf", POSITIVE_INT, help="generator width (default cpu 16, "
                                                         "paper 64)"),
               Option("--ndf", "ndf", POSITIVE_INT,
                      help="discriminator width (default cpu 32, paper 64)"),
               Option("--blocks", "n_blocks", POSITIVE_INT,
                      help="residual blocks (default identity 3; paper 6 up to 128 px, else 9)"),
               Option("--objective", "objective", default="least_squares",
                      help="adversarial objective (default least_squares)"),
               Option("--gan-weight", "gan_weight", WEIGHT,
                      help="factor on the adversarial terms (default cpu 2, which trains as "
                           "lambda 5 at the paper's weight; paper 1)"),
               Option("--cycle-weight", "cycle_weight", WEIGHT, 10.0, help="lambda (default 10)"),
               Option("--identity-weight", "identity_weight", WEIGHT,
                      help="identity loss weight as a fraction of lambda (default cpu 0, "
                           "paper 0.5; 0 = off)"),
               Option("--pool-size", "pool_size", COUNT, 50,
                      help="image pool per domain (default 50)"),
               Option("--lr", "learning_rate", LEARNING_RATE, 2e-4,
                      help="Adam learning rate (default 2e-4)"),
               Option("--ema", "ema", WEIGHT, metavar="DECAY",
                      help="moving average of G's and F's weights, saved and exported instead "
                           "of the last iterate (default cpu 0.999, paper 0 = off)"),
               seed(),
               data_dir("prepared cycle_gan sets"),
               *RUNTIME,
           )),
    Action("apply", "translate an image file or a folder of images",
           "gan_apps.pipelines.translation:apply", report=print_written, options=(
               run_dir(),
               Option("--direction", "direction", default="a2b", choices=("a2b", "b2a")),
               Option("--input", "input", required=True, help="image file or folder"),
               Option("--output", "output", required=True, help="folder for the translated PNGs"),
           )),
    Action("evaluate", "offline scores beside the identity's (paired error, colour/texture "
                       "distances, cycle error) and a verdict; writes RUN/metrics.json",
           "gan_apps.pipelines.translation:evaluate", report=print_translation, options=(
               run_dir(),
               Option("--test", "test",
                      help="folder:A_TEST,B_TEST, paired test images matched by file name: "
                           "MAE and PSNR of G(A) vs B and F(B) vs A beside the identity's"),
               Option("--extractor", "extractor", choices=("digits", "inception"),
                      help="features for FID (default: none; digits only for digit images)"),
               Option("--inception-weights", "inception_weights",
                      help="local InceptionV3 weights file for the standard FID"),
           )),
    Action("export", "SavedModel with a2b (serving_default) and b2a signatures",
           "gan_apps.pipelines.translation:export", report=print_result, options=export_options()),
))


# --- recover --------------------------------------------------------------------------------

def _recover_options(measurements, num):
    return (
        Option("--generator", "generator", required=True,
               help="run folder (kind gan or vae) or SavedModel export folder"),
        Option("--operator", "operator", default="gaussian",
               help="gaussian, inpaint-random, inpaint-block or superres (default gaussian)"),
        measurements,
        Option("--noise", "noise", FINITE, 0.1,
               help="noise std per measurement, as csgm (default 0.1)"),
        Option("--input", "input", default="digits",
               help="digits (held-out 8x8 digits), an image file or a folder (default digits)"),
        Option("--num", "num", POSITIVE_INT, num,
               help="signals to recover (default 16 for run, 100 for sweep)"),
        Option("--restarts", "restarts", POSITIVE_INT, 10, help="random restarts (default 10)"),
        Option("--steps", "steps", POSITIVE_INT, 1000, help="Adam steps on z (default 1000)"),
        Option("--lr", "learning_rate", LEARNING_RATE, 0.01,
               help="Adam learning rate on z (default 0.01, csgm's MNIST scripts)"),
        Option("--penalty", "penalty", WEIGHT, 0.1, help="lambda on ||z||^2 (default 0.1)"),
        Option("--screen", "screen", POSITIVE, 0.1,
               help="fraction of the steps every restart runs before only the best one (lowest "
                    "total loss) per signal goes on (default 0.1; 1: csgm, every restart "
                    "runs to the end)"),
        Option("--estimate", "estimate", default="map", choices=("map", "posterior-mean"),
               help="map: csgm's G(z*) (default); posterior-mean: the mean of G(z) under the "
                    "posterior whose mode is z* (Langevin chains from z*; lower squared error "
                    "at few measurements, about 6x the time)"),
        Option("--reference", "reference", help="data source of the baselines' training images "
                                                "(default: the generator's training data)"),
        seed(),
    )


SWEEP_MEASUREMENTS = (10, 25, 50, 100, 200)
RECOVER = Command("recover", "compressed sensing with a generative prior (Bora et al. 2017)", actions=(
    Action("run", "recover signals; grid PNG (truth, Lasso, ours) and errors",
           "gan_apps.pipelines.recovery:run", report=print_recovery, options=(
               *_recover_options(Option("--measurements", "measurements", INTEGER, 50,
                                        help="number of measurements m (default 50)"), 16),
               Option("--output", "output",
                      help="grid PNG path (default GENERATOR/recover_OP_mM.png)"),
           )),
    Action("sweep", "error vs number of measurements, ours and baselines",
           "gan_apps.pipelines.recovery:sweep", report=print_sweep, options=(
               *_recover_options(Option(
                   "--measurements", "measurements", IntegerList(INTEGER), SWEEP_MEASUREMENTS,
                   help=f"number of measurements m (default "
                        f"{','.join(map(str, SWEEP_MEASUREMENTS))})"), 100),
               Option("--draws", "draws", POSITIVE_INT, 5,
                      help="operator draws per m, each measuring an equal share of the signals "
                           "(default 5)"),
               Option("--out", "out",
                      help="folder for the table and plot (default: the generator's folder)"),
           )),
))


# --- super-resolve --------------------------------------------------------------------------

def _pretrained():
    return Option("--pretrained", "pretrained", choices=("x2", "x4"),
                  help="use the generator shipped in the package (x2 or x4) instead of a run")


def _self_ensemble():
    return Option("--self-ensemble", "self_ensemble", action="store_true",
                  help="average the 8 flipped / rotated passes (EDSR+): 8x the time, "
                       "about 0.1 dB more")


SUPER_RESOLVE = Command("super-resolve", "single-image super-resolution (bicubic-residual "
                                         "network, SRResNet / SRGAN)", actions=(
    Action("train", "train the SR network (pixel loss) or SRGAN on HR images; prints a time "
                    "estimate first",
           "gan_apps.pipelines.super_resolution:train", report=print_run_folder,
           epilog=_sources_epilog(registry.SUPER_RESOLVE), options=(
               Option("--scale", "scale", INTEGER, 4,
                      help="upscaling factor 2, 3 or 4 (default 4)"),
               Option("--data", "data", default="photos",
                      help=f"{registry.source_forms(registry.SUPER_RESOLVE)} of HR images "
                           "(default photos)"),
               Option("--out", "out", help="run folder (default runs/MODEL-xSCALE); an existing "
                                           "run resumes"),
               Option("--model", "model", default="srresnet", choices=("srresnet", "srgan"),
                      help="srresnet: the generator on the pixel loss (default); srgan: "
                           "adversarial fine-tuning (with --init-from)"),
               Option("--preset", "preset", default="cpu", choices=("cpu", "paper"),
                      help="cpu (default): bicubic-residual network 8 x 32, L1, Adam 1e-3 with "
                           "cosine decay, 10 x 200 steps (minutes on 2 cores); paper: SRResNet "
                           "16 x 64 with BN, MSE, Adam 1e-4 constant, 96-px patches"),
               Option("--network", "network", choices=("residual", "srresnet"),
                      help="residual: bicubic plus a learned correction; srresnet: Ledig et "
                           "al.'s network (default: the preset's)"),
               Option("--init-from", "init_from", metavar="RUN",
                      help="start the generator from a finished run (SRGAN fine-tuning from "
                           "SRResNet)"),
               Option("--epochs", "epochs", POSITIVE_INT,
                      help="total epochs (default: the preset's, 10; srgan 5)"),
               Option("--steps", "steps", POSITIVE_INT,
                      help="steps per epoch (default: the preset's, 200 cpu / 100 paper)"),
               Option("--batch-size", "batch_size", POSITIVE_INT,
                      help="patches per batch (default 16)"),
               Option("--patch-size", "patch_size", POSITIVE_INT,
                      help="HR patch size (default: cpu 64 at x2, 96 at x3/x4; paper 96)"),
               Option("--blocks", "blocks", POSITIVE_INT,
                      help="residual blocks (default: cpu 8, paper 16)"),
               Option("--filters", "filters", POSITIVE_INT,
                      help="feature maps (default: cpu 32, paper 64)"),
               Option("--no-batch-norm", "batch_norm", action="store_false",
                      help="drop BN from the SRResNet generator (the residual network has none)"),
               Option("--loss", "loss", choices=("l1", "mse"),
                      help="pixel loss (default: cpu l1, paper mse)"),
               Option("--lr", "learning_rate", LEARNING_RATE,
                      help="Adam learning rate (default: cpu 1e-3, paper and srgan 1e-4)"),
               Option("--lr-schedule", "lr_schedule", choices=("cosine", "constant"),
                      help="cosine decay to 0 over the run, or constant (default: cpu cosine, "
                           "paper and srgan constant)"),
               Option("--degradation", "degradation", default="matlab_bicubic",
                      help="LR degradation: matlab_bicubic (default), cv2_cubic, area, or "
                           "dataset (div2k's own LR images)"),
               Option("--objective", "objective", default="non_saturating",
                      help="SRGAN adversarial objective"),
               Option("--adversarial-weight", "adversarial_weight", WEIGHT, 1e-3,
                      help="SRGAN adversarial loss weight (default 1e-3)"),
               Option("--vgg-weights", "vgg_weights",
                      help="local VGG19 (no top) weights file: VGG54 content loss"),
               Option("--channels", "channels", CHANNELS, 3, choices=(1, 3)),
               seed(),
               data_dir("a prepared div2k"),
               *RUNTIME,
           )),
    Action("apply", "upscale an image file or a folder of images (any size, grey or colour)",
           "gan_apps.pipelines.super_resolution:apply", report=print_written, options=(
               run_dir("run folder (or --pretrained)", required=False),
               _pretrained(),
               Option("--input", "input", required=True, help="image file or folder"),
               Option("--output", "output", required=True, help="folder for the upscaled PNGs"),
               Option("--tile", "tile", POSITIVE_INT, 128, help="LR tile size (default 128)"),
               Option("--overlap", "overlap", COUNT, help="LR context per tile side (default: "
                                                          "the network's receptive radius, seamless)"),
               _self_ensemble(),
           )),
    Action("evaluate", "Y-channel PSNR/SSIM beside bicubic and Lanczos-3, with a verdict; "
                       "writes RUN/metrics.json",
           "gan_apps.pipelines.super_resolution:evaluate", report=print_super_resolution, options=(
               run_dir("run folder (or --pretrained)", required=False),
               _pretrained(),
               Option("--data", "data", help="HR images (default: the run's data, held-out split)"),
               data_dir("a prepared div2k"),
               Option("--max-images", "max_images", POSITIVE_INT),
               _self_ensemble(),
           )),
    Action("export", "SavedModel: lr uint8 -> hr uint8",
           "gan_apps.pipelines.super_resolution:export", report=print_result,
           options=(run_dir("run folder (or --pretrained)", required=False), _pretrained(),
                    Option("--output", "output",
                           help="export folder (default RUN/export; required with --pretrained)"))),
))


# --- adversarial ----------------------------------------------------------------------------

def _search_options(num, evaluator_required):
    return (
        run_dir("AC-GAN run folder"),
        Option("--evaluator", "evaluator", required=evaluator_required,
               help="independent evaluator classifier folder (validity)"),
        Option("--num", "num", POSITIVE_INT, num, aliases=("-n",),
               help="examples (per pair for evaluate)"),
        Option("--steps", "steps", COUNT, 200, help="Adam steps on z (default 200)"),
        Option("--lr", "learning_rate", LEARNING_RATE, 0.05,
               help="Adam learning rate (default 0.05)"),
        Option("--lambda1", "lambda1", WEIGHT, 3.0,
               help="weight of the closeness term (default 3, calibrated for Adam; the "
                    "reference code's 100 is for plain gradient descent)"),
        Option("--lambda2", "lambda2", WEIGHT, 10.0,
               help="weight of the auxiliary classifier's term (default 10, calibrated)"),
        Option("--eps", "eps", WEIGHT, 0.1, help="soft radius of the latent search (default 0.1)"),
        Option("--closeness", "closeness", default="squared", choices=("squared", "l1"),
               help="squared: mean max((z-z0)^2 - eps^2, 0), the reference code's (default); "
                    "l1: mean max(|z-z0| - eps, 0), the paper's"),
        Option("--noise", "noise", WEIGHT, 0.0,
               help="noise-augmented attack amplitude on [-1, 1] images (default 0: off)"),
        seed(),
    )


ADVERSARIAL = Command("adversarial", "unrestricted adversarial examples from an AC-GAN "
                                     "(Song et al. 2018)", actions=(
    Action("train-gan", "train the AC-GAN (non-saturating, Odena et al.); report auxiliary "
                        "accuracy and FID",
           "gan_apps.pipelines.adversarial:train_gan", report=print_acgan, options=(
               Option("--data", "data", default="digits",
                      help="labelled data source (default digits)"),
               Option("--out", "out", help="run folder (default runs/acgan-DATA); an existing "
                                           "run resumes"),
               Option("--epochs", "epochs", POSITIVE_INT, help="total epochs (default 60)"),
               Option("--steps", "steps", POSITIVE_INT, help="steps per epoch (default: one pass)"),
               Option("--batch-size", "batch_size", POSITIVE_INT),
               Option("--resolution", "resolution", RESOLUTION, 32, help="image size (default 32)"),
               Option("--width", "width", POSITIVE_INT, help="network width (default 32)"),
               Option("--objective", "objective", default="non_saturating",
                      help="AC-GAN objective (default non_saturating: Odena et al.'s recipe, "
                           "class-conditional within minutes; wasserstein: the WGAN-GP AC-GAN, "
                           "which needs ~20x more updates)"),
               Option("--samples", "samples", POSITIVE_INT, 1000,
                      help="generated images for the report (default 1000)"),
               seed(),
               *RUNTIME,
               ON_NAN,
           )),
    Action("train-classifier", "train a classifier to attack (plain or PGD-trained) or the "
                               "evaluator",
           "gan_apps.pipelines.adversarial:train_classifier", report=print_classifier, options=(
               Option("--data", "data", default="digits"),
               Option("--out", "out", required=True, help="classifier folder"),
               Option("--arch", "architecture", default="cnn", choices=("cnn", "strided"),
                      help="cnn (to attack) or strided (the independent evaluator) (default cnn)"),
               Option("--adversarial", "adversarial", choices=("pgd",),
                      help="PGD adversarial training (Madry et al. 2018)"),
               Option("--split", "split", choices=("train", "half-a", "half-b"),
                      help="digits train split or one half of it (default half-a for cnn, "
                           "half-b for strided)"),
               Option("--resolution", "resolution", RESOLUTION, 32, help="image size (default 32)"),
               Option("--width", "width", POSITIVE_INT, 32),
               Option("--epochs", "epochs", POSITIVE_INT, 20),
               Option("--batch-size", "batch_size", POSITIVE_INT, 64),
               Option("--lr", "learning_rate", LEARNING_RATE, 1e-3),
               Option("--pgd-eps", "pgd_eps", POSITIVE, 0.1,
                      help="L-inf radius in [0, 1] pixel units (default 0.1 = 0.2 on [-1, 1]; "
                           "Madry et al.'s 0.3 collapses to chance on 16x16 digits)"),
               Option("--pgd-steps", "pgd_steps", POSITIVE_INT, 10, help="PGD steps (default 10)"),
               seed(),
               *RUNTIME,
           )),
    Action("attack", "batched latent search; grid PNG, .npz, metrics.json",
           "gan_apps.pipelines.adversarial:attack", report=print_attack, options=(
               *_search_options(16, False),
               Option("--classifier", "classifier", required=True,
                      help="classifier folder to attack"),
               Option("--source", "source", INTEGER, required=True),
               Option("--target", "target", INTEGER, help="target class (omit: untargeted)"),
               Option("--out", "out", help="output folder (default RUN/attack_S_to_T)"),
           )),
    Action("evaluate", "success and validity over class pairs, with the PGD baseline",
           "gan_apps.pipelines.adversarial:evaluate", report=print_adversarial_evaluation, options=(
               *_search_options(20, True),
               Option("--classifier", "classifiers", action="append", required=True,
                      help="classifier folder to attack (repeat for several)"),
               Option("--pairs", "pairs", default="all", help="all or S:T,S:T (default all 90)"),
               Option("--pgd-eps", "pgd_eps", POSITIVE, 0.1,
                      help="PGD baseline radius in [0, 1] pixel units (default 0.1)"),
               Option("--pgd-steps", "pgd_steps", POSITIVE_INT, 40),
               Option("--out", "out", help="folder for adversarial_eval.json (default RUN)"),
           )),
))

COMMANDS = (GAN, TRANSLATE, RECOVER, SUPER_RESOLVE, ADVERSARIAL)


def get_action(command, action):
    """The :class:`Action` ``action`` of ``command`` (KeyError naming the choices)."""
    for group in COMMANDS:
        if group.name == command:
            for entry in group.actions:
                if entry.name == action:
                    return entry
            raise KeyError(f"{command} has no action {action!r}; "
                           f"choose one of: {', '.join(a.name for a in group.actions)}")
    raise KeyError(f"unknown command {command!r}; choose one of: "
                   f"{', '.join(c.name for c in COMMANDS)}")


def settings(command, action, overrides=None):
    """The declared defaults of ``command action`` (keyed by ``dest``) updated with
    ``overrides``; TypeError on a name the action does not declare."""
    values = {o.dest: o.initial for o in get_action(command, action).options}
    unknown = sorted(set(overrides or {}) - set(values))
    if unknown:
        raise TypeError(f"{command} {action} has no option {', '.join(map(repr, unknown))}; "
                        f"its options are: {', '.join(values)}")
    values.update(overrides or {})
    return values


def validate(command, action, values):
    """Apply the options' parse-time checks to Python ``values`` (keyed by ``dest``).

    Returns the checked values (numbers converted); raises
    :class:`gan_apps.errors.UserInputError` naming the flag, as the CLI would.
    """
    from gan_apps.errors import UserInputError

    checked = dict(values)
    for option in get_action(command, action).options:
        value = values.get(option.dest)
        if value is None or option.type is None or option.dest not in values:
            continue
        try:
            checked[option.dest] = option.type(value)
        except argparse.ArgumentTypeError as err:
            raise UserInputError(f"{option.flag}: {err}") from None
        if option.choices and checked[option.dest] not in option.choices:
            raise UserInputError(f"{option.flag} must be one of "
                                 f"{', '.join(map(str, option.choices))}, got {value!r}")
    return checked
