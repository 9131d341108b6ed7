"""The run folder: one directory per training run, written so that nothing good is lost.

Layout: ``config.json``, ``checkpoints/``, ``history.csv``, ``logs/`` (TensorBoard),
``samples/`` (PNG grids), final ``generator.keras`` / ``discriminator.keras`` and
``export/`` (SavedModel). Files are written to a temporary name and renamed into place.
"""

from __future__ import annotations

import json
import os
import tempfile

import keras

from gan_apps.errors import UserInputError

CONFIG = "config.json"


def write_json(path, data):
    """Write JSON atomically."""
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=directory, suffix=".json.tmp")
    with os.fdopen(fd, "w") as f:
        json.dump(data, f, indent=2, sort_keys=True)
        f.write("\n")
    os.replace(tmp, path)
    return path


def read_json(path):
    """Read a JSON file; None when it does not exist or is unreadable (a torn write)."""
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, json.JSONDecodeError):
        return None


def read_config(run_dir, kind=None):
    """Read a run's config.json; raise a UserInputError if it is not a run (of ``kind``)."""
    path = os.path.join(run_dir, CONFIG)
    if not os.path.isdir(run_dir):
        raise UserInputError(f"run folder {run_dir!r} does not exist; pass the --out of a training run")
    if not os.path.isfile(path):
        raise UserInputError(
            f"{run_dir!r} is not a gan-apps run folder (no {CONFIG}); pass the --out of a training run"
        )
    try:
        with open(path) as f:
            config = json.load(f)
    except (OSError, json.JSONDecodeError) as err:
        raise UserInputError(f"cannot read {path}: {err}") from None
    if kind is not None and config.get("kind") != kind:
        raise UserInputError(
            f"{run_dir!r} is a {config.get('kind', 'unknown')!r} run, not a {kind!r} run"
        )
    return config


# The one precision whose optimizers carry loss scaling (gan_apps.runtime.loss_scaled).
LOSS_SCALED_PRECISION = "mixed_float16"


def check_resumable(out, config, *, kind, keys, optional=()):
    """Refuse to train into ``out`` unless it is empty, new, or a ``kind`` run with the same
    ``keys`` as ``config`` (then the run resumes). Keys in ``optional`` are compared only when
    ``config`` sets them (None means "whatever the run has"). The precision may change
    between float32 and mixed_bfloat16, not to or from mixed_float16."""
    if not os.path.exists(os.path.join(out, CONFIG)):
        if os.path.isdir(out) and os.listdir(out):
            raise UserInputError(f"{out!r} exists and is not a run folder; choose another --out")
        return
    previous = read_config(out)
    if previous.get("kind") != kind:
        raise UserInputError(f"{out!r} holds a {previous.get('kind')!r} run; choose another --out")
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


def save_model(model, path):
    """Save a Keras model to ``path`` (.keras) atomically."""
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=directory, suffix=".keras")
    os.close(fd)
    try:
        model.save(tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    return path


def load_model(path, what="model"):
    """Load a .keras file, naming the fix when it is missing."""
    if not os.path.isfile(path):
        raise UserInputError(
            f"no {what} at {path}; finish (or resume) the training run first"
        )
    return keras.models.load_model(path, compile=False)


def check_writable(run_dir):
    """Create ``run_dir`` if needed and fail early with a clear message if it is not writable."""
    try:
        os.makedirs(run_dir, exist_ok=True)
        probe = tempfile.NamedTemporaryFile(dir=run_dir, delete=True)
        probe.close()
    except OSError as err:
        raise UserInputError(f"cannot write to {run_dir!r} ({err.strerror}); choose another --out") from None
