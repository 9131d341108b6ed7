"""Benchmark of ``gan-apps translate`` for docs/benchmarks.md, block ``translation``.

    python tools/bench_translation.py [--workdir DIR] [--only tone|pair]

Runs the README's translation commands exactly, with no size flags (the ``cpu`` preset
picks crop, widths and steps from the data and prints its estimate), each in ``--workdir``
(default a temporary folder), and times them:

1. ``photos:tone``: ``gan-apps translate train`` then ``gan-apps translate evaluate
   runs/cyclegan-photos_tone`` (held-out photos with the known tone-mapped answer);
2. a folder pair built by ``tools/make_translation_pair.py pair`` (gamma 0.5 on B, tiles of
   the training photos dealt to A and B so the domains share no pixel; held-out photos as
   the paired test set): ``gan-apps translate train --data folder:pair/trainA,pair/trainB``
   then ``gan-apps translate evaluate ... --test folder:pair/testA,pair/testB``.

Each row: G(A) error against the true answer next to the identity mapping's (A unchanged),
the ratio, the training wall time and the run folder's size. Every command runs under
``nice -n 10`` (the machine is shared; see the block).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from bench import machine, write_block  # noqa: E402

TOOLS = os.path.dirname(os.path.abspath(__file__))
CASES = {
    "tone": {
        "prepare": None,
        "train": ["gan-apps", "translate", "train"],
        "evaluate": ["gan-apps", "translate", "evaluate", "runs/cyclegan-photos_tone"],
        "run": "runs/cyclegan-photos_tone",
        "what": "`photos:tone` (held-out chelsea, coffee, flower patches vs their true tone map)",
    },
    "pair": {
        "prepare": ["python", "tools/make_translation_pair.py", "pair"],
        "train": ["gan-apps", "translate", "train", "--data", "folder:pair/trainA,pair/trainB"],
        "evaluate": ["gan-apps", "translate", "evaluate",
                     "runs/cyclegan-folder_pair_trainA_pair_trainB",
                     "--test", "folder:pair/testA,pair/testB"],
        "run": "runs/cyclegan-folder_pair_trainA_pair_trainB",
        "what": "folder pair, B = gamma 0.5 (`tools/make_translation_pair.py`; 60 held-out "
                "96 px tiles of chelsea, coffee, flower vs their true gamma map)",
    },
}


def _run(argv, workdir, log):
    """Run one command under nice in ``workdir``; returns (wall seconds, stdout)."""
    if argv[0] == "python":
        argv = [sys.executable, os.path.join(os.path.dirname(TOOLS), argv[1]), *argv[2:]]
    elif argv[0] == "gan-apps":
        argv = [sys.executable, "-m", "gan_apps.cli", *argv[1:]]
    started = time.time()
    done = subprocess.run(["nice", "-n", "10", *argv], cwd=workdir, capture_output=True,
                          text=True)
    seconds = time.time() - started
    log.write(f"$ {' '.join(argv)}\n{done.stdout}\n{done.stderr[-4000:]}\n")
    log.flush()
    if done.returncode:
        raise SystemExit(f"{' '.join(argv)} failed ({done.returncode}):\n{done.stderr[-2000:]}")
    return seconds, done.stdout


def _size_mb(path):
    total = sum(os.path.getsize(os.path.join(root, name))
                for root, _, names in os.walk(path) for name in names)
    return total / 2 ** 20


def bench(name, workdir, log):
    case = CASES[name]
    if case["prepare"]:
        _run(case["prepare"], workdir, log)
    train_seconds, out = _run(case["train"], workdir, log)
    plan = next(line for line in out.splitlines() if "estimated training time" in line)
    _, out = _run(case["evaluate"], workdir, log)
    with open(os.path.join(workdir, case["run"], "metrics.json")) as f:
        metrics = json.load(f)
    return {"plan": plan, "train_seconds": train_seconds, "metrics": metrics,
            "size_mb": _size_mb(os.path.join(workdir, case["run"])), "verdict": metrics["verdict"]}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", help="where runs/ and pair/ go (default: a temporary folder)")
    parser.add_argument("--only", choices=sorted(CASES), help="run one case (block not written)")
    parser.add_argument("--others", default="",
                        help="what else ran on the machine meanwhile (stated in the block)")
    args = parser.parse_args(argv)
    names = [args.only] if args.only else list(CASES)
    with tempfile.TemporaryDirectory() as tmp:
        workdir = args.workdir or tmp
        os.makedirs(workdir, exist_ok=True)
        with open(os.path.join(workdir, "bench_translation.log"), "a") as log:
            results = {name: bench(name, workdir, log) for name in names}
    lines = [
        f"Command: `nice -n 10 python tools/bench_translation.py "
        f"{' '.join(argv if argv is not None else sys.argv[1:])}` (each case: the README's "
        f"commands, no size flags, `--preset cpu` by default; seed 0); machine: {machine()}, "
        f"shared: {args.others or 'nothing else stated'}. Train wall time: the whole "
        f"`translate train` command (start-up, data, training, grids, export).",
        "",
        "| data | G(A) MAE (0-255) | identity MAE | ratio | G(A) PSNR | identity PSNR | "
        "F(B) MAE | identity MAE (B->A) | train wall time | run folder |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name in names:
        r, m = results[name], results[name]["metrics"]
        lines.append(
            f"| {CASES[name]['what']} | {m['mae_translation']:.2f} | {m['mae_identity']:.2f} | "
            f"{m['mae_translation'] / m['mae_identity']:.2f}x | {m['psnr_translation']:.2f} | "
            f"{m['psnr_identity']:.2f} | {m['mae_b2a']:.2f} | {m['mae_identity_b2a']:.2f} | "
            f"{r['train_seconds'] / 60:.1f} min | {r['size_mb']:.0f} MB |")
    lines.append("")
    for name in names:
        r, m = results[name], results[name]["metrics"]
        lines += [
            f"- {name}: `{' '.join(CASES[name]['train'])}` printed: {r['plan']}",
            f"  unpaired scores: colour W1 G(A)-B {m['colour_a2b']:.2f} vs A-B "
            f"{m['colour_a_vs_b']:.2f}; texture G(A)-B {m['texture_a2b']:.3f} vs A-B "
            f"{m['texture_a_vs_b']:.3f}; cycle error {m['cycle_a']:.2f} / {m['cycle_b']:.2f}; "
            f"{r['verdict']}",
        ]
    table = "\n".join(lines)
    print(table)
    if not args.only:
        write_block("translation", table)


if __name__ == "__main__":
    main()
