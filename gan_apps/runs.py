"""The run folder: one directory per training run, written so that nothing good is lost.

Layout: ``config.json``, ``checkpoints/``, ``history.csv``, ``logs/`` (TensorBoard),
``samples/`` (PNG grids), final ``generator.keras`` / ``discriminator.keras`` and
``export/`` (SavedModel). Files are written to a temporary name and renamed into place.
"""

from __future__ import annotations

import contextlib
import csv
import dataclasses
import fcntl
import json
import os
import re
import shutil
import signal
import socket
import sys
import tempfile
import threading
from collections.abc import Callable
from typing import Any

import keras

from gan_apps import faults, files
from gan_apps.errors import UserInputError

CONFIG = "config.json"


def write_json(path, data):
    """Write JSON atomically: a ``.NAME.tmp-*`` sibling, renamed into place; removed when the
    write fails (a full disk leaves no empty file), and by :func:`recover_interrupted` when
    the process was killed."""
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    text = json.dumps(data, indent=2, sort_keys=True) + "\n"
    return write_text(path, text)


def read_json(path):
    """Read a JSON file; None when it does not exist or is unreadable (a torn write)."""
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, json.JSONDecodeError):
        return None


# The generator inputs of a gan run: ``latent_spec``, or ``latent_dim`` in runs written
# before specs existed (pipelines.generation.run_latent_spec reads either).
LATENT_KEYS = ("latent_spec", "latent_dim")


def read_config(run_dir, kind=None, required=()):
    """Read a run's config.json; raise a UserInputError if it is not a run (of ``kind``) or
    lacks a key in ``required`` (:func:`check_keys`).

    First completes or rolls back what an interrupted process left in the folder
    (:func:`recover_interrupted`): every command that reads a run folder comes through here.
    """
    path = os.path.join(run_dir, CONFIG)
    if not os.path.isdir(run_dir):
        raise UserInputError(f"run folder {run_dir!r} does not exist; pass the --out of a training run")
    if not os.path.isfile(path):
        raise UserInputError(
            f"{run_dir!r} is not a gan-apps run folder (no {CONFIG}); pass the --out of a training run"
        )
    recover_interrupted(run_dir)
    try:
        with open(path) as f:
            config = json.load(f)
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise UserInputError(f"cannot read {path}: {err}") from None
    if not isinstance(config, dict):
        raise UserInputError(
            f"{path} holds a JSON {type(config).__name__}, not a run's settings; pass the --out "
            "of a training run"
        )
    if kind is not None and config.get("kind") != kind:
        raise UserInputError(
            f"{run_dir!r} is a {config.get('kind', 'unknown')!r} run, not a {kind!r} run"
        )
    check_keys(config, path, required)
    return config


def check_keys(config, path, required):
    """Raise a UserInputError naming ``path`` and the first key of ``required`` that
    ``config`` lacks, instead of a KeyError deep in a command (a config.json edited by hand
    or written by another program). Each entry is a key, or a tuple of keys any one of
    which will do (e.g. :data:`LATENT_KEYS`). Only presence is checked: None is a value."""
    for entry in required:
        choices = (entry,) if isinstance(entry, str) else tuple(entry)
        if not any(key in config for key in choices):
            wanted = " or ".join(repr(key) for key in choices)
            raise UserInputError(
                f"{path} lacks the key {wanted} this command needs; restore the file from a "
                "backup, or train the run again into a new --out"
            )


# Settings every resume keeps, whatever keys the pipeline passes: the seed fixes the data
# order and the noise of every epoch, and the steps per epoch where an epoch ends.
RESUME_KEYS = ("seed", "steps")

# The one precision whose optimizers carry loss scaling (gan_apps.runtime.loss_scaled).
LOSS_SCALED_PRECISION = "mixed_float16"


