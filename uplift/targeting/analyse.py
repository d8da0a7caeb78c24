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
  value_per_conversion`` is set, that number for everyone. By default (``value = "margin"``
  with ``[economics]`` margin and conversion columns) finance's value of a conversion for
  everyone: incremental net value per incremental conversion, d_pi / d_p
  (:mod:`uplift.metrics.valuation`, the one definition finance and targeting share).
  Otherwise (``value_column``) from the test's net
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

One story with finance: when finance's valuation prices the offer, the list is anchored to the
test: calibrated uplift ``tau_i = d_p + b (score_i - mean score over the list)`` (the BLP slope b
from the held-out part, the level d_p finance's incremental conversion rate) and ``p1_i`` scaled
so that its mean over the list is the arm's conversion rate. Contacting the whole list is then
``n x`` finance's net incremental profit per treated customer (``contact_everyone``), and the
headline expected incremental profit is the sum of the list's expected profits over the selected
customers, with a delta-method interval in the test's means
(:meth:`uplift.metrics.valuation.Valuation.policy`; the ranking and b taken as fixed).

Held-out check: the held-out customers who are eligible now (the spec's
exclusion rules, so they resemble the next wave) are ranked by ``profit_i``; at
depth ``d`` (share of customers contacted) the incremental profit per eligible customer
is estimated from the top ``d`` share as ``d * [(vbar_t - vbar_c) - c_contact -
c_incentive * convbar_t]`` with ``v = y V_i``, and scaled to the eligible population. The
interval is a stratified bootstrap of the held-out units, rescaling the values by a draw
of the average value's sampling distribution in each resample. The best depth contacts
every eligible customer whose expected profit is positive (the maximum of the model's
expected-profit curve); the held-out estimate at that depth, with its interval, is the
held-out check (``held_out_check``), and the reported expected incremental profit when there is
no finance valuation to anchor to.

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
(:mod:`uplift.targeting.value`), the split, fitting and comparing the models (:mod:`uplift.targeting.choice`),
the expected-profit model (:mod:`uplift.targeting.profit`), the calibration on the eligible held-out customers,
scoring every eligible customer in batches, the profit by depth, and the result
(:mod:`uplift.targeting.result`). Steps that do not need each other run side by side
(:func:`uplift.targeting.threads.map_threads`): the held-out bootstraps beside the value models, the profit curve
beside the list's explanations. Each returns what it returns alone; when several fail, the first
listed step's error is raised.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field, replace
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd
from scipy.stats import norm
from tqdm import tqdm

from uplift.data.hashing import same_id_type
from uplift.errors import DataError
from uplift.metrics.analyse import economics_valuation
from uplift.metrics.valuation import Valuation, expected_profit
from uplift.targeting.choice import (
    ModelChoice,
    evaluate_candidates,
    fit_candidates,
    model_choice,
    random_baseline,
)
from uplift.targeting.evaluation import Interval
from uplift.targeting.models import FeatureEncoder
from uplift.targeting.threads import map_threads, predict_side_by_side
from uplift.targeting.profit import (
    DEPTHS,
    ProfitModel,
    calibrate_uplift,
    calibrated_uplift,
    fit_profit_model,
    profit_by_depth,
)
from uplift.targeting.result import TargetingResult
from uplift.targeting.sample import (
    HeldOutCustomers,
    TargetingSetup,
    eligible_customers,
    eligible_holdout,
    not_converted_in_test,
    read_setup,
    split_sample,
    training_sample,
)
from uplift.targeting.value import ConversionValue, UnitValue, fit_unit_value, value_per_conversion
from uplift.text import Msg

__all__ = ["TargetingResult", "targeting_analysis", "score_next_wave", "NextWave", "ModelChoice",
           "SharedRows", "shared_rows"]

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
    valuations: Mapping[str, Valuation] | None = None,
) -> TargetingResult:
    """Fit and compare uplift models on a finished test and build the next-wave list.

    ``outcomes`` holds the unit, arm and outcome columns; features come from
    ``population`` (joined on the unit; outcomes' own columns are used when the
    population lacks them). The list covers ``population`` after the spec's exclusion
    rules. See the module docstring for every formula.

    ``n_threads`` caps the OpenMP and BLAS threads (gradient boosting, OLS) (default 1:
    on a shared machine, OpenMP threads competing for cores made fitting 5x slower;
    ``None`` leaves the library default). ``progress`` shows a progress bar on stderr.
    ``valuations`` (offer arm -> finance's :class:`~uplift.metrics.valuation.Valuation`, as
    :attr:`uplift.metrics.analyse.MetricsResult.valuations`) prices the offer as finance does; when
    not given it is computed from ``outcomes`` (:func:`uplift.metrics.analyse.economics_valuation`).
    """
    args = (spec, population, outcomes, arm_column, control, n_boot, models, arm, progress, valuations)
    if n_threads is None:
        return _targeting_analysis(*args)
    import sklearn.ensemble  # noqa: F401  (load the OpenMP runtime first: threadpoolctl only limits loaded libraries)
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=n_threads):
        return _targeting_analysis(*args)


