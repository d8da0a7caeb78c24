"""The next-best-offer page of ``uplift target``: Qini per offer, profit against budget, shadow prices,
explanations and the fairness table. Self-contained (inline CSS, charts as embedded PNG, no scripts),
drawn from :meth:`uplift.targeting.offers.NextBestOffer.to_dict` and the explanation and duty results,
so the page and the JSON printed by ``uplift target --json`` agree. Written in the current language
(:func:`uplift.text.use_language`; ``uplift target --lang``), like the readout and design pages.
"""

from __future__ import annotations

import html
from typing import Any, Mapping, Sequence

from uplift.readout.design_page import line_chart as chart
from uplift.readout.intervals import interval_text
from uplift.readout.render import html_page
from uplift.readout.report import fmt_money, fmt_num, fmt_pct, table
from uplift.text import current_language, localize, t

__all__ = ["target_html"]

_E = html.escape


def target_html(name: str, nbo: Mapping[str, Any], qini: Mapping[str, tuple[list[float], list[float]]],
                importance: Sequence[tuple[str, float]], rules: Mapping[str, Any],
                composition: Sequence[Mapping[str, Any]]) -> str:
    """The page (module docstring). ``qini``: offer -> (held-out customers targeted, best first; cumulative
    incremental outcome)."""
    cur = nbo.get("currency", "EUR")
    low, high = nbo["expected_incremental_profit_ci"]
    budget = (t(" of a budget of {budget}", budget=fmt_money(nbo["budget"], cur)) if nbo.get("budget") is not None else "")
    parts = [t("<h1>Next best offer: {name}</h1>", name=_E(name)),
             t("<p>{selected:,} of {eligible:,} eligible customers get an offer; expected incremental profit {profit} "
               "(interval {low} to {high}, {method}), expected cost {cost}{budget}. Solver: {status}.</p>",
               selected=nbo["selected"], eligible=nbo["eligible"], profit=fmt_money(nbo["expected_incremental_profit"], cur),
               low=fmt_money(low, cur), high=fmt_money(high, cur), method=_E(localize(nbo["interval_method"])),
               cost=fmt_money(nbo["expected_cost"], cur), budget=budget, status=_E(localize(nbo["status"])))]
    parts.append(t("<h2>Offers</h2>") + table(
        [t("Offer"), t("Customers"), t("Held-out Qini"), t("Interval"), t("Calibration slope"), t("Value of a conversion"),
         t("Cost per contact")],
        [[_E(p["offer"]), f"{nbo['contacts'].get(p['offer'], 0):,}", fmt_num(p["qini"], 4),
          interval_text(p["qini_ci"], lambda v: fmt_num(v, 4)), fmt_num(p["calibration_slope"]),
          fmt_money(p["value_per_conversion"], cur), fmt_money(p["cost_per_contact"], cur)] for p in nbo["per_offer"]]))
    parts.append(chart([(o, list(x), list(y)) for o, (x, y) in qini.items()], t("units targeted (by descending score)"),
                       t("cumulative incremental conversions"), t("Qini curve per offer (held-out customers)"), percent=False))
    f = nbo.get("frontier") or {}
    if f.get("budget"):
        parts.append(t("<h2>Profit against budget</h2><p>At each budget, a feasible allocation (the Lagrangian solution "
                       "improved by an exact MILP over the customers closest to changing option) and an upper bound of the "
                       "optimum there (the Lagrangian dual): the optimum lies between the two, at most {gap} above the "
                       "curve. The allocation at the spec's budget above is solved to optimality (its status says so).</p>",
                       gap=fmt_money((f.get("max_gap") or [0.0])[0], cur)))
        series = [(t("expected incremental profit"), f["budget"], f["profit"])]
        if f.get("upper_bound"):
            series.append((t("upper bound of the optimum"), f["budget"], f["upper_bound"]))
        parts.append(chart(series, t("budget ({currency})", currency=cur),
                           t("expected incremental profit ({currency})", currency=cur), t("Efficient frontier"), percent=False,
                           vlines=[(nbo["budget"], t("budget"))] if nbo.get("budget") is not None else ()))
    sp = nbo.get("shadow_prices") or {}
    if sp:
        parts.append(t("<h2>Shadow prices</h2>") + "<p>" + _E(localize(nbo["shadow_price_method"])) + t(".") + "</p>"
                     + table([t("Constraint"), t("Shadow price")], [[_E(t(k)), fmt_num(v, 3)] for k, v in sp.items()]))
    parts.append(t("<h2>What drives the predicted uplift</h2><p>Drop in the held-out Qini coefficient when a column is "
                   "permuted (largest first):</p>")
                 + table([t("Feature"), t("Qini drop")], [[_E(c), fmt_num(v, 4)] for c, v in importance]))
    parts.append(t("<p>Policy tree (depth {depth}), agreeing with the allocation for {agreement} of customers:</p>",
                   depth=rules.get("depth", 0), agreement=fmt_pct(rules.get("agreement"), 1))
                 + "<ul>" + "".join(f"<li>{_E(localize(r))}</li>" for r in rules.get("rules", [])) + "</ul>")
    if composition:
        parts.append(t("<h2>Fairness: the next wave by group</h2>") + table(
            [t("Group"), t("Value"), t("Share of the next wave"), t("Share of the eligible"), t("Difference (pp)")],
            [[_E(r["group"]), _E(r["value"]), fmt_pct(r["share_selected"], 1), fmt_pct(r["share_eligible"], 1),
              fmt_num(r["difference_pp"], 1)] for r in composition]))
    return html_page(t("Next best offer: {name}", name=name), "\n".join(parts), current_language())
