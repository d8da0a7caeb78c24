"""HTML fragments of the readout, rendered from the ``results.json`` dict.

The notebook template calls these, so every number on the page is the number in
results.json. Pure functions of plain dicts: no data access, no unit ids.
"""

from __future__ import annotations

import html
from typing import Any, Iterable, Mapping, Sequence

from uplift.readout.methods_timing import timing_methods
from uplift.readout.decision_text import arm_reason, decision_headline, decision_rule, watch_text
from uplift.readout.intervals import interval_text
from uplift.text import SOURCE_LANGUAGE, N_, current_language, localize, t

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
    return "&mdash;" if not _ok(x) else t("{value} pp", ctx="html", value=f"{100 * x:+.{digits}f}")


def fmt_money(x: Any, currency: str = "EUR", digits: int = 2) -> str:
    """An amount with its currency: EUR 1,234.50."""
    if not _ok(x):
        return "&mdash;"
    d = 0 if abs(x) >= 10_000 else digits
    return t("{currency} {amount}", ctx="html", currency=_E(t(currency)), amount=f"{x:,.{d}f}")


def fmt_p(p: Any) -> str:
    """A p-value: < 0.0001 below that, else 4 decimals."""
    if not _ok(p):
        return "&mdash;"
    return "&lt; 0.0001" if p < 1e-4 else f"{p:.4f}"


def p_phrase(p: Any) -> str:
    """'p &lt; 0.0001' or 'p = 0.0123'."""
    text = fmt_p(p)
    return f"p {text}" if text.startswith("&lt;") else f"p = {text}"


def ci_label(items: Iterable[Any], default: float = 0.95) -> str:
    """'95% CI' at the confidence level the results carry: the first ``confidence`` among ``items``
    (result rows or blocks), else ``default``."""
    level = next((x["confidence"] for x in items if isinstance(x, Mapping) and _ok(x.get("confidence"))), default)
    return t("{level}% CI", level=f"{100 * level:g}")


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
        (t("Experiment"), _E(str(p.get("experiment", "")))),
        (t("Hypothesis"), _E(str(p.get("hypothesis") or t("not stated in the spec")))),
        (t("Unit of randomisation"), _E(str(p.get("unit", "")))),
        (t("Campaign dates"), _E(t("{start} to {end}", start=p.get('start_date') or '?', end=p.get('end_date') or '?'))),
        (t("Data complete as of"), _E(str(p.get("data_as_of") or t("not stated")))),
        (t("Units analysed"), fmt_num(p.get("units_analysed"))),
        (t("Arms"), _E(", ".join(f"{a} ({n:,})" for a, n in r.get("arms", {}).items())) + t(" &middot; control: <b>{control}</b>", control=_E(str(r.get('control'))))),
        (t("Toolkit"), _E(f"xsell-uplift {r.get('toolkit_version', '')}, Python {p.get('python', '')}")),
    ]
    return "<table class=\"provenance\"><tbody>" + "".join(
        f"<tr><th>{k}</th><td style=\"text-align:left\">{v}</td></tr>" for k, v in rows
    ) + "</tbody></table>"


def trust_status(r: Mapping[str, Any]) -> tuple[str, str]:
    """('good'|'bad'|'warn', text) from the health checks."""
    srm = r.get("srm") or {}
    bal = r.get("balance") or {}
    if srm.get("flagged"):
        return "bad", t("Untrustworthy: sample-ratio mismatch")
    if bal.get("flagged"):
        return "warn", t("Check: covariate imbalance")
    return "good", t("Trustworthy: split healthy")


_VERDICT_CLASS = {"ship": "sig-pos", "do not ship": "sig-neg", "inconclusive": ""}


