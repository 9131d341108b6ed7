"""Adversarial objectives as pure functions of discriminator logits.

Every objective is an :class:`Objective`: a discriminator loss
``d_loss(real_logits, fake_logits)``, a generator loss ``g_loss(fake_logits)``, the map
from logits to the discriminator's reported output, and objective-specific diagnostics
(``metrics(real_logits, fake_logits)``), all means over the batch. Inputs are raw
logits (the last layer has no activation); every sigmoid/log is folded into softplus so
the losses stay finite and correct at logits of +-100.

Names accepted by :func:`get`: ``minimax``, ``non_saturating``, ``least_squares``
(with ``coding``), ``wasserstein``, ``hinge`` and ``f:<divergence>`` for the f-GAN
divergences in :data:`F_DIVERGENCES`.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Callable

import keras
from keras import ops

from gan_apps.errors import UserInputError

LOG2 = math.log(2.0)


@dataclasses.dataclass(frozen=True)
class Objective:
    """A named pair of adversarial losses on logits.

    Attributes:
        name: the identifier :func:`get` accepts.
        d_loss: ``(real_logits, fake_logits) -> scalar`` minimised by the discriminator.
        g_loss: ``fake_logits -> scalar`` minimised by the generator.
        output: maps logits to what the discriminator "says" (a probability for the
            sigmoid family, the raw critic value otherwise); used for mean D(x) logs.
        metrics: ``(real_logits, fake_logits) -> dict`` of extra diagnostics.
        threshold: the logit at which the discriminator is undecided (p = q at the
            optimum), used to report its accuracy; None where no such point exists
            (a Wasserstein critic is defined only up to a constant).
    """

    name: str
    d_loss: Callable
    g_loss: Callable
    output: Callable = lambda logits: logits
    metrics: Callable = lambda real_logits, fake_logits: {}
    threshold: float | None = 0.0


def _f32(x):
    """At least float32: half-precision logits are promoted, float64 is kept."""
    x = ops.convert_to_tensor(x)
    if keras.backend.standardize_dtype(x.dtype) in ("float16", "bfloat16"):
        return ops.cast(x, "float32")
    return x


def _mean(x):
    return ops.mean(_f32(x))


# --- Goodfellow et al. 2014 --------------------------------------------------------------


def minimax_d_loss(real_logits, fake_logits):
    """Discriminator loss of the original GAN (Goodfellow et al. 2014, eq. 1).

    -E[log D(x)] - E[log(1 - D(G(z)))] with D = sigmoid(logits), written as
    E[softplus(-l_real)] + E[softplus(l_fake)].
    """
    return _mean(ops.softplus(-_f32(real_logits))) + _mean(ops.softplus(_f32(fake_logits)))


def minimax_g_loss(fake_logits):
    """Saturating generator loss (Goodfellow et al. 2014, eq. 1): E[log(1 - D(G(z)))].

    log(1 - sigmoid(l)) = -softplus(l).
    """
    return -_mean(ops.softplus(_f32(fake_logits)))


def non_saturating_g_loss(fake_logits):
    """Non-saturating generator loss (Goodfellow et al. 2014, Sec. 3): -E[log D(G(z))].

    -log sigmoid(l) = softplus(-l).
    """
    return _mean(ops.softplus(-_f32(fake_logits)))


def _sigmoid_metrics(real_logits, fake_logits):
    """GAN value V(D, G) = E[log D(x)] + E[log(1 - D(G(z)))]; at the optimal D it is
    2 JS(P_data || P_g) - log 4 (Goodfellow et al. 2014, Theorem 1)."""
    value = -minimax_d_loss(real_logits, fake_logits)
    return {"js_estimate": 0.5 * (value + 2.0 * LOG2)}


# --- Mao et al. 2017 ---------------------------------------------------------------------

LEAST_SQUARES_CODINGS = {
    # Mao et al. 2017, eq. 9: b - c = 1 and b - a = 2 minimise the Pearson chi2 divergence.
    "pearson": (-1.0, 1.0, 0.0),
    # Mao et al. 2017, eq. 10: the 0-1 coding used in their experiments.
    "binary": (0.0, 1.0, 1.0),
}


def least_squares_d_loss(real_logits, fake_logits, a=0.0, b=1.0):
    """LSGAN discriminator loss (Mao et al. 2017, eq. 2, first line).

    1/2 E[(D(x) - b)^2] + 1/2 E[(D(G(z)) - a)^2], D(x) the raw (linear) output.
    """
    return 0.5 * _mean(ops.square(_f32(real_logits) - b)) + 0.5 * _mean(
        ops.square(_f32(fake_logits) - a)
    )


def least_squares_g_loss(fake_logits, c=1.0):
    """LSGAN generator loss (Mao et al. 2017, eq. 2, second line): 1/2 E[(D(G(z)) - c)^2]."""
    return 0.5 * _mean(ops.square(_f32(fake_logits) - c))


# --- Arjovsky et al. 2017; Miyato et al. 2018 -------------------------------------------


def wasserstein_d_loss(real_logits, fake_logits):
    """WGAN critic loss (Arjovsky et al. 2017, eq. 3 and Algorithm 1): E[f(G(z))] - E[f(x)]."""
    return _mean(fake_logits) - _mean(real_logits)


def wasserstein_g_loss(fake_logits):
    """WGAN generator loss (Arjovsky et al. 2017, Algorithm 1 line 10): -E[f(G(z))]."""
    return -_mean(fake_logits)


def _wasserstein_metrics(real_logits, fake_logits):
    """E[f(x)] - E[f(G(z))]: the critic's estimate of W1 up to the Lipschitz constant."""
    return {"wasserstein_estimate": _mean(real_logits) - _mean(fake_logits)}


