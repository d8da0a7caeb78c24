"""The cross-sell metric catalogue, from one aggregation to every number in the readout.

:func:`analyse_metrics` is what the readout (and an analyst in a notebook) calls, on rows
wherever they are (a DataFrame in memory, a Parquet/CSV file read by DuckDB, an Ibis table on
DuckDB or Spark: see :mod:`uplift.data.source`). It

1. checks the outcomes (arm column, every metric column numeric and complete, 0/1
   columns for proportions, every arm populated) and raises a one-line
   :class:`~uplift.errors.DataError` naming the column and the fix otherwise;
2. makes **one** aggregation pass over the rows: count, means and centred
   co-moments of every needed column per (arm x segment) cell
   (:func:`uplift.data.collect.collect_cells`, in whichever backend holds the rows); what each
   metric needs comes from its kind (:meth:`uplift.metrics.base.Metric.needs`);
3. pools the cells to arms (exact), derives linear measures from the co-moments
   (net profit = margin - cannibalised margin - cost to serve; products after =
   products before + converted), and computes everything else in closed form on that
   small table:

   * each metric and guardrail by its kind (:mod:`uplift.metrics.kinds`), with
     multiplicity, planned looks and the decision (:mod:`uplift.metrics.decision`);
   * funnel, segments, incremental ROI and the cross-sell catalogue (CSR, attach rate,
     APC) (:mod:`uplift.metrics.crosssell`); finance's money figures are CUPED-adjusted with
     the covariate of the spec's adjusted economics metric (:func:`economics_covariate`), from
     one :class:`~uplift.metrics.valuation.Valuation` per arm, which targeting shares.

Multiplicity: Holm across the primary family (primary metrics x arms),
Benjamini-Hochberg across secondary metrics x arms, across funnel stages x arms and
across segment cells. Guardrails are each tested for non-inferiority and all must
pass (an intersection-union test, Berger 1982), so they are not adjusted.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Mapping


from uplift.data.collect import collect_cells
from uplift.data.facts import ARM, SEGMENT, Facts, validate
from uplift.data.moments import Moments, pool
from uplift.data.needs import Needs
from uplift.data.source import open_source
from uplift.errors import DataError
from uplift.metrics import decision
from uplift.metrics.base import needs_of
from uplift.metrics.crosssell import (
    crosssell_catalogue,
    finance_valuations,
    funnel_effects,
    incremental_roi,
    segment_effects,
    with_derived_columns,
)
from uplift.metrics.kinds import metric_for
from uplift.metrics.valuation import Valuation
from uplift.results import jsonable
from uplift.text import Msg

__all__ = ["MetricsResult", "analyse_metrics", "prefetch_cells", "metric_needs", "arms_from_counts", "economics_covariate", "economics_valuation",
           "conversion_column"]

_MAX_SEGMENT_VALUES = 100


# --------------------------------------------------------------------------- result


@dataclass(frozen=True)
class MetricsResult:
    """Everything :func:`analyse_metrics` computed. ``to_dict()`` is what results.json holds.

    ``arm_statistics`` (arm -> :class:`~uplift.data.moments.Moments`) and ``cells``
    ((arm, segment values...) -> Moments) are the sufficient statistics every number came
    from, for the methods appendix.
    """

    arm_column: str
    control: str
    arms: tuple[str, ...]
    alpha: float
    confidence: float
    metrics: tuple[dict, ...]
    guardrails: tuple[dict, ...]
    decision: dict
    funnel: dict
    segments: dict
    roi: dict
    catalogue: dict
    sequential: dict
    arm_statistics: Mapping[str, Moments]
    cells: Mapping[tuple, Moments] = field(default_factory=dict)
    segment_columns: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()
    engine: str = "pandas"
    valuations: Mapping[str, Valuation] = field(default_factory=dict)
    """Offer arm -> the :class:`~uplift.metrics.valuation.Valuation` finance used (targeting prices with it)."""

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (None for NaN), keys as in DESIGN.md's results.json contract."""
        return jsonable({
            "arm_column": self.arm_column,
            "control": self.control,
            "arms": list(self.arms),
            "alpha": self.alpha,
            "confidence": self.confidence,
            "metrics": list(self.metrics),
            "guardrails": list(self.guardrails),
            "decision": self.decision,
            "funnel": self.funnel,
            "segments": self.segments,
            "roi": self.roi,
            "catalogue": self.catalogue,
            "sequential": self.sequential,
            "sufficient_statistics": {
                "engine": self.engine,
                "description": Msg("per arm: n, column means, sample variances and covariances (n - 1); "
                                   "every estimate is a closed-form function of these"),
                "per_arm": {a: m.to_dict() for a, m in self.arm_statistics.items()},
            },
            "notes": list(self.notes),
        })

    def summary(self) -> str:
        """A plain-text readout of the numbers."""
        pct = lambda v: "n/a" if v is None else f"{v:+.2%}"  # noqa: E731

        def num(v: Any) -> str:
            return "n/a" if v is None or not math.isfinite(float(v)) else f"{v:+.5g}"

        def ci(c: Any) -> str:
            return "[n/a]" if not c or c[0] is None else f"[{num(c[0])}, {num(c[1])}]"

        lines = [f"Metrics: {', '.join(a for a in self.arms if a != self.control)} vs control "
                 f"'{self.control}' (arm column '{self.arm_column}', {self.confidence:.0%} intervals)"]
        lines.append(f"{'metric':<24}{'arm':<14}{'effect':>12}  {'interval':<26}{'relative':>10}  {'p':>9}  {'p adj':>9}")
        for r in self.metrics:
            lines.append(
                f"{r['metric'][:23]:<24}{str(r['arm'])[:13]:<14}{num(r['abs_effect']):>12}  {ci(r['abs_ci']):<26}"
                f"{pct(r['rel_effect']):>10}  {r['p_value']:>9.3g}  "
                f"{(r['p_value_adjusted'] if r['p_value_adjusted'] is not None else float('nan')):>9.3g}"
                + ("  (CUPED)" if r.get("cuped") else "")
            )
        if self.guardrails:
            lines.append("Guardrails (non-inferiority):")
            for g in self.guardrails:
                lines.append(
                    f"  {g['metric']:<22}{str(g['arm'])[:13]:<14}{num(g['abs_effect']):>12}  {ci(g['abs_ci']):<26}"
                    f"margin {g['margin']}  -> {g.get('status', 'passed' if g['non_inferior'] else 'failed')}"
                )
        for arm, r in self.roi.get("per_arm", {}).items():
            roi = r.get("roi", {})
            lines.append(f"ROI {arm}: {num(roi.get('estimate'))} {ci(roi.get('ci'))}; "
                         f"net incremental profit scaled {num(r.get('scaled', {}).get('net_incremental_profit', {}).get('estimate'))}")
            post = ((r.get("bayes") or {}).get("scaled") or {}).get("net_incremental_profit")
            if post:
                lines.append(f"  P(net incremental profit > 0) {post['prob_positive']:.1%}; expected loss if shipped "
                             f"{num(post['expected_loss_ship'])}, if not shipped {num(post['expected_loss_not_ship'])} "
                             "(eligible population)")
        for r in self.metrics:
            if r.get("bayes"):
                lines.append(f"Chance to beat control: {r['metric']} ({r['arm']}) {r['bayes']['chance_to_win']:.1%}")
            if r.get("always_valid"):
                lines.append(f"Always-valid: {r['metric']} ({r['arm']}) {ci(r['always_valid']['ci'])}, "
                             f"p {r['always_valid']['p_value']:.3g}")
        lines.append(f"Sequential: {self.sequential.get('method')}")
        d = self.decision
        lines.append(f"Decision: {'SHIP' if d.get('ship') else 'do not ship'} - {d.get('rule')}")
        if d.get("headline"):
            lines.append(f"  {d['headline']}")
        for w in d.get("watch") or []:
            lines.append(f"  Watch: {w['text']}")
        for n in self.notes:
            lines.append(f"note: {n}")
        return "\n".join(lines)


