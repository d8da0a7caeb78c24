"""HTML fragments of the primary metrics' Bayesian view and of always-valid monitoring.

Rendered from the ``results.json`` metric rows, like :mod:`uplift.readout.report`: the chance to
beat control and the expected losses (row ``bayes``, :mod:`uplift.stats.bayes`) and the
always-valid interval and p-value (row ``always_valid``, :mod:`uplift.stats.sequences`), each
beside the fixed-horizon interval of the same row. Pure functions of plain dicts.
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from typing import Any

from uplift.readout.intervals import interval_text
from uplift.readout.report import ci_label, effect_fmt, fmt_p, fmt_pct, table
from uplift.text import localize, t

__all__ = ["always_valid_table", "primary_bayes"]

_E = html.escape


def primary_bayes(rows: Sequence[Mapping[str, Any]], currency: str = "EUR") -> str:
    """Chance to beat control of each primary metric, its posterior and the expected loss of shipping
    and of not shipping, beside the confidence interval; the prior stated below."""
    body, priors = [], []
    for r in rows:
        b = r.get("bayes")
        if not r.get("primary") or not b:
            continue
        _, diff = effect_fmt(r, currency)
        cred = t("{level} credible", level=fmt_pct(b.get('credible_level'), 0))
        body.append([_E(str(r.get("metric"))), _E(str(r.get("arm"))), f"{diff(r.get('abs_effect'))} {interval_text(r.get('abs_ci'), diff)}",
                     f"{diff(b.get('posterior_mean'))} {interval_text(b.get('credible_interval'), diff)} ({cred})",
                     f"<b>{fmt_pct(b.get('chance_to_win'), 1)}</b>", diff(b.get("expected_loss_ship")),
                     diff(b.get("expected_loss_not_ship"))])
        src = (b.get("prior") or {}).get("source") or ""
        if src and src not in priors:
            priors.append(src)
    if not body:
        return ""
    better = {str(r.get("metric")): (r.get("bayes") or {}).get("better") for r in rows if r.get("bayes")}
    worse = [m for m, v in better.items() if v == "smaller"]
    note = (t("Bayesian view (normal approximation on the estimate and standard error of the row): chance to beat control "
              "= P(effect &gt; 0)") + (t(" (P(effect &lt; 0) for {names}, where lower is better)", names=_E(', '.join(worse))) if worse else "")
            + t("; expected loss if shipped = the average shortfall when the arm is in fact worse than control, if not "
                "shipped = the average gain forgone. Prior: ") + _E(t("; ").join(localize(p) for p in priors)) + t("."))
    return (table([t("Metric"), t("Arm"), t("Effect, {ci}", ci=ci_label(rows)), t("Posterior"), t("Chance to beat control"),
                   t("Expected loss if shipped"), t("Expected loss if not shipped")], body)
            + f"<p class=\"muted\">{note}</p>")


def always_valid_table(rows: Sequence[Mapping[str, Any]], currency: str = "EUR") -> str:
    """Each metric row's always-valid interval and p-value beside its fixed-horizon interval and p-value."""
    body, method, alpha, sides = [], "", None, t("two-sided")
    for r in rows:
        a = r.get("always_valid")
        if not a:
            continue
        _, diff = effect_fmt(r, currency)
        body.append([_E(str(r.get("metric"))), _E(str(r.get("arm"))), diff(r.get("abs_effect")), interval_text(r.get("abs_ci"), diff),
                     fmt_p(r.get("p_value")), interval_text(a.get("ci"), diff, open_end=True), fmt_p(a.get("p_value"))])
        method = localize(a.get("method", ""))
        alpha = a.get("alpha")
        alt = str(a.get("alternative") or "two-sided")
        sides = t("two-sided") if alt == "two-sided" else t("one-sided, {alt}", alt=t(alt))
    if not body:
        return ""
    level = f"{100 * (1 - alpha):g}%" if isinstance(alpha, (int, float)) else ""
    if any(r.get("decision_p_value") == "always-valid" for r in rows):
        method += t(". The decision tests the primary metrics on these always-valid p-values ([analysis] decision = "
                    "\"always-valid\"; Holm-adjusted in the primary table)")
    return (t("<h3>Always-valid monitoring</h3>")
            + table([t("Metric"), t("Arm"), t("Effect"), t("Fixed-horizon {ci}", ci=ci_label(rows)), t("p (fixed horizon)"),
                     t("Always-valid {level} interval", level=level), t("Always-valid p ({sides})", sides=_E(sides))], body)
            + "<p class=\"muted\">" + t("The always-valid interval and p-value stay valid however often and whenever the "
                                          "campaign is looked at (weekly looks included); the fixed-horizon ones only at the "
                                          "planned end. {method}.", method=_E(method)) + "</p>")
