"""Precision achieved: MDE at the realised n, power at the target MDE, and the reading.

After a test, "no significant effect" means two different things: the test could
not have seen an effect of the size it was designed for (inconclusive:
under-powered), or it could and did not (flat). This module tells them apart from
each metric's realised standard error, so CUPED and ratio metrics are covered by
the same formula (normal approximation, e.g. Kohavi, Tang & Xu 2020, ch. 17):

    power(delta) = Phi(delta/se - z_{1-a/2}) + Phi(-delta/se - z_{1-a/2})     (two-sided)
    MDE          = the delta with power(delta) = target power  (~ (z_{1-a/2} + z_power) se)

with ``se`` the standard error of the absolute effect and ``a`` the alpha the row
was tested at (after Holm for the primary family). The target MDE comes from the
spec's ``[design]`` (``mde_absolute``, or ``mde_relative`` times the control mean).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

from uplift.experiment.power import power_z
from uplift.metrics.base import format_effect_text
from uplift.spec import Spec
from uplift.stats import distributions as stats  # the normal of scipy.stats without importing it
from uplift.text import Msg

__all__ = ["PrecisionResult", "precision_achieved", "mde_from_se"]


def mde_from_se(se: float, alpha: float, power: float, alternative: str = "two-sided") -> float:
    """The absolute effect (a magnitude) detected with probability ``power`` given the effect's standard
    error ``se``: the root of power(d) = power (statsmodels ``NormalIndPower.solve_power`` solves the same
    equation with a bracketing root finder).

    One-sided ("larger", or "smaller" for a decrease of size d): d = (z_{1-a} + z_power) se exactly.
    Two-sided, in t = d / se with c = z_{1-a/2}: g(t) = Phi(t - c) + Phi(-t - c) - power = 0 is solved by
    Newton's method, g'(t) = phi(t - c) - phi(t + c) > 0 for t > 0, from the root without the far tail,
    t0 = c + z_power (where g(t0) = Phi(-t0 - c) > 0), each step kept inside the bracket [lo, hi] that holds the
    root by halving it instead (so it always converges), stopping when a step changes t by under 4 ulp.
    The first step already moves t0 by Phi(-t0 - c) / g'(t0) (about 1e-5 at alpha 0.05, power 0.8). NaN
    when ``power`` <= alpha (two-sided: every effect, even 0, is detected that often) or ``se`` is not positive.
    No ``scipy.optimize``: importing it takes about half a second on the way to ``results.json``.
    """
    if not se > 0 or not 0 < power < 1:
        return float("nan")
    z_power = float(stats.norm.ppf(power))
    if alternative != "two-sided":
        return float((float(stats.norm.isf(alpha)) + z_power) * se)
    c = float(stats.norm.isf(alpha / 2))
    if not power > alpha:
        return float("nan")
    lo, hi, t = 0.0, c + z_power, c + z_power  # g(0) = alpha - power < 0 <= g(hi)
    for _ in range(200):
        g = power_z(t, 1.0, alpha) - power  # the two-sided power at t standard errors
        if g == 0.0:
            break
        lo, hi = (t, hi) if g < 0 else (lo, t)
        slope = float(stats.norm.pdf(t - c) - stats.norm.pdf(t + c))
        step = t - g / slope if slope > 0 else (lo + hi) / 2
        if not lo <= step <= hi:
            step = (lo + hi) / 2
        if abs(step - t) <= 4 * math.ulp(t):
            t = step
            break
        t = step
    return float(t * se)


@dataclass(frozen=True)
class PrecisionResult:
    """One row per (metric, arm): realised n, se, MDE at realised n, power at the target MDE, reading."""

    rows: Sequence[Mapping[str, Any]]
    target_power: float
    method: str

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (the results.json ``precision`` block)."""
        return {"rows": [dict(r) for r in self.rows], "target_power": self.target_power, "method": self.method}

    def summary(self) -> str:
        """A plain-text table."""
        lines = [f"{'metric':<22}{'arm':<16}{'MDE':>12}{'power':>8}  reading"]
        for r in self.rows:
            power = "" if r["power"] is None else f"{r['power']:.0%}"
            lines.append(f"{r['metric']:<22}{r['arm']:<16}{r['mde']:>12.4g}{power:>8}  {r['reading']}")
        return "\n".join(lines)


def precision_achieved(spec: Spec, metric_rows: Sequence[Mapping[str, Any]]) -> PrecisionResult:
    """Precision of each metric row of :func:`uplift.metrics.analyse.analyse_metrics` (see the module docstring)."""
    design = spec.design
    target_power = design.power
    alpha_default = design.alpha
    rows = []
    for r in metric_rows:
        se = r.get("abs_se")
        if se is None:
            continue
        alternative = r.get("alternative") or "two-sided"
        alpha = float(r.get("alpha_used") or alpha_default)
        mde = mde_from_se(se, alpha, target_power, alternative)
        target = design.mde_absolute
        base = r.get("mean_control")
        if target is None and design.mde_relative is not None and base:
            target = abs(design.mde_relative * base)
        power = power_z(target if alternative != "smaller" else -target, se, alpha, alternative) if target else None
        lo, hi = (r.get("abs_ci") or [None, None])
        significant = lo is not None and (lo > 0 or hi < 0)
        if significant:
            reading = "effect detected"
        elif power is None:
            reading = "no target MDE in the spec"
        elif power >= target_power:
            reading = "flat: an effect of the target size would very likely have been detected"
        else:
            reading = "inconclusive: under-powered for the target MDE"
        display = format_effect_text(mde, r.get("display") or "number")  # as the metric's kind shows it
        if base:
            display += f" ({abs(mde / base):.1%} of control)"
        rows.append({
            "metric": r.get("metric"), "arm": r.get("arm"), "n_arm": r.get("n_arm"), "n_control": r.get("n_control"),
            "se": se, "alpha": alpha, "mde": mde, "mde_display": display, "target_mde": target, "power": power,
            "reading": reading,
        })
    return PrecisionResult(
        rows=rows, target_power=target_power,
        method=Msg("normal approximation on the realised standard error of each effect (CUPED / ratio included); "
                   "alpha as tested (Holm within the primary family); target MDE from [design]"),
    )
