"""From pooled arms to the decision: metric and guardrail comparisons, multiplicity, looks, ship or not.

* Each metric is compared by its kind (:meth:`uplift.metrics.base.Metric.compare`), each offer
  arm against control; with ``[design] alternative`` "larger"/"smaller" the p-value is one-sided.
* Multiplicity: Holm (1979) across the primary family (primary metrics x arms),
  Benjamini-Hochberg (1995) across secondary metrics x arms.
* Planned looks (``[design] looks``): Lan-DeMets alpha-spending boundaries (``[design] spending``:
  O'Brien-Fleming-type by default, Pocock-type or the power family); the primary
  family is tested at the look's nominal alpha and gets repeated confidence intervals
  ``estimate +- boundary_z x se`` (Jennison & Turnbull 2000, ch. 19).
* Guardrails: each a one-sided non-inferiority test at alpha/2 against its margin; all must
  pass (an intersection-union test, Berger 1982), so they are not adjusted. Each is in one of
  three states (:func:`uplift.stats.guardrails.guardrail_state`): failed (not shown
  non-inferior), watch (significant harm inside the margin), passed.
* Decision, per offer arm: **ship** when a primary metric improved significantly and no
  guardrail failed; **do not ship** when a guardrail failed or a primary metric is
  significantly worse; **inconclusive** otherwise. When two or more arms qualify they are
  compared pairwise on the (first) primary metric, Holm-adjusted over the pairs, and the arm
  with the best primary estimate is recommended, saying whether it is significantly better
  than the runner-up. ``headline`` states all of it in words, once, for the page and the CLI.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

from uplift.data.moments import Moments
from uplift.metrics.base import unadjusted_block
from uplift.metrics.kinds import metric_for
from uplift.spec.settings import AnalysisSettings, DesignSettings
from uplift.stats.bayes import normal_posterior, prior_for
from uplift.stats.guardrails import guardrail_state, noninferiority
from uplift.stats.multiplicity import benjamini_hochberg, holm
from uplift.stats.sequential import spending_boundaries
from uplift.stats.sequences import always_valid
from uplift.text import Msg

__all__ = ["LookPlan", "look_plan", "metric_rows", "adjust_for_multiplicity", "guardrail_rows", "compare_arms", "decide",
           "watch_text"]


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
    """The group-sequential plan from ``[design] looks``, ``current_look``, ``spending`` (O'Brien-Fleming-type,
    Pocock-type or power family), ``spending_rho`` and ``look_fractions``
    (:func:`uplift.stats.sequential.spending_boundaries`); a single look tests at ``alpha``.
    A missing ``current_look`` with several looks is analysed as the final look (a note says so)."""
    looks = design.looks
    current = design.current_look
    if looks <= 1:
        block = {"method": "single look", "look": 1, "looks": 1, "boundary_z": None,
                 "nominal_alpha_this_look": alpha, "final_look": True}
        return LookPlan(None, alpha, 1, 1, True, block)
    if current is None:
        current = looks
        notes.append(Msg("[design] looks = {looks} but current_look is not set: analysed as the final look", looks=looks))
    bounds = spending_boundaries(looks, alpha, design.spending, design.spending_rho, fractions=design.look_fractions or None)
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
                confidence: float, alternative: str, plan: LookPlan, analysis: AnalysisSettings | None = None,
                alpha: float = 0.05) -> list[dict]:
    """One results row per (metric, offer arm): the comparison by the metric's kind, the unadjusted
    comparison beside a CUPED one, and the primary family's repeated interval at an interim look.

    ``metrics`` are the spec's ``[[metrics]]`` entries (:class:`uplift.spec.MetricSpec`).
    With a one-sided ``alternative`` the row's ``p_value`` is one-sided (``p_value_two_sided`` kept).
    Given ``analysis``, from the comparison's own estimate and se (nothing re-estimated): each primary
    row's ``bayes`` block (chance to beat control and expected losses, :mod:`uplift.stats.bayes`, prior
    ``[analysis] prior_mean`` / ``prior_sd``) and, with ``[analysis] always_valid``, every row's
    ``always_valid`` interval and p-value at ``alpha``, one-sided when ``alternative`` is (:mod:`uplift.stats.sequences`).
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
            if analysis is not None:
                _add_views(row, comp.estimate, comp.se, comp.n_treatment + comp.n_control, m.primary, analysis,
                           confidence, alternative, alpha)
            rows.append(row)
    return rows


