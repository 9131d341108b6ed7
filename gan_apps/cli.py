"""``gan-apps``: the command-line entry point, one subcommand per job.

User errors print one line on stderr and exit with code 2; a loss that turns NaN exits
with code 1; neither prints a traceback nor touches the last good checkpoint or export.
"""

from __future__ import annotations

import argparse
import os
import sys

PRESETS = ("dcgan", "lsgan", "fgan", "wgan", "wgan_gp", "sngan")
FAMILY = ("cgan", "acgan", "infogan", "unrolled", "gmmn", "mmdgan", "vae")
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


def add_runtime_arguments(parser, nan_policy=True):
    """Flags every training command shares: devices, precision, XLA, determinism.

    ``nan_policy`` adds ``--on-nan`` (commands whose training can roll back to a checkpoint).
    """
    parser.add_argument("--strategy", default="default",
                        choices=("default", "mirrored", "multiworker", "tpu"),
                        help="tf.distribute strategy: one device, all local devices, the "
                             "workers in TF_CONFIG, or a TPU (default: one device)")
    parser.add_argument("--precision", default="float32",
                        choices=("float32", "mixed_float16", "mixed_bfloat16"),
                        help="compute precision; mixed_float16 adds loss scaling (default float32)")
    parser.add_argument("--jit", action="store_true", help="compile the train step with XLA")
    parser.add_argument("--steps-per-execution", type=_positive_int, default=1, metavar="N",
                        help="train steps per call into the compiled graph (default 1)")
    parser.add_argument("--deterministic", action="store_true",
                        help="bit-identical runs and resumes (TensorFlow op determinism)")
    if not nan_policy:
        return
    parser.add_argument("--on-nan", default="stop", choices=("stop", "rollback"),
                        help="at a NaN/Inf loss: stop keeping the last checkpoint, or roll back "
                             "to it with halved learning rates (default stop)")


