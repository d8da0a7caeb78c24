"""The cross-sell measures beyond the spec's metrics: funnel, segments, ROI and the CSR/APC/attach catalogue.

Every function here works on pooled :class:`~uplift.data.moments.Moments` (per arm, or per
arm x segment cell), never on rows. Measures (cross-sell literature; e.g. Kamakura et al.
2003, "Cross-selling through database marketing", IJRM 20; Li, Sun & Wilcox 2005):

* **funnel** seen -> accepted -> opened -> used -> retained: rate per stage and arm,
  stage-to-stage conversion, incremental effect per stage (:func:`funnel_effects`);
* **segments**: the primary metric per segment cell, small cells suppressed (:func:`segment_effects`);
* **incremental revenue** and **incremental profit** net of cannibalised margin and cost to
  serve, **campaign cost**, **incremental ROI** and **cost per incremental conversion**, per
  treated customer and scaled to the eligible population, with delta-method intervals
  (:func:`incremental_roi`);
* **cross-sell rate (CSR)**, **attach rate** and **average products per customer (APC)**
  before and after, with the incremental change (:func:`crosssell_catalogue`).

The derived columns net profit and products after are added to the Moments exactly, without a
second pass over the rows (:func:`with_derived_columns`).
"""

from __future__ import annotations

import math
from itertools import pairwise
from typing import Any, Mapping, Sequence

from uplift.data.moments import Moments, pool
from uplift.metrics.base import Metric, unadjusted_block
from uplift.data.facts import NET_PROFIT, PRODUCTS_AFTER  # derived columns: reserved names, defined with the others
from uplift.metrics.valuation import Valuation, interval
from uplift.spec.settings import EconomicsSettings
from uplift.stats import compare as stats
from uplift.stats.bayes import normal_posterior, prior_for
from uplift.stats.multiplicity import benjamini_hochberg
from uplift.stats import distributions as st  # scipy.stats' normal, t, chi2 without importing it
from uplift.text import Msg


__all__ = [
    "NET_PROFIT", "PRODUCTS_AFTER", "with_derived_columns", "funnel_effects", "segment_effects",
    "incremental_roi", "crosssell_catalogue", "finance_valuations", "net_value_weights", "profit_posteriors",
]



def with_derived_columns(m: Moments, econ_columns: Mapping[str, str], conversion_column: str,
                         products_column: str) -> Moments:
    """``m`` with the derived linear columns added exactly (:meth:`Moments.with_linear`):

    * :data:`NET_PROFIT` ``= margin - cannibalised - cost to serve`` when ``econ_columns``
      names a ``margin_column`` (the other two are optional);
    * :data:`PRODUCTS_AFTER` ``= products before + converted`` when both columns are given.
    """
    margin = econ_columns.get("margin_column") or ""
    if margin:
        w = {margin: 1.0}
        for key in ("cannibalised_column", "cost_to_serve_column"):
            c = econ_columns.get(key) or ""
            if c:
                w[c] = w.get(c, 0.0) - 1.0
        m = m.with_linear(NET_PROFIT, w)
    if products_column and conversion_column:
        m = m.with_linear(PRODUCTS_AFTER, {products_column: 1.0, conversion_column: 1.0})
    return m


