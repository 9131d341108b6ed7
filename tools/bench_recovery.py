"""Benchmark: compressed sensing with GAN and VAE priors on the digits at 8x8 (block ``recovery``).

    python tools/bench_recovery.py [--work /tmp/recovery_bench] [--measurements 5,10,...]

Trains the priors with the README's own ``gan-apps train`` commands (read from its
Compressed sensing section, run in ``--work``; reused when their folders exist), then
sweeps the number of Gaussian measurements on 100 held-out test digits for ours (GAN and
VAE priors, csgm's conventions: ``recovery`` module docstring) and every baseline, times
10 restarts against 1 (screened, and csgm's full restarts), and rewrites the ``recovery``
block of docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import os
import shlex
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from bench import machine, write_block  # noqa: E402

import numpy as np  # noqa: E402

from gan_apps.pipelines import recovery  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def readme_training(work):
    """Run the README's ``gan-apps train`` commands of its Compressed sensing section in
    ``work`` (skipping a run whose folder holds a generator); {run folder: seconds or None}."""
    with open(os.path.join(ROOT, "README.md")) as f:
        text = f.read()
    section = text[text.index("## Compressed sensing"):]
    section = section[:section.index("\n## ", 1)]
    runs_made = {}
    for line in section.splitlines():
        if not line.startswith("gan-apps train "):
            continue
        argv = shlex.split(line.split("#")[0])
        out = os.path.join(work, argv[argv.index("--out") + 1])
        if os.path.isfile(os.path.join(out, "generator.keras")):
            runs_made[out] = (argv, None)
            continue
        started = time.perf_counter()
        subprocess.run(argv, cwd=work, check=True, capture_output=True)
        runs_made[out] = (argv, time.perf_counter() - started)
    return runs_made


def time_restarts(generator, steps):
    """Seconds of one recovery of 64 signals (m = 20): 1 restart, 10 restarts screened (the
    default) and 10 restarts run to the end (csgm, ``screen=1``); medians of 3."""
    prior = recovery.load_prior(generator)
    signals = recovery.load_signals("digits", prior.shape, 64)
    rng = np.random.default_rng(0)
    op = recovery.make_operator("gaussian", prior.shape, 20, rng)
    y = op.measure(signals, 0.1, rng)
    cases = {"1 restart": dict(restarts=1), "10 restarts, screened": dict(restarts=10),
             "10 restarts, csgm (screen 1)": dict(restarts=10, screen=1.0),
             "10 restarts, screened, posterior mean": dict(restarts=10,
                                                           estimate="posterior-mean")}
    recovery.recover(prior, op, y, restarts=10, steps=5)  # warm-up: load, the one trace
    timings = {}
    for name, kwargs in cases.items():
        seconds = []
        for _ in range(3):
            started = time.perf_counter()
            recovery.recover(prior, op, y, steps=steps, **kwargs)
            seconds.append(time.perf_counter() - started)
        timings[name] = float(np.median(seconds))
    return timings


def wins(rows, method):
    """The m at which ours beats ``method`` (lower mean error)."""
    return [row["m"] for row in rows if row["ours"][0] < row[method][0]]


def fifth_wins(rows, ours, method="lasso-dct"):
    """Pairs (m, 5m) of the sweep where ours at m beats ``method`` at 5m."""
    by_m = {row["m"]: row for row in rows}
    return [(m, 5 * m) for m in by_m if 5 * m in by_m and by_m[m][ours][0] < by_m[5 * m][method][0]]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", default="/tmp/recovery_bench")
    parser.add_argument("--measurements", default="5,10,15,20,25,30,40,50")
    parser.add_argument("--num", type=int, default=100)
    parser.add_argument("--draws", type=int, default=5)
    parser.add_argument("--others", default="nothing else heavy",
                        help="what else ran on the machine (stated in the block)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    started = time.time()
    os.makedirs(args.work, exist_ok=True)
    trained = readme_training(args.work)
    priors = {}
    for out, (argv_, seconds) in trained.items():
        kind = "VAE" if "vae" in argv_ else "GAN"
        priors[kind] = (out, argv_, seconds)
    print("priors ready", {k: v[2] for k, v in priors.items()}, flush=True)
    measurements = [int(m) for m in args.measurements.split(",")]
    settings = dict(measurements=measurements, operator="gaussian", noise=0.1, input="digits",
                    num=args.num, draws=args.draws, seed=args.seed)
    sweeps = {}
    for index, (kind, (out, _, _)) in enumerate(sorted(priors.items(), key=lambda kv: kv[0] != "GAN")):
        sweeps[kind] = recovery.sweep(generator=out, out=args.work, baselines_too=index == 0,
                                      **settings)
    for kind in ("VAE",):
        sweeps[f"{kind}, posterior mean"] = recovery.sweep(
            generator=priors[kind][0], out=args.work, baselines_too=False,
            estimate="posterior-mean", **settings)
    with_baselines = next(iter(sweeps.values()))
    baselines = [k for k in with_baselines["rows"][0] if k not in ("m", "ours")]
    rows = []
    for i, m in enumerate(measurements):
        row = {"m": m}
        for kind, result in sweeps.items():
            row[f"ours ({kind})"] = result["rows"][i]["ours"]
        row.update({k: with_baselines["rows"][i][k] for k in baselines})
        rows.append(row)
    table = recovery.format_table(rows)
    win_lines = []
    for kind in sweeps:
        merged = [{"m": r["m"], "ours": r[f"ours ({kind})"], **{k: r[k] for k in baselines}} for r in rows]
        cells = ", ".join(f"{k}: {wins(merged, k) or 'none'}" for k in baselines)
        win_lines.append(f"- ours ({kind}) has the lower mean error at m in {cells}; beats "
                         f"lasso-dct with a fifth of its measurements at (m, 5m) = "
                         f"{fifth_wins(rows, f'ours ({kind})') or 'none'}")
    timings = time_restarts(priors["GAN"][0], recovery.DEFAULT_STEPS)
    one = timings["1 restart"]
    timing_text = "; ".join(f"{name} {seconds:.2f} s ({seconds / one:.2f}x)"
                            for name, seconds in timings.items())
    prior_lines = [f"  - {kind}: `{' '.join(argv_)}` "
                   f"({'reused' if seconds is None else f'{seconds:.0f} s'})"
                   for kind, (_, argv_, seconds) in priors.items()]
    text = "\n".join([
        f"Command: `python tools/bench_recovery.py --work {args.work} --measurements "
        f"{args.measurements} --num {args.num} --draws {args.draws} --seed {args.seed}`  ",
        f"Machine: {machine()}; also running: {args.others}. Total wall time "
        f"{time.time() - started:.0f} s (sweeps: "
        + ", ".join(f"{k} {v['seconds']['ours']:.0f} s" for k, v in sweeps.items()) + ").  ",
        "Priors, trained by the README's commands (Compressed sensing section):",
        *prior_lines,
        "",
        f"Protocol (csgm's conventions, `gan_apps/pipelines/recovery.py`): x = pixel/16 on the "
        f"first {args.num} held-out test digits at 8x8 (n = 64); A with N(0, 1) entries, "
        f"{args.draws} draws of A per m each measuring {args.num // args.draws} digits; noise "
        "N(0, 0.1^2) per measurement; ours = Adam (lr 0.01, TF1 eps 1e-8) on "
        "mean_i (y_i - (A G(z))_i)^2 + 0.1 ||z||^2 for 1000 steps, 10 restarts from N(0, I), "
        "the restart with the lowest total loss kept after the first 100 steps (the screening "
        "departure; `--screen 1` is csgm's); posterior mean (`--estimate posterior-mean`, not "
        "csgm's): the mean of G(z) under exp(-L(z) / (2 lambda)), 8 unadjusted Langevin chains "
        "per signal from z*, 1000 steps of 1e-3, the first 250 discarded. Baselines: Lasso "
        "(pixel, DCT; exact LARS path, "
        "alpha from a 49-point log grid 1e-5..1e3 minimising the mean error on 100 train "
        "digits measured by the same draws; csgm's MNIST Lasso fixes alpha 0.1 instead), the "
        "Gaussian-prior linear MMSE and the mean image, fitted on the 1,437 train digits. "
        "Error: per-pixel MSE ||x_hat - x||^2 / n with pixels in [0, 1], mean ± standard error "
        "over the test digits.",
        "",
        table,
        "",
        *win_lines,
        f"- restarts, 64 signals, m = 20, {recovery.DEFAULT_STEPS} steps, GAN prior, median of "
        f"3: {timing_text}.",
    ])
    print(text)
    write_block("recovery", text)


if __name__ == "__main__":
    sys.exit(main())