def _add_views(row: dict, estimate: float, se: float, n: int, primary: bool, analysis: AnalysisSettings,
               confidence: float, alternative: str, alpha: float) -> None:
    """The Bayesian view (primary rows) and the always-valid interval (when switched on) of one row."""
    ok = math.isfinite(estimate) and math.isfinite(se) and se > 0
    if primary and ok:
        prior = prior_for(se, n, analysis.prior_mean, analysis.prior_sd, "[analysis] prior_sd")
        row["bayes"] = normal_posterior(estimate, se, prior).to_dict(
            confidence, "smaller" if alternative == "smaller" else "larger")
    if analysis.always_valid:
        row["always_valid"] = always_valid(estimate, se, n, alpha, analysis.always_valid_tuning_n,
                                          alternative).to_dict() if ok else None


def adjust_for_multiplicity(rows: list[dict], plan: LookPlan, alpha: float, alternative: str,
                            always_valid: bool = False) -> None:
    """Adjust the p-values of ``rows`` in place: Holm across the primary family (tested at the
    look's nominal alpha), Benjamini-Hochberg across the secondary metrics (at ``alpha``); mark
    each row ``significant`` and ``improved`` (significant in the direction of ``alternative``).
    With ``always_valid`` (``[analysis] decision = "always-valid"``) the primary family is tested on
    its rows' always-valid p-values (one-sided with a one-sided ``alternative``) (Holm, at ``alpha``, valid at any look; rows need
    their ``always_valid`` block) and each primary row's ``decision_p_value`` says so."""
    prim = [i for i, r in enumerate(rows) if r["primary"]]
    sec = [i for i, r in enumerate(rows) if not r["primary"]]

    def p_of(r: Mapping[str, Any]) -> float | None:
        if always_valid and r["primary"]:
            return (r.get("always_valid") or {}).get("p_value")
        return r["p_value"]

    for idxs, fn, name in ((prim, holm, "holm"), (sec, benjamini_hochberg, "benjamini-hochberg")):
        adj = fn([p_of(rows[i]) for i in idxs])
        for i, p in zip(idxs, adj):
            r = rows[i]
            level = (alpha if always_valid else plan.nominal_alpha) if r["primary"] else alpha
            if r["primary"]:
                r["decision_p_value"] = "always-valid" if always_valid else "fixed-horizon"
            r["p_value_adjusted"] = p
            r["adjustment"] = name
            r["adjustment_family_size"] = len(idxs)
            r["significant"] = p is not None and p < level
            r["alpha_used"] = level
            good = (r["abs_effect"] or 0) < 0 if alternative == "smaller" else (r["abs_effect"] or 0) > 0
            r["improved"] = bool(r["significant"] and good)


def guardrail_rows(guardrails: Sequence[Any], per_arm: Mapping[str, Moments], treat: Sequence[str], control: str,
                   confidence: float, alpha: float) -> list[dict]:
    """One row per (guardrail, offer arm): the comparison by the guardrail's kind, its one-sided
    non-inferiority test at ``alpha / 2`` against its margin (:func:`uplift.stats.guardrails.noninferiority`)
    and its ``status`` (failed, watch or passed: :func:`uplift.stats.guardrails.guardrail_state`)."""
    rows: list[dict] = []
    ctrl = per_arm[control]
    for g in guardrails:
        metric = metric_for(g)
        for a in treat:
            comp = metric.compare(per_arm[a], ctrl, confidence)
            ni = noninferiority(comp, g.margin, g.bad_direction, alpha=alpha / 2)
            row = {"metric": g.name, "arm": a, "control": control, **comp.to_dict(), **ni.to_dict()}
            row.update(kind=g.kind, column=g.column, primary=False, family="guardrail", cuped=False,
                       description=g.description, display=metric.display, status=guardrail_state(comp, ni))
            rows.append(row)
    return rows


# --------------------------------------------------------------------------- words for the headline


def _signed(x: float | None, display: str, unit: bool = True) -> str:
    """+0.27 pp for a rate (percentage points; ``unit=False`` leaves out 'pp'), else 3 significant digits."""
    if x is None or not math.isfinite(x):
        return "n/a"
    return f"{100 * x:+.2f}" + (" pp" if unit else "") if display == "rate" else f"{x:+,.3g}"


def _interval(ci: Sequence[float | None] | None, display: str) -> str:
    """[+0.04, +0.49] (a rate's bounds in percentage points, as the estimate before it)."""
    if not ci or ci[0] is None or ci[1] is None:
        return "[n/a]"
    return f"[{_signed(ci[0], display, False)}, {_signed(ci[1], display, False)}]"


def _p(p: float | None) -> str:
    if p is None:
        return "p n/a"
    return "p < 0.0001" if p < 1e-4 else f"p = {p:.4f}"


def _names(items: Sequence[str], one: str, many: str) -> str:
    return f"{one if len(items) == 1 else many} {', '.join(items)}"


