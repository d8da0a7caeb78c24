"""programme.html: the programme readout page of ``uplift programme``, drawn from its results.json.

Every number is read from the programme results dict (:func:`uplift.programme.analysis.programme_readout`,
written beside the page as results.json), so the page and the file agree. Self-contained (inline CSS,
no scripts, no charts) and byte-identical on reruns: nothing on it comes from the clock.
"""

from __future__ import annotations

import html
from typing import Any, Mapping

from uplift.readout.render import html_page
from uplift.readout.report import box, fmt_money, fmt_num, fmt_pct, fmt_pp, table

__all__ = ["programme_html"]

_E = html.escape
_NAMES = {"conversions": "Incremental conversions", "revenue": "Incremental revenue",
          "profit": "Incremental profit (net of contacts)", "clv": "Incremental CLV"}


def _count(x: Any) -> str:
    """Conversions with one decimal, as ``uplift programme`` prints them."""
    return "&mdash;" if x is None else f"{x:,.1f}"


def _ci(lo: Any, hi: Any, f) -> str:
    return f"{f(lo)} to {f(hi)}"


def _effects(d: Mapping[str, Any]) -> str:
    cur = d["currency"]
    rows = []
    for name, e in d["effect"].items():
        f = _count if name == "conversions" else (lambda x: fmt_money(x, cur, 0))
        per = fmt_pp if name == "conversions" else (lambda x: fmt_money(x, cur))
        rows.append((_NAMES[name], f(e["total"]), _ci(*e["total_ci"], f), per(e["per_unit"]),
                     _ci(*e["per_unit_ci"], per), f"{e['p_value']:.3g}"))
    conf = fmt_pct(d["confidence"], 0)
    return table(("measure", "programme total", f"{conf} interval", "per exposed unit", f"{conf} interval", "p-value"),
                 rows, "holdout against everyone else")


def _campaigns(d: Mapping[str, Any]) -> str:
    meta = d.get("meta_analysis") or {}
    shrunk = {c["experiment"]: c for c in meta.get("campaigns", [])}
    rows = []
    for c in d["campaigns"]:
        conv = c["conversion"]
        s = shrunk.get(c["experiment"], {})
        rows.append((_E(c["experiment"]), _E(c["assigned_at"]), fmt_num(c["n_treated"]), fmt_num(c["n_control"]),
                     fmt_pp(conv["abs_effect"]), _ci(*conv["abs_ci"], fmt_pp),
                     fmt_pp(s.get("shrunk")), _ci(*(s.get("shrunk_ci") or [None, None]), fmt_pp),
                     _count(c["incremental_conversions"])))
    naive = d["naive_sum"]
    rows.append(("<b>naive sum</b>", "", "", "", "", "", "", "", f"<b>{_count(naive['incremental_conversions'])}</b>"))
    return table(("campaign", "assigned", "offered", "control", "effect on conversion", "interval",
                  "shrunken (EB)", "interval", "incremental conversions"), rows,
                 "each campaign's offer arms against its own control, on the programme's outcomes")


def _meta(d: Mapping[str, Any]) -> str:
    m = d.get("meta_analysis")
    if not m:
        return "<p class=\"muted\">Fewer than two campaigns with an effect: no meta-analysis.</p>"
    return table(("pooled effect", "interval", "tau&sup2;", "I&sup2;", "Q (p)", "method"),
                 [(fmt_pp(m["mean"]), _ci(*m["ci"], fmt_pp), f"{m['tau2']:.3g}", fmt_pct(m["i2"], 0),
                   f"{m['q']:.2f} ({m['p_heterogeneity']:.3g})", _E(m["method"]))],
                 "random-effects meta-analysis of the campaigns' effects on conversion")


def programme_html(d: Mapping[str, Any]) -> str:
    """The programme readout page from its results dict."""
    u = d["units"]
    conv = d["effect"]["conversions"]
    lo, hi = conv["total_ci"]
    kind = "good" if lo > 0 else ("bad" if hi < 0 else "warn")
    head = box(kind, f"The programme added {_count(conv['total'])} conversions "
                     f"({_ci(lo, hi, _count)}, {fmt_pct(d['confidence'], 0)} interval)",
               f"<p>{fmt_num(u['exposed'])} units exposed to the programme against a global holdout of "
               f"{fmt_num(u['holdout'])} ({fmt_pct(d['holdout_share'], 1)}); {fmt_num(u['contacts'])} contacts; "
               f"holdout units contacted: {fmt_num(u['holdout_contacted'])}. The naive sum of campaign lifts is "
               f"{_count(d['naive_sum']['incremental_conversions'])}: it ignores overlap and saturation.</p>")
    body = (f"<h1>Programme readout: {_E(d['programme'])}</h1>"
            f"<p class=\"muted\">Period {_E(d['period']['start'])} to {_E(d['period']['end'])}; "
            f"{len(d['campaigns'])} campaign(s).</p>{head}<h2>Programme effect</h2>{_effects(d)}"
            f"<h2>Campaigns side by side</h2>{_campaigns(d)}<h2>Meta-analysis</h2>{_meta(d)}")
    return html_page(f"Programme readout: {d['programme']}", body)
