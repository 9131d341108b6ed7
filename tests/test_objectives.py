"""Objectives against independent numpy computations and closed-form divergences."""

import math

import numpy as np
import pytest
import tensorflow as tf
from scipy import integrate, stats

from gan_apps import objectives
from gan_apps.errors import UserInputError

RNG = np.random.default_rng(0)
REAL = RNG.normal(1.0, 2.0, size=64)
FAKE = RNG.normal(-1.0, 2.0, size=64)


def np_softplus(x):
    return np.logaddexp(0.0, x)


def np_log_sigmoid(x):
    return -np.logaddexp(0.0, -x)


# Independent references, written from the papers' formulas, in float64.
REFERENCE = {
    "minimax": (
        lambda r, f: -np.mean(np_log_sigmoid(r)) - np.mean(np_log_sigmoid(-f)),
        lambda f: np.mean(np_log_sigmoid(-f)),
    ),
    "non_saturating": (
        lambda r, f: -np.mean(np_log_sigmoid(r)) - np.mean(np_log_sigmoid(-f)),
        lambda f: -np.mean(np_log_sigmoid(f)),
    ),
    "least_squares": (
        lambda r, f: 0.5 * np.mean((r - 1) ** 2) + 0.5 * np.mean(f**2),
        lambda f: 0.5 * np.mean((f - 1) ** 2),
    ),
    "wasserstein": (lambda r, f: np.mean(f) - np.mean(r), lambda f: -np.mean(f)),
    "hinge": (
        lambda r, f: np.mean(np.maximum(0, 1 - r)) + np.mean(np.maximum(0, 1 + f)),
        lambda f: -np.mean(f),
    ),
}

# Nowozin et al. 2016, Table 6: (g_f, f*) written naively (fine at moderate logits).
F_TABLE = {
    "kl": (lambda v: v, lambda t: np.exp(t - 1)),
    "reverse_kl": (lambda v: -np.exp(-v), lambda t: -1 - np.log(-t)),
    "pearson": (lambda v: v, lambda t: t**2 / 4 + t),
    "hellinger": (lambda v: 1 - np.exp(-v), lambda t: t / (1 - t)),
    "js": (lambda v: np.log(2) - np.log1p(np.exp(-v)), lambda t: -np.log(2 - np.exp(t))),
    "gan": (lambda v: -np.log1p(np.exp(-v)), lambda t: -np.log(1 - np.exp(t))),
    "total_variation": (lambda v: 0.5 * np.tanh(v), lambda t: t),
}


def as_float(x):
    return float(np.asarray(x))


@pytest.mark.parametrize("name", sorted(REFERENCE))
def test_losses_match_numpy(name):
    obj = objectives.get(name)
    d_ref, g_ref = REFERENCE[name]
    assert as_float(obj.d_loss(REAL, FAKE)) == pytest.approx(d_ref(REAL, FAKE), rel=1e-6)
    assert as_float(obj.g_loss(FAKE)) == pytest.approx(g_ref(FAKE), rel=1e-6)


@pytest.mark.parametrize("div", sorted(F_TABLE))
def test_f_gan_losses_match_table(div):
    g_f, conj = F_TABLE[div]
    v_real, v_fake = REAL / 4, FAKE / 4  # keep the naive formulas in their domain
    obj = objectives.get(f"f:{div}")
    bound = np.mean(g_f(v_real)) - np.mean(conj(g_f(v_fake)))
    assert as_float(obj.d_loss(v_real, v_fake)) == pytest.approx(-bound, rel=1e-6, abs=1e-9)
    assert as_float(obj.metrics(v_real, v_fake)["divergence_bound"]) == pytest.approx(
        bound, rel=1e-6, abs=1e-9
    )
    assert as_float(obj.g_loss(v_fake)) == pytest.approx(-np.mean(g_f(v_fake)), rel=1e-6)
    saturating = objectives.get(f"f:{div}", saturating=True)
    assert as_float(saturating.g_loss(v_fake)) == pytest.approx(
        np.mean(conj(g_f(v_fake))), rel=1e-6
    )
    spec = objectives.F_DIVERGENCES[div]
    t = g_f(v_fake)
    np.testing.assert_allclose(np.asarray(spec.activation(v_fake)), t, rtol=1e-6, atol=1e-12)
    np.testing.assert_allclose(np.asarray(spec.conjugate(t)), conj(t), rtol=1e-6, atol=1e-12)