# --------------------------------------------------------------------------- helpers




# --------------------------------------------------------------------------- the function the readout calls


def analyse_metrics(
    spec: Any,
    outcomes: Any,
    arm_column: str | None = None,
    control: str | None = None,
    *,
    engine: str | None = None,
) -> MetricsResult:
    """Every metric, guardrail, funnel stage, segment cell and the ROI of each arm against ``control``.

    ``outcomes`` is anything :func:`uplift.data.source.open_source` reads (a DataFrame, a Parquet/CSV
    path or folder, an Ibis or Spark table, a source); ``engine`` ("pandas" or "duckdb") overrides
    where the rows are aggregated. ``arm_column``/``control`` default to the spec's. Outcomes are
    taken as one row per unit (:func:`uplift.data.arms.attach_arms` checks that when it attaches arms).

    ONE aggregation (:func:`uplift.data.collect.collect_cells`) gives the per-(arm x segment)
    sufficient statistics of every column the metrics need (:func:`metric_needs`); everything else
    is closed form (see the module docstring and :mod:`uplift.stats.compare` for formulas). Raises
    :class:`~uplift.errors.DataError` (one line) for a missing or text column, missing values, a
    non-0/1 proportion column, an arm with no customers, or an unknown arm.
    """
    source = open_source(outcomes, engine=engine, text_columns=(spec.unit,))
    arm_column = arm_column or spec.arm_column
    control = str(control or spec.control_arm)
    segments = list(spec.analysis.segments)
    notes: list[str] = []
    plan = _column_plan(spec, source.columns, notes)
    named = [(s, "[analysis] segments") for s in segments] + [(c, r) for c, r in plan["roles"].items() if c != arm_column]
    validate(Facts(source.label, reserved=tuple(named)))
    cells = collect_cells(source, {arm_column: ARM, **{s: SEGMENT for s in segments}}, metric_needs(spec, plan))
    units = int(sum(m.n for m in cells.values()))
    for j, s in enumerate(segments):
        nvals = len({k[1 + j] for k in cells})
        validate(Facts(source.label, id_like=(s, nvals, units)))
        if nvals > _MAX_SEGMENT_VALUES:
            raise DataError(f"{source.label}: segment column '{s}' has {nvals} distinct values; segments need a "
                            f"categorical column with at most {_MAX_SEGMENT_VALUES} values (band it first)")
    cells = {tuple([str(k[0])] + list(k[1:])): v for k, v in cells.items()}
    counts: dict[str, int] = {}
    for k, v in cells.items():
        counts[k[0]] = counts.get(k[0], 0) + v.n
    for a in source.categories(arm_column) or []:
        if str(a) not in counts:
            notes.append(Msg("arm '{arm}' is a category of column '{column}' but has no customers; it is left out", arm=a,
                             column=arm_column))
    arms_order, treat_arms = arms_from_counts(spec, counts, arm_column, control, source.label)
    return _finish(spec, cells, plan, arm_column, control, arms_order, treat_arms, notes, source.engine)


