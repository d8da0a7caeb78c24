"""Design power when the readout comes before every customer has been observed for the whole window.

A proportion metric with ``window_days`` W is read at the window as 1 - Kaplan-Meier
(:mod:`uplift.survival.incidence`), censored at each customer's follow-up. Customers enter over
the recruitment, R days (``[design] weekly_inflow``: R = 7 x duration in weeks; a fixed pool is
assigned at once, R = 0), and the readout on day T after the start (``[experiment] data_as_of`` -
``start_date``; without both dates the design assumes the first readout that can answer,
T = R + W) cuts everyone's follow-up. With entry uniform over [0, R] (Lachin & Foulkes 1986,
"Evaluation of sample size and power for analyses of survival with allowance for nonuniform patient
entry, losses to follow-up, noncompliance, and stratification", Biometrics 42:507-519: uniform
accrual with administrative censoring at the analysis) the follow-up is uniform on [T - R, T], so
the share still observed at day t is::

    G(t) = 1 for t <= T - R;   (T - t) / R for T - R < t <= T;   0 beyond T.

The asymptotic variance of the Kaplan-Meier estimate at W per customer (Greenwood's formula in
the limit; Kalbfleisch & Prentice 2002, *The Statistical Analysis of Failure Time Data*, 2nd ed.,
sec. 4.3; Andersen, Borgan, Gill & Keiding 1993, sec. IV.3) is::

    n Var F(W) = S(W)^2 int_0^W dLambda(t) / (S(t-) G(t)) = S(W)^2 int_0^W f(t) / (S(t)^2 G(t)) dt,

the binomial p (1 - p) when G = 1 (everyone observed for the whole window). The design does not
know when within the window customers convert; it assumes, and says so, that conversions by the
window are spread evenly over it: F(t) = p t / W, f = p / W, S(t) = 1 - p t / W. The variance
inflation k = n Var F(W) / (p (1 - p)) multiplies each arm's per-unit variance in the z-test of
:mod:`uplift.experiment.power`; the power at the planned n is then
``power_z(delta, sqrt(k_0 v_0 / n_0 + k_1 v_1 / n_1))``. When T < W nobody is observed for the
whole window and the readout cannot answer (infinite variance). With T >= R + W, k = 1 and the
power is the uncensored design's.

tests/test_design_censoring.py checks k = 1 and the uncensored power when everyone is mature, the
variance against a direct simulation of accrual and censoring, and the power at the planned n
against the rejection rate of simulated readouts.
"""

from __future__ import annotations

import math
from datetime import date
from typing import Any

from scipy import integrate

from uplift.text import Msg

__all__ = ["censoring_block", "censoring_text", "followup_share", "planned_readout_day", "window_inflation", "window_variance"]


def followup_share(t: float, recruit_days: float, readout_day: float) -> float:
    """``G(t)``: the share of customers observed at least ``t`` days at the readout (module docstring)."""
    if t > readout_day:
        return 0.0
    if recruit_days <= 0 or t <= readout_day - recruit_days:
        return 1.0
    return (readout_day - t) / recruit_days


def window_variance(p: float, window: float, recruit_days: float, readout_day: float) -> float:
    """Per-customer asymptotic variance ``n Var F(W)`` of 1 - Kaplan-Meier at the window under uniform
    accrual over ``recruit_days`` and a readout on ``readout_day`` (module docstring); inf when the
    readout comes before anyone is observed for the whole window."""
    if not (0 < p < 1) or window <= 0:
        raise ValueError("p must lie in (0, 1) and the window be positive")
    if readout_day < window:
        return math.inf
    rate = p / window
    s_w = 1.0 - p

    def integrand(t: float) -> float:
        s = 1.0 - rate * t
        return rate / (s * s * followup_share(t, recruit_days, readout_day))

    full = min(window, max(readout_day - recruit_days, 0.0))  # observed by everyone: closed form 1/S(a) - 1
    total = 1.0 / (1.0 - rate * full) - 1.0
    if full < window:
        # G > 0 on [full, W) since W <= T; G(W) = 0 only when W = T (the integral then diverges: inf)
        if readout_day == window:
            return math.inf
        total += integrate.quad(integrand, full, window, epsabs=0, epsrel=1e-12, limit=200)[0]
    return s_w * s_w * total


