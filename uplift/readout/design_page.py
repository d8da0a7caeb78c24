"""design.html: the pre-registration page of ``uplift design --out DIR``, drawn from design.json.

Every number on the page is read from the design dict (:meth:`uplift.experiment.design_result.DesignResult.to_dict`,
written beside it as design.json), so the page and the file agree; the hypothesis and planned
looks come from the spec. The page is self-contained (inline CSS, charts as embedded PNG, no
scripts) and byte-identical on reruns: the charts are drawn on a bare matplotlib ``Figure``
with the readout's style and saved without a timestamp.
"""

from __future__ import annotations

import base64
import html
import io
from collections.abc import Mapping, Sequence
from typing import Any

from uplift.experiment.censoring import censoring_text
from uplift.readout.charts import style
from uplift.readout.render import html_page
from uplift.readout.report import box, fmt_money, fmt_num, fmt_pct, table
from uplift.text import SOURCE_LANGUAGE, chart_label, current_language, localize, t, use_language

__all__ = ["design_html", "line_chart"]

_E = html.escape
_COLORS = ("#1f4e99", "#d4762c", "#2e8b57", "#8e44ad", "#b03a48", "#5b6475")


def _png(fig: Any) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100, bbox_inches="tight", metadata={"Software": None})
    return f'<img alt="chart" src="data:image/png;base64,{base64.b64encode(buf.getvalue()).decode("ascii")}">'


def _chart(series: Sequence[tuple[str, list[float], list[float]]], xlabel: str, ylabel: str, title: str,
           hline: float | None = None, vlines: Sequence[tuple[float, str]] = (), percent: bool = True) -> str:
    from matplotlib.figure import Figure

    style()
    fig = Figure(figsize=(8, 3.6))
    ax = fig.add_subplot()
    scale = 100.0 if percent else 1.0
    for i, (label, xs, ys) in enumerate(series):
        pts = [(x, y * scale) for x, y in zip(xs, ys) if y is not None]
        if pts:
            ax.plot([p[0] for p in pts], [p[1] for p in pts], "-", color=_COLORS[i % len(_COLORS)],
                    lw=2, label=chart_label(label))
    if hline is not None:
        ax.axhline(hline * scale, color="black", lw=1, ls="--")
    for x, label in vlines:
        ax.axvline(x, color="#777777", lw=1, ls=":")
        ax.annotate(chart_label(label), (x, ax.get_ylim()[1]), ha="left", va="top", fontsize=8, rotation=90)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(chart_label(title))
    ax.legend(frameon=False)
    return _png(fig)


line_chart = _chart
"""A line chart as an embedded PNG (the next-best-offer page draws with it too)."""


def _feasibility(d: Mapping[str, Any]) -> str:
    f = d.get("feasibility") or {}
    kind = {"feasible": "good", "not feasible": "bad"}.get(f.get("verdict"), "warn")
    return box(kind, _E(t(str(f.get("verdict", "unknown")).capitalize())), f"<p>{_E(_feasibility_text(f))}</p>")


def _feasibility_text(f: Mapping[str, Any]) -> str:
    """design.json's feasibility sentence in English; in another language composed from its fields."""
    if current_language() == SOURCE_LANGUAGE:
        return str(f.get("text", ""))
    needed, eligible = f.get("needed"), f.get("eligible")
    if f.get("enrolment") == "inflow":
        return t("Feasible as an inflow: the {n:,} units enrol over time", n=needed)
    if eligible is None:
        return t("Feasibility unknown: the test needs {n:,} units from a fixed pool; give the population "
                 "(--population FILE or [population] source) to count the eligible units", n=needed)
    reach = t("with all {eligible:,} the MDE is {mde} ({rel} of the baseline)", eligible=eligible,
              mde=fmt_num(f.get("mde_at_eligible"), 4), rel=fmt_pct(f.get("mde_relative_at_eligible")))
    if f.get("verdict") == "feasible":
        return t("Feasible: the test needs {n:,} units and {eligible:,} are eligible; `uplift assign` puts all of them "
                 "in the test: {reach}", n=needed, eligible=eligible, reach=reach)
    return t("NOT FEASIBLE: the test needs {n:,} units but only {eligible:,} are eligible (a fixed pool); {reach}",
             n=needed, eligible=eligible, reach=reach)


def _sizes(d: Mapping[str, Any]) -> str:
    rows = [[_E(a), fmt_num(w, 3), f"{d['n_per_arm'][a]:,}"] for a, w in d["weights"].items()]
    rows.append([t("<b>total</b>"), "", f"<b>{d['n_total']:,}</b>"])
    return table([t("arm"), t("weight"), t("units")], rows)