def build_parser():
    parser = _Parser(prog="gan-apps", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    train = sub.add_parser("train", help="train a model of the GAN family with model.fit")
    train.add_argument("--model", default="dcgan",
                       help=f"preset: {', '.join(PRESETS)}; or family member: {', '.join(FAMILY)} "
                            "(default dcgan)")
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
    add_runtime_arguments(train)
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
    evaluate.add_argument("--extractor", choices=("digits", "inception"),
                          help="image features (default digits for generation runs; translation "
                               "runs report FID only when given one)")
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

def _run_translate(args):
    from gan_apps.pipelines import translation

    if args.action == "train":
        out = translation.train(
            data=args.data, out=args.out, epochs=args.epochs, decay_epochs=args.decay_epochs,
            steps=args.steps, batch_size=args.batch_size, crop_size=args.crop_size,
            load_size=args.load_size, channels=args.channels, ngf=args.ngf, ndf=args.ndf,
            n_blocks=args.blocks, objective=args.objective, cycle_weight=args.cycle_weight,
            identity_weight=args.identity_weight, pool_size=args.pool_size,
            learning_rate=args.lr, seed=args.seed, data_dir=args.data_dir,
            strategy=args.strategy, precision=args.precision, jit=args.jit,
            steps_per_execution=args.steps_per_execution, deterministic=args.deterministic,
        )
        print(f"run folder: {out}")
    elif args.action == "apply":
        written = translation.apply(args.run_dir, direction=args.direction, input=args.input,
                                    output=args.output)
        print(f"wrote {len(written)} image(s) to {args.output}")
    elif args.action == "evaluate":
        from gan_apps.evaluation.report import format_table

        print(format_table(translation.evaluate(args.run_dir, extractor=args.extractor,
                                                inception_weights=args.inception_weights)))
    else:
        print(translation.export(args.run_dir, output=args.output))


def _add_translate_parser(sub):
    p = sub.add_parser("translate", help="unpaired image-to-image translation (CycleGAN)")
    actions = p.add_subparsers(dest="action", required=True, parser_class=_Parser)
    train = actions.add_parser("train", help="train a CycleGAN on two unpaired domains")
    train.add_argument("--data", default="photos:tone",
                       help="photos:tone, folder:DIR_A,DIR_B or tfds:cycle_gan/NAME "
                            "(default photos:tone)")
    train.add_argument("--out", help="run folder (default runs/cyclegan-DATA); an existing run resumes")
    train.add_argument("--epochs", type=int, help="epochs at a constant learning rate "
                                                  "(default 100; 3 on photos:tone)")
    train.add_argument("--decay-epochs", type=int, help="epochs of linear decay to zero "
                                                        "(default 100; 3 on photos:tone)")
    train.add_argument("--steps", type=_positive_int, help="cap on steps per epoch "
                                                           "(default max(|A|, |B|) / batch)")
    train.add_argument("--batch-size", type=_positive_int, default=1)
    train.add_argument("--crop-size", type=_positive_int, help="training crop (default 256; 64 on photos:tone)")
    train.add_argument("--load-size", type=_positive_int, help="resize before the crop (default 286/256 x crop)")
    train.add_argument("--channels", type=int, choices=(1, 3), help="convert both domains to 1 or 3 channels")
    train.add_argument("--ngf", type=_positive_int, help="generator width (default 64; 32 on photos:tone)")
    train.add_argument("--ndf", type=_positive_int, default=64, help="discriminator width (default 64)")
    train.add_argument("--blocks", type=_positive_int, help="residual blocks (default 6 up to 128 px, else 9)")
    train.add_argument("--objective", default="least_squares", help="adversarial objective (default least_squares)")
    train.add_argument("--cycle-weight", type=float, default=10.0, help="lambda (default 10)")
    train.add_argument("--identity-weight", type=float, default=0.5,
                       help="identity loss weight as a fraction of lambda (default 0.5; 0 = off)")
    train.add_argument("--pool-size", type=int, default=50, help="image pool per domain (default 50)")
    train.add_argument("--lr", type=float, default=2e-4, help="Adam learning rate (default 2e-4)")
    train.add_argument("--seed", type=int, default=0)
    train.add_argument("--data-dir", help="TFDS data_dir holding prepared cycle_gan sets")
    add_runtime_arguments(train, nan_policy=False)
    apply = actions.add_parser("apply", help="translate an image file or a folder of images")
    apply.add_argument("run_dir")
    apply.add_argument("--direction", choices=("a2b", "b2a"), default="a2b")
    apply.add_argument("--input", required=True, help="image file or folder")
    apply.add_argument("--output", required=True, help="folder for the translated PNGs")
    evaluate = actions.add_parser("evaluate", help="known-answer error (photos:tone) and FID; "
                                                   "writes RUN/metrics.json")
    evaluate.add_argument("run_dir")
    evaluate.add_argument("--extractor", choices=("digits", "inception"),
                          help="features for FID (default: none, known-answer error only)")
    evaluate.add_argument("--inception-weights", help="local InceptionV3 weights file for the standard FID")
    export = actions.add_parser("export", help="SavedModel with a2b (serving_default) and b2a signatures")
    export.add_argument("run_dir")
    export.add_argument("--output", help="export folder (default RUN/export)")
    p.set_defaults(handler=_run_translate)


def _run_recover(args):
    from gan_apps.errors import UserInputError
    from gan_apps.pipelines import recovery

    common = dict(generator=args.generator, operator=args.operator, noise=args.noise,
                  input=args.input, num=args.num, restarts=args.restarts, steps=args.steps,
                  penalty=args.penalty, seed=args.seed, reference=args.reference)
    if args.action == "run":
        try:
            measurements = int(args.measurements)
        except ValueError:
            raise UserInputError(f"--measurements must be an integer, got {args.measurements!r}") from None
        result = recovery.run(measurements=measurements, output=args.output, **common)
        for name, (mean, stderr) in result["errors"].items():
            print(f"{name}: per-pixel error {mean:.4f} ± {stderr:.4f}")
        print(f"grid (truth, {result['lasso_basis']} Lasso, ours): {result['grid']}")
        return
    try:
        measurements = [int(m) for m in args.measurements.split(",") if m.strip()]
    except ValueError:
        raise UserInputError(
            f"--measurements takes comma-separated integers, got {args.measurements!r}"
        ) from None
    result = recovery.sweep(measurements=measurements, draws=args.draws, out=args.out, **common)
    print(recovery.format_table(result["rows"]))
    print(f"wrote recovery_sweep.json, .md and .png to {result['out']}")


def _add_recover_parser(sub):
    p = sub.add_parser("recover", help="compressed sensing with a generative prior (Bora et al. 2017)")
    actions = p.add_subparsers(dest="action", required=True, parser_class=_Parser)
    run_p = actions.add_parser("run", help="recover signals; grid PNG (truth, Lasso, ours) and errors")
    sweep_p = actions.add_parser("sweep", help="error vs number of measurements, ours and baselines")
    for action, measurements in ((run_p, "50"), (sweep_p, "10,25,50,100,200")):
        action.add_argument("--generator", required=True,
                            help="run folder (kind gan or vae) or SavedModel export folder")
        action.add_argument("--operator", default="gaussian",
                            help="gaussian, inpaint-random, inpaint-block or superres (default gaussian)")
        action.add_argument("--measurements", default=measurements,
                            help=f"number of measurements m (default {measurements})")
        action.add_argument("--noise", type=float, default=0.1,
                            help="noise level: per-measurement std is NOISE/sqrt(m) (default 0.1)")
        action.add_argument("--input", default="digits",
                            help="digits (held-out 8x8 digits), an image file or a folder (default digits)")
        action.add_argument("--num", type=int, default=16 if action is run_p else 100,
                            help="signals to recover (default 16 for run, 100 for sweep)")
        action.add_argument("--restarts", type=int, default=10, help="random restarts (default 10)")
        action.add_argument("--steps", type=int, default=300, help="Adam steps on z (default 300)")
        action.add_argument("--penalty", type=float, default=0.1, help="lambda on ||z||^2 (default 0.1)")
        action.add_argument("--reference", help="data source of the baselines' training images "
                                                "(default: the generator's training data)")
        action.add_argument("--seed", type=int, default=0)
    run_p.add_argument("--output", help="grid PNG path (default GENERATOR/recover_OP_mM.png)")
    sweep_p.add_argument("--draws", type=int, default=5,
                         help="operator draws per m, each measuring an equal share of the signals (default 5)")
    sweep_p.add_argument("--out", help="folder for the table and plot (default: the generator's folder)")
    p.set_defaults(handler=_run_recover)


def _run_super_resolve(args):
    from gan_apps.pipelines import super_resolution

    if args.action == "train":
        out = super_resolution.train(
            scale=args.scale, data=args.data, out=args.out, model=args.model,
            init_from=args.init_from, epochs=args.epochs, steps=args.steps,
            batch_size=args.batch_size, patch_size=args.patch_size, blocks=args.blocks,
            filters=args.filters, batch_norm=not args.no_batch_norm, learning_rate=args.lr,
            degradation=args.degradation, objective=args.objective,
            adversarial_weight=args.adversarial_weight, vgg_weights=args.vgg_weights,
            channels=args.channels, seed=args.seed, data_dir=args.data_dir,
            strategy=args.strategy, precision=args.precision, jit=args.jit,
            steps_per_execution=args.steps_per_execution, deterministic=args.deterministic,
        )
        print(f"run folder: {out}")
    elif args.action == "apply":
        written = super_resolution.apply(args.run_dir, input=args.input, output=args.output,
                                         tile=args.tile, overlap=args.overlap)
        print(f"wrote {len(written)} image(s) to {args.output}")
    elif args.action == "evaluate":
        results = super_resolution.evaluate(args.run_dir, data=args.data, data_dir=args.data_dir,
                                            max_images=args.max_images)
        print(f"{results['images']} images of {results['data']}, x{results['scale']}, "
              f"{results['degradation']} LR; Y channel, border {results['scale']}")
        for name in (n for n, v in results.items() if isinstance(v, dict)):
            print(f"{name:10s} PSNR {results[name]['psnr']:.2f} dB  SSIM {results[name]['ssim']:.4f}")
    else:
        print(super_resolution.export(args.run_dir, output=args.output))


def _add_super_resolve_parser(sub):
    p = sub.add_parser("super-resolve", help="single-image super-resolution (SRResNet / SRGAN)")
    actions = p.add_subparsers(dest="action", required=True, parser_class=_Parser)
    train = actions.add_parser("train", help="train SRResNet (pixel loss) or SRGAN on HR images")
    train.add_argument("--scale", type=int, default=4, help="upscaling factor 2, 3 or 4 (default 4)")
    train.add_argument("--data", default="photos",
                       help="photos, folder:PATH of HR images or tfds:div2k/CONFIG (default photos)")
    train.add_argument("--out", help="run folder (default runs/MODEL-xSCALE); an existing run resumes")
    train.add_argument("--model", choices=("srresnet", "srgan"), default="srresnet")
    train.add_argument("--init-from", metavar="RUN", help="start the generator from a finished run "
                                                          "(SRGAN fine-tuning from SRResNet)")
    train.add_argument("--epochs", type=_positive_int, help="total epochs (default 10)")
    train.add_argument("--steps", type=_positive_int, help="steps per epoch (default 100)")
    train.add_argument("--batch-size", type=_positive_int, help="patches per batch (default 16)")
    train.add_argument("--patch-size", type=_positive_int, help="HR patch size (default 96)")
    train.add_argument("--blocks", type=_positive_int, help="residual blocks (default 16)")
    train.add_argument("--filters", type=_positive_int, help="feature maps (default 64)")
    train.add_argument("--no-batch-norm", action="store_true", help="drop BN from the generator")
    train.add_argument("--lr", type=float, help="Adam learning rate (default 1e-4)")
    train.add_argument("--degradation", default="matlab_bicubic",
                       help="LR degradation: matlab_bicubic (default), cv2_cubic, area, or "
                            "dataset (div2k's own LR images)")
    train.add_argument("--objective", default="non_saturating", help="SRGAN adversarial objective")
    train.add_argument("--adversarial-weight", type=float, default=1e-3,
                       help="SRGAN adversarial loss weight (default 1e-3)")
    train.add_argument("--vgg-weights", help="local VGG19 (no top) weights file: VGG54 content loss")
    train.add_argument("--channels", type=int, choices=(1, 3), default=3)
    train.add_argument("--seed", type=int, default=0)
    train.add_argument("--data-dir", help="TFDS data_dir holding a prepared div2k")
    add_runtime_arguments(train, nan_policy=False)
    apply = actions.add_parser("apply", help="upscale an image file or a folder of images")
    apply.add_argument("run_dir")
    apply.add_argument("--input", required=True, help="image file or folder")
    apply.add_argument("--output", required=True, help="folder for the upscaled PNGs")
    apply.add_argument("--tile", type=_positive_int, default=128, help="LR tile size (default 128)")
    apply.add_argument("--overlap", type=int, help="LR context per tile side (default: the "
                                                   "network's receptive radius, seamless)")
    evaluate = actions.add_parser("evaluate", help="Y-channel PSNR/SSIM vs bicubic; writes RUN/metrics.json")
    evaluate.add_argument("run_dir")
    evaluate.add_argument("--data", help="HR images (default: the run's data, held-out split)")
    evaluate.add_argument("--data-dir", help="TFDS data_dir holding a prepared div2k")
    evaluate.add_argument("--max-images", type=_positive_int)
    export = actions.add_parser("export", help="SavedModel: lr uint8 -> hr uint8")
    export.add_argument("run_dir")
    export.add_argument("--output", help="export folder (default RUN/export)")
    p.set_defaults(handler=_run_super_resolve)


def _run_adversarial(args):
    from gan_apps.pipelines import adversarial

    if args.action == "train-gan":
        result = adversarial.train_gan(
            data=args.data, out=args.out, epochs=args.epochs, steps=args.steps,
            batch_size=args.batch_size, resolution=args.resolution, width=args.width,
            objective=args.objective, seed=args.seed, samples=args.samples,
            strategy=args.strategy, precision=args.precision, jit=args.jit,
            steps_per_execution=args.steps_per_execution, deterministic=args.deterministic,
            on_nan=args.on_nan,
        )
        print(f"auxiliary accuracy: real test {result['aux_accuracy_real']:.3f}, "
              f"generated {result['aux_accuracy_generated']:.3f}; FID {result['fid']:.2f}")
    elif args.action == "train-classifier":
        config = adversarial.train_classifier(
            data=args.data, out=args.out, architecture=args.arch, adversarial=args.adversarial,
            split=args.split, resolution=args.resolution, width=args.width, epochs=args.epochs,
            batch_size=args.batch_size, learning_rate=args.lr, pgd_eps=args.pgd_eps,
            pgd_steps=args.pgd_steps, seed=args.seed, strategy=args.strategy,
            precision=args.precision, jit=args.jit,
            steps_per_execution=args.steps_per_execution, deterministic=args.deterministic,
        )
        print(f"test accuracy {config['test_accuracy']:.3f}; under PGD (eps {args.pgd_eps:g}) "
              f"{config['pgd_test_accuracy']:.3f}; classifier folder: {args.out}")
    elif args.action == "attack":
        metrics = adversarial.attack(
            args.run_dir, classifier=args.classifier, source=args.source, target=args.target,
            num=args.num, evaluator=args.evaluator, steps=args.steps, learning_rate=args.lr,
            lambda1=args.lambda1, lambda2=args.lambda2, eps=args.eps, noise=args.noise,
            seed=args.seed, out=args.out,
        )
        valid = f", validity {metrics['validity']:.3f}" if "validity" in metrics else ""
        print(f"success {metrics['success_rate']:.3f}, auxiliary keeps source "
              f"{metrics['aux_keeps_source']:.3f}{valid}, mean latent L2 "
              f"{metrics['mean_latent_l2']:.3f}; wrote {metrics['out']}")
    else:
        results = adversarial.evaluate(
            args.run_dir, classifiers=args.classifier, evaluator=args.evaluator, pairs=args.pairs,
            num=args.num, steps=args.steps, learning_rate=args.lr, lambda1=args.lambda1,
            lambda2=args.lambda2, eps=args.eps, noise=args.noise, pgd_eps=args.pgd_eps,
            pgd_steps=args.pgd_steps, seed=args.seed, out=args.out,
        )
        print(adversarial.format_evaluation(results))


def _add_adversarial_parser(sub):
    p = sub.add_parser("adversarial", help="unrestricted adversarial examples from an AC-GAN "
                                           "(Song et al. 2018)")
    actions = p.add_subparsers(dest="action", required=True, parser_class=_Parser)
    gan = actions.add_parser("train-gan", help="train the AC-GAN (WGAN-GP); report auxiliary "
                                               "accuracy and FID")
    gan.add_argument("--data", default="digits", help="labelled data source (default digits)")
    gan.add_argument("--out", help="run folder (default runs/acgan-DATA); an existing run resumes")
    gan.add_argument("--epochs", type=_positive_int, help="total epochs (default 60)")
    gan.add_argument("--steps", type=_positive_int, help="steps per epoch (default: one pass)")
    gan.add_argument("--batch-size", type=_positive_int)
    gan.add_argument("--resolution", type=_positive_int, default=32, help="image size (default 32)")
    gan.add_argument("--width", type=_positive_int, help="network width (default 32)")
    gan.add_argument("--objective", default="wasserstein",
                     help="AC-GAN objective (default wasserstein: WGAN-GP; or non_saturating, hinge, ...)")
    gan.add_argument("--samples", type=_positive_int, default=1000,
                     help="generated images for the report (default 1000)")
    gan.add_argument("--seed", type=int, default=0)
    add_runtime_arguments(gan)
    clf = actions.add_parser("train-classifier", help="train a classifier to attack (plain or "
                                                      "PGD-trained) or the evaluator")
    clf.add_argument("--data", default="digits")
    clf.add_argument("--out", required=True, help="classifier folder")
    clf.add_argument("--arch", default="cnn", choices=("cnn", "strided"),
                     help="cnn (to attack) or strided (the independent evaluator) (default cnn)")
    clf.add_argument("--adversarial", choices=("pgd",), help="PGD adversarial training (Madry et al. 2018)")
    clf.add_argument("--split", choices=("train", "half-a", "half-b"),
                     help="digits train split or one half of it (default half-a for cnn, "
                          "half-b for strided)")
    clf.add_argument("--resolution", type=_positive_int, default=32, help="image size (default 32)")
    clf.add_argument("--width", type=_positive_int, default=32)
    clf.add_argument("--epochs", type=_positive_int, default=20)
    clf.add_argument("--batch-size", type=_positive_int, default=64)
    clf.add_argument("--lr", type=_positive_float, default=1e-3)
    clf.add_argument("--pgd-eps", type=_positive_float, default=0.3,
                     help="L-inf radius in [0, 1] pixel units (default 0.3 = 0.6 on [-1, 1])")
    clf.add_argument("--pgd-steps", type=_positive_int, default=10, help="PGD steps (default 10)")
    clf.add_argument("--seed", type=int, default=0)
    add_runtime_arguments(clf, nan_policy=False)
    attack = actions.add_parser("attack", help="batched latent search; grid PNG, .npz, metrics.json")
    evaluate = actions.add_parser("evaluate", help="success and validity over class pairs, "
                                                   "with the PGD baseline")
    for action in (attack, evaluate):
        action.add_argument("run_dir", help="AC-GAN run folder")
        action.add_argument("--evaluator", required=action is evaluate,
                            help="independent evaluator classifier folder (validity)")
        action.add_argument("-n", "--num", type=_positive_int, default=16 if action is attack else 20,
                            help="examples (per pair for evaluate)")
        action.add_argument("--steps", type=int, default=200, help="Adam steps on z (default 200)")
        action.add_argument("--lr", type=_non_negative_float, default=0.01,
                            help="Adam learning rate (default 0.01)")
        action.add_argument("--lambda1", type=_non_negative_float, default=100.0)
        action.add_argument("--lambda2", type=_non_negative_float, default=100.0)
        action.add_argument("--eps", type=_non_negative_float, default=0.1,
                            help="soft radius of the latent search (default 0.1)")
        action.add_argument("--noise", type=_non_negative_float, default=0.0,
                            help="noise-augmented attack amplitude on [-1, 1] images (default 0: off)")
        action.add_argument("--seed", type=int, default=0)
    attack.add_argument("--classifier", required=True, help="classifier folder to attack")
    attack.add_argument("--source", type=int, required=True)
    attack.add_argument("--target", type=int, help="target class (omit: untargeted)")
    attack.add_argument("--out", help="output folder (default RUN/attack_S_to_T)")
    evaluate.add_argument("--classifier", action="append", required=True,
                          help="classifier folder to attack (repeat for several)")
    evaluate.add_argument("--pairs", default="all", help="all or S:T,S:T (default all 90)")
    evaluate.add_argument("--pgd-eps", type=_positive_float, default=0.3,
                          help="PGD baseline radius in [0, 1] pixel units (default 0.3)")
    evaluate.add_argument("--pgd-steps", type=_positive_int, default=40)
    evaluate.add_argument("--out", help="folder for adversarial_eval.json (default RUN)")
    p.set_defaults(handler=_run_adversarial)


PIPELINE_PARSERS = (
    _add_translate_parser,
    _add_recover_parser,
    _add_super_resolve_parser,
    _add_adversarial_parser,
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
            ema=args.ema, ortho_reg=args.ortho_reg, seed=args.seed, data_dir=args.data_dir,
            jit=args.jit, eval_every=args.eval_every, strategy=args.strategy,
            precision=args.precision, deterministic=args.deterministic,
            steps_per_execution=args.steps_per_execution, on_nan=args.on_nan,
        )
        print(f"run folder: {out}")
    elif args.command == "sample":
        print(generation.sample(args.run_dir, num=args.num, seed=args.seed, output=args.output,
                                label=args.label, truncation=args.truncation))
    elif args.command == "evaluate":
        from gan_apps.evaluation.report import format_table

        from gan_apps import runs

        # One evaluate command for every kind of run folder: the pipelines measure their own.
        kind = runs.read_config(args.run_dir).get("kind")
        if kind == "translation":
            from gan_apps.pipelines import translation

            results = translation.evaluate(args.run_dir, extractor=args.extractor,
                                           inception_weights=args.inception_weights)
        elif kind == "super_resolution":
            from gan_apps.pipelines import super_resolution

            results = super_resolution.evaluate(args.run_dir)
        else:
            results = generation.evaluate(
                args.run_dir, metrics=args.metrics, samples=args.samples,
                extractor=args.extractor or "digits", inception_weights=args.inception_weights,
                seed=args.seed, use_best=args.best,
            )
        print(format_table(results))
    elif args.command == "export":
        print(generation.export(args.run_dir, output=args.output))


def main(argv=None):
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as exit_:  # --help (0) or a bad flag (2): return the code in-process
        return exit_.code
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
