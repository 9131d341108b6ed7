"""Output that explains itself (issue 20, item 4): run files under the user's umask, no NaN
placeholders in the progress bar, no collapse warning before the generator had a chance,
`evaluate` beside the real-data floor, no library warning a user cannot act on."""

import csv
import json
import os
import re
import stat
import subprocess
import sys
import warnings

import keras
import numpy as np
import pytest

from gan_apps import callbacks, files, plots, runs
from gan_apps.cli import main
from gan_apps.evaluation import report

TINY = ["--resolution", "16", "--width", "8", "--batch-size", "16", "--steps", "3", "--seed", "1"]


@pytest.fixture(scope="module")
def umask_run(tmp_path_factory):
    """A tiny two-epoch run (evaluated after epoch 1 only) trained by the console script
    under umask 022; returns (run folder, stdout + stderr)."""
    run = str(tmp_path_factory.mktemp("umask") / "run")
    script = os.path.join(os.path.dirname(sys.executable), "gan-apps")
    done = subprocess.run(
        [script, "train", "--data", "digits", "--epochs", "2", "--out", run, *TINY],
        capture_output=True, text=True, timeout=300, preexec_fn=lambda: os.umask(0o022),
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    return run, output


def test_run_files_get_the_mode_of_the_umask(umask_run):
    run, _ = umask_run
    found = []
    for folder, dirs, names in os.walk(run):
        for name in dirs:
            mode = stat.S_IMODE(os.stat(os.path.join(folder, name)).st_mode)
            assert mode == 0o755, (os.path.join(folder, name), oct(mode))
        for name in names:
            path = os.path.join(folder, name)
            mode = stat.S_IMODE(os.stat(path).st_mode)
            assert mode == 0o644, (path, oct(mode))  # group and others can read it
            found.append(os.path.relpath(path, run))
    for name in ("config.json", "history.csv", "history.png", "generator.keras",
                 "best_generator.keras", "best_generator.json", "samples/epoch_0001.png",
                 "export/saved_model.pb", "checkpoints/checkpoint"):
        assert name in found


def test_atomic_writers_follow_the_umask_at_call_time(tmp_path):
    previous = os.umask(0o027)
    try:
        text = files.replace_file(str(tmp_path / "a.json"), "{}")
        model = runs.save_model(keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)]),
                                str(tmp_path / "m.keras"))
        assert files.umask_mode() == 0o640 and files.umask_mode(folder=True) == 0o750
    finally:
        os.umask(previous)
    for path in (text, model):
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o640, path


def test_the_train_output_has_no_nan_no_early_collapse_warning_and_no_library_warning(umask_run):
    run, output = umask_run
    assert "nan" not in output.lower()  # the bar of epoch 2 (not evaluated) shows the losses
    assert "fid" in output  # ...and the bar of epoch 1 its evaluation
    assert "collapsing" not in output  # epoch 1 of 2 is inside the warm-up
    assert "shuffle" not in output
    assert "warning" not in output.lower(), output
    # Not a terminal: one summary line per epoch, not every redraw of the bar on one line.
    assert max(len(line) for line in output.splitlines()) < 2000
    assert sum("Epoch " in line for line in output.splitlines()) == 2
    # history.csv counts epochs from 1 and has no column that is empty in every row (Keras's
    # CSVLogger added an always-empty val_ twin of each); the unevaluated epoch has NA in the
    # metric columns, which plots reads as missing.
    with open(os.path.join(run, runs.HISTORY)) as f:
        rows = list(csv.DictReader(f))
    assert [row["epoch"] for row in rows] == ["1", "2"]
    assert not [key for key in rows[0] if key.startswith("val_")]
    assert all(any(row[key] not in ("", "NA") for row in rows) for key in rows[0])
    assert len(rows) == 2 and float(rows[0]["fid"]) > 0 and rows[1]["fid"] == "NA"
    header, _ = plots._read_history(os.path.join(run, runs.HISTORY))
    assert "fid" in header
    plots.plot_history(os.path.join(run, runs.HISTORY), os.path.join(run, "again.png"))


