"""Customer lifetime value (CLV) uplift of an experiment, with survival-curve discounting.

Finance values a cross-sell by what it does to customer lifetime value. Per arm,

    CLV = sum_{t in grid} V(t) / (1 + d)^t,   V(t) = E[m 1{T > t}] = S(t) * mbar(t),

where T is the customer's lifetime in whole periods (T = t: churned in period t),
S(t) = P(T > t) the survival curve, mbar(t) the mean margin per period of the
customers still present after period t (net of cannibalised margin and cost to
serve: the spec's ``margin_per_period_column``), d = (1 + annual)^(1/periods_per_year) - 1
the period discount rate, and the grid t = 1..H ("end" timing: a period's margin
arrives at its end if the customer is still there) or t = 0..H-1 ("start": paid
in advance). This is the expected-CLV formula of Fader & Hardie (2007, "How to
Project Customer Retention", eq. 1; 2010, Marketing Science 29(1)) with a margin
that may differ between the customers who stay and those who leave (converters
have both a higher margin and a lower churn, so mean margin x survival is biased).

The pieces, each in its own module:

* :mod:`uplift.clv.models`: the parametric retention models (sBG, discrete Weibull) and DERL;
* :mod:`uplift.clv.discounting`: the period discount rate and the discount factors of the grid;
* :mod:`uplift.clv.estimator`: the estimator of V(t) and CLV from the life-table cells of one arm,
  the extrapolation beyond the observed periods and the delta-method variance (described there);
* :mod:`uplift.clv.result`: the result objects (``clv`` block of results.json, summary, plots).

Here the entry points: :func:`clv_analysis` (the readout's), :func:`clv_from_spec_table` and
:func:`clv_from_life_table` (any engine's life table), :func:`retention_by_products`, and
:func:`bootstrap_incremental_clv`, a check of the delta-method interval. Arms are independent
samples, so the incremental CLV has variance Var_arm + Var_control.
"""

from __future__ import annotations

import math
from typing import Any, Sequence

import numpy as np
import pandas as pd
from scipy import stats

from uplift.clv.estimator import (
    ArmCells,
    EstimatorConfig,
    arm_cells,
    cells_life_table,
    clv_point,
    estimate_arm,
    pad_cells,
    select_extrapolation,
)
from uplift.clv.finance import incremental_horizon_value, influence_check, lifetime_roi
from uplift.clv.models import HazardModel
from uplift.clv.result import ArmCLV, CLVResult, IncrementalCLV
from uplift.data import collect
from uplift.data.facts import ARM, GROUP
from uplift.data.source import open_source
from uplift.errors import DataError, SpecError
from uplift.spec.schema import MAX_PERIODS
from uplift.survival.estimators import KaplanMeier, kaplan_meier, logrank_test, rmst_difference
from uplift.text import Msg

__all__ = [
    "CLVResult",
    "clv_from_life_table",
    "clv_from_spec_table",
    "clv_analysis",
    "bootstrap_incremental_clv",
    "retention_by_products",
    "conversion_column",
    "tenure_bound",
    "margin_definition",
]


