"""A Bayesian view of an effect from its estimate and standard error: posterior, chance to win, expected loss.

Nothing is re-estimated here: every input is an ``(estimate, se)`` pair a frequentist
comparison already computed (:mod:`uplift.stats.compare`, :mod:`uplift.metrics.valuation`).
The model is the normal approximation those intervals already use:

* likelihood ``estimate | theta ~ N(theta, se^2)``;
* prior ``theta ~ N(m0, s0^2)`` (:class:`NormalPrior`), either stated by the spec (from past
  campaigns) or the weakly informative default :func:`unit_information_prior`: centred at
  ``m0`` (0 unless stated) with the information of ONE unit, ``s0^2 = n se^2`` for ``n`` units
  in the comparison (Kass & Wasserman 1995, "A reference Bayesian test for nested hypotheses
  and its relationship to the Schwarz criterion", JASA 90:928-934). It shrinks the estimate
  towards ``m0`` by the factor ``n / (n + 1)``; a flat prior is ``s0 = inf``;
* conjugate posterior (Gelman et al. 2013, *Bayesian Data Analysis*, 3rd ed., sec. 2.5)::

      precision  1/s1^2 = 1/s0^2 + 1/se^2
      mean       m1 = s1^2 (m0/s0^2 + estimate/se^2)

* chance to beat control ``P(theta > 0) = Phi(m1 / s1)`` (``P(theta < 0)`` when smaller is
  better), equal-tailed credible interval ``m1 +- z_{(1+level)/2} s1``;
* expected loss (the risk GrowthBook reports, Stucchio 2015, "Bayesian A/B testing at VWO"):
  the loss of shipping is ``E[max(-theta, 0)]``, of not shipping ``E[max(theta, 0)]`` (for
  larger-is-better), from the normal partial expectation
  ``E[max(X, 0)] = mu Phi(mu/s) + s phi(mu/s)`` for ``X ~ N(mu, s^2)`` (Winkler, Roodman &
  Britney 1972, "The determination of partial moments", Management Science 19:290-296).

Scaling a posterior by a fixed ``N`` (the eligible population) multiplies mean, sd, interval
and both losses by ``N`` and leaves the chance to win unchanged (:meth:`Posterior.scaled`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from uplift.stats import distributions as st  # scipy.stats' normal, t, chi2 without importing it
from uplift.text import Msg



__all__ = ["NormalPrior", "Posterior", "normal_posterior", "partial_expectation", "prior_for", "unit_information_prior"]


def partial_expectation(mu: float, s: float) -> float:
    """``E[max(X, 0)]`` for ``X ~ N(mu, s^2)``: ``mu Phi(mu/s) + s phi(mu/s)`` (``max(mu, 0)`` when s = 0)."""
    if s <= 0:
        return max(mu, 0.0)
    z = mu / s
    return float(mu * st.norm.cdf(z) + s * st.norm.pdf(z))


@dataclass(frozen=True)
class NormalPrior:
    """``theta ~ N(mean, sd^2)``; ``sd = inf`` is the flat (improper) prior. ``source`` says where it came from
    (a :class:`~uplift.text.Msg`, so the page shows it in its language)."""

    mean: float
    sd: float
    source: str

    def __post_init__(self) -> None:
        if not (self.sd > 0):
            raise ValueError("a normal prior needs a standard deviation above 0")

    def scaled(self, k: float) -> NormalPrior:
        """The prior of ``k theta`` (k > 0)."""
        return NormalPrior(k * self.mean, k * self.sd, self.source)

    def to_dict(self) -> dict[str, Any]:
        return {"distribution": "normal", "mean": self.mean, "sd": self.sd if math.isfinite(self.sd) else None,
                "flat": not math.isfinite(self.sd), "source": self.source}


def unit_information_prior(se: float, n: int, mean: float = 0.0) -> NormalPrior:
    """The weakly informative default: ``N(mean, n se^2)``, the information of one of the ``n`` units
    (Kass & Wasserman 1995). Scale-free: it is stated in the metric's own units through ``se``."""
    return NormalPrior(mean, math.sqrt(max(n, 1)) * se,
                       Msg("weakly informative default: unit-information normal prior centred at {mean:g} "
                           "(sd = sqrt(n) x se with n = {n} units, worth one unit of data; Kass & Wasserman 1995)",
                           mean=mean, n=n))


