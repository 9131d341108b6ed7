"""SavedModel export of a generator with a serving signature, written atomically."""

from __future__ import annotations

import os
import shutil
import tempfile

import keras
import tensorflow as tf

from gan_apps.errors import UserInputError


def export_generator(generator, export_dir, *, latent_dim=None):
    """Export ``generator`` (z [B, latent_dim] -> images [B, H, W, C] in [-1, 1]) as a SavedModel.

    The ``serving_default`` signature takes ``z`` float32 [batch, latent_dim] and returns
    ``images`` (uint8, clip(round((x + 1) * 127.5), 0, 255)) and ``images_float``
    (float32 in [-1, 1]). The export is written to a temporary sibling folder and renamed
    into place, so an interrupted export never replaces a good one with a broken one.

    Args:
        generator: a functional Keras model with one latent input.
        export_dir: the SavedModel folder; an existing export there is replaced.
        latent_dim: size of z; read from ``generator.inputs`` when None.

    Returns:
        The absolute export folder.
    """
    latent_dim = int(latent_dim or _latent_dim(generator))

    @tf.function(input_signature=[tf.TensorSpec([None, latent_dim], tf.float32, name="z")])
    def serve(z):
        images = tf.cast(generator(z, training=False), tf.float32)
        quantized = tf.clip_by_value(tf.round((images + 1.0) * 127.5), 0.0, 255.0)
        return {"images": tf.cast(quantized, tf.uint8), "images_float": images}

    archive = keras.export.ExportArchive()
    archive.track(generator)
    archive.add_endpoint("serving_default", serve)
    return _write_atomically(archive, export_dir)


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
