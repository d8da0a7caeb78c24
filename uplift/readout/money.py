"""HTML fragments of the readout's money: finance (section 10) and targeting (section 11).

Rendered from the ``results.json`` dict, like :mod:`uplift.readout.report`: every number on the
page is the number in results.json, with the estimator it uses printed beside it (finance's
CUPED adjustment and its unadjusted figures; targeting's list total, contacting everyone, the
held-out check and the value of a conversion, all from the one valuation of
:mod:`uplift.metrics.valuation`). Pure functions of plain dicts.
"""

from __future__ import annotations

import html
from typing import Any, Mapping

from uplift.readout.report import ci_label, fmt_money, fmt_num, fmt_pct, table
from uplift.readout.intervals import interval_text
from uplift.text import localize, t
from uplift.text import t as tr  # targeting() names its block t

__all__ = ["finance", "targeting", "bayes_table"]

_E = html.escape


def _ok(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool)


def _est(block: Any) -> tuple[Any, Any]:
    if isinstance(block, Mapping):
        return block.get("estimate"), block.get("ci")
    return block, None


def finance(r: Mapping[str, Any], currency: str = "EUR") -> str:
    """Section 10: incremental conversions, revenue, profit, cost, ROI with CI, scaled to the eligible
    population; the estimator beside the figures (CUPED-adjusted, with the unadjusted figures in a footnote)."""
    roi = r.get("roi") or {}
    per_arm = roi.get("per_arm") or {}
    if not per_arm:
        return t("<p>No economics in the spec.</p>")
    def money(x: Any) -> str:
        return fmt_money(x, currency)

    def pct0(x: Any) -> str:
        return fmt_pct(x, 0)

    ci_name = ci_label([roi, *(r.get("metrics") or [])])  # ROI intervals: the analysis' confidence level
    adj = roi.get("adjustment") or {}
    cov = adj.get("covariate")
    mark = "*" if cov else ""
    out = []
    for arm, a in per_arm.items():
        scaled = a.get("scaled") or {}
        items = [
            (t("Incremental conversions, eligible population"), scaled.get("incremental_conversions"), fmt_num, ""),
            (t("Incremental revenue per treated customer"), a.get("incremental_revenue"), money, mark),
            (t("Incremental profit per treated customer (net of cannibalised margin and cost to serve)"), a.get("incremental_profit"), money, mark),
            (t("Campaign cost per treated customer (contact + incentive)"), a.get("campaign_cost"), money, ""),
            (t("Incremental ROI = (incremental profit - cost) / cost"), a.get("roi"), pct0, mark),
            (t("Cost per incremental conversion"), a.get("cost_per_incremental_conversion"), money, ""),
            (t("Value of a conversion = incremental profit / incremental conversion rate (targeting uses it)"),
             a.get("value_per_incremental_conversion"), money, mark),
            (t("Net incremental profit, eligible population"), scaled.get("net_incremental_profit"), money, mark),
        ]
        cards = []
        for label, block, f, m in items:
            if block is None:
                continue
            est, ci = _est(block)
            cards.append(f"<div class=\"kpi\"><div class=\"v\">{f(est)}{m}</div><div class=\"l\">{_E(label)}<br>{ci_name} {interval_text(ci, f)}</div></div>")
        out.append(t("<h3>{arm} vs {control}</h3>", arm=_E(str(arm)), control=_E(str(r.get('control'))))
                   + "<div class=\"kpis\">" + "".join(cards) + "</div>")
        out.append(bayes_table(a, money, ci_name))
        un = a.get("unadjusted") or {}
        if cov and un:
            parts = [(t("revenue"), (un.get("incremental_revenue") or {}).get("estimate"), money),
                     (t("profit"), (un.get("incremental_profit") or {}).get("estimate"), money),
                     ("ROI", (un.get("roi") or {}).get("estimate"), pct0),
                     (t("value of a conversion"), (un.get("value_per_incremental_conversion") or {}).get("estimate"), money),
                     (t("net incremental profit, eligible population"),
                      ((un.get("scaled") or {}).get("net_incremental_profit") or {}).get("estimate"), money)]
            out.append("<p class=\"muted\">" + t(
                "* CUPED-adjusted with {covariate} (as the metrics table; each of margin, cannibalised margin and cost to "
                "serve by its own pooled within-arm theta, delta-method intervals with the covariances of the adjusted "
                "columns); unadjusted difference in means: ", covariate=_E(str(cov)))
                + "; ".join(f"{n} {f(v)}" for n, v, f in parts if _ok(v)) + t(".") + "</p>")
        elif a.get("estimator"):
            out.append(t("<p class=\"muted\">Estimator: {estimator}.</p>", estimator=_E(localize(a['estimator']))))
    facts = [t("Contact cost {contact} per treated customer; incentive {incentive} per conversion; eligible population {n}.",
               contact=fmt_money(roi.get('contact_cost'), currency), incentive=fmt_money(roi.get('incentive_cost'), currency),
               n=fmt_num(roi.get('eligible_population')))]
    cols = roi.get("columns") or {}
    if cols:
        facts.append(t("Columns: ") + ", ".join(f"{k} = {v}" for k, v in cols.items() if v) + t("."))
    # the costs line is HTML already (amounts formatted by fmt_money); column names and assumptions are text
    items = [facts[0], *(_E(localize(x)) for x in [*facts[1:], *(roi.get("assumptions") or [])])]
    out.append(t("<h3>Assumptions</h3>") + "<ul>" + "".join(f"<li>{x}</li>" for x in items) + "</ul>")
    return "".join(out)