def decision_box(r: Mapping[str, Any]) -> str:
    """Section 2: the decision per arm in words (results.json ``decision.headline``, first), any
    guardrail on watch in amber, each arm's verdict and reason, the comparison of qualifying arms,
    the pre-registered rule and the trust status."""
    d = r.get("decision") or {}
    kind, status = trust_status(r)
    rule = decision_rule(r) or t("Ship only if a success metric improved significantly and every guardrail is non-inferior.")
    headline = _E(decision_headline(r))
    verdict_kind = {"ship": "good", "do not ship": "bad"}.get(str(d.get("verdict")), "warn")
    if not d:
        verdict, vkind = t("No decision computed (no success metric or guardrail in the spec)."), "warn"
    elif kind == "bad":
        verdict, vkind = t("Do not act on these results: the split is unhealthy (see Health)."), "bad"
    elif headline:
        verdict, vkind = headline, verdict_kind
    elif d.get("ship"):  # results written before per-arm verdicts
        verdict, vkind = t("SHIP: the rule is met."), "good"
    else:
        verdict, vkind = t("DO NOT SHIP: the rule is not met."), "bad"
    body = f"<p>{headline}</p>" if kind == "bad" and headline else ""
    for w in d.get("watch") or []:
        body += box("warn", t("Watch: {text}", text=_E(watch_text(r, w))),
                    t("<p>The guardrail is non-inferior at its margin, but the harm is statistically significant.</p>"))
    per_arm = d.get("per_arm") or {}
    if any("verdict" in v for v in per_arm.values()):
        body += table([t("Arm"), t("Verdict"), t("Reason")], [
            (_E(str(a)), f"<span class=\"{_VERDICT_CLASS.get(str(v.get('verdict')), '')}\">{_E(t(str(v.get('verdict'))))}</span>",
             _left(arm_reason(r, a))) for a, v in per_arm.items()])
    pairwise = d.get("pairwise") or []
    currency = str((r.get("provenance") or {}).get("currency") or "EUR")
    if pairwise:
        body += table([t("Metric"), t("Arm"), t("versus"), t("Difference"), ci_label(pairwise), "p", t("p (Holm)"), t("Significant")], [
            (_E(str(x.get("metric"))), _E(str(x.get("arm"))), _E(str(x.get("versus"))),
             effect_fmt(x, currency)[1](x.get("abs_effect")), interval_text(x.get("abs_ci"), effect_fmt(x, currency)[1]),
             fmt_p(x.get("p_value")), fmt_p(x.get("p_value_adjusted")), t("yes") if x.get("significant") else t("no"))
            for x in pairwise], caption=t("Qualifying arms compared with each other on the primary metric."))
    body += t("<p>Pre-registered rule: {rule}</p>", rule=_E(rule))
    body += t("<p>Trust status: <b>{status}</b></p>", status=_E(status))
    return box(vkind, verdict, body)


def health(r: Mapping[str, Any]) -> str:
    """Section 3: SRM (expected vs observed), balance, exclusion waterfall."""
    out = []
    srm = r.get("srm") or {}
    if srm:
        obs, exp = srm.get("observed", {}), srm.get("expected", {})
        rows = [(_E(a), fmt_num(obs.get(a)), fmt_num(exp.get(a), 1), fmt_pct((srm.get("weights") or {}).get(a)))
                for a in obs]
        verdict = t("FAILED") if srm.get("flagged") else t("passed")
        out.append(
            t("<h3>Sample-ratio mismatch: {verdict}</h3>", verdict=verdict)
            + table([t("Arm"), t("Observed"), t("Expected"), t("Designed weight")], rows)
            + t("<p>Chi-square = {chi2}, {p} (flagged below {threshold}).</p>", chi2=fmt_num(srm.get('chi2'), 3),
                p=p_phrase(srm.get('p_value')), threshold=srm.get('threshold', 0.001))
        )
        if srm.get("flagged"):
            out.insert(0, box("bad", t("Sample-ratio mismatch: the results below are greyed out"),
                              t("<p>The arms' sizes differ from the design by more than chance allows. "
                                "Find the cause (assignment, logging, exclusions applied after assignment) before reading any effect.</p>")))
    bal = r.get("balance") or {}
    rows_b = bal.get("rows") or []
    if rows_b:
        out.append(t("<h3>Covariate balance (standardised mean difference vs control)</h3>") + table(
            [t("Covariate"), t("Arm"), t("Mean arm"), t("Mean control"), "SMD", t("Flag")],
            [(_E(str(x.get("covariate"))), _E(str(x.get("arm"))), fmt_num(x.get("mean_arm")), fmt_num(x.get("mean_control")),
              fmt_num(x.get("smd"), 3), t("&#9888; above 0.1") if x.get("flagged") else t("ok")) for x in rows_b]))
    el = r.get("eligibility") or {}
    wf = el.get("waterfall") or []
    if wf:
        out.append(t("<h3>Eligibility: exclusion waterfall</h3>") + table(
            [t("Step"), t("Excluded"), t("Missing value"), t("Remaining")],
            [(_E(str(x.get("step"))), fmt_num(x.get("excluded")),
              "" if "missing" not in x else f"{fmt_num(x.get('missing'))} ({_E(t(str(x.get('when_missing', 'exclude'))))})",
              fmt_num(x.get("remaining"))) for x in wf],
            caption=t("Rules applied in order; a customer is counted under the first rule that matches. Missing value: "
                      "customers with no value in the rule's column, excluded or kept as the rule's when_missing says.")))
    return "".join(out) or t("<p>No health checks available.</p>")


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
            interval_text(row.get("abs_ci"), diff),
            f"{fmt_pct(row.get('rel_effect'), 1)}",
            interval_text(row.get("rel_ci"), lambda x: fmt_pct(x, 1)),
            fmt_p(row.get("p_value")),
        ]
        if adjusted:
            cells.append(fmt_p(row.get("p_value_adjusted")))
        out.append(cells)
    return out


