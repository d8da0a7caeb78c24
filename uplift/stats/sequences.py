"""Always-valid inference: normal-mixture confidence sequences and always-valid p-values.

From an effect's ``(estimate, se)`` at any look (every comparison of :mod:`uplift.stats.compare`
- proportions, means, CUPED and ratio metrics - supplies them), with ``V = se^2`` and ``n`` the
units in the comparison (both arms):

* mixture sequential probability ratio test (mSPRT; Robbins 1970; Johari, Koomen, Pekelis &
  Walsh 2022, "Always valid inference", Operations Research 70:1806-1821): the likelihood ratio
  of ``N(theta, V)`` against ``N(0, V)`` mixed over ``theta ~ N(0, tau^2)``::

      Lambda = sqrt(V / (V + tau^2)) exp(estimate^2 tau^2 / (2 V (V + tau^2)))

  always-valid p-value ``p = min(1, 1 / Lambda)``, kept as a running minimum over looks;
* the matching confidence sequence (two-sided normal-mixture boundary, Howard, Ramdas,
  McAuliffe & Sekhon 2021, "Time-uniform, nonparametric, nonasymptotic confidence sequences",
  Annals of Statistics 49:1055-1080, eq. 14; in its asymptotic form, Waudby-Smith et al. 2023,
  "Time-uniform central limit theory and asymptotic confidence sequences", eq. 9)::

      estimate +- sqrt( V (V + tau^2) / tau^2 x (log((V + tau^2) / V) - 2 log alpha) )

  kept as the running intersection over looks; 0 lies outside it exactly when ``p < alpha``;
* the mixing variance as GrowthBook documents it ("Sequential testing"): ``tau^2 = rho^2 n V``
  (``n V`` is the unit variance) with ``rho^2 = (-2 log alpha + log(1 - 2 log alpha)) / n*``,
  which makes the sequence narrowest at ``n* `` units (``[analysis] always_valid_tuning_n``).
  With these, the half-width is GrowthBook's
  ``sigma sqrt(2 (n rho^2 + 1) / (n^2 rho^2) log(sqrt(n rho^2 + 1) / alpha))``.

One-sided (``alternative`` "larger" or "smaller", as ``[design] alternative``): the mixture runs over
a half-normal, ``theta ~ N(0, tau^2)`` restricted to the alternative's side (Howard et al. 2021,
sec. 3.5, the one-sided normal mixture; here in the estimate's scale). Completing the square,
with ``z = estimate / se`` (``-estimate / se`` for "smaller") and ``r = tau^2 / V``::

      Lambda_1 = 2 Phi(z sqrt(r / (1 + r))) sqrt(1 / (1 + r)) exp(z^2 r / (2 (1 + r)))

  p-value ``min(1, 1 / Lambda_1)``; the confidence sequence is one-sided, ``[estimate - b se, +inf)``
  for "larger" (``(-inf, estimate + b se]`` for "smaller"), ``b`` solving ``Lambda_1(b) = 1 / alpha``
  (found numerically; it lies between the two-sided half-widths at ``alpha`` and at ``2 alpha``).
  Each ``exp(lambda S - lambda^2 V / 2)`` with ``lambda >= 0`` is a supermartingale under any effect
  on the other side of 0, so Ville's inequality keeps the level there too.

Under H0 the probability that ``p`` ever falls below ``alpha``, at any number of looks taken at
any times, is at most ``alpha`` (Ville's inequality on the mixture martingale); the normal
approximation of the estimate makes that asymptotic. tests/test_monitoring.py checks it by A/A
simulation with 30 looks.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from uplift.stats import distributions as st  # scipy.stats' normal, t, chi2 without importing it
from uplift.stats.lazy import lazy_module
from uplift.text import Msg

optimize = lazy_module("scipy.optimize")


__all__ = ["ALTERNATIVES", "AlwaysValid", "always_valid", "one_sided_boundary", "one_sided_log_lr", "always_valid_inflation", "crossed", "look_history", "mixture_rho",
           "mixture_variance", "running"]


ALTERNATIVES = ("two-sided", "larger", "smaller")


def mixture_rho(alpha: float, tuning_n: int) -> float:
    """GrowthBook's ``rho = sqrt((-2 log alpha + log(1 - 2 log alpha)) / n*)``."""
    a = -2.0 * math.log(alpha)
    return math.sqrt((a + math.log(1.0 + a)) / tuning_n)