def _finance_valuation(spec: Any, setup: TargetingSetup, outcomes: pd.DataFrame, arm: str,
                       valuations: Mapping[str, Valuation] | None) -> Valuation | None:
    """Finance's valuation of ``arm`` when it prices this outcome (a binary outcome that is finance's
    conversion column); from ``valuations`` when given, else from the outcome rows."""
    econ = spec.economics
    if not setup.binary or econ is None or not econ.margin_column:
        return None
    if (setup.conversion_column or setup.outcome) != setup.outcome:
        return None
    if valuations is not None:
        return valuations.get(str(arm))
    return economics_valuation(spec, outcomes, setup.arm_column, setup.control, arm)


def _targeting_analysis(spec: Any, population: pd.DataFrame, outcomes: pd.DataFrame, arm_column: str | None,
                        control: str | None, n_boot: int | None, models: Sequence[str] | None,
                        arm: str | None, progress: bool = False,
                        valuations: Mapping[str, Valuation] | None = None) -> TargetingResult:
    """The steps of :func:`targeting_analysis`, in order."""
    unit = spec.unit
    if unit in population.columns and unit in outcomes.columns:  # integer ids in one file, text in the other
        pop_ids, out_ids = same_id_type(population[unit], outcomes[unit])
        population, outcomes = population.assign(**{unit: pop_ids}), outcomes.assign(**{unit: out_ids})
    setup = read_setup(spec, population, outcomes, arm_column, control, n_boot, models)
    eligible, excluded = eligible_customers(spec, setup, population)
    sample = training_sample(setup, population, outcomes, arm)
    encoder = FeatureEncoder().fit(sample.X)
    valuation = _finance_valuation(spec, setup, outcomes, sample.arm, valuations)
    value = value_per_conversion(spec, setup, sample, encoder, valuation)
    split = split_sample(setup, sample)
    with tqdm(total=2 * len(setup.candidates) + 2, desc="targeting", unit="step", file=sys.stderr,
              disable=not progress, leave=False) as bar:
        bar.set_postfix_str("fit " + ", ".join(setup.candidates))
        fits = fit_candidates(setup, sample, split)
        bar.update(len(setup.candidates))
        bar.set_postfix_str("bootstrap, random baseline, value model")

        def value_models() -> tuple[UnitValue, ProfitModel]:
            unit_value = fit_unit_value(setup, sample, split, value, encoder)
            return unit_value, fit_profit_model(setup, sample, split, unit_value, encoder)

        # the held-out bootstraps (array work) beside the value models (gradient boosting): two cores, the same numbers
        evaluations, (unit_value, profit_model), random_qini = map_threads(lambda job: job(), [
            lambda: evaluate_candidates(setup, sample, split, fits), value_models,
            lambda: random_baseline(setup, sample, split)])
        choice = model_choice(setup, fits, evaluations, random_qini)
        bar.update(len(setup.candidates) + 1)
        wave_pool, excluded = not_converted_in_test(setup, sample, eligible, excluded)
        held = eligible_holdout(setup, sample, split, eligible[setup.unit].to_numpy())
        score_held = choice.holdout_score[held.positions]  # the chosen model's held-out scores, not predicted again
        calibration = calibrate_uplift(held.y, held.t, score_held, confidence=setup.confidence)
        calibration["n"] = float(len(held.y))
        pricing = (_Pricing(valuation, value) if valuation is not None and (value.from_finance or unit_value.converters is None)
                   else None)
        units = sample.frame[setup.unit].to_numpy()
        shared = shared_rows(encoder, held.X, units[split.holdout][held.positions], wave_pool, setup.unit)
        # the chosen model scored the selection part too: those customers' scores serve the list as well
        selected = shared_rows(encoder, sample.X.iloc[split.select].reset_index(drop=True), units[split.select],
                               wave_pool, setup.unit)
        wave = score_next_wave(setup, choice.model, profit_model, calibration, wave_pool, pricing,
                               known_scores=(np.r_[shared.pool, selected.pool],
                                             np.r_[score_held[shared.held], choice.select_score[selected.held]]))
        bar.update()
    from uplift.targeting.explain import explain_list

    chosen = wave.table.set_index(setup.unit)["selected"].reindex(wave_pool[setup.unit].to_numpy()).fillna(False)
    # the held-out profit curve (the value models) beside the list's explanations (the uplift model)
    curve, explanations = map_threads(lambda job: job(), [
        lambda: _profit_curves(setup, held, score_held, wave.profit_model, wave.calibration, value.value, wave, shared),
        lambda: explain_list(choice.model, held.X, held.y, held.t, wave_pool[list(setup.features)],
                             chosen.to_numpy(dtype=bool), str(sample.arm), seed=setup.seed, held_score=score_held)])
    headline = wave.headline or curve.best_profit
    notes = (*sample.notes, *split.notes, *unit_value.notes, *held.notes, *wave.notes)
    return TargetingResult(
        model=choice.name, arm=sample.arm, control=setup.control, outcome=setup.outcome,
        outcome_kind="binary" if setup.binary else "continuous", features=setup.features,
        n_fit=len(split.fit), n_select=len(split.select), n_holdout=len(split.holdout),
        models=choice.comparisons, random_qini=choice.evaluation.random_qini, evaluation=choice.evaluation,
        value_per_conversion=value.value, value_source=value.source, contact_cost=setup.contact_cost,
        incentive_cost=setup.incentive_cost, currency=setup.currency,
        depths=DEPTHS.copy(), profit=curve.profit, profit_low=curve.low, profit_high=curve.high,
        best_depth=wave.best_depth, best_profit=headline, held_out_profit=curve.best_profit,
        contact_everyone=wave.contact_everyone, n_population=len(population),
        n_eligible=wave.n_eligible, excluded=excluded, n_targeted=wave.n_targeted,
        predicted_profit_selected=wave.predicted_profit, next_wave=wave.table, notes=notes,
        n_holdout_eligible=len(held.y), calibration=calibration, expected_curve=wave.expected_curve,
        value_model=unit_value.description, confidence=setup.confidence,
        anchor=wave.anchor, explanations=explanations,
    )


