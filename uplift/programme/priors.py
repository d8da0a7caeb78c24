"""The registry's past effects as the designer's prior: expected incremental profit and assurance.

Prior
    The latest recorded effect of each past campaign on the same product (``readout`` entries of
    ``uplift readout``, primary metrics' absolute effects with their standard errors, and
    ``campaign_effect`` entries of ``uplift programme``) are pooled by the random-effects meta-analysis
    (:mod:`uplift.programme.meta`); the prior of the new campaign's effect is its predictive
    distribution ``N(mu, tau^2 + se(mu)^2)`` (Higgins, Thompson & Spiegelhalter 2009).

Assurance (the chance to detect)
    The power of the planned two-sided z-test averaged over the prior (O'Hagan, Stevens & Campbell
    2005, Pharmaceutical Statistics 4:187, eq. 3; Spiegelhalter, Abrams & Myles 2004, sec. 6.5).
    With ``sigma`` the standard error of the difference at the planned n, ``z = z_{1-alpha/2}``
    and ``delta ~ N(m, s^2)``::

        power(delta) = Phi(delta/sigma - z) + Phi(-delta/sigma - z)
        assurance    = E[power(delta)] = Phi((m - z sigma) / sqrt(sigma^2 + s^2))
                                        + Phi((-m - z sigma) / sqrt(sigma^2 + s^2))

    (for one-sided "larger": the first term only; "smaller": the second).

Expected incremental conversions ``m x n_treated`` (interval ``(m +- z s) x n_treated``); with a value
per conversion V (``[design] value_per_conversion``, as the design's own forecast) the expected incremental profit is
``n_treated (m V - contact_cost - incentive_cost (p0 + m))`` (:func:`uplift.metrics.valuation.expected_profit`).
"""

from __future__ import annotations

import math
from typing import Any, Mapping

from scipy import stats as st

from uplift.errors import UserError
from uplift.metrics.valuation import expected_profit
from uplift.programme.meta import random_effects
from uplift.programme.registry import Registry

__all__ = ["past_effects", "assurance", "design_prior"]


def past_effects(registry: Registry, product: str, metric: str = "") -> list[tuple[str, float, float]]:
    """(experiment, absolute effect, se) of the latest recorded effect per past campaign on ``product``."""
    found: dict[str, tuple[float, float]] = {}
    for e in registry.entries:
        if e.get("kind") not in ("readout", "campaign_effect") or (product and e.get("product") != product):
            continue
        for row in e.get("effects", []):
            if metric and row.get("metric") != metric:
                continue
            if row.get("abs_effect") is not None and row.get("abs_se"):
                found[str(e["experiment"])] = (float(row["abs_effect"]), float(row["abs_se"]))
                break
    return [(k, y, s) for k, (y, s) in found.items()]


def assurance(prior_mean: float, prior_sd: float, sigma: float, alpha: float, alternative: str = "two-sided") -> float:
    """The power averaged over ``N(prior_mean, prior_sd^2)`` (module docstring)."""
    if alternative == "two-sided":
        z = float(st.norm.ppf(1 - alpha / 2))
    else:
        z = float(st.norm.ppf(1 - alpha))
    scale = math.sqrt(sigma ** 2 + prior_sd ** 2)
    up = float(st.norm.cdf((prior_mean - z * sigma) / scale))
    down = float(st.norm.cdf((-prior_mean - z * sigma) / scale))
    return {"two-sided": up + down, "larger": up, "smaller": down}[alternative]


def design_prior(spec, design: Mapping[str, Any], registry: Registry) -> dict[str, Any]:
    """The prior from ``registry`` and what it forecasts for the design ``design`` (``DesignResult.to_dict()``)."""
    product = spec.experiment.target_product
    metric = str(design.get("primary", ""))
    past = past_effects(registry, product, metric) or past_effects(registry, product)
    if len(past) < 2:
        raise UserError(f"{registry.path}: records {len(past)} past effect(s) for product {product or '(any)'!r}; "
                        "a prior needs at least 2 (read out more campaigns, or design without --prior-from-registry)")
    meta = random_effects([y for _, y, _ in past], [s for _, _, s in past], [n for n, _, _ in past],
                          confidence=float(spec.analysis.confidence))
    m, s = meta.mean, meta.predictive_sd
    row = next((r for r in design.get("metrics", []) if r.get("name") == metric), {})
    n = dict(design.get("n_per_arm") or {})
    control = str(design.get("control", ""))
    n_c = n.get(control, 0)
    n_t = sum(v for a, v in n.items() if a != control)
    base = row.get("baseline")
    sd = row.get("sd") or (math.sqrt(base * (1 - base)) if base is not None and 0 < base < 1 else None)
    if not (n_c and n_t and sd):
        raise UserError(f"{spec.label}: the design has no sample size or variance for {metric!r}; give [design] "
                        "baseline_rate or a population so the prior can be applied")
    sigma = sd * math.sqrt(1 / n_c + 1 / min(v for a, v in n.items() if a != control))  # smallest offer arm; baseline variance in both arms
    chance = assurance(m, s, sigma, float(design.get("alpha_per_comparison") or spec.design.alpha),
                       str(design.get("alternative", "two-sided")))
    z = float(st.norm.ppf(0.5 + float(spec.analysis.confidence) / 2))
    out: dict[str, Any] = {
        "product": product, "metric": metric, "campaigns": [n for n, _, _ in past], "prior_mean": m, "prior_sd": s,
        "tau2": meta.tau2, "i2": meta.i2, "sigma_at_n": sigma, "assurance": chance, "power_at_mde": design.get("power"),
        "n_treated": n_t, "incremental_conversions": m * n_t,
        "incremental_conversions_interval": [(m - z * s) * n_t, (m + z * s) * n_t],
        "method": "prior = random-effects predictive N(mu, tau^2 + se(mu)^2); assurance = power averaged over it",
    }
    value = spec.design.value_per_conversion if spec.design is not None else None  # the design forecast's value
    if value is not None and base is not None:
        e = spec.economics
        cc, ic = (e.contact_cost, e.incentive_cost) if e is not None else (0.0, 0.0)
        out["incremental_profit"] = n_t * expected_profit(m, value, cc, ic, base + m)
        out["incremental_profit_interval"] = [n_t * expected_profit(m + d * z * s, value, cc, ic, base + m + d * z * s)
                                              for d in (-1, 1)]
    return out