def prefetch_cells(spec: Any, source: Any, arm_column: str | None = None) -> None:
    """Ask ``source`` now for the cells :func:`analyse_metrics` will aggregate (the same plan, the same
    checks), so an engine that keeps its answers (the embedded DuckDB's sources) can scan while the
    caller does something else, such as importing SciPy: nothing on this path imports it. Nothing is
    raised: :func:`analyse_metrics` asks again, gets the kept answer or the same error, and reports it."""
    try:
        plan = _column_plan(spec, source.columns, [])
        segments = list(spec.analysis.segments)
        collect_cells(source, {arm_column or spec.arm_column: ARM, **{s: SEGMENT for s in segments}},
                      metric_needs(spec, plan))
    except Exception:  # noqa: BLE001 - the real call reports it
        return


def metric_needs(spec: Any, plan: Mapping[str, Any]) -> Needs:
    """What the readout's metrics ask of the rows: every column of ``plan["roles"]``, the 0/1 columns,
    and the column pairs whose covariance some estimator reads (the others are never computed).

    Each metric's own (:meth:`uplift.metrics.base.Metric.needs`; CUPED mean: (outcome, covariate);
    ratio: every pair of (numerator, denominator, covariate, denominator covariate)); ROI and the
    valuation: every pair of (margin, cannibalised, cost to serve, conversion, the economics
    covariate) and (revenue, covariate) (:func:`economics_needs`); APC: (products before, conversion).
    """
    metric_pairs = needs_of(metric_for(m) for m in (*spec.metrics, *spec.guardrails)).pairs
    groups: list[list[str]] = []
    pairs: list[tuple[str, str]] = list(metric_pairs) + list(economics_needs(plan).pairs or ())
    if plan["products_col"] and plan["conv_col"]:
        groups.append([plan["products_col"], plan["conv_col"]])
    for g in groups:
        g = list(dict.fromkeys(g))
        pairs.extend((a, b) for i, a in enumerate(g) for b in g[i + 1:])
    return Needs.of(plan["roles"], pairs=pairs, binary=list(plan["binaries"]))