def bayes_table(a: Mapping[str, Any], money: Any, ci_name: str) -> str:
    """The Bayesian view of one arm's profit beside the frequentist interval (results.json
    ``roi.per_arm.<arm>.bayes``): posterior mean and credible interval, P(profit > 0), the expected
    loss of shipping and of not shipping, per treated customer and for the eligible population; the prior below."""
    b = a.get("bayes") or {}
    per, scaled = b.get("per_treated_customer") or {}, b.get("scaled") or {}
    lines = [(t("Net incremental profit per treated customer (after campaign cost)"), a.get("net_incremental_profit"),
              per.get("net_incremental_profit")),
             (t("Net incremental profit, eligible population"), (a.get("scaled") or {}).get("net_incremental_profit"),
              scaled.get("net_incremental_profit")),
             (t("Incremental profit per treated customer (before campaign cost)"), a.get("incremental_profit"),
              per.get("incremental_profit"))]
    rows = []
    cred = t("credible interval")
    for label, freq, post in lines:
        if not post:
            continue
        est, ci = _est(freq)
        level = post.get("credible_level")
        posterior = f"{money(post.get('posterior_mean'))} {interval_text(post.get('credible_interval'), money)}"
        rows.append([_E(label), f"{money(est)} {interval_text(ci, money)}", posterior, f"<b>{fmt_pct(post.get('prob_positive'), 1)}</b>",
                     money(post.get("expected_loss_ship")), money(post.get("expected_loss_not_ship"))])
        cred = t("{level} credible interval", level=fmt_pct(level, 0)) if _ok(level) else cred
    if not rows:
        return ""
    prior = (per.get("net_incremental_profit") or next(iter(per.values())) or {}).get("prior") or {}
    return (table([t("Figure"), t("Estimate, {ci}", ci=ci_name), t("Posterior mean, {cred}", cred=cred), t("P(profit &gt; 0)"),
                   t("Expected loss if shipped"), t("Expected loss if not shipped")], rows)
            + "<p class=\"muted\">" + t(
                "Bayesian view (normal approximation on the estimate and standard error above): prior {prior}, applied per "
                "treated customer and scaled by the eligible population. Expected loss if shipped = E[max(-profit, 0)], "
                "the average amount lost by shipping when the campaign loses money; if not shipped = E[max(profit, 0)], "
                "the profit forgone.", prior=_E(localize(prior.get('source', '')))) + "</p>")


