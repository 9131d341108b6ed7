"""The model base (gan_apps.training): loss scaling of every optimizer of every model,
multi-worker-safe logs from every train step, and the update idiom against a hand
computation."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from gan_apps import registry, training
from gan_apps.models import classifiers, cyclegan, presets, srresnet

NUM_CLASSES = 3
# Every registered model, plus the models of the other pipelines.
MODELS = (*registry.MODELS, "cyclegan", "srgan", "srresnet", "pgd")


def resolution(name):
    return 8 if name in ("progan", "vae") else 16


def build(name, seed=0):
    """A tiny compiled model called ``name``, with plain (unscaled) optimizers."""
    if name == "cyclegan":
        return cyclegan.build_cyclegan(channels=1, crop_size=32, ngf=4, ndf=4, n_blocks=1,
                                       pool_size=2, seed=seed)
    if name in ("srgan", "srresnet"):
        generator = srresnet.srresnet_generator(2, 1, num_blocks=1, filters=4)
        discriminator = (srresnet.srgan_discriminator(16, 1, filters=4, dense_units=8)
                         if name == "srgan" else None)
        model = srresnet.SRGAN(generator, discriminator)
        model.compile(g_optimizer=keras.optimizers.Adam(1e-4),
                      d_optimizer=keras.optimizers.Adam(1e-4) if discriminator else None)
        return model
    if name == "pgd":
        classifier = classifiers.cnn_classifier(8, 1, NUM_CLASSES, 4, seed=seed)
        trainer = classifiers.PGDTrainer(classifier, eps=0.3, step_size=0.1, steps=1, seed=seed)
        trainer.compile(optimizer=keras.optimizers.Adam(1e-3))
        return trainer
    labelled = registry.MODELS[name].needs_labels
    return presets.build_model(name, resolution=resolution(name), channels=1, width=4,
                               seed=seed, num_classes=NUM_CLASSES if labelled else None)


def batch(name):
    """One training batch for ``build(name)``: 10 examples (a multiple of every n_critic)."""
    rng = np.random.default_rng(0)
    if name == "cyclegan":
        a, b = (rng.uniform(-1, 1, (2, 32, 32, 1)).astype("float32") for _ in range(2))
        return a, b
    if name in ("srgan", "srresnet"):
        return (rng.uniform(-1, 1, (2, 8, 8, 1)).astype("float32"),
                rng.uniform(-1, 1, (2, 16, 16, 1)).astype("float32"))
    size = 8 if name == "pgd" else resolution(name)
    images = tf.constant(rng.uniform(-1, 1, (10, size, size, 1)).astype("float32"))
    labels = tf.constant(rng.integers(0, NUM_CLASSES, 10).astype("int32"))
    labelled = name == "pgd" or registry.MODELS[name].needs_labels
    return (images, labels) if labelled else images


def held_optimizers(model):
    """Every optimizer the model holds, found by looking at all its attributes."""
    found = [value for value in vars(model).values()
             if isinstance(value, keras.optimizers.Optimizer)]
    if isinstance(getattr(model, "optimizer", None), keras.optimizers.Optimizer):
        found.append(model.optimizer)
    return list({id(o): o for o in found}.values())


@pytest.fixture
def mixed_float16():
    previous = keras.mixed_precision.global_policy()
    keras.mixed_precision.set_global_policy("mixed_float16")
    yield
    keras.mixed_precision.set_global_policy(previous)


@pytest.mark.parametrize("name", MODELS)
def test_mixed_float16_loss_scales_every_optimizer(name, mixed_float16):
    model = build(name)
    optimizers = held_optimizers(model)
    assert optimizers, name
    for optimizer in optimizers:
        assert isinstance(optimizer, keras.optimizers.LossScaleOptimizer), (name, optimizer)
    # Every optimizer in the checkpoint is one of them, so resume restores the loss scale.
    in_checkpoint = [v for v in model.checkpoint_items().values()
                     if isinstance(v, keras.optimizers.Optimizer)]
    assert {id(o) for o in in_checkpoint} == {id(o) for o in optimizers}


@pytest.mark.filterwarnings("ignore:Gradients do not exist")  # progan's other stages
@pytest.mark.parametrize("name", MODELS)
def test_train_step_logs_are_length_one_vectors_under_multi_worker(name, monkeypatch):
    """Keras reduces multi-worker step outputs along axis 0 (scalars fail; see step_logs)."""
    model = build(name)
    single = model.train_step(batch(name))
    assert all(np.shape(value) == () for value in single.values()), name
    monkeypatch.setattr(training, "multi_worker", lambda: True)
    logs = model.train_step(batch(name))
    assert set(logs) == {m.name for m in model.metrics} == set(single)
    for key, value in logs.items():
        assert np.shape(value) == (1,), (name, key)
        assert np.isfinite(np.asarray(value)).all(), (name, key)


@pytest.mark.parametrize("name", MODELS)
def test_config_compile_config_and_checkpoint_items_round_trip(name):
    model = build(name)
    clone = type(model).from_config(model.get_config())
    assert list(clone.networks()) == list(model.networks())
    for key, network in model.networks().items():
        shapes = [w.shape for w in network.weights]
        assert [w.shape for w in clone.networks()[key].weights] == shapes
    clone.compile_from_config(model.get_compile_config())
    assert {n: type(o) for n, o in clone.optimizers().items()} == \
        {n: type(o) for n, o in model.optimizers().items()}
    items = model.checkpoint_items()
    expected = {*model.networks(), *model.optimizers(), *model.EXTRA_STATE}
    if getattr(model, "seed_generator", None) is not None:
        expected.add("seed_state")
    assert set(items) == expected


def test_apply_update_is_one_sgd_step_and_records_the_gradient_norm():
    # loss = sum(w^2): gradient 2w = (2, 4), |g| = sqrt(20); SGD(0.1): w <- w - 0.1 g.
    for optimizer in (keras.optimizers.SGD(0.1),
                      keras.optimizers.LossScaleOptimizer(keras.optimizers.SGD(0.1),
                                                          initial_scale=8.0)):
        w = keras.Variable(np.array([1.0, 2.0], "float32"))
        optimizer.build([w])
        tracker = keras.metrics.Mean()
        with tf.GradientTape() as tape:
            loss = tf.reduce_sum(tf.square(w.value))
        grads = training.apply_update(tape, loss, [w], optimizer, tracker)
        np.testing.assert_allclose(w.numpy(), [0.8, 1.6], rtol=1e-6)
        # The returned gradient is of the scaled loss; the norm is of the true gradient.
        scale = 8.0 if isinstance(optimizer, keras.optimizers.LossScaleOptimizer) else 1.0
        np.testing.assert_allclose(np.asarray(grads[0]), [2.0 * scale, 4.0 * scale])
        assert float(tracker.result()) == pytest.approx(np.sqrt(20.0), rel=1e-6)


def test_apply_update_inside_a_function_matches_eager():
    w = keras.Variable(np.array([0.5, -1.5], "float32"))
    optimizer = keras.optimizers.SGD(0.25)
    optimizer.build([w])

    @tf.function
    def step():
        with tf.GradientTape() as tape:
            loss = tf.reduce_sum(w.value ** 3)
        training.apply_update(tape, loss, [w], optimizer)

    step()
    np.testing.assert_allclose(w.numpy(), [0.5 - 0.25 * 0.75, -1.5 - 0.25 * 6.75], rtol=1e-6)


def test_compile_checks_one_optimizer_per_network():
    model = build("srresnet")
    with pytest.raises(ValueError, match="has no discriminator; drop d_optimizer"):
        model.compile(g_optimizer=keras.optimizers.Adam(), d_optimizer=keras.optimizers.Adam())
    gan = build("dcgan")
    with pytest.raises(ValueError, match="needs a d_optimizer"):
        gan.compile(g_optimizer=keras.optimizers.Adam(), d_optimizer=None)
    shared = keras.optimizers.Adam()
    with pytest.raises(ValueError, match="separate optimizers"):
        build("cyclegan").compile(g_optimizer=shared, d_optimizer=shared)
    with pytest.raises(TypeError, match="g_optimizer, d_optimizer, not optimizer"):
        training.TrainableModel.compile(gan, optimizer=shared)


def test_update_trackers_rejects_unknown_names():
    model = build("gmmn")
    model.update_trackers({"g_loss": 2.0})
    assert float(model.g_loss_tracker.result()) == 2.0
    with pytest.raises(KeyError):
        model.update_trackers({"no_such_log": 1.0})


@pytest.mark.parametrize("name", ["dcgan", "wgan_gp", "acgan", "mmdgan"])
def test_learning_rate_flags_replace_each_players_rate(name):
    labelled = registry.MODELS[name].needs_labels
    model = presets.build_model(name, resolution=16, channels=1, width=4, seed=0,
                                num_classes=NUM_CLASSES if labelled else None,
                                g_lr=3e-4, d_lr=5e-5)
    assert float(model.g_optimizer.learning_rate) == pytest.approx(3e-4)
    assert float(model.d_optimizer.learning_rate) == pytest.approx(5e-5)


def test_learning_rate_flag_refused_for_a_model_without_that_player():
    from gan_apps.errors import UserInputError

    with pytest.raises(UserInputError, match="--d-lr is not available for --model gmmn"):
        presets.build_model("gmmn", resolution=16, channels=1, width=4, seed=0, d_lr=1e-4)


def test_n_critic_flag_sets_the_critic_updates_of_a_training_run(tmp_path, monkeypatch):
    """``--n-critic 3`` on dcgan (paper: 1): one epoch of 2 steps makes 6 critic and 2
    generator updates, each critic update on a batch of 4 (the step's 12 rows, interleaved)."""
    import json
    import os

    from gan_apps.pipelines import generation

    counts = {}

    class Count(keras.callbacks.Callback):
        def on_train_end(self, logs=None):
            counts["d"] = int(self.model.d_optimizer.iterations)
            counts["g"] = int(self.model.g_optimizer.iterations)

    original = presets.GAN.discriminator_step

    def recording_step(self, real, *args, **kwargs):
        counts.setdefault("critic_rows", set()).add(int(real.shape[0]))
        return original(self, real, *args, **kwargs)

    monkeypatch.setattr(presets.GAN, "discriminator_step", recording_step)
    out = generation.train(out=str(tmp_path / "run"), model="dcgan", n_critic=3, epochs=1,
                           steps=2, batch_size=4, width=4, eval_every=0, verbose=0,
                           callbacks=[Count()])
    with open(os.path.join(out, "config.json")) as f:
        assert json.load(f)["n_critic"] == 3
    assert (counts["d"], counts["g"], counts["critic_rows"]) == (6, 2, {4})


def test_n_critic_flag_refused_for_a_model_without_a_discriminator():
    from gan_apps.errors import UserInputError

    with pytest.raises(UserInputError, match="--n-critic is not available for --model vae"):
        presets.build_model("vae", resolution=8, channels=1, width=4, seed=0, n_critic=2)
    with pytest.raises(UserInputError, match="--n-critic must be >= 1, got 0"):
        presets.build_model("dcgan", resolution=16, channels=1, width=4, seed=0, n_critic=0)
    assert presets.build_model("dcgan", resolution=16, channels=1, width=4, seed=0,
                               n_critic=3).n_critic == 3


def test_unroll_flags_set_the_look_ahead_of_a_training_run(tmp_path):
    """``--unroll-steps 2 --unroll-order first`` reach the unrolled GAN that ``fit`` trains
    and are recorded in config.json (a resume must keep them); without them the model keeps
    the paper's K = 5, second order."""
    import json
    import os

    from gan_apps.pipelines import generation

    seen = {}

    class Look(keras.callbacks.Callback):
        def on_train_end(self, logs=None):
            seen["k"] = self.model.unroll_steps
            seen["second_order"] = self.model.second_order

    out = generation.train(out=str(tmp_path / "run"), model="unrolled", data="ring8",
                           unroll_steps=2, unroll_order="first", epochs=1, steps=2,
                           batch_size=8, eval_every=0, verbose=0, callbacks=[Look()])
    with open(os.path.join(out, "config.json")) as f:
        config = json.load(f)
    assert (config["unroll_steps"], config["unroll_order"]) == (2, "first")
    assert seen == {"k": 2, "second_order": False}
    assert presets.build_model("unrolled", data_kind="points", seed=0).second_order
    assert presets.build_model("unrolled", data_kind="points", seed=0).unroll_steps == 5
    assert presets.build_model("unrolled", data_kind="points", seed=0,
                               unroll_steps=0).unroll_steps == 0


def test_unroll_flags_refused_for_models_that_do_not_unroll():
    from gan_apps.errors import UserInputError

    for name in ("dcgan", "gmmn"):
        with pytest.raises(UserInputError, match=f"--unroll-steps is not available for --model {name}"):
            presets.build_model(name, resolution=16, channels=1, width=4, seed=0, unroll_steps=1)
        with pytest.raises(UserInputError, match=f"--unroll-order is not available for --model {name}"):
            presets.build_model(name, resolution=16, channels=1, width=4, seed=0,
                                unroll_order="first")
    with pytest.raises(UserInputError, match="--unroll-order must be one of first, second"):
        presets.build_model("unrolled", data_kind="points", seed=0, unroll_order="third")
