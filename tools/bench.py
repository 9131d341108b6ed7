"""Benchmark suites that fill the tables of docs/benchmarks.md.

    python tools/bench.py mixtures [--seeds 0,1,2] [--presets dcgan,...] [--pack 1,4] [--n-critic N] [--block mixtures]
    python tools/bench.py speed [--presets dcgan,wgan_gp,sngan] [--configs float32,XLA,...]
    python tools/bench.py speed --presets cyclegan,srresnet,srgan --block speed_pipelines
    python tools/bench.py digits [--seeds 0,1,2] [--steps 600]
    python tools/bench.py input [--cases ring8-fit,ring8,digits] [--repeats 3] [--block input_autotune]

Each suite prints its table and rewrites the block between
``<!-- bench:NAME -->`` and ``<!-- /bench:NAME -->`` in docs/benchmarks.md, with the
command, seeds, sample counts, wall time and machine next to it.
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import statistics
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from gan_apps import data as data_lib  # noqa: E402
from gan_apps.images import from_uint8  # noqa: E402
from gan_apps.models.presets import PRESETS, build_gan  # noqa: E402

DOC = os.path.join(os.path.dirname(__file__), os.pardir, "docs", "benchmarks.md")
EVAL_SAMPLES = 2500  # the protocol's sample count (DESIGN.md)


def machine():
    """The machine in words, with the CPU's model name and whether it has AVX-512: the same
    one-thread run gave other numbers, at another speed, on hosts that differ in these."""
    cores = os.cpu_count()
    cpu = platform.processor() or platform.machine()
    info = open("/proc/cpuinfo").read() if os.path.exists("/proc/cpuinfo") else ""
    model = re.search(r"^model name\s*:\s*(.+)$", info, re.M)
    if model:
        avx512 = re.search(r"^flags\s*:.*\bavx512f\b", info, re.M)
        cpu += f" ({model.group(1).strip()}, {'with' if avx512 else 'no'} AVX-512)"
    return f"{cpu}, {cores} cores, TF {tf.__version__}, Keras {keras.__version__}"


def write_block(name, text):
    """Replace the named block of docs/benchmarks.md (append it if absent)."""
    begin, end = f"<!-- bench:{name} -->", f"<!-- /bench:{name} -->"
    block = f"{begin}\n{text.rstrip()}\n{end}"
    doc = open(DOC).read() if os.path.exists(DOC) else "# Benchmarks\n"
    pattern = re.compile(re.escape(begin) + ".*?" + re.escape(end), re.S)
    doc = pattern.sub(lambda _: block, doc) if pattern.search(doc) else doc.rstrip() + "\n\n" + block + "\n"
    with open(DOC, "w") as f:
        f.write(doc)


def mean_std(values):
    return f"{statistics.mean(values):.2f} ± {statistics.pstdev(values):.2f}"


def mixtures(args):
    """Every preset (and ``--pack`` K) on ring8 and grid25 as ``gan-apps train`` runs it.

    Each run is :func:`gan_apps.pipelines.generation.train` with the user's defaults (the
    model's points recipe of :data:`gan_apps.registry.POINTS_RECIPES`: steps, epochs, rates,
    EMA of G, zero-centred GP, steps per execution, critic updates, penalty weight), only
    ``--data``, ``--seed``, ``--out``, ``--pack`` and ``--n-critic`` (when the bench is given
    one) set;
    then :func:`gan_apps.pipelines.generation.evaluate` on the run's ``generator.keras`` (the
    EMA generator where the recipe keeps one), 2,500 samples, the PacGAN protocol.
    """
    import json
    import tempfile

    from gan_apps.pipelines import generation

    seeds = [int(s) for s in args.seeds.split(",")]
    names = args.presets.split(",") if args.presets else list(PRESETS)
    packs = [int(k) for k in args.pack.split(",")]
    rows = []
    started = time.time()
    command = (f"python tools/bench.py mixtures"
               f"{' --presets ' + args.presets if args.presets else ''} --seeds {args.seeds} "
               f"--data {args.data}{' --pack ' + args.pack if args.pack != '1' else ''}"
               f"{f' --n-critic {args.n_critic}' if args.n_critic else ''}"
               f"{' --block ' + args.block if args.block != 'mixtures' else ''}")

    def write(final):
        status = "" if final else f" (in progress: {len(rows)} rows so far)"
        table = "\n".join([
            f"Command: `{command}`  ",
            f"Machine: {machine()}. Total wall time {time.time() - started:.0f} s{status}.  ",
            "Protocol: `gan-apps train --model M --data D --seed S [--pack K] [--n-critic N]` "
            "with every other option at its default (the model's points recipe, shown per row "
            "from the run's config.json: generator updates = epochs x steps, learning rates, "
            "EMA of G, zero-centred GP weight, steps per call into the graph, critic updates "
            "per generator update, the weight of the preset's own gradient penalty or the "
            "critic's weight-clipping bound where the recipe sets one; batch 256 per critic "
            "update), then `gan-apps evaluate` on "
            f"its generator.keras: {EVAL_SAMPLES} samples; a mode is captured with >= 20 "
            "samples within 3 sigma; high quality = within 3 sigma of any mode. Mean ± std "
            f"over seeds {args.seeds}; min-max of modes in brackets.",
            "",
            "| data | preset | pack | recipe (G updates, lr G/D, EMA, zero-GP, steps per "
            "execution, D updates per G update, own-GP weight or clip value) | modes captured "
            "| high-quality fraction | s / run (median) |",
            "|---|---|---|---|---|---|---|",
            *rows,
        ])
        write_block(args.block, table)
        return table

    # Preset by preset (both data sets), so an interrupted run leaves whole presets.
    for name in names:
        for data in args.data.split(","):
            mixture = data_lib.MIXTURES[data]
            for pack in packs:
                modes, quality, seconds = [], [], []
                for seed in seeds:
                    with tempfile.TemporaryDirectory() as out:
                        t0 = time.time()
                        generation.train(model=name, data=data, seed=seed, out=out, verbose=0,
                                         pack=pack if pack > 1 else None,
                                         n_critic=args.n_critic)
                        seconds.append(time.time() - t0)
                        config = json.load(open(os.path.join(out, "config.json")))
                        stats = generation.evaluate(out)
                    modes.append(stats["modes_captured"])
                    quality.append(stats["high_quality_fraction"])
                    print(data, name, pack, seed, stats["modes_captured"],
                          round(stats["high_quality_fraction"], 3), round(seconds[-1]), flush=True)
                clip = f"clip {config['clip_value']:g}" if config.get("clip_value") else "–"
                recipe = (f"{config['epochs'] * config['steps']}, {config['g_lr']:g}/"
                          f"{config['d_lr']:g}, {config['ema'] or 'off'}, "
                          f"{config.get('zero_gp') or 'off'}, "
                          f"{config.get('steps_per_execution', 1)}, "
                          f"{config.get('n_critic') or PRESETS[name].n_critic}, "
                          f"{config.get('gp_weight') or clip}")
                rows.append(
                    f"| {data} | {name} | {pack} | {recipe} | {mean_std(modes)} "
                    f"[{min(modes):g}-{max(modes):g}] / {len(mixture.centers)} | "
                    f"{mean_std(quality)} | {statistics.median(seconds):.0f} |")
                write(final=False)
    print(write(final=True))


class _BatchClock(keras.callbacks.Callback):
    """Timestamps at the end of every training batch."""

    def on_train_begin(self, logs=None):
        self.times = []

    def on_train_batch_end(self, batch, logs=None):
        self.times.append(time.perf_counter())
        self.logs = logs or {}


SPEED_CONFIGS = {
    # name: (precision, jit, steps_per_execution)
    "float32": ("float32", False, 1),
    "XLA": ("float32", True, 1),
    "bfloat16": ("mixed_bfloat16", False, 1),
    "float16": ("mixed_float16", False, 1),
    "spe8": ("float32", False, 8),
}
SPEED_CONFIG_NOTES = {
    "float32": "float32 graph", "XLA": "XLA (`--jit`)", "bfloat16": "mixed_bfloat16",
    "float16": "mixed_float16 (loss-scaled)", "spe8": "spe8 (`--steps-per-execution 8`)",
}


PIPELINES = ("cyclegan", "srresnet", "srgan")  # task pipelines `speed` measures besides presets
# CPU-sized task networks for the throughput table.
CYCLEGAN_SPEED = {"crop_size": 64, "ngf": 16, "ndf": 32, "n_blocks": 6, "batch_size": 4}
SR_SPEED = {"scale": 4, "blocks": 4, "filters": 32, "patch_size": 64, "batch_size": 8}
SPEED_POOL = 128  # in-memory random examples the pipeline cases batch from


def _in_memory_batches(arrays, batch_size):
    """Shuffled full batches of in-memory arrays, as the digits loader makes them."""
    dataset = tf.data.Dataset.from_tensor_slices(arrays)
    dataset = dataset.shuffle(SPEED_POOL, seed=0, reshuffle_each_iteration=True)
    return data_lib.feeding.feed(dataset.batch(batch_size, drop_remainder=True))


def _speed_preset(name, width, jit, spe):
    """A preset GAN on the digits pipeline: (model, dataset, images per step)."""
    gan = build_gan(name, resolution=32, channels=1, width=width, seed=0,
                    jit_compile=True if jit else False, steps_per_execution=spe)
    per_step = 64 * gan.n_critic  # real images one step consumes (64 per critic update)
    dataset = data_lib.load_dataset("digits", resolution=32, batch_size=per_step, seed=0)
    return gan, dataset, per_step


def _speed_pipeline(name, jit, spe):
    """A task pipeline's model on random in-memory data: (model, dataset, images per step).

    cyclegan: unpaired batches (a, b) of uniform [-1, 1] images, images/s counts domain A.
    srresnet / srgan: (LR, HR) pairs, HR uniform random, LR its MATLAB-bicubic x4
    degradation as the pipeline makes it; images/s counts HR patches.
    """
    from gan_apps import degradations

    rng = np.random.default_rng(0)
    if name == "cyclegan":
        from gan_apps.models import cyclegan

        c = CYCLEGAN_SPEED
        model = cyclegan.build_cyclegan(
            channels=3, crop_size=c["crop_size"], ngf=c["ngf"], ndf=c["ndf"],
            n_blocks=c["n_blocks"], seed=0, jit_compile=True if jit else False,
            steps_per_execution=spe,
        )
        shape = (SPEED_POOL, c["crop_size"], c["crop_size"], 3)
        a = rng.uniform(-1.0, 1.0, shape).astype(np.float32)
        b = rng.uniform(-1.0, 1.0, shape).astype(np.float32)
        return model, _in_memory_batches((a, b), c["batch_size"]), c["batch_size"]
    from gan_apps.pipelines import super_resolution

    c = SR_SPEED
    config = {
        "model": name, "scale": c["scale"], "channels": 3, "blocks": c["blocks"],
        "filters": c["filters"], "batch_norm": True, "patch_size": c["patch_size"],
        "objective": "non_saturating", "adversarial_weight": 1e-3 if name == "srgan" else 0.0,
        "content": "pixel", "vgg_weights": None,
        "learning_rate": super_resolution.DEFAULTS["learning_rate"],
    }
    model = super_resolution.build_model(config, jit=jit, steps_per_execution=spe)
    # build_model leaves jit_compile="auto" without jit, which Keras turns into XLA on a
    # GPU; pin it so that only the XLA configuration compiles with XLA.
    model.jit_compile = True if jit else False
    hr = rng.integers(0, 256, (SPEED_POOL, c["patch_size"], c["patch_size"], 3), dtype=np.uint8)
    degrade = degradations.get(degradations.DEFAULT_DEGRADATION)
    lr = np.stack([degrade(patch, c["scale"]) for patch in hr])
    pairs = (from_uint8(lr), from_uint8(hr))
    return model, _in_memory_batches(pairs, c["batch_size"]), c["batch_size"]


def _time_fit(model, dataset, per_step, spe, steps, repeats):
    """images/s of ``fit`` (median over ``repeats``) and of the input pipeline alone."""
    stream = dataset.repeat()
    # The input pipeline alone: batches/s of the same tf.data pipeline, nothing trained.
    iterator = iter(stream)
    for _ in range(5):
        next(iterator)
    t0 = time.perf_counter()
    for _ in range(steps * 4):
        next(iterator)
    input_rate = steps * 4 * per_step / (time.perf_counter() - t0)
    clock = _BatchClock()
    rates = []
    warmup = 2 * spe + 5
    # At least two timed batch ends, also when steps < steps_per_execution.
    steps = max(steps, spe + 1)
    for _ in range(repeats):
        model.fit(stream, steps_per_epoch=steps + warmup, epochs=1, verbose=0, shuffle=False,
                  callbacks=[clock])
        # With steps_per_execution N the callback fires every N steps.
        times = clock.times[warmup // spe:]
        rates.append((len(times) - 1) * spe * per_step / (times[-1] - times[0]))
    nonfinite = sorted(k for k, v in clock.logs.items() if not np.all(np.isfinite(v)))
    return statistics.median(rates), input_rate, nonfinite


def speed_one(args):
    """One (preset or pipeline, configuration) in this process; prints a JSON line with
    images/s, the input pipeline's images/s and the process's peak resident memory."""
    import json
    import resource

    from gan_apps import runtime

    precision, jit, spe = SPEED_CONFIGS[args.config]
    runtime.configure(precision=precision, seed=0)
    if args.preset in PIPELINES:
        model, dataset, per_step = _speed_pipeline(args.preset, jit, spe)
    else:
        model, dataset, per_step = _speed_preset(args.preset, args.width, jit, spe)
    if bool(model.jit_compile) != bool(jit):
        raise RuntimeError(f"{args.preset} {args.config}: jit_compile is {model.jit_compile}")
    rate, input_rate, nonfinite = _time_fit(model, dataset, per_step, spe, args.steps, args.repeats)
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    gpu_peak = None
    if tf.config.list_physical_devices("GPU"):
        gpu_peak = tf.config.experimental.get_memory_info("GPU:0")["peak"] / 2**20
    print("SPEED" + json.dumps({"rate": rate, "input_rate": input_rate, "peak_rss_mb": peak_mb,
                                "gpu_peak_mb": gpu_peak, "nonfinite": nonfinite}), flush=True)


def _child_result(command, tag, what, env=None):
    """Run a measurement in a fresh process; its result is the JSON after ``tag`` on the last
    stdout line that starts with it."""
    import json
    import subprocess

    proc = subprocess.run(command, capture_output=True, text=True, env=env)
    lines = [line for line in proc.stdout.splitlines() if line.startswith(tag)]
    if proc.returncode or not lines:
        raise RuntimeError(f"{what} failed:\n{proc.stderr[-2000:]}")
    return json.loads(lines[-1][len(tag):])


def _rate(value):
    """images/s: whole numbers from 100 up, three significant digits below."""
    return f"{value:.0f}" if value >= 100 else f"{value:.3g}"


def speed(args):
    """Train-step throughput per preset or pipeline and configuration, each in a fresh
    process so the precision policy and the peak memory belong to that configuration alone."""

    names = args.presets.split(",") if args.presets else ["dcgan", "wgan_gp", "sngan"]
    unknown = [n for n in names if n not in PRESETS and n not in PIPELINES]
    if unknown:
        raise SystemExit(f"unknown presets or pipelines: {', '.join(unknown)} "
                         f"(pipelines: {', '.join(PIPELINES)})")
    configs = args.configs.split(",")
    rows = []
    started = time.time()
    for name in names:
        results = {}
        for config in configs:
            command = [sys.executable, __file__, "speed-one", "--preset", name, "--config", config,
                       "--width", str(args.width), "--steps", str(args.steps),
                       "--repeats", str(args.repeats)]
            t0 = time.time()
            results[config] = _child_result(command, "SPEED", f"{name} {config}")
            print(name, config, results[config], f"({time.time() - t0:.0f} s)", flush=True)
        base = results[configs[0]]["rate"]
        cells = " | ".join(f"{_rate(results[c]['rate'])} ({results[c]['rate'] / base:.2f}x)"
                           for c in configs)
        memory = " / ".join(f"{results[c]['peak_rss_mb']:.0f}" for c in configs)
        rows.append(f"| {name} | {cells} | {results[configs[0]]['input_rate']:.0f} | {memory} |")
    presets = [n for n in names if n not in PIPELINES]
    pipelines = [n for n in names if n in PIPELINES]
    cyc, sr = CYCLEGAN_SPEED, SR_SPEED
    what = []
    if presets:
        what.append(f"`fit` on the digits pipeline at 32x32, batch 64, width {args.width}")
    if "cyclegan" in pipelines:
        what.append(f"cyclegan: `build_cyclegan` at crop {cyc['crop_size']}, ngf {cyc['ngf']}, "
                    f"ndf {cyc['ndf']}, {cyc['n_blocks']} residual blocks, batch "
                    f"{cyc['batch_size']} of random uniform [-1, 1] images per domain (images/s "
                    "counts domain A)")
    if {"srresnet", "srgan"} & set(pipelines):
        what.append(f"{'/'.join(n for n in pipelines if n != 'cyclegan')}: the super-resolution "
                    f"pipeline's `build_model` at x{sr['scale']}, {sr['blocks']} blocks, "
                    f"{sr['filters']} filters, pixel-MSE content loss, batch {sr['batch_size']} "
                    f"of {sr['patch_size']}x{sr['patch_size']} random HR patches with their "
                    "MATLAB-bicubic LR (images/s counts HR patches)")
    protocol = [
        f"Protocol: each {'preset' if not pipelines else 'model'} x configuration in a fresh "
        f"process; {'; '.join(what)}; images/s timed between batch ends "
        f"over {args.steps} steps after warm-up, median of {args.repeats} runs; in brackets "
        f"the ratio to {configs[0]}. Configurations: "
        f"{'; '.join(SPEED_CONFIG_NOTES[c] for c in configs)}. Input pipeline: images/s of "
        "the same tf.data pipeline iterated alone. Peak memory: the process's maximum "
        "resident set (TensorFlow's runtime included), per configuration."
    ]
    if presets:
        protocol.append(
            "images/s counts real images consumed (64 per critic update; wgan_gp makes 5 "
            "critic updates and one generator update per step)."
        )
    if pipelines:
        protocol.append(
            "Configurations other than XLA pin `jit_compile=False` (the pipelines' default "
            "`auto` would turn XLA on on a GPU)."
        )
    width = f" --width {args.width}" if presets else ""
    block = f" --block {args.block}" if args.block != "speed" else ""
    table = "\n".join(
        [
            f"Command: `python tools/bench.py speed --presets {','.join(names)} --configs "
            f"{args.configs}{width} --steps {args.steps} --repeats {args.repeats}{block}`  ",
            f"Machine: {machine()}. Total wall time {time.time() - started:.0f} s.  ",
            " ".join(protocol),
            "",
            f"| {'preset' if not pipelines else 'model'} | "
            f"{' | '.join(f'images/s {c}' for c in configs)} | input pipeline images/s "
            f"| peak RSS MB ({' / '.join(configs)}) |",
            "|---|" + "---|" * (len(configs) + 2),
            *rows,
        ]
    )
    print(table)
    write_block(args.block, table)


# The runs the input suite times: (options of generation.train, what it is); "ring8-fit"
# is the Python API's loop of tests/test_gan.py::test_ring8_modes_captured instead.
INPUT_CASES = {
    "ring8-fit": (None, "`GAN.fit` on `load_dataset('ring8', batch_size=256).repeat()` as "
                  "the ring evidence test runs it (MLPs, zero-centred GP, 100 steps per "
                  "execution, the moving average of G), 4 epochs of 1,000 steps"),
    "ring8": ({"data": "ring8", "epochs": 4, "steps": 500},
              "`gan-apps train --data ring8` (dcgan's mixtures recipe: MLPs, batch 256, "
              "zero-centred GP, moving average of G, the recipe's steps per execution: one "
              "until session 13, 50 since), 4 epochs of 500 steps"),
    "digits": ({"data": "digits", "epochs": 4},
               "the default job `gan-apps train` (dcgan, batch 32), 4 epochs of 44 steps"),
}
INPUT_VARIANTS = ("autotune", "feed")  # the first is the baseline


class _EpochClock(keras.callbacks.Callback):
    """Wall and CPU seconds of each epoch's training (from its first step to its end,
    before the run's checkpoint is written)."""

    def __init__(self):
        super().__init__()
        self.epochs = []

    def on_epoch_begin(self, epoch, logs=None):
        self.mark = (time.perf_counter(), time.process_time())

    def on_epoch_end(self, epoch, logs=None):
        wall, cpu = self.mark
        self.epochs.append((time.perf_counter() - wall, time.process_time() - cpu,
                            self.params["steps"]))


