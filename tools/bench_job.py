"""The default job end to end under each runtime configuration (issue 20, item 3).

    python tools/bench_job.py [--configs graph,xla,spe,xla_spe,onednn,width32,width32_onednn]
        [--threads 1,2] [--repeats 1] [--block speed_job]
    python tools/bench_job.py --seeds 0,1,2      # the default job's quality, block default_job

``onednn`` and ``width32_onednn`` set ``TF_ENABLE_ONEDNN_OPTS=1`` in the run's environment
(TensorFlow's oneDNN kernels, which it leaves off on some CPUs); ``width32`` trains the
networks at width 32 instead of the recipe's.

Each configuration runs ``gan-apps train``'s pipeline (``pipelines.generation.train`` with
the command's defaults, so the same recipe, evaluation every 5 epochs and export) in a fresh
process, and the clock starts before that process imports TensorFlow: start-up, tracing and
XLA compilation, evaluation and export are all counted, as a user's wall clock counts them.
It records, per run:

- ``total``: process start to exit;
- ``training``: process start to the end of the last epoch (its evaluation and checkpoint
  included);
- ``first epoch``: process start to the end of epoch 1 (imports, data, tracing or XLA
  compilation of the train step, one epoch);
- ``images/s``: real images consumed per second over the epochs without an evaluation,
  after the first (the steady state the ``speed`` block of ``tools/bench.py`` measures);
- ``to FID <= T``: process start to the end of the first evaluated epoch at or under the
  target, and the final FID.

One thread: the process is pinned to one core (``taskset``) with TensorFlow's intra- and
inter-op pools at 1 thread, and two such runs go side by side on the two cores (as a user
running two jobs would). Two threads: one run at a time, nothing pinned. The block written to
docs/benchmarks.md is ``speed_job``.

With ``--seeds`` it runs the default job as it is (graph mode, 2 threads) once per seed and
writes block ``default_job``: per seed the wall time and the last evaluation's metrics from
``history.csv`` (digits-CNN features, 1,000 samples against the 360 test digits), beside the
real-data floor that ``gan-apps evaluate`` prints.
"""

from __future__ import annotations

import time

T0 = time.time()  # before TensorFlow's import: the user's wall clock

import argparse  # noqa: E402
import csv  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402

CONFIGS = {
    # name: (description, extra options of train, extra environment)
    "graph": ("graph mode (tf.function, no XLA): `gan-apps train`", {}, {}),
    "xla": ("XLA: `--jit`", {"jit": True}, {}),
    "spe": ("steps per execution = one epoch (44): `--steps-per-execution 44`",
            {"steps_per_execution": 44}, {}),
    "xla_spe": ("XLA and 44 steps per execution", {"jit": True, "steps_per_execution": 44}, {}),
    # TensorFlow's oneDNN kernels, off by default on this machine's CPU (tools/bench_conv_kernels.py).
    "onednn": ("oneDNN kernels: `TF_ENABLE_ONEDNN_OPTS=1 gan-apps train`", {},
               {"TF_ENABLE_ONEDNN_OPTS": "1"}),
    # The networks' width before 2026-12-07 (32) and with oneDNN.
    "width32": ("width 32: `gan-apps train --width 32`", {"width": 32}, {}),
    "width32_onednn": ("width 32 with oneDNN: `TF_ENABLE_ONEDNN_OPTS=1 gan-apps train --width 32`",
                       {"width": 32}, {"TF_ENABLE_ONEDNN_OPTS": "1"}),
}


def run_one(args):
    """Child process: train the default job with one configuration and write the timings."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import keras

    from gan_apps.pipelines import generation

    ends = {}

    class EpochClock(keras.callbacks.Callback):
        # Epoch k ends when epoch k + 1 begins (or training ends): after every callback of
        # epoch k, its evaluation and checkpoint included, which run after this one's
        # on_epoch_end.
        def on_train_begin(self, logs=None):
            ends["steps"] = self.params["steps"]

        def on_epoch_begin(self, epoch, logs=None):
            if epoch:
                ends[epoch] = time.time() - T0

        def on_train_end(self, logs=None):
            ends[max((k for k in ends if k != "steps"), default=0) + 1] = time.time() - T0

    options = dict(CONFIGS[args.config][1])
    if args.epochs:
        options["epochs"] = args.epochs
    generation.train(out=args.out, seed=args.seed, callbacks=[EpochClock()], verbose=0,
                     **options)
    with open(os.path.join(args.out, "config.json")) as f:
        config = json.load(f)
    with open(os.path.join(args.out, "timings.json"), "w") as f:
        json.dump({"epoch_ends": ends, "total": time.time() - T0, "config": config}, f)


def evaluated_epochs(out):
    """The rows of a run's history.csv whose epoch was evaluated (a FID, not empty or NA)."""
    with open(os.path.join(out, "history.csv")) as f:
        return [row for row in csv.DictReader(f) if row.get("fid") not in (None, "", "NA")]