def check_resumable(out, config, *, kind, keys, optional=()):
    """Refuse to train into ``out`` unless it is empty, new, or a ``kind`` run with the same
    ``keys`` as ``config`` (then the run resumes). Keys in ``optional`` are compared only when
    ``config`` sets them (None means "whatever the run has"). The precision may change
    between float32 and mixed_bfloat16, not to or from mixed_float16.

    The seed and the steps per epoch (``RESUME_KEYS``) are always compared when both configs
    record them: a resume that changes them would not continue the same run. A run already
    trained past ``config["epochs"]`` is refused (:func:`check_epochs`). Entries other than
    the lock file make a folder without config.json "not a run folder"."""
    if not os.path.exists(os.path.join(out, CONFIG)):
        if os.path.isdir(out) and {name for name in os.listdir(out)
                                   if name != LOCK and not _PROBE.fullmatch(name)}:
            raise UserInputError(f"{out!r} exists and is not a run folder; choose another --out")
        return
    previous = read_config(out)
    if previous.get("kind") != kind:
        raise UserInputError(f"{out!r} holds a {previous.get('kind')!r} run; choose another --out")
    keys = tuple(keys) + tuple(k for k in RESUME_KEYS if k not in keys and k in config
                               and k in previous)
    changed = [
        k for k in keys
        if not (k in optional and config.get(k) is None) and previous.get(k) != config.get(k)
    ]
    if changed:
        raise UserInputError(
            f"{out!r} holds a run with different settings ({', '.join(changed)}); "
            "resume it with the same flags or choose another --out"
        )
    before, now = previous.get("precision"), config.get("precision")
    if before and now and (before == LOSS_SCALED_PRECISION) != (now == LOSS_SCALED_PRECISION):
        # The float16 run's optimizers are loss-scale wrappers: their checkpoint has another
        # structure (and a loss scale) that a float32 / bfloat16 run cannot restore.
        raise UserInputError(
            f"{out!r} was trained with --precision {before}; resume it with --precision "
            f"{before if before == LOSS_SCALED_PRECISION else 'float32 or mixed_bfloat16'} "
            "(a mixed_float16 checkpoint holds loss-scaled optimizers) or choose another --out"
        )
    if isinstance(config.get("epochs"), int):
        check_epochs(out, checkpoint_epochs(os.path.join(out, CHECKPOINTS)), config["epochs"])


def save_model(model, path):
    """Save a Keras model to ``path`` (.keras) atomically."""
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    # A ".NAME.tmp-*" sibling, which recover_interrupted removes if the process is killed.
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=f".{os.path.basename(path)}.tmp-",
                               suffix=".keras")
    os.close(fd)
    try:
        model.save(tmp)
        files.apply_umask(tmp, folder=False)  # mkstemp's 0600 -> what open() would give
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    return path


def load_model(path, what="model"):
    """Load a .keras file, naming the fix when it is missing or unreadable (one line)."""
    if not os.path.isfile(path):
        raise UserInputError(
            f"no {what} at {path}; finish (or resume) the training run first"
        )
    try:
        return keras.models.load_model(path, compile=False)
    except Exception as error:  # a torn or corrupt zip raises many types (BadZipFile, OSError, ...)
        raise UserInputError(
            f"cannot load the {what} {path}: the file is corrupt or not a .keras model "
            f"({_one_line(error)}); restore it from a backup, or delete it and rerun the "
            "training command to write it again from the last checkpoint"
        ) from None


def check_output_folder(path, flag="--output"):
    """Refuse an output folder ``path`` that exists and is not a folder (a regular file the
    command would otherwise fail on halfway, or overwrite), before anything is written."""
    if os.path.lexists(path) and not os.path.isdir(path):
        raise UserInputError(
            f"{flag} {path!r} exists and is not a folder; pass a folder for the images"
        )


def check_writable(run_dir):
    """Create ``run_dir`` if needed and fail early with a clear message if it is not writable."""
    try:
        os.makedirs(run_dir, exist_ok=True)
        # A recognisable name: recover_interrupted removes it if a kill leaves it behind.
        probe = tempfile.NamedTemporaryFile(dir=run_dir, prefix=PROBE_PREFIX, delete=True)
        probe.close()
    except OSError as err:
        raise UserInputError(f"cannot write to {run_dir!r} ({err.strerror}); choose another --out") from None


# --- Reliability (issue 19): the run-folder lock, recovery of interrupted writes, checkpoint
# fallback. Every command that reads or writes a run folder passes read_config or
# check_resumable, which first call recover_interrupted; writers hold run_lock.

LOCK = ".lock"
CHECKPOINTS = "checkpoints"
HISTORY = "history.csv"

# Re-entrant holds of this process: realpath of the run folder -> [fd, depth, created].
_held = {}
# Temporary names this code writes next to their target: ".NAME.tmp-XXXXXXXX[.ext]" (files of
# save_model / write_json, export staging folders) and ".NAME.old-XXXXXXXX" (a retired export
# during a swap), XXXXXXXX being tempfile's 8 random characters.
_STAGED = re.compile(r"\.(?P<name>.+?)\.(?P<what>tmp|old)-[a-z0-9_]{8}(?:\.[A-Za-z0-9.]+)?")
# Names of earlier versions' temporary files (tempfile's default "tmp" prefix) and TensorFlow's
# (checkpoint shards are written to "ckpt-N_temp/", the index to "checkpoint.tmpHEX").
_LEGACY_TEMP = re.compile(r"tmp[a-z0-9_]{8}(?:\.keras|\.json\.tmp|\.png\.tmp)")
_TF_TEMP = re.compile(r"(?:.+_temp|checkpoint\.tmp[0-9a-f]+)")
# The empty file check_writable creates and deletes at once; earlier versions named it like
# any tempfile ("tmpXXXXXXXX", no extension), which counts as stale only when empty.
PROBE_PREFIX = ".write-probe-"
_PROBE = re.compile(re.escape(PROBE_PREFIX) + r"[a-z0-9_]{8}")
_LEGACY_PROBE = re.compile(r"tmp[a-z0-9_]{8}")