def metric_table(rows: Sequence[Mapping[str, Any]], currency: str = "EUR", adjusted_label: str = "") -> str:
    """Sections 4 and 6: control, treatment, absolute and relative effects with CIs, p-values."""
    if not rows:
        return t("<p>No metrics.</p>")
    ci = ci_label(rows)
    headers = [t("Metric"), t("Arm"), t("n (arm)"), t("Control"), t("Arm", ctx="mean"), t("Abs. effect"), ci, t("Rel. effect"), ci, "p"]
    if adjusted_label:
        headers.append(f"p ({_E(adjusted_label)})")
    html_ = table(headers, _metric_rows(rows, currency, bool(adjusted_label)))
    notes = []
    for row in rows:
        un = row.get("unadjusted")
        if row.get("cuped") and un:
            _, diff = effect_fmt(row, currency)
            notes.append(t(
                "<sup>*</sup> {metric} ({arm}): CUPED-adjusted on {covariate}; unadjusted effect {effect} {ci}, {p}.",
                metric=_E(str(row.get('metric'))), arm=_E(str(row.get('arm'))),
                covariate=_E(str(row.get('covariate', t('the pre-period covariate')))), effect=diff(un.get('abs_effect')),
                ci=interval_text(un.get('abs_ci'), diff), p=p_phrase(un.get('p_value'))))
    described = {str(r.get("metric")): str(r.get("description")) for r in rows if r.get("description")}
    notes += [f"{_E(k)}: {_E(v)}" for k, v in described.items()]  # each metric labelled by the spec's description
    methods = {str(r["method"]): r["method"] for r in rows if r.get("method")}  # one line per method, in English order
    notes += [t("Method: {method}", method=_E(localize(methods[m]))) for m in sorted(methods)]
    return html_ + "".join(f"<p class=\"muted\">{n}</p>" for n in notes)


def _guardrail_verdict(status: str) -> str:
    """The guardrail table's verdict cell for a state: failed, watch or passed."""
    if status == "failed":
        return t("<span class=\"sig-neg\">failed: NOT shown non-inferior</span>")
    if status == "watch":
        return t("<span style=\"color:var(--warn);font-weight:600\">watch: non-inferior, but significant harm</span>")
    return t("<span class=\"sig-pos\">passed: non-inferior</span>") if status == "passed" else "&mdash;"