@dataclass(frozen=True)
class SharedRows:
    """Test customers (held-out or model-selection) who are also in the next-wave pool with the same
    features: their positions among those customers (``held``) and in the pool (``pool``). Every model's
    prediction for a customer depends on that customer's features alone, so one prediction serves both."""

    held: np.ndarray
    pool: np.ndarray


def shared_rows(encoder: FeatureEncoder, held_X: pd.DataFrame, held_units: np.ndarray, pool: pd.DataFrame,
                unit: str) -> SharedRows:
    """The :class:`SharedRows` of test customers (features ``held_X``, ids ``held_units``) and the next-wave
    ``pool``: matched on the unit, kept where the encoded features (``encoder``, fitted on the test's
    customers, the one the value and conversion models use) are equal in every column. A category unseen by
    ``encoder`` encodes as zeros, but a test customer's categories were all seen, so equal encodings mean
    equal features, for the uplift model's own encoder too. None shared when the pool's ids repeat."""
    none = SharedRows(np.empty(0, dtype=np.int64), np.empty(0, dtype=np.int64))
    index = pd.Index(pool[unit].to_numpy())
    if not len(held_units) or not index.is_unique:
        return none
    pos = index.get_indexer(pd.Index(held_units))
    held = np.flatnonzero(pos >= 0)
    if not len(held):
        return none
    try:
        same = (encoder.transform(held_X.iloc[held]) == encoder.transform(pool[list(held_X.columns)].iloc[pos[held]])).all(axis=1)
    except DataError:  # a missing value: the scoring itself reports it, with its own count
        return none
    return SharedRows(held[same], pos[held][same])