def test_evaluate_prints_each_metric_beside_its_real_data_floor(umask_run, capsys):
    run, _ = umask_run
    assert main(["evaluate", run, "--samples", "300", "--metrics", "fid,kid,pr"]) == 0
    out = capsys.readouterr().out
    fid_line = re.search(r"^fid\s+(\S+)\s+\(real-data floor (\S+)\)$", out, re.M)
    assert fid_line, out
    assert re.search(r"^precision\s+\S+\s+\(real-data floor \S+\)$", out, re.M), out
    verdict = re.search(r"^verdict: FID (\S+)x the real-data floor$", out, re.M)
    assert verdict, out
    with open(os.path.join(run, "metrics.json")) as f:
        metrics = json.load(f)
    floor = metrics["floor"]
    assert floor["split"] == "train" and floor["examples"] == 300
    assert 0 < floor["fid"] < metrics["fid"] and floor["precision"] > 0.5
    assert float(verdict[1]) == pytest.approx(metrics["fid"] / floor["fid"], abs=0.05)


def test_the_verdict_on_mixtures_and_without_a_floor():
    results = {"modes_captured": 5.0, "fid": 2.0, "samples": 2500}
    assert report.verdict(results, {"modes_captured": 8.0, "fid": 0.5}) == \
        "5 modes captured (real data: 8); FID 4.0x the real-data floor"
    assert report.verdict(results, None).startswith("no real-data floor")
    table = report.format_table({**results, "floor": None})
    assert "real-data floor" not in table.splitlines()[0]
    assert table.splitlines()[-1].startswith("verdict: no real-data floor")
    # Translation and other tables without a floor print as before.
    assert report.format_table({"fid": 1.5}) == "fid  1.5"


def _evaluation(ratios, epochs, every=1):
    """Run PeriodicEvaluation over hand-made diversity ratios; the epochs (1-based) warned."""
    values = iter(ratios)
    cb = callbacks.PeriodicEvaluation(
        lambda g: {"fid": 1.0, "diversity_ratio": next(values)}, every=every,
        generator_fn=lambda: None)
    cb.set_params({"epochs": epochs, "steps": 1, "verbose": 0})
    warned, logged = [], []
    for epoch in range(epochs):
        cb.on_epoch_begin(epoch)
        logs = {"g_loss": 0.5}
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            cb.on_epoch_end(epoch, logs)
        if any("collapsing" in str(w.message) for w in caught):
            warned.append(epoch + 1)
        logged.append(logs)
    return warned, logged


def test_no_collapse_warning_while_the_generator_learns_but_one_when_it_collapses():
    # The healthy default job (60 epochs, evaluated after epochs 1, 5, 10, ...): diversity
    # 0.00 after epoch 1 and below 0.5 after epoch 5 (the two false warnings),
    # 0.84 after epoch 10 (docs/benchmarks.md).
    healthy = [0.0, 0.3, 0.84] + [0.95] * 10
    assert _evaluation(healthy, 60, every=5)[0] == []
    # A real collapse later: diversity it had is lost (warned at once, and while it lasts).
    collapse = [0.0, 0.3, 0.84, 0.9, 0.9, 0.2, 0.1, 0.6, 0.9, 0.9, 0.9, 0.9, 0.9]
    assert _evaluation(collapse, 60, every=5)[0] == [25, 30]
    # Lost even inside the warm-up: 0.6 then 0.1 by epoch 2 of 20.
    assert _evaluation([0.6, 0.1] + [0.9] * 18, 20)[0] == [2]
    # Never diverse: warned once the warm-up (20 % of the epochs) is over.
    assert _evaluation([0.1] * 10, 10)[0] == [3, 4, 5, 6, 7, 8, 9, 10]
    assert _evaluation([0.0] + [0.1] * 12, 60, every=5)[0] == [15, 20, 25, 30, 35, 40, 45,
                                                               50, 55, 60]