@dataclass(frozen=True)
class AlwaysValid:
    """The always-valid interval and p-value of one effect at one look (module docstring)."""

    estimate: float
    se: float
    n: int
    alpha: float
    tuning_n: int
    ci: tuple[float, float]
    p_value: float
    log_lr: float
    alternative: str = "two-sided"

    def to_dict(self) -> dict[str, Any]:
        return {
            "ci": list(self.ci), "p_value": self.p_value, "alpha": self.alpha, "n": int(self.n),
            "alternative": self.alternative,
            "tuning_n": int(self.tuning_n), "mixture_sd": math.sqrt(mixture_variance(self.se, self.n, self.alpha, self.tuning_n)),
            "method": self.method(),
        }


    def method(self) -> Msg:
        """The method line: the mixture, its tuning and the sides."""
        if self.alternative == "two-sided":
            return Msg("always-valid: normal-mixture confidence sequence and mSPRT p-value (Howard et al. 2021; "
                       "Johari et al. 2022), mixing variance tuned to {n:,} units as GrowthBook documents; valid at every look",
                       n=self.tuning_n)
        return Msg("always-valid: one-sided ({alternative}: half-normal mixture), normal-mixture confidence sequence and "
                   "mSPRT p-value (Howard et al. 2021; Johari et al. 2022), mixing variance tuned to {n:,} units as "
                   "GrowthBook documents; valid at every look",
                   alternative=Msg("larger") if self.alternative == "larger" else Msg("smaller"), n=self.tuning_n)


def mixture_variance(se: float, n: int, alpha: float, tuning_n: int) -> float:
    """``tau^2 = rho^2 n se^2`` (module docstring)."""
    return mixture_rho(alpha, tuning_n) ** 2 * n * se * se


def one_sided_log_lr(z: float, r: float) -> float:
    """``log Lambda_1`` of the half-normal mixture at ``z`` standard errors with ``r = tau^2 / V``
    (module docstring): ``log 2 + log Phi(z sqrt(r/(1+r))) - log(1+r)/2 + z^2 r / (2 (1+r))``."""
    return (math.log(2.0) + float(st.norm.logcdf(z * math.sqrt(r / (1.0 + r)))) - 0.5 * math.log1p(r)
            + z * z * r / (2.0 * (1.0 + r)))


def one_sided_boundary(r: float, alpha: float) -> float:
    """``b`` (in standard errors) with ``Lambda_1(b) = 1 / alpha``: the one-sided sequence's distance
    from the estimate (module docstring). Bracketed by 0 (``Lambda_1 = 1 / sqrt(1 + r) < 1``) and the
    two-sided half-width at ``alpha`` (where ``2 Phi > 1`` puts ``Lambda_1`` above ``1 / alpha``)."""
    two = math.sqrt((1.0 + r) / r * (math.log1p(r) - 2.0 * math.log(alpha)))
    return float(optimize.brentq(lambda b: one_sided_log_lr(b, r) + math.log(alpha), 0.0, two, xtol=1e-13))


def always_valid(estimate: float, se: float, n: int, alpha: float, tuning_n: int,
                 alternative: str = "two-sided") -> AlwaysValid:
    """The confidence sequence and mSPRT p-value at this look (one look; see :func:`running` for the history);
    one-sided for ``alternative`` "larger" / "smaller" (module docstring)."""
    if not (0 < alpha < 1):
        raise ValueError("alpha must lie in (0, 1)")
    if alternative not in ALTERNATIVES:
        raise ValueError(f"alternative must be one of {', '.join(ALTERNATIVES)}")
    if not (se > 0) or not math.isfinite(se) or n < 1:
        nan = float("nan")
        return AlwaysValid(estimate, se, n, alpha, tuning_n, (nan, nan), nan, nan, alternative)
    v = se * se
    tau2 = mixture_variance(se, n, alpha, tuning_n)
    if alternative != "two-sided":
        r = tau2 / v
        sign = 1.0 if alternative == "larger" else -1.0
        log_lr1 = one_sided_log_lr(sign * estimate / se, r)
        b = one_sided_boundary(r, alpha) * se
        ci1 = (estimate - b, math.inf) if sign > 0 else (-math.inf, estimate + b)
        p1 = 1.0 if log_lr1 <= 0 else math.exp(-log_lr1)
        return AlwaysValid(float(estimate), float(se), int(n), alpha, tuning_n, (float(ci1[0]), float(ci1[1])),
                           float(min(1.0, p1)), float(log_lr1), alternative)
    half = math.sqrt(v * (v + tau2) / tau2 * (math.log((v + tau2) / v) - 2.0 * math.log(alpha)))
    log_lr = 0.5 * math.log(v / (v + tau2)) + estimate * estimate * tau2 / (2.0 * v * (v + tau2))
    p = 1.0 if log_lr <= 0 else math.exp(-log_lr)
    return AlwaysValid(float(estimate), float(se), int(n), alpha, tuning_n,
                       (float(estimate - half), float(estimate + half)), float(min(1.0, p)), float(log_lr))