@dataclass(frozen=True)
class _Pricing:
    """Finance's valuation and the value of a conversion targeting uses (finance's, or fixed/CLV)."""

    valuation: Valuation
    value: ConversionValue

    def policy(self, n: float, value_units: float, conversion_units: float, uplift_shift: float, confidence: float,
               method: str) -> Interval:
        """:meth:`~uplift.metrics.valuation.Valuation.policy` as an interval at ``confidence``."""
        z = float(norm.ppf(0.5 + confidence / 2))
        v = self.value.value
        if self.value.from_finance:
            est, var = self.valuation.policy(n, value_units, conversion_units)
        else:
            v_se = (v.high - v.low) / (2 * z) if np.isfinite(v.high) else 0.0
            est, var = self.valuation.policy(n, value_units, conversion_units, uplift_shift, value=v.estimate,
                                             value_var=v_se**2)
        se = float(np.sqrt(max(var, 0.0)))
        return Interval(est, est - z * se, est + z * se, confidence, method)


@dataclass(frozen=True)
class NextWave:
    """The next-wave list (``table``: unit, score, decile, expected_incremental_profit, selected; best
    first), the best depth, the customers it selects, their predicted profit, and the model-expected
    profit at each of :data:`~uplift.targeting.profit.DEPTHS`. ``calibration`` and ``profit_model`` are
    the ones the list was priced with (anchored to finance's valuation when there is one); ``headline``
    (the selected customers' total with its interval) and ``contact_everyone`` are set then.
    ``conversion`` (the conversion model's probability before ``conversion_ratio``) and ``value_g`` (the value
    model's ``g_i = f1 - f0`` before its scale, None without a value model) per eligible customer, in the
    order of ``eligible``, for the held-out customers among them."""

    table: pd.DataFrame
    n_eligible: int
    n_targeted: int
    best_depth: float
    predicted_profit: float
    expected_curve: np.ndarray
    notes: tuple[str, ...] = ()
    calibration: dict[str, float] = field(default_factory=dict)
    profit_model: ProfitModel | None = None
    headline: Interval | None = None
    contact_everyone: Interval | None = None
    anchor: dict[str, Any] = field(default_factory=dict)
    conversion: np.ndarray | None = field(default=None, repr=False)
    value_g: np.ndarray | None = field(default=None, repr=False)