def _host():
    return socket.gethostname()


def _read_holder(fd):
    """(pid, host) written in an open lock file, or (None, None)."""
    try:
        holder = json.loads(os.pread(fd, 4096, 0).decode() or "null") or {}
        return int(holder["pid"]), str(holder["host"])
    except (OSError, ValueError, TypeError, KeyError, UnicodeDecodeError):
        return None, None


def _acquire(run_dir, notice=True):
    """Open and flock ``run_dir``/LOCK without waiting; return the fd, or None when another
    process holds it. A lock file left by a process that no longer holds it (killed, or its
    host rebooted) is taken over, with one line on stderr when ``notice``."""
    path = os.path.join(run_dir, LOCK)
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return None
        # A holder that was releasing may have unlinked the file we opened: lock the new one.
        try:
            current = os.stat(path).st_ino == os.fstat(fd).st_ino
        except FileNotFoundError:
            current = False
        if current:
            break
        os.close(fd)
    pid, host = _read_holder(fd)
    if notice and pid is not None and (pid, host) != (os.getpid(), _host()):
        print(f"notice: {run_dir}: taking over the stale lock of process {pid} on {host}, "
              "which no longer runs there", file=sys.stderr)
    os.ftruncate(fd, 0)
    os.pwrite(fd, json.dumps({"pid": os.getpid(), "host": _host()}).encode(), 0)
    return fd


def _holder_text(run_dir):
    try:
        with open(os.path.join(run_dir, LOCK), "rb") as f:
            fd_pid_host = _read_holder(f.fileno())
    except OSError:
        fd_pid_host = (None, None)
    pid, host = fd_pid_host
    return f"process {pid} on {host}" if pid is not None else "another process"


@contextlib.contextmanager
def run_lock(run_dir):
    """Hold the lock of ``run_dir`` (created if needed) while this process writes it.

    The lock is ``run_dir/.lock``, flock'ed (so a killed holder releases it) and holding the
    holder's pid and host (so the message can name it). A second writer gets a UserInputError
    (exit 2, one line); a lock file whose process is gone is taken over with a notice. Nested
    holds in one process are fine. On release the file is removed, and ``run_dir`` too when
    this call created it and left it empty (a refused command leaves no folder behind).
    """
    key = os.path.realpath(run_dir)
    if key in _held:
        _held[key][1] += 1
        try:
            yield run_dir
        finally:
            _held[key][1] -= 1
        return
    created = not os.path.isdir(run_dir)
    try:
        os.makedirs(run_dir, exist_ok=True)
        fd = _acquire(run_dir)
    except OSError as err:
        raise UserInputError(
            f"cannot lock {run_dir!r} for writing ({err.strerror}); make it writable or "
            "choose another folder"
        ) from None
    if fd is None:
        raise UserInputError(
            f"{run_dir!r} is in use by {_holder_text(run_dir)}; wait for it to finish, or "
            "choose another folder"
        )
    _held[key] = [fd, 1, created]
    try:
        recover_interrupted(run_dir)
        yield run_dir
    finally:
        del _held[key]
        _release(run_dir, fd)
        if created:
            with contextlib.suppress(OSError):
                os.rmdir(run_dir)  # only succeeds when empty


def holds_lock(run_dir):
    """Whether this process holds the lock of ``run_dir``."""
    return os.path.realpath(run_dir) in _held


def _leftovers(run_dir):
    """(restores, removals): retired exports to move back and temporary files to delete."""
    restores, removals = [], []
    for folder in (run_dir, os.path.join(run_dir, CHECKPOINTS), os.path.join(run_dir, "samples")):
        try:
            names = sorted(os.listdir(folder))
        except OSError:
            continue
        for name in names:
            path = os.path.join(folder, name)
            staged = _STAGED.fullmatch(name)
            if staged and staged["what"] == "old":
                target = os.path.join(folder, staged["name"])
                inside = os.path.join(path, staged["name"])
                if not os.path.lexists(target) and os.path.isdir(inside):
                    restores.append((inside, target))
                removals.append(path)
            elif staged or _LEGACY_TEMP.fullmatch(name) or _PROBE.fullmatch(name) or (
                    folder.endswith(CHECKPOINTS) and _TF_TEMP.fullmatch(name)) or (
                    _LEGACY_PROBE.fullmatch(name) and _empty_file(path)):
                removals.append(path)
    return restores, removals