def running(looks: Iterable[AlwaysValid]) -> list[dict[str, Any]]:
    """The look history: at each look the running intersection of the intervals and the running
    minimum of the p-values (both remain valid at every look; Howard et al. 2021, sec. 3)."""
    out: list[dict[str, Any]] = []
    lo, hi, p = -math.inf, math.inf, 1.0
    for k, a in enumerate(looks, 1):
        if not math.isnan(a.ci[0]):
            lo, hi, p = max(lo, a.ci[0]), min(hi, a.ci[1]), min(p, a.p_value)
        out.append({"look": k, "n": a.n, "estimate": a.estimate, "ci": [lo, hi], "p_value": p,
                    "ci_this_look": list(a.ci), "p_value_this_look": a.p_value})
    return out


def crossed(history: Sequence[dict[str, Any]], alpha: float) -> bool:
    """True when the running always-valid p-value fell below ``alpha`` at some look."""
    return any(h["p_value"] < alpha for h in history)


def look_history(rows: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """:func:`running` over one metric's results.json rows, one row per look in time order (each
    with its ``always_valid`` block, ``[analysis] always_valid = true``)."""
    looks = []
    for r in rows:
        av = r.get("always_valid")
        if not av:
            raise ValueError(f"row of {r.get('metric')!r} has no always_valid block; set [analysis] always_valid = true")
        lo, hi = av["ci"]  # a one-sided sequence's open end is null in results.json
        looks.append(AlwaysValid(float(r["abs_effect"]), float(r["abs_se"]), int(av["n"]), float(av["alpha"]),
                                 int(av["tuning_n"]), (-math.inf if lo is None else float(lo),
                                                       math.inf if hi is None else float(hi)), float(av["p_value"]),
                                 float("nan"), str(av.get("alternative", "two-sided"))))
    return running(looks)


def always_valid_inflation(n_fixed: float, alpha: float, power: float, tuning_n: int, sides: int = 2) -> float:
    """The sample size, over the fixed design's ``n_fixed`` (both arms), at which the always-valid interval
    of the last look excludes 0 with probability ``power`` for the effect the fixed design detects:
    the ratio ``r`` solving ``sqrt(r) (z_{1-alpha/sides} + z_power) = c(r n_fixed) + z_power`` with
    ``c(n) = sqrt((1 + n rho^2) / (n rho^2) (log(1 + n rho^2) - 2 log alpha))`` the half-width in se units
    (module docstring); with ``sides = 1`` the one-sided sequence's ``b`` (:func:`one_sided_boundary`) in
    place of ``c(n)``. An upper bound on the cost of continuous monitoring: a campaign stopped at the
    first crossing, at any earlier look, only gains power."""
    zf = float(st.norm.isf(alpha / sides) + st.norm.ppf(power))
    zb = float(st.norm.ppf(power))
    rho2 = mixture_rho(alpha, tuning_n) ** 2

    def gap(r: float) -> float:
        n = r * n_fixed
        if sides == 1:
            c = one_sided_boundary(n * rho2, alpha)
        else:
            c = math.sqrt((1 + n * rho2) / (n * rho2) * (math.log1p(n * rho2) - 2 * math.log(alpha)))
        return math.sqrt(r) * zf - c - zb

    return float(optimize.brentq(gap, 1.0, 1e4, xtol=1e-10))
