"""Power curves and guardrail power for ``uplift design`` (design.json).

Power against n
    For each metric with a target effect delta: the power of the test at total n = N,
    arms split by the weights (n_0 = w_0 N, n_a = w_a N, unrounded), the worst offer arm:
    ``min_a power_at(delta, w_0 N, w_a N)`` (:func:`uplift.experiment.power.power_at`, the
    z-test power of the design module's docstring; equal to statsmodels' ``NormalIndPower``
    with effect size delta / sigma_eff, sigma_eff^2 = (v_0/w_0 + v_a/w_a) / (1/w_0 + 1/w_a)).

MDE against n and against duration
    ``max_a mde_at_n(w_0 N, w_a N)`` (:func:`uplift.experiment.power.mde_at_n`). With
    ``[design] weekly_inflow`` W (an inflow) the duration axis is weeks t with N = W t;
    a fixed pool has no enrolment duration, only the n axis (up to the eligible count).

Guardrail power
    A guardrail is judged by a one-sided non-inferiority test at alpha/2 against its margin m
    (:func:`uplift.stats.guardrails.noninferiority`, as the readout does). Its power when the
    offer does no harm (true difference 0, per-unit variance v in both arms) is
    ``Phi(m / se - z_{1-alpha/2})`` with se = sqrt(v/n_0 + v/n_a) (Chow, Shao & Wang 2008,
    sec. 3.2.3, the non-inferiority test with true difference 0), the worst offer arm; the margin
    it shows non-inferior with the target power is ``(z_{1-alpha/2} + z_power) se``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from scipy import stats

from uplift.errors import UserError
from uplift.experiment.power import mde_at_n, power_at, power_z, unit_variance
from uplift.metrics.kinds import metric_for
from uplift.text import Msg

__all__ = ["FRACTIONS", "guardrail_power", "metric_curves", "n_grid", "week_grid"]

FRACTIONS = tuple(round(0.1 * k, 1) for k in range(1, 31))
"""The n axis of the curves: 10%, 20%, ..., 300% of the design's total n (plus the eligible count)."""


def n_grid(n_total: int, eligible: int | None, n_arms: int) -> list[int]:
    """Total n at which the curves are drawn: the design's n times :data:`FRACTIONS`, and the eligible count."""
    grid = {max(round(f * n_total), 2 * n_arms) for f in FRACTIONS}
    if eligible is not None and eligible >= 2 * n_arms:
        grid.add(int(eligible))
    return sorted(grid)


def week_grid(n_total: int, inflow: int) -> list[int]:
    """Whole weeks 1 .. max(4, twice the enrolment time), at most 104 (two years)."""
    return list(range(1, min(104, max(4, math.ceil(2 * n_total / inflow))) + 1))


def _worst(fn, weights: Mapping[str, float], control: str, n: float, pick) -> float | None:
    try:
        vals = [fn(weights[control] * n, weights[a] * n) for a in weights if a != control]
    except UserError:
        return None
    vals = [v for v in vals if v is not None and math.isfinite(v)]
    return pick(vals) if vals else None


