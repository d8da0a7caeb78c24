"""What finance signs off on top of the CLV estimate: first-year value beside lifetime value, the
lifetime ROI with its interval, and whether one customer moves the incremental CLV.

* **Value in the first year** (:func:`horizon_value`): the horizon-limited CLV at ``periods``
  periods, C(h) = sum_{t in grid, t <= h} V(t) / (1 + d)^t (the cumulative discounted value curve of
  :mod:`uplift.clv.estimator` at h = one year), with the delta-method standard error of that same
  curve. Incremental: difference of independent arms, se = hypot(se_arm, se_control).
* **Lifetime ROI** (:func:`lifetime_roi`): per treated customer,
  ROI = (dCLV - c) / c, dCLV = CLV_arm - CLV_control, c = contact + incentive * p_arm (the campaign cost
  of the finance section: every treated customer is contacted; every conversion earns the incentive).
  Delta method (e.g. Casella & Berger 2002, sec. 5.5.4) in (CLV_arm, p_arm, CLV_control):
  gradient (1/c, -dCLV k1 / c^2, -1/c), Var(CLV_arm) and Var(CLV_control) from the life-table influence
  functions, Var(p_arm) = p (1 - p) / n, and Cov(CLV_arm, p_arm) by the same influence functions
  (:func:`uplift.clv.estimator.influence_covariance`) on the life table split by conversion.
* **Influence of one customer** (:func:`influence_check`): a leave-one-out on the life table. The CLV
  estimate depends on the rows only through the cells (arm, tenure, churned or active), so removing one
  customer changes only its cell. To first order the arm's CLV moves by -IF_c / (N - 1) (the delta
  method's influence function); exactly, the cells at the largest tenures and those with the largest
  first-order influence are tried (one customer with the cell's mean margin removed: exact for a cell of
  one customer, such as a lone long tenure) and the CLV recomputed with the tail refitted. The largest
  move of the incremental CLV is reported, and flagged above one standard error of the incremental CLV.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

import numpy as np
from scipy import stats

from uplift.clv.estimator import (
    ArmCells,
    EstimatorConfig,
    clv_point,
    influence_covariance,
)
from uplift.clv.result import ArmCLV, IncrementalCLV
from uplift.errors import DataError
from uplift.text import Msg

__all__ = ["horizon_value", "incremental_horizon_value", "influence_check", "lifetime_roi"]


def horizon_value(arm: ArmCLV, periods: int) -> tuple[float, float]:
    """(C(h), se) of one arm at h = ``periods`` grid points (the first ``periods`` payments):
    the horizon-limited CLV and its delta-method standard error."""
    i = min(periods, len(arm.discounted_cumulative)) - 1
    se = float(arm.cumulative_se[i]) if arm.cumulative_se is not None else float("nan")
    return float(arm.discounted_cumulative[i]), se


def incremental_horizon_value(arm: ArmCLV, control: ArmCLV, periods: int, confidence: float) -> dict[str, Any]:
    """Incremental horizon-limited value at ``periods`` periods: estimate, se (arms independent), interval."""
    z = stats.norm.ppf(0.5 + confidence / 2)
    a, sa = horizon_value(arm, periods)
    c, sc = horizon_value(control, periods)
    est, se = a - c, math.hypot(sa, sc)
    return {"periods": int(min(periods, len(arm.discounted_cumulative))), "estimate": est, "se": se,
            "ci": [est - z * se, est + z * se]}


def lifetime_roi(inc: IncrementalCLV, arm: ArmCLV, cells: ArmCells, contact_cost: float, incentive_cost: float,
                 converted: tuple[np.ndarray, np.ndarray] | None, confidence: float) -> dict[str, Any]:
    """Lifetime ROI of ``inc.arm`` per treated customer with its delta-method interval (module docstring).

    ``converted``: per cell of the arm (events then censored, on the cells' grid) the number of converted
    customers and their margin sum; needed when ``incentive_cost`` > 0 (the cost then depends on the
    conversion rate), else None.
    """
    z = stats.norm.ppf(0.5 + confidence / 2)
    d = inc.estimate
    p = float(converted[0].sum()) / cells.n if converted is not None else 0.0
    cost = contact_cost + incentive_cost * p
    out: dict[str, Any] = {
        "definition": Msg("(incremental CLV - campaign cost) / campaign cost, per treated customer; campaign cost = "
                          "contact_cost + incentive_cost x conversion rate of the arm"),
        "method": Msg("delta method on (CLV arm, conversion rate of the arm, CLV control), with the covariance of CLV "
                      "and conversion from the life table split by conversion"),
        "campaign_cost": cost, "conversion_rate": p if converted is not None else None,
    }
    if cost <= 0:
        return {**out, "estimate": None, "se": None, "ci": None, "note": Msg("campaign cost is 0: no ROI")}
    var = inc.se**2 / cost**2
    if converted is not None and incentive_cost > 0 and arm.gradient is not None:
        g_p = -d * incentive_cost / cost**2
        cov = influence_covariance(cells, arm.gradient, converted[0], converted[1])
        var += g_p**2 * p * (1 - p) / cells.n + 2 * (1 / cost) * g_p * cov
    roi = (d - cost) / cost
    se = math.sqrt(max(var, 0.0))
    return {**out, "estimate": roi, "se": se, "ci": [roi - z * se, roi + z * se]}


def _without_one(c: ArmCells, k: int, churned: bool) -> ArmCells:
    """The cells with one customer of cell (k, churned) removed, at the cell's mean margin."""
    n = (c.n_event if churned else c.n_cens).copy()
    w = (c.w_event if churned else c.w_cens).copy()
    m2 = (c.m2_event if churned else c.m2_cens).copy()
    mean = w[k] / n[k]
    n[k] -= 1
    w[k] -= mean
    m2[k] = m2[k] if n[k] > 0 else 0.0
    if churned:
        return replace(c, n_event=n, w_event=w, m2_event=m2)
    return replace(c, n_cens=n, w_cens=w, m2_cens=m2)


def _candidates(c: ArmCells, grad: np.ndarray | None, largest_tenures: int, largest_influence: int
                ) -> list[tuple[int, bool, int]]:
    """The cells (tenure, churned, customers) worth an exact leave-one-out: those at the largest tenures
    (where removing a customer can end the observed periods and move the tail) and those whose customer has
    the largest first-order influence |IF_c| / (N - 1), IF_c = g_c + h_c mbar_c - g.x (the delta method's)."""
    size = len(c.n_event)
    counts = np.concatenate([c.n_event, c.n_cens])
    occupied = np.nonzero(counts)[0]
    tenures = sorted({int(i % size) for i in occupied})[-largest_tenures:]
    chosen = {int(i) for i in occupied if int(i % size) in tenures}
    if grad is not None:
        sums = np.concatenate([c.w_event, c.w_cens])
        mean = sums[occupied] / counts[occupied]
        infl = np.abs(grad[occupied] + grad[2 * size + occupied] * mean - float(grad @ c.x()))
        chosen |= set(occupied[np.argsort(-infl, kind="stable")[:largest_influence]].tolist())
    return [(int(i % size), bool(i < size), int(counts[i])) for i in sorted(chosen)]


def influence_check(cells: Mapping[str, ArmCells], cfg: EstimatorConfig, arms: Mapping[str, ArmCLV],
                    incs: tuple[IncrementalCLV, ...], control: str, starts: Mapping[str, Any],
                    largest_tenures: int = 3, largest_influence: int = 5) -> dict[str, Any]:
    """Leave-one-out influence of single customers on each incremental CLV (module docstring).

    Removing one customer changes only its cell, and to first order moves the arm's CLV by -IF/(N - 1);
    that approximation fails exactly where it matters (a lone customer at the longest tenure ends the
    observed periods there), so the exact recomputation is run on the cells at the ``largest_tenures``
    largest tenures and the ``largest_influence`` cells with the largest first-order influence.

    ``starts``: per arm, working parameters to warm-start the tail refit (the full-data fit). Returns,
    per treated arm, the removal that moves its incremental CLV most (the removed customer's arm,
    tenure, churned or active, the customers in that cell, the change, the incremental CLV without the
    customer, the standard error and ``flagged`` = |change| > se), plus the cells tried and a ``note``
    for each flagged arm.
    """
    moves: dict[str, list[tuple[float, int, bool, int]]] = {}
    for a, c in cells.items():
        base = arms[a].clv
        cand = _candidates(c, arms[a].gradient, largest_tenures, largest_influence)
        found = []
        for k, churned, n in (cand if c.n > 1 else []):
            try:
                found.append((clv_point(_without_one(c, k, churned), cfg, starts.get(a))[0] - base, k, churned, n))
            except (DataError, ValueError, FloatingPointError, ZeroDivisionError, np.linalg.LinAlgError):
                continue  # the tail cannot be refitted without this customer: nothing to compare
        moves[a] = found
    out: dict[str, Any] = {
        "method": f"leave one customer out of the life table: in the cells (arm, tenure, churned or active) at the "
                  f"{largest_tenures} largest tenures and the {largest_influence} with the largest first-order "
                  "influence of each arm, one customer with the cell's mean margin removed (exact for a cell of one "
                  "customer) and the CLV recomputed with the tail refitted; flagged when the incremental CLV moves "
                  "by more than one standard error",
        "cells_tried": int(sum(len(v) for v in moves.values())),
        "arms": {}, "notes": [],
    }
    for inc in incs:
        cands = [(d, inc.arm, k, ch, n) for d, k, ch, n in moves[inc.arm]]
        cands += [(-d, control, k, ch, n) for d, k, ch, n in moves[control]]
        if not cands:
            continue
        d, who, k, ch, n = max(cands, key=lambda r: abs(r[0]))
        flagged = bool(abs(d) > inc.se)
        row = {"removed_from_arm": who, "tenure": k, "churned": ch, "customers_in_cell": n, "change": d,
               "incremental_without": inc.estimate + d, "se": inc.se, "flagged": flagged}
        out["arms"][inc.arm] = row
        if flagged:
            out["notes"].append(Msg(
                "One customer moves the incremental CLV of {arm}: without one {state} customer of arm {who} with tenure "
                "{tenure} ({n} in that cell) it is {without:.2f} instead of {estimate:.2f}, a change of {change:+.2f}, more "
                "than one standard error ({se:.2f}). Check that customer's tenure and margin before relying on the figure.",
                arm=inc.arm, state=Msg("churned") if ch else Msg("active"), who=who, tenure=k, n=n,
                without=inc.estimate + d, estimate=inc.estimate, change=d, se=inc.se))
    return out