def economics_needs(plan: Mapping[str, Any]) -> Needs:
    """What finance's valuation asks of the rows: every pair of (margin, cannibalised, cost to serve,
    conversion, covariate) and (revenue, covariate), the conversion column 0/1."""
    econ, cov = plan["econ_cols"], plan.get("econ_covariate", "")
    group = list(dict.fromkeys(c for c in (econ["margin_column"], econ["cannibalised_column"],
                                           econ["cost_to_serve_column"], plan["conv_col"], cov) if c))
    pairs = [(a, b) for i, a in enumerate(group) for b in group[i + 1:]]
    if cov and econ["revenue_column"]:
        pairs.append((econ["revenue_column"], cov))
    roles = {c: plan["roles"].get(c, "column") for c in (*group, econ["revenue_column"]) if c}
    return Needs.of(roles, pairs=pairs, binary=[plan["conv_col"]] if plan["conv_col"] else [])


def economics_covariate(spec: Any) -> str:
    """The covariate finance adjusts with: that of the spec's CUPED metric (or guardrail) on the
    [economics] revenue column, else on another economics column ("" when none is adjusted).
    One estimate per metric: finance's revenue then equals the metrics table's."""
    econ = spec.economics
    if econ is None:
        return ""
    cols = [econ.revenue_column, econ.margin_column, econ.cannibalised_column, econ.cost_to_serve_column]
    metrics = [m for m in (*spec.metrics, *spec.guardrails) if m.covariate and not m.denominator]
    for c in cols:
        m = next((m for m in metrics if c and m.column == c), None)
        if m is not None:
            return m.covariate
    return ""


def economics_valuation(spec: Any, outcomes: Any, arm_column: str, control: str, arm: str) -> Valuation | None:
    """Finance's :class:`~uplift.metrics.valuation.Valuation` of ``arm`` against ``control`` from the rows
    alone (one aggregation of the economics columns), for a caller without the metrics (``uplift
    target``): the same numbers as :attr:`MetricsResult.valuations`. None when the spec has no margin
    or conversion column, or the covariate is not in the rows."""
    source = open_source(outcomes)
    plan = _column_plan(spec, source.columns, [])
    if plan["econ_covariate"] and plan["econ_covariate"] not in source.columns:
        return None
    needs = economics_needs(plan)
    if not needs.columns or not plan["econ_cols"]["margin_column"] or not plan["conv_col"]:
        return None
    cells = collect_cells(source, {arm_column: ARM}, needs)
    per_arm = {str(k[0]): v for k, v in cells.items()}
    if str(arm) not in per_arm or str(control) not in per_arm:
        return None
    vals = finance_valuations(spec.economics, plan["econ_cols"], plan["conv_col"], plan["econ_covariate"],
                              per_arm, [str(arm)], str(control))
    return vals.get(str(arm))


