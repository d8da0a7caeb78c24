"""What a planned test would earn: incremental profit and ROI at the MDE and at a stated prior effect.

The money comes from ONE formula, finance's and targeting's
:func:`uplift.metrics.valuation.expected_profit`: contacting one customer whose conversion rate the
offer moves by ``delta`` earns

    pi(delta) = delta x V - c_contact - c_incentive x (p_0 + delta)

(V = ``[design] value_per_conversion``, the net value of one incremental conversion before campaign
costs; c_contact, c_incentive = ``[economics] contact_cost`` and ``incentive_cost``; p_0 the primary
metric's baseline, so p_0 + delta is the offer arm's conversion rate; Devriendt, Berrevoets & Verbeke
2021). The campaign cost of one contacted customer is pi(0) - pi(delta) + delta V, i.e.
``c_contact + c_incentive (p_0 + delta)``, the cost of :attr:`uplift.metrics.valuation.Valuation.campaign_cost`.

* **test period**: the offer arms' units n_t (control is not contacted): profit n_t pi(delta),
  cost n_t x cost(delta). The units are the design's n per arm, or -- a fixed pool with a known eligible
  count, which ``uplift assign`` puts in the test whole -- the eligible units split by the arm weights,
  and "the MDE" is then the MDE those units reach;
* **rollout**: every eligible unit offered (``[economics] eligible_population``, else the eligible
  count of the population): profit N pi(delta);
* **ROI** = incremental profit / campaign cost (finance's ROI, ``(d_pi - cost) / cost``);
* **break-even effect** delta_b with pi(delta_b) = 0 (pi is linear in delta).

With ``[design] prior_effect`` mu the same figures at delta = mu. With ``prior_sd`` sigma too, the
effect is taken as delta ~ N(mu, sigma^2) (a design prior, O'Hagan & Stevens 2001, "Bayesian assessment
of sample size for clinical trials of cost-effectiveness", Med Decis Making 21:219; Spiegelhalter,
Abrams & Myles 2004, *Bayesian Approaches to Clinical Trials and Health-Care Evaluation*, sec. 6.5):

* **expected profit** E[n pi(delta)] = n pi(mu) (pi is linear in delta);
* **chance of a profit** P(delta > delta_b) = Phi((mu - delta_b) / sigma) (when V > c_incentive);
* **assurance** = integral of power(delta) N(delta; mu, sigma^2) d delta, the probability that the test
  gives a significant result averaged over the prior, with power(delta) the design's z-test power
  (:func:`uplift.experiment.power.power_z`, the signed effect, the smallest offer arm against control,
  alpha per comparison). Integrated by Gauss-Hermite quadrature (96 nodes); for a proportion an effect
  is kept inside the rates (p_0 + delta in (0, 1)).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
from scipy import stats

from uplift.experiment.power import power_z, unit_variance
from uplift.metrics.valuation import expected_profit
from uplift.text import N_, Msg

__all__ = ["assurance", "forecast_lines", "profit_forecast"]

_NODES = 96


def assurance(mu: float, sigma: float, n_control: float, n_arm: float, *, kind: str, baseline: float | None,
              sd: float | None, alpha: float, alternative: str) -> float:
    """Probability of a significant result averaged over the prior N(mu, sigma^2) of the signed effect:
    sum_i w_i power(mu + sqrt(2) sigma x_i) / sqrt(pi) over Gauss-Hermite nodes x_i and weights w_i
    (module docstring; O'Hagan & Stevens 2001)."""
    x, w = np.polynomial.hermite.hermgauss(_NODES)
    total = 0.0
    for xi, wi in zip(x, w):
        delta = mu + math.sqrt(2.0) * sigma * float(xi)
        if kind == "proportion" and baseline is not None:  # keep the offer arm's rate inside (0, 1)
            delta = min(max(delta, -baseline + 1e-12), 1.0 - baseline - 1e-12)
        v0, v1 = unit_variance(kind, baseline or 0.0, delta, sd)
        total += float(wi) * power_z(delta, math.sqrt(v0 / n_control + v1 / n_arm), alpha, alternative)
    return total / math.sqrt(math.pi)


def profit_forecast(spec: Any, *, kind: str, baseline: float | None, sd: float | None, mde: float | None,
                    n_per_arm: Mapping[str, int], control: str, eligible: int | None, alpha: float,
                    alternative: str, basis: str | None = None) -> dict[str, Any]:
    """The profit forecast of the design (module docstring): ``available`` False with a ``note`` saying what
    is missing, else the inputs, the break-even effect, one scenario per effect (at the MDE, at the prior
    effect) and, with a prior sd, the expected profit, the chance of a profit and the assurance. ``basis`` says
    which units the test offers (a catalogued sentence; default: the design's units per arm)."""
    d, e = spec.design, spec.economics
    value = d.value_per_conversion
    if kind != "proportion" or baseline is None:
        return {"available": False, "note": Msg("the profit forecast needs a proportion primary metric (a conversion) "
                                                "with a baseline rate")}
    if value is None:
        return {"available": False, "note": Msg("no profit forecast: set [design] value_per_conversion (what one "
                                                "incremental conversion is worth, e.g. 250) to see profit and ROI at the "
                                                "MDE")}
    c0, c1 = (e.contact_cost, e.incentive_cost) if e is not None else (0.0, 0.0)  # no [economics]: no campaign costs
    treated = int(sum(n for a, n in n_per_arm.items() if a != control))
    rollout, rollout_source = ((e.eligible_population, "[economics] eligible_population")
                               if e is not None and e.eligible_population is not None else
                               (eligible, Msg("the eligible units of the population")) if eligible is not None else
                               (None, ""))

    def per_customer(delta: float) -> float:
        return float(expected_profit(delta, value, c0, c1, baseline + delta))

    def cost(delta: float) -> float:  # the campaign cost per contacted customer: what pi leaves off delta x V
        return delta * value - per_customer(delta)

    slope = per_customer(1.0) - per_customer(0.0)
    break_even = -per_customer(0.0) / slope if slope > 0 else None

    def scenario(name: str, delta: float) -> dict[str, Any]:
        pi, c = per_customer(delta), cost(delta)
        return {
            "name": name, "effect": delta, "effect_relative": delta / baseline if baseline else None,
            "profit_per_customer": pi, "cost_per_customer": c,
            "test_profit": treated * pi, "test_cost": treated * c,
            "rollout_profit": rollout * pi if rollout is not None else None,
            "rollout_cost": rollout * c if rollout is not None else None,
            "roi": pi / c if c > 0 else None,
        }

    sign = -1.0 if alternative == "smaller" else 1.0
    scenarios = []
    if mde is not None and math.isfinite(mde):
        scenarios.append(scenario(N_("at the MDE"), sign * mde))
    if d.prior_effect is not None:
        scenarios.append(scenario(N_("at the prior effect"), d.prior_effect))
    prior = None
    if d.prior_effect is not None and d.prior_sd is not None:
        mu, sigma = d.prior_effect, d.prior_sd
        n_arm = min(n for a, n in n_per_arm.items() if a != control)
        prior = {
            "mean": mu, "sd": sigma,
            "expected_test_profit": treated * per_customer(mu),
            "expected_rollout_profit": rollout * per_customer(mu) if rollout is not None else None,
            "chance_of_profit": float(stats.norm.sf((break_even - mu) / sigma)) if break_even is not None else 0.0,
            "assurance": assurance(mu, sigma, n_per_arm[control], n_arm, kind=kind, baseline=baseline, sd=sd,
                                   alpha=alpha, alternative=alternative),
            "method": Msg("normal design prior of the effect (O'Hagan & Stevens 2001); expected profit = profit at the "
                          "prior mean (linear in the effect); assurance = power averaged over the prior, Gauss-Hermite "
                          "quadrature ({nodes} nodes)", nodes=_NODES),
        }
    return {
        "available": True, "currency": spec.experiment.currency, "value_per_conversion": value,
        "contact_cost": c0, "incentive_cost": c1, "baseline": baseline, "treated_units": treated,
        "units_basis": basis if basis is not None else Msg("the design's units per arm"), "rollout_units": rollout,
        "rollout_source": rollout_source, "break_even_effect": break_even,
        "scenarios": scenarios, "prior": prior,
        "definition": Msg("profit = units offered x (effect x value_per_conversion - contact_cost - incentive_cost x "
                          "(baseline + effect)); cost = units offered x (contact_cost + incentive_cost x (baseline + "
                          "effect)); ROI = profit / cost"),
    }


def forecast_lines(f: Mapping[str, Any]) -> list[str]:
    """The forecast in plain text, for ``uplift design`` (the same numbers as design.json's ``forecast``)."""
    if not f.get("available"):
        return [f"forecast: {f.get('note', '')}"]
    cur = f["currency"]

    def money(x: float | None) -> str:
        return "-" if x is None else f"{cur} {x:,.0f}"

    out = [f"Forecast ({cur}; a conversion is worth {f['value_per_conversion']:,.2f}, contact {f['contact_cost']:,.2f}, "
           f"incentive {f['incentive_cost']:,.2f}; break-even effect "
           + ("none (a conversion is worth no more than its incentive)" if f["break_even_effect"] is None
              else f"{f['break_even_effect']:+.4g}") + f"; the test offers {f['units_basis']}):"]
    for s in f["scenarios"]:
        out.append(
            f"  {s['name']} ({s['effect']:+.4g}): the test ({f['treated_units']:,} offered) earns {money(s['test_profit'])} "
            f"on a cost of {money(s['test_cost'])}, ROI " + ("-" if s["roi"] is None else f"{s['roi']:.0%}")
            + (f"; a rollout to {f['rollout_units']:,} ({f['rollout_source']}) {money(s['rollout_profit'])}"
               if f["rollout_units"] is not None else ""))
    p = f.get("prior")
    if p:
        out.append(f"  prior effect N({p['mean']:+.4g}, {p['sd']:.4g}^2): expected profit of the test "
                   f"{money(p['expected_test_profit'])}"
                   + (f", of the rollout {money(p['expected_rollout_profit'])}" if p["expected_rollout_profit"] is not None else "")
                   + f"; chance of a profit {p['chance_of_profit']:.0%}; assurance (chance of a significant result) "
                   f"{p['assurance']:.1%}")
    return out
