"""``gan-apps``: the command-line entry point, one subcommand per job.

User errors print one line on stderr and exit with code 2; a loss that turns NaN exits
with code 1; neither prints a traceback nor touches the last good checkpoint or export.
"""

from __future__ import annotations

import argparse
import os
import sys

PRESETS = ("dcgan", "lsgan", "fgan", "wgan", "wgan_gp", "sngan")
EXIT_USER_ERROR = 2


class _Parser(argparse.ArgumentParser):
    """argparse that reports a bad flag in one line (the default prints usage too)."""

    def error(self, message):
        self.exit(EXIT_USER_ERROR, f"{self.prog}: error: {message} (see --help)\n")


def _positive_int(text):
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def _float(text):
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None


def _unit_interval(text):
    value = _float(text)
    if not 0.0 < value < 1.0:
        raise argparse.ArgumentTypeError(f"expected a number between 0 and 1, got {text!r}")
    return value


def _non_negative_float(text):
    value = _float(text)
    if not value >= 0.0:
        raise argparse.ArgumentTypeError(f"expected a number >= 0, got {text!r}")
    return value


def _positive_float(text):
    value = _float(text)
    if not value > 0.0:
        raise argparse.ArgumentTypeError(f"expected a number > 0, got {text!r}")
    return value


def build_parser():
    parser = _Parser(prog="gan-apps", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    train = sub.add_parser("train", help="train a GAN preset with model.fit")
    train.add_argument("--model", default="dcgan", help=f"preset: {', '.join(PRESETS)} (default dcgan)")
    train.add_argument("--data", default="digits",
                       help="digits, ring8, grid25, tfds:NAME[/CONFIG] or folder:PATH (default digits)")
    train.add_argument("--arch", default="dcgan", choices=("dcgan", "resnet"),
                       help="image architecture (default dcgan)")
    train.add_argument("--out", help="run folder (default runs/MODEL-DATA); an existing run resumes")
    train.add_argument("--epochs", type=_positive_int, help="total epochs (default 60 for images, 10 for points)")
    train.add_argument("--steps", type=_positive_int, help="steps per epoch (default: one pass over the data)")
    train.add_argument("--batch-size", type=_positive_int)
    train.add_argument("--resolution", type=_positive_int, default=32, help="image size (default 32)")
    train.add_argument("--channels", type=int, choices=(1, 3), help="image channels (default: the data's)")
    train.add_argument("--latent-dim", type=_positive_int)
    train.add_argument("--width", type=_positive_int, help="network width (default 32 for images)")
    train.add_argument("--objective", help="override the preset's objective, e.g. hinge or f:kl")
    train.add_argument("--divergence", help="f-divergence for --model fgan (kl, reverse_kl, pearson, "
                                            "hellinger, js, gan, total_variation)")
    train.add_argument("--coding", choices=("binary", "pearson"), help="least-squares coding for lsgan")
    train.add_argument("--ema", type=_unit_interval, metavar="DECAY",
                       help="keep an exponential moving average of G's weights with this decay "
                            "(e.g. 0.999); used for samples, evaluation and export")
    train.add_argument("--ortho-reg", type=_non_negative_float, metavar="WEIGHT",
                       help="orthogonal regularization of G (BigGAN uses 1e-4)")
    train.add_argument("--seed", type=int, default=0)
    train.add_argument("--data-dir", help="TFDS data_dir holding prepared datasets")
    train.add_argument("--jit", action="store_true", help="compile the train step with XLA")
    train.add_argument("--eval-every", type=int, metavar="N",
                       help="evaluate every N epochs, 0 = off (default 5 on digits, 1 on mixtures)")

    sample = sub.add_parser("sample", help="write a grid of samples from a trained run")
    sample.add_argument("run_dir")
    sample.add_argument("--num", type=_positive_int, default=64)
    sample.add_argument("--seed", type=int, default=0)
    sample.add_argument("--output", help="PNG path (default RUN/samples/sample_seedS.png)")
    sample.add_argument("--label", type=int, help="class of a conditional model (default: all, a column each)")
    sample.add_argument("--truncation", type=_positive_float,
                        help="resample latent entries beyond this magnitude (truncation trick)")

    evaluate = sub.add_parser("evaluate", help="measure a trained run; writes RUN/metrics.json")
    evaluate.add_argument("run_dir")
    evaluate.add_argument("--metrics", help="comma-separated: fid,kid,pr,dc,is,classes,diversity "
                                            "(images) or modes,fid,kid,pr,dc,diversity (points)")
    evaluate.add_argument("--samples", type=_positive_int, help="generated samples (default 1000 "
                                                                "images, 2500 points)")
    evaluate.add_argument("--extractor", default="digits", choices=("digits", "inception"),
                          help="image features (default digits)")
    evaluate.add_argument("--inception-weights", help="local InceptionV3 weights file for the standard FID")
    evaluate.add_argument("--best", action="store_true", help="evaluate best_generator.keras")
    evaluate.add_argument("--seed", type=int, default=0)

    export = sub.add_parser("export", help="export a trained generator as a SavedModel")
    export.add_argument("run_dir")
    export.add_argument("--output", help="export folder (default RUN/export)")

    for add_parser in PIPELINE_PARSERS:
        add_parser(sub)
    return parser


# --- task pipelines: each adds one subcommand (with its own actions) -------------------
# A pipeline's parser function calls ``set_defaults(handler=...)``; the handler imports
# its pipeline module lazily (so --help and flag errors never load TensorFlow) and runs
# the chosen action.

PIPELINE_PARSERS = (
)


def run(args):
    if getattr(args, "handler", None) is not None:
        args.handler(args)
        return
    # Imported here so that --help and flag errors answer without loading TensorFlow.
    from gan_apps.pipelines import generation

    if args.command == "train":
        out = generation.train(
            model=args.model, data=args.data, arch=args.arch, out=args.out, epochs=args.epochs,
            steps=args.steps, batch_size=args.batch_size, resolution=args.resolution,
            channels=args.channels, latent_dim=args.latent_dim, width=args.width,
            objective=args.objective, divergence=args.divergence, coding=args.coding,
            ema=args.ema, ortho_reg=args.ortho_reg, seed=args.seed, data_dir=args.data_dir, jit=args.jit, eval_every=args.eval_every,
        )
        print(f"run folder: {out}")
    elif args.command == "sample":
        print(generation.sample(args.run_dir, num=args.num, seed=args.seed, output=args.output,
                                label=args.label, truncation=args.truncation))
    elif args.command == "evaluate":
        from gan_apps.evaluation.report import format_table

        results = generation.evaluate(
            args.run_dir, metrics=args.metrics, samples=args.samples, extractor=args.extractor,
            inception_weights=args.inception_weights, seed=args.seed, use_best=args.best,
        )
        print(format_table(results))
    elif args.command == "export":
        print(generation.export(args.run_dir, output=args.output))


def main(argv=None):
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    args = build_parser().parse_args(argv)
    from gan_apps.callbacks import NonFiniteLossError
    from gan_apps.errors import UserInputError

    try:
        run(args)
    except UserInputError as err:
        print(f"gan-apps: error: {err}", file=sys.stderr)
        return EXIT_USER_ERROR
    except NonFiniteLossError as err:
        print(f"gan-apps: training stopped: {err}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("gan-apps: interrupted; the last checkpoint is kept", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
