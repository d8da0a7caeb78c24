"""The cross-sell metric catalogue, from one aggregation to every number in the readout.

:func:`analyse_metrics` is what the readout (and an analyst in a notebook) calls on a DataFrame;
:func:`analyse_source` is the same on rows that stay where they are (a Parquet/CSV file read by
DuckDB, an Ibis table on DuckDB or Spark: one aggregation query in that engine). It

1. checks the outcomes (arm column, every metric column numeric and complete, 0/1
   columns for proportions, every arm populated) and raises a one-line
   :class:`~uplift.errors.DataError` naming the column and the fix otherwise;
2. makes **one** aggregation pass over the rows: count, means and centred
   co-moments of every needed column per (arm x segment) cell
   (:mod:`uplift.data.moments`, pandas or DuckDB);
3. pools the cells to arms (exact), derives linear measures from the co-moments
   (net profit = margin - cannibalised margin - cost to serve; products after =
   products before + converted), and computes everything else in closed form
   (:mod:`uplift.stats.compare`) on that small table.

Measures (cross-sell literature; e.g. Kamakura et al. 2003, "Cross-selling through
database marketing", IJRM 20; Li, Sun & Wilcox 2005):

* **cross-sell rate (CSR)** - share of eligible customers who bought at least one
  more product (the conversion column);
* **average products per customer (APC)** before (products held at the start) and
  after (before + converted), with the incremental change (CUPED on APC-after with
  APC-before as covariate);
* **attach rate** - share holding both the primary and the offered product;
* **funnel** seen -> accepted -> opened -> used -> retained: rate per stage and arm,
  stage-to-stage conversion, incremental effect per stage;
* **incremental revenue** and **incremental profit** net of cannibalised margin and
  cost to serve, **campaign cost** = contact cost x treated + incentive x conversions,
  **incremental ROI** = (incremental profit - cost) / cost, **cost per incremental
  conversion** = cost / incremental conversions, all per treated customer and scaled
  to the eligible population, with delta-method intervals.

Multiplicity: Holm across the primary family (primary metrics x arms),
Benjamini-Hochberg across secondary metrics x arms, across funnel stages x arms and
across segment cells. Guardrails are each tested for non-inferiority and all must
pass (an intersection-union test, Berger 1982), so they are not adjusted.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd

from uplift.stats import compare as stats
from uplift.stats.multiplicity import benjamini_hochberg, holm
from uplift.stats.sequential import obrien_fleming_boundaries
from uplift.data.moments import Moments, aggregate_frame, check_numeric_columns, pool
from uplift.errors import DataError

__all__ = ["MetricsResult", "analyse_metrics", "analyse_source", "needed_pairs"]

_NET = "derived:net_profit"
_AFTER = "derived:products_after"
_MAX_SEGMENT_VALUES = 100


def _f(x: Any) -> float | None:
    if x is None:
        return None
    try:
        x = float(x)
    except (TypeError, ValueError):
        return None
    return x if math.isfinite(x) else None


def _jsonable(obj: Any) -> Any:
    """Recursively turn numpy scalars/arrays and NaN into JSON-ready values (None for NaN)."""
    if isinstance(obj, Mapping):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, (bool, np.bool_)):
        return bool(obj)
    if isinstance(obj, (int, np.integer)):
        return int(obj)
    if isinstance(obj, (float, np.floating)):
        return _f(obj)
    if isinstance(obj, np.ndarray):
        return _jsonable(obj.tolist())
    if isinstance(obj, Moments):
        return _jsonable(obj.to_dict())
    return obj


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

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (None for NaN), keys as in DESIGN.md's results.json contract."""
        return _jsonable({
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
                "description": "per arm: n, column means, sample variances and covariances (n - 1); "
                "every estimate is a closed-form function of these",
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
                    f"margin {g['margin']}  -> {'non-inferior' if g['non_inferior'] else 'FAILED'}"
                )
        for arm, r in self.roi.get("per_arm", {}).items():
            roi = r.get("roi", {})
            lines.append(f"ROI {arm}: {num(roi.get('estimate'))} {ci(roi.get('ci'))}; "
                         f"net incremental profit scaled {num(r.get('scaled', {}).get('net_incremental_profit', {}).get('estimate'))}")
        lines.append(f"Sequential: {self.sequential.get('method')}")
        d = self.decision
        lines.append(f"Decision: {'SHIP' if d.get('ship') else 'do not ship'} - {d.get('rule')}")
        for n in self.notes:
            lines.append(f"note: {n}")
        return "\n".join(lines)


# --------------------------------------------------------------------------- helpers


def _row_from(comp: stats.Comparison) -> dict[str, Any]:
    return comp.to_dict()


def _compare(
    kind: str,
    arm: Moments,
    ctrl: Moments,
    column: str,
    denominator: str = "",
    covariate: str = "",
    denominator_covariate: str = "",
    confidence: float = 0.95,
) -> tuple[stats.Comparison, stats.Comparison | None]:
    """(main comparison, unadjusted comparison if CUPED else None) for one metric."""
    if kind == "ratio":
        for who, m in (("arm", arm), ("control", ctrl)):
            if m.mean_of(denominator) == 0:
                raise DataError(f"outcomes: denominator column '{denominator}' averages 0 in the {who}; "
                                "a ratio metric needs a non-zero denominator")
        raw = stats.compare_ratios(arm.ratio(column, denominator), ctrl.ratio(column, denominator), confidence)
        if covariate:
            adj = stats.compare_adjusted_ratios(arm, ctrl, column, denominator, covariate,
                                                denominator_covariate or denominator, confidence)
            return adj, raw
        return raw, None
    if kind == "proportion":
        raw = stats.compare_proportions(arm.proportion(column), ctrl.proportion(column), confidence)
    else:
        raw = stats.compare_means(arm.sample_mean(column), ctrl.sample_mean(column), confidence)
    if covariate:
        adj = stats.compare_adjusted(arm.adjusted(column, covariate), ctrl.adjusted(column, covariate),
                                     confidence, kind=kind)
        return adj, raw
    return raw, None


def _unadjusted_block(raw: stats.Comparison) -> dict[str, Any]:
    d = raw.to_dict()
    return {k: d[k] for k in ("mean_arm", "mean_control", "abs_effect", "abs_ci", "rel_effect", "rel_ci",
                              "p_value", "method")}


def _metric_columns(m: Any) -> dict[str, str]:
    out = {m.column: f"metric '{m.name}'"}
    if m.denominator:
        out[m.denominator] = f"denominator of '{m.name}'"
    if getattr(m, "covariate", ""):
        out[m.covariate] = f"covariate of '{m.name}'"
    if getattr(m, "denominator_covariate", ""):
        out[m.denominator_covariate] = f"denominator covariate of '{m.name}'"
    return out


def check_binary(df: pd.DataFrame, col: str, role: str, label: str = "outcomes") -> None:
    """Refuse a proportion column holding anything but 0 and 1 (one line naming the column and the fix)."""
    s = df[col]
    if pd.api.types.is_bool_dtype(s) or len(s) == 0:
        return
    values = s.to_numpy()
    lo, hi = float(values.min()), float(values.max())
    integer = pd.api.types.is_integer_dtype(s)
    if lo < 0 or hi > 1 or (not integer and not bool(((values == 0) | (values == 1)).all())):
        raise DataError(
            f"{label}: column '{col}' ({role}, kind proportion) holds values other than 0 and 1 "
            f"(range {lo:g} to {hi:g}); use a 0/1 column or set kind = \"mean\""
        )


# --------------------------------------------------------------------------- the function the readout calls


def analyse_metrics(
    spec: Any,
    outcomes: pd.DataFrame,
    arm_column: str,
    control: str,
    *,
    engine: str = "pandas",
) -> MetricsResult:
    """Every metric, guardrail, funnel stage, segment cell and the ROI of each arm against ``control``.

    One aggregation pass over ``outcomes`` (``engine`` "pandas" or "duckdb") gives the
    per-(arm x segment) sufficient statistics; everything else is closed form (see the
    module docstring and :mod:`uplift.stats.compare` for formulas). Raises
    :class:`~uplift.errors.DataError` (one line) for a missing or text column, missing
    values, a non-0/1 proportion column, an arm with no customers, or an unknown arm.
    """
    if engine not in ("pandas", "duckdb"):
        raise ValueError("engine must be 'pandas' or 'duckdb'")
    st = _settings(spec)
    analysis = st["analysis"]
    segments = st["segments"]
    notes: list[str] = []

    # ---------------------------------------------------------------- arms
    if not isinstance(outcomes, pd.DataFrame):
        raise DataError("outcomes: expected a pandas DataFrame")
    if arm_column not in outcomes.columns:
        raise DataError(f"outcomes: arm column '{arm_column}' not found; set [analysis] arm_column or join the ledger")
    arm_values = outcomes[arm_column]
    nnull = int(arm_values.isna().sum())
    if nnull:
        raise DataError(f"outcomes: arm column '{arm_column}' is empty for {nnull} of {len(outcomes)} rows; "
                        "join the ledger so every customer has an arm, or remove and report those rows")
    unit = getattr(spec, "unit", "")
    if unit and unit in outcomes.columns and not pd.Index(outcomes[unit]).is_unique:
        n_dup = int(outcomes[unit].duplicated().sum())
        raise DataError(f"outcomes: {n_dup} duplicate ids in unit column '{unit}' (a unit counted twice, or in two arms); "
                        "give one outcome row per unit")
    if isinstance(arm_values.dtype, pd.CategoricalDtype):
        raw_counts = np.bincount(arm_values.cat.codes.to_numpy(), minlength=len(arm_values.cat.categories))
        counts = pd.Series(raw_counts, index=[str(c) for c in arm_values.cat.categories])
    else:
        counts = arm_values.value_counts()
        counts.index = [str(a) for a in counts.index]
        counts = counts.groupby(level=0).sum()
    for a in counts.index[counts == 0]:
        notes.append(f"arm '{a}' is a category of column '{arm_column}' but has no customers; it is left out")
    counts = counts[counts > 0]
    arms_order, treat_arms = _arms_from_counts(spec, counts, arm_column, control, analysis)

    # ---------------------------------------------------------------- columns
    plan = _column_plan(spec, outcomes.columns, notes)
    roles, binaries = plan["roles"], plan["binaries"]
    for s in segments:
        if s not in outcomes.columns:
            raise DataError(f"outcomes: segment column '{s}' (from [analysis] segments) not found; remove it or add the column")
        nvals = outcomes[s].nunique(dropna=False)
        if nvals > _MAX_SEGMENT_VALUES:
            raise DataError(f"outcomes: segment column '{s}' has {nvals} distinct values; segments need a "
                            f"categorical column with at most {_MAX_SEGMENT_VALUES} values (band it first)")
        nmiss = int(outcomes[s].isna().sum())
        if nmiss:
            raise DataError(f"outcomes: segment column '{s}' is missing for {nmiss} of {len(outcomes)} rows; "
                            "fill it (e.g. 'unknown') before the readout")
    check_numeric_columns(outcomes, roles)
    for c, r in binaries.items():
        check_binary(outcomes, c, r)
    columns = list(roles)

    # ---------------------------------------------------------------- the one aggregation pass
    by = [arm_column] + segments
    if engine == "pandas":
        frame = outcomes
        if not (pd.api.types.is_string_dtype(outcomes[arm_column]) or isinstance(outcomes[arm_column].dtype, pd.CategoricalDtype)):
            frame = outcomes.assign(**{arm_column: outcomes[arm_column].astype(str)})
        cells = aggregate_frame(frame, by, columns, check=False)
    else:
        # the embedded DuckDB over the frame (Arrow, zero-copy where possible): the same one query as for
        # files (uplift.data.engine.aggregate), with only the covariances the estimators read
        import ibis

        from uplift.data import engine as engines
        from uplift.data.source import Source

        frame = outcomes[list(dict.fromkeys(by + columns))].assign(**{arm_column: outcomes[arm_column].astype(str)})
        cells = engines.aggregate(Source("ibis", "outcomes", _table=ibis.memtable(frame)), by, columns,
                                  pairs=needed_pairs(spec, plan), roles=roles)
    return _finish(spec, st, cells, plan, arm_column, control, arms_order, treat_arms, notes, engine)


def needed_pairs(spec: Any, plan: Mapping[str, Any]) -> list[tuple[str, str]]:
    """The column pairs whose covariance some estimator reads (the rest are never computed by an engine).

    CUPED mean: (outcome, covariate); ratio: every pair of (numerator, denominator, covariate,
    denominator covariate); ROI: every pair of (margin, cannibalised, cost to serve, conversion);
    APC: (products before, conversion).
    """
    groups: list[list[str]] = []
    for m in list(spec.metrics) + list(spec.guardrails):
        groups.append([c for c in (m.column, m.denominator, getattr(m, "covariate", ""),
                                   getattr(m, "denominator_covariate", "")) if c])
    econ = plan["econ_cols"]
    groups.append([c for c in (econ["margin_column"], econ["cannibalised_column"], econ["cost_to_serve_column"],
                               plan["conv_col"]) if c])
    if plan["products_col"] and plan["conv_col"]:
        groups.append([plan["products_col"], plan["conv_col"]])
    out: list[tuple[str, str]] = []
    for g in groups:
        g = list(dict.fromkeys(g))
        out.extend((a, b) for i, a in enumerate(g) for b in g[i + 1:])
    return list(dict.fromkeys(out))


def analyse_source(spec: Any, source: Any, arm_column: str | None = None, control: str | None = None) -> MetricsResult:
    """:func:`analyse_metrics` on rows that stay where they are (a Parquet/CSV file read by DuckDB,
    an Ibis table on DuckDB, Spark or another engine; a DataFrame goes to :func:`analyse_metrics`).

    ONE aggregation query in the source's engine (:func:`uplift.data.engine.aggregate`) returns, per
    (arm x segment) cell, the count, means, sample variances and the covariances the estimators
    read (:func:`needed_pairs`), and the counts the input checks need; everything after is the same
    closed-form code as for pandas. ``arm_column``/``control`` default to the spec's.
    """
    from uplift.data import engine as engines
    from uplift.data.source import open_source

    src = open_source(source)
    arm_column = arm_column or spec.arm_column
    control = str(control or spec.control_arm)
    if src.kind == "pandas":
        return analyse_metrics(spec, src.frame, arm_column, control)
    label = src.label
    st = _settings(spec)
    segments = st["segments"]
    notes: list[str] = []
    available = src.columns
    if arm_column not in available:
        raise DataError(f"{label}: arm column '{arm_column}' not found; set [analysis] arm_column or join the ledger")
    for s in segments:
        if s not in available:
            raise DataError(f"{label}: segment column '{s}' (from [analysis] segments) not found; remove it or add the column")
    plan = _column_plan(spec, available, notes)
    roles, binaries = plan["roles"], plan["binaries"]
    cells = engines.aggregate(src, [arm_column] + segments, list(roles), pairs=needed_pairs(spec, plan),
                              binary=list(binaries), roles=roles)
    for j, s in enumerate(segments):
        nvals = len({k[1 + j] for k in cells})
        if nvals > _MAX_SEGMENT_VALUES:
            raise DataError(f"{label}: segment column '{s}' has {nvals} distinct values; segments need a "
                            f"categorical column with at most {_MAX_SEGMENT_VALUES} values (band it first)")
    cells = {tuple([str(k[0])] + list(k[1:])): v for k, v in cells.items()}
    counts = pd.Series({a: 0 for a in sorted({k[0] for k in cells})}, dtype=np.int64)
    for k, v in cells.items():
        counts[k[0]] += v.n
    arms_order, treat_arms = _arms_from_counts(spec, counts, arm_column, control, st["analysis"], label)
    return _finish(spec, st, cells, plan, arm_column, control, arms_order, treat_arms, notes, src.engine)


def _settings(spec: Any) -> dict[str, Any]:
    """The readout's settings from the spec (alpha, sidedness, confidence, minimum cell, segments)."""
    design = spec.section("design")
    analysis = spec.section("analysis")
    econ = spec.section("economics")
    alpha = float(design.get("alpha") or 0.05)
    alternative = design.get("alternative") or "two-sided"
    confidence = float(analysis.get("confidence") or 0.95)
    min_cell = int(analysis.get("min_cell_size") or 50)
    segments = [s for s in (analysis.get("segments") or [])]
    return {"design": design, "analysis": analysis, "econ": econ, "alpha": alpha, "alternative": alternative,
            "confidence": confidence, "min_cell": min_cell, "segments": segments}


def _arms_from_counts(spec: Any, counts: pd.Series, arm_column: str, control: str,
                      analysis: Mapping[str, Any], label: str = "outcomes") -> tuple[tuple[str, ...], list[str]]:
    """(control first + treated arms, treated arms) from the customer count per arm (> 0), with the checks."""
    present = [str(a) for a in counts.index]
    if str(control) not in present:
        raise DataError(f"{label}: control arm '{control}' has no customers in column '{arm_column}' "
                        f"(arms found: {', '.join(sorted(present)) or 'none'}); check [assignment] control / [analysis] control")
    declared = [str(a) for a in (spec.arms or {})]
    if declared and not analysis.get("arm_column"):
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
            raise DataError(f"{label}: arm '{a}' has {int(counts[a])} customer in column '{arm_column}'; "
                            "each arm needs at least 2 customers for an interval")
    treat_arms = sorted(a for a in present if a != str(control))
    if not treat_arms:
        raise DataError(f"{label}: column '{arm_column}' holds only the control arm '{control}'; "
                        "there is nothing to compare")
    arms_order = tuple([str(control)] + treat_arms)
    return arms_order, treat_arms


def _column_plan(spec: Any, available: Any, notes: list[str]) -> dict[str, Any]:
    """Which columns the readout aggregates, and why: roles (column -> role), 0/1 columns, the
    conversion, economics and products columns, and the funnel stages."""
    econ = spec.section("economics")
    available = set(map(str, available))
    roles: dict[str, str] = {}
    binaries: dict[str, str] = {}
    for m in list(spec.metrics) + list(spec.guardrails):
        for c, r in _metric_columns(m).items():
            roles.setdefault(c, r)
        if m.kind == "proportion":
            binaries.setdefault(m.column, f"metric '{m.name}'")
    funnel_stages = list(spec.section("funnel").get("stages") or [])
    for s in funnel_stages:
        roles.setdefault(s, "funnel stage")
        binaries.setdefault(s, "funnel stage")
    conv_col = econ.get("conversion_column") or next(
        (m.column for m in spec.metrics if m.primary and m.kind == "proportion"), "")
    if conv_col:
        roles.setdefault(conv_col, "[economics] conversion_column")
        binaries.setdefault(conv_col, "conversion")
    econ_cols = {k: econ.get(k) or "" for k in ("revenue_column", "margin_column", "cannibalised_column",
                                                 "cost_to_serve_column")}
    for k, c in econ_cols.items():
        if c:
            roles.setdefault(c, f"[economics] {k}")
    products_col = spec.section("clv").get("products_column") or ("products_held" if "products_held" in available else "")
    if products_col and products_col in available:
        roles.setdefault(products_col, "products held before the campaign")
    elif products_col:
        notes.append(f"APC not computed: products column '{products_col}' is not in the outcomes")
        products_col = ""
    return {"roles": roles, "binaries": binaries, "funnel_stages": funnel_stages, "conv_col": conv_col,
            "econ_cols": econ_cols, "products_col": products_col}


def _finish(spec: Any, st: Mapping[str, Any], cells: Mapping[tuple, Moments], plan: Mapping[str, Any],
            arm_column: str, control: str, arms_order: tuple[str, ...], treat_arms: list[str],
            notes: list[str], engine: str) -> MetricsResult:
    """Everything after the one aggregation: derived measures, pooling to arms, estimates, tests,
    decision, funnel, segments, ROI and catalogue - closed form on the small table of cells."""
    design, econ = st["design"], st["econ"]
    alpha, alternative, confidence = st["alpha"], st["alternative"], st["confidence"]
    min_cell, segments = st["min_cell"], st["segments"]
    funnel_stages, conv_col, econ_cols, products_col = (plan["funnel_stages"], plan["conv_col"],
                                                        plan["econ_cols"], plan["products_col"])
    cells = {tuple([str(k[0])] + list(k[1:])): v for k, v in cells.items()}

    def derive(m: Moments) -> Moments:
        if econ_cols["margin_column"]:
            w = {econ_cols["margin_column"]: 1.0}
            if econ_cols["cannibalised_column"]:
                w[econ_cols["cannibalised_column"]] = w.get(econ_cols["cannibalised_column"], 0.0) - 1.0
            if econ_cols["cost_to_serve_column"]:
                w[econ_cols["cost_to_serve_column"]] = w.get(econ_cols["cost_to_serve_column"], 0.0) - 1.0
            m = m.with_linear(_NET, w)
        if products_col and conv_col:
            m = m.with_linear(_AFTER, {products_col: 1.0, conv_col: 1.0})
        return m

    cells = {k: derive(v) for k, v in cells.items()}
    per_arm = {a: pool(v for k, v in cells.items() if k[0] == a) for a in arms_order}
    ctrl = per_arm[str(control)]

    # ---------------------------------------------------------------- sequential looks
    looks = int(design.get("looks") or 1)
    current = design.get("current_look")
    if looks > 1:
        if current is None:
            current = looks
            notes.append(f"[design] looks = {looks} but current_look is not set: analysed as the final look")
        bounds = obrien_fleming_boundaries(looks, alpha)
        c_k = bounds.z[current - 1]
        nominal = bounds.nominal_alpha[current - 1]
        sequential = {
            "method": f"group-sequential: {bounds.method}; look {current} of {looks}",
            "look": int(current), "looks": looks, "boundary_z": c_k, "nominal_alpha_this_look": nominal,
            "final_look": current == looks, **bounds.to_dict(),
            "applies_to": "primary metrics (decision and repeated confidence intervals est +- boundary_z x se)",
        }
    else:
        c_k, nominal = None, alpha
        sequential = {"method": "single look", "look": 1, "looks": 1, "boundary_z": None,
                      "nominal_alpha_this_look": alpha, "final_look": True}

    # ---------------------------------------------------------------- metrics
    metric_rows: list[dict] = []
    for m in spec.metrics:
        for a in treat_arms:
            comp, raw = _compare(m.kind, per_arm[a], ctrl, m.column, m.denominator, m.covariate,
                                 m.denominator_covariate, confidence)
            row = {"metric": m.name, "arm": a, "control": str(control), **_row_from(comp)}
            if alternative != "two-sided":
                row["p_value_two_sided"] = row["p_value"]
                row["p_value"] = comp.one_sided_p(alternative)
            row.update(alternative=alternative, kind=m.kind, column=m.column, denominator=m.denominator or None,
                       covariate=m.covariate or None, primary=bool(m.primary),
                       family="primary" if m.primary else "secondary", cuped=raw is not None,
                       unadjusted=_unadjusted_block(raw) if raw is not None else None,
                       description=m.description)
            if m.primary and c_k is not None:
                row["sequential_ci"] = [comp.estimate - c_k * comp.se, comp.estimate + c_k * comp.se]
            metric_rows.append(row)
    prim = [i for i, r in enumerate(metric_rows) if r["primary"]]
    sec = [i for i, r in enumerate(metric_rows) if not r["primary"]]
    for idxs, fn, name in ((prim, holm, "holm"), (sec, benjamini_hochberg, "benjamini-hochberg")):
        adj = fn([metric_rows[i]["p_value"] for i in idxs])
        for i, p in zip(idxs, adj):
            r = metric_rows[i]
            level = nominal if r["primary"] else alpha
            r["p_value_adjusted"] = p
            r["adjustment"] = name
            r["adjustment_family_size"] = len(idxs)
            r["significant"] = p is not None and p < level
            r["alpha_used"] = level
            good = (r["abs_effect"] or 0) < 0 if alternative == "smaller" else (r["abs_effect"] or 0) > 0
            r["improved"] = bool(r["significant"] and good)

    # ---------------------------------------------------------------- guardrails
    guard_rows: list[dict] = []
    for g in spec.guardrails:
        for a in treat_arms:
            comp, _ = _compare(g.kind, per_arm[a], ctrl, g.column, g.denominator, "", "", confidence)
            ni = stats.noninferiority(comp, g.margin, g.bad_direction, alpha=alpha / 2)
            row = {"metric": g.name, "arm": a, "control": str(control), **_row_from(comp), **ni.to_dict()}
            row.update(kind=g.kind, column=g.column, primary=False, family="guardrail", cuped=False,
                       description=g.description)
            guard_rows.append(row)

    # ---------------------------------------------------------------- decision
    per_arm_decision = {}
    for a in treat_arms:
        improved = [r["metric"] for r in metric_rows if r["arm"] == a and r["primary"] and r["improved"]]
        failed = [g["metric"] for g in guard_rows if g["arm"] == a and not g["non_inferior"]]
        per_arm_decision[a] = {"ship": bool(improved and not failed), "success_metrics_improved": improved,
                               "guardrails_failed": failed}
    ship_arms = [a for a, d in per_arm_decision.items() if d["ship"]]
    decision = {
        "rule": ("ship an arm only if a primary (success) metric improved significantly (Holm-adjusted "
                 f"p < {nominal:.4g}{' at this look' if c_k is not None else ''}, "
                 f"effect {'< 0' if alternative == 'smaller' else '> 0'}) and every guardrail is "
                 f"non-inferior (one-sided p < {alpha / 2:g} against its margin)"),
        "ship": bool(ship_arms),
        "ship_arms": ship_arms,
        "success_metrics_improved": [f"{m} ({a})" for a, d in per_arm_decision.items() for m in d["success_metrics_improved"]],
        "guardrails_failed": [f"{m} ({a})" for a, d in per_arm_decision.items() for m in d["guardrails_failed"]],
        "per_arm": per_arm_decision,
    }
    if c_k is not None and not sequential["final_look"] and not ship_arms:
        decision["interim"] = f"no boundary crossed at look {current} of {looks}: continue to the next look"

    # ---------------------------------------------------------------- funnel
    funnel = _funnel(funnel_stages, per_arm, arms_order, treat_arms, str(control), confidence)

    # ---------------------------------------------------------------- segments
    primary_metric = next((m for m in spec.metrics if m.primary), None)
    seg_out = _segments(segments, cells, arms_order, treat_arms, str(control), primary_metric, min_cell, confidence)

    # ---------------------------------------------------------------- ROI and catalogue
    n_total = int(sum(m.n for m in per_arm.values()))
    roi = _roi(econ, econ_cols, conv_col, per_arm, treat_arms, str(control), n_total, confidence, notes)
    catalogue = _catalogue(per_arm, treat_arms, str(control), conv_col, products_col, confidence)

    return MetricsResult(
        arm_column=arm_column, control=str(control), arms=arms_order, alpha=alpha, confidence=confidence,
        metrics=tuple(metric_rows), guardrails=tuple(guard_rows), decision=decision, funnel=funnel,
        segments=seg_out, roi=roi, catalogue=catalogue, sequential=sequential,
        arm_statistics={a: per_arm[a].select([c for c in per_arm[a].columns]) for a in arms_order},
        cells=cells, segment_columns=tuple(segments), notes=tuple(notes), engine=engine,
    )


# --------------------------------------------------------------------------- pieces


def _funnel(stages: Sequence[str], per_arm: Mapping[str, Moments], arms: Sequence[str], treat: Sequence[str],
            control: str, confidence: float) -> dict:
    if not stages:
        return {}
    rates = {a: {s: per_arm[a].mean_of(s) for s in stages} for a in arms}
    conditional = {
        a: {s: (per_arm[a].mean_of(s) / per_arm[a].mean_of(prev) if per_arm[a].mean_of(prev) > 0 else None)
            for prev, s in zip(stages[:-1], stages[1:])}
        for a in arms
    }
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
        "effects": rows,
    }