def _ring8_fit(clock):
    """The ring evidence test's own training loop, 4 epochs of 1,000 steps."""
    sys.path.insert(0, os.path.join(os.path.dirname(__file__), os.pardir, "tests"))
    from test_gan import ring8_fit

    ring8_fit(epochs=4, steps_per_epoch=1000, callbacks=[clock])


def input_one(args):
    """One training run of ``args.case`` in this process with the toolkit's input stage
    (``feed``) or the one before it (``autotune``: ``prefetch(tf.data.AUTOTUNE)`` with
    tf.data's autotuner on); prints ms a step, wall and CPU, median over the epochs after
    the first (which traces)."""
    import json
    import tempfile

    from gan_apps.data import feeding
    from gan_apps.pipelines import generation

    if args.variant == "autotune":
        feeding.feed = lambda dataset: dataset.prefetch(tf.data.AUTOTUNE)
    clock = _EpochClock()
    options = INPUT_CASES[args.case][0]
    if options is None:
        _ring8_fit(clock)
    else:
        with tempfile.TemporaryDirectory() as out:
            generation.train(**options, out=os.path.join(out, "run"), seed=0, eval_every=0,
                             callbacks=[clock], verbose=0)
    later = clock.epochs[1:]
    print("INPUT" + json.dumps({
        "wall_ms": statistics.median(w / s * 1000 for w, _, s in later),
        "cpu_ms": statistics.median(c / s * 1000 for _, c, s in later)}), flush=True)