def test_least_squares_codings():
    r, f = REAL, FAKE
    pearson = objectives.get("least_squares", coding="pearson")  # (a, b, c) = (-1, 1, 0)
    assert as_float(pearson.d_loss(r, f)) == pytest.approx(
        0.5 * np.mean((r - 1) ** 2) + 0.5 * np.mean((f + 1) ** 2)
    )
    assert as_float(pearson.g_loss(f)) == pytest.approx(0.5 * np.mean(f**2))
    custom = objectives.get("least_squares", coding=(0.2, 0.7, 0.5))
    assert as_float(custom.d_loss(r, f)) == pytest.approx(
        0.5 * np.mean((r - 0.7) ** 2) + 0.5 * np.mean((f - 0.2) ** 2)
    )
    assert as_float(custom.g_loss(f)) == pytest.approx(0.5 * np.mean((f - 0.5) ** 2))


def test_minimax_value_at_chance_is_log4():
    obj = objectives.get("minimax")
    zeros = np.zeros(8, np.float32)
    assert as_float(obj.d_loss(zeros, zeros)) == pytest.approx(2 * math.log(2), rel=1e-6)
    # D = 1/2 everywhere: the JS estimate of Goodfellow et al.'s Theorem 1 is 0.
    assert as_float(obj.metrics(zeros, zeros)["js_estimate"]) == pytest.approx(0, abs=1e-6)


EXTREME_REAL = np.array([100.0, -100.0, 100.0, 0.0])
EXTREME_FAKE = np.array([-100.0, 100.0, 0.0, -100.0])
# Objectives whose true values at logits of +-100 fit in float32. The others (kl,
# hellinger: exp(99); reverse_kl: -exp(100)) have true values beyond float32 and are
# checked in float64.
BOUNDED = ["minimax", "non_saturating", "least_squares", "wasserstein", "hinge",
           "f:js", "f:gan", "f:total_variation", "f:pearson"]


def _extreme_reference(name, r, f):
    if name in REFERENCE:
        d_ref, g_ref = REFERENCE[name]
        return d_ref(r, f), g_ref(f)
    div = name[2:]
    # Stable closed forms of g_f and f*(g_f) derived by hand (Nowozin et al. Table 6).
    stable = {
        "kl": (lambda v: v, lambda v: np.exp(v - 1)),
        "reverse_kl": (lambda v: -np.exp(-v), lambda v: v - 1),
        "pearson": (lambda v: v, lambda v: v**2 / 4 + v),
        "hellinger": (lambda v: 1 - np.exp(-v), lambda v: np.expm1(v)),
        "js": (lambda v: np.log(2) - np_softplus(-v), lambda v: np_softplus(v) - np.log(2)),
        "gan": (lambda v: -np_softplus(-v), np_softplus),
        "total_variation": (lambda v: 0.5 * np.tanh(v), lambda v: 0.5 * np.tanh(v)),
    }[div]
    g, conj_g = stable
    return -(np.mean(g(r)) - np.mean(conj_g(f))), -np.mean(g(f))


@pytest.mark.parametrize("name", objectives.names())
def test_correct_at_extreme_logits_float64(name):
    obj = objectives.get(name)
    d_ref, g_ref = _extreme_reference(name, EXTREME_REAL, EXTREME_FAKE)
    d = as_float(obj.d_loss(EXTREME_REAL, EXTREME_FAKE))
    g = as_float(obj.g_loss(EXTREME_FAKE))
    assert d == pytest.approx(d_ref, rel=1e-9)
    assert g == pytest.approx(g_ref, rel=1e-9)


@pytest.mark.parametrize("name", BOUNDED)
def test_finite_with_finite_gradients_at_extreme_logits_float32(name):
    obj = objectives.get(name)
    r = tf.constant(EXTREME_REAL, tf.float32)
    f = tf.constant(EXTREME_FAKE, tf.float32)
    with tf.GradientTape(persistent=True) as tape:
        tape.watch([r, f])
        d = obj.d_loss(r, f)
        g = obj.g_loss(f)
    d_ref, g_ref = _extreme_reference(name, EXTREME_REAL, EXTREME_FAKE)
    assert float(d) == pytest.approx(d_ref, rel=1e-5)
    assert float(g) == pytest.approx(g_ref, rel=1e-5, abs=1e-6)
    for grad in tape.gradient(d, [r, f]) + [tape.gradient(g, f)]:
        assert np.all(np.isfinite(grad.numpy()))


def test_half_precision_logits_are_promoted():
    obj = objectives.get("non_saturating")
    loss = obj.d_loss(tf.constant([30.0, -30.0], tf.float16), tf.constant([-30.0], tf.float16))
    assert loss.dtype == tf.float32
    assert np.isfinite(float(loss))


# --- the variational bound at the optimal T equals the divergence -------------------------

