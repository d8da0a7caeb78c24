"""The decision in words, in the page's language, from the typed decision in results.json.

results.json keeps one set of English sentences (``decision.headline``, each arm's ``reason``,
``rule``, the watch ``text``; :mod:`uplift.metrics.decision` composes them). In English the page
shows those strings as they are. In another language the same sentences are composed here from
the same structured fields (per-arm verdicts and metric lists, pairwise comparisons, the look
plan), word by word through :func:`uplift.text.t`, so both pages state one decision and no
sentence of results.json depends on the language.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from uplift.text import SOURCE_LANGUAGE, N_, current_language, t

__all__ = ["decision_headline", "arm_reason", "decision_rule", "watch_text", "RESULT_WORDS"]

RESULT_WORDS = (
    # words results.json and design.json carry as values, shown on the page through t(value)
    N_("ship"), N_("do not ship"), N_("inconclusive"),
    N_("effect detected"), N_("no target MDE in the spec"),
    N_("flat: an effect of the target size would very likely have been detected"),
    N_("inconclusive: under-powered for the target MDE"),
    N_("exclude"), N_("keep"), N_("increase"), N_("decrease"), N_("outcomes"), N_("ledger"), N_("population"),
    N_("proportion"), N_("mean"), N_("ratio"), N_("two-sided"), N_("larger"), N_("smaller"),
    N_("Feasible"), N_("Not feasible"), N_("Unknown"), N_("EUR"), N_("USD"), N_("GBP"), N_("CNY"),
    N_("share of customers at the previous stage who reached this stage (stage rate / previous stage rate; "
       "stages are nested)"),
)
"""Values of results.json / design.json that the pages show translated (``t(value)``): marked with
:func:`uplift.text.N_` so the catalogue test finds them."""


def _english() -> bool:
    return current_language() == SOURCE_LANGUAGE


def _signed(x: Any, display: str, unit: bool = True) -> str:
    """As :func:`uplift.metrics.decision` writes an effect: +0.27 pp for a rate, else 3 significant digits."""
    if not isinstance(x, (int, float)) or not math.isfinite(x):
        return t("n/a")
    if display == "rate":
        value = f"{100 * x:+.2f}"
        return t("{value} pp", value=value) if unit else value
    return f"{x:+,.3g}"


def _interval(ci: Any, display: str) -> str:
    if not ci or ci[0] is None or ci[1] is None:
        return f"[{t('n/a')}]"
    return f"[{_signed(ci[0], display, False)}, {_signed(ci[1], display, False)}]"


def _list(items: Sequence[str]) -> str:
    """Names in a list: "a, b" (in Chinese with the enumeration comma, "a、b")."""
    return t(", ", ctx="list").join(str(x) for x in items)


def arm_reason(r: Mapping[str, Any], arm: str) -> str:
    """One arm's reason: results.json's in English, else composed from its metric lists."""
    d = ((r.get("decision") or {}).get("per_arm") or {}).get(arm) or {}
    if _english():
        return str(d.get("reason", ""))
    prim = [x for x in r.get("metrics") or [] if x.get("primary") and x.get("arm") == arm]
    improved = list(d.get("success_metrics_improved") or [])
    worse = list(d.get("success_metrics_worse") or [])
    flat = [x["metric"] for x in prim if x["metric"] not in improved and x["metric"] not in worse]
    failed, watch = list(d.get("guardrails_failed") or []), list(d.get("guardrails_watch") or [])
    guards = [g for g in r.get("guardrails") or [] if g.get("arm") == arm]
    parts = []
    if improved:
        parts.append(t("primary metric {names} significant", names=_list(improved)))
    if worse:
        parts.append(t("primary metric {names} significantly worse", names=_list(worse)))
    if flat and not improved:
        parts.append(t("primary metric {names} not significant", names=_list(flat)))
    if not prim:
        parts.append(t("no primary metric in the spec"))
    if failed:
        parts.append(t("guardrail {names} failed", names=_list(failed)))
    if watch:
        parts.append(t("guardrail {names} on watch (significant harm inside the margin)", names=_list(watch)))
    if guards and not failed and not watch:
        parts.append(t("guardrails passed"))
    q = r.get("sequential") or {}
    if d.get("verdict") == "inconclusive" and q.get("boundary_z") is not None and not q.get("final_look"):
        parts.append(t("no boundary crossed at look {look} of {looks}: continue to the next look",
                       look=q.get("look"), looks=q.get("looks")))
    return t(", ").join(parts)


def decision_headline(r: Mapping[str, Any]) -> str:
    """The decision in words: results.json's ``headline`` in English, else the same sentences
    composed from the verdicts (the arm to ship and how it compares, then each arm not to ship,
    then each inconclusive arm)."""
    d = r.get("decision") or {}
    if _english():
        return str(d.get("headline") or "")
    per_arm = d.get("per_arm") or {}
    best = d.get("recommended_arm")
    out = []
    if best:
        out.append(t("Ship arm {arm}: {reason}.", arm=best, reason=arm_reason(r, best)))
        for pw in d.get("pairwise") or []:
            if pw.get("arm") != best:
                continue
            diff = t("{metric} {effect} {ci} vs arm {other}, Holm {p}", metric=pw.get("metric"),
                     effect=_signed(pw.get("abs_effect"), pw.get("display") or ""),
                     ci=_interval(pw.get("abs_ci"), pw.get("display") or ""), other=pw.get("versus"),
                     p=_p(pw.get("p_value_adjusted")))
            out.append(t("Arm {other} also qualifies, but arm {best} is significantly better ({diff}).",
                         other=pw.get("versus"), best=best, diff=diff) if pw.get("better") else
                       t("Arm {other} also qualifies but is not significantly different ({diff}).",
                         other=pw.get("versus"), diff=diff))
    out += [t("Do not ship arm {arm}: {reason}.", arm=a, reason=arm_reason(r, a))
            for a, v in per_arm.items() if v.get("verdict") == "do not ship"]
    out += [t("Inconclusive for arm {arm}: {reason}.", arm=a, reason=arm_reason(r, a))
            for a, v in per_arm.items() if v.get("verdict") == "inconclusive"]
    return t(" ").join(out)


def _p(p: Any) -> str:
    if not isinstance(p, (int, float)):
        return t("p n/a")
    return "p < 0.0001" if p < 1e-4 else f"p = {p:.4f}"


def decision_rule(r: Mapping[str, Any]) -> str:
    """The pre-registered rule: results.json's ``rule`` in English, else the rule composed from the
    look plan (the nominal alpha), the guardrails' one-sided level and the ranking metric."""
    d = r.get("decision") or {}
    if _english() or not d:
        return str(d.get("rule") or "")
    q = r.get("sequential") or {}
    rows = r.get("metrics") or []
    always = any(x.get("decision_p_value") == "always-valid" for x in rows)
    alternative = next((x.get("alternative") for x in rows if x.get("primary")), "two-sided")
    alpha = q.get("nominal_alpha_this_look")
    test = (t("always-valid two-sided p < {alpha}, valid at any look", alpha=f"{alpha:g}") if always and alpha is not None
            else t("p < {alpha}", alpha=f"{alpha:.4g}") if alpha is not None else "p")
    if q.get("boundary_z") is not None and not always:
        test += t(" at this look")
    guard = next((g.get("alpha_noninferiority") for g in r.get("guardrails") or [] if g.get("alpha_noninferiority")), None)
    return t("ship an arm only if a primary (success) metric improved significantly (Holm-adjusted {test}, effect {sign}) "
             "and every guardrail is non-inferior ({guard} against its margin); of several qualifying arms, the best "
             "estimate of the primary metric {metric} (arms compared pairwise, Holm-adjusted)", test=test,
             sign="< 0" if alternative == "smaller" else "> 0",
             guard=t("one-sided p < {alpha}", alpha=f"{guard:g}") if guard else t("one-sided test"),
             metric=d.get("ranking_metric") or "")


def watch_text(r: Mapping[str, Any], w: Mapping[str, Any]) -> str:
    """A guardrail on watch in words: its ``text`` in English, else composed from its numbers."""
    if _english():
        return str(w.get("text"))
    g = next((x for x in r.get("guardrails") or [] if x.get("metric") == w.get("metric") and x.get("arm") == w.get("arm")), {})
    display = g.get("display") or "number"
    margin = w.get("margin")
    within = "" if margin is None else (
        t(" but within the {margin} pp margin", margin=f"{100 * margin:g}") if display == "rate"
        else t(" but within the margin {margin}", margin=f"{margin:g}"))
    return t("{metric} {effect} {ci}, significant{within} (arm {arm})", metric=w.get("metric"),
             effect=_signed(w.get("abs_effect"), display), ci=_interval(w.get("abs_ci"), display), within=within,
             arm=w.get("arm"))