def _empty_file(path):
    try:
        return os.path.isfile(path) and not os.path.islink(path) and os.path.getsize(path) == 0
    except OSError:
        return False


def recover_interrupted(run_dir):
    """Complete or roll back what a killed process left half-done in a run folder.

    An export is swapped in with two renames (export -> .export.old-X/export, staging
    .export.tmp-Y -> export; :func:`swap_directory`). A process killed between them leaves
    no ``export/``: the retired copy is moved back (the staging copy, whose writer never
    finished the swap, is dropped; the command that was interrupted writes it again). Stale
    temporary files (``.NAME.tmp-*``, TensorFlow's ``ckpt-N_temp``, the write probe
    ``.write-probe-*`` of :func:`check_writable`, or an empty ``tmpXXXXXXXX`` of older
    versions) are removed. Runs only
    when no other process holds the folder's lock (a live writer's files are not stale);
    with nothing to do it touches nothing. Returns the paths restored.
    """
    restores, removals = _leftovers(run_dir)
    if not restores and not removals:
        return []
    key = os.path.realpath(run_dir)
    fd = None
    if key not in _held:
        try:
            fd = _acquire(run_dir, notice=False)
        except OSError:
            return []  # a read-only folder: nothing can be repaired, nothing is lost
        if fd is None:
            return []  # a live writer: its staging files are not stale
    try:
        restores, removals = _leftovers(run_dir)  # again, now that nobody else writes
        for inside, target in restores:
            os.replace(inside, target)
            print(f"notice: restored {target} from the copy an interrupted write left in "
                  f"{os.path.dirname(inside)}", file=sys.stderr)
        for path in removals:
            if os.path.isdir(path) and not os.path.islink(path):
                shutil.rmtree(path, ignore_errors=True)
            elif os.path.lexists(path):
                os.remove(path)
        return [target for _, target in restores]
    finally:
        if fd is not None:
            _release(run_dir, fd)


def _release(run_dir, fd):
    """Give up the lock ``fd`` of ``run_dir`` taken by :func:`_acquire`: remove the lock
    file (so a finished folder holds only results), then close it (which drops the flock)."""
    with contextlib.suppress(OSError):
        os.remove(os.path.join(run_dir, LOCK))
    os.close(fd)


