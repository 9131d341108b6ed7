"""Benchmark: compressed sensing with GAN and VAE priors on the digits at 8x8 (block ``recovery``).

    python tools/bench_recovery.py [--gan-epochs 400] [--vae-epochs 200] [--steps 300]

Trains (or reuses) an 8x8 DCGAN and an 8x8 VAE on the digits train split, then sweeps the
number of Gaussian measurements on 100 held-out test digits for ours (GAN and VAE priors)
and every baseline, times a batched recovery, and rewrites the ``recovery`` block of
docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from bench import machine, write_block  # noqa: E402

import keras  # noqa: E402
import numpy as np  # noqa: E402

from gan_apps import data as data_lib  # noqa: E402
from gan_apps import runs  # noqa: E402
from gan_apps.models.vae import build_vae  # noqa: E402
from gan_apps.pipelines import generation, recovery  # noqa: E402

LATENT_DIM = 20


def train_gan(out, epochs, seed):
    """8x8 DCGAN (width 64, z of 20) on the digits train split via the training pipeline."""
    if os.path.isfile(os.path.join(out, "generator.keras")):
        return None
    started = time.time()
    generation.train(model="dcgan", data="digits", resolution=8, latent_dim=LATENT_DIM, width=64,
                     epochs=epochs, eval_every=0, out=out, seed=seed, verbose=0)
    return time.time() - started


def train_vae(out, epochs, seed):
    """8x8 VAE (MLP 64-500-500-20, Bernoulli likelihood) written as a run folder of kind vae."""
    test, _ = data_lib.load_arrays("digits", resolution=8, split="test")
    if os.path.isfile(os.path.join(out, "generator.keras")):
        return None, runs.read_config(out).get("test_elbo")
    keras.utils.set_random_seed(seed)
    images, _ = data_lib.load_arrays("digits", resolution=8, split="train")
    vae = build_vae(resolution=8, channels=1, latent_dim=LATENT_DIM, seed=seed)
    started = time.time()
    vae.fit(images, batch_size=64, epochs=epochs, shuffle=True, verbose=0)
    seconds = time.time() - started
    test_elbo = float(vae.evaluate(test, batch_size=360, verbose=0, return_dict=True)["elbo"])
    runs.save_model(vae.generator, os.path.join(out, "generator.keras"))
    runs.save_model(vae.encoder, os.path.join(out, "encoder.keras"))
    runs.write_json(os.path.join(out, runs.CONFIG), {
        "kind": "vae", "model": "vae", "data": "digits", "resolution": 8, "channels": 1,
        "latent_spec": vae.latent_spec(), "latent_dim": LATENT_DIM, "likelihood": vae.likelihood,
        "epochs": epochs, "batch_size": 64, "seed": seed, "test_elbo": test_elbo,
    })
    return seconds, test_elbo


def time_batched(generator, steps):
    """Seconds of one recovery of 64 signals with 10 restarts and with 1 restart."""
    prior = recovery.load_prior(generator)
    signals = recovery.load_signals("digits", prior.shape, 64)
    rng = np.random.default_rng(0)
    op = recovery.make_operator("gaussian", prior.shape, 20, rng)
    y = op.measure(signals, 0.1, rng)
    timings = {}
    for restarts in (1, 10):
        recovery.recover(prior, op, y, restarts=restarts, steps=5)  # warm-up: load, first trace
        started = time.perf_counter()
        recovery.recover(prior, op, y, restarts=restarts, steps=steps)
        timings[restarts] = time.perf_counter() - started
    return timings


def wins(rows, method):
    """The m at which ours beats ``method`` (lower mean error)."""
    return [row["m"] for row in rows if row["ours"][0] < row[method][0]]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gan-run", default="runs/recovery-gan8")
    parser.add_argument("--vae-run", default="runs/recovery-vae8")
    parser.add_argument("--gan-epochs", type=int, default=400)
    parser.add_argument("--vae-epochs", type=int, default=200)
    parser.add_argument("--measurements", default="5,10,15,20,30,40,50")
    parser.add_argument("--num", type=int, default=100)
    parser.add_argument("--draws", type=int, default=5)
    parser.add_argument("--restarts", type=int, default=10)
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    started = time.time()
    gan_seconds = train_gan(args.gan_run, args.gan_epochs, args.seed)
    vae_seconds, test_elbo = train_vae(args.vae_run, args.vae_epochs, args.seed)
    print("priors ready", gan_seconds, vae_seconds, test_elbo, flush=True)
    measurements = [int(m) for m in args.measurements.split(",")]
    settings = dict(measurements=measurements, operator="gaussian", noise=0.1, input="digits",
                    num=args.num, draws=args.draws, restarts=args.restarts, steps=args.steps,
                    seed=args.seed)
    gan = recovery.sweep(generator=args.gan_run, **settings)
    vae = recovery.sweep(generator=args.vae_run, baselines_too=False, **settings)
    rows = []
    for gan_row, vae_row in zip(gan["rows"], vae["rows"]):
        rows.append({"m": gan_row["m"], "ours (GAN)": gan_row["ours"], "ours (VAE)": vae_row["ours"],
                     **{k: v for k, v in gan_row.items() if k not in ("m", "ours")}})
    table = recovery.format_table(rows)
    baselines = [k for k in rows[0] if k not in ("m", "ours (GAN)", "ours (VAE)")]
    win_lines = []
    for prior, result in (("GAN", gan), ("VAE", vae)):
        merged = [{"m": r["m"], "ours": r["ours"], **{k: g[k] for k in baselines}}
                  for r, g in zip(result["rows"], gan["rows"])]
        cells = ", ".join(f"{k}: {wins(merged, k) or 'none'}" for k in baselines)
        win_lines.append(f"- ours ({prior}) has the lower mean error at m in {cells}")
    timings = time_batched(args.gan_run, args.steps)
    fresh = lambda s: "reused" if s is None else f"{s:.0f} s"  # noqa: E731
    text = "\n".join([
        f"Command: `nice -n 10 python tools/bench_recovery.py --gan-epochs {args.gan_epochs} "
        f"--vae-epochs {args.vae_epochs} --measurements {args.measurements} --num {args.num} "
        f"--draws {args.draws} --restarts {args.restarts} --steps {args.steps} --seed {args.seed}`  ",
        f"Machine: {machine()}. Total wall time {time.time() - started:.0f} s "
        f"(GAN training {fresh(gan_seconds)}, VAE training {fresh(vae_seconds)}; "
        f"recovery sweep {gan['seconds']['ours']:.0f} s GAN, {vae['seconds']['ours']:.0f} s VAE).  ",
        f"Priors: DCGAN preset at 8x8 (width 64, z of {LATENT_DIM}, {args.gan_epochs} epochs of the "
        f"1,437 train digits at batch 64, seed {args.seed}); VAE 64-500-500-{LATENT_DIM} MLPs, "
        f"Bernoulli likelihood, Adam 1e-3, {args.vae_epochs} epochs at batch 64, "
        f"test ELBO {test_elbo:.1f} nats per image (360 held-out digits, one z sample each).  ",
        f"Protocol: x = pixel/16 on the first {args.num} held-out test digits at 8x8 (n = 64); "
        f"A with N(0, 1/m) entries, {args.draws} draws of A per m each measuring "
        f"{args.num // args.draws} digits; noise std 0.1/sqrt(m); ours = Adam (lr 0.1, "
        f"{args.steps} steps) on z with lambda 0.1 and {args.restarts} restarts, best measurement "
        "error kept; Lasso by LARS with alpha from a 31-point log grid (1e-5..1) minimising the "
        "mean error on 100 train digits measured by the same draws; Gaussian-prior MMSE and mean "
        "image fitted on the 1,437 train digits. Error ||x_hat - x||^2 / n, mean ± standard error "
        "over the test digits.",
        "",
        table,
        "",
        *win_lines,
        f"- batched recovery of 64 signals x 10 restarts ({args.steps} steps, GAN prior, m = 20): "
        f"{timings[10]:.2f} s; the same with 1 restart: {timings[1]:.2f} s "
        f"(ratio {timings[10] / timings[1]:.1f} for 10x the work).",
    ])
    print(text)
    write_block("recovery", text)


if __name__ == "__main__":
    sys.exit(main())
