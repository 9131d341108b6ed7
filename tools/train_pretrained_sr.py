"""Train the super-resolution generators shipped in the package (``--pretrained x2 / x4``).

    python tools/train_pretrained_sr.py [--scales 4,2] [--blocks 16] [--filters 32]
        [--epochs 20] [--steps 200] [--cycles 2] [--seed 0] [--work /tmp/pretrained_sr]

Each scale is ``--cycles`` ``gan-apps super-resolve train`` runs (the cpu preset's recipe:
the bicubic-residual network, L1, Adam with cosine decay, 16 patches per step from the
embedded training photos, colour and grayscale, never the held-out chelsea, coffee and
flower) with a deeper network and a longer schedule than the README's default. Cycle 1
starts at Adam 1e-3; each later cycle starts from the previous cycle's generator
(``--init-from``) at half the previous rate: cosine annealing with warm restarts
(Loshchilov & Hutter 2017, SGDR), which lets a finished run be extended by a cycle
(``--start-cycle``) instead of retrained. The last cycle's generator is copied to ``pipelines/weights/sr_xS.keras`` (what
``gan_apps.pipelines.super_resolution.load_pretrained`` reads) and scored on the held-out
photos beside bicubic. Same seed, same machine type: the same weights up to the
nondeterminism of multithreaded float sums.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from gan_apps.pipelines import super_resolution as sr  # noqa: E402


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scales", default="4,2")
    parser.add_argument("--blocks", type=int, default=16)
    parser.add_argument("--filters", type=int, default=32)
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--cycles", type=int, default=2)
    parser.add_argument("--start-cycle", type=int, default=1,
                        help="skip the cycles before this one (their runs are in --work)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--work", default="/tmp/pretrained_sr")
    args = parser.parse_args(argv)
    for scale in (int(s) for s in args.scales.split(",")):
        seconds = 0.0
        for cycle in range(args.start_cycle, args.cycles + 1):
            run = os.path.join(args.work, f"x{scale}" + (f"-cycle{cycle}" if cycle > 1 else ""))
            previous = os.path.join(args.work, f"x{scale}" + (f"-cycle{cycle - 1}" if cycle > 2 else ""))
            shutil.rmtree(run, ignore_errors=True)
            start = time.time()
            sr.train(scale=scale, out=run, blocks=args.blocks, filters=args.filters,
                     epochs=args.epochs, steps=args.steps, seed=args.seed + cycle - 1,
                     learning_rate=1e-3 * 0.5 ** (cycle - 1),
                     init_from=previous if cycle > 1 else None, verbose=2)
            seconds += time.time() - start
            print(f"x{scale} cycle {cycle}: {sr.evaluate(run)['verdict']}", flush=True)
        target = sr.pretrained_path(f"x{scale}")
        os.makedirs(os.path.dirname(target), exist_ok=True)
        shutil.copyfile(os.path.join(run, "generator.keras"), target)
        results = sr.evaluate(run)
        print(f"x{scale}: trained in {seconds:.0f} s (cycles {args.start_cycle}..{args.cycles}); "
              f"{results['verdict']}; "
              f"model {results['model']['psnr']:.2f} dB, bicubic {results['bicubic']['psnr']:.2f} dB; "
              f"wrote {target} ({os.path.getsize(target) / 1e6:.1f} MB)", flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
