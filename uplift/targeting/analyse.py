"""Whom to target next: uplift models compared on held-out data, the profit curve by
targeting depth, the profit-maximising depth and the next-wave list of eligible customers.

Expected incremental profit of contacting customer *i* (Devriendt, Berrevoets & Verbeke
2021, "Why you should stop predicting customer churn and start using uplift models",
Information Sciences 548:497; sklift's ``max_prof_uplift`` uses the same accounting)::

    profit_i = tau_i * V_i  -  c_contact  -  c_incentive * p1_i

* ``tau_i``: predicted uplift of the ``[targeting] outcome`` (a conversion probability
  for a binary outcome; money for a continuous one, where ``V_i = 1``), calibrated on the
  held-out part by its best linear predictor (:func:`uplift.targeting.profit.calibrate_uplift`);
* ``V_i``: incremental value of one conversion for customer *i*. If ``[targeting]
  value_per_conversion`` is set, that number for everyone. Otherwise from the test's net
  value per customer (``[targeting] value_column`` if set, else ``[economics]`` margin -
  cannibalised margin - cost to serve): ``V_i = f1(x_i) - f0(x_i)``, gradient-boosting
  regressions of net value on the features among converters and among non-converters of
  the training part. Its average is reported as the coefficient of the conversion
  indicator in an OLS regression of net value on conversion and the features (HC1
  interval): controlling for the features removes the part of "converters have higher
  margins" that is due to who they are rather than to the new product;
* ``c_contact``, ``c_incentive``: ``[economics] contact_cost`` (every contacted
  customer) and ``incentive_cost`` (every customer who converts when offered);
* ``p1_i``: predicted probability of converting when offered (a gradient-boosting
  classifier on the treated training units).

Held-out profit by depth: the held-out customers who are eligible now (the spec's
exclusion rules, so they resemble the next wave) are ranked by ``profit_i``; at
depth ``d`` (share of customers contacted) the incremental profit per eligible customer
is estimated from the top ``d`` share as ``d * [(vbar_t - vbar_c) - c_contact -
c_incentive * convbar_t]`` with ``v = y V_i``, and scaled to the eligible population. The
interval is a stratified bootstrap of the held-out units, rescaling the values by a draw
of the average value's sampling distribution in each resample. The best depth contacts
every eligible customer whose expected profit is positive (the maximum of the model's
expected-profit curve); the held-out estimate at that depth, with its interval, is the
reported expected incremental profit.

The next-wave list holds every customer of the population who passes the spec's
exclusion rules and did not convert during the test (they already hold the product,
even if the population file predates the campaign; counted as ``converted_in_test``).

Model choice (``[targeting] model = "auto"``): every candidate is fitted on one part of
the training data and the one with the highest Qini coefficient on the other part is
chosen; all candidates are then scored on the held-out part, which played no role in
fitting or choosing, so the held-out numbers are honest.

Every interval (Qini, AUUC, uplift@k, deciles, value per conversion, calibration slope,
profit) is at the spec's ``[analysis] confidence`` (default 95%).

:func:`targeting_analysis` runs the steps in order: the settings and the eligible customers
and the training sample (:mod:`uplift.targeting.sample`), the value of a conversion
(:mod:`uplift.targeting.value`), the split, fitting and comparing the models, the expected-profit
model (:mod:`uplift.targeting.profit`), the calibration on the eligible held-out customers,
scoring every eligible customer in batches, the profit by depth, and the result
(:mod:`uplift.targeting.result`).
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, replace
from typing import Any, Sequence

import numpy as np
import pandas as pd
from tqdm import tqdm

from uplift.data.hashing import same_id_type
from uplift.targeting.evaluation import (
    Interval,
    UpliftEvaluation,
    evaluate_uplift,
    qini_coefficient,
    random_qini_interval,
)
from uplift.targeting.models import FeatureEncoder, make_model
from uplift.targeting.profit import (
    DEPTHS,
    ProfitModel,
    calibrate_uplift,
    calibrated_uplift,
    fit_profit_model,
    profit_by_depth,
)
from uplift.targeting.result import ModelComparison, TargetingResult
from uplift.targeting.sample import (
    HeldOutCustomers,
    SampleSplit,
    TargetingSetup,
    TrainingSample,
    eligible_customers,
    eligible_holdout,
    not_converted_in_test,
    read_setup,
    split_sample,
    training_sample,
)
from uplift.targeting.value import fit_unit_value, value_per_conversion

__all__ = ["TargetingResult", "targeting_analysis", "fit_and_compare", "score_next_wave", "NextWave", "ModelChoice"]

SCORE_BATCH_ROWS = 1_000_000
"""Customers scored at a time for the next-wave list (bounds the memory of the encoded features)."""


def targeting_analysis(
    spec: Any,
    population: pd.DataFrame,
    outcomes: pd.DataFrame,
    arm_column: str | None = None,
    control: str | None = None,
    n_boot: int | None = None,
    models: Sequence[str] | None = None,
    arm: str | None = None,
    n_threads: int | None = 1,
    progress: bool = False,
) -> TargetingResult:
    """Fit and compare uplift models on a finished test and build the next-wave list.

    ``outcomes`` holds the unit, arm and outcome columns; features come from
    ``population`` (joined on the unit; outcomes' own columns are used when the
    population lacks them). The list covers ``population`` after the spec's exclusion
    rules. See the module docstring for every formula.

    ``n_threads`` caps the OpenMP and BLAS threads (gradient boosting, OLS) (default 1:
    on a shared machine, OpenMP threads competing for cores made fitting 5x slower;
    ``None`` leaves the library default). ``progress`` shows a progress bar on stderr.
    """
    if n_threads is None:
        return _targeting_analysis(spec, population, outcomes, arm_column, control, n_boot, models, arm, progress)
    import sklearn.ensemble  # noqa: F401  (load the OpenMP runtime first: threadpoolctl only limits loaded libraries)
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=n_threads):
        return _targeting_analysis(spec, population, outcomes, arm_column, control, n_boot, models, arm, progress)


def _targeting_analysis(spec: Any, population: pd.DataFrame, outcomes: pd.DataFrame, arm_column: str | None,
                        control: str | None, n_boot: int | None, models: Sequence[str] | None,
                        arm: str | None, progress: bool = False) -> TargetingResult:
    """The steps of :func:`targeting_analysis`, in order."""
    unit = spec.unit
    if unit in population.columns and unit in outcomes.columns:  # integer ids in one file, text in the other
        pop_ids, out_ids = same_id_type(population[unit], outcomes[unit])
        population, outcomes = population.assign(**{unit: pop_ids}), outcomes.assign(**{unit: out_ids})
    setup = read_setup(spec, population, outcomes, arm_column, control, n_boot, models)
    eligible, excluded = eligible_customers(spec, setup, population)
    sample = training_sample(setup, population, outcomes, arm)
    encoder = FeatureEncoder().fit(sample.X)
    value = value_per_conversion(spec, setup, sample, encoder)
    split = split_sample(setup, sample)
    with tqdm(total=2 * len(setup.candidates) + 2, desc="targeting", unit="step", file=sys.stderr,
              disable=not progress, leave=False) as bar:
        choice = fit_and_compare(setup, sample, split, bar)
        unit_value = fit_unit_value(setup, sample, split, value, encoder)
        profit_model = fit_profit_model(setup, sample, split, unit_value, encoder)
        wave_pool, excluded = not_converted_in_test(setup, sample, eligible, excluded)
        held = eligible_holdout(setup, sample, split, eligible[setup.unit].to_numpy())
        score_held = choice.model.predict(held.X)
        calibration = calibrate_uplift(held.y, held.t, score_held, confidence=setup.confidence)
        calibration["n"] = float(len(held.y))
        wave = score_next_wave(setup, choice.model, profit_model, calibration, wave_pool)
        curve = _profit_curves(setup, held, score_held, profit_model, calibration, value.value, wave)
        bar.update()
    notes = (*sample.notes, *split.notes, *unit_value.notes, *held.notes, *wave.notes)
    return TargetingResult(
        model=choice.name, arm=sample.arm, control=setup.control, outcome=setup.outcome,
        outcome_kind="binary" if setup.binary else "continuous", features=setup.features,
        n_fit=len(split.fit), n_select=len(split.select), n_holdout=len(split.holdout),
        models=choice.comparisons, random_qini=choice.evaluation.random_qini, evaluation=choice.evaluation,
        value_per_conversion=value.value, value_source=value.source, contact_cost=setup.contact_cost,
        incentive_cost=setup.incentive_cost, currency=setup.currency,
        depths=DEPTHS.copy(), profit=curve.profit, profit_low=curve.low, profit_high=curve.high,
        best_depth=wave.best_depth, best_profit=curve.best_profit, n_population=len(population),
        n_eligible=wave.n_eligible, excluded=excluded, n_targeted=wave.n_targeted,
        predicted_profit_selected=wave.predicted_profit, next_wave=wave.table, notes=notes,
        n_holdout_eligible=len(held.y), calibration=calibration, expected_curve=wave.expected_curve,
        value_model=unit_value.description, confidence=setup.confidence,
    )


@dataclass(frozen=True)
class ModelChoice:
    """The chosen model (``name``, fitted ``model``), every candidate's comparison, and the chosen
    model's held-out evaluation with the random-score Qini interval."""

    name: str
    model: Any
    comparisons: tuple[ModelComparison, ...]
    evaluation: UpliftEvaluation


