"""Compressed sensing with a generative prior (Bora et al. 2017): operators, recovery, baselines, CLI."""

import json
import os

import keras
import numpy as np
import pytest
from sklearn.linear_model import Lasso

from gan_apps import cli, runs
from gan_apps.errors import UserInputError
from gan_apps.export import export_generator
from gan_apps.models.vae import mlp_decoder
from gan_apps.pipelines import recovery
from gan_apps.pipelines import recovery_baselines as baselines

SHAPE = (8, 8, 1)
LATENT = 4


@pytest.fixture(scope="module")
def decoder():
    keras.utils.set_random_seed(0)
    return mlp_decoder(LATENT, 8, 1, hidden=(16,), seed=0)


@pytest.fixture(scope="module")
def prior(decoder):
    return recovery.Prior(lambda z: decoder(z, training=False), LATENT, SHAPE, "gan", {"data": "digits"})


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory, decoder):
    path = tmp_path_factory.mktemp("run")
    runs.save_model(decoder, str(path / "generator.keras"))
    runs.write_json(str(path / "config.json"),
                    {"kind": "vae", "data": "digits", "resolution": 8, "channels": 1,
                     "latent_spec": [{"name": "z", "kind": "normal", "dim": LATENT}]})
    return str(path)


@pytest.mark.parametrize("name,m", [("gaussian", 20), ("inpaint-random", 30),
                                    ("inpaint-block", 48), ("superres", 16), ("superres", 4)])