def arms_from_counts(spec: Any, counts: Mapping[Any, int], arm_column: str, control: str,
                     label: str = "outcomes") -> tuple[tuple[str, ...], list[str]]:
    """(control first + treated arms, treated arms) from the units per arm, refusing (one line) a
    missing control, an arm not in the spec, a spec arm without units, an arm with fewer than 2
    units, or a control with nothing to compare."""
    counts = {str(a): int(n) for a, n in counts.items() if int(n) > 0}
    present = list(counts)
    if str(control) not in present:
        raise DataError(f"{label}: control arm '{control}' has no customers in column '{arm_column}' "
                        f"(arms found: {', '.join(sorted(present)) or 'none'}); check [assignment] control / [analysis] control")
    declared = [str(a) for a in (spec.arms or {})]
    if declared and not spec.analysis.arm_column:
        unknown = [a for a in present if a not in declared]
        if unknown:
            raise DataError(f"{label}: column '{arm_column}' holds arm '{unknown[0]}' that is not in [assignment] arms "
                            f"({', '.join(declared)}); fix the labels or the spec")
        for a in declared:
            if a not in present:
                raise DataError(f"{label}: arm '{a}' (in [assignment] arms) has no customers in column "
                                f"'{arm_column}'; check the arm labels or the ledger join")
    for a in present:
        if counts[a] < 2:
            raise DataError(f"{label}: arm '{a}' has {counts[a]} customer in column '{arm_column}'; "
                            "each arm needs at least 2 customers for an interval")
    treat_arms = sorted(a for a in present if a != str(control))
    if not treat_arms:
        raise DataError(f"{label}: column '{arm_column}' holds only the control arm '{control}'; "
                        "there is nothing to compare")
    arms_order = tuple([str(control)] + treat_arms)
    return arms_order, treat_arms


def conversion_column(spec: Any) -> str:
    """The readout's conversion column (ROI, valuation, the Consumer Duty panel): ``[economics]
    conversion_column``, else the first primary 0/1 metric's column ("" if neither)."""
    econ = spec.economics
    return (econ.conversion_column if econ is not None else "") or next(
        (m.column for m in spec.metrics if m.primary and metric_for(m).binary), "")


def _column_plan(spec: Any, available: Any, notes: list[str]) -> dict[str, Any]:
    """Which columns the readout aggregates, and why: roles (column -> role), 0/1 columns, the
    conversion, economics and products columns, and the funnel stages."""
    econ = spec.economics
    available = set(map(str, available))
    need = needs_of(metric_for(m) for m in (*spec.metrics, *spec.guardrails))
    roles: dict[str, str] = dict(need.roles)
    binaries: dict[str, str] = {c: need.role(c) for c in need.binary}
    funnel_stages = list(spec.funnel.stages) if spec.funnel is not None else []
    for s in funnel_stages:
        roles.setdefault(s, "funnel stage")
        binaries.setdefault(s, "funnel stage")
    conv_col = conversion_column(spec)
    if conv_col:
        roles.setdefault(conv_col, "[economics] conversion_column")
        binaries.setdefault(conv_col, "conversion")
    econ_cols = {k: (getattr(econ, k) if econ is not None else "") for k in (
        "revenue_column", "margin_column", "cannibalised_column", "cost_to_serve_column")}
    for k, c in econ_cols.items():
        if c:
            roles.setdefault(c, f"[economics] {k}")
    econ_cov = economics_covariate(spec)
    if econ_cov:
        roles.setdefault(econ_cov, "covariate of the [economics] columns")
    products_col = (spec.clv.products_column if spec.clv is not None else "") or (
        "products_held" if "products_held" in available else "")
    if products_col and products_col in available:
        roles.setdefault(products_col, "products held before the campaign")
    elif products_col:
        notes.append(Msg("APC not computed: products column '{column}' is not in the outcomes", column=products_col))
        products_col = ""
    return {"roles": roles, "binaries": binaries, "funnel_stages": funnel_stages, "conv_col": conv_col,
            "econ_cols": econ_cols, "products_col": products_col, "econ_covariate": econ_cov}