def fit_and_compare(setup: TargetingSetup, sample: TrainingSample, split: SampleSplit, bar: Any) -> ModelChoice:
    """Fit every candidate on the fit part, choose the highest Qini coefficient on the selection part
    (a non-finite Qini never wins), then evaluate every candidate on the held-out part (stratified
    bootstrap intervals at ``[analysis] confidence``) and the random-score Qini interval beside them.
    ``bar`` is a progress bar advanced per model fitted and per model evaluated."""
    X, y, t = sample.X, sample.y, sample.t
    Xf, Xs, Xh = (X.iloc[i].reset_index(drop=True) for i in (split.fit, split.select, split.holdout))
    fitted, sel_q = {}, {}
    for name in setup.candidates:
        bar.set_postfix_str(f"fit {name}")
        m = make_model(name, random_state=setup.seed).fit(Xf, y[split.fit], t[split.fit])
        fitted[name] = m
        sel_q[name] = qini_coefficient(y[split.select], m.predict(Xs), t[split.select])
        bar.update()
    chosen = max(setup.candidates, key=lambda k: -np.inf if not np.isfinite(sel_q[k]) else sel_q[k])
    yh, th = y[split.holdout], t[split.holdout]
    comparisons, evals = [], {}
    for name in setup.candidates:
        bar.set_postfix_str(f"bootstrap {name}")
        bar.update()
        ev = evaluate_uplift(yh, fitted[name].predict(Xh), th, n_boot=setup.n_boot, seed=setup.seed,
                             confidence=setup.confidence, random_baseline=False)
        evals[name] = ev
        comparisons.append(ModelComparison(name, float(sel_q[name]), ev.qini, ev.auuc))
    bar.set_postfix_str("random baseline, value model, profit curve")
    bar.update()
    rq = random_qini_interval(yh, th, n_boot=setup.n_boot, seed=setup.seed + 1, confidence=setup.confidence)
    return ModelChoice(chosen, fitted[chosen], tuple(comparisons), replace(evals[chosen], random_qini=rq))