def prior_for(se: float, n: int, mean: float, sd: float | None, key: str) -> NormalPrior:
    """The spec's prior (``sd`` given: ``N(mean, sd^2)`` from past campaigns, named by ``key``) or the default."""
    if sd is None:
        return unit_information_prior(se, n, mean)
    return NormalPrior(mean, sd, Msg("stated in the spec ({key}): normal prior, mean {mean:g}, sd {sd:g}", key=key, mean=mean,
                                     sd=sd))


@dataclass(frozen=True)
class Posterior:
    """Normal posterior ``N(mean, sd^2)`` of an effect, with the prior it came from."""

    mean: float
    sd: float
    prior: NormalPrior

    def prob_positive(self) -> float:
        """``P(theta > 0) = Phi(mean / sd)``."""
        if self.sd <= 0:
            return float(self.mean > 0)
        return float(st.norm.cdf(self.mean / self.sd))

    def loss_if_positive_chosen(self) -> float:
        """``E[max(-theta, 0)]``: what acting as if theta > 0 loses on average."""
        return partial_expectation(-self.mean, self.sd)

    def loss_if_negative_chosen(self) -> float:
        """``E[max(theta, 0)]``: what acting as if theta <= 0 forgoes on average."""
        return partial_expectation(self.mean, self.sd)

    def credible_interval(self, level: float) -> tuple[float, float]:
        """Equal-tailed interval ``mean +- z_{(1+level)/2} sd``."""
        z = float(st.norm.ppf(0.5 + level / 2))
        return self.mean - z * self.sd, self.mean + z * self.sd

    def scaled(self, k: float) -> Posterior:
        """The posterior of ``k theta`` for a fixed ``k > 0`` (e.g. the eligible population)."""
        return Posterior(k * self.mean, k * self.sd, self.prior.scaled(k))

    def to_dict(self, level: float, better: str = "larger") -> dict[str, Any]:
        """results.json block. ``better`` "larger" (profit, most metrics) or "smaller": the chance to win
        is ``P(theta > 0)`` or ``P(theta < 0)``; shipping loses ``E[max(-theta, 0)]`` or ``E[max(theta, 0)]``."""
        up = better != "smaller"
        p_pos = self.prob_positive()
        return {
            "prior": self.prior.to_dict(),
            "posterior_mean": self.mean, "posterior_sd": self.sd,
            "credible_interval": list(self.credible_interval(level)), "credible_level": level,
            "better": "larger" if up else "smaller",
            "chance_to_win": p_pos if up else 1.0 - p_pos,
            "prob_positive": p_pos,
            "expected_loss_ship": self.loss_if_positive_chosen() if up else self.loss_if_negative_chosen(),
            "expected_loss_not_ship": self.loss_if_negative_chosen() if up else self.loss_if_positive_chosen(),
            "model": "normal likelihood N(estimate, se^2) x normal prior, conjugate posterior (normal approximation "
                     "on the frequentist estimate and se)",
        }


def normal_posterior(estimate: float, se: float, prior: NormalPrior) -> Posterior:
    """Conjugate update of ``prior`` by ``estimate ~ N(theta, se^2)`` (module docstring);
    a flat prior returns ``N(estimate, se^2)``. ``se`` must be positive."""
    if not (se > 0) or not math.isfinite(se):
        raise ValueError("the standard error must be a positive number")
    if not math.isfinite(prior.sd):
        return Posterior(float(estimate), float(se), prior)
    w0, w1 = 1.0 / prior.sd**2, 1.0 / se**2
    var = 1.0 / (w0 + w1)
    return Posterior(float(var * (w0 * prior.mean + w1 * estimate)), float(math.sqrt(var)), prior)
