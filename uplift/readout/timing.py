"""The page's "Conversion over time" section, drawn from results.json's ``conversion_timing`` blocks.

The chart and the table read the same block (:meth:`uplift.survival.conversion.ConversionTiming.to_dict`)
that results.json carries, so the page and the file show the same numbers.
"""

from __future__ import annotations

import html
from collections.abc import Mapping
from typing import Any

import matplotlib.pyplot as plt

from uplift.readout.report import box, fmt_pct, fmt_pp, p_phrase, table
from uplift.text import chart_label, localize
from uplift.text import t

__all__ = ["funnel_days_table", "timing_chart", "timing_section"]

_COLORS = ("#1f4e99", "#d4762c", "#2e8b57", "#8e44ad", "#b03a48")


def timing_chart(block: Mapping[str, Any]) -> Any:
    """The cumulative incidence of conversion by day per arm, with its pointwise band; the window marked."""
    fig, ax = plt.subplots(figsize=(8, 3.8))
    for i, (arm, a) in enumerate(block["arms"].items()):
        c = a["curve"]
        color = _COLORS[i % len(_COLORS)]
        ax.step(c["days"], [100 * v for v in c["incidence"]], where="post", color=color, label=chart_label(arm))
        ax.fill_between(c["days"], [100 * v for v in c["lower"]], [100 * v for v in c["upper"]], step="post",
                        alpha=0.2, color=color, linewidth=0)
    ax.axvline(block["window_days"], color="#555555", linestyle="--", linewidth=1)
    ax.set_xlabel(t("days since the customer's start"))
    ax.set_ylabel(t("converted (%)"))
    level = f"{100 * block['confidence']:g}%"
    ax.set_title(chart_label(t("{metric}: conversion over time ({method}, {level} bands); window {days} days",
                               metric=block['metric'], method=block['method'], level=level, days=block['window_days'])))
    ax.legend(loc="upper left")
    fig.tight_layout()
    return fig


def timing_section(block: Mapping[str, Any]) -> str:
    """The effect at the window with its interval and the maturity, then a table by horizon."""
    level = t("{level}% CI", level=f"{100 * block['confidence']:g}")
    maturity = block.get("maturity")
    lines = []
    for e in block["window"]["effects"]:
        lines.append(t("<p>{arm} vs {control}: <b>{effect}</b> converted within {days} days ({level} [{lower}, {upper}], "
                       "{p}).</p>", arm=html.escape(str(e['arm'])), control=html.escape(str(e['control'])),
                       effect=fmt_pp(e['difference']), days=block['window_days'], level=level, lower=fmt_pp(e['lower']),
                       upper=fmt_pp(e['upper']), p=p_phrase(e['p_value'])))
    lines.append(t("<p>Maturity: {share} of the {days}-day window observed (mean over customers of min(follow-up, "
                   "window) / window).</p>", share=fmt_pct(maturity, 1), days=block['window_days']))
    if block.get("assumption"):
        lines.append(f"<p class=\"muted\">{html.escape(localize(block['assumption']))}</p>")
    kind = "good" if maturity is not None and maturity >= 1 else "warn"
    status = (t("Window fully observed") if kind == "good" else t("Window partly observed: the estimate at the window "
                                                                  "rests on the customers observed that long"))
    arms = list(block["arms"])
    rows = []
    for h in block["horizons"]:
        cells = [t("{days} days", days=h['days'])] + [fmt_pct(h["incidence"][a]["estimate"]) + " "
                                         f"[{fmt_pct(h['incidence'][a]['lower'])}, {fmt_pct(h['incidence'][a]['upper'])}]"
                                         for a in arms]
        effects = "; ".join(f"{html.escape(str(e['arm']))}: {fmt_pp(e['difference'])} [{fmt_pp(e['lower'])}, "
                            f"{fmt_pp(e['upper'])}], {p_phrase(e['p_value'])}" for e in h["effects"])
        rows.append(cells + [effects])
    head = [t("Horizon")] + [f"{html.escape(str(a))} ({level})" for a in arms] + [t("Effect vs control ({level})", level=level)]
    counts = ", ".join(t("{arm}: {n:,} customers, {conversions:,} conversions", arm=html.escape(str(a)), n=v['n'],
                         conversions=v['conversions'])
                       + (t(", {n:,} competing events", n=v['competing_events']) if block["method"] == "Aalen-Johansen" else "")
                       for a, v in block["arms"].items())
    caption = t("Cumulative incidence of {metric} by day ({method}; censored at each customer's follow-up). {counts}.",
                metric=html.escape(str(block['metric'])), method=block['method'], counts=counts)
    return box(kind, status, "".join(lines)) + table(head, rows, caption)


def funnel_days_table(block: Mapping[str, Any]) -> str:
    """Median days from the customer's start to each funnel stage per arm, with its interval (results.json
    ``funnel_days``: Kaplan-Meier, censored at the follow-up); "not reached" when fewer than half get there."""
    def day(v: Any) -> str:
        return t("not reached") if v is None else f"{v:g}"

    arms = list(dict.fromkeys(a for st in block["stages"] for a in st["arms"]))
    level = t("{level}% CI", level=f"{100 * block['confidence']:g}")
    rows = []
    for st in block["stages"]:
        cells = [html.escape(str(st["stage"])), html.escape(str(st["among"])) if st["among"] else t("everyone")]
        for a in arms:
            v = st["arms"].get(a)
            cells.append("&mdash;" if v is None else
                         f"{day(v['median_days'])} [{day(v['lower'])}, {day(v['upper'])}] "
                         "<span class=\"muted\">" + t("({reached:,} of {customers:,})", reached=v['reached'],
                                                       customers=v['customers']) + "</span>")
        rows.append(cells)
    head = [t("Stage"), t("Among customers who reached")] + [t("{arm}: median days ({level})", arm=html.escape(str(a)),
                                                                 level=level) for a in arms]
    return (t("<h3>Days to each funnel stage</h3>")
            + table(head, rows, t("Median days from the customer's start to each stage; {method}; censored at '{column}'.",
                                  method=html.escape(localize(block['method'])),
                                  column=html.escape(block['followup_column']))))
