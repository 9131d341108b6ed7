"""Unrestricted adversarial examples (Song et al. 2018): the README's commands, as written.

    python tools/bench_adversarial.py [--work /tmp/adv_readme] [--others "what else ran"]
    python tools/bench_adversarial.py --calibrate [--work /tmp/adv_readme]

The first form reads the ``gan-apps adversarial`` commands from README.md's adversarial
section, runs them in order in ``--work`` (a fresh folder: each command runs as a user
would, in a subprocess, timed), reads what they wrote (the AC-GAN report, the classifiers'
config.json, the attack's metrics.json, the evaluation's adversarial_eval.json) and
rewrites the ``adversarial`` block of docs/benchmarks.md with the issue's two bars checked.

The second form reuses those trained folders and runs the lambda / learning-rate
calibration grid of the Adam search (pairs s -> s + 3 mod 10, 10 examples each, the plain
CNN) into the ``adversarial_lambdas`` block: the grid the defaults were chosen from.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shlex
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from bench import machine, write_block  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SECTION = "## Unrestricted adversarial examples"
# (lambda1, lambda2, Adam lr) settings of the calibration; 100 / 100 is the reference code's.
GRID = ((100, 100, 0.01), (100, 100, 0.05), (10, 10, 0.05), (10, 30, 0.05), (1, 1, 0.01),
        (1, 1, 0.05), (1, 10, 0.01), (1, 10, 0.05), (1, 30, 0.05), (3, 10, 0.05), (3, 30, 0.05))


def readme_commands(path=os.path.join(ROOT, "README.md")):
    """The ``gan-apps adversarial`` commands of README.md's adversarial section, in order,
    continuation lines joined and comments dropped, as argument lists."""
    with open(path) as f:
        text = f.read()
    section = text[text.index(SECTION):]
    end = section.find("\n## ", 1)
    section = section if end < 0 else section[:end]
    joined = re.sub(r"\\\n\s*", " ", section)
    commands = []
    for line in joined.splitlines():
        line = line.strip()
        if line.startswith("gan-apps adversarial"):
            commands.append(shlex.split(line.split("#")[0]))
    return commands


def run(argv, work):
    """Run one command in ``work``; (seconds, its output)."""
    started = time.perf_counter()
    done = subprocess.run(argv, cwd=work, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed ({done.returncode}):\n{done.stdout}{done.stderr}")
    return seconds, done.stdout


def read_json(*parts):
    with open(os.path.join(*parts)) as f:
        return json.load(f)


def readme_block(args):
    os.makedirs(args.work, exist_ok=True)
    commands = readme_commands()
    timings, outputs = [], []
    for argv in commands:
        seconds, output = run(argv, args.work)
        timings.append(seconds)
        outputs.append(output)
        print(f"{seconds:7.1f} s  {' '.join(argv)}", flush=True)
    by_action = {argv[2]: argv for argv in commands}
    gan_dir = by_action["train-gan"][by_action["train-gan"].index("--out") + 1]
    gan = read_json(args.work, gan_dir, "adversarial_gan.json")
    classifiers = {argv[argv.index("--out") + 1]: read_json(args.work, argv[argv.index("--out") + 1],
                                                            "config.json")
                   for argv in commands if argv[2] == "train-classifier"}
    attack = by_action["attack"]
    source, target = attack[attack.index("--source") + 1], attack[attack.index("--target") + 1]
    attacked = read_json(args.work, gan_dir, f"attack_{source}_to_{target}", "metrics.json")
    evaluation = read_json(args.work, gan_dir, "adversarial_eval.json")
    entries = evaluation["classifiers"]
    plain = next(e for e in entries.values() if not e["adversarial_training"])
    robust = next(e for e in entries.values() if e["adversarial_training"] == "pgd")
    bar_plain = plain["song"]["success_rate"] >= 0.9 and plain["song"]["validity"] >= 0.8
    bar_robust = robust["song"]["success_and_valid"] > robust["pgd"]["success_and_valid"]
    command_lines = [f"    {' '.join(argv)}   # {t:.0f} s" for argv, t in zip(commands, timings)]
    eval_rows = []
    for path, entry in entries.items():
        song, pgd = entry["song"], entry["pgd"]
        eval_rows.append(
            f"| {path} | {entry['test_accuracy']:.3f} | {song['success_rate']:.3f} | "
            f"{song['aux_keeps_source']:.3f} | {song['validity']:.3f} | "
            f"{song['success_and_valid']:.3f} | {song['mean_latent_l2']:.2f} | "
            f"{pgd['success_rate']:.3f} | {pgd['validity']:.3f} | {pgd['success_and_valid']:.3f} |")
    classifier_rows = [
        f"| {path} | {config['architecture']} | {config['split']} | "
        f"{config.get('adversarial') or '-'} | {config['test_accuracy']:.3f} | "
        f"{config['pgd_test_accuracy']:.3f} |" for path, config in classifiers.items()]
    text = "\n".join([
        f"Command: `python tools/bench_adversarial.py --work {args.work} --others "
        f"\"{args.others}\"`  ",
        f"Machine: {machine()}; also running: {args.others}. Wall time "
        f"{sum(timings):.0f} s for the commands.  ",
        "The README's commands, read from its adversarial section and run in order in a fresh "
        "folder (each in a subprocess, timed):",
        "",
        *command_lines,
        "",
        f"AC-GAN (`{gan_dir}`, objective {gan['objective']}): its class head on the real test "
        f"digits {gan['aux_accuracy_real']:.3f}, on {gan['samples']} generated digits of cycling "
        f"labels {gan['aux_accuracy_generated']:.3f}; the shipped digits CNN says the label on "
        f"{gan['conditional_accuracy']:.3f} of them; FID {gan['fid']:.1f} against the 360 test "
        f"digits on the {gan['extractor']}.",
        "",
        "| classifier | architecture | train split | adversarial training | clean test acc. | "
        "test acc. under PGD (eps 0.1, 20 steps) |",
        "|---|---|---|---|---|---|",
        *classifier_rows,
        "",
        f"`attack` {source} -> {target}, {attacked['num']} examples against "
        f"`{attacked['classifier']}`: success {attacked['success_rate']:.3f}, the AC-GAN's head "
        f"keeps {source} on {attacked['aux_keeps_source']:.3f}, the evaluator says {source} on "
        f"{attacked['validity']:.3f} (success and valid {attacked['success_and_valid']:.3f}).",
        "",
        f"`evaluate`: {evaluation['pairs']} ordered pairs x {evaluation['per_pair']} examples per "
        f"classifier (Adam lr {evaluation['learning_rate']:g}, {evaluation['steps']} steps, "
        f"lambda1 {evaluation['lambda1']:g}, lambda2 {evaluation['lambda2']:g}, "
        f"{evaluation['closeness']} closeness, eps {evaluation['eps']:g}); validity by "
        f"`{evaluation['evaluator']}` (strided CNN, other half of the train split, seed 1). "
        f"PGD baseline: targeted L-inf PGD at eps {evaluation['pgd_eps_01']:g} ([0, 1] units), "
        f"{evaluation['pgd_steps']} steps, from as many real test digits of s.",
        "",
        "| classifier | clean acc. | Song success | aux keeps s | validity | success & valid | "
        "latent L2 | PGD success | PGD validity | PGD success & valid |",
        "|---|---|---|---|---|---|---|---|---|---|",
        *eval_rows,
        "",
        f"- plain CNN: targeted success {plain['song']['success_rate']:.3f} (bar >= 0.90) with "
        f"validity {plain['song']['validity']:.3f} (bar >= 0.80): "
        f"{'met' if bar_plain else 'NOT met'}.",
        f"- PGD-trained CNN: success and valid {robust['song']['success_and_valid']:.3f} against "
        f"PGD's {robust['pgd']['success_and_valid']:.3f}: "
        f"{'more than PGD (met)' if bar_robust else 'NOT more than PGD'}.",
    ])
    print(text)
    write_block("adversarial", text)


def calibration_block(args):
    from gan_apps.pipelines import adversarial

    commands = readme_commands()
    by_action = {argv[2]: argv for argv in commands}
    gan_dir = os.path.join(args.work, by_action["train-gan"][by_action["train-gan"].index("--out") + 1])
    outs = [argv[argv.index("--out") + 1] for argv in commands if argv[2] == "train-classifier"]
    plain, evaluator = os.path.join(args.work, outs[0]), os.path.join(args.work, outs[-1])
    pairs = ",".join(f"{s}:{(s + 3) % 10}" for s in range(10))
    started = time.time()
    rows = []
    for lambda1, lambda2, rate in GRID:
        result = adversarial.evaluate(gan_dir, classifiers=[plain], evaluator=evaluator,
                                      pairs=pairs, num=10, lambda1=lambda1, lambda2=lambda2,
                                      learning_rate=rate, out=os.path.join(args.work, "calibration"))
        song = result["classifiers"][plain]["song"]
        default = (lambda1, lambda2, rate) == (adversarial.LAMBDA1, adversarial.LAMBDA2,
                                               adversarial.LEARNING_RATE)
        rows.append(f"| {lambda1:g} / {lambda2:g} | {rate:g}{' (default)' if default else ''} | "
                    f"{song['success_rate']:.2f} | {song['aux_keeps_source']:.2f} | "
                    f"{song['validity']:.2f} | {song['success_and_valid']:.2f} | "
                    f"{song['mean_latent_l2']:.2f} |")
        print(rows[-1], flush=True)
    text = "\n".join([
        f"Command: `python tools/bench_adversarial.py --calibrate --work {args.work}`  ",
        f"Machine: {machine()}; also running: {args.others}. Wall time "
        f"{time.time() - started:.0f} s.  ",
        "The folders of the README's commands (block `adversarial`); pairs s -> s + 3 mod 10, "
        "10 examples each (100), against the plain CNN, validity by the evaluator; squared-hinge "
        "closeness, eps 0.1, 200 Adam steps, seed 0.",
        "",
        "| lambda1 / lambda2 | Adam lr | success | aux keeps s | validity | success & valid | "
        "latent L2 |",
        "|---|---|---|---|---|---|---|",
        *rows,
    ])
    print(text)
    write_block("adversarial_lambdas", text)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", default="/tmp/adv_readme")
    parser.add_argument("--others", default="nothing else heavy",
                        help="what else ran on the machine (stated in the block)")
    parser.add_argument("--calibrate", action="store_true",
                        help="the lambda grid on the folders of an earlier run instead")
    args = parser.parse_args(argv)
    (calibration_block if args.calibrate else readme_block)(args)


if __name__ == "__main__":
    sys.exit(main())
