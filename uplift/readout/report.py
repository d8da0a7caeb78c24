"""HTML fragments of the readout, rendered from the ``results.json`` dict.

The notebook template calls these, so every number on the page is the number in
results.json. Pure functions of plain dicts: no data access, no unit ids.
"""

from __future__ import annotations

import html
from typing import Any, Iterable, Mapping, Sequence

from uplift.readout.methods_timing import timing_methods

__all__ = [
    "fmt_num", "fmt_pct", "fmt_pp", "fmt_money", "fmt_p", "table", "box", "is_rate", "effect_fmt",
    "header", "decision_box", "health", "metric_table", "guardrail_table", "precision",
    "funnel_table", "segments_table", "methods", "ci_label", "adjustment_label",
]

_E = html.escape


def _ok(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool)


def fmt_num(x: Any, digits: int = 2) -> str:
    """A number with thousands separators, or an em dash when missing."""
    if not _ok(x):
        return "&mdash;"
    if abs(x) >= 100 or float(x).is_integer():
        return f"{x:,.0f}"
    return f"{x:,.{digits}f}"


def fmt_pct(x: Any, digits: int = 2) -> str:
    """A share as a percentage: 0.0312 -> 3.12%."""
    return "&mdash;" if not _ok(x) else f"{100 * x:.{digits}f}%"


def fmt_pp(x: Any, digits: int = 2) -> str:
    """A difference of shares in percentage points: 0.0123 -> +1.23 pp."""
    return "&mdash;" if not _ok(x) else f"{100 * x:+.{digits}f} pp"


def fmt_money(x: Any, currency: str = "EUR", digits: int = 2) -> str:
    """An amount with its currency: EUR 1,234.50."""
    if not _ok(x):
        return "&mdash;"
    d = 0 if abs(x) >= 10_000 else digits
    return f"{_E(currency)} {x:,.{d}f}"


def fmt_p(p: Any) -> str:
    """A p-value: < 0.0001 below that, else 4 decimals."""
    if not _ok(p):
        return "&mdash;"
    return "&lt; 0.0001" if p < 1e-4 else f"{p:.4f}"


def p_phrase(p: Any) -> str:
    """'p &lt; 0.0001' or 'p = 0.0123'."""
    text = fmt_p(p)
    return f"p {text}" if text.startswith("&lt;") else f"p = {text}"


def _ci(ci: Any, f) -> str:
    if not isinstance(ci, (list, tuple)) or len(ci) != 2:
        return "&mdash;"
    return f"[{f(ci[0])}, {f(ci[1])}]"


def ci_label(items: Iterable[Any], default: float = 0.95) -> str:
    """'95% CI' at the confidence level the results carry: the first ``confidence`` among ``items``
    (result rows or blocks), else ``default``."""
    level = next((x["confidence"] for x in items if isinstance(x, Mapping) and _ok(x.get("confidence"))), default)
    return f"{100 * level:g}% CI"


_ADJUSTMENTS = {"holm": "Holm", "benjamini-hochberg": "BH"}


def adjustment_label(rows: Iterable[Mapping[str, Any]]) -> str:
    """Short name of the multiplicity adjustment the rows' ``p_value_adjusted`` used ('' when none)."""
    name = next((r.get("adjustment") for r in rows if r.get("adjustment")), "")
    return _ADJUSTMENTS.get(str(name), str(name))


