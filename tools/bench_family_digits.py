"""Every model of the family on digits with its default recipe, as `gan-apps train` runs it
(issue 20, item 1): block ``family_digits`` of docs/benchmarks.md.

    python tools/bench_family_digits.py --models dcgan,sngan --seeds 0,1,2 --work DIR
        [--threads 1 --cores 0,1] [--train-options "--epochs 60"] [--block family_digits]

Each (model, seed) is ``gan-apps train --model M --seed S --out DIR/M-sS`` in a fresh process:
the model's own default recipe and budget (its ``recipes`` in ``gan_apps.registry``), with the
periodic evaluation and export a user gets, so the wall time is a user's. Then the run's
``generator.keras`` (the last iterate, or the moving average of G where the recipe keeps
one) is scored by ``gan-apps evaluate``'s function: FID, KID, precision/recall, classes
covered, conditional accuracy (label-conditioned models), and the artifact ratio, 1,000
samples against the 360 held-out test digits on the shipped digits-CNN features, beside the
real-data floor.

``--threads 1`` runs one training per core in ``--cores`` at once, each pinned (``taskset``)
with TensorFlow's pools at one thread: runs repeat bit for bit, and their FIDs do not depend
on what else runs; their wall times are one core's. ``--threads 2`` runs one at a time on the
whole machine. Finished runs found in ``--work`` are reused, so the tool can be stopped and
called again, and the table is written from every finished run of the requested models
and seeds (``--table-only`` trains nothing and writes the table of what is there).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import shlex
import statistics
import subprocess
import sys
import time

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), os.pardir))
METRICS = "fid,kid,pr,classes,artifacts"


def run_dir(work, model, seed):
    return os.path.join(work, f"{model}-s{seed}")


def train_command(model, seed, out, train_options):
    return [sys.executable, "-m", "gan_apps.cli", "train", "--model", model, "--seed", str(seed),
            "--out", out, *shlex.split(train_options)]


def train_all(jobs, args):
    """Train every (model, seed) of ``jobs`` not finished yet; writes DIR/wall.json per run."""
    todo = list(jobs)
    cores = [int(c) for c in args.cores.split(",")] if args.threads == 1 else [None]
    running = {}  # core -> (process, model, seed, start)
    while todo or running:
        for core in cores:
            if core in running or not todo:
                continue
            model, seed = todo.pop(0)
            out = run_dir(args.work, model, seed)
            if os.path.exists(os.path.join(out, "wall.json")):
                continue  # finished, maybe meanwhile by another invocation sharing --work
            command = train_command(model, seed, out, args.train_options)
            env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
            if core is not None:
                command = ["taskset", "-c", str(core), *command]
                env.update(TF_NUM_INTRAOP_THREADS="1", TF_NUM_INTEROP_THREADS="1")
            os.makedirs(args.work, exist_ok=True)
            log = open(os.path.join(args.work, f"{model}-s{seed}.log"), "w")
            print("start", model, seed, "core", core, flush=True)
            running[core] = (subprocess.Popen(command, env=env, cwd=REPO, stdout=log,
                                              stderr=subprocess.STDOUT), model, seed, time.time())
        time.sleep(2)
        for core, (proc, model, seed, start) in list(running.items()):
            if proc.poll() is None:
                continue
            del running[core]
            if proc.returncode != 0:
                print(f"failed: {model} seed {seed} (exit {proc.returncode}), see its log",
                      flush=True)
                continue
            wall = time.time() - start
            with open(os.path.join(run_dir(args.work, model, seed), "wall.json"), "w") as f:
                json.dump({"wall_s": wall, "threads": args.threads,
                           "train_options": args.train_options}, f)
            print("done", model, seed, f"{wall:.0f} s", flush=True)


def score(out):
    """The run's evaluation (cached in DIR/bench_metrics.json) and its training summary."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    from gan_apps.pipelines import generation

    cache = os.path.join(out, "bench_metrics.json")
    if not os.path.exists(cache):
        results = generation.evaluate(out, metrics=METRICS)
        with open(cache, "w") as f:
            json.dump(results, f)
    with open(cache) as f:
        results = json.load(f)
    with open(os.path.join(out, "config.json")) as f:
        config = json.load(f)
    with open(os.path.join(out, "wall.json")) as f:
        results["wall_s"] = json.load(f)["wall_s"]
    fids = []
    history = os.path.join(out, "history.csv")
    if os.path.exists(history):
        with open(history) as f:
            fids = [(int(r["epoch"]), float(r["fid"])) for r in csv.DictReader(f)
                    if r.get("fid") not in (None, "", "NA")]
    results["best"] = min(fids, key=lambda e: e[1]) if fids else None
    results["config"] = config
    return results