def clv_from_life_table(
    table: pd.DataFrame,
    arm_column: str,
    control: str,
    horizon_periods: int = 60,
    annual_discount_rate: float = 0.08,
    periods_per_year: int = 12,
    margin_timing: str = "end",
    extrapolation: str = "auto",
    confidence: float = 0.95,
    eligible_population: int | None = None,
    label: str = "data",
    contact_cost: float = 0.0,
    incentive_cost: float = 0.0,
    conversion_table: pd.DataFrame | None = None,
    conversion_column: str = "",
) -> CLVResult:
    """CLV per arm and incremental CLV from a life table by arm (see :func:`uplift.survival.estimators.life_table`).

    The estimator, its variance and the extrapolation are described in :mod:`uplift.clv.estimator`:
    the cells of each arm on one common grid, the extrapolation family chosen once for all arms
    (:func:`~uplift.clv.estimator.select_extrapolation`), CLV per arm with its interval
    (:func:`~uplift.clv.estimator.estimate_arm`), then the incremental CLV of each arm over control
    (difference of independent estimates: se = sqrt(se_arm^2 + se_control^2), normal interval and
    two-sided p-value), the log-rank test and the RMST differences; the value in the first year and,
    with campaign costs, the lifetime ROI of each arm, and the leave-one-out influence check
    (:mod:`uplift.clv.finance`). ``conversion_table``: the life table by arm and ``conversion_column``
    (0/1), needed for the ROI's interval when ``incentive_cost`` > 0.
    """
    EstimatorConfig(horizon_periods, periods_per_year, annual_discount_rate, margin_timing, None).grid()  # validates
    if extrapolation not in ("auto", "sbg", "weibull", "none"):
        raise SpecError(f"[clv] extrapolation = {extrapolation!r}: use 'auto', 'sbg', 'weibull' or 'none'")
    cells = _cells_by_arm(table, arm_column, control, label)
    size = len(next(iter(cells.values())).n_event)
    fitted: dict[tuple[str, str], HazardModel] = {}
    family, selection = select_extrapolation(cells, extrapolation, needs_tail=horizon_periods > size - 1, fitted=fitted)
    cfg = EstimatorConfig(horizon_periods, periods_per_year, annual_discount_rate, margin_timing, family)
    arms = {arm: estimate_arm(c, cfg, fitted, confidence) for arm, c in cells.items()}
    incs = _incremental(arms, control, confidence, eligible_population)
    starts = {a: (fitted[(family, a)].theta_ if (family, a) in fitted else None) for a in cells}
    influence = influence_check(cells, cfg, arms, incs, control, starts)
    incs = tuple(_with_finance(i, arms, cells, control, periods_per_year, contact_cost, incentive_cost,
                               _converted_cells(conversion_table, arm_column, conversion_column, size, label),
                               confidence) for i in incs)
    lr_table = pd.concat([cells_life_table(c).assign(_arm=a) for a, c in cells.items()], ignore_index=True)
    lr = logrank_test(lr_table, "_arm")
    rdiffs = tuple(rmst_difference(arms[a].rmst, arms[control].rmst) for a in arms if a != control)
    return CLVResult(
        control=control, arms=arms, incremental=incs, logrank=lr, rmst_differences=rdiffs,
        horizon_periods=horizon_periods, periods_per_year=periods_per_year,
        annual_discount_rate=annual_discount_rate, period_discount_rate=cfg.period_rate,
        margin_timing=margin_timing, extrapolation=extrapolation, family=family, selection=selection,
        confidence=confidence, notes=_horizon_notes(family, horizon_periods, size - 1) + tuple(influence["notes"]),
        influence=influence,
    )


def _converted_cells(table: pd.DataFrame | None, arm_column: str, conversion_column: str, size: int,
                     label: str) -> dict[str, tuple[np.ndarray, np.ndarray]] | None:
    """Per arm, the converted customers' count and margin sum in each cell (events then censored)."""
    if table is None or not conversion_column:
        return None
    flag = pd.to_numeric(table[conversion_column], errors="coerce")
    out = {}
    for arm, tab in table[flag == 1].groupby(arm_column, sort=True, observed=True):
        c = pad_cells(arm_cells(tab.drop(columns=[conversion_column]), str(arm), label), size)
        out[str(arm)] = (np.concatenate([c.n_event, c.n_cens]), np.concatenate([c.w_event, c.w_cens]))
    return out


def _with_finance(inc: IncrementalCLV, arms: dict[str, ArmCLV], cells: dict[str, ArmCells], control: str,
                  periods_per_year: int, contact_cost: float, incentive_cost: float,
                  converted: dict[str, tuple[np.ndarray, np.ndarray]] | None, confidence: float) -> IncrementalCLV:
    """The incremental CLV with its first-year value and, with campaign costs, its lifetime ROI."""
    from dataclasses import replace

    first = incremental_horizon_value(arms[inc.arm], arms[control], periods_per_year, confidence)
    roi = None
    if contact_cost > 0 or incentive_cost > 0:
        size = len(cells[inc.arm].n_event)
        conv = None
        if converted is not None:
            conv = converted.get(inc.arm, (np.zeros(2 * size), np.zeros(2 * size)))
        if incentive_cost > 0 and conv is None:
            roi = {"estimate": None, "se": None, "ci": None,
                   "note": "no conversion column: the cost per treated customer depends on conversions"}
        else:
            roi = lifetime_roi(inc, arms[inc.arm], cells[inc.arm], contact_cost, incentive_cost, conv, confidence)
    return replace(inc, first_year=first, lifetime_roi=roi)