def _finish(spec: Any, cells: Mapping[tuple, Moments], plan: Mapping[str, Any],
            arm_column: str, control: str, arms_order: tuple[str, ...], treat_arms: list[str],
            notes: list[str], engine: str) -> MetricsResult:
    """Everything after the one aggregation, closed form on the small table of cells: derived
    measures, pooling to arms, metric and guardrail comparisons, multiplicity and looks, the
    decision, funnel, segments, ROI and catalogue."""
    alpha, alternative, confidence = spec.design.alpha, spec.design.alternative, spec.analysis.confidence
    segment_columns = list(spec.analysis.segments)
    conv_col, econ_cols, products_col = plan["conv_col"], plan["econ_cols"], plan["products_col"]
    control = str(control)
    cells = {tuple([str(k[0])] + list(k[1:])): with_derived_columns(v, econ_cols, conv_col, products_col)
             for k, v in cells.items()}
    per_arm = {a: pool(v for k, v in cells.items() if k[0] == a) for a in arms_order}

    looks = decision.look_plan(spec.design, alpha, notes)
    metric_rows = decision.metric_rows(spec.metrics, per_arm, treat_arms, control, confidence, alternative, looks,
                                       analysis=spec.analysis, alpha=alpha)
    by_av = spec.analysis.decision == "always-valid"
    decision.adjust_for_multiplicity(metric_rows, looks, alpha, alternative, always_valid=by_av)
    guard_rows = decision.guardrail_rows(spec.guardrails, per_arm, treat_arms, control, confidence, alpha)
    verdict = decision.decide(metric_rows, guard_rows, treat_arms, looks, alpha, alternative,
                              metrics=spec.metrics, per_arm=per_arm, confidence=confidence, always_valid=by_av)

    funnel = funnel_effects(plan["funnel_stages"], per_arm, arms_order, treat_arms, control, confidence, notes)
    primary = next((metric_for(m) for m in spec.metrics if m.primary), None)
    segments = segment_effects(segment_columns, cells, arms_order, treat_arms, control, primary,
                               spec.analysis.min_cell_size, confidence)
    n_total = int(sum(m.n for m in per_arm.values()))
    valuations = finance_valuations(spec.economics, econ_cols, conv_col, plan["econ_covariate"], per_arm, treat_arms, control)
    roi = incremental_roi(spec.economics, econ_cols, conv_col, per_arm, treat_arms, control, n_total, confidence, notes,
                          covariate=plan["econ_covariate"], valuations=valuations)
    catalogue = crosssell_catalogue(per_arm, treat_arms, control, conv_col, products_col, confidence,
                                    spec.experiment.primary_product, spec.experiment.target_product)
    if not spec.experiment.primary_product and (conv_col or products_col):
        notes.append(Msg("Cross-sell measures (cross-sell rate, attach rate, products per customer) not shown: the spec "
                         "does not say what customers hold; set [experiment] primary_product to define them"))
    return MetricsResult(
        arm_column=arm_column, control=control, arms=arms_order, alpha=alpha, confidence=confidence,
        metrics=tuple(metric_rows), guardrails=tuple(guard_rows), decision=verdict, funnel=funnel,
        segments=segments, roi=roi, catalogue=catalogue, sequential=dict(looks.block),
        arm_statistics={a: per_arm[a].select([c for c in per_arm[a].columns]) for a in arms_order},
        cells=cells, segment_columns=tuple(segment_columns), notes=tuple(notes), engine=engine,
        valuations=valuations,
    )
