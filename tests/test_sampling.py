"""Latent specs: sampling inputs for any generator, and truncation."""

import numpy as np
import pytest

from gan_apps import sampling

SPEC = [
    {"name": "z", "kind": "normal", "dim": 5},
    {"name": "label", "kind": "class", "num_classes": 3},
    {"name": "code", "kind": "uniform", "dim": 2},
]


def test_inputs_follow_the_spec():
    z, label, code = sampling.sample_inputs(SPEC, 7, np.random.default_rng(0))
    assert z.shape == (7, 5) and z.dtype == np.float32
    np.testing.assert_array_equal(label, [0, 1, 2, 0, 1, 2, 0])
    assert code.shape == (7, 2) and np.all(np.abs(code) <= 1)


def test_given_labels_and_their_checks():
    _, label, _ = sampling.sample_inputs(SPEC, 3, np.random.default_rng(0), labels=[2, 2, 1])
    np.testing.assert_array_equal(label, [2, 2, 1])
    with pytest.raises(ValueError, match="lie in"):
        sampling.sample_inputs(SPEC, 2, np.random.default_rng(0), labels=[0, 3])
    with pytest.raises(ValueError, match="expected 2 labels"):
        sampling.sample_inputs(SPEC, 2, np.random.default_rng(0), labels=[0])


def test_same_seed_same_inputs():
    a = sampling.sample_inputs(SPEC, 4, np.random.default_rng(3))
    b = sampling.sample_inputs(SPEC, 4, np.random.default_rng(3))
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x, y)


def test_truncation_keeps_every_entry_within_the_threshold():
    values = sampling.truncated_normal(np.random.default_rng(0), (2000, 8), truncation=0.5)
    assert np.abs(values).max() <= 0.5
    # Resampling (not clipping): no pile-up at the threshold, the shape is a truncated normal
    # whose variance is 1 - 2 t phi(t) / (2 Phi(t) - 1) = 0.0793 at t = 0.5.
    assert np.mean(np.abs(values) > 0.499) < 0.01
    assert np.var(values) == pytest.approx(0.0793, rel=0.05)
    with pytest.raises(ValueError):
        sampling.truncated_normal(np.random.default_rng(0), (2,), truncation=0.0)


def test_bad_specs_are_rejected():
    for spec in ([], [{"name": "z", "kind": "cauchy", "dim": 2}], [{"name": "z", "kind": "normal", "dim": 0}]):
        with pytest.raises(ValueError):
            sampling.check_spec(spec)
    assert sampling.class_input(sampling.unconditional_spec(4)) is None
    assert sampling.class_input(SPEC) == 1


def test_tensor_truncation_runs_in_a_tf_function_and_treats_nonpositive_as_none():
    import tensorflow as tf

    @tf.function
    def draw(shape, truncation):
        return sampling.truncated_normal(tf.random.normal, shape, truncation)

    tf.random.set_seed(0)
    values = draw(tf.constant([1000, 4]), tf.constant(0.5)).numpy()
    assert values.shape == (1000, 4) and np.abs(values).max() <= 0.5
    assert np.var(values) == pytest.approx(0.0793, rel=0.15)
    plain = draw(tf.constant([1000, 4]), tf.constant(0.0)).numpy()
    assert np.abs(plain).max() > 2.0
    assert sampling.truncated_normal(tf.random.normal, (3, 2)).shape == (3, 2)
    with pytest.raises(ValueError):
        sampling.truncated_normal(tf.random.normal, (2,), truncation=-1.0)