def _cells_by_arm(table: pd.DataFrame, arm_column: str, control: str, label: str) -> dict[str, ArmCells]:
    """The life-table cells of each arm, padded to one common grid 0..K; refuses (one line) a missing
    control arm, a single arm, or an arm with nobody at risk in period 1."""
    cells: dict[str, ArmCells] = {}
    for arm, tab in table.groupby(arm_column, sort=True, observed=True):
        cells[str(arm)] = arm_cells(tab, str(arm), label)
    if control not in cells:
        raise DataError(f"{label}: control arm {control!r} not found in column {arm_column!r}; arms found: {', '.join(cells) or 'none'}")
    if len(cells) < 2:
        raise DataError(f"{label}: column {arm_column!r} holds only the control arm; CLV uplift needs a treated arm")
    for arm, c in cells.items():
        at_risk_1 = float((c.n_event[1:] + c.n_cens[1:]).sum())
        if at_risk_1 == 0:
            raise DataError(f"{label}: arm {arm!r} has nobody at risk in period 1 (all tenures are 0); check the tenure column")
    size = max(len(c.n_event) for c in cells.values())
    return {a: pad_cells(c, size) for a, c in cells.items()}


def _incremental(arms: dict[str, ArmCLV], control: str, confidence: float,
                 eligible_population: int | None) -> tuple[IncrementalCLV, ...]:
    """Incremental CLV of each arm over control: est = CLV_arm - CLV_control, se = hypot(se_arm, se_control)
    (independent samples), est +- z se and p = 2 (1 - Phi(|est| / se)); scaled to the eligible population
    (``[economics] eligible_population``, else the number of analysed customers)."""
    z = stats.norm.ppf(0.5 + confidence / 2)
    n_total = sum(a.n for a in arms.values())
    pop = int(eligible_population) if eligible_population else n_total
    source = "[economics] eligible_population" if eligible_population else "number of analysed customers"
    ctrl = arms[control]
    incs = []
    for arm, a in arms.items():
        if arm == control:
            continue
        est = a.clv - ctrl.clv
        se = math.hypot(a.se, ctrl.se)
        p = float(2 * stats.norm.sf(abs(est) / se)) if se > 0 else float("nan")
        incs.append(IncrementalCLV(
            arm=arm, control=control, estimate=est, se=se, lower=est - z * se, upper=est + z * se, p_value=p,
            observed_part=a.observed_part - ctrl.observed_part, tail_part=a.tail_part - ctrl.tail_part,
            eligible_population=pop, population_source=source, confidence=confidence,
        ))
    return tuple(incs)


def _horizon_notes(family: str | None, horizon_periods: int, tau_all: int) -> tuple[str, ...]:
    """What the reader must know about the horizon: not extrapolated, or within the data."""
    notes = []
    if family is None and horizon_periods > tau_all:
        notes.append(f"No extrapolation: CLV covers only the {tau_all} observed periods of the {horizon_periods}-period horizon.")
    if horizon_periods <= tau_all:
        notes.append(f"The horizon ({horizon_periods} periods) lies within the observed data: no extrapolation needed.")
    return tuple(notes)


# =========================================================================== entry points


def retention_by_products(
    outcomes: Any, tenure_column: str, churned_column: str, products_column: str,
    buckets: Sequence[int] = (1, 2, 3, 4), confidence: float = 0.95, label: str | None = None,
) -> dict[str, KaplanMeier]:
    """Kaplan-Meier survival per products-held bucket ("1", "2", "3", "4+" by default; "<1" if any).

    The business case for cross-selling: multi-product customers churn less. ``outcomes`` is anything
    :func:`uplift.data.source.open_source` reads; one group-by of the bucketed rows
    (:func:`uplift.data.collect.binned_life_table`).
    """
    source = open_source(outcomes, label=label)
    edges = list(buckets)
    names = [str(b) for b in edges[:-1]] + [f"{edges[-1]}+"]
    lt = collect.binned_life_table(source, tenure_column, churned_column, products_column, edges, names,
                                   "[clv] products_column")
    present = set(lt["bin"])
    order = [b for b in [f"<{edges[0]}", *names] if b in present]
    return {b: kaplan_meier(lt[lt["bin"] == b].drop(columns="bin").reset_index(drop=True), confidence, label=b)
            for b in order}