def funnel_effects(stages: Sequence[str], per_arm: Mapping[str, Moments], arms: Sequence[str], treat: Sequence[str],
                   control: str, confidence: float, notes: list[str] | None = None) -> dict:
    """Rate per funnel stage and arm, stage-to-stage conversion and the incremental effect per stage.

    Each stage is a 0/1 column; stages are meant to be nested (a customer who opened also accepted).
    Conditional rate of stage s = rate(s) / rate(previous stage). Effect per stage and arm:
    :func:`uplift.stats.compare.compare_proportions`; p-values Benjamini-Hochberg adjusted
    across stages x arms. Empty dict when there are no stages.

    Nesting is checked on the counts (per-customer nesting cannot be seen in aggregates): where a
    stage has more customers than the stage listed before it in any arm, the stages are out of order
    or not nested, so that step's conditional rate (it would exceed 100%) is None, the pair is listed
    in ``not_nested`` and a note naming the stages is added to ``notes``. The per-stage rates and
    effects stand: each is a share of all customers.
    """
    if not stages:
        return {}
    rates = {a: {s: per_arm[a].mean_of(s) for s in stages} for a in arms}

    def count(a: str, s: str) -> int:
        return round(per_arm[a].n * per_arm[a].mean_of(s))

    not_nested = [{"previous": prev, "stage": s, "arms": [a for a in arms if count(a, s) > count(a, prev)]}
                  for prev, s in pairwise(stages)]
    not_nested = [x for x in not_nested if x["arms"]]
    broken = {(x["previous"], x["stage"]) for x in not_nested}
    conditional = {
        a: {s: (per_arm[a].mean_of(s) / per_arm[a].mean_of(prev)
                if per_arm[a].mean_of(prev) > 0 and (prev, s) not in broken else None)
            for prev, s in pairwise(stages)}
        for a in arms
    }
    if not_nested and notes is not None:
        pairs = [Msg("'{stage}' has more customers than '{previous}' (in {arms})", stage=x["stage"], previous=x["previous"],
                     arms=", ".join(map(str, x["arms"]))) for x in not_nested]
        joined = pairs[0]
        for p in pairs[1:]:
            joined = Msg("{first}; {second}", first=joined, second=p)
        notes.append(Msg("[funnel] stages are not nested as listed: {pairs}; step conversion is not shown for those steps. "
                         "List the stages in the order customers pass them, or check the stage columns.", pairs=joined))
    rows = []
    for s in stages:
        for a in treat:
            comp = stats.compare_proportions(per_arm[a].proportion(s), per_arm[control].proportion(s), confidence)
            rows.append({"stage": s, "arm": a, "control": control, "rate_arm": rates[a][s],
                         "rate_control": rates[control][s], **comp.to_dict()})
    adj = benjamini_hochberg([r["p_value"] for r in rows])
    for r, p in zip(rows, adj):
        r["p_value_adjusted"] = p
        r["adjustment"] = "benjamini-hochberg"
    return {
        "stages": list(stages),
        "rates": rates,
        "conditional_rates": conditional,
        "conditional_rate_definition": "share of customers at the previous stage who reached this stage "
                                       "(stage rate / previous stage rate; stages are nested)",
        "not_nested": not_nested,
        "effects": rows,
    }


def segment_effects(segments: Sequence[str], cells: Mapping[tuple, Moments], arms: Sequence[str],
                    treat: Sequence[str], control: str, metric: Metric | None, min_cell: int,
                    confidence: float) -> dict:
    """``metric`` (the primary metric) per value of each segment column, each arm against control.

    ``cells`` are keyed (arm, segment values...) in the order of ``segments``; a segment value's
    cells are pooled over the other segment columns (exact). p-values are Benjamini-Hochberg
    adjusted across all segment cells.

    Small-cell suppression with complementary suppression (Hundepool et al. 2012, *Statistical
    Disclosure Control*, sec. 4.2 and 5.5): a value of a segment column is suppressed (no numbers,
    in every arm's row) when any analysed arm has fewer than ``min_cell`` customers in it; when that
    leaves exactly one suppressed value, the value with the next-smallest arm is suppressed too.
    Each arm's overall figures are published, so a single hidden cell would be its arm's total
    minus the published cells; with none or at least two hidden, no subtraction recovers one.
    """
    out: dict[str, Any] = {"metric": None if metric is None else metric.name, "min_cell_size": min_cell,
                           "adjustment": "benjamini-hochberg across all segment cells", "by": {}}
    if not segments or metric is None:
        return out
    rows_all: list[dict] = []
    for j, seg in enumerate(segments):
        values = sorted({k[1 + j] for k in cells}, key=lambda v: str(v))
        aggs = {v: {a: [m for k, m in cells.items() if k[0] == a and k[1 + j] == v] for a in arms} for v in values}
        hidden = _suppressed(values, aggs, [control, *treat], min_cell)
        rows = []
        for v in values:
            agg = aggs[v]
            for a in treat:
                row: dict[str, Any] = {"segment_column": seg, "segment": v if isinstance(v, (int, float, bool)) else str(v),
                                       "arm": a, "control": control}
                if v in hidden:
                    row.update(suppressed=True, n_arm=None, n_control=None, abs_effect=None, abs_ci=None,
                               rel_effect=None, rel_ci=None, p_value=None, p_value_adjusted=None, reason=hidden[v])
                else:
                    comp = metric.compare(pool(agg[a]), pool(agg[control]), confidence)
                    row.update(suppressed=False, **comp.to_dict())
                row["display"] = metric.display
                rows.append(row)
        out["by"][seg] = rows
        rows_all.extend(rows)
    adj = benjamini_hochberg([r["p_value"] for r in rows_all])
    for r, p in zip(rows_all, adj):
        r["p_value_adjusted"] = p
    return out