def _segments(segments: Sequence[str], cells: Mapping[tuple, Moments], arms: Sequence[str], treat: Sequence[str],
              control: str, metric: Any, min_cell: int, confidence: float) -> dict:
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
                    comp, _ = _compare(metric.kind, pool(agg[a]), pool(agg[control]), metric.column,
                                       metric.denominator, metric.covariate, metric.denominator_covariate, confidence)
                    row.update(suppressed=False, **comp.to_dict())
                rows.append(row)
        out["by"][seg] = rows
        rows_all.extend(rows)
    adj = benjamini_hochberg([r["p_value"] for r in rows_all])
    for r, p in zip(rows_all, adj):
        r["p_value_adjusted"] = p
    return out


def _delta_ci(est: float, var: float, z: float) -> dict:
    se = math.sqrt(var) if var >= 0 else float("nan")
    return {"estimate": est, "se": se, "ci": [est - z * se, est + z * se]}


def _roi(econ: Mapping[str, Any], cols: Mapping[str, str], conv_col: str, per_arm: Mapping[str, Moments],
         treat: Sequence[str], control: str, n_total: int, confidence: float, notes: list[str]) -> dict:
    """Incremental revenue, profit, cost, ROI and cost per incremental conversion per treated customer.

    Per treated customer in arm a (means over the arm minus over control):
    ``d_pi = mean(net)_a - mean(net)_c`` with net = margin - cannibalised - cost to serve;
    cost ``c = contact + incentive p_a``; ROI ``= (d_pi - c)/c``; delta-method variance with
    gradient (1/c, -d_pi incentive/c^2, -1/c) in (mean(net)_a, p_a, mean(net)_c) and the
    arm's covariance of (net, converted). Cost per incremental conversion ``c/(p_a - p_c)``,
    delta method, reported only when the interval of p_a - p_c excludes 0.
    Scaled totals multiply by N, the eligible population ([economics] eligible_population,
    else the analysed customers), treating N as fixed.
    """
    from scipy import stats as st

    z = float(st.norm.ppf(0.5 + confidence / 2))
    k0 = float(econ.get("contact_cost") or 0.0)
    k1 = float(econ.get("incentive_cost") or 0.0)
    N = econ.get("eligible_population") or n_total
    out: dict[str, Any] = {
        "assumptions": [
            "per treated customer: every customer in an offer arm is contacted (contact_cost each) and each "
            "conversion in an offer arm earns the incentive (incentive_cost each); the control arm costs nothing",
            "incremental profit = difference in mean (margin - cannibalised margin - cost to serve) between arm and control",
            "ROI = (incremental profit - campaign cost) / campaign cost, per treated customer",
            f"scaled to N = {N} customers ({'[economics] eligible_population' if econ.get('eligible_population') else 'the analysed customers'}), N treated as fixed",
            "intervals: normal approximation, delta method",
        ],
        "contact_cost": k0, "incentive_cost": k1, "eligible_population": int(N),
        "columns": {**{k: v or None for k, v in cols.items()}, "conversion_column": conv_col or None},
        "per_arm": {},
    }
    if not cols["margin_column"] or not conv_col:
        notes.append("ROI not computed: " + ("set [economics] margin_column and conversion_column (or a primary proportion metric)"
                                             if econ else "the spec has no [economics] section"))
        out["per_arm"] = {}
        return out
    c = per_arm[control]
    for a in treat:
        t = per_arm[a]
        n1, n0 = t.n, c.n
        p1, p0 = t.mean_of(conv_col), c.mean_of(conv_col)
        vp1, vp0 = t.var(conv_col) / n1, c.var(conv_col) / n0
        pi1, pi0 = t.mean_of(_NET), c.mean_of(_NET)
        vpi1, vpi0 = t.var(_NET) / n1, c.var(_NET) / n0
        cov1 = t.cov(_NET, conv_col) / n1
        dpi = pi1 - pi0
        dp = p1 - p0
        cost = k0 + k1 * p1
        var_cost = k1 * k1 * vp1
        res: dict[str, Any] = {}
        if cols["revenue_column"]:
            rc = stats.compare_means(t.sample_mean(cols["revenue_column"]), c.sample_mean(cols["revenue_column"]), confidence)
            res["incremental_revenue"] = {"estimate": rc.estimate, "se": rc.se, "ci": list(rc.ci)}
        res["incremental_conversion_rate"] = _delta_ci(dp, vp1 + vp0, z)
        res["incremental_profit"] = _delta_ci(dpi, vpi1 + vpi0, z)
        res["campaign_cost"] = _delta_ci(cost, var_cost, z)
        net = dpi - cost
        var_net = vpi1 - 2 * k1 * cov1 + k1 * k1 * vp1 + vpi0
        res["net_incremental_profit"] = _delta_ci(net, var_net, z)
        if cost > 0:
            g1, gp, g0 = 1 / cost, -dpi * k1 / cost**2, -1 / cost
            var_roi = g1 * g1 * vpi1 + 2 * g1 * gp * cov1 + gp * gp * vp1 + g0 * g0 * vpi0
            res["roi"] = _delta_ci(net / cost, var_roi, z)
        else:
            res["roi"] = {"estimate": None, "se": None, "ci": None, "note": "campaign cost is 0"}
        dp_ci = (dp - z * math.sqrt(vp1 + vp0), dp + z * math.sqrt(vp1 + vp0))
        if dp != 0:
            cpic = cost / dp
            gA, gB = k1 / dp - cost / dp**2, cost / dp**2
            var_cpic = gA * gA * vp1 + gB * gB * vp0
            if dp_ci[0] > 0 or dp_ci[1] < 0:
                res["cost_per_incremental_conversion"] = _delta_ci(cpic, var_cpic, z)
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
        out["per_arm"][a] = res
    return out


def _catalogue(per_arm: Mapping[str, Moments], treat: Sequence[str], control: str, conv_col: str,
               products_col: str, confidence: float) -> dict:
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
            adj = stats.compare_adjusted(per_arm[a].adjusted(_AFTER, products_col),
                                         per_arm[control].adjusted(_AFTER, products_col), confidence)
            raw = stats.compare_means(per_arm[a].sample_mean(_AFTER), per_arm[control].sample_mean(_AFTER), confidence)
            rows.append({"arm": a, "control": control, **adj.to_dict(), "unadjusted": _unadjusted_block(raw)})
        out["apc"] = {
            "columns": {"before": products_col, "after": f"{products_col} + {conv_col}"},
            "definition": "average products per customer; incremental change = CUPED difference in APC after, "
                          "with APC before as covariate",
            "before": {a: per_arm[a].mean_of(products_col) for a in per_arm},
            "after": {a: per_arm[a].mean_of(_AFTER) for a in per_arm},
            "change": {a: per_arm[a].mean_of(_AFTER) - per_arm[a].mean_of(products_col) for a in per_arm},
            "effects": rows,
        }
    return out
