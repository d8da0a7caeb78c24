"""From pooled arms to the decision: metric and guardrail comparisons, multiplicity, looks, ship or not.

* Each metric is compared by its kind (:meth:`uplift.metrics.base.Metric.compare`), each offer
  arm against control; with ``[design] alternative`` "larger"/"smaller" the p-value is one-sided.
* Multiplicity: Holm (1979) across the primary family (primary metrics x arms),
  Benjamini-Hochberg (1995) across secondary metrics x arms.
* Planned looks (``[design] looks``): Lan-DeMets O'Brien-Fleming-type boundaries; the primary
  family is tested at the look's nominal alpha and gets repeated confidence intervals
  ``estimate +- boundary_z x se`` (Jennison & Turnbull 2000, ch. 19).
* Guardrails: each a one-sided non-inferiority test at alpha/2 against its margin; all must
  pass (an intersection-union test, Berger 1982), so they are not adjusted.
* Decision: ship an arm only if a primary metric improved significantly and every guardrail
  is non-inferior.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

from uplift.data.moments import Moments
from uplift.metrics.base import unadjusted_block
from uplift.metrics.kinds import metric_for
from uplift.spec.settings import DesignSettings
from uplift.stats import compare as stats
from uplift.stats.multiplicity import benjamini_hochberg, holm
from uplift.stats.sequential import obrien_fleming_boundaries

__all__ = ["LookPlan", "look_plan", "metric_rows", "adjust_for_multiplicity", "guardrail_rows", "decide"]


@dataclass(frozen=True)
class LookPlan:
    """The look being analysed: its boundary (None for a single look), the nominal alpha the
    primary family is tested at, and the results.json ``sequential`` block."""

    boundary_z: float | None
    nominal_alpha: float
    look: int
    looks: int
    final_look: bool
    block: Mapping[str, Any] = field(default_factory=dict)


def look_plan(design: DesignSettings, alpha: float, notes: list[str]) -> LookPlan:
    """The group-sequential plan from ``[design] looks`` and ``current_look``
    (:func:`uplift.stats.compare.obrien_fleming_boundaries`); a single look tests at ``alpha``.
    A missing ``current_look`` with several looks is analysed as the final look (a note says so)."""
    looks = design.looks
    current = design.current_look
    if looks <= 1:
        block = {"method": "single look", "look": 1, "looks": 1, "boundary_z": None,
                 "nominal_alpha_this_look": alpha, "final_look": True}
        return LookPlan(None, alpha, 1, 1, True, block)
    if current is None:
        current = looks
        notes.append(f"[design] looks = {looks} but current_look is not set: analysed as the final look")
    bounds = obrien_fleming_boundaries(looks, alpha)
    c_k = bounds.z[current - 1]
    nominal = bounds.nominal_alpha[current - 1]
    block = {
        "method": f"group-sequential: {bounds.method}; look {current} of {looks}",
        "look": int(current), "looks": looks, "boundary_z": c_k, "nominal_alpha_this_look": nominal,
        "final_look": current == looks, **bounds.to_dict(),
        "applies_to": "primary metrics (decision and repeated confidence intervals est +- boundary_z x se)",
    }
    return LookPlan(c_k, nominal, int(current), looks, current == looks, block)


def metric_rows(metrics: Sequence[Any], per_arm: Mapping[str, Moments], treat: Sequence[str], control: str,
                confidence: float, alternative: str, plan: LookPlan) -> list[dict]:
    """One results row per (metric, offer arm): the comparison by the metric's kind, the unadjusted
    comparison beside a CUPED one, and the primary family's repeated interval at an interim look.

    ``metrics`` are the spec's ``[[metrics]]`` entries (:class:`uplift.spec.MetricSpec`).
    With a one-sided ``alternative`` the row's ``p_value`` is one-sided (``p_value_two_sided`` kept).
    """
    rows: list[dict] = []
    ctrl = per_arm[control]
    for m in metrics:
        metric = metric_for(m)
        for a in treat:
            comp = metric.compare(per_arm[a], ctrl, confidence)
            raw = metric.compare_unadjusted(per_arm[a], ctrl, confidence) if metric.cuped else None
            row = {"metric": m.name, "arm": a, "control": control, **comp.to_dict()}
            if alternative != "two-sided":
                row["p_value_two_sided"] = row["p_value"]
                row["p_value"] = comp.one_sided_p(alternative)
            row.update(alternative=alternative, kind=m.kind, column=m.column, denominator=m.denominator or None,
                       covariate=m.covariate or None, primary=bool(m.primary),
                       family="primary" if m.primary else "secondary", cuped=raw is not None,
                       unadjusted=unadjusted_block(raw) if raw is not None else None,
                       description=m.description, display=metric.display)
            if m.primary and plan.boundary_z is not None:
                row["sequential_ci"] = [comp.estimate - plan.boundary_z * comp.se, comp.estimate + plan.boundary_z * comp.se]
            rows.append(row)
    return rows


def adjust_for_multiplicity(rows: list[dict], plan: LookPlan, alpha: float, alternative: str) -> None:
    """Adjust the p-values of ``rows`` in place: Holm across the primary family (tested at the
    look's nominal alpha), Benjamini-Hochberg across the secondary metrics (at ``alpha``); mark
    each row ``significant`` and ``improved`` (significant in the direction of ``alternative``)."""
    prim = [i for i, r in enumerate(rows) if r["primary"]]
    sec = [i for i, r in enumerate(rows) if not r["primary"]]
    for idxs, fn, name in ((prim, holm, "holm"), (sec, benjamini_hochberg, "benjamini-hochberg")):
        adj = fn([rows[i]["p_value"] for i in idxs])
        for i, p in zip(idxs, adj):
            r = rows[i]
            level = plan.nominal_alpha if r["primary"] else alpha
            r["p_value_adjusted"] = p
            r["adjustment"] = name
            r["adjustment_family_size"] = len(idxs)
            r["significant"] = p is not None and p < level
            r["alpha_used"] = level
            good = (r["abs_effect"] or 0) < 0 if alternative == "smaller" else (r["abs_effect"] or 0) > 0
            r["improved"] = bool(r["significant"] and good)


def guardrail_rows(guardrails: Sequence[Any], per_arm: Mapping[str, Moments], treat: Sequence[str], control: str,
                   confidence: float, alpha: float) -> list[dict]:
    """One row per (guardrail, offer arm): the comparison by the guardrail's kind and its one-sided
    non-inferiority test at ``alpha / 2`` against its margin (:func:`uplift.stats.compare.noninferiority`)."""
    rows: list[dict] = []
    ctrl = per_arm[control]
    for g in guardrails:
        metric = metric_for(g)
        for a in treat:
            comp = metric.compare(per_arm[a], ctrl, confidence)
            ni = stats.noninferiority(comp, g.margin, g.bad_direction, alpha=alpha / 2)
            row = {"metric": g.name, "arm": a, "control": control, **comp.to_dict(), **ni.to_dict()}
            row.update(kind=g.kind, column=g.column, primary=False, family="guardrail", cuped=False,
                       description=g.description, display=metric.display)
            rows.append(row)
    return rows


def decide(metric_rows: Sequence[Mapping[str, Any]], guard_rows: Sequence[Mapping[str, Any]], treat: Sequence[str],
           plan: LookPlan, alpha: float, alternative: str) -> dict:
    """The pre-registered rule: ship an arm only if a primary metric improved significantly
    (Holm-adjusted, at the look's nominal alpha) and every guardrail is non-inferior."""
    per_arm_decision = {}
    for a in treat:
        improved = [r["metric"] for r in metric_rows if r["arm"] == a and r["primary"] and r["improved"]]
        failed = [g["metric"] for g in guard_rows if g["arm"] == a and not g["non_inferior"]]
        per_arm_decision[a] = {"ship": bool(improved and not failed), "success_metrics_improved": improved,
                               "guardrails_failed": failed}
    ship_arms = [a for a, d in per_arm_decision.items() if d["ship"]]
    interim = plan.boundary_z is not None
    decision = {
        "rule": ("ship an arm only if a primary (success) metric improved significantly (Holm-adjusted "
                 f"p < {plan.nominal_alpha:.4g}{' at this look' if interim else ''}, "
                 f"effect {'< 0' if alternative == 'smaller' else '> 0'}) and every guardrail is "
                 f"non-inferior (one-sided p < {alpha / 2:g} against its margin)"),
        "ship": bool(ship_arms),
        "ship_arms": ship_arms,
        "success_metrics_improved": [f"{m} ({a})" for a, d in per_arm_decision.items() for m in d["success_metrics_improved"]],
        "guardrails_failed": [f"{m} ({a})" for a, d in per_arm_decision.items() for m in d["guardrails_failed"]],
        "per_arm": per_arm_decision,
    }
    if interim and not plan.final_look and not ship_arms:
        decision["interim"] = f"no boundary crossed at look {plan.look} of {plan.looks}: continue to the next look"
    return decision