def window_inflation(p: float, window: float, recruit_days: float, readout_day: float) -> float:
    """``k = n Var F(W) / (p (1 - p))``: how much censoring at the readout inflates the variance at the window."""
    return window_variance(p, window, recruit_days, readout_day) / (p * (1.0 - p))


def planned_readout_day(start_date: str, data_as_of: str) -> int | None:
    """Days from ``[experiment] start_date`` to ``data_as_of`` (the planned readout), None unless both are dates."""
    try:
        return (date.fromisoformat(str(data_as_of)[:10]) - date.fromisoformat(str(start_date)[:10])).days
    except ValueError:
        return None


def censoring_block(p0: float, p1: float, n0: int, n1: int, effect: float, window: int, recruit_days: float,
                    readout_day: int | None, power_fn: Any, arms: tuple[str, str] = ("control", "offer")) -> dict[str, Any]:
    """The design's ``censoring`` block for one comparison: the readout day (planned, or the first full one),
    the variance inflation per arm, and the power at the planned n (``power_fn(effect, se)``)."""
    first_full = recruit_days + window
    planned = readout_day is not None
    t = float(readout_day) if planned else first_full
    k0, k1 = window_inflation(p0, window, recruit_days, t), window_inflation(p1, window, recruit_days, t)
    if math.isinf(k0) or math.isinf(k1):
        power = 0.0
    else:
        power = float(power_fn(effect, math.sqrt(k0 * p0 * (1 - p0) / n0 + k1 * p1 * (1 - p1) / n1)))
    return {
        "readout_day": t, "readout_source": "[experiment] data_as_of - start_date" if planned else
        Msg("recruitment + window (no [experiment] start_date and data_as_of)"),
        "recruitment_days": float(recruit_days), "window_days": int(window), "first_full_readout_day": float(first_full),
        "mature_share": followup_share(window, recruit_days, t) if t >= window else 0.0,
        "variance_inflation": {arms[0]: k0, arms[1]: k1}, "arm": arms[1], "power_at_n": power,
        "method": ("1 - Kaplan-Meier at the window, asymptotic (Greenwood) variance under uniform accrual with "
                   "administrative censoring at the readout (Lachin & Foulkes 1986; Kalbfleisch & Prentice 2002); "
                   "assumes conversions spread evenly over the window"),
    }


def censoring_text(block: dict[str, Any] | Any, uncensored_power: float | None) -> Msg:
    """One line for `uplift design`: the readout day, the share observed for the whole window, the variance
    inflation and the power at the planned n beside the uncensored power."""
    t, first = block["readout_day"], math.ceil(block["first_full_readout_day"] - 1e-9)
    k = ", ".join(f"{a} x{v:.3f}" if math.isfinite(v) else f"{a} infinite" for a, v in block["variance_inflation"].items())
    pw = f"{100 * block['power_at_n']:.2f}%"
    before = (Msg(" (uncensored {value})", value=f"{100 * uncensored_power:.2f}%") if uncensored_power is not None
              else "")
    if t < block["window_days"]:
        return Msg("censoring at the readout: day {day:g} from the start ({source}) is before anyone is observed for the "
                   "{window}-day window: the readout cannot answer; read out on day {first} or later",
                   day=t, source=block["readout_source"], window=block["window_days"], first=first)
    late = ("" if t >= block["first_full_readout_day"]
            else Msg("; read out on day {first} or later for the uncensored power", first=first))
    return Msg("censoring at the readout: day {day:g} from the start ({source}), {share} of customers observed for the "
               "whole {window}-day window; variance at the window {inflation}; power at the planned n {power}{before}"
               "{late} (1 - Kaplan-Meier, uniform accrual, conversions spread evenly over the window)",
               day=t, source=block["readout_source"], share=f"{100 * block['mature_share']:.1f}%",
               window=block["window_days"], inflation=k, power=pw, before=before, late=late)
