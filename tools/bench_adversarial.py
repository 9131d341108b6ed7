"""Unrestricted adversarial examples on digits (Song et al. 2018) vs the PGD baseline.

    nice -n 10 python tools/bench_adversarial.py [--work /tmp/adv_bench] [--resolution 16]
        [--gans wasserstein:120,non_saturating:60] [--pgd-eps 0.1] [--pairs shift3] [-n 10]

Trains (or resumes / reuses, in ``--work``) the AC-GANs (WGAN-GP and non-saturating), the
plain CNN and the PGD-trained CNN (digits train half A) and the strided evaluator (half B,
seed 1), then runs :func:`gan_apps.pipelines.adversarial.evaluate` on the chosen pairs for
each AC-GAN and writes the ``adversarial`` block of docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from bench import machine, write_block  # noqa: E402

from gan_apps import runs  # noqa: E402
from gan_apps.pipelines import adversarial  # noqa: E402


def _classifier(path, **kwargs):
    """Train a classifier folder unless it already holds one."""
    if not os.path.isfile(os.path.join(path, "classifier.keras")):
        adversarial.train_classifier(out=path, verbose=0, **kwargs)
    return runs.read_config(path, kind="classifier")


def _pairs(name):
    if name == "shift3":  # every class once as source and once as target
        return ",".join(f"{s}:{(s + 3) % 10}" for s in range(10))
    return name


def _budgets(text):
    """``"wasserstein:120,non_saturating:60"`` -> {objective: epochs}."""
    return {name: int(epochs) for name, epochs in (item.split(":") for item in text.split(","))}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", default="/tmp/adv_bench")
    parser.add_argument("--resolution", type=int, default=16)
    parser.add_argument("--gans", default="wasserstein:120,non_saturating:60",
                        help="AC-GAN objective:epochs, comma-separated")
    parser.add_argument("--classifier-epochs", type=int, default=30)
    parser.add_argument("--pgd-epochs", type=int, default=30)
    parser.add_argument("--pgd-eps", type=float, default=0.1,
                        help="PGD radius for training and the baseline, [0, 1] units")
    parser.add_argument("--pairs", default="shift3", help="shift3 (s -> s+3 mod 10), all, or S:T,...")
    parser.add_argument("-n", "--num", type=int, default=10)
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--lr", type=float, default=0.05, help="Adam learning rate on z")
    parser.add_argument("--lambdas", default="100:100,1:1",
                        help="lambda1:lambda2 settings, comma-separated (default the paper's, then 1:1)")
    args = parser.parse_args(argv)
    started = time.time()
    work, res = args.work, args.resolution
    plain = _classifier(os.path.join(work, "cnn"), resolution=res, epochs=args.classifier_epochs,
                        pgd_eps=args.pgd_eps, seed=0)
    robust = _classifier(os.path.join(work, "pgd"), resolution=res, adversarial="pgd",
                         pgd_eps=args.pgd_eps, epochs=args.pgd_epochs, seed=0)
    judge = _classifier(os.path.join(work, "evaluator"), architecture="strided", resolution=res,
                        epochs=args.classifier_epochs, seed=1)
    pairs = _pairs(args.pairs)
    gan_rows, rows = [], []
    for objective, epochs in _budgets(args.gans).items():
        gan_dir = os.path.join(work, f"acgan_{objective}")
        gan = adversarial.train_gan(out=gan_dir, resolution=res, epochs=epochs,
                                    objective=objective, seed=0, verbose=0)
        for setting in args.lambdas.split(","):
            lambda1, lambda2 = (float(v) for v in setting.split(":"))
            results = adversarial.evaluate(
                gan_dir, classifiers=[os.path.join(work, "cnn"), os.path.join(work, "pgd")],
                evaluator=os.path.join(work, "evaluator"), pairs=pairs, num=args.num,
                steps=args.steps, learning_rate=args.lr, lambda1=lambda1, lambda2=lambda2,
                pgd_eps=args.pgd_eps, seed=0)
            print(adversarial.format_evaluation(results), flush=True)
            entries = list(results["classifiers"].values())
            for (name, config), entry in zip((("plain CNN", plain), ("PGD-trained CNN", robust)),
                                             entries):
                song, pgd = entry["song"], entry["pgd"]
                rows.append(
                    f"| {objective} | {lambda1:g} / {lambda2:g} | {name} | {config['test_accuracy']:.3f} | "
                    f"{config['pgd_test_accuracy']:.3f} | {song['success_rate']:.3f} | "
                    f"{song['aux_keeps_source']:.3f} | {song['validity']:.3f} | "
                    f"{song['success_and_valid']:.3f} | {song['mean_latent_l2']:.2f} | "
                    f"{pgd['success_rate']:.3f} | {pgd['validity']:.3f} | "
                    f"{pgd['success_and_valid']:.3f} |")
        gan_rows.append(
            f"| {objective} | {epochs} | {gan['aux_accuracy_real']:.3f} | "
            f"{gan['aux_accuracy_generated']:.3f} | {gan['conditional_accuracy']:.3f} | "
            f"{gan['fid']:.1f} | {entries[0]['song']['evaluator_on_initial']:.3f} |")
    command = (f"nice -n 10 python tools/bench_adversarial.py --resolution {res} --gans "
               f"{args.gans} --classifier-epochs {args.classifier_epochs} --pgd-epochs "
               f"{args.pgd_epochs} --pgd-eps {args.pgd_eps:g} --pairs {args.pairs} -n {args.num} "
               f"--steps {args.steps} --lr {args.lr:g} --lambdas {args.lambdas}")
    text = "\n".join([
        f"Command: `{command}`  ",
        f"Machine: {machine()}, shared with other jobs. Wall time {time.time() - started:.0f} s "
        f"(trained folders in `{work}` are reused; training wall time not included).  ",
        f"Protocol: digits at {res}x{res}. AC-GANs (width 32, batch 64, seed 0): `wasserstein` is "
        "the WGAN-GP recipe of Gulrajani et al. (5 critic updates per generator update, "
        "generator class weight 0.1), `non_saturating` Odena et al.'s (1:1, class weight 1); "
        "epochs as listed (an epoch is one pass over the 1,437 train digits: 4 generator updates "
        "for WGAN-GP, 22 for non-saturating). Aux = the AC-GAN's class head; cond. acc. = the "
        "shipped digits CNN on 1000 samples of cycling labels; FID on its features vs the 360 "
        "test digits. Classifiers: plain CNN and PGD-trained CNN (Madry et al.; "
        f"eps {args.pgd_eps:g} in [0, 1] units = {2 * args.pgd_eps:g} on [-1, 1], 10 steps of "
        "2.5 eps / 10, random start; eps 0.3 collapsed to chance on these digits) on half A of "
        "the train split, seed 0; evaluator: strided CNN on half B, seed 1 "
        f"(test accuracy {judge['test_accuracy']:.3f}). Clean / PGD accuracy: test split, PGD "
        f"of the same eps, 20 steps. Attack: pairs {pairs}, {args.num} examples each, one "
        f"batched search per classifier, Adam lr {args.lr:g}, {args.steps} steps, lambda1 / "
        "lambda2 as listed (100 / 100 is the reference code's), eps 0.1, seed 0. Success: f says t; aux keeps s: the AC-GAN's class head says s; "
        "validity: the evaluator says s. PGD baseline: targeted L-inf PGD (same eps, 40 steps) "
        "from as many real test digits of s per pair.",
        "",
        "| AC-GAN objective | epochs | aux acc. real test | aux acc. generated | cond. acc. "
        "(digits CNN) | FID | evaluator says s on G(z0, s) |",
        "|---|---|---|---|---|---|---|",
        *gan_rows,
        "",
        "| AC-GAN | lambda1 / lambda2 | classifier | clean acc | PGD acc | Song success | aux "
        "keeps s | validity | success & valid | latent L2 | PGD success | PGD validity | "
        "PGD success & valid |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
        *rows,
    ])
    print(text)
    write_block("adversarial", text)


if __name__ == "__main__":
    sys.exit(main())
