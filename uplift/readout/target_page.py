"""The next-best-offer page of ``uplift target``: Qini per offer, profit against budget, shadow prices,
explanations and the fairness table. Self-contained (inline CSS, charts as embedded PNG, no scripts),
drawn from :meth:`uplift.targeting.offers.NextBestOffer.to_dict` and the explanation and duty results,
so the page and the JSON printed by ``uplift target --json`` agree.
"""

from __future__ import annotations

import html
from typing import Any, Mapping, Sequence

from uplift.readout.design_page import line_chart as chart
from uplift.readout.render import html_page
from uplift.readout.report import fmt_money, fmt_num, fmt_pct, table

__all__ = ["target_html"]

_E = html.escape


def target_html(name: str, nbo: Mapping[str, Any], qini: Mapping[str, tuple[list[float], list[float]]],
                importance: Sequence[tuple[str, float]], rules: Mapping[str, Any],
                composition: Sequence[Mapping[str, Any]]) -> str:
    """The page (module docstring). ``qini``: offer -> (share targeted, cumulative incremental outcome)."""
    cur = nbo.get("currency", "EUR")
    parts = [f"<h1>Next best offer: {_E(name)}</h1>",
             f"<p>{nbo['selected']:,} of {nbo['eligible']:,} eligible customers get an offer; expected incremental "
             f"profit {fmt_money(nbo['expected_incremental_profit'], cur)} "
             f"(interval {fmt_money(nbo['expected_incremental_profit_ci'][0], cur)} to "
             f"{fmt_money(nbo['expected_incremental_profit_ci'][1], cur)}, {_E(nbo['interval_method'])}), "
             f"expected cost {fmt_money(nbo['expected_cost'], cur)}"
             + (f" of a budget of {fmt_money(nbo['budget'], cur)}" if nbo.get("budget") is not None else "")
             + f". Solver: {_E(nbo['status'])}.</p>"]
    parts.append("<h2>Offers</h2>" + table(
        ["offer", "customers", "held-out Qini", "interval", "calibration slope", "value of a conversion", "cost per contact"],
        [[_E(p["offer"]), f"{nbo['contacts'].get(p['offer'], 0):,}", fmt_num(p["qini"], 4),
          f"[{fmt_num(p['qini_ci'][0], 4)}, {fmt_num(p['qini_ci'][1], 4)}]", fmt_num(p["calibration_slope"]),
          fmt_money(p["value_per_conversion"], cur), fmt_money(p["cost_per_contact"], cur)] for p in nbo["per_offer"]]))
    parts.append(chart([(o, list(x), list(y)) for o, (x, y) in qini.items()], "share of customers targeted",
                       "cumulative incremental conversions", "Qini curve per offer (held-out customers)", percent=False))
    f = nbo.get("frontier") or {}
    if f.get("budget"):
        parts.append("<h2>Profit against budget</h2><p>At each budget, a feasible allocation (the Lagrangian solution "
                     "improved by an exact MILP over the customers closest to changing option) and an upper bound of the "
                     "optimum there (the Lagrangian dual): the optimum lies between the two, at most "
                     f"{fmt_money((f.get('max_gap') or [0.0])[0], cur)} above the curve. The allocation at the spec's budget "
                     "above is solved to optimality (its status says so).</p>")
        series = [("expected incremental profit", f["budget"], f["profit"])]
        if f.get("upper_bound"):
            series.append(("upper bound of the optimum", f["budget"], f["upper_bound"]))
        parts.append(chart(series, f"budget ({cur})",
                           f"expected incremental profit ({cur})", "Efficient frontier", percent=False,
                           vlines=[(nbo["budget"], "budget")] if nbo.get("budget") is not None else ()))
    sp = nbo.get("shadow_prices") or {}
    if sp:
        parts.append("<h2>Shadow prices</h2><p>" + _E(nbo["shadow_price_method"]) + ".</p>" + table(
            ["constraint", "shadow price"], [[_E(k), fmt_num(v, 3)] for k, v in sp.items()]))
    parts.append("<h2>What drives the predicted uplift</h2><p>Drop in the held-out Qini coefficient when a column is "
                 "permuted (largest first):</p>" + table(["feature", "Qini drop"], [[_E(c), fmt_num(v, 4)] for c, v in importance]))
    parts.append(f"<p>Policy tree (depth {rules.get('depth', 0)}), agreeing with the allocation for "
                 f"{fmt_pct(rules.get('agreement'), 1)} of customers:</p><ul>"
                 + "".join(f"<li>{_E(r)}</li>" for r in rules.get("rules", [])) + "</ul>")
    if composition:
        parts.append("<h2>Fairness: the next wave by group</h2>" + table(
            ["group", "value", "share of the next wave", "share of the eligible", "difference (pp)"],
            [[_E(r["group"]), _E(r["value"]), fmt_pct(r["share_selected"], 1), fmt_pct(r["share_eligible"], 1),
              fmt_num(r["difference_pp"], 1)] for r in composition]))
    return html_page(f"Next best offer: {name}", "\n".join(parts))