def score_next_wave(setup: TargetingSetup, model: Any, profit_model: ProfitModel, calibration: dict[str, float],
                    eligible: pd.DataFrame, pricing: _Pricing | None = None,
                    known_scores: tuple[np.ndarray, np.ndarray] | None = None) -> NextWave:
    """Rank every eligible customer by calibrated expected profit, scored :data:`SCORE_BATCH_ROWS` at a time.
    ``known_scores``: (positions in ``eligible``, the uplift ``model``'s scores there), predicted already
    on the same features (:func:`shared_rows`); the other customers are scored here.

    The best depth contacts every customer whose expected profit is positive (the maximum of the
    model's expected-profit curve, the cumulative sum of the ranked profits); deciles are by rank.
    With ``pricing`` (finance's valuation) the list is anchored to the test (module docstring): mean
    calibrated uplift over the list = d_p, mean P(convert | offered) = the arm's conversion rate.
    """
    unit, n_el = setup.unit, len(eligible)
    if not n_el:
        table = pd.DataFrame({unit: [], "score": [], "decile": [], "expected_incremental_profit": [], "selected": []})
        return NextWave(table, 0, 0, 0.0, 0.0, np.zeros(len(DEPTHS)), ("no eligible customers: the next-wave list is empty",),
                        calibration, profit_model)
    Xe = eligible[list(setup.features)].reset_index(drop=True)
    batches = [Xe.iloc[start:start + SCORE_BATCH_ROWS] for start in range(0, n_el, SCORE_BATCH_ROWS)]
    tau_e = np.empty(n_el)
    todo = np.ones(n_el, dtype=bool)
    if known_scores is not None and len(known_scores[0]):
        tau_e[known_scores[0]] = known_scores[1]
        todo[known_scores[0]] = False
    rest = np.flatnonzero(todo)
    unit_value = profit_model.unit_value
    # the uplift, conversion and value models predict side by side (the same arrays); the value model's
    # g_i = f1 - f0 once per customer: V_i = scale x g_i is the same arithmetic as calling it
    jobs = [(model.predict, Xe.iloc[rest]), (profit_model.model_conversion, Xe)]
    if unit_value.converters is not None:
        jobs.append((replace(unit_value, scale=1.0), Xe))
    tau_rest, q_e, *g = predict_side_by_side(jobs, SCORE_BATCH_ROWS)
    tau_e[rest] = tau_rest
    g_e = g[0] if g else None
    anchor: dict[str, Any] = {}
    if pricing is not None:
        calibration, profit_model, anchor = _anchor(setup, pricing, calibration, profit_model, tau_e, q_e, g_e)
    tau_cal = calibrated_uplift(calibration, tau_e)
    value_e = (profit_model.unit_value.scale * g_e if profit_model.unit_value.converters is not None and g_e is not None
               else np.concatenate([profit_model.unit_value(Xb) for Xb in batches]))
    p1_e = profit_model.conversion_ratio * q_e
    prof_e = expected_profit(tau_cal, value_e, profit_model.contact_cost, profit_model.incentive_cost, p1_e)
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
    headline = everyone = None
    if pricing is not None:
        val = pricing.valuation
        dpi, _ = val.incremental_profit
        dp, _ = val.incremental_conversion
        sel = order[:n_target]
        value_units = float((tau_cal[sel] * value_e[sel]).sum() / dpi) if dpi else float(n_target)
        conv_units = float(p1_e[sel].sum() / val.conv_arm) if val.conv_arm > 0 else float(n_target)
        shift = float(tau_cal[sel].sum() - n_target * dp)
        headline = pricing.policy(n_target, value_units, conv_units, shift, setup.confidence,
                                  Msg("sum of the next-wave list's expected incremental profits over the selected "
                                      "customers; delta-method interval in the test's arm means (finance's valuation; "
                                      "ranking, calibration slope and value model taken as fixed)"))
        everyone = pricing.policy(n_el, float(n_el), float(n_el), 0.0, setup.confidence,
                                  Msg("contact all {n:,} eligible customers: n x finance's net incremental profit per "
                                      "treated customer (value of a conversion finance's)", n=n_el)
                                  if pricing.value.from_finance else
                                  Msg("contact all {n:,} eligible customers: n x finance's net incremental profit per "
                                      "treated customer (value of a conversion as [targeting] sets it)", n=n_el))
    return NextWave(table, n_el, n_target, n_target / n_el, float(cum[n_target]),
                    cum[np.round(DEPTHS * n_el).astype(int)], (), calibration, profit_model, headline, everyone, anchor,
                    q_e, g_e)


def _anchor(setup: TargetingSetup, pricing: _Pricing, calibration: dict[str, float], profit_model: ProfitModel,
            tau: np.ndarray, q: np.ndarray, g: np.ndarray | None,
            ) -> tuple[dict[str, float], ProfitModel, dict[str, Any]]:
    """The calibration and profit model anchored to finance's valuation over the list (module docstring):
    mean calibrated uplift = d_p (level d_p, centre the list's mean score); P(convert | offered) scaled
    to average p_a; with a per-customer value model, ``V_i = V g_i / g_bar`` with ``g_i = f1 - f0`` and
    ``g_bar`` its uplift-weighted mean over the list, so the uplift-weighted mean of ``V_i`` is finance's V
    (one value of a conversion for everyone when V or g_bar is not positive). ``g``: the list's ``g_i`` (None
    without a value model)."""
    val = pricing.valuation
    dp, _ = val.incremental_conversion
    mq = float(q.mean())
    ratio = val.conv_arm / mq if setup.incentive_cost > 0 and mq > 0 else 1.0
    calibration = {**calibration, "ate": dp, "center": float(tau.mean())}
    unit_value = profit_model.unit_value
    v = pricing.value.value.estimate
    note = "one value of a conversion for every customer"
    if pricing.value.from_finance and unit_value.converters is not None and g is not None:
        tau_cal = calibrated_uplift(calibration, tau)
        g_bar = float((tau_cal * g).sum() / tau_cal.sum()) if tau_cal.sum() > 0 else float("nan")
        if v > 0 and np.isfinite(g_bar) and g_bar > 0:
            unit_value = replace(unit_value, scale=v / g_bar)
            note = "per customer V x g_i / (uplift-weighted mean of g over the list), g from the value model"
        else:
            unit_value = replace(unit_value, converters=None, non_converters=None, average=v)
    anchor = {"uplift_level": dp, "score_centre": calibration["center"], "conversion_arm": val.conv_arm,
              "conversion_ratio": ratio, "value_per_conversion": v, "value_rule": note,
              "rule": "calibrated uplift = incremental conversion rate of the test + BLP slope x (score - mean score "
                      "of the list); P(convert | offered) scaled so its mean over the list is the arm's conversion rate"}
    return calibration, replace(profit_model, unit_value=unit_value, conversion_ratio=ratio), anchor