def _metrics(d: Mapping[str, Any]) -> str:
    rows = []
    for m in d["metrics"]:
        rows.append([_E(m["name"]) + (t(" (primary)") if m["primary"] else ""), _E(t(m["kind"])), fmt_num(m["baseline"], 4),
                     fmt_num(m["effect"], 4), "&mdash;" if m["n_total"] is None else f"{m['n_total']:,}",
                     fmt_num(m["mde"], 4), fmt_pct(m["mde_relative"]), fmt_pct(m["power"]), _E(localize(m.get("note") or ""))])
    return table([t("metric"), t("kind"), t("baseline"), t("target effect"), t("n needed"), t("MDE at n"), t("MDE relative"),
                  t("power at target"), t("note")], rows,
                 caption=t("MDE and power at the design's n (the primary metric's); the worst offer arm."))


def _guardrails(d: Mapping[str, Any]) -> str:
    if not d.get("guardrails"):
        return t("<p>No guardrails in the spec.</p>")
    rows = [[_E(g["guardrail"]), _E(t(g["bad_direction"])), fmt_num(g["baseline"], 4), fmt_num(g["margin"], 4),
             fmt_pct(g["power"]), fmt_num(g["margin_at_power"], 4), _E(localize(g.get("note") or ""))] for g in d["guardrails"]]
    a = d["guardrails"][0]["alpha_one_sided"]
    return table([t("guardrail"), t("harm is"), t("baseline"), t("margin"), t("power"), t("margin at target power"), t("note")],
                 rows, caption=t("One-sided non-inferiority test at {alpha} against the margin, true harm 0, at the "
                                 "design's n.", alpha=f"{a:g}"))


def _waterfall(d: Mapping[str, Any]) -> str:
    w = (d.get("exclusions") or {}).get("waterfall")
    if not w:
        return t("<p>No population given: the exclusion waterfall is unknown (pass --population).</p>")
    rows = [[_E(str(r["step"])), _E(str(r.get("rule", ""))), f"{r['excluded']:,}", f"{r.get('missing', 0):,}",
             f"{r['remaining']:,}"] for r in w]
    return table([t("step"), t("rule"), t("excluded"), t("missing"), t("remaining")], rows,
                 caption=t("Computed from the population as `uplift assign` will record it; nothing was written."))


def _curves(d: Mapping[str, Any]) -> str:
    curves = d.get("curves") or []
    out = []
    power_series = [(c["metric"], [p["n_total"] for p in c["power_vs_n"]], [p["power"] for p in c["power_vs_n"]])
                    for c in curves if c["power_vs_n"]]
    power_series += [(t("guardrail {name}", name=g["guardrail"]), [p["n_total"] for p in g["power_vs_n"]],
                      [p["power"] for p in g["power_vs_n"]]) for g in d.get("guardrails") or [] if g["power_vs_n"]]
    marks = [(d["n_total"], t("design n {n:,}", n=d['n_total']))]
    if d.get("eligible") is not None:
        marks.append((d["eligible"], t("eligible {n:,}", n=d['eligible'])))
    if power_series:
        out.append(_chart(power_series, t("units in the test"), t("power, %"), t("Power at the target effect against n"),
                          hline=d["power_target"], vlines=marks))
    weeks = [c for c in curves if c["mde_vs_weeks"]]
    if weeks:
        out.append(_chart([(c["metric"], [p["weeks"] for p in c["mde_vs_weeks"]],
                            [p["mde_relative"] for p in c["mde_vs_weeks"]]) for c in weeks],
                          t("weeks of enrolment"), t("MDE, % of the baseline"), t("MDE against duration")))
    else:
        out.append(_chart([(c["metric"], [p["n_total"] for p in c["mde_vs_n"]], [p["mde_relative"] for p in c["mde_vs_n"]])
                           for c in curves], t("units in the test"), t("MDE, % of the baseline"),
                          t("MDE against n (a fixed pool: no enrolment time)"), vlines=marks))
    return "\n".join(out)