def test_operator_shape_and_adjoint(name, m):
    rng = np.random.default_rng(0)
    op = recovery.make_operator(name, SHAPE, m, rng)
    x = rng.normal(size=(3, 64)).astype(np.float32)
    y = rng.normal(size=(3, m)).astype(np.float32)
    ax = np.asarray(op.forward(x))
    assert ax.shape == (3, m)
    aty = op.adjoint(y)
    assert aty.shape == (3, 64)
    # <A x, y> = <x, A^T y>, and both agree with the dense matrix.
    np.testing.assert_allclose(np.sum(ax * y, axis=1), np.sum(x * aty, axis=1), rtol=1e-4, atol=1e-4)
    matrix = op.as_matrix()
    np.testing.assert_allclose(ax, x @ matrix.T, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(aty, y @ matrix, rtol=1e-4, atol=1e-5)


def test_operator_structure():
    rng = np.random.default_rng(1)
    gauss = recovery.make_operator("gaussian", SHAPE, 16, rng)
    # Entries N(0, 1), as csgm's utils.get_A.
    assert np.var(gauss.matrix) == pytest.approx(1.0, rel=0.1)
    block = recovery.make_operator("inpaint-block", SHAPE, 48, rng)
    hidden = np.setdiff1d(np.arange(64), block.kept)
    assert sorted({i // 8 for i in hidden}) == [2, 3, 4, 5] and sorted({i % 8 for i in hidden}) == [2, 3, 4, 5]
    sr = recovery.make_operator("superres", SHAPE, 16, rng)
    image = np.arange(64, dtype=np.float32).reshape(1, 64)
    assert np.asarray(sr.forward(image))[0, 0] == pytest.approx(np.mean([0, 1, 8, 9]))
    # Noise std per measurement entry, whatever m is (csgm's noise_std * randn(batch, m)).
    noisy = gauss.measure(np.zeros((2000, 64), np.float32), 0.5, rng)
    assert noisy.std() == pytest.approx(0.5, rel=0.05)


@pytest.mark.parametrize("name,m", [("gaussian", 0), ("gaussian", 65), ("superres", 20),
                                    ("inpaint-block", 50), ("wavelet", 10)])
def test_bad_operator_settings_are_user_errors(name, m):
    with pytest.raises(UserInputError):
        recovery.make_operator(name, SHAPE, m, np.random.default_rng(0))


def test_noise_free_recovery_from_the_true_latent_is_exact(prior):
    rng = np.random.default_rng(2)
    z0 = rng.normal(size=(5, LATENT)).astype(np.float32)
    truth = np.asarray(prior.signals(z0))
    op = recovery.make_operator("gaussian", SHAPE, 30, rng)
    y = op.measure(truth, 0.0, rng)
    initial = rng.normal(size=(5, 3, LATENT)).astype(np.float32)
    initial[:, 1] = z0
    # Adam normalises even a round-off gradient to a step of ~lr, so keep lr small here.
    result = recovery.recover(prior, op, y, initial=initial, steps=5, penalty=0.0, learning_rate=1e-5)
    assert np.max(recovery.per_signal_error(result["signals"], truth)) < 1e-6
    assert np.max(result["measurement_error"]) < 1e-5


def test_batched_restarts_match_a_loop(prior):
    rng = np.random.default_rng(3)
    truth = np.asarray(prior.signals(rng.normal(size=(2, LATENT)).astype(np.float32)))
    op = recovery.make_operator("gaussian", SHAPE, 12, rng)
    y = op.measure(truth, 0.1, rng)
    initial = rng.normal(size=(2, 3, LATENT)).astype(np.float32)
    batched = recovery.recover(prior, op, y, initial=initial, steps=30, screen=1.0)
    for s in range(2):
        for r in range(3):
            single = recovery.recover(prior, op, y[s:s + 1], initial=initial[s:s + 1, r:r + 1], steps=30)
            assert single["total_loss"][0] == pytest.approx(batched["all_totals"][s, r], rel=1e-4, abs=1e-6)
    best = np.argmin(batched["all_totals"], axis=1)
    np.testing.assert_allclose(batched["total_loss"], batched["all_totals"][np.arange(2), best], rtol=1e-6)


def _constant_prior(value):
    """A prior whose G(z) is the signal ``value`` everywhere (2 pixels), whatever z is."""
    def fn(z):
        return keras.ops.zeros((keras.ops.shape(z)[0], 1, 2, 1)) + (2.0 * value - 1.0) + 0.0 * z[:, :1, None, None]
    return recovery.Prior(fn, 2, (1, 2, 1), "gan", {})


def test_recovery_loss_is_csgms_mean_over_measurements():
    """csgm (mnist_estimators): mean_i (y_i - (A G(z))_i)^2 + lambda sum_j z_j^2. With
    A = diag(1, 2), G(z) = [1, 1], y = [1, 1], z = [1, 2], lambda 0.1: residual [0, 1],
    error 0.5 (the sum would be 1), total 0.5 + 0.1 * 5 = 1.0."""
    op = recovery.Operator("gaussian", (1, 2, 1), 2, matrix=np.diag([1.0, 2.0]).astype(np.float32))
    total, error = recovery.recovery_loss(_constant_prior(1.0), op, np.array([[1.0, 2.0]]),
                                          np.array([[1.0, 1.0]]), 0.1)
    assert float(error[0]) == pytest.approx(0.5) and float(total[0]) == pytest.approx(1.0)


def test_restart_kept_by_total_loss_not_measurement_error():
    """Restart A: error 0.10, ||z||^2 = 4 (total 0.50); B: error 0.12, ||z||^2 = 1 (total
    0.22) with lambda 0.1. By measurement error A wins; csgm's BestKeeper keeps B."""
    errors = np.array([[0.10, 0.12]])
    latents = np.array([[[2.0, 0.0], [1.0, 0.0]]])
    totals = errors + 0.1 * np.sum(latents**2, axis=-1)
    assert recovery.best_restarts(totals)[0] == 1 and np.argmin(errors[0]) == 0


def test_adam_on_z_equals_keras_adam_with_tf1_epsilon(prior):
    """The hand-written Adam (TF1 form, eps 1e-8) against keras.optimizers.Adam on one restart."""
    import tensorflow as tf

    rng = np.random.default_rng(9)
    op = recovery.make_operator("gaussian", SHAPE, 10, rng)
    y = rng.normal(size=(1, 10)).astype(np.float32)
    start = rng.normal(size=(1, 1, LATENT)).astype(np.float32)
    ours = recovery.recover(prior, op, y, initial=start, steps=7, learning_rate=0.05, penalty=0.1)
    z = tf.Variable(start[0])
    adam = keras.optimizers.Adam(0.05, epsilon=1e-8)
    for _ in range(7):
        with tf.GradientTape() as tape:
            loss = keras.ops.sum(recovery.recovery_loss(prior, op, z, y, 0.1)[0])
        adam.apply([tape.gradient(loss, z)], [z])
    np.testing.assert_allclose(ours["latents"], z.numpy(), atol=1e-5)


def test_screening_keeps_the_best_restart_at_the_screen_and_finishes_it_exactly(prior):
    """With screen 0.25 of 40 steps, every restart runs 10 steps; the one with the lowest
    total loss there goes on with its Adam state, so its result equals that restart run
    alone for all 40 steps."""
    rng = np.random.default_rng(10)
    op = recovery.make_operator("gaussian", SHAPE, 12, rng)
    y = op.measure(np.asarray(prior.signals(rng.normal(size=(2, LATENT)).astype(np.float32))), 0.1, rng)
    initial = rng.normal(size=(2, 3, LATENT)).astype(np.float32)
    screened = recovery.recover(prior, op, y, initial=initial, steps=40, screen=0.25)
    assert screened["screen_steps"] == 10
    for s in range(1):
        at_screen = [recovery.recover(prior, op, y[s:s + 1], initial=initial[s:s + 1, r:r + 1],
                                      steps=10)["total_loss"][0] for r in range(3)]
        np.testing.assert_allclose(screened["all_totals"][s], at_screen, rtol=1e-4, atol=1e-6)
        kept = int(np.argmin(at_screen))
        alone = recovery.recover(prior, op, y[s:s + 1], initial=initial[s:s + 1, kept:kept + 1], steps=40)
        np.testing.assert_allclose(screened["latents"][s], alone["latents"][0], atol=1e-4)


def test_recovery_improves_on_the_starting_point(prior):
    rng = np.random.default_rng(4)
    truth = np.asarray(prior.signals(rng.normal(size=(4, LATENT)).astype(np.float32)))
    op = recovery.make_operator("gaussian", SHAPE, 16, rng)
    y = op.measure(truth, 0.01, rng)
    start = recovery.recover(prior, op, y, restarts=4, steps=1, learning_rate=1e-6)
    end = recovery.recover(prior, op, y, restarts=4, steps=200)
    assert np.mean(end["measurement_error"]) < 0.2 * np.mean(start["measurement_error"])


def test_lars_lasso_matches_coordinate_descent_at_tight_tolerance():
    rng = np.random.default_rng(5)
    a = rng.normal(size=(20, 64)) / np.sqrt(20)
    y = a @ np.where(rng.uniform(size=64) < 0.1, rng.normal(size=64), 0.0) + 0.01 * rng.normal(size=20)
    alpha = 0.01
    alphas, coefs = baselines.lasso_path(a, y, alpha)
    ours = baselines.coefs_at(alphas, coefs, alpha)
    reference = Lasso(alpha=alpha, fit_intercept=False, tol=1e-12, max_iter=200_000).fit(a, y).coef_
    np.testing.assert_allclose(ours, reference, atol=1e-6)


def test_posterior_mean_equals_quadrature_for_a_one_dimensional_latent():
    """A 1-D latent and a nonlinear G(z) = [tanh(2z), tanh(z - 1)], one measurement: the
    posterior exp(-L(z) / (2 lambda)) is computed on a grid, and E[x | y] by quadrature
    differs from the mode's G(z*) by far more than the tolerance, so the Langevin chains'
    average (started at the mode) must really sample the posterior at temperature 2 lambda."""
    w, b = np.array([2.0, 1.0], np.float32), np.array([0.0, -1.0], np.float32)

    def fn(z):
        return keras.ops.reshape(keras.ops.tanh(z * w + b), (-1, 1, 2, 1))

    prior = recovery.Prior(fn, 1, (1, 2, 1), "gan", {})
    op = recovery.Operator("gaussian", (1, 2, 1), 1, matrix=np.array([[1.0, 1.0]], np.float32))
    y, lam = np.array([[0.9]], np.float32), 0.1
    grid = np.linspace(-8, 8, 40001)
    x = (np.tanh(grid[:, None] * w + b) + 1) / 2
    loss = (y[0, 0] - x.sum(1)) ** 2 + lam * grid**2
    weight = np.exp(-(loss - loss.min()) / (2 * lam))
    expected = (weight[:, None] * x).sum(0) / weight.sum()
    mode = grid[np.argmin(loss)]
    assert np.abs(x[np.argmin(loss)] - expected).max() > 0.03  # the mean is not the mode
    got = recovery.posterior_mean(prior, op, y, np.array([[mode]], np.float32), penalty=lam,
                                  chains=256, steps=4000, rate=2e-3, seed=1)
    np.testing.assert_allclose(got[0], expected, atol=0.01)
    with pytest.raises(UserInputError, match="--penalty > 0"):
        recovery.posterior_mean(prior, op, y, np.array([[mode]], np.float32), penalty=0.0)


def test_path_interpolation_on_a_grid_equals_numpy_interp_per_alpha():
    rng = np.random.default_rng(11)
    a = rng.normal(size=(15, 64))
    alphas, coefs = baselines.lasso_path(a, rng.normal(size=15), 1e-4)
    grid = np.concatenate([[alphas[0] * 2, alphas[0]], np.geomspace(1e-5, alphas[0], 20)])
    order = np.argsort(alphas)
    for k, alpha in enumerate(grid):
        expected = (np.zeros(64) if alpha >= alphas[0] else
                    np.array([np.interp(alpha, alphas[order], row[order]) for row in coefs]))
        np.testing.assert_allclose(baselines.coefs_on_grid(alphas, coefs, grid)[:, k], expected,
                                   atol=1e-12)


def test_dct_basis_is_orthonormal_and_smooth_first():
    phi = baselines.basis_matrix("dct", SHAPE)
    np.testing.assert_allclose(phi.T @ phi, np.eye(64), atol=1e-12)
    np.testing.assert_allclose(phi[:, 0], np.full(64, 1 / 8), atol=1e-12)


def test_gaussian_mmse_matches_information_form():
    rng = np.random.default_rng(6)
    train = rng.normal(size=(500, 64)) @ rng.normal(size=(64, 64)) * 0.1 + 0.5
    prior = baselines.GaussianPrior.fit(train)
    op = recovery.make_operator("gaussian", SHAPE, 10, rng)
    y = op.measure(train[:3].astype(np.float32), 0.2, rng)
    got = prior.mmse(op, y, 0.2)
    a, s2 = op.as_matrix(), 0.2**2
    precision = np.linalg.inv(prior.covariance)
    posterior = np.linalg.inv(precision + a.T @ a / s2)
    expected = (posterior @ (precision @ prior.mean[:, None] + a.T @ y.T.astype(np.float64) / s2)).T
    np.testing.assert_allclose(got, expected, atol=1e-6)


def test_lasso_weight_choice_prefers_the_best_validation_alpha():
    rng = np.random.default_rng(7)
    op = recovery.make_operator("gaussian", SHAPE, 64, rng)
    signals = np.clip(rng.normal(0.3, 0.3, size=(5, 64)), 0, 1)
    chosen = baselines.fit_lasso([(op, signals)], 0.0, rng, bases=("pixel",))
    # m = n without noise: the smallest weight recovers best.
    assert chosen.alpha == baselines.ALPHA_GRID[0]
    y = op.measure(signals, 0.0, rng)
    error = np.mean((chosen.estimate(op, y) - signals) ** 2)
    assert error == pytest.approx(chosen.validation_error, rel=1e-6) and error < 0.01


def test_fit_lasso_is_the_best_of_the_per_basis_fits_on_one_draw():
    op = recovery.make_operator("gaussian", SHAPE, 20, np.random.default_rng(3))
    signals = np.clip(np.random.default_rng(4).normal(0.3, 0.3, size=(4, 64)), 0, 1)
    best = baselines.fit_lasso([(op, signals)], 0.1, np.random.default_rng(5))
    fits = baselines.fit_lasso_bases([(op, signals)], 0.1, np.random.default_rng(5))
    assert list(fits) == list(baselines.BASES)
    assert best == min(fits.values(), key=lambda fit: fit.validation_error)


def test_load_prior_from_run_folder_and_export(run_dir, decoder, tmp_path):
    from_run = recovery.load_prior(run_dir)
    assert (from_run.kind, from_run.latent_dim, from_run.shape) == ("vae", LATENT, SHAPE)
    export_dir = export_generator(decoder, str(tmp_path / "export"))
    from_export = recovery.load_prior(export_dir)
    assert (from_export.latent_dim, from_export.shape) == (LATENT, SHAPE)
    rng = np.random.default_rng(8)
    op = recovery.make_operator("gaussian", SHAPE, 8, rng)
    y = op.measure(np.asarray(from_run.signals(rng.normal(size=(2, LATENT)).astype(np.float32))), 0.0, rng)
    initial = rng.normal(size=(2, 2, LATENT)).astype(np.float32)
    a = recovery.recover(from_run, op, y, initial=initial, steps=10)
    b = recovery.recover(from_export, op, y, initial=initial, steps=10)
    np.testing.assert_allclose(a["signals"], b["signals"], atol=1e-4)


def test_load_signals_rejects_a_size_mismatch(tmp_path):
    from gan_apps.images import write_png

    write_png(str(tmp_path / "x.png"), np.zeros((16, 16), np.uint8))
    with pytest.raises(UserInputError, match="generator outputs 8x8"):
        recovery.load_signals(str(tmp_path / "x.png"), SHAPE, 1)
    with pytest.raises(UserInputError, match="8x8x1"):
        recovery.load_signals("digits", (16, 16, 1), 1)


def test_cli_run_and_sweep(run_dir, tmp_path, capsys):
    grid = str(tmp_path / "grid.png")
    code = cli.main(["recover", "run", "--generator", run_dir, "--measurements", "20", "--num", "3",
                     "--restarts", "2", "--steps", "5", "--estimate", "posterior-mean",
                     "--output", grid])
    assert code == 0 and os.path.isfile(grid)
    printed = capsys.readouterr().out
    assert "per-pixel MSE ||x_hat - x||^2 / n, pixels in [0, 1]" in printed
    for name in ("ours", "lasso-pixel", "lasso-dct", "gaussian-mmse", "mean"):
        assert f"\n{name}: per-pixel MSE " in printed
    out = str(tmp_path / "sweep")
    code = cli.main(["recover", "sweep", "--generator", run_dir, "--measurements", "5,10", "--num", "4",
                     "--draws", "2", "--restarts", "2", "--steps", "5", "--out", out])
    assert code == 0
    with open(os.path.join(out, "recovery_sweep.json")) as f:
        result = json.load(f)
    assert [row["m"] for row in result["rows"]] == [5, 10]
    assert {"ours", "lasso-pixel", "lasso-dct", "gaussian-mmse", "mean"} <= set(result["rows"][0])
    assert all(os.path.isfile(os.path.join(out, f)) for f in ("recovery_sweep.md", "recovery_sweep.png"))


@pytest.mark.parametrize("flags,message", [
    (["--measurements", "65"], "from 1 to n = 64"),
    (["--measurements", "0"], "from 1 to n = 64"),
    (["--noise", "-0.1"], "noise level must be >= 0"),
    (["--operator", "fourier"], "unknown operator"),
    (["--screen", "1.5"], "--screen is a fraction of the steps in (0, 1]"),
])
def test_cli_bad_input_exits_2(run_dir, flags, message, capsys):
    code = cli.main(["recover", "run", "--generator", run_dir, "--num", "2", "--steps", "1", *flags])
    assert code == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1


def test_cli_generator_size_mismatch_exits_2(tmp_path, capsys):
    path = tmp_path / "big"
    runs.save_model(mlp_decoder(LATENT, 16, 1, hidden=(4,)), str(path / "generator.keras"))
    runs.write_json(str(path / "config.json"), {"kind": "gan", "data": "digits"})
    assert cli.main(["recover", "run", "--generator", str(path), "--steps", "1"]) == 2
    assert "8x8x1" in capsys.readouterr().err