def summarise(out, target):
    """The row of one finished run from its timings.json and history.csv."""
    with open(os.path.join(out, "timings.json")) as f:
        timing = json.load(f)
    steps = timing["epoch_ends"].pop("steps")
    ends = {int(k): v for k, v in timing["epoch_ends"].items()}
    config = timing["config"]
    fids = {int(row["epoch"]): float(row["fid"]) for row in evaluated_epochs(out)}
    images = steps * config["batch_size"]
    plain = [ends[e] - ends[e - 1] for e in sorted(ends)
             if e > 1 and e - 1 in ends and e not in fids]
    reached = [e for e in sorted(fids) if fids[e] <= target]
    return {
        "total": timing["total"],
        "training": ends[max(ends)],
        "first_epoch": ends[1],
        "images_per_s": images / statistics.median(plain),
        "to_target": ends[reached[0]] if reached else None,
        "final_fid": fids[max(fids)],
    }


def child_command(config, out, args, core=None):
    command = [sys.executable, __file__, "run-one", "--config", config, "--out", out,
               "--seed", str(args.seed)]
    if args.epochs:
        command += ["--epochs", str(args.epochs)]
    if core is not None:
        command = ["taskset", "-c", str(core), *command]
    return command


def launch(commands, threads, configs=None):
    """Run ``commands`` at once (each with its configuration's environment) and wait."""
    env = dict(os.environ)
    if threads == 1:
        env.update(TF_NUM_INTRAOP_THREADS="1", TF_NUM_INTEROP_THREADS="1")
    configs = configs or ["graph"] * len(commands)
    procs = [subprocess.Popen(c, env={**env, **CONFIGS[config][2]}, cwd=REPO)
             for c, config in zip(commands, configs)]
    for proc, command in zip(procs, commands):
        if proc.wait() != 0:
            raise SystemExit(f"failed: {' '.join(command)}")