def mean_std(values, digits=2):
    values = [v for v in values if v is not None]
    if not values:
        return "–"
    return f"{statistics.mean(values):.{digits}f} ± {statistics.pstdev(values):.{digits}f}"


def table(models, seeds, args, wall):
    sys.path.insert(0, os.path.dirname(__file__))
    import bench  # machine() and write_block()

    rows, floor, run_seconds = [], None, 0.0
    for model in models:
        scored = [score(run_dir(args.work, model, s)) for s in seeds
                  if os.path.exists(os.path.join(run_dir(args.work, model, s), "wall.json"))]
        if not scored:
            continue
        floor = floor or scored[0]["floor"]
        run_seconds += sum(r["wall_s"] for r in scored)
        config = scored[0]["config"]

        def col(key, digits=2, results=scored):
            return mean_std([r.get(key) for r in results], digits)

        budget = f"{config['epochs']} epochs, batch {config['batch_size']}"
        if config.get("n_critic"):
            budget += f", {config['n_critic']} critic update(s) a step"
        if config.get("phase_images"):
            budget += f", phases of {config['phase_images']} images"
        accuracy = col("conditional_accuracy", 3)
        if any("code_match" in r for r in scored):
            accuracy = "code match " + col("code_match", 3)
        fids = [r["fid"] for r in scored]
        rows.append(
            f"| {model} | {budget} | {len(scored)} | {col('fid')} | {max(fids):.1f} | "
            f"{col('kid')} | {col('precision', 3)} | {col('recall', 3)} | "
            f"{col('classes_covered', 1)} | {accuracy} | "
            f"{col('artifact_ratio')} | {statistics.median(r['wall_s'] for r in scored) / 60:.1f} |")
    floor_row = (f"| real-data floor | | | {floor['fid']:.2f} | | {floor['kid']:.2f} | "
                 f"{floor['precision']:.3f} | {floor['recall']:.3f} | "
                 f"{floor['classes_covered']:.0f} | | 1 | |") if floor else ""
    threads = ("one thread per run, pinned, one run per core of "
               f"{args.cores} at once" if args.threads == 1 else "two threads, one run at a time")
    options = f' --train-options "{args.train_options}"' if args.train_options else ""
    spent = (f"The runs' wall times add up to {run_seconds / 60:.0f} minutes"
             + (" (trained by earlier calls sharing its --work)." if args.table_only
                else f"; this call took {wall:.0f} s."))
    lines = [
        f"Command: `python tools/bench_family_digits.py --models {','.join(models)} --seeds "
        f"{args.seeds} --threads {args.threads}"
        f"{' --cores ' + args.cores if args.threads == 1 else ''}{options}"
        f"{' --table-only' if args.table_only else ''}`  ",
        f"Machine: {bench.machine()}. {spent}  ",
        "Protocol: per model and seed `gan-apps train --model M --seed S` (the model's default "
        f"recipe and budget; {threads}); then `generator.keras` (the last iterate, or the "
        "moving average of G where the recipe keeps one) scored as `gan-apps evaluate "
        f"--metrics {METRICS}` scores it: 1,000 samples against the 360 held-out test digits "
        "on the shipped digits-CNN features; conditional accuracy: the digits classifier's "
        "accuracy on label-conditioned samples (InfoGAN: its categorical code matched one to "
        "one to the classifier's labels, `code_match`); artifact ratio: energy above an 8x8 "
        "bottleneck relative to real digits (1 = as real). Wall time: the whole command "
        "(training, periodic evaluation, export), median over seeds. Mean ± std over seeds.",
        "",
        "| model | budget | seeds | FID | worst FID | KID | precision | recall | classes | "
        "conditional accuracy | artifact ratio | wall min |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
        *rows,
        *([floor_row] if floor_row else []),
    ]
    text = "\n".join(lines)
    print(text)
    if args.block:
        bench.write_block(args.block, text)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", required=True, help="comma-separated model names")
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--work", required=True, help="run folders; finished runs are reused")
    parser.add_argument("--threads", type=int, choices=(1, 2), default=1)
    parser.add_argument("--cores", default="0,1", help="with --threads 1: one run per core")
    parser.add_argument("--train-options", default="",
                        help="extra `gan-apps train` options for every run (probes only: the "
                             "block is meant for the default recipes)")
    parser.add_argument("--table-only", action="store_true",
                        help="train nothing: the table of the runs already in --work")
    parser.add_argument("--block", default="family_digits",
                        help="docs/benchmarks.md block to rewrite ('' to print only)")
    args = parser.parse_args(argv)
    models = args.models.split(",")
    seeds = [int(s) for s in args.seeds.split(",")]
    start = time.time()
    if not args.table_only:
        train_all([(m, s) for m in models for s in seeds], args)
    table(models, seeds, args, time.time() - start)


if __name__ == "__main__":
    main()