def input_suite(args):
    """The toolkit's input stage against ``prefetch(AUTOTUNE)`` with the autotuner on, per
    case at one thread pinned to core 0 and at two threads, every run in a fresh process,
    the variants alternating within each repeat."""

    cases = args.cases.split(",")
    unknown = [c for c in cases if c not in INPUT_CASES]
    if unknown:
        raise SystemExit(f"unknown cases: {', '.join(unknown)} (known: {', '.join(INPUT_CASES)})")
    threads = {"1": ["taskset", "-c", "0"], "2": []}
    started = time.time()
    rows = []
    for case in cases:
        for count, prefix in threads.items():
            env = dict(os.environ)
            if count == "1":
                env.update(TF_NUM_INTRAOP_THREADS="1", TF_NUM_INTEROP_THREADS="1")
            results = {v: [] for v in INPUT_VARIANTS}
            for _ in range(args.repeats):
                for variant in INPUT_VARIANTS:
                    command = [*prefix, sys.executable, __file__, "input-one", "--case", case,
                               "--variant", variant]
                    results[variant].append(
                        _child_result(command, "INPUT", f"{case} {variant}", env=env))
                    print(case, count, variant, results[variant][-1], flush=True)
            cells = []
            for variant in INPUT_VARIANTS:
                walls = [r["wall_ms"] for r in results[variant]]
                cpu = statistics.median(r["cpu_ms"] for r in results[variant])
                cells.append(f"{statistics.median(walls):.2f} [{min(walls):.2f}-{max(walls):.2f}]"
                             f" / {cpu:.2f}")
            base, ours = (statistics.median(r["wall_ms"] for r in results[v]) for v in INPUT_VARIANTS)
            where = "1, pinned to core 0" if count == "1" else "2"
            rows.append(f"| {case} | {where} | {' | '.join(cells)} | {base / ours:.2f}x |")
    block = f" --block {args.block}" if args.block != "input_autotune" else ""
    table = "\n".join([
        f"Command: `python tools/bench.py input --cases {args.cases} --repeats {args.repeats}"
        f"{block}`  ",
        f"Machine: {machine()}. Total wall time {time.time() - started:.0f} s.  ",
        "Protocol: per case, thread count and repeat, one fresh process per input stage "
        "(alternating), seed 0, evaluation off: "
        + "; ".join(f"{c}: {INPUT_CASES[c][1]}" for c in cases)
        + ". `autotune`: batches `prefetch(tf.data.AUTOTUNE)` with tf.data's autotuner on "
        "(the toolkit before); `feed`: `gan_apps.data.feeding.feed` (two batches prefetched, "
        "autotuner off). ms a step: an epoch's training time over its steps, median over "
        "epochs 2-4, then median [min-max] over the repeats; CPU: the process's CPU time over "
        f"the same steps (all threads), median. {args.repeats} repeats.",
        "",
        "| case | threads | autotune: wall ms a step [range] / CPU ms | feed: wall ms a step "
        "[range] / CPU ms | speed-up |",
        "|---|---|---|---|---|",
        *rows,
    ])
    print(table)
    write_block(args.block, table)


