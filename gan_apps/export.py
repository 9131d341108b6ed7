"""SavedModel export of a generator with a serving signature, written atomically."""

from __future__ import annotations

import os
import shutil
import tempfile

import keras
import tensorflow as tf

from gan_apps import sampling
from gan_apps.errors import UserInputError


def export_generator(generator, export_dir, *, latent_dim=None, spec=None, sample_endpoint=False):
    """Export a generator (inputs -> images [B, H, W, C] in [-1, 1]) as a SavedModel.

    The ``serving_default`` signature takes one named input per entry of the latent spec
    (:mod:`gan_apps.sampling`): ``z`` float32 [batch, D] for an unconditional generator,
    plus for example ``label`` int32 [batch] for a conditional one. It returns ``images``
    (uint8, clip(round((x + 1) * 127.5), 0, 255)) and ``images_float`` (float32 in
    [-1, 1]). The export is written to a temporary sibling folder and renamed into
    place, so an interrupted export never replaces a good one with a broken one.

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
        images = tf.cast(generator(inputs, training=False), tf.float32)
        quantized = tf.clip_by_value(tf.round((images + 1.0) * 127.5), 0.0, 255.0)
        return {"images": tf.cast(quantized, tf.uint8), "images_float": images}

    if len(spec) == 1:
        serve = tf.function(lambda z: images_from(z), input_signature=signature)
    else:
        serve = tf.function(lambda *inputs: images_from(list(inputs)), input_signature=signature)

    archive = keras.export.ExportArchive()
    archive.track(generator)
    archive.add_endpoint("serving_default", serve)
    if sample_endpoint:
        add_sample_endpoint(archive, generator, spec, images_from)
    return _write_atomically(archive, export_dir)


# Redraw rounds of the in-graph truncation before the (then negligible) rest is clipped.
MAX_TRUNCATION_ROUNDS = 1000


def truncated_normal_graph(shape, truncation):
    """float32 N(0, 1) of ``shape`` with entries beyond ``truncation`` redrawn (a TF graph op).

    The truncation trick of Brock et al. 2019, Sec. 3.1, as :func:`gan_apps.sampling.truncated_normal`
    does in numpy: values with |z| > t are resampled until none is left (at most
    ``MAX_TRUNCATION_ROUNDS`` rounds, then clipped to [-t, t]). ``truncation`` <= 0 draws
    plain N(0, 1).
    """
    z = tf.random.normal(shape)

    def outside(values):
        return tf.logical_and(truncation > 0.0, tf.abs(values) > truncation)

    def redraw(i, values):
        return i + 1, tf.where(outside(values), tf.random.normal(shape), values)

    _, z = tf.while_loop(
        lambda i, values: tf.logical_and(i < MAX_TRUNCATION_ROUNDS, tf.reduce_any(outside(values))),
        redraw, (tf.constant(0), z),
    )
    return tf.where(truncation > 0.0, tf.clip_by_value(z, -tf.abs(truncation), tf.abs(truncation)), z)


def add_sample_endpoint(archive, generator, spec, images_from):
    """Add ``sample(num, truncation[, label])`` to an export archive.

    ``num`` int32 scalar, ``truncation`` float32 scalar (<= 0: no truncation) and, when the
    spec has a class input, ``label`` int32 [num]. Normal inputs are drawn with
    :func:`truncated_normal_graph`, uniform ones from U(-1, 1), further class inputs
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
                inputs.append(truncated_normal_graph(tf.stack([num, int(entry["dim"])]), truncation))
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


def _write_atomically(archive, export_dir):
    """Write to a sibling staging folder, then swap it in with renames on the same filesystem."""
    export_dir = os.path.abspath(export_dir)
    parent = os.path.dirname(export_dir)
    os.makedirs(parent, exist_ok=True)
    name = os.path.basename(export_dir)
    staging = tempfile.mkdtemp(dir=parent, prefix=f".{name}.tmp-")
    retired = None
    try:
        archive.write_out(staging, verbose=False)
        if os.path.exists(export_dir):
            retired = tempfile.mkdtemp(dir=parent, prefix=f".{name}.old-")
            old = os.path.join(retired, name)
            os.replace(export_dir, old)
            try:
                os.replace(staging, export_dir)
            except OSError:
                os.replace(old, export_dir)  # put the good export back
                raise
        else:
            os.replace(staging, export_dir)
    finally:
        for leftover in (staging, retired):
            if leftover and os.path.exists(leftover):
                shutil.rmtree(leftover, ignore_errors=True)
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