def seeds(args):
    """The default job once per seed (graph mode, 2 threads): block ``default_job``."""
    sys.path.insert(0, os.path.dirname(__file__))
    import bench
    from gan_apps.commands import rate_text

    work = args.work or tempfile.mkdtemp(prefix="bench_job_")
    start = time.time()
    rows = []
    for seed in [int(s) for s in args.seeds.split(",")]:
        out = os.path.join(work, f"seed{seed}")
        if not os.path.exists(os.path.join(out, "timings.json")):
            command = child_command("graph", out, args)
            command[command.index("--seed") + 1] = str(seed)
            launch([command], 2)
        with open(os.path.join(out, "timings.json")) as f:
            timing = json.load(f)
        total, config = timing["total"], timing["config"]
        history = evaluated_epochs(out)
        last = history[-1]
        best = min(history, key=lambda r: float(r["fid"]))
        rows.append((seed, total, last, best))
        print(seed, round(total), last["fid"], flush=True)
    floor = _digits_floor()
    fids = [float(r[2]["fid"]) for r in rows]
    lines = [
        f"Command: `python tools/bench_job.py --seeds {args.seeds}"
        f"{' --epochs ' + str(args.epochs) if args.epochs else ''}` (each seed: `gan-apps "
        "train --seed S`)  ",
        f"Machine: {bench.machine()}. Total wall time {time.time() - start:.0f} s.  ",
        f"Protocol: the default job (`{config['model']}`, width {config['width']}, batch "
        f"{config['batch_size']}, D's learning rate {rate_text(config['d_lr'])}, "
        f"{'EMA of G ' + str(config['ema']) + ', ' if config.get('ema') else ''}"
        f"{config['epochs']} epochs, evaluation every {config['eval_every']}) in a fresh process per "
        "seed, one at a time (2 threads, graph mode); wall time from before TensorFlow's import to the export's end; metrics of the "
        "last evaluation (epoch " + rows[0][2]["epoch"] + ", 1,000 samples against the 360 "
        "held-out test digits on the shipped digits-CNN features). Floor: the same metrics for "
        "1,000 training digits, as `gan-apps evaluate` prints it.",
        "",
        "| seed | wall time | FID | KID | precision | recall | classes | best FID (epoch) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for seed, total, last, best in rows:
        lines.append(
            f"| {seed} | {total / 60:.1f} min | {float(last['fid']):.2f} | {float(last['kid']):.2f} | "
            f"{float(last['precision']):.3f} | {float(last['recall']):.3f} | "
            f"{float(last['classes_covered']):.0f} | {float(best['fid']):.2f} ({best['epoch']}) |")
    lines.append(f"| mean ± std | | {bench.mean_std(fids)} | | | | | |")
    lines.append(f"| real-data floor | | {floor['fid']:.2f} | {floor['kid']:.2f} | "
                 f"{floor['precision']:.3f} | {floor['recall']:.3f} | "
                 f"{floor['classes_covered']:.0f} | |")
    text = "\n".join(lines)
    print(text)
    bench.write_block(args.block or "default_job", text)


def _digits_floor():
    """The real-data floor of the default job's evaluation (what `gan-apps evaluate` prints)."""
    from gan_apps import data as data_lib
    from gan_apps.pipelines import generation

    source = data_lib.image_source("digits")
    info = data_lib.source_info(source, channels=None, data_dir=None)
    config = {"data": "digits", "resolution": 32, "channels": info.channels, "data_dir": None,
              "latent_dim": 100}
    return generation.make_evaluator(config, info).real_data_floor()


REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), os.pardir))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command")
    one = sub.add_parser("run-one")
    one.add_argument("--config", choices=list(CONFIGS), required=True)
    one.add_argument("--out", required=True)
    one.add_argument("--seed", type=int, default=0)
    one.add_argument("--epochs", type=int)
    parser.add_argument("--configs", default=",".join(CONFIGS))
    parser.add_argument("--threads", default="1,2")
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--epochs", type=int, help="default: the default job's")
    parser.add_argument("--target-fid", type=float, default=60.0)
    parser.add_argument("--work", help="run folders (default: a temporary folder); finished "
                                       "runs found there are reused")
    parser.add_argument("--seeds", help="comma-separated: the default job's quality per seed")
    parser.add_argument("--block", help="the docs/benchmarks.md block to write (default: "
                                        "speed_job, or default_job with --seeds)")
    args = parser.parse_args(argv)
    if args.command == "run-one":
        return run_one(args)
    if args.seeds:
        return seeds(args)
    sys.path.insert(0, os.path.dirname(__file__))
    import bench  # machine() and write_block()

    configs = args.configs.split(",")
    threads = [int(t) for t in args.threads.split(",")]
    work = args.work or tempfile.mkdtemp(prefix="bench_job_")
    start = time.time()
    rows = {}
    for repeat in range(args.repeats):
        for n in threads:
            outs = {c: os.path.join(work, f"{c}-t{n}-r{repeat}") for c in configs}
            # Runs that finished in an earlier call with the same --work are kept.
            todo = [c for c in configs if not os.path.exists(os.path.join(outs[c], "timings.json"))]
            if n == 1:
                # Two single-thread runs side by side, one per core; the order of the
                # configurations alternates with the repeat, so each sees both cores.
                order = todo if repeat % 2 == 0 else todo[::-1]
                for i in range(0, len(order), 2):
                    pair = order[i:i + 2]
                    launch([child_command(c, outs[c], args, core=k) for k, c in enumerate(pair)],
                           1, pair)
            else:
                for c in todo:
                    launch([child_command(c, outs[c], args)], n, [c])
            for c in configs:
                rows.setdefault((c, n), []).append(summarise(outs[c], args.target_fid))
                print(c, n, rows[(c, n)][-1], flush=True)
    wall = time.time() - start

    def med(values, fmt):
        values = [v for v in values if v is not None]
        return fmt.format(statistics.median(values)) if values else "not reached"

    lines = [
        f"Command: `python tools/bench_job.py --configs {args.configs} --threads {args.threads} "
        f"--repeats {args.repeats} --seed {args.seed}"
        f"{' --epochs ' + str(args.epochs) if args.epochs else ''} --target-fid {args.target_fid}"
        f"{' --block ' + args.block if args.block else ''}`  ",
        f"Machine: {bench.machine()}. Total wall time {wall:.0f} s.  ",
        "Protocol: the default job (`gan-apps train`'s recipe, evaluation every 5 epochs on "
        "1,000 samples, export at the end) in a fresh process per run; clocks start before "
        "TensorFlow is imported. 1 thread: pinned to one core with TensorFlow's pools at one "
        "thread, two runs side by side; 2 threads: one run at a time. images/s: real images "
        "per second over the epochs after the first without an evaluation; first epoch: "
        "process start to the end of epoch 1 (start-up, tracing or XLA compilation); "
        "training: process start to the end of the last epoch (its evaluation and checkpoint "
        "included); total: to the process's end (saving and export included); "
        f"to FID <= {args.target_fid:g}: process start to the first evaluation at or under it. "
        f"Median of {args.repeats} run(s); in brackets the ratio to graph mode at the same "
        "thread count (> 1 is faster).",
        "",
        f"| configuration | threads | total s | training s | first epoch s | images/s | to FID <= {args.target_fid:g} s | final FID |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for n in threads:
        base = rows.get(("graph", n))
        for c in configs:
            r = rows[(c, n)]
            total = statistics.median(x["total"] for x in r)
            rate = statistics.median(x["images_per_s"] for x in r)
            ratio = ""
            if base:
                ratio_total = statistics.median(x["total"] for x in base) / total
                ratio_rate = rate / statistics.median(x["images_per_s"] for x in base)
                ratio = (f" ({ratio_total:.2f}x)", f" ({ratio_rate:.2f}x)")
            else:
                ratio = ("", "")
            lines.append(
                f"| {CONFIGS[c][0]} | {n} | {total:.0f}{ratio[0]} | "
                f"{med([x['training'] for x in r], '{:.1f}')} | "
                f"{med([x['first_epoch'] for x in r], '{:.1f}')} | {rate:.0f}{ratio[1]} | "
                f"{med([x['to_target'] for x in r], '{:.0f}')} | "
                f"{med([x['final_fid'] for x in r], '{:.1f}')} |"
            )
    text = "\n".join(lines)
    print(text)
    bench.write_block(args.block or "speed_job", text)


if __name__ == "__main__":
    main()
