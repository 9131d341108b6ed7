"""What a generator takes as input, described as data so a saved generator can be sampled
and exported without the training wrapper that built it.

A *latent spec* is a list of dicts, one per generator input, in the generator's input order:

- ``{"name": "z", "kind": "normal", "dim": D}``: float32 [B, D] drawn from N(0, I);
- ``{"name": "label", "kind": "class", "num_classes": K}``: int32 [B] class indices
  (conditional GANs, AC-GAN, InfoGAN's categorical code);
- ``{"name": "code", "kind": "uniform", "dim": D}``: float32 [B, D] drawn from U(-1, 1)
  (InfoGAN's continuous codes).

Every model of the toolkit exposes ``latent_spec()``; the training pipeline stores it in
the run's ``config.json``; sampling, evaluation and export read it back from there.
"""

from __future__ import annotations

import numbers

import numpy as np

KINDS = ("normal", "class", "uniform")


def unconditional_spec(latent_dim):
    """The spec of a generator ``z -> x``."""
    return [{"name": "z", "kind": "normal", "dim": int(latent_dim)}]


def check_spec(spec):
    """Raise ValueError unless ``spec`` is a well-formed latent spec; return it as a list."""
    spec = list(spec)
    if not spec:
        raise ValueError("a latent spec needs at least one input")
    for entry in spec:
        kind = entry.get("kind")
        if kind not in KINDS:
            raise ValueError(f"latent input kind must be one of {KINDS}, got {kind!r}")
        size = entry.get("num_classes" if kind == "class" else "dim")
        if not isinstance(size, (int, np.integer)) or size < 1:
            raise ValueError(f"latent input {entry.get('name')!r} needs a positive size, got {size!r}")
    return spec


def class_input(spec):
    """Index of the first class input in ``spec`` (the label of a conditional model), or None."""
    for index, entry in enumerate(spec):
        if entry["kind"] == "class":
            return index
    return None


def sample_inputs(spec, num, rng, labels=None, truncation=None):
    """Draw ``num`` generator inputs following ``spec`` with a numpy Generator ``rng``.

    Args:
        labels: int array [num] for the first class input; default cycles 0..K-1 so every
            class appears equally often (class inputs after the first are drawn uniformly).
        truncation: if set, normal inputs are redrawn until every entry lies within
            [-truncation, truncation] (the truncation trick, Brock et al. 2019, Sec. 3.1).

    Returns:
        A list of arrays in the generator's input order.
    """
    spec = check_spec(spec)
    first_class = class_input(spec)
    inputs = []
    for index, entry in enumerate(spec):
        if entry["kind"] == "normal":
            inputs.append(truncated_normal(rng, (num, entry["dim"]), truncation))
        elif entry["kind"] == "uniform":
            inputs.append(rng.uniform(-1.0, 1.0, size=(num, entry["dim"])).astype(np.float32))
        elif index == first_class and labels is not None:
            labels = np.asarray(labels, dtype=np.int32).reshape(-1)
            if len(labels) != num:
                raise ValueError(f"expected {num} labels, got {len(labels)}")
            if labels.min() < 0 or labels.max() >= entry["num_classes"]:
                raise ValueError(
                    f"labels must lie in [0, {entry['num_classes'] - 1}], got {labels.min()}..{labels.max()}"
                )
            inputs.append(labels)
        elif index == first_class:
            inputs.append((np.arange(num) % entry["num_classes"]).astype(np.int32))
        else:
            inputs.append(rng.integers(0, entry["num_classes"], size=num).astype(np.int32))
    return inputs


# Redraw rounds of the tensor sampler before the (then negligible) rest is clipped.
MAX_TRUNCATION_ROUNDS = 1000


def truncated_normal(source, shape, truncation=None):
    """float32 N(0, 1) samples of ``shape`` with every entry |x| > t redrawn: the truncation
    trick of Brock et al. 2019, Sec. 3.1 (sampling closer to the mode trades variety for
    fidelity).

    ``source`` picks the random numbers and the kind of result:

    - a numpy ``Generator``: a numpy array; the entries outside [-t, t] are redrawn from
      ``rng.standard_normal`` until none is left (what ``gan-apps sample`` uses);
    - a function ``draw(shape)`` returning a float32 N(0, 1) tensor (``tf.random.normal``,
      or a model's seeded latent sampler): a tensor, built from TensorFlow ops only so that
      it runs inside a ``tf.function`` (the exported ``sample`` endpoint). Each round draws a
      whole new block and keeps it where the old entry was outside; after
      ``MAX_TRUNCATION_ROUNDS`` rounds (each leaving P(|N(0, 1)| > t) of the entries) the
      rest is clipped to [-t, t]. ``truncation`` may be a scalar tensor, where <= 0 means
      no truncation (a serving signature has no None).

    ``truncation`` None draws plain N(0, 1); a Python number must be > 0.
    """
    if isinstance(truncation, numbers.Real) and not truncation > 0:
        raise ValueError(f"truncation must be > 0, got {truncation}")
    if callable(source):
        return _truncated_normal_tensor(source, shape, truncation)
    values = source.standard_normal(size=shape).astype(np.float32)
    if truncation is None:
        return values
    outside = np.abs(values) > truncation
    while outside.any():
        values[outside] = source.standard_normal(size=int(outside.sum())).astype(np.float32)
        outside = np.abs(values) > truncation
    return values


def _truncated_normal_tensor(draw, shape, truncation):
    import tensorflow as tf

    z = draw(shape)
    if truncation is None:
        return z
    truncation = tf.cast(truncation, z.dtype)

    def outside(values):
        return tf.logical_and(truncation > 0.0, tf.abs(values) > truncation)

    def redraw(i, values):
        return i + 1, tf.where(outside(values), draw(shape), values)

    _, z = tf.while_loop(
        lambda i, values: tf.logical_and(i < MAX_TRUNCATION_ROUNDS, tf.reduce_any(outside(values))),
        redraw, (tf.constant(0), z),
    )
    return tf.where(truncation > 0.0, tf.clip_by_value(z, -tf.abs(truncation), tf.abs(truncation)), z)


def generate(generator, inputs, batch_size=500):
    """Run ``generator`` over a list of input arrays in batches; float32 numpy out."""
    num = len(inputs[0])
    parts = []
    for start in range(0, num, batch_size):
        chunk = [x[start:start + batch_size] for x in inputs]
        parts.append(np.asarray(generator(chunk if len(chunk) > 1 else chunk[0], training=False)))
    return np.concatenate(parts)