def guardrail_table(rows: Sequence[Mapping[str, Any]], currency: str = "EUR") -> str:
    """Section 5: guardrails as non-inferiority tests, each failed, watch (significant harm inside
    the margin) or passed."""
    if not rows:
        return t("<p>No guardrails in the spec.</p>")
    out = []
    for g in rows:
        level, diff = effect_fmt(g, currency)
        ok = g.get("non_inferior")
        out.append([
            _E(str(g.get("metric"))), _E(str(g.get("arm"))), level(g.get("mean_control")), level(g.get("mean_arm")),
            diff(g.get("abs_effect")), interval_text(g.get("abs_ci"), diff),
            t("{direction} by &le; {margin}", direction=_E(t(str(g.get('bad_direction', '')))), margin=diff(g.get('margin')))
            if g.get("margin") is not None else "&mdash;",
            fmt_p(g.get("p_value_noninferiority")),
            _guardrail_verdict(g.get("status") or ("passed" if ok else "failed" if ok is not None else "")),
        ])
    return table([t("Guardrail"), t("Arm"), t("Control"), t("Arm", ctx="mean"), t("Abs. effect"), ci_label(rows), t("Margin"),
                  t("p (non-inf.)"), t("Verdict")], out)


def precision(r: Mapping[str, Any]) -> str:
    """Section 7: MDE at the realised n, power at the target MDE, under-powered vs flat."""
    p = r.get("precision") or {}
    rows = p.get("rows") or []
    if not rows:
        return t("<p>Precision not computed.</p>")
    return table(
        [t("Metric"), t("Arm"), t("n arm / control"), t("MDE at realised n"), t("Power at target MDE"), t("Reading")],
        [(_E(str(x.get("metric"))), _E(str(x.get("arm"))), f"{fmt_num(x.get('n_arm'))} / {fmt_num(x.get('n_control'))}",
          _E(str(x.get("mde_display") or fmt_num(x.get("mde"), 4))), fmt_pct(x.get("power"), 0), _E(t(str(x.get("reading", "")))))
         for x in rows])


def funnel_table(r: Mapping[str, Any]) -> str:
    """Section 8: rate at each stage per arm, the incremental effect with CI, conditional rates."""
    f = r.get("funnel") or {}
    effects = f.get("effects") or []
    if not effects:
        return t("<p>No funnel in the spec.</p>")
    cond = f.get("conditional_rates") or {}
    rows = []
    for x in effects:
        c = (cond.get(x.get("arm")) or {}).get(x.get("stage"))
        c0 = (cond.get(x.get("control")) or {}).get(x.get("stage"))
        rows.append((_E(str(x.get("stage"))), _E(str(x.get("arm"))), fmt_pct(x.get("rate_control")), fmt_pct(x.get("rate_arm")),
                     fmt_pp(x.get("abs_effect")), interval_text(x.get("abs_ci"), fmt_pp), fmt_p(x.get("p_value_adjusted")),
                     f"{fmt_pct(c0, 1)} &rarr; {fmt_pct(c, 1)}" if c is not None else "&mdash;"))
    warn = "".join("<div class=\"box warn\">" + t(
        "&#9888; Stage '{stage}' has more customers than '{previous}' listed before it (in {arms}): the stages are not "
        "nested as listed, so that step conversion is not shown.", stage=_E(str(x.get('stage'))),
        previous=_E(str(x.get('previous'))), arms=_E(', '.join(map(str, x.get('arms') or [])))) + "</div>"
        for x in f.get("not_nested") or [])
    return warn + table([t("Stage"), t("Arm"), t("Rate control"), t("Rate arm"), t("Incremental"), ci_label(effects), t("p (BH)"),
                         t("Step conversion (control &rarr; arm)")], rows, caption=_E(t(str(f.get("conditional_rate_definition", "")))))


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
        return t("<p>No segment breakdown ([analysis] segments in the spec).</p>")
    out = []
    for x in rows:
        label = _E(f"{x.get('column')} = {x.get('segment')}")
        if x.get("suppressed"):
            out.append([label, _E(str(x.get("arm"))), t("suppressed (&lt; {n})", n=s['min_cell_size']), "&mdash;", "&mdash;", "&mdash;", "&mdash;"])
            continue
        level, diff = effect_fmt(x, currency)
        out.append([label, _E(str(x.get("arm"))), f"{fmt_num(x.get('n_arm'))} / {fmt_num(x.get('n_control'))}",
                    f"{level(x.get('mean_control'))} &rarr; {level(x.get('mean_arm'))}",
                    diff(x.get("abs_effect")), interval_text(x.get("abs_ci"), diff), fmt_p(x.get("p_value_adjusted"))])
    return table([t("Segment"), t("Arm"), t("n arm / control"), t("Control &rarr; arm"), t("Effect"), ci_label(rows), t("p (BH)")], out,
                 caption=t("{metric}: cells with fewer than {n} units in an arm are suppressed.",
                           metric=_E(str(s.get('metric', ''))), n=s['min_cell_size']))


