"""Super-resolution benchmark: the README's commands against bicubic, Lanczos-3 and the
shipped pretrained generators, at x4 and x2.

    python tools/bench_super_resolution.py [--scales 4,2] [--srgan-scales 4]
        [--out /tmp/bench_sr] [--memory-size 4000x3000]

For each scale it runs the README's command as a user would, in a subprocess and timed:
``gan-apps super-resolve train --scale S --out RUN`` (no other flag: the cpu preset), then
``gan-apps super-resolve train --scale S --model srgan --init-from RUN --out RUN-srgan``
at ``--srgan-scales``. Every upscaler is scored on the held-out photos (chelsea, coffee,
flower; never trained on): Y-channel PSNR / SSIM with a border of ``scale`` px, the
largest per-channel mean bias in grey levels, and the high-frequency energy relative to
the truth (``gan_apps.pipelines.super_resolution.evaluate_images``). LR by MATLAB bicubic
(uint8, rounded between passes). Also measures the peak memory of ``super-resolve apply
--pretrained x2`` on a ``--memory-size`` photo-like image in a fresh process, and bicubic
on the seven everyday photos (the literature's sanity check). Writes the block
``super_resolution`` of docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import textwrap
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
# Images in scikit-image that are not among the embedded photos at all (a fundus photo and a
# grayscale microscopy image, repeated to RGB): how the models do outside their domain.
OUT_OF_SET = ("retina", "cell")


def out_of_set_images():
    import skimage.data

    return [(name, photos.to_channels(np.atleast_3d(getattr(skimage.data, name)()), 3), None)
            for name in OUT_OF_SET]


def everyday_bicubic(scale):
    """Mean Y-PSNR of MATLAB-bicubic down and up by ``scale`` on the seven everyday photos."""
    scores = []
    for name in EVERYDAY:
        hr = degradations.modcrop(photos.photo(name), scale)
        scores.append(psnr(degradations.upscale(degradations.matlab_bicubic(hr, scale), scale),
                           hr, border=scale))
    return float(np.mean(scores))


def run_command(argv, log):
    """Run a ``gan-apps`` command line; return its wall seconds and printed estimate."""
    start = time.time()
    with open(log, "w") as out:
        subprocess.run(["gan-apps", *argv], check=True, stdout=out, stderr=subprocess.STDOUT)
    seconds = time.time() - start
    text = open(log, errors="replace").read()
    estimate = re.search(r"estimated training time: about ([^()]+?) \(", text)
    return seconds, estimate.group(1) if estimate else "-"


def _timed(upscale, seconds):
    def run(lr):
        start = time.perf_counter()
        out = upscale(lr)
        seconds.append(time.perf_counter() - start)
        return out

    return run


def bench_scale(scale, args, test_images):
    """Train the README runs at ``scale``; return table rows (held-out photos, out of set)."""
    run = os.path.join(args.out, f"srresnet-x{scale}")
    commands = {f"README default (`super-resolve train --scale {scale}`)":
                (["super-resolve", "train", "--scale", str(scale), "--out", run], run)}
    if scale in args.srgan_scales:
        gan_run = run + "-srgan"
        commands["SRGAN fine-tuned from it (`--model srgan --init-from`)"] = (
            ["super-resolve", "train", "--scale", str(scale), "--model", "srgan", "--init-from",
             run, "--out", gan_run], gan_run)
    trained = {}
    for name, (argv, folder) in commands.items():
        seconds, estimate = run_command(argv, folder + ".log")
        trained[name] = (folder, seconds, estimate)
        print(f"x{scale} {name}: {seconds:.0f} s (estimate {estimate})", flush=True)
    seconds = {}
    upscalers = {"bicubic": sr.baseline_upscalers(scale)["bicubic"],
                 "Lanczos-3": sr.baseline_upscalers(scale)["lanczos3"]}
    generators = {name: sr.load_run(folder)[1] for name, (folder, _, _) in trained.items()}
    ensembles = set()
    if f"x{scale}" in sr.PRETRAINED:
        generators[f"pretrained x{scale} (`--pretrained x{scale}`)"] = sr.load_pretrained(f"x{scale}")
        generators[f"pretrained x{scale} + `--self-ensemble`"] = generators[
            f"pretrained x{scale} (`--pretrained x{scale}`)"]
        ensembles.add(f"pretrained x{scale} + `--self-ensemble`")
    for name, generator in generators.items():
        seconds[name] = []
        upscalers[name] = _timed(lambda lr, g=generator, e=name in ensembles: sr.super_resolve(
            g, lr, scale, self_ensemble=e), seconds[name])
    results = sr.evaluate_images(upscalers, test_images, scale=scale, degradation="matlab_bicubic")
    bicubic = results["bicubic"]["psnr"]
    rows = []
    for name in upscalers:
        row = results[name]
        train = (f"{trained[name][1]:.0f} (est. {trained[name][2]})" if name in trained else "-")
        speed = f"{len(seconds[name]) / sum(seconds[name]):.2f}" if seconds.get(name) else "-"
        rows.append(f"| x{scale} | {name} | {row['psnr']:.2f} | {row['psnr'] - bicubic:+.2f} | "
                    f"{row['ssim']:.4f} | {row['colour_bias']:+.2f} | {row['hf_energy']:.2f} | "
                    f"{train} | {speed} |")
        print(rows[-1], flush=True)
    outside = sr.evaluate_images({name: upscalers[name] for name in upscalers if "SRGAN" not in name},
                                 out_of_set_images(), scale=scale, degradation="matlab_bicubic")
    extra = [f"| x{scale} | {name} | {outside[name]['psnr']:.2f} | "
             f"{outside[name]['psnr'] - outside['bicubic']['psnr']:+.2f} |"
             for name in outside if isinstance(outside[name], dict)]
    return rows, extra


def peak_apply_memory(size, out):
    """Peak RSS (MB) and seconds of ``apply --pretrained x2`` on a ``size`` (W, H) image."""
    width, height = size
    source = os.path.join(out, "memory", "big.png")
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    image = np.stack([127 + 100 * np.sin(xx / 37.0), 127 + 100 * np.cos(yy / 23.0),
                      (xx + yy) % 256], axis=-1).astype(np.uint8)
    from gan_apps.images import write_png

    write_png(source, image)
    del image, yy, xx
    # VmHWM of the child's own address space: getrusage's ru_maxrss survives exec and
    # would count this process's memory at the fork.
    script = textwrap.dedent(f"""
        import time
        from gan_apps.pipelines import super_resolution as sr
        start = time.time()
        sr.apply(pretrained="x2", input={source!r}, output={os.path.join(out, "memory", "out")!r})
        seconds = time.time() - start
        peak = next(int(line.split()[1]) for line in open("/proc/self/status") if line.startswith("VmHWM:"))
        print("RESULT", peak / 1024, seconds)
    """)
    done = subprocess.run([sys.executable, "-c", script], check=True, capture_output=True, text=True)
    peak, seconds = done.stdout.split("RESULT")[-1].split()
    return float(peak), float(seconds)


MEMORY_LINE = "Peak memory of `gan-apps super-resolve apply --pretrained x2`"


def memory_line(memory):
    size, peak, seconds = memory
    width, height = (int(v) for v in size.split("x"))
    return (f"{MEMORY_LINE} on a {size} image (output {2 * width}x{2 * height}), fresh "
            f"process (its VmHWM), default tiles: {peak:.0f} MB ({seconds:.0f} s).")


def rewrite_memory_line(args):
    """Measure the peak memory again and replace that line of the existing block."""
    import bench

    size = tuple(int(v) for v in args.memory_size.split("x"))
    os.makedirs(os.path.join(args.out, "memory"), exist_ok=True)
    line = memory_line((args.memory_size, *peak_apply_memory(size, args.out)))
    doc = open(bench.DOC).read()
    doc = re.sub(re.escape(MEMORY_LINE) + r"[^\n]*", lambda _: line, doc)
    with open(bench.DOC, "w") as f:
        f.write(doc)
    print(line)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scales", default="4,2")
    parser.add_argument("--srgan-scales", default="4")
    parser.add_argument("--memory-size", default="4000x3000")
    parser.add_argument("--out", default="/tmp/bench_sr")
    parser.add_argument("--memory-only", action="store_true",
                        help="only re-measure the peak memory line of the existing block")
    parser.add_argument("--others", default="nothing else heavy",
                        help="what else ran on the machine, for the block")
    args = parser.parse_args(argv)
    args.srgan_scales = [int(s) for s in args.srgan_scales.split(",") if s]
    if args.memory_only:
        return rewrite_memory_line(args)
    shutil.rmtree(args.out, ignore_errors=True)
    os.makedirs(args.out)
    started = time.time()
    sanity = {s: everyday_bicubic(s) for s in (2, 4)}
    test_images = hr_images.load_images("photos", split="test", channels=3)
    rows, outside, memory = [], [], None
    for scale in (int(s) for s in args.scales.split(",")):
        new, extra = bench_scale(scale, args, test_images)
        rows, outside = rows + new, outside + extra
        write_block("super_resolution",
                    format_table(argv, args.others, rows, outside, sanity, memory, time.time() - started))
    if args.memory_size:
        size = tuple(int(v) for v in args.memory_size.split("x"))
        memory = (args.memory_size, *peak_apply_memory(size, args.out))
        print(f"apply --pretrained x2 on {args.memory_size}: peak {memory[1]:.0f} MB, {memory[2]:.0f} s")
    table = format_table(argv, args.others, rows, outside, sanity, memory, time.time() - started)
    write_block("super_resolution", table)
    print(table)


def format_table(argv, others, rows, outside, sanity, memory, seconds):
    """The docs/benchmarks.md block: command, protocol, machine, table."""
    command = " ".join(["python tools/bench_super_resolution.py", *(argv or sys.argv[1:])])
    lines = [
        f"Command: `{command}`  ",
        f"Machine: {machine()}; wall time {seconds:.0f} s in all; also running: {others}.  ",
        "Runs: the README's commands with no other flag (cpu preset: bicubic-residual network "
        "8 blocks x 32 filters, L1, Adam 1e-3 with cosine decay, 10 x 200 steps of 16 patches, "
        "seed 0; SRGAN: non-saturating, weight 1e-3, pixel L1 content loss (no VGG19 weights "
        "offline), Adam 1e-4 constant, 5 x 200 steps). Pretrained: the generators shipped in "
        "the package (`tools/train_pretrained_sr.py`, its block below).  ",
        "Test: the 3 held-out photos (chelsea, coffee, flower), whole images, LR by MATLAB "
        "bicubic. PSNR / SSIM on Y with a border of `scale` px; vs bicubic = PSNR difference "
        "(dB); colour bias = the largest per-channel mean difference from the truth (grey "
        "levels, signed); HF energy = the energy of `x - up(down(x))` relative to the truth's. "
        "train s = wall time of the command (its printed estimate beside it); images/s = whole "
        "held-out photos upscaled per second (tiles of 128 LR px).  ",
        f"Sanity check, bicubic on the seven everyday photos (astronaut, coffee, chelsea, rocket, "
        f"motorcycle_left, china, flower): x2 {sanity[2]:.2f} dB, x4 {sanity[4]:.2f} dB (the "
        "literature's habit: about 31.5 and 27.8 dB).",
        "",
        "| scale | method | PSNR (dB) | vs bicubic | SSIM | colour bias | HF energy | train s | images/s |",
        "|---|---|---|---|---|---|---|---|---|",
        *rows,
    ]
    lines += ["", "Outside the embedded photos (scikit-image's `retina`, a fundus photo, and `cell`, "
                  "grayscale microscopy repeated to RGB; never trained on), Y-PSNR:", "",
              "| scale | method | PSNR (dB) | vs bicubic |", "|---|---|---|---|", *outside]
    if memory:
        lines += ["", memory_line(memory)]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
