"""Unrestricted adversarial examples (Song et al. 2018): loss terms, batched search, CLI."""

import json
import os

import keras
import numpy as np
import pytest

from gan_apps import cli, data as data_lib, runs
from gan_apps.models.acgan import acgan_discriminator
from gan_apps.models.classifiers import cnn_classifier
from gan_apps.pipelines import adversarial

LATENT = 8
RES = 8


def _log_softmax(x):
    x = x - x.max(-1, keepdims=True)
    return x - np.log(np.exp(x).sum(-1, keepdims=True))


def test_loss_terms_match_a_hand_computation():
    rng = np.random.default_rng(0)
    f_logits = rng.normal(size=(4, 5)).astype(np.float32) * 3
    c_logits = rng.normal(size=(4, 5)).astype(np.float32) * 3
    z0 = rng.normal(size=(4, 6)).astype(np.float32)
    z = z0 + rng.normal(scale=0.2, size=(4, 6)).astype(np.float32)
    source, target = np.array([0, 1, 2, 3]), np.array([4, 0, 1, 2])
    adv, close, aux = (np.asarray(t) for t in adversarial.song_loss_terms(
        f_logits, c_logits, z, z0, source, target, eps=0.1))
    rows = np.arange(4)
    np.testing.assert_allclose(adv, -_log_softmax(f_logits)[rows, target], rtol=1e-5)
    # The reference code's squared hinge by default (generative_adversary main.py).
    np.testing.assert_allclose(close, np.maximum((z - z0) ** 2 - 0.01, 0).mean(-1), rtol=1e-5)
    np.testing.assert_allclose(aux, -_log_softmax(c_logits)[rows, source], rtol=1e-5)
    # Untargeted: the easiest wrong class, min over t != s of -log f(t | x).
    untargeted = np.asarray(adversarial.song_loss_terms(f_logits, c_logits, z, z0, source,
                                                        eps=0.1)[0])
    nll = -_log_softmax(f_logits)
    nll[rows, source] = np.inf
    np.testing.assert_allclose(untargeted, nll.min(-1), rtol=1e-5)


def test_closeness_forms_against_a_hand_computation():
    """z0 = 0, z = [0.3, -0.05, 0, 1], eps 0.1: the reference's squared hinge
    mean(max(d^2 - eps^2, 0)) = mean(0.08, 0, 0, 0.99) = 0.2675; the paper's L1 hinge
    mean(max(|d| - eps, 0)) = mean(0.2, 0, 0, 0.9) = 0.275."""
    z, z0 = np.array([[0.3, -0.05, 0.0, 1.0]], np.float32), np.zeros((1, 4), np.float32)
    assert float(adversarial.closeness_term(z, z0, 0.1)[0]) == pytest.approx(0.2675, abs=1e-6)
    assert float(adversarial.closeness_term(z, z0, 0.1, "l1")[0]) == pytest.approx(0.275, abs=1e-6)
    with pytest.raises(adversarial.UserInputError, match="--closeness"):
        adversarial.closeness_term(z, z0, 0.1, "l2")


def _tiny_generator():
    """``[z, label] -> 8x8 images``: one dense tanh layer on z and a label embedding, whose
    output moves with z far more than an untrained DCGAN's (BatchNorm at inference)."""
    z = keras.Input((LATENT,))
    label = keras.Input((), dtype="int32")
    joint = keras.layers.Concatenate()([z, keras.layers.Embedding(10, 4)(label)])
    images = keras.layers.Dense(RES * RES, activation="tanh")(joint)
    return keras.Model([z, label], keras.layers.Reshape((RES, RES, 1))(images))