def watch_text(g: Mapping[str, Any]) -> str:
    """'complaints +0.27 pp [+0.04, +0.49], significant but within the 0.5 pp margin (arm offer)'."""
    display = g.get("display") or "number"
    margin = g.get("margin")
    within = "" if margin is None else (
        f" but within the {100 * margin:g} pp margin" if display == "rate" else f" but within the margin {margin:g}")
    return (f"{g['metric']} {_signed(g.get('abs_effect'), display)} {_interval(g.get('abs_ci'), display)}, "
            f"significant{within} (arm {g['arm']})")


# --------------------------------------------------------------------------- the decision


def _verdict(arm: str, prim: Sequence[Mapping[str, Any]], guards: Sequence[Mapping[str, Any]],
             plan: LookPlan) -> dict:
    """One arm's verdict (ship / do not ship / inconclusive) and its reason in words."""
    improved = [r["metric"] for r in prim if r["improved"]]
    worse = [r["metric"] for r in prim if r["significant"] and not r["improved"]]
    flat = [r["metric"] for r in prim if not r["significant"]]
    failed = [g["metric"] for g in guards if g["status"] == "failed"]
    watch = [g["metric"] for g in guards if g["status"] == "watch"]
    parts = []
    if improved:
        parts.append(_names(improved, "primary metric", "primary metrics") + " significant")
    if worse:
        parts.append(_names(worse, "primary metric", "primary metrics") + " significantly worse")
    if flat and not improved:
        parts.append(_names(flat, "primary metric", "primary metrics") + " not significant")
    if not prim:
        parts.append("no primary metric in the spec")
    if failed:
        parts.append(_names(failed, "guardrail", "guardrails") + " failed")
    if watch:
        parts.append(_names(watch, "guardrail", "guardrails") + " on watch (significant harm inside the margin)")
    if guards and not failed and not watch:
        parts.append("guardrails passed")
    if failed or (worse and not improved):
        verdict = "do not ship"
    elif improved:
        verdict = "ship"
    else:
        verdict = "inconclusive"
        if plan.boundary_z is not None and not plan.final_look:
            parts.append(f"no boundary crossed at look {plan.look} of {plan.looks}: continue to the next look")
    return {"verdict": verdict, "ship": verdict == "ship", "reason": ", ".join(parts),
            "success_metrics_improved": improved, "success_metrics_worse": worse,
            "guardrails_failed": failed, "guardrails_watch": watch}


def compare_arms(metric_spec: Any, per_arm: Mapping[str, Moments], ranked: Sequence[str], confidence: float,
                 level: float, alternative: str) -> list[dict]:
    """Pairwise comparisons of the qualifying arms on one primary metric: for each pair (a, b) with
    a ranked above b, a minus b by the metric's kind; two-sided p-values Holm-adjusted over the
    pairs (Holm 1979); ``significant`` when the adjusted p is below ``level``, ``better`` when also
    in the good direction (``alternative`` "smaller": lower is better)."""
    metric = metric_for(metric_spec)
    rows = []
    for i, a in enumerate(ranked):
        for b in ranked[i + 1:]:
            comp = metric.compare(per_arm[a], per_arm[b], confidence)
            d = comp.to_dict()
            rows.append({"metric": metric_spec.name, "arm": a, "versus": b, "display": metric.display,
                         **{k: d[k] for k in ("abs_effect", "abs_ci", "p_value", "confidence", "method")}})
    for r, p in zip(rows, holm([r["p_value"] for r in rows])):
        good = (r["abs_effect"] or 0) < 0 if alternative == "smaller" else (r["abs_effect"] or 0) > 0
        r.update(p_value_adjusted=p, adjustment="holm", adjustment_family_size=len(rows),
                 significant=p is not None and p < level)
        r["better"] = bool(r["significant"] and good)
    return rows


def _headline(per_arm: Mapping[str, Mapping[str, Any]], ranked: Sequence[str], pairwise: Sequence[Mapping[str, Any]]) -> str:
    """The decision in words: the arm to ship (and how it compares with the other qualifying
    arms), then each arm not to ship, then each inconclusive arm."""
    out = []
    if ranked:
        best = ranked[0]
        out.append(f"Ship arm {best}: {per_arm[best]['reason']}.")
        for other in ranked[1:]:
            pw = next(p for p in pairwise if p["arm"] == best and p["versus"] == other)
            diff = (f"{pw['metric']} {_signed(pw['abs_effect'], pw['display'])} "
                    f"{_interval(pw['abs_ci'], pw['display'])} vs arm {other}, Holm {_p(pw['p_value_adjusted'])}")
            out.append(f"Arm {other} also qualifies, but arm {best} is significantly better ({diff})." if pw["better"]
                       else f"Arm {other} also qualifies but is not significantly different ({diff}).")
    for a, d in per_arm.items():
        if d["verdict"] == "do not ship":
            out.append(f"Do not ship arm {a}: {d['reason']}.")
    for a, d in per_arm.items():
        if d["verdict"] == "inconclusive":
            out.append(f"Inconclusive for arm {a}: {d['reason']}.")
    return " ".join(out)


