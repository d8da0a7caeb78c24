"""programme.html: the programme readout page of ``uplift programme``, drawn from its results.json.

Every number is read from the programme results dict (:func:`uplift.programme.analysis.programme_readout`,
written beside the page as results.json), so the page and the file agree. Self-contained (inline CSS,
no scripts, no charts) and byte-identical on reruns: nothing on it comes from the clock. Written in the
current language (:func:`uplift.text.use_language`; ``uplift programme --lang``); results.json stays English.
"""

from __future__ import annotations

import html
from typing import Any, Mapping

from uplift.readout.render import html_page
from uplift.readout.report import box, fmt_money, fmt_num, fmt_pct, fmt_pp, table
from uplift.text import N_, current_language, t

__all__ = ["programme_html"]

_E = html.escape
_NAMES = {"conversions": N_("Incremental conversions"), "revenue": N_("Incremental revenue"),
          "profit": N_("Incremental profit (net of contacts)"), "clv": N_("Incremental CLV")}


def _count(x: Any) -> str:
    """Conversions with one decimal, as ``uplift programme`` prints them."""
    return "&mdash;" if x is None else f"{x:,.1f}"


def _ci(lo: Any, hi: Any, f) -> str:
    return t("{low} to {high}", low=f(lo), high=f(hi))


def _effects(d: Mapping[str, Any]) -> str:
    cur = d["currency"]
    rows = []
    for name, e in d["effect"].items():
        f = _count if name == "conversions" else (lambda x: fmt_money(x, cur, 0))
        per = fmt_pp if name == "conversions" else (lambda x: fmt_money(x, cur))
        rows.append((t(_NAMES[name]), f(e["total"]), _ci(*e["total_ci"], f), per(e["per_unit"]),
                     _ci(*e["per_unit_ci"], per), f"{e['p_value']:.3g}"))
    conf = fmt_pct(d["confidence"], 0)
    interval = t("{level} interval", level=conf)
    return table((t("Measure"), t("Programme total"), interval, t("Per exposed unit"), interval, t("p-value")),
                 rows, t("holdout against everyone else"))


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
    rows.append((t("<b>naive sum</b>"), "", "", "", "", "", "", "", f"<b>{_count(naive['incremental_conversions'])}</b>"))
    return table((t("Campaign"), t("Assigned"), t("Offered"), t("Control"), t("Effect on conversion"), t("Interval"),
                  t("Shrunken (EB)"), t("Interval"), t("Incremental conversions")), rows,
                 t("each campaign's offer arms against its own control, on the programme's outcomes"))


def _meta(d: Mapping[str, Any]) -> str:
    m = d.get("meta_analysis")
    if not m:
        return t("<p class=\"muted\">Fewer than two campaigns with an effect: no meta-analysis.</p>")
    return table((t("Pooled effect"), t("Interval"), "tau&sup2;", "I&sup2;", "Q (p)", t("Method")),
                 [(fmt_pp(m["mean"]), _ci(*m["ci"], fmt_pp), f"{m['tau2']:.3g}", fmt_pct(m["i2"], 0),
                   f"{m['q']:.2f} ({m['p_heterogeneity']:.3g})", _E(m["method"]))],
                 t("random-effects meta-analysis of the campaigns' effects on conversion"))


def programme_html(d: Mapping[str, Any]) -> str:
    """The programme readout page from its results dict."""
    u = d["units"]
    conv = d["effect"]["conversions"]
    lo, hi = conv["total_ci"]
    kind = "good" if lo > 0 else ("bad" if hi < 0 else "warn")
    head = box(kind, t("The programme added {n} conversions ({ci}, {level} interval)", n=_count(conv["total"]),
                       ci=_ci(lo, hi, _count), level=fmt_pct(d["confidence"], 0)),
               t("<p>{exposed} units exposed to the programme against a global holdout of {holdout} ({share}); {contacts} "
                 "contacts; holdout units contacted: {contacted}. The naive sum of campaign lifts is {naive}: it ignores "
                 "overlap and saturation.</p>", exposed=fmt_num(u["exposed"]), holdout=fmt_num(u["holdout"]),
                 share=fmt_pct(d["holdout_share"], 1), contacts=fmt_num(u["contacts"]),
                 contacted=fmt_num(u["holdout_contacted"]), naive=_count(d["naive_sum"]["incremental_conversions"])))
    body = (t("<h1>Programme readout: {name}</h1>", name=_E(d["programme"]))
            + t("<p class=\"muted\">Period {start} to {end}; {n} campaign(s).</p>", start=_E(d["period"]["start"]),
                end=_E(d["period"]["end"]), n=len(d["campaigns"]))
            + head + t("<h2>Programme effect</h2>") + _effects(d)
            + t("<h2>Campaigns side by side</h2>") + _campaigns(d) + t("<h2>Meta-analysis</h2>") + _meta(d))
    return html_page(t("Programme readout: {name}", name=d["programme"]), body, current_language())
