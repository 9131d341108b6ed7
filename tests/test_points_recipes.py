"""The 2-D mixtures' recipes (gan_apps.registry.POINTS_RECIPES) and the options they use:
``--ema 0`` and ``--zero-gp`` (a zero-centred gradient penalty), hand-built cases only."""

from __future__ import annotations

import argparse

import numpy as np
import pytest

from gan_apps import commands, penalties, registry
from gan_apps import data as data_lib
from gan_apps.cli import build_parser
from gan_apps.errors import UserInputError
from gan_apps.models import presets
from gan_apps.pipelines import generation


def _config(data="ring8", **given):
    source = data_lib.image_source(data)
    info = data_lib.source_info(source, channels=None, data_dir=None)
    return generation.run_config(commands.settings("gan", "train", given), source, info)


def test_every_preset_trains_on_points_with_its_recipe_unless_told_otherwise():
    assert set(registry.POINTS_RECIPES) == set(presets.PRESETS)
    for name in presets.PRESETS:
        recipe = registry.MODELS[name].recipe(registry.POINTS)
        assert recipe == registry.POINTS_RECIPES[name]
        for data in ("ring8", "grid25"):
            config = _config(data, model=name)
            assert (config["epochs"], config["steps"]) == (recipe["epochs"], recipe["steps"])
            assert (config["g_lr"], config["d_lr"]) == (recipe["g_lr"], recipe["d_lr"])
            assert config["ema"] == recipe["ema"] == 0.999
            assert config["zero_gp"] == recipe.get("zero_gp")
            assert config["batch_size"] == generation.DEFAULTS["points"]["batch_size"] == 256
            assert config["steps_per_execution"] == recipe["steps_per_execution"] == 50
            assert config["n_critic"] == recipe.get("n_critic")
            assert config["gp_weight"] == recipe.get("gp_weight")
    # Each preset keeps its trait: the Wasserstein critics get no zero-centred penalty.
    assert "zero_gp" not in registry.POINTS_RECIPES["wgan"]
    assert "zero_gp" not in registry.POINTS_RECIPES["wgan_gp"]
    assert registry.POINTS_RECIPES["dcgan"]["zero_gp"] == 1.0
    # SN-GAN's critic takes five updates per generator update on points, one on images.
    assert _config("grid25", model="sngan")["n_critic"] == 5
    assert _config("digits", model="sngan")["n_critic"] is None
    assert _config("grid25", model="sngan", n_critic=1)["n_critic"] == 1
    # WGAN-GP's toy-data lambda on points, the paper's 10 on images.
    assert _config("grid25", model="wgan_gp")["gp_weight"] == 0.1
    assert _config("digits", model="wgan_gp")["gp_weight"] is None


def test_the_papers_form_is_selectable_and_images_are_untouched():
    paper = _config(model="dcgan", ema=0, zero_gp=0, g_lr=2e-4, d_lr=2e-4, steps=100,
                    epochs=10)
    assert (paper["ema"], paper["zero_gp"]) == (None, None)
    assert (paper["g_lr"], paper["d_lr"], paper["steps"], paper["epochs"]) == (2e-4, 2e-4, 100, 10)
    other = _config(model="wgan", ema=0.99, zero_gp=0.5)
    assert (other["ema"], other["zero_gp"]) == (0.99, 0.5)
    digits = _config("digits", model="dcgan")
    assert (digits["ema"], digits["zero_gp"], digits["steps"]) == (None, None, None)
    assert digits["steps_per_execution"] == 1
    assert _config(model="dcgan", steps_per_execution=1)["steps_per_execution"] == 1
    assert _config(model="sngan", steps_per_execution=7)["steps_per_execution"] == 7


def test_ema_accepts_zero_as_off_and_refuses_one():
    assert commands.DECAY("0") == 0.0 and commands.DECAY("0.999") == 0.999
    for bad in ("1", "-0.1", "nan"):
        with pytest.raises(argparse.ArgumentTypeError, match="0 .off. or a number between"):
            commands.DECAY(bad)
    parsed = build_parser().parse_args(["train", "--data", "ring8", "--ema", "0",
                                        "--zero-gp", "0"])
    assert (parsed.ema, parsed.zero_gp) == (0.0, 0.0)


