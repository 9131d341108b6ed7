"""SavedModel export of a generator with a serving signature, written atomically."""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile

import keras
import tensorflow as tf

from gan_apps import faults, files, runs, sampling
from gan_apps.errors import UserInputError
from gan_apps.images import to_uint8


def export_generator(generator, export_dir, *, latent_dim=None, spec=None, sample_endpoint=False):
    """Export a generator (inputs -> images [B, H, W, C] in [-1, 1]) as a SavedModel.

    The ``serving_default`` signature takes one named input per entry of the latent spec
    (:mod:`gan_apps.sampling`): ``z`` float32 [batch, D] for an unconditional generator,
    plus for example ``label`` int32 [batch] for a conditional one. It returns ``images``
    (uint8, clip(round((x + 1) * 127.5), 0, 255)) and ``images_float`` (float32 in
    [-1, 1]). A request of another rank, a non-finite latent or a label outside
    [0, num_classes) fails with an InvalidArgumentError that says so (:func:`checked_input`)
    instead of returning black images. The export is written to a temporary sibling folder
    and swapped into place (:func:`write_atomically`), so an interrupted export never
    replaces a good one with a broken one, or with nothing.

    Args:
        generator: a functional Keras model whose inputs follow ``spec``.
        export_dir: the SavedModel folder; an existing export there is replaced.
        latent_dim: size of z for a one-input generator; read from ``generator.inputs``
            when neither it nor ``spec`` is given.
        spec: the latent spec; default one normal input ``z`` of size ``latent_dim``.
        sample_endpoint: also add the endpoint ``sample`` (:func:`add_sample_endpoint`),
            which draws the latent inside the SavedModel with the truncation trick.

    Returns:
        The absolute export folder.
    """
    if spec is None:
        spec = sampling.unconditional_spec(int(latent_dim or _latent_dim(generator)))
    try:
        spec = sampling.check_spec(spec)
    except ValueError as error:
        raise UserInputError(f"cannot export with this latent spec: {error}") from None
    inputs = getattr(generator, "inputs", None) or []
    if len(inputs) != len(spec):
        raise UserInputError(
            f"the latent spec lists {len(spec)} inputs but the generator takes {len(inputs)}; "
            "pass the spec of this generator (model.latent_spec())"
        )
    signature = [
        tf.TensorSpec([None], tf.int32, name=entry["name"]) if entry["kind"] == "class"
        else tf.TensorSpec([None, entry["dim"]], tf.float32, name=entry["name"])
        for entry in spec
    ]

    def images_from(inputs):
        inputs = checked_inputs(inputs, spec)
        images = tf.cast(generator(inputs, training=False), tf.float32)
        return {"images": to_uint8(images), "images_float": images}

    if len(spec) == 1:
        serve = tf.function(lambda z: images_from(z), input_signature=signature)
    else:
        serve = tf.function(lambda *inputs: images_from(list(inputs)), input_signature=signature)

    archive = keras.export.ExportArchive()
    archive.track(generator)
    archive.add_endpoint("serving_default", serve)
    if sample_endpoint:
        add_sample_endpoint(archive, generator, spec, images_from)
    return write_atomically(archive, export_dir)


def add_sample_endpoint(archive, generator, spec, images_from):
    """Add ``sample(num, truncation[, label])`` to an export archive.

    ``num`` int32 scalar, ``truncation`` float32 scalar (<= 0: no truncation) and, when the
    spec has a class input, ``label`` int32 [num]. Normal inputs are drawn with
    :func:`gan_apps.sampling.truncated_normal` from ``tf.random.normal``, uniform ones from
    U(-1, 1), further class inputs
    uniformly; returns what ``serving_default`` returns.
    """
    first_class = sampling.class_input(spec)
    signature = [tf.TensorSpec([], tf.int32, name="num"),
                 tf.TensorSpec([], tf.float32, name="truncation")]
    if first_class is not None:
        signature.append(tf.TensorSpec([None], tf.int32, name="label"))

    def draw(num, truncation, label=None):
        if label is not None:
            tf.debugging.assert_equal(tf.size(label), num, message="label needs num entries")
        inputs = []
        for index, entry in enumerate(spec):
            if entry["kind"] == "normal":
                inputs.append(sampling.truncated_normal(
                    tf.random.normal, tf.stack([num, int(entry["dim"])]), truncation))
            elif entry["kind"] == "uniform":
                inputs.append(tf.random.uniform(tf.stack([num, int(entry["dim"])]), -1.0, 1.0))
            elif index == first_class:
                inputs.append(label)
            else:
                inputs.append(tf.random.uniform(tf.reshape(num, [1]), 0, int(entry["num_classes"]),
                                                dtype=tf.int32))
        return images_from(inputs[0] if len(inputs) == 1 else inputs)

    archive.add_endpoint("sample", tf.function(draw, input_signature=signature))


