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

from scipy import stats as st

from uplift.data.moments import Moments, pool
from uplift.metrics.base import Metric, unadjusted_block
from uplift.spec.settings import EconomicsSettings
from uplift.stats import compare as stats
from uplift.stats.multiplicity import benjamini_hochberg

__all__ = [
    "NET_PROFIT", "PRODUCTS_AFTER", "with_derived_columns", "funnel_effects", "segment_effects", "delta_interval",
    "incremental_roi", "crosssell_catalogue",
]

NET_PROFIT = "derived:net_profit"
"""Derived column: margin - cannibalised margin - cost to serve."""
PRODUCTS_AFTER = "derived:products_after"
"""Derived column: products held before the campaign + converted."""


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
        pairs = "; ".join(f"'{x['stage']}' has more customers than '{x['previous']}' (in {', '.join(map(str, x['arms']))})"
                          for x in not_nested)
        notes.append(f"[funnel] stages are not nested as listed: {pairs}; step conversion is not shown for those steps. "
                     "List the stages in the order customers pass them, or check the stage columns.")
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
    cells are pooled over the other segment columns (exact). A cell with fewer than
    ``min_cell`` customers in the arm or in control is suppressed (no numbers reported).
    p-values are Benjamini-Hochberg adjusted across all segment cells.
    """
    out: dict[str, Any] = {"metric": None if metric is None else metric.name, "min_cell_size": min_cell,
                           "adjustment": "benjamini-hochberg across all segment cells", "by": {}}
    if not segments or metric is None:
        return out
    rows_all: list[dict] = []
    for j, seg in enumerate(segments):
        values = sorted({k[1 + j] for k in cells}, key=lambda v: str(v))
        rows = []
        for v in values:
            agg = {a: [m for k, m in cells.items() if k[0] == a and k[1 + j] == v] for a in arms}
            n_ctrl = sum(m.n for m in agg[control])
            for a in treat:
                n_arm = sum(m.n for m in agg[a])
                row: dict[str, Any] = {"segment_column": seg, "segment": v if isinstance(v, (int, float, bool)) else str(v),
                                       "arm": a, "control": control}
                if n_arm < min_cell or n_ctrl < min_cell:
                    row.update(suppressed=True, n_arm=None, n_control=None, abs_effect=None, abs_ci=None,
                               rel_effect=None, rel_ci=None, p_value=None, p_value_adjusted=None,
                               reason=f"fewer than {min_cell} customers in an arm of this cell")
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


def delta_interval(est: float, var: float, z: float) -> dict:
    """``{"estimate", "se", "ci"}`` with se = sqrt(var) and the normal interval est +- z se."""
    se = math.sqrt(var) if var >= 0 else float("nan")
    return {"estimate": est, "se": se, "ci": [est - z * se, est + z * se]}


def incremental_roi(econ: EconomicsSettings | None, cols: Mapping[str, str], conv_col: str, per_arm: Mapping[str, Moments],
                    treat: Sequence[str], control: str, n_total: int, confidence: float, notes: list[str]) -> dict:
    """Incremental revenue, profit, cost, ROI and cost per incremental conversion per treated customer.

    Per treated customer in arm a (means over the arm minus over control):
    ``d_pi = mean(net)_a - mean(net)_c`` with net = margin - cannibalised - cost to serve
    (:data:`NET_PROFIT`); cost ``c = contact + incentive p_a``; ROI ``= (d_pi - c)/c``;
    delta-method variance with gradient (1/c, -d_pi incentive/c^2, -1/c) in (mean(net)_a, p_a,
    mean(net)_c) and the arm's covariance of (net, converted). Cost per incremental conversion
    ``c/(p_a - p_c)``, delta method, reported only when the interval of p_a - p_c excludes 0.
    Scaled totals multiply by N, the eligible population ([economics] eligible_population,
    else the analysed customers), treating N as fixed. ``cols`` maps revenue_column,
    margin_column, cannibalised_column and cost_to_serve_column to column names ("" if
    absent); why ROI was not computed is appended to ``notes``.
    """
    z = float(st.norm.ppf(0.5 + confidence / 2))
    k0 = econ.contact_cost if econ is not None else 0.0
    k1 = econ.incentive_cost if econ is not None else 0.0
    given_n = econ.eligible_population if econ is not None else None
    N = given_n or n_total
    out: dict[str, Any] = {
        "assumptions": [
            "per treated customer: every customer in an offer arm is contacted (contact_cost each) and each "
            "conversion in an offer arm earns the incentive (incentive_cost each); the control arm costs nothing",
            "incremental profit = difference in mean (margin - cannibalised margin - cost to serve) between arm and control",
            "ROI = (incremental profit - campaign cost) / campaign cost, per treated customer",
            f"scaled to N = {N} customers ({'[economics] eligible_population' if given_n else 'the analysed customers'}), N treated as fixed",
            "intervals: normal approximation, delta method",
        ],
        "contact_cost": k0, "incentive_cost": k1, "eligible_population": int(N),
        "columns": {**{k: v or None for k, v in cols.items()}, "conversion_column": conv_col or None},
        "per_arm": {},
    }
    if not cols["margin_column"] or not conv_col:
        notes.append("ROI not computed: " + ("set [economics] margin_column and conversion_column (or a primary proportion metric)"
                                             if econ is not None else "the spec has no [economics] section"))
        out["per_arm"] = {}
        return out
    for a in treat:
        out["per_arm"][a] = _roi_of_arm(per_arm[a], per_arm[control], cols, conv_col, k0, k1, N, confidence, z)
    return out


def _roi_of_arm(t: Moments, c: Moments, cols: Mapping[str, str], conv_col: str, k0: float, k1: float, N: float,
                confidence: float, z: float) -> dict[str, Any]:
    """The per-arm block of :func:`incremental_roi` (formulas there)."""
    n1, n0 = t.n, c.n
    p1, p0 = t.mean_of(conv_col), c.mean_of(conv_col)
    vp1, vp0 = t.var(conv_col) / n1, c.var(conv_col) / n0
    pi1, pi0 = t.mean_of(NET_PROFIT), c.mean_of(NET_PROFIT)
    vpi1, vpi0 = t.var(NET_PROFIT) / n1, c.var(NET_PROFIT) / n0
    cov1 = t.cov(NET_PROFIT, conv_col) / n1
    dpi = pi1 - pi0
    dp = p1 - p0
    cost = k0 + k1 * p1
    var_cost = k1 * k1 * vp1
    res: dict[str, Any] = {}
    if cols["revenue_column"]:
        rc = stats.compare_means(t.sample_mean(cols["revenue_column"]), c.sample_mean(cols["revenue_column"]), confidence)
        res["incremental_revenue"] = {"estimate": rc.estimate, "se": rc.se, "ci": list(rc.ci)}
    res["incremental_conversion_rate"] = delta_interval(dp, vp1 + vp0, z)
    res["incremental_profit"] = delta_interval(dpi, vpi1 + vpi0, z)
    res["campaign_cost"] = delta_interval(cost, var_cost, z)
    net = dpi - cost
    var_net = vpi1 - 2 * k1 * cov1 + k1 * k1 * vp1 + vpi0
    res["net_incremental_profit"] = delta_interval(net, var_net, z)
    if cost > 0:
        g1, gp, g0 = 1 / cost, -dpi * k1 / cost**2, -1 / cost
        var_roi = g1 * g1 * vpi1 + 2 * g1 * gp * cov1 + gp * gp * vp1 + g0 * g0 * vpi0
        res["roi"] = delta_interval(net / cost, var_roi, z)
    else:
        res["roi"] = {"estimate": None, "se": None, "ci": None, "note": "campaign cost is 0"}
    dp_ci = (dp - z * math.sqrt(vp1 + vp0), dp + z * math.sqrt(vp1 + vp0))
    if dp != 0:
        cpic = cost / dp
        gA, gB = k1 / dp - cost / dp**2, cost / dp**2
        var_cpic = gA * gA * vp1 + gB * gB * vp0
        if dp_ci[0] > 0 or dp_ci[1] < 0:
            res["cost_per_incremental_conversion"] = delta_interval(cpic, var_cpic, z)
        else:
            res["cost_per_incremental_conversion"] = {
                "estimate": cpic, "se": None, "ci": None,
                "note": "the incremental conversion interval includes 0: cost per incremental conversion is unbounded"}
    else:
        res["cost_per_incremental_conversion"] = {"estimate": None, "se": None, "ci": None,
                                                  "note": "no incremental conversions"}
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
                        products_col: str, confidence: float) -> dict:
    """Cross-sell rate, attach rate and average products per customer (APC), each arm against control.

    * CSR = share of eligible customers who bought at least one more product = mean of the
      conversion column; attach rate = share holding both the primary and the offered product,
      which equals CSR here (every analysed customer holds the primary product and none held the
      offered one); effects by :func:`uplift.stats.compare.compare_proportions`;
    * APC before = mean products held; after = before + converted (:data:`PRODUCTS_AFTER`);
      incremental change = CUPED difference in APC after with APC before as covariate
      (:func:`uplift.stats.compare.compare_adjusted`), the unadjusted difference beside it.
    """
    out: dict[str, Any] = {}
    if conv_col:
        rows = []
        for a in treat:
            comp = stats.compare_proportions(per_arm[a].proportion(conv_col), per_arm[control].proportion(conv_col), confidence)
            rows.append({"arm": a, "control": control, **comp.to_dict()})
        out["cross_sell_rate"] = {
            "column": conv_col,
            "definition": "share of eligible customers who bought at least one more product (the offered product)",
            "per_arm": {a: per_arm[a].mean_of(conv_col) for a in per_arm},
            "effects": rows,
        }
        out["attach_rate"] = {
            "column": conv_col,
            "definition": "share holding both the primary and the offered product; every analysed customer holds "
                          "the primary product (eligibility) and none held the offered one, so it equals the share "
                          "who took the offered product",
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