def _zero_centred(model):
    return [p for p in model.penalties
            if isinstance(p, penalties.GradientPenalty) and p.target == 0.0]


def test_zero_gp_adds_one_zero_centred_penalty_beside_the_presets_own():
    plain = presets.build_model("dcgan", data_kind="points", width=8, seed=0)
    assert not _zero_centred(plain)
    dcgan = presets.build_model("dcgan", data_kind="points", width=8, seed=0, zero_gp=1.0)
    (penalty,) = _zero_centred(dcgan)
    assert penalty.weight == 1.0 and not penalty.one_sided
    wgan_gp = presets.build_model("wgan_gp", data_kind="points", width=8, seed=0, zero_gp=0.5)
    targets = sorted((p.target, p.weight) for p in wgan_gp.penalties
                     if isinstance(p, penalties.GradientPenalty))
    assert targets == [(0.0, 0.5), (1.0, 10.0)]
    with pytest.raises(UserInputError, match="--zero-gp is not available for --model gmmn"):
        presets.build_model("gmmn", data_kind="points", width=8, seed=0, zero_gp=1.0)


def test_resume_with_another_zero_gp_or_ema_is_refused(tmp_path):
    out = str(tmp_path / "run")
    options = dict(model="dcgan", data="ring8", out=out, seed=0, steps=2, epochs=1, width=8,
                   eval_every=0, verbose=0)
    generation.train(**options)
    for change in ({"zero_gp": 0.5}, {"ema": 0}):
        with pytest.raises(UserInputError, match=next(iter(change))):
            generation.train(**{**options, "epochs": 2, **change})


def test_clip_value_replaces_the_clipping_bound_and_clips_to_it():
    def bounds(model):
        return [p.clip_value for p in model.penalties if isinstance(p, penalties.WeightClipping)]

    assert bounds(presets.build_model("wgan", data_kind="points", width=8, seed=0)) == [0.01]
    model = presets.build_model("wgan", data_kind="points", width=8, seed=0, clip_value=0.1)
    assert bounds(model) == [0.1]
    # The update clips to the new bound: every critic weight inside [-0.1, 0.1], and some at it.
    for variable in model.discriminator.trainable_variables:
        variable.assign(variable * 0.0 + 0.5)
    for penalty in model.penalties:
        penalty.after_discriminator_update(model.discriminator)
    values = np.concatenate([np.ravel(v.numpy()) for v in model.discriminator.trainable_variables])
    assert np.allclose(values, 0.1)
    with pytest.raises(UserInputError, match="--clip-value is not available for --model wgan_gp"):
        presets.build_model("wgan_gp", data_kind="points", width=8, seed=0, clip_value=0.1)
    assert build_parser().parse_args(["train", "--clip-value", "0.05"]).clip_value == 0.05
    with pytest.raises(SystemExit):
        build_parser().parse_args(["train", "--clip-value", "0"])


def test_gp_weight_replaces_the_models_own_penalty_weight_only():
    def weights(model):
        return sorted((p.target, p.weight) for p in model.penalties
                      if isinstance(p, penalties.GradientPenalty))

    paper = presets.build_model("wgan_gp", data_kind="points", width=8, seed=0)
    assert weights(paper) == [(1.0, 10.0)]
    toy = presets.build_model("wgan_gp", data_kind="points", width=8, seed=0, gp_weight=0.1,
                              zero_gp=0.5)
    assert weights(toy) == [(0.0, 0.5), (1.0, 0.1)]
    with pytest.raises(UserInputError, match="--gp-weight is not available for --model dcgan"):
        presets.build_model("dcgan", data_kind="points", width=8, seed=0, gp_weight=1.0)
    parsed = build_parser().parse_args(["train", "--data", "ring8", "--gp-weight", "0.5"])
    assert parsed.gp_weight == 0.5
    with pytest.raises(SystemExit):
        build_parser().parse_args(["train", "--gp-weight", "0"])