class _QualityClock(keras.callbacks.Callback):
    """Every ``every`` steps: evaluate the generator and note the training time so far
    (evaluation time excluded), for time-to-quality."""

    def __init__(self, evaluate_fn, every):
        super().__init__()
        self.evaluate_fn = evaluate_fn
        self.every = every
        self.trace = []  # (step, training seconds, metrics)
        self.times = []

    def on_train_begin(self, logs=None):
        self.training_seconds = 0.0
        self.mark = time.perf_counter()

    def on_train_batch_end(self, batch, logs=None):
        now = time.perf_counter()
        self.times.append(now)
        if (batch + 1) % self.every:
            return
        self.training_seconds += now - self.mark
        self.trace.append((batch + 1, self.training_seconds, self.evaluate_fn(self.model.generator)))
        self.mark = time.perf_counter()


def digits(args):
    """Every preset on digits at 32x32 for the same step budget: quality, time to quality,
    speed."""
    from gan_apps.evaluation import features, report

    from gan_apps import sampling
    from gan_apps.models.presets import build_model, get_preset

    seeds = [int(s) for s in args.seeds.split(",")]
    names = args.presets.split(",") if args.presets else list(PRESETS)
    real, _ = data_lib.load_arrays("digits", resolution=32, split="test")
    extractor = features.get_extractor("digits")
    metric_names = ("fid", "kid", "pr", "classes", "artifacts")
    rows = []
    started = time.time()
    for name in names:
        results, rates, reached = [], [], []
        labelled = get_preset(name).needs_labels
        for seed in seeds:
            keras.utils.set_random_seed(seed)
            gan = build_model(name, resolution=32, channels=1, width=args.width, seed=seed,
                              num_classes=10 if labelled else None)
            # A minibatch of 64 per critic update; n_critic of them per step.
            per_step = 64 * getattr(gan, "n_critic", 1)
            dataset = data_lib.load_dataset("digits", resolution=32, batch_size=per_step, seed=seed,
                                            with_labels=labelled)
            spec = gan.latent_spec()
            inputs = sampling.sample_inputs(spec, args.samples, np.random.default_rng(seed))
            label_index = sampling.class_input(spec)
            fake_labels = inputs[label_index] if labelled else None

            def evaluate(generator, names=("fid",)):
                fake = sampling.generate(generator, inputs)
                return report.evaluate(fake, real, names, extractor=extractor, num_classes=10,
                                       seed=seed, fake_labels=fake_labels)

            clock = _QualityClock(evaluate, args.eval_steps)
            gan.fit(dataset.repeat(), steps_per_epoch=args.steps, epochs=1, verbose=0, shuffle=False,
                    callbacks=[clock])
            times = clock.times[5:]
            rates.append((len(times) - 1) * per_step / (times[-1] - times[0]))
            hit = next(((step, secs) for step, secs, m in clock.trace if m["fid"] <= args.target_fid), None)
            reached.append(hit)
            results.append(evaluate(gan.generator, metric_names))
            print(name, seed, hit, {k: round(v, 3) for k, v in results[-1].items()
                                    if isinstance(v, float)}, flush=True)

        def col(key):
            return mean_std([r[key] for r in results])

        hits = [h for h in reached if h is not None]
        time_to_quality = (
            f"{len(hits)}/{len(seeds)}: {statistics.median(s for _, s in hits):.0f} s "
            f"({statistics.median(st for st, _ in hits):.0f} steps)" if hits else f"0/{len(seeds)}"
        )
        accuracy = col("conditional_accuracy") if labelled else "–"
        rows.append(f"| {name} | {col('fid')} | {col('kid')} | {col('precision')} | "
                    f"{col('recall')} | {col('classes_covered')} | {accuracy} | "
                    f"{col('artifact_ratio')} | {time_to_quality} | {statistics.median(rates):.0f} |")
    table = "\n".join(
        [
            f"Command: `python tools/bench.py digits --presets {','.join(names)} --seeds {args.seeds} "
            f"--steps {args.steps} --width {args.width} --samples {args.samples} --eval-steps "
            f"{args.eval_steps} --target-fid {args.target_fid} --block {args.block}`  ",
            f"Machine: {machine()}. Total wall time {time.time() - started:.0f} s.  ",
            f"Protocol: each model (its builder's defaults, DCGAN-style networks, width "
            f"{args.width}) trained {args.steps} generator updates (n_critic critic updates each) "
            f"at batch 64 on the digits train split at 32x32; {args.samples} samples "
            "against the 360 held-out test digits on the shipped digits-CNN features "
            "(real-data floor: FID 7.6, KID -1.7, precision 0.92, recall 0.89, see below). "
            "Artifacts: energy above an 8x8 bottleneck relative to real digits (1 = as real). "
            f"Time to quality: training seconds (evaluation excluded) until FID <= "
            f"{args.target_fid:g} ({args.target_fid / 7.6:.0f}x the floor), checked every "
            f"{args.eval_steps} steps; seeds that reached it / all, median. "
            "images/s: median of per-seed rates timed between batch ends. Mean ± std over "
            f"seeds {args.seeds}.",
            "",
            "Conditional accuracy: the digits classifier's accuracy on label-conditioned samples.",
            "",
            "| model | FID | KID | precision | recall | classes covered | conditional accuracy "
            "| artifact ratio | time to quality | images/s |",
            "|---|---|---|---|---|---|---|---|---|---|",
            *rows,
        ]
    )
    print(table)
    write_block(args.block, table)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="suite", required=True)
    mix = sub.add_parser("mixtures")
    mix.add_argument("--seeds", default="0,1,2")
    mix.add_argument("--presets", help="comma-separated (default: all)")
    mix.add_argument("--data", default="ring8,grid25")
    mix.add_argument("--pack", default="1",
                     help="comma-separated PacGAN degrees, a row each (default 1: no packing)")
    mix.add_argument("--n-critic", type=int, metavar="N",
                     help="gan-apps train --n-critic N for every run (default: the recipe's)")
    mix.add_argument("--block", default="mixtures")
    spd = sub.add_parser("speed")
    spd.add_argument("--presets", help="comma-separated presets or pipelines "
                     f"({','.join(PIPELINES)}) (default: dcgan,wgan_gp,sngan)")
    spd.add_argument("--configs", default=",".join(SPEED_CONFIGS),
                     help=f"comma-separated, the first is the baseline (default: {','.join(SPEED_CONFIGS)})")
    spd.add_argument("--width", type=int, default=32)
    spd.add_argument("--steps", type=int, default=30)
    spd.add_argument("--repeats", type=int, default=3)
    spd.add_argument("--block", default="speed", help="docs/benchmarks.md block to rewrite")
    one = sub.add_parser("speed-one", help="one speed measurement (used by speed)")
    one.add_argument("--preset", required=True, help="a preset or a pipeline")
    one.add_argument("--config", required=True, choices=list(SPEED_CONFIGS))
    one.add_argument("--width", type=int, default=32)
    one.add_argument("--steps", type=int, default=30)
    one.add_argument("--repeats", type=int, default=3)
    dig = sub.add_parser("digits")
    dig.add_argument("--seeds", default="0,1,2")
    dig.add_argument("--presets", help="comma-separated presets or family members (default: the presets)")
    dig.add_argument("--steps", type=int, default=600)
    dig.add_argument("--width", type=int, default=32)
    dig.add_argument("--samples", type=int, default=1000)
    dig.add_argument("--eval-steps", type=int, default=100, help="evaluate every N steps")
    dig.add_argument("--block", default="digits", help="docs/benchmarks.md block to rewrite")
    dig.add_argument("--target-fid", type=float, default=76.0,
                     help="time-to-quality threshold (default 76, 10x the real-data floor)")
    inp = sub.add_parser("input", help="tf.data's autotuner against the toolkit's input stage")
    inp.add_argument("--cases", default=",".join(INPUT_CASES))
    inp.add_argument("--repeats", type=int, default=3)
    inp.add_argument("--block", default="input_autotune")
    inp_one = sub.add_parser("input-one", help="one input measurement (used by input)")
    inp_one.add_argument("--case", required=True, choices=list(INPUT_CASES))
    inp_one.add_argument("--variant", required=True, choices=INPUT_VARIANTS)
    args = parser.parse_args(argv)
    {"mixtures": mixtures, "speed": speed, "speed-one": speed_one, "digits": digits,
     "input": input_suite, "input-one": input_one}[args.suite](args)


if __name__ == "__main__":
    sys.exit(main())