def clv_from_spec_table(spec: Any, table: pd.DataFrame, arm_column: str, control: str, label: str,
                        conversion_table: pd.DataFrame | None = None) -> "CLVResult":
    """:func:`clv_from_life_table` with the spec's ``[clv]``, ``[economics]`` and ``[analysis]`` settings.

    The seam every engine shares: whoever built the life table by arm (pandas here,
    DuckDB or Spark: :func:`uplift.data.collect.life_table`) hands it over, and with an incentive cost the
    life table by arm and conversion column (:func:`conversion_column`) for the lifetime ROI's interval.
    Refuses (one line) a spec arm with nobody at risk.
    """
    c = spec.clv
    if c is None:
        raise SpecError(f"{spec.label}: no [clv] section; add one with tenure_column and churned_column")
    table[arm_column] = table[arm_column].astype(str)
    expected = list(spec.arms) if spec.arms and not spec.analysis.arm_column else []
    present = set(table[arm_column])
    missing = [a for a in expected if a not in present]
    if missing:
        raise DataError(f"{label}: arm {missing[0]!r} of the spec has nobody at risk (no rows in column {arm_column!r})")
    return clv_from_life_table(
        table, arm_column, control,
        horizon_periods=c.horizon_periods, annual_discount_rate=c.annual_discount_rate,
        periods_per_year=c.periods_per_year, margin_timing=c.margin_timing,
        extrapolation=c.extrapolation, confidence=spec.analysis.confidence,
        eligible_population=spec.economics.eligible_population if spec.economics is not None else None, label=label,
        contact_cost=spec.economics.contact_cost if spec.economics is not None else 0.0,
        incentive_cost=spec.economics.incentive_cost if spec.economics is not None else 0.0,
        conversion_table=conversion_table, conversion_column=conversion_column(spec),
    )


def margin_definition(spec: Any) -> str:
    """What the CLV's margin is, in one sentence, from the spec's ``[clv]`` and ``[economics]`` settings:
    the column, per customer and period, in the spec's currency, and what it is net of (``[clv]
    margin_net_of``: cannibalised margin, cost to serve; neither declared means gross of both), beside the
    finance section's 12-month profit columns."""
    c, econ, cur = spec.clv, spec.economics, spec.experiment.currency
    if not c.margin_per_period_column:
        return Msg("No margin column: CLV counts discounted periods a customer stays, not money.")
    names = {"cannibalisation": Msg("cannibalised margin (margin lost on products the customer already held)"),
             "cost_to_serve": Msg("cost to serve")}
    short = {"cannibalisation": Msg("cannibalised margin"), "cost_to_serve": Msg("cost to serve")}
    net = [names[k] for k in ("cannibalisation", "cost_to_serve") if k in c.margin_net_of]
    gross = [short[k] for k in ("cannibalisation", "cost_to_serve") if k not in c.margin_net_of]
    head = Msg("Margin = column '{column}', per customer per period ({per_year} periods a year), in {currency}",
               column=c.margin_per_period_column, per_year=c.periods_per_year, currency=Msg(cur))
    net_part: Msg | str = ""
    if net:
        net_part = Msg(", net of {items}", items=net[0] if len(net) == 1 else Msg("{first} and {second}", first=net[0],
                                                                                 second=net[1]))
    if gross:
        gross_part = Msg("; not net of {items} (the spec does not declare it in [clv] margin_net_of)",
                         items=gross[0] if len(gross) == 1 else Msg("{first} nor of {second}", first=gross[0],
                                                                    second=gross[1]))
    else:
        gross_part = Msg(" (declared in [clv] margin_net_of)")
    finance: Msg | str = ""
    if econ is not None and econ.margin_column:
        parts = [econ.margin_column, econ.cannibalised_column, econ.cost_to_serve_column]
        finance = Msg(" The finance section's 12-month incremental profit is {formula} (undiscounted, over the 12 months "
                      "after the campaign).", formula=" - ".join(p for p in parts if p))
    return Msg("{margin}{net}{gross}.{finance}", margin=head, net=net_part, gross=gross_part, finance=finance)


