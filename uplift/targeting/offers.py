"""Next best offer: for each eligible customer, the expected incremental profit of each offer arm, and
the allocation of offers under the spec's budget, capacities and minimum profit per contact.

Per offer *o* (each treated arm of the test against control):

* an uplift model fitted on the training part of that arm's and control's customers (the spec's
  ``[targeting] model``; ``"auto"`` uses the X-learner, which fits binary and continuous outcomes)
  and evaluated on the held-out part (Qini with bootstrap interval,
  :func:`uplift.targeting.evaluation.evaluate_uplift`);
* its calibration on the held-out part (best linear predictor, :func:`uplift.targeting.profit.calibrate_uplift`);
* finance's valuation of the arm (:func:`uplift.metrics.analyse.economics_valuation`, the one value of
  a conversion): ``V_o = d_pi / d_p`` and the arm's conversion rate ``p_o``. The calibrated uplift is
  anchored to it as in :mod:`uplift.targeting.analyse`: ``tau_io = d_p,o + b_o (s_io - mean_i s_io)``
  (mean over the list); without a finance valuation, ``tau_io = ate_o + b_o (s_io - centre_o)`` from
  the held-out calibration and ``V_o`` = ``[targeting] value_per_conversion`` (else 1: outcome units);
* expected incremental profit (:func:`uplift.metrics.valuation.expected_profit`)
  ``v_io = tau_io V_o - c_contact - c_incentive p_o`` and expected campaign cost ``c_io = c_contact +
  c_incentive p_o`` (finance's campaign cost per treated customer of the arm);
* its interval: ``v_io +- z V_o se(tau_io)`` with ``se(tau_io)^2 = se(level)^2 + (s_io - centre)^2 se(b_o)^2``
  (delta method; the level's and slope's covariance and the value's uncertainty are left out).

The allocation (:func:`uplift.targeting.allocate.allocate`) gives each customer at most one offer;
the list holds every eligible customer (spec exclusions, not converted in the test) with the
offer (``"none"`` if none), its expected incremental profit and interval.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import pandas as pd
from scipy.stats import norm

from uplift.errors import DataError, SpecError
from uplift.metrics.analyse import economics_valuation
from uplift.metrics.valuation import expected_profit
from uplift.targeting.allocate import Allocation, allocate, frontier
from uplift.targeting.evaluation import UpliftEvaluation, evaluate_uplift
from uplift.targeting.models import make_model
from uplift.targeting.profit import calibrate_uplift
from uplift.targeting.sample import eligible_customers, not_converted_in_test, read_setup, split_sample, training_sample
from uplift.text import Msg

__all__ = ["OfferModel", "NextBestOffer", "next_best_offer", "wants_next_best_offer", "NO_OFFER", "OUTPUT_SCHEMA_PATH",
           "validate_output"]

OUTPUT_SCHEMA_PATH = Path(__file__).resolve().parent / "next_best_offer.schema.json"  # package data
"""JSON Schema (draft 2020-12) of what ``uplift target --json`` prints for a next-best-offer list."""

NO_OFFER = "none"
"""The list's ``offer`` of a customer who gets no offer."""


def validate_output(output: Mapping[str, Any], label: str = "uplift target --json") -> None:
    """Check the printed next-best-offer dict against :data:`OUTPUT_SCHEMA_PATH`; a breach is one
    :class:`DataError` line naming the JSON path. Needs ``jsonschema`` (imported on use)."""
    import jsonschema

    from uplift.results import jsonable

    schema = json.loads(OUTPUT_SCHEMA_PATH.read_text(encoding="utf-8"))
    error = jsonschema.exceptions.best_match(jsonschema.Draft202012Validator(schema).iter_errors(jsonable(output)))
    if error is not None:
        message = " ".join(error.message.split())[:200]
        raise DataError(f"{label}: {error.json_path}: {message} (schema {OUTPUT_SCHEMA_PATH.name})")


def wants_next_best_offer(spec: Any, outcomes: pd.DataFrame, arm_column: str, control: str) -> bool:
    """True when the test has several offer arms or ``[targeting]`` sets a budget, capacity or minimum profit."""
    s = spec.targeting
    if s is None:
        return False
    arms = set(outcomes[arm_column].astype(str).unique()) - {str(control)}
    return len(arms) > 1 or s.budget is not None or s.capacity is not None or s.min_profit_per_contact is not None