def test_history_logger_numbers_from_one_and_keeps_an_old_files_numbering(tmp_path):
    path = str(tmp_path / "history.csv")
    logger = callbacks.HistoryLogger(path)
    logger.on_train_begin()
    logger.on_epoch_end(0, {"g_loss": np.float32(0.5), "fid": 3.0})
    logger.on_epoch_end(1, {"g_loss": 0.25})
    logger.on_train_begin()  # a resumed fit appends under the same header
    logger.on_epoch_end(2, {"g_loss": 0.125, "new": 1.0})
    with open(path) as f:
        assert f.read() == "epoch,fid,g_loss\n1,3.0,0.5\n2,NA,0.25\n3,NA,0.125\n"
    old = tmp_path / "old.csv"  # written by Keras's CSVLogger (from 0) before this logger
    old.write_text("epoch,g_loss\n0,0.5\n")
    logger = callbacks.HistoryLogger(str(old))
    logger.on_train_begin()
    logger.on_epoch_end(1, {"g_loss": 0.25})
    assert old.read_text() == "epoch,g_loss\n0,0.5\n1,0.25\n"
    assert runs.trim_history(str(old), 1) == 1 and old.read_text() == "epoch,g_loss\n0,0.5\n"


def test_progress_bar_is_one_line_per_epoch_off_a_terminal(monkeypatch):
    class Stream:
        def __init__(self, tty):
            self.isatty = lambda: tty
    monkeypatch.setattr(sys, "stdout", Stream(False))
    assert callbacks.progress_verbosity("auto") == 2
    monkeypatch.setattr(sys, "stdout", Stream(True))
    assert callbacks.progress_verbosity("auto") == 1
    assert callbacks.progress_verbosity(0) == 0


def test_epochs_without_evaluation_add_no_nan_metrics_to_the_logs():
    _, logged = _evaluation([0.9, 0.9, 0.9], 10, every=5)
    assert set(logged[0]) == {"g_loss", "fid", "diversity_ratio"}  # the first: evaluated
    assert logged[1] == {"g_loss": 0.5} and logged[3] == {"g_loss": 0.5}
    assert set(logged[4]) == {"g_loss", "fid", "diversity_ratio"}  # epoch 5
    assert all(np.isfinite(v) for logs in logged for v in logs.values())


def test_time_estimate_from_the_first_two_epochs(monkeypatch):
    """Steps at 0.1 s after the first (tracing), 3 s at the end of the evaluated first epoch
    and 0.5 s at the end of the plain second: 8 more epochs of 4 steps with 0.5 s each, and
    2 evaluations (epochs 5 and 10) at 3 - 0.5 s: 8 x (0.4 + 0.5) + 2 x 2.5 = 12.2 s."""
    clock = iter([0.0,  # epoch 1 begins
                  0.0, 10.0, 10.1, 10.2, 13.2,  # its batch ends (the first traced), its end
                  13.3, 13.4, 13.5, 13.6, 14.1])  # epoch 2: batch ends, its end
    monkeypatch.setattr(callbacks.time, "perf_counter", lambda: next(clock))
    printed = []
    estimate = callbacks.TimeEstimate(eval_every=5, print_fn=printed.append)
    estimate.set_params({"epochs": 10, "steps": 4})
    for epoch in (0, 1):
        estimate.on_epoch_begin(epoch)
        for batch in range(4):
            estimate.on_train_batch_end(batch)
        estimate.on_epoch_end(epoch)
        assert len(printed) == epoch  # printed at the end of the second epoch, once
    for epoch in (2, 3):  # later epochs measure nothing (the clock would run out)
        estimate.on_epoch_begin(epoch)
        estimate.on_train_batch_end(0)
        estimate.on_epoch_end(epoch)
    assert printed == ["estimated time to the end of training: about 12 s (8 more epochs of 4 "
                       "steps at 100 ms a step, 2 evaluations at 2.5 s; measured on this "
                       "machine in the first 14 s)"]