@contextlib.contextmanager
def signals_held(signums=(signal.SIGINT, signal.SIGTERM)):
    """Defer SIGINT and SIGTERM for the duration of the block, then deliver them.

    Meant for a few instructions that must not be split (the two renames of a swap). In the
    main thread the Python handlers are replaced by one that only records the signal (a
    signal that reaches TensorFlow's threads also ends up there), and the main thread's
    mask blocks them at the OS level; afterwards the handlers come back and each recorded
    signal is raised again, so Ctrl-C still stops the command, just after the block. In
    another thread (where Python cannot install handlers) this does nothing.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    pending = []
    previous = {}
    for signum in signums:
        previous[signum] = signal.signal(signum, lambda number, frame: pending.append(number))
    blocked = signal.pthread_sigmask(signal.SIG_BLOCK, signums)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, blocked)  # delivers blocked ones: recorded
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        for signum in dict.fromkeys(pending):
            signal.raise_signal(signum)


def swap_directory(staging, target):
    """Replace the folder ``target`` with the complete folder ``staging`` (same filesystem).

    Two renames (target -> a retired sibling, staging -> target) with SIGINT/SIGTERM held off
    between them; an error puts the retired copy back. A SIGKILL between them leaves the
    retired copy, which :func:`recover_interrupted` restores on the next command.
    """
    parent, name = os.path.split(os.path.abspath(target))
    retired = None
    try:
        with signals_held():  # a held signal is raised when the block ends, after the renames
            if os.path.lexists(target):
                retired = tempfile.mkdtemp(dir=parent, prefix=f".{name}.old-")
                os.replace(target, os.path.join(retired, name))
            try:
                if retired:
                    faults.point("swap:between-renames")
                os.replace(staging, target)
            except BaseException:
                if retired and not os.path.lexists(target):
                    os.replace(os.path.join(retired, name), target)  # put the good copy back
                raise
        faults.point("swap:done")
    finally:
        if retired and os.path.lexists(target):  # the retired copy is no longer needed
            shutil.rmtree(retired, ignore_errors=True)
    return target


def finished_files(run_dir):
    """The finished results in ``run_dir`` a restart from scratch would overwrite: the final
    ``*.keras`` models (not ``best_*``) and ``export/``, generators first."""
    try:
        names = sorted(os.listdir(run_dir))
    except OSError:
        return []
    found = [name for name in names
             if (name.endswith(".keras") and not name.startswith(("best_", ".", "tmp")))
             or (name == "export" and os.path.isdir(os.path.join(run_dir, name)))]
    # Generators first: the message names the first.
    found.sort(key=lambda name: (not name.startswith("generator"), name == "export", name))
    return [os.path.join(run_dir, name) for name in found]


def checkpoint_candidates(directory):
    """Checkpoint prefixes (``ckpt-N``) in ``directory``, newest (largest N) first.

    Read from the files themselves, not from the ``checkpoint`` index, which a torn or
    garbled write may have left unreadable (TensorFlow then only logs "Checkpoint ignored").
    """
    try:
        names = os.listdir(directory)
    except OSError:
        return []
    found = []
    for name in names:
        match = re.fullmatch(r"(?P<prefix>.+-(?P<number>\d+))\.index", name)
        if match:
            found.append((int(match["number"]), os.path.join(directory, match["prefix"])))
    return [prefix for _, prefix in sorted(found, reverse=True)]


def checkpoint_epochs(directory):
    """Epochs done according to the newest checkpoint's number (TrainingCheckpoint saves
    epoch e as ``ckpt-e``); 0 without checkpoints. Reads no TensorFlow file."""
    candidates = checkpoint_candidates(directory)
    return int(candidates[0].rsplit("-", 1)[1]) if candidates else 0


def _one_line(error):
    text = " ".join(str(error).split())
    return f"{type(error).__name__}: {text[:160]}{'...' if len(text) > 160 else ''}"


def restore_checkpoint(checkpoint, directory, run_dir=None):
    """Restore the newest readable checkpoint of ``directory`` into ``checkpoint``.

    ``checkpoint`` is a ``tf.train.Checkpoint``. Candidates come from the checkpoint files
    (:func:`checkpoint_candidates`), newest first; one that fails to load (truncated,
    corrupt, torn) is reported in one line on stderr and the previous one is tried (two are
    kept). A garbled or stale ``checkpoint`` index is rewritten to name the restored one.
    With no readable checkpoint: start from scratch (returns None) only when nothing would
    be lost, else a UserInputError that names the file and the choices: the finished
    results of ``run_dir`` (default: the parent of ``directory``; :func:`finished_files`)
    are never overwritten silently.

    Returns:
        The restored checkpoint prefix, or None for a fresh start.
    """
    run_dir = run_dir or os.path.dirname(os.path.abspath(directory))
    candidates = checkpoint_candidates(directory)
    failures = []
    for number, prefix in enumerate(candidates):
        try:
            faults.point("checkpoint:restore")
            checkpoint.restore(prefix).assert_existing_objects_matched()
        except Exception as error:  # noqa: BLE001 - a torn file raises OpError, IndexError, ...
            failures.append(f"{os.path.basename(prefix)}: {_one_line(error)}")
            print(f"notice: cannot read checkpoint {prefix} ({_one_line(error)}); "
                  + ("trying the previous one" if number + 1 < len(candidates) else
                     "no older one is left"), file=sys.stderr)
            continue
        _repair_index(directory, prefix, candidates[number:])
        return prefix
    finished = finished_files(run_dir)
    if failures:
        reason = "; ".join(failures)
        lost = f" and {finished[0]} holds finished results" if finished else ""
        raise UserInputError(
            f"no checkpoint in {directory} can be read ({reason}){lost}; to keep this run, "
            f"restore its checkpoints from a backup; to train it again from scratch, delete "
            f"{directory}{' and the finished files' if finished else ''}, or choose another --out"
        )
    if finished:
        raise UserInputError(
            f"{finished[0]} holds the results of a finished run but {directory} has no "
            "checkpoint to resume from, so training would start again and overwrite them; "
            "use the results as they are (sample, export), choose another --out, or delete "
            f"{', '.join(os.path.basename(f) for f in finished)} to train again from scratch"
        )
    return None


def _repair_index(directory, latest, kept):
    """Make the ``checkpoint`` index name ``latest`` (and the older ``kept``) if it does not."""
    import tensorflow as tf

    index = os.path.join(directory, "checkpoint")
    try:
        with open(index) as f:
            text = f.read()
        named = re.search(r'^model_checkpoint_path:\s*"([^"]*)"', text, re.M)
    except (OSError, UnicodeDecodeError):
        named = None
    if named and os.path.basename(named[1]) == os.path.basename(latest):
        return
    tf.compat.v1.train.update_checkpoint_state(
        directory, os.path.basename(latest),
        all_model_checkpoint_paths=[os.path.basename(p) for p in reversed(kept)])


def trim_history(path, epoch):
    """Keep in ``history.csv`` the header and the rows of the first ``epoch`` epochs.

    Rows are numbered from 1 (:class:`gan_apps.callbacks.HistoryLogger`); a file whose
    first row is epoch 0 (written by Keras's CSVLogger before) is read as numbered from 0.

    The row of an epoch is written before its checkpoint; a process killed between the two
    resumes from the previous checkpoint and would log that epoch again. Rows that do not
    parse (a torn write, lines of another process) are dropped too, and of an epoch logged
    twice only the last row is kept. Rewrites the file
    atomically, and only when something is dropped. Returns the number of rows dropped.
    """
    try:
        with open(path, newline="") as f:
            lines = f.read().splitlines(keepends=True)
    except FileNotFoundError:
        return 0
    if not lines:
        return 0
    header, rows = lines[0], lines[1:]
    width = len(next(csv.reader([header]), []))
    if "epoch" not in next(csv.reader([header]), []):
        return 0
    column = next(csv.reader([header])).index("epoch")
    first = next((next(csv.reader([row]), [""])[column:column + 1] for row in rows), [])
    base = 0 if first == ["0"] else 1
    latest = {}  # epoch -> its last row (an epoch logged twice was trained twice)
    for row in rows:
        fields = next(csv.reader([row]), [])
        if row.endswith("\n") and len(fields) == width and fields[column].isdigit() \
                and int(fields[column]) - base < epoch:
            latest[int(fields[column])] = row
    kept = [latest[e] for e in sorted(latest)]
    dropped = len(rows) - len(kept)
    if dropped:
        write_text(path, header if header.endswith("\n") else header + "\n", "".join(kept))
    return dropped


def write_text(path, *parts):
    """Write text atomically (:func:`gan_apps.files.replace_file`)."""
    return files.replace_file(path, "".join(parts))


def check_epochs(run_dir, done, epochs):
    """Refuse (one line) to "resume" a run already trained past the requested ``epochs``."""
    if done > epochs:
        raise UserInputError(
            f"{run_dir!r} is already trained to epoch {done}, past --epochs {epochs}; pass "
            f"--epochs {done} (or more) to resume it, or choose another --out"
        )


# --- the run skeleton ----------------------------------------------------------------------
#
# Every training pipeline is a configuration plus a model builder and a data builder; the
# rest of a run (runtime setup, the resume rules, the lock, building in the strategy scope,
# the checkpoint, config.json, the standard callbacks, fit, what a NaN loss does, the final
# networks and the export) happens here, in one order, for every pipeline.

NAN_POLICIES = ("stop", "rollback")
# --on-nan rollback: restore the last checkpoint and scale the learning rates by this.
ROLLBACK_FACTOR = 0.5
MAX_ROLLBACKS = 3


def default_run_dir(name, data):
    """``runs/NAME-DATA`` with the data source made a file name (``tfds:mnist`` -> ``tfds_mnist``)."""
    safe = str(data).replace(":", "_").replace("/", "_").replace(",", "_")
    return os.path.join("runs", f"{name}-{safe}")


def check_steps_per_execution(value):
    """``steps_per_execution`` is a count of train steps per graph call: an int >= 1."""
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise UserInputError(f"--steps-per-execution must be >= 1, got {value!r}")
    return value


def time_step(step, *, warmup=1, repeats=3):
    """Median wall seconds of ``step()`` over ``repeats`` calls after ``warmup`` calls.

    For the time estimate a run prints before it starts: ``step`` should do the work of
    one training step (forward and backward passes) without changing the model.
    """
    import time

    for _ in range(warmup):
        step()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        step()
        times.append(time.perf_counter() - start)
    return sorted(times)[len(times) // 2]


def format_duration(seconds):
    """``"45 s"``, ``"3.5 min"`` or ``"2.1 h"``."""
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 90 * 60:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"


def print_estimate(seconds_per_step, steps, *, overhead=1.1):
    """Print how long ``steps`` training steps should take at ``seconds_per_step`` (measured),
    times ``overhead`` for the optimizer update, the input pipeline and checkpoints."""
    total = seconds_per_step * steps * overhead
    print(f"estimated training time: about {format_duration(total)} ({steps} steps at "
          f"{seconds_per_step:.2f} s per step, measured on this machine)", flush=True)
    return total


@dataclasses.dataclass(frozen=True)
class Feed:
    """What ``fit`` reads. ``dataset(initial_epoch)`` makes the input of a fit that starts at
    that epoch (so a resumed run can see exactly the batches an uninterrupted one would);
    ``steps`` is steps per epoch (None: one pass over a finite dataset)."""

    dataset: Callable[[int], Any]
    steps: int | None


def _no_callbacks(model):
    return []


@dataclasses.dataclass
class RunPlan:
    """One training run, as :func:`train` carries it out.

    Attributes:
        kind: the run kind recorded in config.json (``gan``, ``translation``, ...).
        out: the run folder.
        config: the settings written to config.json (``build_feed`` may complete it); must
            hold ``strategy``, ``precision``, ``deterministic``, ``seed``, ``batch_size``,
            ``steps_per_execution`` and, unless ``epochs`` is given, ``epochs``.
        build_model: ``data -> compiled model``, called in the strategy scope.
        build_feed: ``(model, data) -> Feed``, after the build and before the run folder is
            written (so data errors leave no run behind).
        load_data: ``() -> data`` after the runtime setup, before the build (None: no data
            is needed to build the model).
        keys: settings a resumed run must keep (:func:`check_resumable`); None for a run
            that does not resume (no checkpoint, history, logs or config.json written here).
        optional: keys compared only when the new config sets them.
        epochs: the total number of epochs (default ``config["epochs"]``).
        early_callbacks, late_callbacks: ``model -> list`` of callbacks placed before and
            after the CSV and TensorBoard loggers (made again for each fit of a rollback).
        checkpoint_items: ``model -> dict`` of extra objects to checkpoint (EMA weights).
        after_restore: ``(model, initial_epoch) -> None`` after the checkpoint restore.
        networks: ``model -> {name: network}`` saved as NAME.keras (default
            ``model.networks()``).
        export: ``model -> result`` after the networks are saved; :func:`train` returns it.
        on_nan: ``stop`` ends at the first non-finite loss keeping the last checkpoint;
            ``rollback`` restores it, scales the learning rates by ``ROLLBACK_FACTOR`` and
            goes on (at most ``MAX_ROLLBACKS`` times).
        plot_history: also draw ``history.png`` from ``history.csv``.
        verbose: ``fit``'s verbosity.
    """

    kind: str
    out: str
    config: dict
    build_model: Callable[[Any], Any]
    build_feed: Callable[[Any, Any], Feed]
    load_data: Callable[[], Any] | None = None
    keys: tuple | None = ()
    optional: tuple = ()
    epochs: int | None = None
    early_callbacks: Callable[[Any], list] = _no_callbacks
    late_callbacks: Callable[[Any], list] = _no_callbacks
    checkpoint_items: Callable[[Any], dict] | None = None
    after_restore: Callable[[Any, int], None] | None = None
    networks: Callable[[Any], dict] | None = None
    export: Callable[[Any], Any] | None = None
    on_nan: str = "stop"
    plot_history: bool = False
    verbose: Any = "auto"

    @property
    def resumable(self):
        return self.keys is not None


def train(plan):
    """Carry out ``plan``: set up the runtime, build, restore, fit, save, export.

    The order is fixed: validate; refuse an ``out`` holding another run; take the run
    folder's lock for the whole run; :func:`gan_apps.runtime.configure` (before any
    TensorFlow op: a mirrored strategy may split the CPU); load the data; check the global
    batch; build in the strategy scope; make the feed; restore the newest readable
    checkpoint and write config.json; fit (again after a rollback); save; export.

    Returns:
        What ``plan.export`` returns (None without one).
    """
    config = plan.config
    check_steps_per_execution(config["steps_per_execution"])
    if plan.on_nan not in NAN_POLICIES:
        raise UserInputError(f"--on-nan must be stop or rollback, got {plan.on_nan!r}")
    if plan.resumable:
        check_resumable(plan.out, config, kind=plan.kind, keys=plan.keys, optional=plan.optional)
    new_folders = _missing_folders(plan.out)
    check_writable(plan.out)
    try:
        with run_lock(plan.out):
            return _train_locked(plan)
    finally:
        # A refused or failed run leaves no empty folder behind (``runs/`` included).
        for folder in new_folders:
            with contextlib.suppress(OSError):
                os.rmdir(folder)  # only succeeds when empty


def _missing_folders(path):
    """The folders of ``path`` that do not exist yet, deepest first."""
    missing = []
    path = os.path.abspath(path)
    while not os.path.isdir(path):
        missing.append(path)
        parent = os.path.dirname(path)
        if parent == path:
            break
        path = parent
    return missing


def _train_locked(plan):
    from gan_apps import runtime

    config = plan.config
    strategy = runtime.configure(strategy=config["strategy"], precision=config["precision"],
                                 deterministic=config["deterministic"], seed=config["seed"])
    data = plan.load_data() if plan.load_data else None
    runtime.check_global_batch(strategy, config["batch_size"])
    if strategy.num_replicas_in_sync > 1:
        print(f"training on {strategy.num_replicas_in_sync} replicas ({config['strategy']}); "
              f"each step splits the batch of {config['batch_size']} between them")
    with strategy.scope():
        model = plan.build_model(data)
    feed = plan.build_feed(model, data)
    checkpoint = _start(plan, model)
    epochs = config["epochs"] if plan.epochs is None else plan.epochs
    _fit(plan, model, feed, checkpoint, epochs)
    if plan.plot_history and os.path.exists(os.path.join(plan.out, HISTORY)):
        from gan_apps import plots

        plots.plot_history(os.path.join(plan.out, HISTORY), os.path.join(plan.out, "history.png"))
    networks = plan.networks(model) if plan.networks else model.networks()
    for name, network in networks.items():
        save_model(network, os.path.join(plan.out, f"{name}.keras"))
    return plan.export(model) if plan.export else None


def _start(plan, model):
    """The checkpoint callback of a resumable run, restored, and config.json written."""
    if not plan.resumable:
        return None
    from gan_apps import callbacks

    extra = plan.checkpoint_items(model) if plan.checkpoint_items else None
    checkpoint = callbacks.TrainingCheckpoint(os.path.join(plan.out, CHECKPOINTS), model,
                                              extra_items=extra)
    initial_epoch = checkpoint.restore()
    if plan.after_restore:
        plan.after_restore(model, initial_epoch)
    write_json(os.path.join(plan.out, CONFIG), plan.config)
    return checkpoint


def _callbacks(plan, model, checkpoint):
    from gan_apps import callbacks

    if checkpoint is None:
        return [*plan.early_callbacks(model), *plan.late_callbacks(model)]
    return [
        callbacks.NaNGuard(),
        *plan.early_callbacks(model),
        callbacks.HistoryLogger(os.path.join(plan.out, HISTORY)),
        keras.callbacks.TensorBoard(os.path.join(plan.out, "logs")),
        *plan.late_callbacks(model),
        checkpoint,
    ]


def _fit(plan, model, feed, checkpoint, epochs):
    """``fit`` from the restored epoch to ``epochs``, rolling back on NaN if the plan says so."""
    from gan_apps import callbacks, runtime

    initial_epoch = int(checkpoint.epoch.numpy()) if checkpoint else 0
    if initial_epoch >= epochs:
        print(f"{plan.out} is already trained to epoch {initial_epoch}; writing its final files")
    rollbacks = 0
    while initial_epoch < epochs:
        if initial_epoch:
            print(f"resuming {plan.out} from epoch {initial_epoch}")
        try:
            # A tf.data input is never shuffled by fit: each feed orders its own batches.
            # XLA that cannot compile the step falls back to graph mode (runtime.fit).
            runtime.fit(model, feed.dataset(initial_epoch), epochs=epochs,
                        steps_per_epoch=feed.steps, initial_epoch=initial_epoch, shuffle=False,
                        verbose=callbacks.progress_verbosity(plan.verbose),
                        callbacks=_callbacks(plan, model, checkpoint))
        except callbacks.NonFiniteLossError as err:
            if plan.on_nan != "rollback" or rollbacks >= MAX_ROLLBACKS:
                raise
            rollbacks += 1
            initial_epoch = checkpoint.restore()
            factors = lower_learning_rates(model, ROLLBACK_FACTOR)
            print(f"{err}; rolled back to epoch {initial_epoch} and multiplied the learning "
                  f"rates by {ROLLBACK_FACTOR} (now {', '.join(f'{v:.3g}' for v in factors)}); "
                  f"rollback {rollbacks} of at most {MAX_ROLLBACKS}")
            continue
        break


def lower_learning_rates(model, factor):
    """Multiply the learning rate of every optimizer of ``model`` by ``factor``; returns them."""
    values = []
    for optimizer in model.checkpoint_items().values():
        if not isinstance(optimizer, keras.optimizers.Optimizer):
            continue
        inner = getattr(optimizer, "inner_optimizer", optimizer)
        if isinstance(inner.learning_rate, keras.optimizers.schedules.LearningRateSchedule):
            raise UserInputError("--on-nan rollback cannot lower a scheduled learning rate; "
                                 "use --on-nan stop")
        inner.learning_rate = float(inner.learning_rate) * factor
        values.append(float(inner.learning_rate))
    return values