def table(headers: Sequence[str], rows: Iterable[Sequence[str]], caption: str = "") -> str:
    """An HTML table; cells are already-escaped HTML."""
    head = "".join(f"<th>{h}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in r) + "</tr>" for r in rows)
    cap = f"<caption class=\"muted\">{caption}</caption>" if caption else ""
    return f"<table>{cap}<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def box(kind: str, status: str, body: str) -> str:
    """A coloured box (kind: good, bad, warn) with a bold status line."""
    return f"<div class=\"box {kind}\"><div class=\"status\">{status}</div>{body}</div>"


def is_rate(row: Mapping[str, Any]) -> bool:
    """True when the row's metric is shown as a rate (its kind says so in ``display``)."""
    return row.get("display") == "rate"


def effect_fmt(row: Mapping[str, Any], currency: str):
    """(level, difference) formatters for a row, by how its metric is shown (``display``:
    rate, currency, count or number; see :data:`uplift.metrics.base.DISPLAYS`)."""
    if is_rate(row):
        return fmt_pct, fmt_pp
    if (row.get("display") or row.get("unit")) == "currency":
        return (lambda x: fmt_money(x, currency)), (lambda x: ("+" if _ok(x) and x >= 0 else "") + fmt_money(x, currency))
    return fmt_num, (lambda x: ("+" if _ok(x) and x >= 0 else "") + fmt_num(x, 3))


# --------------------------------------------------------------------------- sections


def header(r: Mapping[str, Any]) -> str:
    """Section 1: experiment, hypothesis, unit, dates, data as of, hashes, version."""
    p = r.get("provenance", {})
    rows = [
        ("Experiment", _E(str(p.get("experiment", "")))),
        ("Hypothesis", _E(str(p.get("hypothesis") or "not stated in the spec"))),
        ("Unit of randomisation", _E(str(p.get("unit", "")))),
        ("Campaign dates", _E(f"{p.get('start_date') or '?'} to {p.get('end_date') or '?'}")),
        ("Data complete as of", _E(str(p.get("data_as_of") or "not stated"))),
        ("Units analysed", fmt_num(p.get("units_analysed"))),
        ("Arms", _E(", ".join(f"{a} ({n:,})" for a, n in r.get("arms", {}).items())) + f" &middot; control: <b>{_E(str(r.get('control')))}</b>"),
        ("Toolkit", _E(f"xsell-uplift {r.get('toolkit_version', '')}, Python {p.get('python', '')}")),
    ]
    return "<table class=\"provenance\"><tbody>" + "".join(
        f"<tr><th>{k}</th><td style=\"text-align:left\">{v}</td></tr>" for k, v in rows
    ) + "</tbody></table>"


def trust_status(r: Mapping[str, Any]) -> tuple[str, str]:
    """('good'|'bad'|'warn', text) from the health checks."""
    srm = r.get("srm") or {}
    bal = r.get("balance") or {}
    if srm.get("flagged"):
        return "bad", "Untrustworthy: sample-ratio mismatch"
    if bal.get("flagged"):
        return "warn", "Check: covariate imbalance"
    return "good", "Trustworthy: split healthy"


_VERDICT_CLASS = {"ship": "sig-pos", "do not ship": "sig-neg", "inconclusive": ""}


def decision_box(r: Mapping[str, Any]) -> str:
    """Section 2: the decision per arm in words (results.json ``decision.headline``, first), any
    guardrail on watch in amber, each arm's verdict and reason, the comparison of qualifying arms,
    the pre-registered rule and the trust status."""
    d = r.get("decision") or {}
    kind, status = trust_status(r)
    rule = d.get("rule") or "Ship only if a success metric improved significantly and every guardrail is non-inferior."
    headline = _E(str(d.get("headline") or ""))
    verdict_kind = {"ship": "good", "do not ship": "bad"}.get(str(d.get("verdict")), "warn")
    if not d:
        verdict, vkind = "No decision computed (no success metric or guardrail in the spec).", "warn"
    elif kind == "bad":
        verdict, vkind = "Do not act on these results: the split is unhealthy (see Health).", "bad"
    elif headline:
        verdict, vkind = headline, verdict_kind
    elif d.get("ship"):  # results written before per-arm verdicts
        verdict, vkind = "SHIP: the rule is met.", "good"
    else:
        verdict, vkind = "DO NOT SHIP: the rule is not met.", "bad"
    body = f"<p>{headline}</p>" if kind == "bad" and headline else ""
    for w in d.get("watch") or []:
        body += box("warn", f"Watch: {_E(str(w.get('text')))}",
                    "<p>The guardrail is non-inferior at its margin, but the harm is statistically significant.</p>")
    per_arm = d.get("per_arm") or {}
    if any("verdict" in v for v in per_arm.values()):
        body += table(["Arm", "Verdict", "Reason"], [
            (_E(str(a)), f"<span class=\"{_VERDICT_CLASS.get(str(v.get('verdict')), '')}\">{_E(str(v.get('verdict')))}</span>",
             _left(v.get("reason", ""))) for a, v in per_arm.items()])
    pairwise = d.get("pairwise") or []
    currency = str((r.get("provenance") or {}).get("currency") or "EUR")
    if pairwise:
        body += table(["Metric", "Arm", "versus", "Difference", ci_label(pairwise), "p", "p (Holm)", "Significant"], [
            (_E(str(x.get("metric"))), _E(str(x.get("arm"))), _E(str(x.get("versus"))),
             effect_fmt(x, currency)[1](x.get("abs_effect")), _ci(x.get("abs_ci"), effect_fmt(x, currency)[1]),
             fmt_p(x.get("p_value")), fmt_p(x.get("p_value_adjusted")), "yes" if x.get("significant") else "no")
            for x in pairwise], caption="Qualifying arms compared with each other on the primary metric.")
    body += f"<p>Pre-registered rule: {_E(rule)}</p>"
    body += f"<p>Trust status: <b>{_E(status)}</b></p>"
    return box(vkind, verdict, body)


def health(r: Mapping[str, Any]) -> str:
    """Section 3: SRM (expected vs observed), balance, exclusion waterfall."""
    out = []
    srm = r.get("srm") or {}
    if srm:
        obs, exp = srm.get("observed", {}), srm.get("expected", {})
        rows = [(_E(a), fmt_num(obs.get(a)), fmt_num(exp.get(a), 1), fmt_pct((srm.get("weights") or {}).get(a)))
                for a in obs]
        verdict = "FAILED" if srm.get("flagged") else "passed"
        out.append(
            f"<h3>Sample-ratio mismatch: {verdict}</h3>"
            + table(["Arm", "Observed", "Expected", "Designed weight"], rows)
            + f"<p>Chi-square = {fmt_num(srm.get('chi2'), 3)}, {p_phrase(srm.get('p_value'))} "
            f"(flagged below {srm.get('threshold', 0.001)}).</p>"
        )
        if srm.get("flagged"):
            out.insert(0, box("bad", "Sample-ratio mismatch: the results below are greyed out",
                              "<p>The arms' sizes differ from the design by more than chance allows. "
                              "Find the cause (assignment, logging, exclusions applied after assignment) before reading any effect.</p>"))
    bal = r.get("balance") or {}
    rows_b = bal.get("rows") or []
    if rows_b:
        out.append("<h3>Covariate balance (standardised mean difference vs control)</h3>" + table(
            ["Covariate", "Arm", "Mean arm", "Mean control", "SMD", "Flag"],
            [(_E(str(x.get("covariate"))), _E(str(x.get("arm"))), fmt_num(x.get("mean_arm")), fmt_num(x.get("mean_control")),
              fmt_num(x.get("smd"), 3), "&#9888; above 0.1" if x.get("flagged") else "ok") for x in rows_b]))
    el = r.get("eligibility") or {}
    wf = el.get("waterfall") or []
    if wf:
        out.append("<h3>Eligibility: exclusion waterfall</h3>" + table(
            ["Step", "Excluded", "Missing value", "Remaining"],
            [(_E(str(x.get("step"))), fmt_num(x.get("excluded")),
              "" if "missing" not in x else f"{fmt_num(x.get('missing'))} ({_E(str(x.get('when_missing', 'exclude')))})",
              fmt_num(x.get("remaining"))) for x in wf],
            caption="Rules applied in order; a customer is counted under the first rule that matches. Missing value: "
                    "customers with no value in the rule's column, excluded or kept as the rule's when_missing says."))
    return "".join(out) or "<p>No health checks available.</p>"


def _metric_rows(rows: Sequence[Mapping[str, Any]], currency: str, adjusted: bool) -> list[list[str]]:
    out = []
    for row in rows:
        level, diff = effect_fmt(row, currency)
        lo_hi = row.get("abs_ci") or [None, None]
        sig = ""
        if _ok(lo_hi[0]) and _ok(lo_hi[1]):
            sig = "sig-pos" if lo_hi[0] > 0 else ("sig-neg" if lo_hi[1] < 0 else "")
        cells = [
            _E(str(row.get("metric"))) + (" <sup>*</sup>" if row.get("cuped") else ""),
            _E(str(row.get("arm"))),
            fmt_num(row.get("n_arm")),
            level(row.get("mean_control")),
            level(row.get("mean_arm")),
            f"<span class=\"{sig}\">{diff(row.get('abs_effect'))}</span>",
            _ci(row.get("abs_ci"), diff),
            f"{fmt_pct(row.get('rel_effect'), 1)}",
            _ci(row.get("rel_ci"), lambda x: fmt_pct(x, 1)),
            fmt_p(row.get("p_value")),
        ]
        if adjusted:
            cells.append(fmt_p(row.get("p_value_adjusted")))
        out.append(cells)
    return out


def metric_table(rows: Sequence[Mapping[str, Any]], currency: str = "EUR", adjusted_label: str = "") -> str:
    """Sections 4 and 6: control, treatment, absolute and relative effects with CIs, p-values."""
    if not rows:
        return "<p>No metrics.</p>"
    ci = ci_label(rows)
    headers = ["Metric", "Arm", "n (arm)", "Control", "Arm", "Abs. effect", ci, "Rel. effect", ci, "p"]
    if adjusted_label:
        headers.append(f"p ({_E(adjusted_label)})")
    html_ = table(headers, _metric_rows(rows, currency, bool(adjusted_label)))
    notes = []
    for row in rows:
        un = row.get("unadjusted")
        if row.get("cuped") and un:
            _, diff = effect_fmt(row, currency)
            notes.append(
                f"<sup>*</sup> {_E(str(row.get('metric')))} ({_E(str(row.get('arm')))}): CUPED-adjusted on "
                f"{_E(str(row.get('covariate', 'the pre-period covariate')))}; unadjusted effect {diff(un.get('abs_effect'))} "
                f"{_ci(un.get('abs_ci'), diff)}, {p_phrase(un.get('p_value'))}."
            )
    described = {str(r.get("metric")): str(r.get("description")) for r in rows if r.get("description")}
    notes += [f"{_E(k)}: {_E(v)}" for k, v in described.items()]  # each metric labelled by the spec's description
    methods = sorted({str(r.get("method")) for r in rows if r.get("method")})
    notes += [f"Method: {_E(m)}" for m in methods]
    return html_ + "".join(f"<p class=\"muted\">{n}</p>" for n in notes)


def _guardrail_verdict(status: str) -> str:
    """The guardrail table's verdict cell for a state: failed, watch or passed."""
    if status == "failed":
        return "<span class=\"sig-neg\">failed: NOT shown non-inferior</span>"
    if status == "watch":
        return ("<span style=\"color:var(--warn);font-weight:600\">watch: non-inferior, "
                "but significant harm</span>")
    return "<span class=\"sig-pos\">passed: non-inferior</span>" if status == "passed" else "&mdash;"


def guardrail_table(rows: Sequence[Mapping[str, Any]], currency: str = "EUR") -> str:
    """Section 5: guardrails as non-inferiority tests, each failed, watch (significant harm inside
    the margin) or passed."""
    if not rows:
        return "<p>No guardrails in the spec.</p>"
    out = []
    for g in rows:
        level, diff = effect_fmt(g, currency)
        ok = g.get("non_inferior")
        out.append([
            _E(str(g.get("metric"))), _E(str(g.get("arm"))), level(g.get("mean_control")), level(g.get("mean_arm")),
            diff(g.get("abs_effect")), _ci(g.get("abs_ci"), diff),
            f"{_E(str(g.get('bad_direction', '')))} by &le; {diff(g.get('margin'))}" if g.get("margin") is not None else "&mdash;",
            fmt_p(g.get("p_value_noninferiority")),
            _guardrail_verdict(g.get("status") or ("passed" if ok else "failed" if ok is not None else "")),
        ])
    return table(["Guardrail", "Arm", "Control", "Arm", "Abs. effect", ci_label(rows), "Margin", "p (non-inf.)", "Verdict"], out)


def precision(r: Mapping[str, Any]) -> str:
    """Section 7: MDE at the realised n, power at the target MDE, under-powered vs flat."""
    p = r.get("precision") or {}
    rows = p.get("rows") or []
    if not rows:
        return "<p>Precision not computed.</p>"
    return table(
        ["Metric", "Arm", "n arm / control", "MDE at realised n", "Power at target MDE", "Reading"],
        [(_E(str(x.get("metric"))), _E(str(x.get("arm"))), f"{fmt_num(x.get('n_arm'))} / {fmt_num(x.get('n_control'))}",
          _E(str(x.get("mde_display") or fmt_num(x.get("mde"), 4))), fmt_pct(x.get("power"), 0), _E(str(x.get("reading", ""))))
         for x in rows])


def funnel_table(r: Mapping[str, Any]) -> str:
    """Section 8: rate at each stage per arm, the incremental effect with CI, conditional rates."""
    f = r.get("funnel") or {}
    effects = f.get("effects") or []
    if not effects:
        return "<p>No funnel in the spec.</p>"
    cond = f.get("conditional_rates") or {}
    rows = []
    for x in effects:
        c = (cond.get(x.get("arm")) or {}).get(x.get("stage"))
        c0 = (cond.get(x.get("control")) or {}).get(x.get("stage"))
        rows.append((_E(str(x.get("stage"))), _E(str(x.get("arm"))), fmt_pct(x.get("rate_control")), fmt_pct(x.get("rate_arm")),
                     fmt_pp(x.get("abs_effect")), _ci(x.get("abs_ci"), fmt_pp), fmt_p(x.get("p_value_adjusted")),
                     f"{fmt_pct(c0, 1)} &rarr; {fmt_pct(c, 1)}" if c is not None else "&mdash;"))
    warn = "".join(f"<div class=\"box warn\">&#9888; Stage '{_E(str(x.get('stage')))}' has more customers than '{_E(str(x.get('previous')))}' "
                   f"listed before it (in {_E(', '.join(map(str, x.get('arms') or [])))}): the stages are not nested as listed, "
                   "so that step conversion is not shown.</div>" for x in f.get("not_nested") or [])
    return warn + table(["Stage", "Arm", "Rate control", "Rate arm", "Incremental", ci_label(effects), "p (BH)",
                         "Step conversion (control &rarr; arm)"], rows, caption=_E(str(f.get("conditional_rate_definition", ""))))


def segment_rows(r: Mapping[str, Any]) -> list[dict]:
    """The segment cells of the primary metric, flattened over segment columns."""
    s = r.get("segments") or {}
    out = []
    for column, rows in (s.get("by") or {}).items():
        for x in rows:
            out.append(dict(x, column=column))
    return out


def segments_table(r: Mapping[str, Any], currency: str = "EUR") -> str:
    """Section 9 (table part): per-segment effects of the primary metric; small cells suppressed."""
    s = r.get("segments") or {}
    rows = segment_rows(r)
    if not rows:
        return "<p>No segment breakdown ([analysis] segments in the spec).</p>"
    out = []
    for x in rows:
        label = _E(f"{x.get('column')} = {x.get('segment')}")
        if x.get("suppressed"):
            out.append([label, _E(str(x.get("arm"))), f"suppressed (&lt; {s['min_cell_size']})", "&mdash;", "&mdash;", "&mdash;", "&mdash;"])
            continue
        level, diff = effect_fmt(x, currency)
        out.append([label, _E(str(x.get("arm"))), f"{fmt_num(x.get('n_arm'))} / {fmt_num(x.get('n_control'))}",
                    f"{level(x.get('mean_control'))} &rarr; {level(x.get('mean_arm'))}",
                    diff(x.get("abs_effect")), _ci(x.get("abs_ci"), diff), fmt_p(x.get("p_value_adjusted"))])
    return table(["Segment", "Arm", "n arm / control", "Control &rarr; arm", "Effect", ci_label(rows), "p (BH)"], out,
                 caption=f"{_E(str(s.get('metric', '')))}: cells with fewer than {s['min_cell_size']} units in an arm are suppressed.")


def _left(text: Any) -> str:
    """A prose cell: left-aligned, smaller."""
    return f"<span class=\"muted\" style=\"display:block;text-align:left\">{_E(str(text))}</span>"


def catalogue(r: Mapping[str, Any]) -> str:
    """Section 10 (cross-sell measures): cross-sell rate, attach rate, APC before/after and its change."""
    c = r.get("catalogue") or {}
    rows = []
    effects = [e for block in c.values() if isinstance(block, Mapping) for e in block.get("effects") or []]
    for key, label in (("cross_sell_rate", "Cross-sell rate"), ("attach_rate", "Attach rate")):
        block = c.get(key) or {}
        for e in block.get("effects") or []:
            rows.append([_E(label), _E(str(e.get("arm"))), fmt_pct(e.get("mean_control")), fmt_pct(e.get("mean_arm")),
                         fmt_pp(e.get("abs_effect")), _ci(e.get("abs_ci"), fmt_pp), _left(block.get("definition", ""))])
    apc = c.get("apc") or {}
    for e in apc.get("effects") or []:
        arm, ctl = e.get("arm"), e.get("control")
        before, after = apc.get("before") or {}, apc.get("after") or {}
        rows.append(["Average products per customer", _E(str(arm)),
                     f"{fmt_num(before.get(ctl), 3)} &rarr; {fmt_num(after.get(ctl), 3)}",
                     f"{fmt_num(before.get(arm), 3)} &rarr; {fmt_num(after.get(arm), 3)}",
                     f"{e.get('abs_effect'):+.3f}" if _ok(e.get("abs_effect")) else "&mdash;",
                     _ci(e.get("abs_ci"), lambda x: f"{x:+.3f}"), _left(apc.get("definition", ""))])
    if not rows:
        return ""
    return "<h3>Cross-sell measures</h3>" + table(
        ["Measure", "Arm", "Control", "Arm", "Incremental", ci_label(effects), "Definition"], rows)


def sequential_note(r: Mapping[str, Any]) -> str:
    """Which look this is and the boundary used (or that the test had a single look)."""
    q = r.get("sequential") or {}
    if not q:
        return ""
    if q.get("looks", 1) <= 1:
        return "<p class=\"muted\">Single planned look: the p-values and intervals are the usual fixed-sample ones.</p>"
    return (f"<p class=\"muted\">Planned look {q.get('look')} of {q.get('looks')} ({_E(str(q.get('method', '')))}): "
            f"the primary metric must cross |z| &gt; {fmt_num(q.get('boundary_z'), 3)} at this look "
            f"(nominal alpha {fmt_num(q.get('nominal_alpha_this_look'), 5)}).</p>")


def clv_summary(r: Mapping[str, Any], currency: str = "EUR") -> str:
    """Section 10 (CLV part): CLV per arm; incremental CLV with its interval, its observed and
    extrapolated shares, the first-year value beside it, the lifetime ROI; the margin's definition;
    the influence check."""
    c = r.get("clv") or {}
    if not c:
        return "<p>No CLV section in the spec.</p>"
    money = lambda x: fmt_money(x, currency)  # noqa: E731
    per_arm = c.get("arms") or {}
    rows = []
    for arm, v in per_arm.items():
        rows.append([_E(str(arm)), money(v.get("clv")), fmt_num(v.get("rmst"), 2),
                     _E(str(v.get("model", ""))), fmt_pct(v.get("share_observed"), 0)])
    html_ = table(["Arm", "CLV per customer", "RMST (periods)", "Survival model", "Share of CLV observed"], rows) if rows else ""
    ci_name = ci_label([c])
    tau = max((v.get("observed_periods") or 0 for v in per_arm.values()), default=0)
    horizon = c.get("horizon_periods")
    chosen = (c.get("extrapolation") or {}).get("chosen")
    roi_arms = (r.get("roi") or {}).get("per_arm") or {}
    for arm, inc in (c.get("incremental") or {}).items():
        body = [f"Scaled to the eligible population: {money(inc.get('population'))} "
                f"({ci_name} {_ci(inc.get('population_ci'), money)})."]
        tail = (f"extrapolated beyond them (periods {tau + 1} to {horizon}, {_E(str(chosen))} model)" if chosen
                else "beyond the observed periods (none: no extrapolation)")
        body.append(f"Of the incremental CLV, {money(inc.get('observed_part'))} ({fmt_pct(inc.get('share_observed'), 0)}) "
                    f"comes from the {tau} observed periods and <b>{money(inc.get('extrapolated_part'))} "
                    f"({fmt_pct(inc.get('share_extrapolated'), 0)}) is {tail}</b>.")
        fy = inc.get("first_year") or {}
        if fy:
            line = (f"Value in the first {fy.get('periods')} periods (one year, discounted): {money(fy.get('estimate'))} "
                    f"({ci_name} {_ci(fy.get('ci'), money)}), against {money(inc.get('clv'))} over the "
                    f"{horizon}-period lifetime horizon.")
            profit = (roi_arms.get(arm) or {}).get("incremental_profit") or {}
            if _ok(profit.get("estimate")):
                line += (f" The finance section's 12-month incremental profit (undiscounted, from the [economics] "
                         f"columns) is {money(profit.get('estimate'))} ({ci_name} {_ci(profit.get('ci'), money)}).")
            body.append(line)
        lr = inc.get("lifetime_roi") or {}
        if lr:
            if _ok(lr.get("estimate")):
                body.append(f"<b>Lifetime ROI</b> = (incremental CLV &minus; campaign cost {money(lr.get('campaign_cost'))} "
                            f"per treated customer) / cost = <b>{fmt_pct(lr.get('estimate'), 0)}</b> "
                            f"({ci_name} {_ci(lr.get('ci'), lambda x: fmt_pct(x, 0))}; {_E(str(lr.get('method', '')))}).")
            else:
                body.append(f"Lifetime ROI not computed: {_E(str(lr.get('note', '')))}.")
        lo = (inc.get("ci") or [None])[0]
        html_ += box("good" if _ok(lo) and lo > 0 else "warn",
                     f"Incremental CLV, {_E(str(arm))}: {money(inc.get('clv'))} per customer "
                     f"({ci_name} {_ci(inc.get('ci'), money)})",
                     "".join(f"<p>{x}</p>" for x in body))
    if c.get("margin_definition"):
        html_ += f"<p><b>Margin.</b> {_E(str(c['margin_definition']))}</p>"
    influence = c.get("influence") or {}
    flagged = [x for x in (influence.get("arms") or {}).values() if x.get("flagged")]
    if flagged:
        html_ += box("warn", "One customer moves the incremental CLV",
                     "".join(f"<p>{_E(n)}</p>" for n in influence.get("notes") or []))
    elif influence.get("arms"):
        worst = max(influence["arms"].values(), key=lambda x: abs(x.get("change") or 0))
        html_ += ("<p class=\"muted\">Influence check (one customer removed at a time, in the cells at the longest "
                  "tenures and in those with the largest influence): the incremental CLV moves by at most "
                  f"{money(abs(worst.get('change') or 0))}, less than one standard error ({money(worst.get('se'))}).</p>")
    html_ += "<p class=\"muted\">" + _E(
        f"Discount rate {c.get('annual_discount_rate')} a year, horizon {horizon} periods "
        f"({c.get('periods_per_year')} a year), margin timing: {c.get('margin_timing')}. {c.get('method', '')}"
    ) + "</p>"
    return html_


def methods(r: Mapping[str, Any]) -> str:
    """Section 12: formulas, library versions, the sufficient statistics behind the numbers."""
    p = r.get("provenance", {})
    libs = p.get("libraries", {})
    out = ["<h3>Formulas</h3><ul>",
           ("<li>Absolute effect: mean(arm) &minus; mean(control). Proportions: Wald interval clipped to [&minus;1, 1], "
            "Newcombe's hybrid-score interval instead when an arm has fewer than 5 successes or 5 failures, pooled z-test; "
            "means, ratios (delta method) and CUPED-adjusted metrics: Welch t with Welch-Satterthwaite degrees of freedom "
            "from the variances used (adjusted or linearised).</li>"),
           "<li>Relative effect: (arm &minus; control) / control, interval by the delta method on the ratio of means.</li>",
           "<li>CUPED: Y &minus; &theta;(X &minus; mean X), &theta; = cov(X, Y) / var(X) pooled over arms (Deng et al. 2013).</li>",
           "<li>Multiple testing: Holm across the primary family; Benjamini-Hochberg for secondary metrics and segments.</li>",
           "<li>Sample-ratio mismatch: Pearson chi-square against the designed weights, flagged at p &lt; 0.001.</li>",
           "<li>CLV: &Sigma;<sub>t</sub> m<sub>t</sub> S(t) / (1 + d)<sup>t</sup>, Kaplan-Meier with Greenwood variance; extrapolation by the shifted-beta-geometric model (Fader &amp; Hardie 2007) or Weibull.</li>",
           *timing_methods(r), "</ul>"]
    out.append("<h3>Library versions</h3>" + table(["Library", "Version"], [(_E(k), _E(v)) for k, v in sorted(libs.items())]))
    ss = (r.get("sufficient_statistics") or {}).get("per_arm") or {}
    if ss:
        columns = list(next(iter(ss.values())).get("mean", {}).keys())
        rows = []
        for col in columns:
            for arm, st in ss.items():
                rows.append([_E(col), _E(str(arm)), fmt_num(st.get("n")), fmt_num((st.get("mean") or {}).get(col), 4),
                             fmt_num((st.get("var") or {}).get(col), 4)])
        out.append("<h3>Sufficient statistics the numbers came from</h3>"
                   f"<p class=\"muted\">{_E(str((r.get('sufficient_statistics') or {}).get('description', '')))}. "
                   "Covariances are in results.json.</p>" + table(["Column", "Arm", "n", "Mean", "Variance"], rows))
    return "".join(out)