def targeting(r: Mapping[str, Any], currency: str = "EUR") -> str:
    """Section 11: model, Qini with CI, best depth, expected incremental profit (the sum of the next-wave
    list's selected rows), contacting everyone, the held-out check and the value of a conversion, each
    with the estimator it uses."""
    t = r.get("targeting") or {}
    if not t:
        return tr("<p>Targeting not run (needs a [targeting] section and the population).</p>")

    def money(x: Any) -> str:
        return fmt_money(x, currency)

    rows = [(_E(str(m.get("model"))), fmt_num(m.get("qini"), 4), interval_text(m.get("qini_ci"), lambda x: fmt_num(x, 4)))
            for m in t.get("models", [])]
    ci_name = ci_label([t, t.get("auuc") or {}, t.get("random_score_qini") or {}])  # the bootstrap's level
    out = table([tr("Model"), tr("Qini coefficient (held out)"), ci_name], rows) if rows else ""
    out += tr("<p>Chosen model: <b>{model}</b>. Best targeting depth: <b>{depth}</b> of eligible customers ({n}); expected "
              "incremental profit {profit} ({ci_name} {ci}).</p>", model=_E(str(t.get('model'))),
              depth=fmt_pct(t.get('best_depth'), 0), n=fmt_num(t.get('n_targeted')),
              profit=money(t.get('expected_incremental_profit')), ci_name=ci_name,
              ci=interval_text(t.get('expected_incremental_profit_ci'), money))
    items = [(tr("Expected incremental profit"), t.get("expected_incremental_profit_method"))]
    everyone = t.get("contact_everyone") or {}
    if everyone:
        out += tr("<p>Contacting every eligible customer ({n}): {estimate} ({ci_name} {ci}), {per} per customer.</p>",
                  n=fmt_num(everyone.get('customers')), estimate=money(everyone.get('estimate')), ci_name=ci_name,
                  ci=interval_text(everyone.get('ci'), money), per=money(everyone.get('per_customer')))
        items.append((tr("Contact everyone"), everyone.get("method")))
    check = t.get("held_out_check") or {}
    if check and check.get("estimate") != t.get("expected_incremental_profit"):
        out += tr("<p class=\"muted\">Held-out check at the best depth: {estimate} ({ci_name} {ci}).</p>",
                  estimate=money(check.get('estimate')), ci_name=ci_name, ci=interval_text(check.get('ci'), money))
        items.append((tr("Held-out check"), check.get("method")))
    a = t.get("assumptions") or {}
    if _ok(a.get("value_per_conversion")):
        out += tr("<p>Value of a conversion: {value} ({ci_name} {ci}).</p>", value=money(a.get('value_per_conversion')),
                  ci_name=ci_name, ci=interval_text(a.get('value_per_conversion_ci'), money))
        items.append((tr("Value of a conversion"), a.get("value_source")))
    out += _explanations(t.get("explanations") or {})
    out += "<ul class=\"muted\">" + "".join(f"<li>{_E(k)}: {_E(localize(v))}</li>" for k, v in items if v) + "</ul>"
    return out


def _explanations(e: Mapping[str, Any]) -> str:
    """What drives the ranking: permutation importance (top five) and the policy tree's rules."""
    if not e:
        return ""
    imp = e.get("permutation_importance") or []
    rows = [[_E(str(x.get("feature"))), fmt_num(x.get("qini_drop"), 4)] for x in imp[:5]]
    out = tr("<h3>What drives the ranking</h3>")
    if rows:
        out += table([tr("Feature"), tr("Drop in held-out Qini when permuted")], rows)
    tree = e.get("policy_tree") or {}
    if tree.get("rules"):
        out += tr("<p>A depth-{depth} policy tree reproduces the list for {agreement} of the eligible customers:</p>",
                  depth=tree.get("depth"), agreement=fmt_pct(tree.get("agreement"), 0))
        out += "<ul>" + "".join(f"<li><code>{_E(localize(r))}</code></li>" for r in tree["rules"]) + "</ul>"
    return out