def hinge_d_loss(real_logits, fake_logits):
    """Hinge discriminator loss (Miyato et al. 2018, eq. 16; Lim & Ye 2017).

    E[relu(1 - D(x))] + E[relu(1 + D(G(z)))].
    """
    return _mean(ops.relu(1.0 - _f32(real_logits))) + _mean(ops.relu(1.0 + _f32(fake_logits)))


def hinge_g_loss(fake_logits):
    """Hinge generator loss (Miyato et al. 2018, eq. 17): -E[D(G(z))]."""
    return -_mean(fake_logits)


# --- Nowozin et al. 2016 -----------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class FDivergence:
    """One row of Nowozin et al. 2016, Table 2 (output activation) and Table 6 (conjugate).

    Attributes:
        name: short name used in ``f:<name>``.
        activation: g_f, mapping a logit v to the domain of f*: T(x) = g_f(V(x)).
        conjugate: the Fenchel conjugate f*(t) (for reference and tests).
        conjugate_of_activation: f*(g_f(v)) in a form that stays finite for large |v|.
        generator: f(u), the generator function of the divergence D_f(P||Q).
        undecided_logit: v with g_f(v) = f'(1), the optimal critic where p = q.
    """

    name: str
    activation: Callable
    conjugate: Callable
    conjugate_of_activation: Callable
    generator: Callable
    undecided_logit: float = 0.0


F_DIVERGENCES = {
    d.name: d
    for d in (
        FDivergence(
            "kl",
            activation=lambda v: v,
            conjugate=lambda t: ops.exp(t - 1.0),
            conjugate_of_activation=lambda v: ops.exp(v - 1.0),
            generator=lambda u: u * ops.log(u),
            undecided_logit=1.0,  # f'(1) = 1 and g_f is the identity
        ),
        FDivergence(
            "reverse_kl",
            activation=lambda v: -ops.exp(-v),
            conjugate=lambda t: -1.0 - ops.log(-t),
            # -1 - log(exp(-v)) = v - 1
            conjugate_of_activation=lambda v: v - 1.0,
            generator=lambda u: -ops.log(u),
        ),
        FDivergence(
            "pearson",
            activation=lambda v: v,
            conjugate=lambda t: 0.25 * t * t + t,
            conjugate_of_activation=lambda v: 0.25 * v * v + v,
            generator=lambda u: ops.square(u - 1.0),
        ),
        FDivergence(
            "hellinger",
            activation=lambda v: 1.0 - ops.exp(-v),
            conjugate=lambda t: t / (1.0 - t),
            # (1 - e^-v) / e^-v = e^v - 1
            conjugate_of_activation=lambda v: ops.expm1(v),
            generator=lambda u: ops.square(ops.sqrt(u) - 1.0),
        ),
        FDivergence(
            "js",
            activation=lambda v: LOG2 - ops.softplus(-v),
            conjugate=lambda t: -ops.log(2.0 - ops.exp(t)),
            # -log(2 - 2 sigmoid(v)) = softplus(v) - log 2
            conjugate_of_activation=lambda v: ops.softplus(v) - LOG2,
            generator=lambda u: -(u + 1.0) * ops.log((1.0 + u) / 2.0) + u * ops.log(u),
        ),
        FDivergence(
            "gan",
            activation=lambda v: -ops.softplus(-v),
            conjugate=lambda t: -ops.log(1.0 - ops.exp(t)),
            # -log(1 - sigmoid(v)) = softplus(v)
            conjugate_of_activation=lambda v: ops.softplus(v),
            generator=lambda u: u * ops.log(u) - (u + 1.0) * ops.log(u + 1.0),
        ),
        FDivergence(
            "total_variation",
            activation=lambda v: 0.5 * ops.tanh(v),
            conjugate=lambda t: t,
            conjugate_of_activation=lambda v: 0.5 * ops.tanh(v),
            generator=lambda u: 0.5 * ops.abs(u - 1.0),
        ),
    )
}


