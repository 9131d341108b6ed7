"""Digits benchmark of the conditional family: conditional GAN, AC-GAN (two recipes), InfoGAN.

    python tools/bench_family_conditional.py [--seeds 0,1,2] [--steps 600] [--width 32]
                                             [--samples 1000]

Each model trains ``--steps`` fit steps (discriminator updates) at batch 64 on the digits
train split at 32x32, then is evaluated on ``--samples`` samples against the 360 held-out
test digits with the shipped digits classifier: FID/KID on its features, classes covered,
the classifier's accuracy on label-conditioned samples (labels cycling 0..9), AC-GAN's
auxiliary-classifier accuracy on the test digits and on its own samples, and InfoGAN's
code-class match accuracy (Hungarian matching) of c_cat against the classifier's labels
of the samples and of Q's code for the test digits against their labels. The table is
written to the ``family_conditional`` block of docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import keras  # noqa: E402
import numpy as np  # noqa: E402

from bench import machine, mean_std, write_block  # noqa: E402
from gan_apps import data as data_lib  # noqa: E402
from gan_apps import sampling  # noqa: E402
from gan_apps.evaluation import features, report  # noqa: E402
from gan_apps.evaluation.metrics import conditional_accuracy  # noqa: E402
from gan_apps.models.acgan import build_acgan  # noqa: E402
from gan_apps.models.conditional import build_conditional  # noqa: E402
from gan_apps.evaluation.metrics import code_class_match_accuracy  # noqa: E402
from gan_apps.models.infogan import build_infogan  # noqa: E402

BATCH = 64
WARMUP = 5
MODELS = {
    "acgan": lambda **kw: build_acgan(**kw),
    "infogan": lambda **kw: build_infogan(**kw),
    "conditional": lambda **kw: build_conditional(**kw),
    "acgan_wgan_gp": lambda **kw: build_acgan(objective="wasserstein", **kw),
}
RECIPES = {
    "conditional": "projection D, SN, hinge, n_critic 5, Adam 2e-4 (0, 0.9)",
    "acgan": "non-saturating, BN, n_critic 1, Adam 2e-4 (0.5, 0.999), class weights 1/1",
    "acgan_wgan_gp": "WGAN-GP 10, layer norm, n_critic 5, Adam 1e-4 (0, 0.9), class weights 1 (real) / 0.1",
    "infogan": "non-saturating, BN, 10-way + 2 continuous codes, lambda 1, Adam G 1e-3 / D 2e-4",
}


class _BatchClock(keras.callbacks.Callback):
    """Timestamps at the end of every training batch."""

    def on_train_begin(self, logs=None):
        self.times = []

    def on_train_batch_end(self, batch, logs=None):
        self.times.append(time.perf_counter())


def _train(name, seed, args):
    keras.utils.set_random_seed(seed)
    model = MODELS[name](resolution=32, channels=1, num_classes=10, width=args.width, seed=seed)
    dataset = data_lib.load_dataset("digits", resolution=32, batch_size=BATCH, seed=seed,
                                    with_labels=True, repeat=True)
    clock = _BatchClock()
    model.fit(dataset, steps_per_epoch=args.steps, epochs=1, verbose=0, shuffle=False,
              callbacks=[clock])
    times = clock.times[WARMUP - 1:]
    return model, (len(times) - 1) * BATCH / (times[-1] - times[0])


def _evaluate(name, model, seed, args, real, real_labels, extractor):
    spec = model.latent_spec()
    inputs = sampling.sample_inputs(spec, args.samples, np.random.default_rng(seed))
    fake = sampling.generate(model.generator, inputs)
    result = report.evaluate(fake, real, ("fid", "kid", "classes"), extractor=extractor,
                             num_classes=10, seed=seed)
    predicted = np.argmax(extractor(fake)["logits"], axis=1)
    if name == "infogan":
        result["code_match_fake"] = code_class_match_accuracy(inputs[1], predicted)
        result["code_match_real"] = code_class_match_accuracy(model.predict_codes(real), real_labels)
    else:
        result["cond_acc"] = conditional_accuracy(predicted, inputs[1])
    if name.startswith("acgan"):
        result["aux_real"] = model.auxiliary_accuracy(real, real_labels)
        result["aux_fake"] = model.auxiliary_accuracy(fake, inputs[1])
    return result


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--models", help=f"comma-separated (default: {','.join(MODELS)})")
    parser.add_argument("--steps", type=int, default=600)
    parser.add_argument("--width", type=int, default=32)
    parser.add_argument("--samples", type=int, default=1000)
    args = parser.parse_args(argv)
    seeds = [int(s) for s in args.seeds.split(",")]
    names = args.models.split(",") if args.models else list(MODELS)
    real, real_labels = data_lib.load_arrays("digits", resolution=32, split="test")
    extractor = features.get_extractor("digits")
    started = time.time()
    rows = []
    for name in names:
        results, rates = [], []
        for seed in seeds:
            model, rate = _train(name, seed, args)
            rates.append(rate)
            results.append(_evaluate(name, model, seed, args, real, real_labels, extractor))
            scores = {k: round(v, 3) for k, v in results[-1].items() if isinstance(v, float)}
            print(name, seed, scores, f"{rate:.0f} img/s", flush=True)

        def col(key):
            return mean_std([r[key] for r in results]) if key in results[0] else "—"

        rows.append(f"| {name} | {col('fid')} | {col('kid')} | {col('classes_covered')} | "
                    f"{col('cond_acc')} | {col('aux_real')} / {col('aux_fake')} | "
                    f"{col('code_match_fake')} / {col('code_match_real')} | "
                    f"{statistics.median(rates):.0f} |")
        # Written after every model, so a cut-short run still leaves the finished rows.
        _write_table(args, names, rows, started)


def _write_table(args, names, rows, started):
    """Print the table of the finished ``rows`` and write it to docs/benchmarks.md."""
    done = names[:len(rows)]
    missing = ""
    if len(rows) < len(names):
        missing = f" Not finished in this run: {', '.join(names[len(rows):])}."
    recipes = "; ".join(f"`{name}`: {RECIPES[name]}" for name in done)
    table = "\n".join([
        f"Command: `python tools/bench_family_conditional.py --seeds {args.seeds} "
        f"--steps {args.steps} --width {args.width} --samples {args.samples}"
        f"{' --models ' + ','.join(names) if args.models else ''}`  ",
        f"Machine: {machine()}. Total wall time {time.time() - started:.0f} s.  ",
        f"Protocol: {args.steps} fit steps (discriminator updates; G every n_critic-th) at batch "
        f"{BATCH} on the digits train split at 32x32, DCGAN networks of width {args.width}; "
        f"{args.samples} samples (class or c_cat input cycling 0..9) against the 360 held-out test "
        "digits on the shipped digits-CNN features (real-data floor: FID 7.6, KID -1.7). "
        "cond. acc.: digits classifier's accuracy on label-conditioned samples (chance 0.10). "
        "AC-GAN aux acc.: its own classifier on test digits / on its samples. InfoGAN match: "
        "Hungarian best-match accuracy of c_cat vs the digits classifier's labels of the samples / "
        "of Q's code vs the true labels of the test digits. images/s: median over seeds, timed "
        f"between batch ends after {WARMUP} warm-up steps. Mean ± std over seeds {args.seeds}. "
        f"Recipes: {recipes}.{missing}",
        "",
        "| model | FID | KID | classes covered | cond. acc. | aux acc. real / fake | "
        "code match fake / real | images/s |",
        "|---|---|---|---|---|---|---|---|",
        *rows,
    ])
    print(table)
    write_block("family_conditional", table)


if __name__ == "__main__":
    sys.exit(main())