@dataclass(frozen=True)
class OfferModel:
    """One offer's fitted uplift model, held-out evaluation, calibration and pricing."""

    offer: str
    model: Any
    evaluation: UpliftEvaluation
    calibration: dict[str, float]
    value_per_conversion: float
    conversion_offered: float
    cost_per_contact: float
    held_X: pd.DataFrame = field(repr=False)
    held_y: np.ndarray = field(repr=False)
    held_t: np.ndarray = field(repr=False)


@dataclass(frozen=True)
class NextBestOffer:
    """The offers' models, the (customers x offers) expected profits, costs and standard errors, the
    allocation, the frontier and the list."""

    offers: tuple[str, ...]
    models: tuple[OfferModel, ...]
    units: np.ndarray = field(repr=False)
    eligible: pd.DataFrame = field(repr=False)
    value: np.ndarray = field(repr=False)
    cost: np.ndarray = field(repr=False)
    se: np.ndarray = field(repr=False)
    allocation: Allocation = field(repr=False)
    frontier: dict[str, list[float]] = field(repr=False)
    table: pd.DataFrame = field(repr=False)
    budget: float | None
    capacity: Mapping[str, float] | None
    min_profit: float | None
    confidence: float
    currency: str
    excluded: dict[str, int]
    features: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready aggregates (results.json ``next_best_offer``)."""
        a = self.allocation
        sel = self.table["offer"] != NO_OFFER
        return {
            "offers": list(self.offers),
            "budget": self.budget, "capacity": dict(self.capacity) if self.capacity else None,
            "min_profit_per_contact": self.min_profit,
            "eligible": int(len(self.table)), "selected": int(sel.sum()),
            "contacts": dict(a.contacts),
            "expected_incremental_profit": a.profit,
            "expected_incremental_profit_ci": [float(self.table.loc[sel, "value_low"].sum()),
                                               float(self.table.loc[sel, "value_high"].sum())],
            "interval_method": Msg("sum of the per-customer intervals (conservative: errors taken as perfectly correlated)"),
            "expected_cost": a.cost,
            "upper_bound": a.upper_bound,
            "status": a.status,
            "shadow_prices": dict(a.shadow_prices),
            "shadow_price_method": Msg("dual values of the budget and capacity rows of the LP relaxation (HiGHS); "
                                       "profit per currency unit of budget or per contact slot, at the margin"),
            "per_offer": [{"offer": m.offer, "qini": m.evaluation.qini.estimate,
                           "qini_ci": [m.evaluation.qini.low, m.evaluation.qini.high],
                           "calibration_slope": m.calibration.get("slope"),
                           "value_per_conversion": m.value_per_conversion,
                           "cost_per_contact": m.cost_per_contact} for m in self.models],
            "frontier": {k: list(v) for k, v in self.frontier.items()},
            "confidence": self.confidence, "currency": self.currency,
        }


def _offer_model(spec: Any, setup: Any, population: pd.DataFrame, outcomes: pd.DataFrame, offer: str,
                 n_boot: int) -> tuple[OfferModel, Any]:
    """Fit, evaluate, calibrate and price one offer (module docstring). Returns it and its training sample."""
    sample = training_sample(setup, population, outcomes, offer)
    split = split_sample(setup, sample)
    name = spec.targeting.model if spec.targeting.model != "auto" else "x_learner"
    tr, ho = split.training, split.holdout
    X = sample.X
    model = make_model(name, random_state=setup.seed).fit(X.iloc[tr].reset_index(drop=True), sample.y[tr], sample.t[tr])
    Xh = X.iloc[ho].reset_index(drop=True)
    score_h = model.predict(Xh)
    ev = evaluate_uplift(sample.y[ho], score_h, sample.t[ho], n_boot=n_boot, seed=setup.seed,
                         confidence=setup.confidence, random_baseline=False)
    cal = calibrate_uplift(sample.y[ho], sample.t[ho], score_h, confidence=setup.confidence)
    val = economics_valuation(spec, outcomes, setup.arm_column, setup.control, offer) if setup.binary else None
    vpc = val.value_per_conversion if val is not None else None
    if val is not None and vpc is not None:
        v, p = float(vpc[0]), float(val.conv_arm)
        cal = {**cal, "ate": float(val.incremental_conversion[0]), "ate_se": float(np.sqrt(val.incremental_conversion[1])),
               "anchored": 1.0}
    else:
        v = spec.targeting.value_per_conversion if spec.targeting.value_per_conversion is not None else 1.0
        p = float(sample.converted[sample.t == 1].mean()) if len(sample.converted) else 0.0
    cost = setup.contact_cost + setup.incentive_cost * p
    om = OfferModel(offer, model, ev, cal, float(v), p, float(cost), Xh, sample.y[ho], sample.t[ho])
    return om, sample


def next_best_offer(spec: Any, population: pd.DataFrame, outcomes: pd.DataFrame, arm_column: str | None = None,
                    control: str | None = None, n_boot: int | None = None) -> NextBestOffer:
    """Per-offer models and prices, the allocation under ``[targeting] budget``, ``capacity`` and
    ``min_profit_per_contact``, the efficient frontier and the list (module docstring)."""
    setup = read_setup(spec, population, outcomes, arm_column, control, n_boot)
    s = spec.targeting
    offers = tuple(sorted(set(outcomes[setup.arm_column].astype(str).unique()) - {setup.control}))
    for name in (s.capacity or {}):
        if name not in offers:
            raise SpecError(f"{setup.label}: [targeting] capacity names '{name}', which is not an offer arm of the test "
                            f"(offer arms: {', '.join(offers)}); use one of those names")
    eligible, excluded = eligible_customers(spec, setup, population)
    models = []
    for o in offers:
        om, sample = _offer_model(spec, setup, population, outcomes, o, setup.n_boot)
        eligible, excluded = not_converted_in_test(setup, sample, eligible, excluded)
        models.append(om)
    cheapest = min(m.cost_per_contact for m in models)
    if s.budget is not None and s.budget < cheapest:
        raise SpecError(f"{setup.label}: [targeting] budget = {s.budget:g} is below the cost of one contact "
                        f"({cheapest:,.2f} {setup.currency}: contact plus expected incentive); raise it")
    Xe = eligible[list(setup.features)].reset_index(drop=True)
    z = float(norm.ppf(0.5 + setup.confidence / 2))
    n, k = len(Xe), len(offers)
    value, cost, se = np.zeros((n, k)), np.zeros((n, k)), np.zeros((n, k))
    for j, m in enumerate(models):
        score = m.model.predict(Xe) if n else np.zeros(0)
        centre = float(score.mean()) if m.calibration.get("anchored") and n else m.calibration["center"]
        b, b_se = max(m.calibration["slope"], 0.0), m.calibration.get("slope_se", 0.0)
        tau = m.calibration["ate"] + b * (score - centre)
        value[:, j] = expected_profit(tau, m.value_per_conversion, setup.contact_cost, setup.incentive_cost,
                                      m.conversion_offered)
        cost[:, j] = m.cost_per_contact
        b_se = b_se if np.isfinite(b_se) and b > 0 else 0.0
        se[:, j] = abs(m.value_per_conversion) * np.sqrt(m.calibration["ate_se"] ** 2 + (score - centre) ** 2 * b_se**2)
    alloc = allocate(value, cost, offers, s.budget, s.capacity, s.min_profit_per_contact)
    front = frontier(value, cost, offers, s.capacity, s.min_profit_per_contact) if n else {}
    units = eligible[setup.unit].to_numpy()
    chosen = alloc.offer
    rows = np.arange(n)
    pick = np.where(chosen >= 0, chosen, 0)
    v_sel = np.where(chosen >= 0, value[rows, pick], 0.0)
    se_sel = np.where(chosen >= 0, se[rows, pick], 0.0)
    table = pd.DataFrame({
        setup.unit: units,
        "offer": np.where(chosen >= 0, np.asarray(offers, dtype=object)[pick], NO_OFFER),
        "expected_incremental_value": v_sel,
        "value_low": v_sel - z * se_sel,
        "value_high": v_sel + z * se_sel,
        "selected": chosen >= 0,
        **{f"value_{o}": value[:, j] for j, o in enumerate(offers)},
    }).sort_values("expected_incremental_value", ascending=False, kind="stable").reset_index(drop=True)
    return NextBestOffer(offers, tuple(models), units, eligible.reset_index(drop=True), value, cost, se, alloc,
                         front, table, s.budget, s.capacity, s.min_profit_per_contact, setup.confidence,
                         setup.currency, dict(excluded), setup.features)
