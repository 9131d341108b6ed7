"""Super-resolution benchmark: bicubic, Lanczos-3, SRResNet and SRGAN at x2, x3, x4.

    python tools/bench_super_resolution.py [--scales 4,2,3] [--steps 4:400,2:200,3:200]
        [--srgan-steps 100] [--blocks 6] [--filters 32] [--out /tmp/bench_sr]

Trains a reduced SRResNet per scale on the embedded training photos with
``gan_apps.pipelines.super_resolution.train`` (the ``super-resolve train`` command),
fine-tunes SRGAN from it at the scales given by ``--srgan-scales``, and scores every
upscaler on the held-out photos (chelsea, coffee, flower): Y-channel PSNR / SSIM with a
border of ``scale`` pixels, LR by MATLAB bicubic. Also scores bicubic on the seven
everyday photos, the sanity check of the degradation and the metric against the
literature's figures. Writes the block ``super_resolution`` of docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import numpy as np  # noqa: E402

from bench import machine, write_block  # noqa: E402
from gan_apps import degradations  # noqa: E402
from gan_apps.data import hr_images, photos  # noqa: E402
from gan_apps.evaluation.image_quality import psnr  # noqa: E402
from gan_apps.pipelines import super_resolution as sr  # noqa: E402

EVERYDAY = ("astronaut", "coffee", "chelsea", "rocket", "motorcycle_left", "china", "flower")


def everyday_bicubic(scale):
    """Mean Y-PSNR of MATLAB-bicubic down and up by ``scale`` on the seven everyday photos."""
    scores = []
    for name in EVERYDAY:
        hr = degradations.modcrop(photos.photo(name), scale)
        scores.append(psnr(degradations.upscale(degradations.matlab_bicubic(hr, scale), scale),
                           hr, border=scale))
    return float(np.mean(scores))


def _timed_upscaler(upscale, seconds):
    def run(lr):
        start = time.perf_counter()
        out = upscale(lr)
        seconds.append(time.perf_counter() - start)
        return out

    return run


def bench_scale(scale, steps, args, test_images):
    """Train SRResNet (and SRGAN) at ``scale``; return table rows and timing notes."""
    run = os.path.join(args.out, f"srresnet-x{scale}")
    common = dict(scale=scale, data="photos", steps=args.steps_per_epoch,
                  batch_size=args.batch_size, patch_size=args.patch_size, blocks=args.blocks,
                  filters=args.filters, batch_norm=False, learning_rate=args.lr, seed=args.seed,
                  verbose=0)
    start = time.time()
    sr.train(out=run, epochs=max(1, steps // args.steps_per_epoch), **common)
    train_seconds = {"SRResNet": time.time() - start}
    runs = {"SRResNet": run}
    if scale in args.srgan_scales:
        gan_run = os.path.join(args.out, f"srgan-x{scale}")
        start = time.time()
        sr.train(out=gan_run, model="srgan", init_from=run,
                 epochs=max(1, args.srgan_steps // args.steps_per_epoch), **common)
        train_seconds["SRGAN"] = time.time() - start
        runs["SRGAN"] = gan_run
    seconds = {name: [] for name in runs}
    upscalers = {
        "bicubic": sr.baseline_upscalers(scale)["bicubic"],
        "Lanczos-3": sr.baseline_upscalers(scale)["lanczos3"],
    }
    for name, folder in runs.items():
        _, generator = sr.load_run(folder)
        upscalers[name] = _timed_upscaler(
            lambda lr, g=generator: sr.super_resolve(g, lr, scale), seconds[name])
    results = sr.evaluate_images(upscalers, test_images, scale=scale, degradation="matlab_bicubic")
    rows = []
    for name in upscalers:
        speed = (f"{len(seconds[name]) / sum(seconds[name]):.2f}" if name in seconds else "-")
        trained = f"{train_seconds[name]:.0f}" if name in train_seconds else "-"
        rows.append(f"| x{scale} | {name} | {results[name]['psnr']:.2f} | {results[name]['ssim']:.4f} "
                    f"| {trained} | {speed} |")
        print(rows[-1], flush=True)
    return rows


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scales", default="4,2,3")
    parser.add_argument("--steps", default="4:400,2:200,3:200",
                        help="SRResNet training steps per scale")
    parser.add_argument("--srgan-scales", default="4")
    parser.add_argument("--srgan-steps", type=int, default=100)
    parser.add_argument("--steps-per-epoch", type=int, default=50)
    parser.add_argument("--blocks", type=int, default=6)
    parser.add_argument("--filters", type=int, default=32)
    parser.add_argument("--patch-size", type=int, default=48)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default="/tmp/bench_sr")
    args = parser.parse_args(argv)
    args.srgan_scales = [int(s) for s in args.srgan_scales.split(",") if s]
    steps = dict(tuple(int(v) for v in item.split(":")) for item in args.steps.split(","))
    shutil.rmtree(args.out, ignore_errors=True)
    started = time.time()
    sanity = {s: everyday_bicubic(s) for s in (2, 3, 4)}
    print("bicubic on the seven everyday photos:", sanity, flush=True)
    test_images = hr_images.load_images("photos", split="test", channels=3)
    rows = []
    for scale in (int(s) for s in args.scales.split(",")):
        rows += bench_scale(scale, steps[scale], args, test_images)
        # Rewritten after every scale, so an interrupted run still leaves what it measured.
        table = format_table(args, argv, rows, sanity, time.time() - started)
        write_block("super_resolution", table)
    print(table)


def format_table(args, argv, rows, sanity, seconds):
    """The docs/benchmarks.md block: command, protocol, machine, table."""
    command = " ".join(["python tools/bench_super_resolution.py", *(argv or sys.argv[1:])])
    return "\n".join([
        f"Command: `nice -n 10 {command}`  ",
        f"Machine: {machine()}, shared with other jobs (load average above 10 during the run). "
        f"Wall time so far {seconds:.0f} s.  ",
        f"Networks: reduced SRResNet ({args.blocks} blocks, {args.filters} filters, no BN), "
        f"Adam {args.lr:g} (beta1 0.9), batch {args.batch_size} of {args.patch_size}-px HR "
        f"patches (flips, 90-degree rotations) from the 6 training photos, LR by MATLAB "
        f"bicubic, seed {args.seed}; SRResNet steps per scale {args.steps}; SRGAN "
        f"(non-saturating, weight 1e-3, pixel content loss: no VGG19 weights offline) "
        f"fine-tuned {args.srgan_steps} steps from the SRResNet at x{args.srgan_scales}.  ",
        "Test: the 3 held-out photos (chelsea, coffee, flower), whole images, Y-channel "
        "PSNR / SSIM with a border of `scale` px. Train s = wall time of the training "
        "command; images/s = whole held-out photos upscaled per second (tiles of 128 LR px).  ",
        "Sanity check, bicubic on the seven everyday photos (astronaut, coffee, chelsea, "
        f"rocket, motorcycle_left, china, flower): x2 {sanity[2]:.2f} dB, x3 {sanity[3]:.2f} dB, "
        f"x4 {sanity[4]:.2f} dB (the literature's habit: about 31.5 and 27.8 dB).",
        "",
        "| scale | method | PSNR (dB) | SSIM | train s | images/s |",
        "|---|---|---|---|---|---|",
        *rows,
    ])


if __name__ == "__main__":
    main()
