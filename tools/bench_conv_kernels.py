"""Where the default job's step goes, layer by layer, under TensorFlow's two CPU kernels.

    python tools/bench_conv_kernels.py [--widths 24,32] [--kernels eigen,onednn] [--threads 2]

The default job's networks (DCGAN at 32x32, batch 32) are three stride-2 convolutions in
the discriminator and three transposed ones in the generator. This times each of them alone,
forward and forward plus backward (gradients with respect to the input and the kernel, as a
training step needs them), for each network width and each CPU kernel library:

- ``eigen``: TensorFlow's own kernels, ``TF_ENABLE_ONEDNN_OPTS=0``; what TensorFlow uses on
  a CPU without the instructions its oneDNN default asks for (this machine's AMD EPYC
  among them: the variable unset and ``0`` time alike here);
- ``onednn``: Intel's oneDNN kernels, ``TF_ENABLE_ONEDNN_OPTS=1``.

The variable is read when TensorFlow is imported, so every (kernel, width) pair runs in a
fresh process. Medians of 5 rounds of 20 calls of a ``tf.function``, after two warm-up calls.
The block written to docs/benchmarks.md is ``conv_kernels``.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import subprocess
import sys
import time

KERNELS = {"eigen": "0", "onednn": "1"}
BATCH = 32


def default_job_convolutions(width):
    """(name, layer, input shape without the batch) of every convolution of the default
    job's networks, :func:`gan_apps.models.dcgan.dcgan_generator` and
    ``dcgan_discriminator`` at 32x32x1 and ``width`` (the discriminator without spectral
    normalization: its power iteration is not a convolution)."""
    import keras

    from gan_apps.models import dcgan

    convolutions = []
    for prefix, network in (
            ("G", dcgan.dcgan_generator(resolution=32, channels=1, width=width, seed=0)),
            ("D", dcgan.dcgan_discriminator(resolution=32, channels=1, width=width, norm="none",
                                            seed=0))):
        for layer in network.layers:
            if isinstance(layer, (keras.layers.Conv2D, keras.layers.Conv2DTranspose)):
                kind = ("transposed conv" if isinstance(layer, keras.layers.Conv2DTranspose)
                        else "conv")
                number = sum(1 for name, _, _ in convolutions if name.startswith(prefix)) + 1
                convolutions.append((f"{prefix} {kind} {number}", layer,
                                     tuple(layer.input.shape[1:])))
    return convolutions


def time_layers(width, threads):
    """This process: the milliseconds of every layer of ``default_job_convolutions(width)``."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(threads)
    tf.config.threading.set_inter_op_parallelism_threads(threads)

    def median_ms(function, calls=20, rounds=5):
        function()
        function()
        times = []
        for _ in range(rounds):
            start = time.perf_counter()
            for _ in range(calls):
                function()
            times.append((time.perf_counter() - start) / calls * 1000)
        return statistics.median(times)

    rows = []
    for name, layer, shape in default_job_convolutions(width):
        x = tf.random.normal([BATCH, *shape], seed=0)

        @tf.function
        def forward():
            return layer(x)

        @tf.function
        def forward_backward():
            with tf.GradientTape() as tape:
                tape.watch(x)
                loss = tf.reduce_sum(tf.square(layer(x)))
            return tape.gradient(loss, [x, *layer.trainable_variables])

        rows.append({"layer": name, "shape": f"{'x'.join(map(str, shape))} -> {layer.filters}",
                     "kernel_kb": math.prod(layer.kernel.shape) * 4 / 1024,
                     "forward": median_ms(forward), "forward_backward": median_ms(forward_backward)})
    return rows


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--widths", default="24,32")
    parser.add_argument("--kernels", default=",".join(KERNELS))
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--child", nargs=2, metavar=("KERNEL", "WIDTH"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print("LAYERS" + json.dumps(time_layers(int(args.child[1]), args.threads)), flush=True)
        return
    sys.path.insert(0, os.path.dirname(__file__))
    import bench  # machine(), write_block() and _child_result()

    widths = [int(w) for w in args.widths.split(",")]
    kernels = args.kernels.split(",")
    start = time.time()
    results = {}
    for width in widths:
        for kernel in kernels:
            env = {**os.environ, "TF_ENABLE_ONEDNN_OPTS": KERNELS[kernel]}
            command = [sys.executable, __file__, "--child", kernel, str(width),
                       "--threads", str(args.threads)]
            results[(width, kernel)] = bench._child_result(command, "LAYERS", f"{kernel} {width}", env)
            print(width, kernel, results[(width, kernel)], flush=True)
    header = " | ".join(f"{k} fwd / fwd+bwd ms" for k in kernels)
    lines = [
        f"Command: `python tools/bench_conv_kernels.py --widths {args.widths} --kernels "
        f"{args.kernels} --threads {args.threads}`  ",
        f"Machine: {bench.machine()}. Total wall time {time.time() - start:.0f} s.  ",
        f"Protocol: each convolution of the default job's networks alone (4x4 kernels, stride "
        f"2), batch {BATCH}, {args.threads} thread(s); forward, and "
        "forward plus the gradients with respect to input and kernel; medians of 5 x 20 calls "
        "of a tf.function in a fresh process per kernel library and width "
        "(`TF_ENABLE_ONEDNN_OPTS` 0 for eigen, 1 for onednn).",
        "",
        f"| width | layer | input -> channels out | kernel KB | {header} |",
        "|---|---|---|---|" + "---|" * len(kernels),
    ]
    for width in widths:
        for i, row in enumerate(results[(width, kernels[0])]):
            cells = " | ".join(
                f"{results[(width, k)][i]['forward']:.2f} / {results[(width, k)][i]['forward_backward']:.2f}"
                for k in kernels)
            lines.append(f"| {width} | {row['layer']} | {row['shape']} | {row['kernel_kb']:.0f} | {cells} |")
        totals = " | ".join(
            f"{sum(r['forward'] for r in results[(width, k)]):.2f} / "
            f"{sum(r['forward_backward'] for r in results[(width, k)]):.2f}" for k in kernels)
        lines.append(f"| {width} | all six | | | {totals} |")
    text = "\n".join(lines)
    print(text)
    bench.write_block("conv_kernels", text)


if __name__ == "__main__":
    main()
