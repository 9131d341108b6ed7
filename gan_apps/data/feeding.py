"""The last stage of every training dataset the toolkit builds: a fixed prefetch buffer, with
tf.data's autotuner off.

Why not ``prefetch(tf.data.AUTOTUNE)``: the autotuner costs CPU on every batch, and now and
then it made steps wait for their input. In-memory batches need no tuning: two batches in
flight keep the model fed. Measured on this project's 2-core CPU machine (block
``input_autotune`` of docs/benchmarks.md, ``python tools/bench.py input``): the ring evidence
test's loop (MLPs, 100 steps per execution) 1.09-1.10x faster, ``gan-apps train --data ring8``
1.04-1.05x, the default digits job 1.00-1.05x; and that loop as the test runs it (one epoch of
8,000 steps, one thread) 84 s against 59 s, the autotuned run sitting idle for whole multiples
of a fixed period between executions. The batches are the same; without ``--deterministic``
two runs of one seed may end apart with either stage (the same block).
"""

import tensorflow as tf

PREFETCH_BATCHES = 2


def feed(dataset):
    """``dataset`` with ``PREFETCH_BATCHES`` batches prefetched and tf.data's autotuner off
    (options set here reach every stage upstream, so a ``map`` with
    ``num_parallel_calls=AUTOTUNE`` runs at tf.data's default parallelism)."""
    options = tf.data.Options()
    options.autotune.enabled = False
    return dataset.prefetch(PREFETCH_BATCHES).with_options(options)