def _latent_dim(generator):
    inputs = getattr(generator, "inputs", None) or []
    if len(inputs) != 1 or inputs[0].shape[-1] is None:
        raise UserInputError(
            "cannot read the latent size from this generator (it needs one input [B, latent_dim]); "
            "pass latent_dim=..."
        )
    return inputs[0].shape[-1]


def checked_input(tensor, shape, name, *, finite=False, num_classes=None):
    """``tensor`` with run-time checks that stop a bad serving request before the network.

    The signature's dtype is enforced when it is called; its shape is not (a rank-3 request
    reaches the network, which can abort the process in oneDNN): ``tf.ensure_shape`` checks
    the rank and the fixed sizes. ``finite`` rejects NaN and Inf (float inputs);
    ``num_classes`` rejects labels outside [0, num_classes). Each failure is an
    InvalidArgumentError naming ``name``.
    """
    tensor = tf.ensure_shape(tensor, shape, name=f"check_{name}_shape")
    checks = []
    if finite:
        checks.append(tf.debugging.assert_all_finite(
            tensor, f"{name} must be finite: the request holds NaN or Inf"))
    if num_classes is not None:
        checks.append(tf.debugging.assert_non_negative(
            tensor, message=f"{name} must lie in [0, {num_classes}): a label is negative"))
        checks.append(tf.debugging.assert_less(
            tensor, tf.constant(num_classes, tensor.dtype),
            message=f"{name} must lie in [0, {num_classes}): a label is too large"))
    with tf.control_dependencies(checks):
        return tf.identity(tensor)


def checked_inputs(inputs, spec):
    """Apply :func:`checked_input` to each input of a latent spec (a tensor or a list)."""
    many = isinstance(inputs, (list, tuple))
    checked = []
    for tensor, entry in zip(inputs if many else [inputs], spec):
        if entry["kind"] == "class":
            checked.append(checked_input(tensor, [None], entry["name"],
                                         num_classes=int(entry["num_classes"])))
        else:
            checked.append(checked_input(tensor, [None, int(entry["dim"])], entry["name"],
                                         finite=True))
    return checked if many else checked[0]


def write_atomically(archive, export_dir):
    """Write ``archive`` (a keras ExportArchive) to ``export_dir``; an existing export there
    is replaced only once the new one is complete.

    The archive goes to a sibling staging folder ``.NAME.tmp-*``, which is then swapped in
    with two renames while SIGINT and SIGTERM are held off (:func:`gan_apps.runs.swap_directory`).
    An error or Ctrl-C leaves the previous export in place (or none, if there was none) and no
    staging folder; a SIGKILL leaves the previous export, or its retired copy
    ``.NAME.old-*/NAME``, which :func:`gan_apps.runs.recover_interrupted` moves back on the
    next command that reads the run folder. When ``export_dir`` lies in a run folder (one
    with config.json), the folder's lock is held (:func:`gan_apps.runs.run_lock`; the
    training commands already hold it). Returns the absolute export folder.
    """
    export_dir = os.path.abspath(export_dir)
    parent = os.path.dirname(export_dir)
    os.makedirs(parent, exist_ok=True)
    name = os.path.basename(export_dir)
    # Into a run folder only as its writer: a second process gets a one-line refusal.
    is_run = os.path.isfile(os.path.join(parent, runs.CONFIG))
    with runs.run_lock(parent) if is_run else contextlib.nullcontext():
        staging = tempfile.mkdtemp(dir=parent, prefix=f".{name}.tmp-")
        try:
            faults.point("export:write")
            archive.write_out(staging, verbose=False)
            # mkdtemp's 0700 -> what mkdir would give (TensorFlow's files inside follow the umask).
            files.apply_umask(staging, folder=True)
            faults.point("export:written")
            runs.swap_directory(staging, export_dir)
        finally:
            if os.path.exists(staging):
                shutil.rmtree(staging, ignore_errors=True)
    return export_dir


def load_export(export_dir):
    """Load an exported SavedModel (``tf.saved_model.load``), naming the fix when there is none."""
    if not os.path.isdir(export_dir):
        raise UserInputError(
            f"no export folder at {export_dir!r}; run `gan-apps export RUN_DIR` to create one"
        )
    if not any(os.path.isfile(os.path.join(export_dir, f))
               for f in ("saved_model.pb", "saved_model.pbtxt")):
        raise UserInputError(
            f"{export_dir!r} is not a SavedModel (no saved_model.pb); "
            "run `gan-apps export RUN_DIR` to create one"
        )
    return tf.saved_model.load(export_dir)