def _suppressed(values: Sequence[Any], aggs: Mapping[Any, Mapping[str, Sequence[Moments]]], arms: Sequence[str],
                min_cell: int) -> dict[Any, str]:
    """The values of one segment column to suppress, with the reason (see :func:`segment_effects`)."""
    smallest = {v: min(sum(m.n for m in aggs[v][a]) for a in arms) for v in values}
    hidden = {v: f"fewer than {min_cell} customers in an arm of this cell" for v in values if smallest[v] < min_cell}
    if len(hidden) == 1:
        rest = sorted((v for v in values if v not in hidden), key=lambda v: (smallest[v], str(v)))
        if rest:
            hidden[rest[0]] = ("suppressed with a small cell of this segment column, so that no subtraction "
                               "from the published totals recovers it")
    return hidden


def net_value_weights(cols: Mapping[str, str]) -> dict[str, float]:
    """The net value per customer as weights on columns: margin +1, cannibalised -1, cost to serve -1
    (:data:`NET_PROFIT`); empty without a margin column."""
    w: dict[str, float] = {}
    if cols.get("margin_column"):
        w[cols["margin_column"]] = 1.0
        for key in ("cannibalised_column", "cost_to_serve_column"):
            c = cols.get(key) or ""
            if c:
                w[c] = w.get(c, 0.0) - 1.0
    return w


def finance_valuations(econ: EconomicsSettings | None, cols: Mapping[str, str], conv_col: str, covariate: str,
                       per_arm: Mapping[str, Moments], treat: Sequence[str], control: str) -> dict[str, Valuation]:
    """Each offer arm's :class:`~uplift.metrics.valuation.Valuation` against control (CUPED with ``covariate``
    when given); empty when there is no margin or conversion column. The one valuation finance and
    targeting share."""
    w = net_value_weights(cols)
    if not w or not conv_col:
        return {}
    k0 = econ.contact_cost if econ is not None else 0.0
    k1 = econ.incentive_cost if econ is not None else 0.0
    return {a: Valuation.from_moments(per_arm[a], per_arm[control], w, conv_col, covariate, k0, k1) for a in treat}