def decide(metric_rows: Sequence[Mapping[str, Any]], guard_rows: Sequence[Mapping[str, Any]], treat: Sequence[str],
           plan: LookPlan, alpha: float, alternative: str, *, metrics: Sequence[Any] = (),
           per_arm: Mapping[str, Moments] | None = None, confidence: float = 0.95, always_valid: bool = False) -> dict:
    """The pre-registered rule, per arm: ship an arm only if a primary metric improved
    significantly (Holm-adjusted, at the look's nominal alpha) and no guardrail failed; do not
    ship it when a guardrail failed or a primary metric is significantly worse; otherwise
    inconclusive. Qualifying arms are ranked by the first primary metric's estimate (in the good
    direction) and, given ``metrics`` and ``per_arm``, compared pairwise (:func:`compare_arms`).
    The top-level ``ship``, ``ship_arms``, ``success_metrics_improved`` and ``guardrails_failed``
    keep their meaning (ship_arms: every arm meeting the rule); ``recommended_arm`` names the one
    to ship and ``headline`` says it all in words. ``always_valid``: the primary family was tested on
    always-valid p-values at ``alpha`` (:func:`adjust_for_multiplicity`); the rule says so."""
    verdicts = {a: _verdict(a, [r for r in metric_rows if r["arm"] == a and r["primary"]],
                            [g for g in guard_rows if g["arm"] == a], plan) for a in treat}
    ship_arms = [a for a, d in verdicts.items() if d["ship"]]
    first = next((m for m in metrics if m.primary), None)
    name = first.name if first is not None else next((r["metric"] for r in metric_rows if r["primary"]), None)
    estimate = {r["arm"]: r["abs_effect"] for r in metric_rows if r["metric"] == name}
    sign = -1.0 if alternative == "smaller" else 1.0
    ranked = sorted(ship_arms, key=lambda a: -sign * (estimate.get(a) or 0.0))
    level = alpha if always_valid else plan.nominal_alpha
    pairwise = (compare_arms(first, per_arm, ranked, confidence, level, alternative)
                if len(ranked) >= 2 and first is not None and per_arm is not None else [])
    runner = next((p for p in pairwise if p["arm"] == ranked[0] and p["versus"] == ranked[1]), None) if pairwise else None
    watch = [{"metric": g["metric"], "arm": g["arm"], "abs_effect": g["abs_effect"], "abs_ci": g["abs_ci"],
              "margin": g.get("margin"), "text": watch_text(g)} for g in guard_rows if g["status"] == "watch"]
    interim = plan.boundary_z is not None
    overall = "ship" if ship_arms else ("inconclusive" if any(d["verdict"] == "inconclusive" for d in verdicts.values())
                                        else "do not ship")
    decision = {
        "rule": ("ship an arm only if a primary (success) metric improved significantly (Holm-adjusted "
                 + (f"always-valid two-sided p < {alpha:g}, valid at any look" if always_valid else
                    f"p < {plan.nominal_alpha:.4g}{' at this look' if interim else ''}") + ", "
                 f"effect {'< 0' if alternative == 'smaller' else '> 0'}) and every guardrail is "
                 f"non-inferior (one-sided p < {alpha / 2:g} against its margin); of several qualifying arms, "
                 f"the best estimate of the primary metric {name or ''} (arms compared pairwise, Holm-adjusted)"),
        "verdict": overall,
        "headline": _headline(verdicts, ranked, pairwise),
        "ship": bool(ship_arms),
        "ship_arms": ship_arms,
        "recommended_arm": ranked[0] if ranked else None,
        "recommended_better_than_runner_up": None if runner is None else bool(runner["better"]),
        "ranking_metric": name,
        "pairwise": pairwise,
        "success_metrics_improved": [f"{m} ({a})" for a, d in verdicts.items() for m in d["success_metrics_improved"]],
        "guardrails_failed": [f"{m} ({a})" for a, d in verdicts.items() for m in d["guardrails_failed"]],
        "guardrails_watch": [f"{m} ({a})" for a, d in verdicts.items() for m in d["guardrails_watch"]],
        "watch": watch,
        "per_arm": verdicts,
    }
    if interim and not plan.final_look and not ship_arms:
        decision["interim"] = f"no boundary crossed at look {plan.look} of {plan.looks}: continue to the next look"
    return decision
