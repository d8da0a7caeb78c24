"""The readout's Consumer Duty panel, rendered from results.json ``consumer_duty``.

Outcomes by customer group and arm (:mod:`uplift.targeting.fairness`): a box saying whether any harm
or unsuitable-sale signal is flagged, the table of every group value, outcome and offer arm (control
rate, arm rate, difference with its interval, Holm-adjusted p-value, flag), and the next wave's make-up
by group against the eligible customers. Pure functions of the results dict, like
:mod:`uplift.readout.report`.
"""

from __future__ import annotations

import html
from typing import Any, Mapping

from uplift.readout.intervals import interval_text
from uplift.readout.report import box, ci_label, fmt_num, fmt_p, fmt_pct, fmt_pp, table
from uplift.text import N_, t

__all__ = ["duty_section", "duty_alert"]

_E = html.escape

_KINDS = {"conversion": N_("conversion"), "harm": N_("harm"), "unsuitable_sale": N_("unsuitable sale")}


def _cell(r: Mapping[str, Any]) -> str:
    return _E(f"{r.get('group')} = {r.get('value')}")


def _pp_points(x: Any) -> str:
    """A difference already in percentage points."""
    return fmt_pp(x / 100) if isinstance(x, (int, float)) and not isinstance(x, bool) else "&mdash;"


def duty_section(r: Mapping[str, Any]) -> str:
    """The panel (module docstring), or one line saying how to ask for it."""
    d = r.get("consumer_duty")
    if not d:
        return t("<p>No Consumer Duty panel: it needs [fairness] group_columns in the spec and those columns in "
                 "the outcomes or in the population given to the readout.</p>")
    rows = d.get("rows") or []
    alpha = f"{d.get('alpha', 0.05):g}"
    flagged = [x for x in rows if x.get("harm_flag")]
    if flagged:
        items = "".join(
            "<li>" + t("{group}: {outcome} ({kind}) {before} &rarr; {after} in {arm_name}, {diff} {ci}, Holm p {p}",
                       group=_cell(x), outcome=_E(str(x.get("outcome"))), kind=t(_KINDS.get(x.get("kind"), "")),
                       before=fmt_pct(x.get("rate_control")), after=fmt_pct(x.get("rate_arm")),
                       arm_name=_E(str(x.get("arm"))), diff=fmt_pp(x.get("difference")), ci=interval_text(x.get("ci"), fmt_pp),
                       p=fmt_p(x.get("p_holm"))) + "</li>" for x in flagged)
        head = box("bad", t("Harm flagged in {n} group cells", n=len(flagged)),
                   t("<p>These groups show more harm under the offer than under control, beyond chance "
                     "(Holm, family-wise alpha {alpha}). Review the offer's suitability for them before the next wave.</p>",
                     alpha=alpha) + f"<ul>{items}</ul>")
    else:
        head = box("good", t("No harm flagged"),
                   t("<p>No group shows a significant rise in a harm or unsuitable-sale signal under the offer "
                     "(Holm, family-wise alpha {alpha}).</p>", alpha=alpha))
    body = [[_cell(x), _E(str(x.get("outcome"))), t(_KINDS.get(x.get("kind"), "")), _E(str(x.get("arm"))),
             f"{fmt_num(x.get('n_arm'))} / {fmt_num(x.get('n_control'))}",
             f"{fmt_pct(x.get('rate_control'))} &rarr; {fmt_pct(x.get('rate_arm'))}",
             fmt_pp(x.get("difference")) if x.get("difference") is not None else t("fewer than {n}", n=d.get("min_cell_size")),
             interval_text(x.get("ci"), fmt_pp), fmt_p(x.get("p_holm")),
             t("harm") if x.get("harm_flag") else ""] for x in rows]
    level = {"confidence": 1 - float(d.get("alpha", 0.05))}
    main = table([t("Group"), t("Outcome"), t("Kind"), t("Arm"), t("n arm / control"), t("Control &rarr; arm"),
                  t("Difference"), ci_label([level]), t("p (Holm)"), t("Flag")], body,
                 caption=t("Difference offer &minus; control within each group: Wald interval, pooled two-sided z-test. "
                           "Harm and unsuitable-sale cells form one Holm family (conversions another); a cell is "
                           "flagged when its difference is positive and its Holm-adjusted p is below {alpha}. An "
                           "unsuitable-sale signal is a share of the sales (customers who converted). Cells with fewer than "
                           "{n} customers in an arm are not tested.", alpha=alpha, n=d.get("min_cell_size", 0)))
    comp = d.get("composition") or []
    if comp:
        crow = [[_E(f"{x.get('group')} = {x.get('value')}"), fmt_num(x.get("selected")), fmt_pct(x.get("share_selected")),
                 fmt_pct(x.get("share_eligible")), _pp_points(x.get("difference_pp"))] for x in comp]
        main += table([t("Group"), t("Selected"), t("Share of the next wave"), t("Share of the eligible"), t("Difference")],
                      crow, caption=t("The next wave's make-up by group against the eligible customers."))
    return head + main


def duty_alert(r: Mapping[str, Any]) -> str:
    """Beside the decision: a warning box when the Consumer Duty panel flags a harm ('' otherwise), so the
    decision is never read without it."""
    d = r.get("consumer_duty") or {}
    flagged = [x for x in d.get("rows") or [] if x.get("harm_flag")]
    if not flagged:
        return ""
    cells = ", ".join(_E(f"{x.get('group')} = {x.get('value')} ({x.get('outcome')}, {x.get('arm')})") for x in flagged)
    return box("warn", t("Consumer Duty: harm flagged in {n} group cells", n=len(flagged)),
               t("<p>{cells}. See the Consumer Duty panel before acting on the decision.</p>", cells=cells))