@dataclass(frozen=True)
class NextWave:
    """The next-wave list (``table``: unit, score, decile, expected_incremental_profit, selected; best
    first), the best depth, the customers it selects, their predicted profit, and the model-expected
    profit at each of :data:`~uplift.targeting.profit.DEPTHS`."""

    table: pd.DataFrame
    n_eligible: int
    n_targeted: int
    best_depth: float
    predicted_profit: float
    expected_curve: np.ndarray
    notes: tuple[str, ...] = ()


def score_next_wave(setup: TargetingSetup, model: Any, profit_model: ProfitModel, calibration: dict[str, float],
                    eligible: pd.DataFrame) -> NextWave:
    """Rank every eligible customer by calibrated expected profit, scored :data:`SCORE_BATCH_ROWS` at a time.

    The best depth contacts every customer whose expected profit is positive (the maximum of the
    model's expected-profit curve, the cumulative sum of the ranked profits); deciles are by rank.
    """
    unit, n_el = setup.unit, len(eligible)
    if not n_el:
        table = pd.DataFrame({unit: [], "score": [], "decile": [], "expected_incremental_profit": [], "selected": []})
        return NextWave(table, 0, 0, 0.0, 0.0, np.zeros(len(DEPTHS)), ("no eligible customers: the next-wave list is empty",))
    Xe = eligible[list(setup.features)].reset_index(drop=True)
    tau_parts, profit_parts = [], []
    for start in range(0, n_el, SCORE_BATCH_ROWS):
        Xb = Xe.iloc[start:start + SCORE_BATCH_ROWS]
        tau_b = model.predict(Xb)
        tau_parts.append(tau_b)
        profit_parts.append(profit_model(Xb, calibrated_uplift(calibration, tau_b)))
    tau_e, prof_e = np.concatenate(tau_parts), np.concatenate(profit_parts)
    order = np.argsort(-prof_e, kind="stable")
    rank = np.empty(n_el, dtype=np.int64)
    rank[order] = np.arange(n_el)
    n_target = int((prof_e > 0).sum())
    cum = np.r_[0.0, np.cumsum(prof_e[order])]
    table = pd.DataFrame({
        unit: eligible[unit].to_numpy(),
        "score": tau_e,
        "decile": (rank * 10 // n_el + 1).astype(np.int16),
        "expected_incremental_profit": prof_e,
        "selected": rank < n_target,
    }).iloc[order].reset_index(drop=True)
    return NextWave(table, n_el, n_target, n_target / n_el, float(cum[n_target]),
                    cum[np.round(DEPTHS * n_el).astype(int)])


@dataclass(frozen=True)
class _ProfitCurves:
    """Held-out profit by depth (point, low, high at every depth) and at the best depth."""

    profit: np.ndarray
    low: np.ndarray
    high: np.ndarray
    best_profit: Interval


def _profit_curves(setup: TargetingSetup, held: HeldOutCustomers, score: np.ndarray, profit_model: ProfitModel,
                   calibration: dict[str, float], value: Interval, wave: NextWave) -> _ProfitCurves:
    """Held-out profit by depth (:func:`~uplift.targeting.profit.profit_by_depth`) at every depth and at the
    best depth, ranking the eligible held-out customers by calibrated expected profit, scaled to the
    eligible customers, with stratified bootstrap intervals at ``[analysis] confidence``. ``score``: the
    chosen model's uplift score of the held-out customers."""
    profit_h = profit_model(held.X, calibrated_uplift(calibration, score))
    value_h = profit_model.unit_value(held.X) if setup.binary else None
    args = (held.y, held.t, held.converted, profit_h, value, setup.contact_cost, setup.incentive_cost)
    kw = dict(scale=float(wave.n_eligible), n_boot=setup.n_boot, seed=setup.seed + 2, confidence=setup.confidence,
              unit_value=value_h)
    point, low, high, _ = profit_by_depth(*args, **kw)
    bp, bl, bh, _ = profit_by_depth(*args, depths=np.array([wave.best_depth]), **kw)
    best = Interval(float(bp[0]), float(bl[0]), float(bh[0]), setup.confidence,
                    f"held-out estimate at the chosen depth, scaled to {wave.n_eligible:,} eligible customers; "
                    f"stratified bootstrap ({setup.n_boot}) with the value per conversion redrawn")
    return _ProfitCurves(point, low, high, best)