@dataclass(frozen=True)
class _ProfitCurves:
    """Held-out profit by depth (point, low, high at every depth) and at the best depth."""

    profit: np.ndarray
    low: np.ndarray
    high: np.ndarray
    best_profit: Interval


def _held_predictions(held: HeldOutCustomers, profit_model: ProfitModel, wave: NextWave,
                      shared: SharedRows | None) -> tuple[np.ndarray, np.ndarray]:
    """``V_i`` and ``p1_i`` of the held-out customers: the next wave's predictions for those in it with the
    same features (``shared``), the models' for the others (the same numbers: a prediction depends on the
    customer's features alone, and ``V_i = scale x g_i``, ``p1_i = ratio x q_i`` as the models compute them)."""
    unit_value, n = profit_model.unit_value, len(held.y)
    rows = np.arange(n)
    if shared is not None and len(shared.held) and wave.conversion is not None:
        rows = np.setdiff1d(rows, shared.held)
    else:
        shared = None
    q = np.empty(n)
    if len(rows):
        q[rows] = profit_model.model_conversion(held.X.iloc[rows])
    if unit_value.converters is None:
        value_h = unit_value(held.X)
    else:
        g = np.empty(n)
        if len(rows):
            g[rows] = replace(unit_value, scale=1.0)(held.X.iloc[rows])
        if shared is not None:
            if wave.value_g is None:
                g[shared.held] = replace(unit_value, scale=1.0)(held.X.iloc[shared.held])
            else:
                g[shared.held] = wave.value_g[shared.pool]
        value_h = unit_value.scale * g
    if shared is not None:
        q[shared.held] = wave.conversion[shared.pool]  # type: ignore[index]
    return value_h, profit_model.conversion_ratio * q


def _profit_curves(setup: TargetingSetup, held: HeldOutCustomers, score: np.ndarray, profit_model: ProfitModel,
                   calibration: dict[str, float], value: Interval, wave: NextWave,
                   shared: SharedRows | None = None) -> _ProfitCurves:
    """Held-out profit by depth (:func:`~uplift.targeting.profit.profit_by_depth`) at every depth and at the
    best depth, ranking the eligible held-out customers by calibrated expected profit, scaled to the
    eligible customers, with stratified bootstrap intervals at ``[analysis] confidence``. ``score``: the
    chosen model's uplift score of the held-out customers; ``shared``: those also in the next wave, whose
    value and conversion predictions the wave already made."""
    value_h, p1_h = _held_predictions(held, profit_model, wave, shared)  # V_i once: ranking and values share it
    profit_h = expected_profit(calibrated_uplift(calibration, score), value_h, profit_model.contact_cost,
                               profit_model.incentive_cost, p1_h)
    args = (held.y, held.t, held.converted, profit_h, value, setup.contact_cost, setup.incentive_cost)
    kw = dict(scale=float(wave.n_eligible), n_boot=setup.n_boot, seed=setup.seed + 2, confidence=setup.confidence,
              unit_value=value_h if setup.binary else None)
    # every depth and the best depth on the same resamples, in one pass (the draws do not depend on the depths)
    point, low, high, _ = profit_by_depth(*args, depths=np.r_[DEPTHS, wave.best_depth], **kw)
    best = Interval(float(point[-1]), float(low[-1]), float(high[-1]), setup.confidence,
                    Msg("held-out estimate at the chosen depth, scaled to {n:,} eligible customers; "
                        "stratified bootstrap ({n_boot}) with the value per conversion redrawn", n=wave.n_eligible,
                        n_boot=setup.n_boot))
    return _ProfitCurves(point[:-1], low[:-1], high[:-1], best)