def _left(text: Any) -> str:
    """A prose cell: left-aligned, smaller."""
    return f"<span class=\"muted\" style=\"display:block;text-align:left\">{_E(str(text))}</span>"


def catalogue(r: Mapping[str, Any]) -> str:
    """Section 10 (cross-sell measures): cross-sell rate, attach rate, APC before/after and its change."""
    c = r.get("catalogue") or {}
    rows = []
    effects = [e for block in c.values() if isinstance(block, Mapping) for e in block.get("effects") or []]
    for key, label in (("cross_sell_rate", t("Cross-sell rate")), ("attach_rate", t("Attach rate"))):
        block = c.get(key) or {}
        for e in block.get("effects") or []:
            rows.append([_E(label), _E(str(e.get("arm"))), fmt_pct(e.get("mean_control")), fmt_pct(e.get("mean_arm")),
                         fmt_pp(e.get("abs_effect")), interval_text(e.get("abs_ci"), fmt_pp), _left(_definition(key, block))])
    apc = c.get("apc") or {}
    for e in apc.get("effects") or []:
        arm, ctl = e.get("arm"), e.get("control")
        before, after = apc.get("before") or {}, apc.get("after") or {}
        rows.append([t("Average products per customer"), _E(str(arm)),
                     f"{fmt_num(before.get(ctl), 3)} &rarr; {fmt_num(after.get(ctl), 3)}",
                     f"{fmt_num(before.get(arm), 3)} &rarr; {fmt_num(after.get(arm), 3)}",
                     f"{e.get('abs_effect'):+.3f}" if _ok(e.get("abs_effect")) else "&mdash;",
                     interval_text(e.get("abs_ci"), lambda x: f"{x:+.3f}"), _left(_definition("apc", apc))])
    if not rows:
        return ""
    return t("<h3>Cross-sell measures</h3>") + table(
        [t("Measure"), t("Arm"), t("Control"), t("Arm", ctx="mean"), t("Incremental"), ci_label(effects), t("Definition")], rows)


_DEFINITIONS = {  # a measure's definition without the spec's product names, for a page not in English
    "cross_sell_rate": N_("share of eligible customers (all holding the primary product) who bought at least one more "
                          "product (the offered product)"),
    "attach_rate": N_("share holding both the primary product and the offered product; every analysed customer holds "
                      "the primary product ([experiment] primary_product) and none held the offered one, so it equals "
                      "the share who took the offered product"),
    "apc": N_("average products per customer; incremental change = CUPED difference in APC after, with APC before as covariate"),
}


def _definition(key: str, block: Mapping[str, Any]) -> str:
    """The measure's definition: results.json's in English (with the products' names), else translated."""
    return str(block.get("definition", "")) if current_language() == SOURCE_LANGUAGE else t(_DEFINITIONS[key])


def sequential_note(r: Mapping[str, Any]) -> str:
    """Which look this is and the boundary used (or that the test had a single look)."""
    q = r.get("sequential") or {}
    if not q:
        return ""
    if q.get("looks", 1) <= 1:
        return t("<p class=\"muted\">Single planned look: the p-values and intervals are the usual fixed-sample ones.</p>")
    return t("<p class=\"muted\">Planned look {look} of {looks} ({method}): the primary metric must cross |z| &gt; {z} at "
             "this look (nominal alpha {alpha}).</p>", look=q.get('look'), looks=q.get('looks'),
             method=_E(localize(q.get('method', ''))), z=fmt_num(q.get('boundary_z'), 3),
             alpha=fmt_num(q.get('nominal_alpha_this_look'), 5))