@pytest.fixture(scope="module")
def pair():
    """A tiny generator/critic and a classifier trained briefly on 8x8 digits."""
    keras.utils.set_random_seed(0)
    generator = _tiny_generator()
    discriminator = acgan_discriminator(RES, 1, 10, width=8, norm="layer", seed=0)
    images, labels = data_lib.load_arrays("digits", resolution=RES, split="train")
    classifier = cnn_classifier(RES, 1, 10, width=8, seed=0)
    classifier.compile(optimizer=keras.optimizers.Adam(3e-3),
                       loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    classifier.fit(images, labels, batch_size=64, epochs=3, verbose=0)
    return generator, discriminator, classifier


def _aux(discriminator):
    return lambda images, training=False: discriminator(images, training=False)[1]


def _target_probability(classifier, images, target):
    return np.exp(_log_softmax(np.asarray(classifier(images))))[np.arange(len(images)), target]


def test_short_attack_raises_the_target_probability(pair):
    generator, discriminator, classifier = pair
    z0 = np.random.default_rng(0).normal(size=(6, LATENT)).astype(np.float32)
    source, target = np.full(6, 3), np.full(6, 8)
    result = adversarial.search(generator, _aux(discriminator), classifier, z0, source, target,
                                steps=40, learning_rate=0.1, lambda2=0.0, eps=1.0)
    before = _target_probability(classifier, result["initial"], target)
    after = _target_probability(classifier, result["adversarial"], target)
    assert after.mean() > before.mean() + 0.05
    assert np.all(after > before)


def test_batch_is_one_search_with_the_results_of_separate_searches(pair):
    generator, discriminator, classifier = pair
    z0 = np.random.default_rng(1).normal(size=(3, LATENT)).astype(np.float32)
    source, target = np.array([1, 4, 7]), np.array([7, 9, 2])
    kwargs = dict(steps=5, learning_rate=0.05, noise=0.05)
    batched = adversarial.search(generator, _aux(discriminator), classifier, z0, source, target,
                                 **kwargs)
    assert batched["z"].shape == (3, LATENT)
    for i in range(3):
        alone = adversarial.search(generator, _aux(discriminator), classifier, z0[i:i + 1],
                                   source[i:i + 1], target[i:i + 1], **kwargs)
        np.testing.assert_allclose(alone["z"][0], batched["z"][i], atol=1e-5)
        np.testing.assert_allclose(alone["adversarial"][0], batched["adversarial"][i], atol=1e-5)


class _ConstantGenerator:
    """``[z, label] -> the same image`` for every z (exactly: z enters times 0.0)."""

    def __init__(self, image):
        self.image = image
        self.output = keras.KerasTensor((None, *image.shape))

    def __call__(self, inputs, training=False):
        z = keras.ops.convert_to_tensor(inputs[0])
        return self.image[None] + 0.0 * keras.ops.reshape(keras.ops.sum(z, -1), (-1, 1, 1, 1))


def test_noise_reaches_only_the_attacked_classifier_not_the_auxiliary_one():
    """Song et al.'s reference (generative_adversary main.py) takes the AC-GAN's logits on
    the clean G(z, s) and adds the noise only for f: every image the auxiliary classifier
    sees, in the search and in the scoring, must be exactly the clean one."""
    import tensorflow as tf

    rng = np.random.default_rng(0)
    clean = rng.uniform(-0.5, 0.5, size=(RES, RES, 1)).astype(np.float32)
    w_f = rng.normal(size=(RES * RES, 10)).astype(np.float32)
    w_c = rng.normal(size=(RES * RES, 10)).astype(np.float32)
    seen = []

    def record(images):
        seen.append(np.array(images))
        return np.float32(0.0)

    def aux(images, training=False):
        logged = tf.reshape(tf.numpy_function(record, [images], tf.float32), [])
        flat = keras.ops.reshape(images, (-1, RES * RES))
        return keras.ops.matmul(flat, w_c) + 0.0 * tf.stop_gradient(logged)

    def classifier(images, training=False):
        return keras.ops.matmul(keras.ops.reshape(images, (-1, RES * RES)), w_f)

    z0 = rng.normal(size=(3, LATENT)).astype(np.float32)
    source, target = np.array([1, 4, 7]), np.array([7, 9, 2])
    result = adversarial.search(_ConstantGenerator(clean), aux, classifier, z0, source, target,
                                steps=4, learning_rate=0.1, noise=0.5)
    assert not np.allclose(result["adversarial"], result["clean"])  # f did see noise
    result["z0"] = z0
    adversarial._outcome(result, source, target, classifier, aux)
    assert len(seen) >= 4 + 2  # every step, the final terms, the scoring
    for images in seen:
        np.testing.assert_array_equal(images, np.broadcast_to(clean, images.shape))
    # Without noise, f and c see the same image.
    plain = adversarial.search(_ConstantGenerator(clean), aux, classifier, z0, source, target,
                               steps=1)
    np.testing.assert_array_equal(plain["adversarial"], plain["clean"])


def _classifier_folder(path, model):
    runs.save_model(model, os.path.join(path, "classifier.keras"))
    runs.write_json(os.path.join(path, "config.json"), {"kind": "classifier", "split": "half-a"})
    return str(path)


@pytest.fixture(scope="module")
def folders(tmp_path_factory, pair):
    generator, discriminator, classifier = pair
    run = tmp_path_factory.mktemp("acgan")
    runs.save_model(generator, str(run / "generator.keras"))
    runs.save_model(discriminator, str(run / "discriminator.keras"))
    runs.write_json(str(run / "config.json"), {
        "kind": "gan", "model": "acgan", "data": "digits", "resolution": RES, "channels": 1,
        "latent_dim": LATENT,
        "latent_spec": [{"name": "z", "kind": "normal", "dim": LATENT},
                        {"name": "label", "kind": "class", "num_classes": 10}]})
    return {
        "run": str(run),
        "clf": _classifier_folder(tmp_path_factory.mktemp("clf"), classifier),
        "wide": _classifier_folder(tmp_path_factory.mktemp("wide"), cnn_classifier(16, 1, 10, 4)),
        "five": _classifier_folder(tmp_path_factory.mktemp("five"), cnn_classifier(RES, 1, 5, 4)),
    }


@pytest.mark.parametrize("flags,message", [
    (["--source", "3", "--target", "3"], "equals --source"),
    (["--source", "10", "--target", "3"], "0..9"),
    (["--source", "1", "--target", "-1"], "0..9"),
])
def test_bad_classes_exit_2(folders, capsys, flags, message):
    code = cli.main(["adversarial", "attack", folders["run"], "--classifier", folders["clf"], *flags])
    assert code == 2
    assert message in capsys.readouterr().err


@pytest.mark.parametrize("name,message", [("wide", "shape"), ("five", "5 classes")])
def test_mismatched_classifier_exits_2(folders, capsys, name, message):
    code = cli.main(["adversarial", "attack", folders["run"], "--classifier", folders[name],
                     "--source", "1", "--target", "2"])
    assert code == 2
    assert message in capsys.readouterr().err


def test_cli_attack_writes_grid_npz_and_metrics(folders, tmp_path):
    out = str(tmp_path / "attack")
    code = cli.main(["adversarial", "attack", folders["run"], "--classifier", folders["clf"],
                     "--evaluator", folders["clf"], "--source", "2", "--target", "5", "-n", "3",
                     "--steps", "3", "--out", out])
    assert code == 0
    with open(os.path.join(out, "metrics.json")) as f:
        metrics = json.load(f)
    assert metrics["num"] == 3 and 0.0 <= metrics["validity"] <= 1.0
    archive = np.load(os.path.join(out, "examples.npz"))
    assert archive["images"].shape == (3, RES, RES, 1) and archive["images"].dtype == np.uint8
    assert list(archive["source"]) == [2, 2, 2] and list(archive["target"]) == [5, 5, 5]
    assert os.path.getsize(os.path.join(out, "grid.png")) > 0


def test_cli_evaluate_pairs_with_pgd_baseline(folders, tmp_path):
    code = cli.main(["adversarial", "evaluate", folders["run"], "--classifier", folders["clf"],
                     "--evaluator", folders["clf"], "--pairs", "0:1,2:3", "-n", "2",
                     "--steps", "2", "--pgd-steps", "2", "--out", str(tmp_path)])
    assert code == 0
    with open(tmp_path / "adversarial_eval.json") as f:
        results = json.load(f)
    entry = results["classifiers"][folders["clf"]]
    assert set(entry["song_success_per_pair"]) == {"0:1", "2:3"}
    assert 0.0 <= entry["pgd"]["success_rate"] <= 1.0
    assert cli.main(["adversarial", "evaluate", folders["run"], "--classifier", folders["clf"],
                     "--evaluator", folders["clf"], "--pairs", "4:4"]) == 2


def test_cli_train_classifier_with_pgd(tmp_path):
    out = str(tmp_path / "pgd")
    code = cli.main(["adversarial", "train-classifier", "--out", out, "--resolution", "8",
                     "--width", "4", "--epochs", "1", "--adversarial", "pgd", "--pgd-steps", "1"])
    assert code == 0
    config = runs.read_config(out, kind="classifier")
    assert config["adversarial"] == "pgd" and config["split"] == "half-a"
    # Default radius 0.1 in [0, 1] units: 0.2 on the [-1, 1] images.
    assert config["pgd"]["eps"] == pytest.approx(0.2)


def test_classifier_splits_are_disjoint_halves():
    a, _ = adversarial.split_arrays("digits", "half-a", 8)
    b, _ = adversarial.split_arrays("digits", "half-b", 8)
    full, _ = adversarial.split_arrays("digits", "train", 8)
    assert len(a) + len(b) == len(full)
    flat_a = {img.tobytes() for img in a}
    assert sum(img.tobytes() in flat_a for img in b) < 0.05 * len(b)  # a few duplicate digits


def test_train_gan_reports_auxiliary_accuracy_and_fid(tmp_path):
    result = adversarial.train_gan(out=str(tmp_path / "run"), epochs=1, steps=1, batch_size=8,
                                   resolution=8, width=4, samples=20, verbose=0)
    assert 0.0 <= result["aux_accuracy_real"] <= 1.0 and 0.0 <= result["aux_accuracy_generated"] <= 1.0
    assert np.isfinite(result["fid"]) and result["objective"] == "non_saturating"  # the default
    assert runs.read_json(str(tmp_path / "run" / "adversarial_gan.json")) == result


def test_reports_warn_when_a_classifier_or_the_acgan_is_near_chance(capsys):
    from gan_apps import commands

    settings = {"pgd_eps": 0.3, "out": "clf", "adversarial": "pgd"}
    commands.print_classifier({"test_accuracy": 0.100, "pgd_test_accuracy": 0.1,
                               "num_classes": 10}, settings)
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 2 and lines[1].startswith("warning: ") and "--pgd-eps 0.1" in lines[1]
    commands.print_classifier({"test_accuracy": 0.950, "pgd_test_accuracy": 0.1,
                               "num_classes": 10}, settings)
    assert "warning" not in capsys.readouterr().out
    acgan = {"aux_accuracy_real": 0.9, "aux_accuracy_generated": 0.113, "fid": 339.0,
             "num_classes": 10}
    commands.print_acgan(acgan, {})
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 2 and lines[1].startswith("warning: ")
    assert "generated 0.113" in lines[1] and "--objective non_saturating" in lines[1]
    commands.print_acgan({**acgan, "aux_accuracy_generated": 1.0}, {})
    assert "warning" not in capsys.readouterr().out