def incremental_roi(econ: EconomicsSettings | None, cols: Mapping[str, str], conv_col: str, per_arm: Mapping[str, Moments],
                    treat: Sequence[str], control: str, n_total: int, confidence: float, notes: list[str],
                    covariate: str = "", valuations: Mapping[str, Valuation] | None = None) -> dict:
    """Incremental revenue, profit, cost, ROI, cost per incremental conversion and value per incremental
    conversion per treated customer, from each arm's :class:`~uplift.metrics.valuation.Valuation`
    (formulas there; ``valuations`` as from :func:`finance_valuations`, computed here when not given).

    ``covariate`` (the covariate of the spec's CUPED-adjusted economics metric, "" for none) adjusts
    revenue (:func:`uplift.stats.compare.compare_adjusted`, as the metrics table) and every net value
    column; the unadjusted figures are reported beside them (``unadjusted``). Cost per incremental
    conversion ``c/(p_a - p_c)``, delta method, reported only when the interval of p_a - p_c excludes 0.
    Scaled totals multiply by N, the eligible population ([economics] eligible_population, else the
    analysed customers), treating N as fixed. ``cols`` maps revenue_column, margin_column,
    cannibalised_column and cost_to_serve_column to column names ("" if absent); why ROI was not
    computed is appended to ``notes``.
    """
    z = float(st.norm.ppf(0.5 + confidence / 2))
    k0 = econ.contact_cost if econ is not None else 0.0
    k1 = econ.incentive_cost if econ is not None else 0.0
    given_n = econ.eligible_population if econ is not None else None
    N = given_n or n_total
    estimator = (Msg("CUPED-adjusted with {covariate} (revenue and each of margin, cannibalised margin and cost to serve "
                     "adjusted by its own pooled within-arm theta; variances by the delta method with the covariances "
                     "of the adjusted columns); conversion unadjusted", covariate=covariate) if covariate
                 else Msg("difference in means (unadjusted)"))
    out: dict[str, Any] = {
        "assumptions": [
            Msg("per treated customer: every customer in an offer arm is contacted (contact_cost each) and each "
                "conversion in an offer arm earns the incentive (incentive_cost each); the control arm costs nothing"),
            (Msg("incremental profit = difference in mean (margin - cannibalised margin - cost to serve) between arm and "
                 "control, CUPED-adjusted with {covariate}", covariate=covariate) if covariate else
             Msg("incremental profit = difference in mean (margin - cannibalised margin - cost to serve) between arm and "
                 "control")),
            Msg("ROI = (incremental profit - campaign cost) / campaign cost, per treated customer"),
            Msg("value of a conversion = incremental profit / incremental conversion rate (per incremental conversion, "
                "net of cannibalised margin and cost to serve, before campaign cost); targeting uses the same value"),
            (Msg("scaled to N = {n} customers ([economics] eligible_population), N treated as fixed", n=N) if given_n else
             Msg("scaled to N = {n} customers (the analysed customers), N treated as fixed", n=N)),
            Msg("intervals: delta method, normal approximation; incremental revenue by Welch's t, as the metrics table"),
        ],
        "contact_cost": k0, "incentive_cost": k1, "eligible_population": int(N),
        "columns": {**{k: v or None for k, v in cols.items()}, "conversion_column": conv_col or None},
        "adjustment": {"method": "cuped", "covariate": covariate, "estimator": estimator} if covariate
        else {"method": "none", "covariate": None, "estimator": estimator},
        "per_arm": {},
    }
    if not cols["margin_column"] or not conv_col:
        notes.append(Msg("ROI not computed: set [economics] margin_column and conversion_column (or a primary proportion "
                         "metric)") if econ is not None else Msg("ROI not computed: the spec has no [economics] section"))
        out["per_arm"] = {}
        return out
    if valuations is None:
        valuations = finance_valuations(econ, cols, conv_col, covariate, per_arm, treat, control)
    raw = finance_valuations(econ, cols, conv_col, "", per_arm, treat, control) if covariate else valuations
    for a in treat:
        res = _roi_of_arm(valuations[a], per_arm[a], per_arm[control], cols, covariate, N, confidence, z)
        res["estimator"] = estimator
        res["valuation"] = valuations[a].to_dict()
        res["bayes"] = profit_posteriors(res, valuations[a], N, confidence,
                                         econ.profit_prior_mean if econ is not None else 0.0,
                                         econ.profit_prior_sd if econ is not None else None)
        if covariate:
            unadj = _roi_of_arm(raw[a], per_arm[a], per_arm[control], cols, "", N, confidence, z)
            res["unadjusted"] = {k: unadj[k] for k in ("incremental_revenue", "incremental_profit", "net_incremental_profit",
                                                       "roi", "value_per_incremental_conversion") if k in unadj}
            res["unadjusted"]["scaled"] = unadj["scaled"]
        out["per_arm"][a] = res
    return out