def _forecast(d: Mapping[str, Any]) -> str:
    f = d.get("forecast") or {}
    if not f.get("available"):
        return f"<p>{_E(localize(f['note']) if f.get('note') else t('No forecast.'))}</p>"
    cur = f["currency"]

    def m(x: Any) -> str:
        return fmt_money(x, cur, 0)

    be = f["break_even_effect"]
    head = ("<p>" + t("One incremental conversion is worth {value}; contacting a customer costs {contact} plus {incentive} "
                      "per conversion. The offer breaks even at an effect of ", value=m(f['value_per_conversion']),
                      contact=fmt_money(f['contact_cost'], cur), incentive=fmt_money(f['incentive_cost'], cur))
            + (t("&mdash; (a conversion is worth no more than its incentive)") if be is None
               else t("{effect} ({rel} of the baseline)", effect=fmt_num(be, 4), rel=fmt_pct(be / f['baseline'])))
            + t(". The test offers {basis}.", basis=_E(localize(f['units_basis']))) + "</p>")
    rows = [[_E(t(s["name"])), f"{fmt_num(s['effect'], 4)} ({fmt_pct(s['effect_relative'])})", m(s["test_cost"]),
             m(s["test_profit"]), fmt_pct(s["roi"], 0), m(s["rollout_profit"])] for s in f["scenarios"]]
    out = head + table([t("effect"), t("size"), t("test cost ({n:,} offered)", n=f['treated_units']), t("test profit"), t("ROI"),
                        t("rollout profit") + (f" ({f['rollout_units']:,})" if f["rollout_units"] is not None else "")],
                       rows, caption=_E(localize(f["definition"])) + (t("; rollout: {source}", source=_E(localize(f['rollout_source'])))
                                                      if f["rollout_source"] else ""))
    p = f.get("prior")
    if p:
        out += ("<p>" + t("With the effect uncertain, N({mean}, {sd}&sup2;): expected profit of the test {profit}",
                          mean=fmt_num(p['mean'], 4), sd=fmt_num(p['sd'], 4), profit=m(p['expected_test_profit']))
                + (t(", of the rollout {profit}", profit=m(p['expected_rollout_profit']))
                   if p["expected_rollout_profit"] is not None else "")
                + t("; chance of a profit {chance}; <b>assurance</b> (the chance the test gives a significant result) "
                    "{assurance}.", chance=fmt_pct(p['chance_of_profit'], 0), assurance=fmt_pct(p['assurance'], 1)) + "</p>")
    return out


def design_html(d: Mapping[str, Any], hypothesis: str = "", looks: int = 1, language: str = SOURCE_LANGUAGE) -> str:
    """The design page for design dict ``d`` (design.json), the spec's hypothesis and planned looks,
    written in ``language`` (``--lang``, ``[experiment] language``)."""
    with use_language(language):
        return _design_html(d, hypothesis, looks, language)


def _design_html(d: Mapping[str, Any], hypothesis: str, looks: int, language: str) -> str:
    dur = (t("An inflow of {inflow:,} eligible units per week enrols the {n:,} units in {weeks:.2f} weeks (plan {whole}), "
             "then the outcome window.", inflow=d['weekly_inflow'], n=d['n_total'], weeks=d['duration_weeks'],
             whole=d['duration_weeks_whole'])
           if d.get("duration_weeks") is not None else
           t("A fixed pool: every eligible unit is assigned at once; the test lasts its outcome window")
           + (t("; outcomes are read at [experiment] data_as_of {date}", date=d['data_as_of']) if d.get("data_as_of") else "")
           + (t(", {weeks:.1f} weeks after the start {date}.", weeks=d['calendar_weeks'], date=d['start_date'])
              if d.get("calendar_weeks") is not None else "."))
    plan = (t("One look at the end (fixed horizon).") if looks <= 1 else
            t("{looks} looks, group-sequential (O'Brien-Fleming boundaries) on the primary metrics.", looks=looks))
    body = [
        t("<h1>Design: {name}</h1>", name=_E(d['experiment'])),
        f"<p>{_E(hypothesis)}</p>" if hypothesis else "",
        _feasibility(d),
        t("<h2>Sizes per arm</h2>"), _sizes(d),
        t("<p>Primary metric <b>{metric}</b>: MDE {mde} ({rel} of the baseline), power {power} at the target effect; "
          "alpha {alpha} ({alternative}), {per} per comparison.</p>", metric=_E(d['primary']), mde=fmt_num(d['mde'], 4),
          rel=fmt_pct(d['mde_relative']), power=fmt_pct(d['power']), alpha=f"{d['alpha']:g}",
          alternative=_E(t(d['alternative'])), per=f"{d['alpha_per_comparison']:.4g}"),
        t("<h2>Duration</h2>"), f"<p>{_E(dur)}</p>",
        f"<p>{_E(localize(censoring_text(d['censoring'], d.get('power'))))}{t('.')}</p>" if d.get("censoring") else "",
        t("<h2>What it would earn</h2>"), _forecast(d),
        t("<h2>Metrics</h2>"), _metrics(d),
        t("<h2>Guardrails</h2>"), _guardrails(d),
        t("<h2>Power curves</h2>"), _curves(d),
        t("<h2>Eligibility</h2>"), _waterfall(d),
        t("<h2>Looks</h2>"), f"<p>{_E(plan)}</p>",
    ]
    if d.get("notes"):
        body += [t("<h2>Notes</h2>"), "<ul>" + "".join(f"<li>{_E(localize(n))}</li>" for n in d["notes"]) + "</ul>"]
    body.append(t("<p class=\"muted\">Method: {method}. The numbers are those of design.json beside this page.</p>",
                  method=_E(localize(d['method']))))
    return html_page(t("Design: {name}", name=d['experiment']), "\n".join(x for x in body if x), language)