def clv_summary(r: Mapping[str, Any], currency: str = "EUR") -> str:
    """Section 10 (CLV part): CLV per arm; incremental CLV with its interval, its observed and
    extrapolated shares, the first-year value beside it, the lifetime ROI; the margin's definition;
    the influence check."""
    c = r.get("clv") or {}
    if not c:
        return t("<p>No CLV section in the spec.</p>")
    money = lambda x: fmt_money(x, currency)  # noqa: E731
    per_arm = c.get("arms") or {}
    rows = []
    for arm, v in per_arm.items():
        rows.append([_E(str(arm)), money(v.get("clv")), fmt_num(v.get("rmst"), 2),
                     _E(str(v.get("model", ""))), fmt_pct(v.get("share_observed"), 0)])
    html_ = table([t("Arm"), t("CLV per customer"), t("RMST (periods)"), t("Survival model"), t("Share of CLV observed")], rows) if rows else ""
    ci_name = ci_label([c])
    tau = max((v.get("observed_periods") or 0 for v in per_arm.values()), default=0)
    horizon = c.get("horizon_periods")
    chosen = (c.get("extrapolation") or {}).get("chosen")
    roi_arms = (r.get("roi") or {}).get("per_arm") or {}
    for arm, inc in (c.get("incremental") or {}).items():
        body = [t("Scaled to the eligible population: {value} ({ci_name} {ci}).", value=money(inc.get('population')),
                  ci_name=ci_name, ci=interval_text(inc.get('population_ci'), money))]
        tail = (t("extrapolated beyond them (periods {first} to {horizon}, {model} model)", first=tau + 1, horizon=horizon,
                  model=_E(str(chosen))) if chosen else t("beyond the observed periods (none: no extrapolation)"))
        body.append(t("Of the incremental CLV, {observed} ({share_observed}) comes from the {tau} observed periods and "
                      "<b>{extrapolated} ({share_extrapolated}) is {tail}</b>.", observed=money(inc.get('observed_part')),
                      share_observed=fmt_pct(inc.get('share_observed'), 0), tau=tau,
                      extrapolated=money(inc.get('extrapolated_part')),
                      share_extrapolated=fmt_pct(inc.get('share_extrapolated'), 0), tail=tail))
        fy = inc.get("first_year") or {}
        if fy:
            line = t("Value in the first {periods} periods (one year, discounted): {value} ({ci_name} {ci}), against {clv} "
                     "over the {horizon}-period lifetime horizon.", periods=fy.get('periods'), value=money(fy.get('estimate')),
                     ci_name=ci_name, ci=interval_text(fy.get('ci'), money), clv=money(inc.get('clv')), horizon=horizon)
            profit = (roi_arms.get(arm) or {}).get("incremental_profit") or {}
            if _ok(profit.get("estimate")):
                line += t(" The finance section's 12-month incremental profit (undiscounted, from the [economics] columns) "
                          "is {value} ({ci_name} {ci}).", value=money(profit.get('estimate')), ci_name=ci_name,
                          ci=interval_text(profit.get('ci'), money))
            body.append(line)
        lr = inc.get("lifetime_roi") or {}
        if lr:
            if _ok(lr.get("estimate")):
                body.append(t("<b>Lifetime ROI</b> = (incremental CLV &minus; campaign cost {cost} per treated customer) / "
                              "cost = <b>{roi}</b> ({ci_name} {ci}; {method}).", cost=money(lr.get('campaign_cost')),
                              roi=fmt_pct(lr.get('estimate'), 0), ci_name=ci_name,
                              ci=interval_text(lr.get('ci'), lambda x: fmt_pct(x, 0)), method=_E(localize(lr.get('method', '')))))
            else:
                body.append(t("Lifetime ROI not computed: {note}.", note=_E(localize(lr.get('note', '')))))
        lo = (inc.get("ci") or [None])[0]
        html_ += box("good" if _ok(lo) and lo > 0 else "warn",
                     t("Incremental CLV, {arm}: {value} per customer ({ci_name} {ci})", arm=_E(str(arm)),
                       value=money(inc.get('clv')), ci_name=ci_name, ci=interval_text(inc.get('ci'), money)),
                     "".join(f"<p>{x}</p>" for x in body))
    if c.get("margin_definition"):
        html_ += t("<p><b>Margin.</b> {text}</p>", text=_E(localize(c['margin_definition'])))
    influence = c.get("influence") or {}
    flagged = [x for x in (influence.get("arms") or {}).values() if x.get("flagged")]
    if flagged:
        html_ += box("warn", t("One customer moves the incremental CLV"),
                     "".join(f"<p>{_E(localize(n))}</p>" for n in influence.get("notes") or []))
    elif influence.get("arms"):
        worst = max(influence["arms"].values(), key=lambda x: abs(x.get("change") or 0))
        html_ += t("<p class=\"muted\">Influence check (one customer removed at a time, in the cells at the longest "
                   "tenures and in those with the largest influence): the incremental CLV moves by at most {change}, less "
                   "than one standard error ({se}).</p>", change=money(abs(worst.get('change') or 0)), se=money(worst.get('se')))
    html_ += "<p class=\"muted\">" + _E(t(
        "Discount rate {rate} a year, horizon {horizon} periods ({per_year} a year), margin timing: {timing}. {method}",
        rate=c.get('annual_discount_rate'), horizon=horizon, per_year=c.get('periods_per_year'),
        timing=c.get('margin_timing'), method=localize(c.get('method', '')))) + "</p>"
    return html_