MU_P, MU_Q = 0.0, 1.0  # P = N(0, 1) is the data, Q = N(1, 1) the generator


def _log_ratio(x):
    """log p(x)/q(x) for the two unit-variance Gaussians."""
    return stats.norm.logpdf(x, MU_P) - stats.norm.logpdf(x, MU_Q)


# Generator functions f(u), written independently of the package (Nowozin et al. Table 1).
F_GENERATORS = {
    "kl": lambda u: u * np.log(u),
    "reverse_kl": lambda u: -np.log(u),
    "pearson": lambda u: (u - 1) ** 2,
    "hellinger": lambda u: (np.sqrt(u) - 1) ** 2,
    "js": lambda u: -(u + 1) * np.log((1 + u) / 2) + u * np.log(u),
    "gan": lambda u: u * np.log(u) - (u + 1) * np.log(u + 1),
    "total_variation": lambda u: 0.5 * np.abs(u - 1),
}

# Logits V with g_f(V) = f'(p/q), the optimal critic (Nowozin et al. eq. 5).
OPTIMAL_LOGITS = {
    "kl": lambda lr: 1 + lr,
    "reverse_kl": lambda lr: lr,
    "pearson": lambda lr: 2 * np.expm1(lr),
    "hellinger": lambda lr: 0.5 * lr,
    "js": lambda lr: lr,
    "gan": lambda lr: lr,
    "total_variation": lambda lr: 30.0 * np.sign(lr),
}

# Closed forms for two unit-variance Gaussians one apart, where they exist.
CLOSED_FORM = {
    "kl": 0.5,
    "reverse_kl": 0.5,
    "pearson": math.e - 1,
    "hellinger": 2 * (1 - math.exp(-1 / 8)),
    "total_variation": 2 * stats.norm.cdf(0.5) - 1,
}


def _divergence_by_quadrature(div):
    f = F_GENERATORS[div]
    integrand = lambda x: stats.norm.pdf(x, MU_Q) * f(np.exp(_log_ratio(x)))  # noqa: E731
    return integrate.quad(integrand, -12, 13, limit=200)[0]


@pytest.mark.parametrize("div", sorted(F_GENERATORS))
def test_bound_at_optimal_critic_equals_divergence(div):
    n = 200_000
    rng = np.random.default_rng(1)
    x_p = rng.normal(MU_P, 1.0, n)
    x_q = rng.normal(MU_Q, 1.0, n)
    v_p = OPTIMAL_LOGITS[div](_log_ratio(x_p))
    v_q = OPTIMAL_LOGITS[div](_log_ratio(x_q))
    bound = as_float(objectives.f_divergence_bound(div, v_p, v_q))

    # Monte Carlo standard error of the two sample means.
    spec = objectives.F_DIVERGENCES[div]
    t_p = np.asarray(spec.activation(v_p))
    c_q = np.asarray(spec.conjugate_of_activation(v_q))
    stderr = math.sqrt(t_p.var() / n + c_q.var() / n)

    exact = _divergence_by_quadrature(div)
    if div in CLOSED_FORM:
        assert exact == pytest.approx(CLOSED_FORM[div], rel=1e-6)
    assert abs(bound - exact) < 4 * stderr + 1e-6, (bound, exact, stderr)


def test_unknown_names_raise_user_errors():
    with pytest.raises(UserInputError, match="unknown objective"):
        objectives.get("vanilla")
    with pytest.raises(UserInputError, match="f-divergence"):
        objectives.get("f:alpha")
    with pytest.raises(UserInputError, match="coding"):
        objectives.get("least_squares", coding="ternary")


@pytest.mark.parametrize("div", sorted(F_GENERATORS))
def test_undecided_logit_is_the_optimal_critic_where_p_equals_q(div):
    # T*(x) = f'(p/q) = f'(1) where the two densities agree (Nowozin et al. eq. 5).
    f = F_GENERATORS[div]
    h = 1e-6
    f_prime_at_1 = (f(1 + h) - f(1 - h)) / (2 * h) if div != "total_variation" else 0.0
    spec = objectives.F_DIVERGENCES[div]
    assert as_float(spec.activation(np.float64(spec.undecided_logit))) == pytest.approx(
        f_prime_at_1, abs=1e-6
    )
    assert objectives.get(f"f:{div}").threshold == spec.undecided_logit


def test_decision_thresholds():
    assert objectives.get("non_saturating").threshold == 0.0
    assert objectives.get("least_squares").threshold == 0.5
    assert objectives.get("least_squares", coding="pearson").threshold == 0.0
    assert objectives.get("wasserstein").threshold is None