def tenure_bound(spec: Any) -> tuple[int, str]:
    """The longest tenure the data can hold, in periods, and where that bound comes from: ``[clv]
    max_tenure_periods`` when set; else the periods from ``[experiment] start_date`` to ``data_as_of``,
    ceil(days / 365.25 x periods_per_year), when both are ISO dates (tenure counts periods since the
    campaign, so none can be longer); else 100 years of periods (the key's documentation in
    :mod:`uplift.spec.schema`)."""
    import datetime as dt

    c, e = spec.clv, spec.experiment
    if c.max_tenure_periods is not None:
        return int(c.max_tenure_periods), f"[clv] max_tenure_periods = {c.max_tenure_periods}"
    try:
        start = dt.date.fromisoformat(e.start_date)
        end = dt.date.fromisoformat(e.data_as_of)
    except ValueError:
        if 100 * c.periods_per_year <= MAX_PERIODS:
            return 100 * c.periods_per_year, "100 years (no [experiment] dates)"
        return MAX_PERIODS, f"the maximum of {MAX_PERIODS:,} periods (no [experiment] dates)"
    periods = max(1, math.ceil((end - start).days / 365.25 * c.periods_per_year))
    return periods, f"the study's follow-up ([experiment] start_date {e.start_date} to data_as_of {e.data_as_of})"


def conversion_column(spec: Any) -> str:
    """The conversion column the campaign cost counts incentives on: ``[economics] conversion_column``, else
    the primary metric's column when that metric is a 0/1 one (as the finance section's); "" if none."""
    from uplift.metrics.kinds import metric_for

    econ = spec.economics
    return (econ.conversion_column if econ is not None else "") or next(
        (m.column for m in spec.metrics if m.primary and metric_for(m).binary), "")


def clv_analysis(
    spec: Any,
    outcomes: Any,
    arm_column: str | None = None,
    control: str | None = None,
    n_bootstrap: int | None = None,
    seed: int = 0,
) -> CLVResult:
    """CLV uplift of an experiment as set in the spec's ``[clv]`` section (the readout's entry point).

    ``outcomes`` is anything :func:`uplift.data.source.open_source` reads (a DataFrame, files, an
    engine table, a source). The life table by arm comes from the seam
    (:func:`uplift.data.collect.life_table`: one group-by by arm, tenure and churn flag, carrying the
    margin's count, sum and centred sum of squares, wherever the rows are), then
    :func:`clv_from_life_table`; plus retention by products held when ``[clv] products_column`` is
    set. With ``n_bootstrap`` (default: ``[clv] n_bootstrap``, 0) > 0, also the standard error of the
    incremental CLV from that many bootstrap replicates stratified by arm (``bootstrap_se``, a check
    of the delta-method interval; row-level: it reads the four columns it needs). Raises
    :class:`DataError`/:class:`SpecError` with a one-line message on bad input (missing column,
    negative tenure, churn flag not 0/1, missing arms, ...).
    """
    from dataclasses import replace

    c = spec.clv
    if c is None:
        raise SpecError(f"{spec.label}: no [clv] section; add one with tenure_column and churned_column")
    source = open_source(outcomes)
    arm_column = arm_column or spec.arm_column
    control = control or spec.control_arm
    margin = c.margin_per_period_column or None
    bound = tenure_bound(spec)
    table = collect.life_table(source, c.tenure_column, c.churned_column, by={arm_column: ARM}, value=margin,
                               integer_durations=True, max_duration=bound)
    conv = conversion_column(spec)
    split = None
    if spec.economics is not None and spec.economics.incentive_cost > 0 and conv and conv in source.columns:
        split = collect.life_table(source, c.tenure_column, c.churned_column, by={arm_column: ARM, conv: GROUP},
                                   value=margin, integer_durations=True)
    res = clv_from_spec_table(spec, table, arm_column, str(control), source.label, conversion_table=split)
    confidence = spec.analysis.confidence
    rbp = None
    if c.products_column:
        rbp = retention_by_products(source, c.tenure_column, c.churned_column, c.products_column,
                                    confidence=confidence)
    if n_bootstrap is None:
        n_bootstrap = c.n_bootstrap
    if n_bootstrap > 0:
        columns = [arm_column, c.tenure_column, c.churned_column, *([margin] if margin else [])]
        order = spec.unit if spec.unit in source.columns else None
        rows = source.to_pandas(list(dict.fromkeys(columns + ([order] if order else []))), order_by=order)
        boot = bootstrap_incremental_clv(
            rows, arm_column, str(control), c.tenure_column, c.churned_column, margin,
            horizon_periods=res.horizon_periods, annual_discount_rate=res.annual_discount_rate,
            periods_per_year=res.periods_per_year, margin_timing=res.margin_timing, family=res.family,
            n_boot=n_bootstrap, seed=seed,
        )
        res = replace(res, incremental=tuple(
            replace(i, bootstrap_se=float(np.std(boot[i.arm], ddof=1))) for i in res.incremental
        ))
    return replace(res, margin_column=margin or "", retention_by_products=rbp,
                   min_cell_size=spec.analysis.min_cell_size, margin_definition=margin_definition(spec))