def methods(r: Mapping[str, Any]) -> str:
    """Section 12: formulas, library versions, the sufficient statistics behind the numbers."""
    p = r.get("provenance", {})
    libs = p.get("libraries", {})
    out = [t("<h3>Formulas</h3>") + "<ul>",
           t("<li>Absolute effect: mean(arm) &minus; mean(control). Proportions: Wald interval clipped to [&minus;1, 1], "
            "Newcombe's hybrid-score interval instead when an arm has fewer than 5 successes or 5 failures, pooled z-test; "
            "means, ratios (delta method) and CUPED-adjusted metrics: Welch t with Welch-Satterthwaite degrees of freedom "
            "from the variances used (adjusted or linearised).</li>"),
           t("<li>Relative effect: (arm &minus; control) / control, interval by the delta method on the ratio of means.</li>"),
           t("<li>CUPED: Y &minus; &theta;(X &minus; mean X), &theta; = cov(X, Y) / var(X) pooled over arms (Deng et al. 2013).</li>"),
           t("<li>Multiple testing: Holm across the primary family; Benjamini-Hochberg for secondary metrics and segments.</li>"),
           t("<li>Sample-ratio mismatch: Pearson chi-square against the designed weights, flagged at p &lt; 0.001.</li>"),
           t("<li>CLV: &Sigma;<sub>t</sub> m<sub>t</sub> S(t) / (1 + d)<sup>t</sup>, Kaplan-Meier with Greenwood variance; extrapolation by the shifted-beta-geometric model (Fader &amp; Hardie 2007) or Weibull.</li>"),
           *timing_methods(r), "</ul>"]
    out.append(t("<h3>Library versions</h3>") + table([t("Library"), t("Version")], [(_E(k), _E(v)) for k, v in sorted(libs.items())]))
    ss = (r.get("sufficient_statistics") or {}).get("per_arm") or {}
    if ss:
        columns = list(next(iter(ss.values())).get("mean", {}).keys())
        rows = []
        for col in columns:
            for arm, st in ss.items():
                rows.append([_E(col), _E(str(arm)), fmt_num(st.get("n")), fmt_num((st.get("mean") or {}).get(col), 4),
                             fmt_num((st.get("var") or {}).get(col), 4)])
        out.append(t("<h3>Sufficient statistics the numbers came from</h3>")
                   + t("<p class=\"muted\">{description}. Covariances are in results.json.</p>",
                       description=_E(localize((r.get('sufficient_statistics') or {}).get('description', ''))))
                   + table([t("Column"), t("Arm"), "n", t("Mean"), t("Variance")], rows))
    return "".join(out)
