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
from uplift.text import chart_label

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
    ax.set_xlabel("days since the customer's start")
    ax.set_ylabel("converted (%)")
    level = f"{100 * block['confidence']:g}%"
    ax.set_title(chart_label(f"{block['metric']}: conversion over time ({block['method']}, {level} bands); "
                             f"window {block['window_days']} days"))
    ax.legend(loc="upper left")
    fig.tight_layout()
    return fig


def timing_section(block: Mapping[str, Any]) -> str:
    """The effect at the window with its interval and the maturity, then a table by horizon."""
    level = f"{100 * block['confidence']:g}% CI"
    maturity = block.get("maturity")
    lines = []
    for e in block["window"]["effects"]:
        lines.append(f"<p>{html.escape(str(e['arm']))} vs {html.escape(str(e['control']))}: "
                     f"<b>{fmt_pp(e['difference'])}</b> converted within {block['window_days']} days "
                     f"({level} [{fmt_pp(e['lower'])}, {fmt_pp(e['upper'])}], {p_phrase(e['p_value'])}).</p>")
    lines.append(f"<p>Maturity: {fmt_pct(maturity, 1)} of the {block['window_days']}-day window observed "
                 f"(mean over customers of min(follow-up, window) / window).</p>")
    if block.get("assumption"):
        lines.append(f"<p class=\"muted\">{html.escape(block['assumption'])}</p>")
    kind = "good" if maturity is not None and maturity >= 1 else "warn"
    status = ("Window fully observed" if kind == "good" else "Window partly observed: the estimate at the window "
              "rests on the customers observed that long")
    arms = list(block["arms"])
    rows = []
    for h in block["horizons"]:
        cells = [f"{h['days']} days"] + [fmt_pct(h["incidence"][a]["estimate"]) + " "
                                         f"[{fmt_pct(h['incidence'][a]['lower'])}, {fmt_pct(h['incidence'][a]['upper'])}]"
                                         for a in arms]
        effects = "; ".join(f"{html.escape(str(e['arm']))}: {fmt_pp(e['difference'])} [{fmt_pp(e['lower'])}, "
                            f"{fmt_pp(e['upper'])}], {p_phrase(e['p_value'])}" for e in h["effects"])
        rows.append(cells + [effects])
    head = ["Horizon"] + [f"{html.escape(str(a))} ({level})" for a in arms] + [f"Effect vs control ({level})"]
    counts = ", ".join(f"{html.escape(str(a))}: {v['n']:,} customers, {v['conversions']:,} conversions"
                       + (f", {v['competing_events']:,} competing events" if block["method"] == "Aalen-Johansen" else "")
                       for a, v in block["arms"].items())
    caption = (f"Cumulative incidence of {html.escape(str(block['metric']))} by day ({block['method']}; "
               f"censored at each customer's follow-up). {counts}.")
    return box(kind, status, "".join(lines)) + table(head, rows, caption)


def funnel_days_table(block: Mapping[str, Any]) -> str:
    """Median days from the customer's start to each funnel stage per arm, with its interval (results.json
    ``funnel_days``: Kaplan-Meier, censored at the follow-up); "not reached" when fewer than half get there."""
    def day(v: Any) -> str:
        return "not reached" if v is None else f"{v:g}"

    arms = list(dict.fromkeys(a for st in block["stages"] for a in st["arms"]))
    level = f"{100 * block['confidence']:g}% CI"
    rows = []
    for st in block["stages"]:
        cells = [html.escape(str(st["stage"])), html.escape(str(st["among"] or "everyone"))]
        for a in arms:
            v = st["arms"].get(a)
            cells.append("&mdash;" if v is None else
                         f"{day(v['median_days'])} [{day(v['lower'])}, {day(v['upper'])}] "
                         f"<span class=\"muted\">({v['reached']:,} of {v['customers']:,})</span>")
        rows.append(cells)
    head = ["Stage", "Among customers who reached"] + [f"{html.escape(str(a))}: median days ({level})" for a in arms]
    return ("<h3>Days to each funnel stage</h3>"
            + table(head, rows, f"Median days from the customer's start to each stage; {html.escape(block['method'])}; "
                                f"censored at '{html.escape(block['followup_column'])}'."))