def f_divergence_bound(divergence, real_logits, fake_logits):
    """The variational lower bound F(T) of D_f(P||Q) (Nowozin et al. 2016, eq. 6 and 7).

    F = E_P[g_f(V(x))] - E_Q[f*(g_f(V(x)))], with P the data and Q the generator.
    It equals D_f(P||Q) when g_f(V) = f'(p/q), the optimal T (their eq. 5).
    """
    div = _divergence(divergence)
    return _mean(div.activation(_f32(real_logits))) - _mean(
        div.conjugate_of_activation(_f32(fake_logits))
    )


def f_d_loss(divergence, real_logits, fake_logits):
    """f-GAN discriminator loss: -F (Nowozin et al. 2016, eq. 6); D maximises the bound."""
    return -f_divergence_bound(divergence, real_logits, fake_logits)


def f_g_loss(divergence, fake_logits, saturating=False):
    """f-GAN generator loss (Nowozin et al. 2016, Sec. 3.2).

    The saturating form minimises the bound's generator term, E_Q[f*(g_f(V))] with the
    sign of eq. 6. The default is the paper's alternative used in its experiments:
    maximise E_Q[g_f(V(G(z)))], which has the same fixed point and stronger gradients
    early in training.
    """
    div = _divergence(divergence)
    fake = _f32(fake_logits)
    if saturating:
        return _mean(div.conjugate_of_activation(fake))
    return -_mean(div.activation(fake))


def _divergence(name):
    if isinstance(name, FDivergence):
        return name
    try:
        return F_DIVERGENCES[name]
    except KeyError:
        raise UserInputError(
            f"unknown f-divergence {name!r}; choose one of: {', '.join(F_DIVERGENCES)}"
        ) from None


# --- registry ----------------------------------------------------------------------------


def names():
    """Every objective name :func:`get` accepts."""
    return [
        "minimax",
        "non_saturating",
        "least_squares",
        "wasserstein",
        "hinge",
    ] + [f"f:{d}" for d in F_DIVERGENCES]


def get(name, *, coding="binary", saturating=False):
    """Look up an objective by name.

    Args:
        name: one of :func:`names`, or an :class:`Objective` (returned as is).
        coding: for ``least_squares``: ``"binary"`` (a, b, c) = (0, 1, 1),
            ``"pearson"`` (-1, 1, 0), or an explicit ``(a, b, c)`` tuple.
        saturating: for ``f:*``: use the saturating generator loss (see :func:`f_g_loss`).
    """
    if isinstance(name, Objective):
        return name
    sigmoid = lambda logits: ops.sigmoid(_f32(logits))  # noqa: E731
    if name == "minimax":
        return Objective(name, minimax_d_loss, minimax_g_loss, sigmoid, _sigmoid_metrics)
    if name == "non_saturating":
        return Objective(name, minimax_d_loss, non_saturating_g_loss, sigmoid, _sigmoid_metrics)
    if name == "least_squares":
        a, b, c = _least_squares_coding(coding)
        return Objective(
            name,
            lambda r, f: least_squares_d_loss(r, f, a=a, b=b),
            lambda f: least_squares_g_loss(f, c=c),
            threshold=(a + b) / 2,
        )
    if name == "wasserstein":
        return Objective(
            name, wasserstein_d_loss, wasserstein_g_loss, metrics=_wasserstein_metrics,
            threshold=None,
        )
    if name == "hinge":
        return Objective(name, hinge_d_loss, hinge_g_loss, metrics=_wasserstein_metrics)
    if isinstance(name, str) and name.startswith("f:"):
        div = _divergence(name[2:])
        return Objective(
            name,
            lambda r, f: f_d_loss(div, r, f),
            lambda f: f_g_loss(div, f, saturating=saturating),
            output=lambda logits: div.activation(_f32(logits)),
            metrics=lambda r, f: {"divergence_bound": f_divergence_bound(div, r, f)},
            threshold=div.undecided_logit,
        )
    raise UserInputError(f"unknown objective {name!r}; choose one of: {', '.join(names())}")


def _least_squares_coding(coding):
    if isinstance(coding, str):
        try:
            return LEAST_SQUARES_CODINGS[coding]
        except KeyError:
            raise UserInputError(
                f"unknown least-squares coding {coding!r}; choose "
                f"{' or '.join(LEAST_SQUARES_CODINGS)} or give (a, b, c)"
            ) from None
    a, b, c = (float(v) for v in coding)
    return a, b, c