def bootstrap_incremental_clv(
    outcomes: pd.DataFrame, arm_column: str, control: str, tenure_column: str, churned_column: str,
    margin_column: str | None, horizon_periods: int = 60, annual_discount_rate: float = 0.08,
    periods_per_year: int = 12, margin_timing: str = "end", family: str | None = "sbg",
    n_boot: int = 200, seed: int = 0,
) -> dict[str, np.ndarray]:
    """Bootstrap replicates of the incremental CLV of each arm over control, resampling customers
    with replacement within each arm (stratified by arm); the extrapolation family is held fixed.

    A check of the delta-method interval, not the main path: it touches rows ``n_boot`` times.
    Returns {arm: array of n_boot incremental CLVs} and {"<arm>_clv": replicates of the arm's CLV}.
    """
    rng = np.random.default_rng(seed)
    cfg = EstimatorConfig(horizon_periods, periods_per_year, annual_discount_rate, margin_timing, family)
    arms = outcomes[arm_column].astype(str).to_numpy()
    names = sorted(set(arms))
    size = int(outcomes[tenure_column].max()) + 1
    per_arm: dict[str, np.ndarray] = {}
    for a in names:
        sub = outcomes[arms == a]
        k = sub[tenure_column].to_numpy().astype(np.int64)
        e = sub[churned_column].to_numpy().astype(bool)
        m = sub[margin_column].to_numpy(dtype=float) if margin_column else np.ones(len(sub))
        code = k * 2 + (~e)
        reps = np.empty(n_boot)
        full = np.bincount(code, minlength=2 * size).reshape(size, 2).astype(float)
        wfull = np.bincount(code, weights=m, minlength=2 * size).reshape(size, 2)
        z0 = np.zeros(size)
        base = clv_point(ArmCells(a, full[:, 0], full[:, 1], wfull[:, 0], wfull[:, 1], z0, z0), cfg)[3]
        start = None if base is None else base.theta_
        for b in range(n_boot):
            idx = rng.integers(0, len(sub), len(sub))
            cnt = np.bincount(code[idx], minlength=2 * size).reshape(size, 2)
            w = np.bincount(code[idx], weights=m[idx], minlength=2 * size).reshape(size, 2)
            z = np.zeros(size)
            cells = ArmCells(a, cnt[:, 0].astype(float), cnt[:, 1].astype(float), w[:, 0], w[:, 1], z, z)
            reps[b] = clv_point(cells, cfg, start)[0]
        per_arm[a] = reps
    out = {a: per_arm[a] - per_arm[control] for a in names if a != control}
    out.update({f"{a}_clv": per_arm[a] for a in names})
    return out