def profit_posteriors(res: Mapping[str, Any], val: Valuation, N: float, confidence: float, prior_mean: float,
                      prior_sd: float | None) -> dict[str, Any]:
    """The Bayesian view of one arm's money (:mod:`uplift.stats.bayes`), from the estimate and se finance
    already computed (``res``, the block of :func:`_roi_of_arm`), never re-estimated: the normal posterior
    of the net incremental profit (after campaign cost) and of the incremental profit (before it) per
    treated customer, each scaled by the fixed N to the eligible population; P(profit > 0), the
    expected loss of shipping ``E[max(-profit, 0)]`` and of not shipping ``E[max(profit, 0)]``. The prior of
    the net incremental profit per treated customer is [economics] profit_prior_mean / profit_prior_sd; without
    profit_prior_sd, and always for the profit before campaign cost, it is the unit-information prior
    (:func:`uplift.stats.bayes.unit_information_prior`, n = the customers of arm and control). Each block
    states its prior."""
    out: dict[str, Any] = {"per_treated_customer": {}, "scaled": {},
                           "prior_applies_to": "[economics] profit_prior_mean / profit_prior_sd: the net incremental "
                                               "profit per treated customer (scaled by N for the eligible population); "
                                               "the incremental profit before campaign cost takes the unit-information prior"}
    n = int(val.n_arm + val.n_control)
    for key in ("net_incremental_profit", "incremental_profit"):
        block = res.get(key) or {}
        est, se = block.get("estimate"), block.get("se")
        if est is None or se is None or not se > 0:
            continue
        mean, sd = (prior_mean, prior_sd) if key == "net_incremental_profit" else (0.0, None)
        post = normal_posterior(est, se, prior_for(se, n, mean, sd, "[economics] profit_prior_sd"))
        out["per_treated_customer"][key] = post.to_dict(confidence)
        out["scaled"][key] = post.scaled(N).to_dict(confidence)
    return out


def _roi_of_arm(val: Valuation, t: Moments, c: Moments, cols: Mapping[str, str], covariate: str, N: float,
                confidence: float, z: float) -> dict[str, Any]:
    """The per-arm block of :func:`incremental_roi` (formulas in :mod:`uplift.metrics.valuation`)."""
    dp, vdp = val.incremental_conversion
    cost, var_cost = val.campaign_cost
    k1 = val.incentive_cost
    res: dict[str, Any] = {}
    rev = cols["revenue_column"]
    if rev:
        if covariate:
            rc = stats.compare_adjusted(t.adjusted(rev, covariate), c.adjusted(rev, covariate), confidence)
        else:
            rc = stats.compare_means(t.sample_mean(rev), c.sample_mean(rev), confidence)
        res["incremental_revenue"] = {"estimate": rc.estimate, "se": rc.se, "ci": list(rc.ci), "method": rc.method}
    res["incremental_conversion_rate"] = interval(dp, vdp, z)
    res["incremental_profit"] = interval(*val.incremental_profit, z)
    res["campaign_cost"] = interval(cost, var_cost, z)
    res["net_incremental_profit"] = interval(*val.net_incremental_profit, z)
    roi = val.roi
    res["roi"] = interval(*roi, z) if roi is not None else {"estimate": None, "se": None, "ci": None, "note": "campaign cost is 0"}
    vpc = val.value_per_conversion
    dp_ci = (dp - z * math.sqrt(vdp), dp + z * math.sqrt(vdp))
    clear = dp_ci[0] > 0 or dp_ci[1] < 0
    if dp != 0:
        cpic = cost / dp
        gA, gB = k1 / dp - cost / dp**2, cost / dp**2
        var_cpic = gA * gA * val.var_conv_arm + gB * gB * val.var_conv_control
        unbounded = "the incremental conversion interval includes 0: {} is unbounded"
        res["cost_per_incremental_conversion"] = interval(cpic, var_cpic, z) if clear else {
            "estimate": cpic, "se": None, "ci": None, "note": unbounded.format("cost per incremental conversion")}
        assert vpc is not None
        res["value_per_incremental_conversion"] = interval(*vpc, z) if clear else {
            "estimate": vpc[0], "se": None, "ci": None, "note": unbounded.format("the value per incremental conversion")}
    else:
        for key in ("cost_per_incremental_conversion", "value_per_incremental_conversion"):
            res[key] = {"estimate": None, "se": None, "ci": None, "note": "no incremental conversions"}
    scaled = {}
    for key, src in (("incremental_conversions", "incremental_conversion_rate"),
                     ("incremental_revenue", "incremental_revenue"),
                     ("incremental_profit", "incremental_profit"),
                     ("campaign_cost", "campaign_cost"),
                     ("net_incremental_profit", "net_incremental_profit")):
        if src in res and res[src].get("estimate") is not None:
            e = res[src]
            scaled[key] = {"estimate": N * e["estimate"], "se": N * e["se"],
                           "ci": [N * e["ci"][0], N * e["ci"][1]]}
    res["per_treated_customer"] = True
    res["scaled"] = scaled
    return res


