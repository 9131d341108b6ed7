"""SavedModel export of a generator with a serving signature, written atomically."""

from __future__ import annotations

import os
import shutil
import tempfile

import keras
import tensorflow as tf

from gan_apps.errors import UserInputError


def export_generator(generator, export_dir, *, latent_dim=None):
    """Export ``generator`` (z -> images in [-1, 1]) as a SavedModel.

    The ``serving_default`` signature takes ``z`` float32 [batch, latent_dim] and returns
    ``images`` (uint8, round((x + 1) * 127.5)) and ``images_float`` (float32 in [-1, 1]).
    The export is written to a temporary sibling folder and renamed into place, so an
    interrupted export never replaces a good one with a broken one.
    """
    latent_dim = int(latent_dim or generator.inputs[0].shape[-1])

    @tf.function(input_signature=[tf.TensorSpec([None, latent_dim], tf.float32, name="z")])
    def serve(z):
        images = tf.cast(generator(z, training=False), tf.float32)
        quantized = tf.cast(tf.clip_by_value(tf.round((images + 1.0) * 127.5), 0.0, 255.0), tf.uint8)
        return {"images": quantized, "images_float": images}

    archive = keras.export.ExportArchive()
    archive.track(generator)
    archive.add_endpoint("serving_default", serve)
    return _write_atomically(archive, export_dir)


def _write_atomically(archive, export_dir):
    export_dir = os.path.abspath(export_dir)
    parent = os.path.dirname(export_dir)
    os.makedirs(parent, exist_ok=True)
    staging = tempfile.mkdtemp(dir=parent, prefix=".export-")
    try:
        archive.write_out(staging, verbose=False)
        if os.path.exists(export_dir):
            retired = tempfile.mkdtemp(dir=parent, prefix=".retired-")
            os.replace(export_dir, os.path.join(retired, "old"))
            os.replace(staging, export_dir)
            shutil.rmtree(retired, ignore_errors=True)
        else:
            os.replace(staging, export_dir)
    finally:
        if os.path.exists(staging):
            shutil.rmtree(staging, ignore_errors=True)
    return export_dir


def load_export(export_dir):
    """Load an exported SavedModel, naming the fix when the folder is not one."""
    if not os.path.isfile(os.path.join(export_dir, "saved_model.pb")):
        raise UserInputError(
            f"{export_dir!r} is not a SavedModel export; run `gan-apps export RUN_DIR` first"
        )
    return tf.saved_model.load(export_dir)
