"""The power formulas of a two-sample z-test: power, MDE and sample size (used by ``uplift design``).

The test is the Wald z-test of the difference in means between an offer arm and control,
with unpooled variances; the formulas, their sources and the statsmodels equivalence are
in :mod:`uplift.experiment.design`'s docstring:

    power (two-sided) = Phi(delta/se - z_{1-a/2}) + Phi(-delta/se - z_{1-a/2}),
    se = sqrt(v_0/n_0 + v_1/n_1)   (Chow, Shao & Wang 2008, sec. 4.2; statsmodels ``normal_power``)
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from uplift.stats import distributions as stats  # scipy.stats' normal without importing it
from uplift.stats.lazy import lazy_module
from uplift.errors import UserError
from uplift.metrics.kinds import metric_class

optimize = lazy_module("scipy.optimize")  # imported on first use

__all__ = ["alpha_per_comparison", "mde_at_n", "power_at", "power_z", "sample_size", "unit_variance"]

_ALTERNATIVES = ("two-sided", "larger", "smaller")


# --------------------------------------------------------------------------- core formulas


def _check_alt(alternative: str) -> None:
    if alternative not in _ALTERNATIVES:
        raise UserError(f"alternative {alternative!r} is not one of {', '.join(_ALTERNATIVES)}")


def _crit(alpha: float, alternative: str) -> float:
    """z_{1-a/2} (two-sided) or z_{1-a} (one-sided)."""
    return float(stats.norm.isf(alpha / 2 if alternative == "two-sided" else alpha))


def power_z(delta: float, se: float, alpha: float = 0.05, alternative: str = "two-sided") -> float:
    """Power of a z-test for a true difference ``delta`` with standard error ``se``.

    two-sided: Phi(delta/se - z_{1-a/2}) + Phi(-delta/se - z_{1-a/2}); larger:
    Phi(delta/se - z_{1-a}); smaller: Phi(-delta/se - z_{1-a}) (statsmodels ``normal_power``).
    """
    _check_alt(alternative)
    if not se > 0:
        raise UserError("the standard error must be above 0; check the variance and the sample size")
    c = _crit(alpha, alternative)
    t = delta / se
    if alternative == "larger":
        return float(stats.norm.sf(c - t))
    if alternative == "smaller":
        return float(stats.norm.cdf(-c - t))
    return float(stats.norm.sf(c - t) + stats.norm.cdf(-c - t))


def _signed(delta: float, alternative: str) -> float:
    """Effects are given as magnitudes; a ``smaller`` test looks for a decrease."""
    return -abs(delta) if alternative == "smaller" else abs(delta)


def unit_variance(kind: str, baseline: float, delta: float = 0.0, sd: float | None = None) -> tuple[float, float]:
    """Per-unit variances (v_0, v_1) of control and the offer arm, as the metric kind gives them
    (:meth:`uplift.metrics.base.Metric.unit_variance`).

    proportion: v_0 = p_0 (1 - p_0), v_1 = p_1 (1 - p_1), p_1 = p_0 + delta (delta signed);
    mean or ratio: v_0 = v_1 = sd^2.
    """
    return metric_class(kind).unit_variance(baseline, delta, sd)


def _se(kind: str, baseline: float, delta: float, sd: float | None, n0: float, n1: float) -> float:
    v0, v1 = unit_variance(kind, baseline, delta, sd)
    return math.sqrt(v0 / n0 + v1 / n1)


def power_at(
    effect: float,
    n_control: float,
    n_arm: float,
    *,
    kind: str = "proportion",
    baseline: float | None = None,
    sd: float | None = None,
    alpha: float = 0.05,
    alternative: str = "two-sided",
) -> float:
    """Power to detect an absolute ``effect`` (magnitude; a decrease for ``smaller``) at realised n.

    ``kind`` names a registered metric kind (:mod:`uplift.metrics.kinds`): proportion needs
    ``baseline`` (control rate); mean/ratio need ``sd`` (per-unit).
    Formula: :func:`power_z` with se = sqrt(v_0/n_0 + v_1/n_1) (module docstring).
    """
    _check_alt(alternative)
    if not (n_control > 0 and n_arm > 0):
        raise UserError("both arms need at least one unit to compute power")
    delta = _signed(effect, alternative)
    return power_z(delta, _se(kind, baseline or 0.0, delta, sd, n_control, n_arm), alpha, alternative)


def mde_at_n(
    n_control: float,
    n_arm: float,
    *,
    kind: str = "proportion",
    baseline: float | None = None,
    sd: float | None = None,
    alpha: float = 0.05,
    power: float = 0.80,
    alternative: str = "two-sided",
) -> float:
    """The smallest absolute effect detected with probability ``power`` at realised n (a magnitude).

    Solves power_at(delta) = power for delta > 0 (Brent); for a mean metric the closed form
    without the far tail is delta = (z_{1-a'} + z_power) sd sqrt(1/n_0 + 1/n_1).
    For a kind whose effect is bounded (a proportion must stay inside (0, 1):
    :meth:`uplift.metrics.base.Metric.max_effect`), NaN if no admissible effect reaches the power.
    """
    _check_alt(alternative)
    if not 0 < power < 1:
        raise UserError(f"power {power} must lie in (0, 1), e.g. 0.8")
    if not (n_control > 0 and n_arm > 0):
        raise UserError("both arms need at least one unit to compute an MDE")

    def f(d: float) -> float:
        return power_at(d, n_control, n_arm, kind=kind, baseline=baseline, sd=sd, alpha=alpha, alternative=alternative) - power

    bound = metric_class(kind).max_effect(baseline, alternative)
    if math.isfinite(bound):
        hi = bound * (1 - 1e-12)
        if f(hi) < 0:
            return float("nan")
    else:
        se0 = _se(kind, baseline or 0.0, 0.0, sd, n_control, n_arm)
        hi = 2 * (_crit(alpha, alternative) + stats.norm.ppf(power) + 10) * se0
    return float(optimize.brentq(f, hi * 1e-12, hi, xtol=1e-300, rtol=1e-14, maxiter=500))


def sample_size(
    effect: float,
    *,
    kind: str = "proportion",
    baseline: float | None = None,
    sd: float | None = None,
    weights: Sequence[float] = (0.5, 0.5),
    alpha: float = 0.05,
    power: float = 0.80,
    alternative: str = "two-sided",
) -> float:
    """Units N in the whole test (not rounded) so the test has ``power`` for ``effect``.

    ``weights`` = (w_0, w_1): the shares of control and the offer arm in the whole test,
    so n_0 = w_0 N and n_1 = w_1 N (w_0 + w_1 < 1 when there are other arms). Solves power(delta, se(N)) = power
    with se(N)^2 = (v_0/w_0 + v_1/w_1)/N, starting from the closed form
    N = (z_{1-a'} + z_power)^2 (v_0/w_0 + v_1/w_1) / delta^2 (module docstring).
    """
    _check_alt(alternative)
    if not effect or not math.isfinite(effect):
        raise UserError("the effect to detect must be a non-zero number; set [design] mde_relative or mde_absolute")
    if not 0 < power < 1:
        raise UserError(f"power {power} must lie in (0, 1), e.g. 0.8")
    w0, w1 = (float(weights[0]), float(weights[1]))
    delta = _signed(effect, alternative)
    v0, v1 = unit_variance(kind, baseline or 0.0, delta, sd)
    k = v0 / w0 + v1 / w1
    closed = (_crit(alpha, alternative) + stats.norm.ppf(power)) ** 2 * k / delta**2

    def f(n: float) -> float:
        return power_z(delta, math.sqrt(k / n), alpha, alternative) - power

    lo = closed * 0.5
    while f(lo) > 0:  # pragma: no cover - the far tail never adds this much at sensible alpha
        lo *= 0.5
    return float(optimize.brentq(f, lo, closed * 1.0000001 + 1e-9, xtol=1e-300, rtol=1e-14, maxiter=500))


def alpha_per_comparison(alpha: float, n_comparisons: int, method: str = "bonferroni") -> float:
    """Family-wise alpha split over K offer-vs-control comparisons: a/K (Bonferroni) or a (none)."""
    if method == "none" or n_comparisons <= 1:
        return alpha
    if method == "bonferroni":
        return alpha / n_comparisons
    raise UserError(f"multiple_arms {method!r} is not one of bonferroni, none")