def crosssell_catalogue(per_arm: Mapping[str, Moments], treat: Sequence[str], control: str, conv_col: str,
                        products_col: str, confidence: float, primary_product: str = "",
                        target_product: str = "") -> dict:
    """Cross-sell rate, attach rate and average products per customer (APC), each arm against control.

    Only under a holdings declaration: ``primary_product`` (``[experiment] primary_product``, what every
    analysed customer holds). Without it the conversion column is whatever the spec's metric says it
    is (a site visit, a purchase), not "one more product", so nothing is returned and the metric keeps
    its own description. With it:

    * CSR = share of eligible customers (all holding ``primary_product``) who bought at least one more
      product (``target_product`` when named) = mean of the conversion column; attach rate = share
      holding both the primary and the offered product, which equals CSR here (every analysed customer
      holds the primary product and none held the offered one); effects by
      :func:`uplift.stats.compare.compare_proportions`;
    * APC before = mean products held; after = before + converted (:data:`PRODUCTS_AFTER`);
      incremental change = CUPED difference in APC after with APC before as covariate
      (:func:`uplift.stats.compare.compare_adjusted`), the unadjusted difference beside it.
    """
    out: dict[str, Any] = {}
    if not primary_product:
        return out
    offered = f"the offered product, {target_product}" if target_product else "the offered product"
    if conv_col:
        rows = []
        for a in treat:
            comp = stats.compare_proportions(per_arm[a].proportion(conv_col), per_arm[control].proportion(conv_col), confidence)
            rows.append({"arm": a, "control": control, **comp.to_dict()})
        out["cross_sell_rate"] = {
            "column": conv_col,
            "definition": f"share of eligible customers (all holding {primary_product}) who bought at least one more "
                          f"product ({offered})",
            "per_arm": {a: per_arm[a].mean_of(conv_col) for a in per_arm},
            "effects": rows,
        }
        out["attach_rate"] = {
            "column": conv_col,
            "definition": f"share holding both the primary product ({primary_product}) and {offered}; every analysed "
                          "customer holds the primary product ([experiment] primary_product) and none held the offered "
                          "one, so it equals the share who took the offered product",
            "per_arm": {a: per_arm[a].mean_of(conv_col) for a in per_arm},
            "effects": rows,
        }
    if products_col and conv_col:
        rows = []
        for a in treat:
            adj = stats.compare_adjusted(per_arm[a].adjusted(PRODUCTS_AFTER, products_col),
                                         per_arm[control].adjusted(PRODUCTS_AFTER, products_col), confidence)
            raw = stats.compare_means(per_arm[a].sample_mean(PRODUCTS_AFTER), per_arm[control].sample_mean(PRODUCTS_AFTER),
                                      confidence)
            rows.append({"arm": a, "control": control, **adj.to_dict(), "unadjusted": unadjusted_block(raw)})
        out["apc"] = {
            "columns": {"before": products_col, "after": f"{products_col} + {conv_col}"},
            "definition": "average products per customer; incremental change = CUPED difference in APC after, "
                          "with APC before as covariate",
            "before": {a: per_arm[a].mean_of(products_col) for a in per_arm},
            "after": {a: per_arm[a].mean_of(PRODUCTS_AFTER) for a in per_arm},
            "change": {a: per_arm[a].mean_of(PRODUCTS_AFTER) - per_arm[a].mean_of(products_col) for a in per_arm},
            "effects": rows,
        }
    return out