def metric_curves(rows: Sequence[Any], weights: Mapping[str, float], control: str, alpha: float, power: float,
                  alternative: str, n_total: int, eligible: int | None, inflow: int | None) -> tuple[dict, ...]:
    """Per metric row (:class:`~uplift.experiment.design_result.MetricDesign`) with a known baseline/sd:
    ``power_vs_n`` (at the row's target effect), ``mde_vs_n`` and, with an inflow, ``mde_vs_weeks``.
    ``alpha`` is the alpha per comparison. Formulas: module docstring."""
    out = []
    grid = n_grid(n_total, None if inflow else eligible, len(weights))
    weeks = week_grid(n_total, inflow) if inflow else []
    for m in rows:
        if m.baseline is None:
            continue
        kw = {"kind": m.kind, "baseline": m.baseline, "sd": m.sd, "alpha": alpha, "alternative": alternative}

        def mde(n: float, kw: dict = kw) -> float | None:
            return _worst(lambda n0, n1: mde_at_n(n0, n1, power=power, **kw), weights, control, n, max)

        def pw(n: float, kw: dict = kw, effect: float | None = m.effect) -> float | None:
            return _worst(lambda n0, n1: power_at(effect, n0, n1, **kw), weights, control, n, min)

        def rel(x: float | None, b: float = m.baseline) -> float | None:
            return x / abs(b) if (x is not None and b) else None

        curve: dict[str, Any] = {"metric": m.name, "kind": m.kind, "primary": m.primary, "effect": m.effect,
                                 "alpha": alpha, "power_target": power}
        curve["power_vs_n"] = [] if m.effect is None else [
            {"n_total": n, "power": pw(n)} for n in grid
        ]
        curve["mde_vs_n"] = [{"n_total": n, "mde": (x := mde(n)), "mde_relative": rel(x)} for n in grid]
        curve["mde_vs_weeks"] = [
            {"weeks": t, "n_total": inflow * t, "mde": (x := mde(inflow * t)), "mde_relative": rel(x)} for t in weeks
        ]
        out.append(curve)
    return tuple(out)


def _ni_power(margin: float, se: float, alpha: float) -> float:
    """Phi(m / se - z_{1-alpha/2}): power of the one-sided non-inferiority test at alpha/2, true harm 0."""
    return power_z(margin, se, alpha / 2, "larger")


def guardrail_power(guardrails: Sequence[Any], population: Any, weights: Mapping[str, float], control: str,
                    alpha: float, power: float, n_total: int, eligible: int | None) -> tuple[dict, ...]:
    """Per guardrail: its baseline ([[guardrails]] baseline, else the eligible population's column), power at the design's n,
    the margin reached at the target power, and ``power_vs_n``. Formulas: module docstring."""
    out = []
    offers = [a for a in weights if a != control]
    z = float(stats.norm.isf(alpha / 2) + stats.norm.ppf(power))
    for g in guardrails:
        given = g.baseline if g.kind == "proportion" else None  # [[guardrails]] baseline: a proportion's rate
        got = metric_for(g).design_inputs(population, given)
        source = Msg("[[guardrails]] baseline") if given is not None else got.source
        row: dict[str, Any] = {"guardrail": g.name, "kind": g.kind, "bad_direction": g.bad_direction,
                               "margin": g.margin, "baseline": got.baseline, "sd": got.sd, "source": source,
                               "alpha_one_sided": alpha / 2, "power": None, "margin_at_power": None,
                               "power_vs_n": [], "note": ""}
        if got.missing:
            why = (Msg("no baseline: set baseline = (its control rate) in [[guardrails]] '{name}', or give a population "
                       "with column {column}", name=g.name, column=g.column) if g.kind == "proportion" else got.missing)
            row["note"] = Msg("{why}; its power is unknown", why=why)
            out.append(row)
            continue
        v, _ = unit_variance(g.kind, got.baseline or 0.0, 0.0, got.sd)

        def se(n: float, v: float = v) -> float:
            return max(math.sqrt(v / (weights[control] * n) + v / (weights[a] * n)) for a in offers)

        if not v > 0:
            row["note"] = Msg("no variance in the population's column; its power is unknown")
            out.append(row)
            continue
        row["margin_at_power"] = z * se(n_total)
        if g.margin is None:
            row["note"] = Msg("no margin: no non-inferiority test (fails only if the interval lies wholly on the bad side)")
        elif g.margin > 0:
            row["power"] = _ni_power(g.margin, se(n_total), alpha)
            row["power_vs_n"] = [{"n_total": n, "power": _ni_power(g.margin, se(n), alpha)}
                                 for n in n_grid(n_total, eligible, len(weights))]
        out.append(row)
    return tuple(out)
