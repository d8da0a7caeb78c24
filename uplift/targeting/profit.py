"""Expected profit of contacting a customer, the calibration of the uplift score, and the held-out
profit by targeting depth.

Expected incremental profit of contacting customer *i* (Devriendt, Berrevoets & Verbeke 2021,
"Why you should stop predicting customer churn and start using uplift models", Information
Sciences 548:497; sklift's ``max_prof_uplift`` uses the same accounting)::

    profit_i = tau_i * V_i  -  c_contact  -  c_incentive * p1_i

with ``tau_i`` the calibrated uplift (:func:`calibrate_uplift`, :func:`calibrated_uplift`), ``V_i``
the value of one conversion (:mod:`uplift.targeting.value`), ``c_contact`` and ``c_incentive`` the
``[economics] contact_cost`` and ``incentive_cost``, and ``p1_i`` the probability of converting
when offered (:func:`fit_profit_model`). :func:`profit_by_depth` estimates, on held-out customers,
what contacting the top share by a score earns, with a stratified bootstrap interval.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy.stats import norm

from uplift.metrics.valuation import expected_profit
from uplift.targeting.bootstrap import bootstrap_count_chunks, factor_packing
from uplift.targeting.evaluation import Interval
from uplift.targeting.models import FeatureEncoder
from uplift.targeting.sample import SampleSplit, TargetingSetup, TrainingSample
from uplift.targeting.value import UnitValue

__all__ = [
    "DEPTHS",
    "ProfitModel",
    "fit_profit_model",
    "calibrate_uplift",
    "calibrated_uplift",
    "profit_by_depth",
]

DEPTHS = np.round(np.linspace(0.0, 1.0, 101), 2)
"""Targeting depths of the profit curve: 0%, 1%, ..., 100% of the eligible customers."""


@dataclass(frozen=True)
class ProfitModel:
    """``profit_i = tau_i V_i - c_contact - c_incentive p1_i`` (:func:`uplift.metrics.valuation.expected_profit`)
    for customers given their features and calibrated uplift. ``p1_i`` from ``conversion_model`` (a
    classifier on the encoded features) when fitted, else ``average_conversion`` for everyone, times
    ``conversion_ratio`` (set so that the list's mean equals the test's conversion rate when offered)."""

    unit_value: UnitValue
    encoder: FeatureEncoder
    contact_cost: float
    incentive_cost: float
    conversion_model: Any = None
    average_conversion: float = 0.0
    conversion_ratio: float = 1.0

    def model_conversion(self, X: pd.DataFrame) -> np.ndarray:
        """The model's probability of converting when offered (before ``conversion_ratio``)."""
        if self.conversion_model is not None:
            return self.conversion_model.predict_proba(self.encoder.transform(X))[:, 1]
        return np.full(len(X), self.average_conversion) if self.incentive_cost > 0 else np.zeros(len(X))

    def conversion_probability(self, X: pd.DataFrame) -> np.ndarray:
        """``p1_i``: the probability of converting when offered."""
        return self.conversion_ratio * self.model_conversion(X)

    def __call__(self, X: pd.DataFrame, tau: np.ndarray) -> np.ndarray:
        """Expected incremental profit of contacting each customer of ``X`` with calibrated uplift ``tau``."""
        return expected_profit(tau, self.unit_value(X), self.contact_cost, self.incentive_cost,
                               self.conversion_probability(X))


def fit_profit_model(setup: TargetingSetup, sample: TrainingSample, split: SampleSplit, unit_value: UnitValue,
                     encoder: FeatureEncoder) -> ProfitModel:
    """The expected-profit model. With an incentive cost, ``p1`` is a gradient-boosting classifier of
    conversion on the features of the treated training units (their average conversion if they all
    converted or none did); without one, ``p1`` plays no role."""
    incentive = setup.incentive_cost
    conv, t = sample.converted, sample.t
    model = None
    if incentive > 0:
        from sklearn.ensemble import HistGradientBoostingClassifier

        tr = split.fit[t[split.fit] == 1]
        if len(np.unique(conv[tr])) > 1:
            model = HistGradientBoostingClassifier(max_iter=100, learning_rate=0.05, min_samples_leaf=100,
                                                   random_state=setup.seed).fit(encoder.transform(sample.X.iloc[tr]), conv[tr])
    average = float(conv[t == 1].mean()) if incentive > 0 else 0.0
    return ProfitModel(unit_value, encoder, setup.contact_cost, incentive, model, average)


def calibrate_uplift(y: np.ndarray, t: np.ndarray, tau_hat: np.ndarray, confidence: float = 0.95) -> dict[str, float]:
    """Best linear predictor of the uplift given a score (Chernozhukov, Demirer, Duflo &
    Fernandez-Val 2018, "Generic machine learning inference on heterogeneous treatment
    effects", NBER w24678, eq. for BLP with a constant propensity ``e``).

    OLS of ``y`` on ``1, (t - e), (t - e)(tau_hat - mean tau_hat)`` (HC1):
    the coefficient of ``t - e`` is the average effect, the slope ``b`` of the interaction
    measures how well the score tracks the true uplift (``b = 1``: calibrated; ``b = 0``:
    no detected heterogeneity). Calibrated uplift: ``ate + b (tau_hat - mean)``.
    """
    from statsmodels.regression.linear_model import OLS  # not statsmodels.api: a fifth of the import time

    y = np.asarray(y, dtype=np.float64)
    t = np.asarray(t, dtype=np.float64)
    s = np.asarray(tau_hat, dtype=np.float64)
    e = float(t.mean())
    center = float(s.mean())
    X = np.column_stack([np.ones(len(y)), t - e, (t - e) * (s - center)])
    if np.ptp(s) == 0:
        X = X[:, :2]
    res = OLS(y, X).fit(cov_type="HC1")
    z = float(norm.ppf(0.5 + confidence / 2))
    b = float(res.params[2]) if X.shape[1] == 3 else 0.0
    b_se = float(res.bse[2]) if X.shape[1] == 3 else float("nan")
    return {"ate": float(res.params[1]), "ate_se": float(res.bse[1]), "slope": b, "slope_se": b_se,
            "slope_ci_low": b - z * b_se, "slope_ci_high": b + z * b_se, "center": center}

def calibrated_uplift(calibration: dict[str, float], tau_hat: np.ndarray) -> np.ndarray:
    """``ate + max(b, 0) (tau_hat - center)``: a score mapped to uplift by its best linear predictor
    (:func:`calibrate_uplift`); a negative slope is taken as 0 (no usable ranking)."""
    slope = max(calibration["slope"], 0.0)
    return calibration["ate"] + slope * (tau_hat - calibration["center"])


def profit_by_depth(y: np.ndarray, t: np.ndarray, converted: np.ndarray, score: np.ndarray, value: Interval,
                    contact_cost: float, incentive_cost: float, scale: float, n_boot: int = 200, seed: int = 0,
                    confidence: float = 0.95, depths: np.ndarray = DEPTHS,
                    unit_value: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Estimated total incremental profit at each depth (share contacted, by descending ``score``).

    ``P(d) = scale * (m/n) * [(vbar_t - vbar_c) - c_contact - c_incentive convbar_t]`` over the
    top ``m = round(d n)`` held-out units, where ``v_i = y_i V_i`` is each unit's converted
    value (``V_i = unit_value`` if given, else the constant ``V``) and ``scale`` is the number
    of eligible customers. Returns (point, low, high, bootstrap draws) over ``depths``;
    intervals are stratified bootstrap percentiles, and each resample also rescales the
    values by ``V_b / V`` with ``V_b ~ Normal(V, se)`` (the value's own uncertainty). The resamples
    come in chunks (:func:`uplift.targeting.bootstrap.bootstrap_count_chunks`), each chunk's counts
    then its ``V_b`` draws, and every depth of every resample is computed at once from the
    cumulative weighted sums along the score order (the counts' whole-number sums by
    :func:`uplift.targeting.bootstrap.factor_packing`, the same numbers).
    """
    n = len(y)
    order = np.argsort(-score, kind="stable")
    vals = y * (unit_value if unit_value is not None else value.estimate)
    ys, ts, cs = vals[order], t[order], converted[order]
    cut = np.round(depths * n).astype(int)
    z = float(norm.ppf(0.5 + value.confidence / 2))
    v_se = (value.high - value.low) / (2 * z) if np.isfinite(value.high) else 0.0
    rel_se = v_se / abs(value.estimate) if value.estimate else 0.0
    # the counts' running totals (every unit, treated, treated converters): whole numbers, one integer
    # cumulative sum of packed fields when the arm and conversion are 0/1 (the same numbers)
    packing = factor_packing((np.ones(n), t, converted * t))

    def curve(w: np.ndarray, factor: np.ndarray) -> np.ndarray:
        """The profit at every depth for each row of counts ``w`` (units in their own order)."""
        ws = w[:, order]
        if packing is not None:
            cums = packing.cumsums(packing.pack(w), order)
            n_all, n_t, c_t = packing.unpack([c[:, cut - 1] for c in cums], fields=3)
            total = packing.unpack([c[:, -1:] for c in cums], fields=1)[0]
        else:
            cw = np.cumsum(ws, axis=1)
            n_all, total = cw[:, cut - 1], cw[:, -1:]
            n_t = np.cumsum(ws * ts, axis=1)[:, cut - 1]
            c_t = np.cumsum(ws * cs * ts, axis=1)[:, cut - 1]
        n_c = n_all - n_t
        y_t = np.cumsum(ws * ys * ts, axis=1)[:, cut - 1]
        y_c = np.cumsum(ws * ys * (1 - ts), axis=1)[:, cut - 1]
        with np.errstate(invalid="ignore", divide="ignore"):
            up = y_t / n_t - y_c / n_c
            conv = c_t / n_t
            per = n_all / total * (up * factor[:, None] - contact_cost - incentive_cost * conv)
        per[:, cut == 0] = 0.0
        return scale * per

    point = curve(np.ones((1, n)), np.ones(1))[0]
    rng = np.random.default_rng(seed)
    chunks = []
    for w in bootstrap_count_chunks(rng, t, n_boot):  # all of a chunk's counts, then its value draws
        chunks.append(curve(w, 1.0 + rel_se * rng.standard_normal(len(w))))
    draws = np.concatenate(chunks) if chunks else np.empty((0, len(depths)))
    a = (1 - confidence) / 2
    # a depth whose every resample is undefined (no treated or no control unit in its top share) has no
    # interval: NaN, without numpy's "All-NaN slice" warning (warnings filters are not thread-safe)
    low, high = np.full(len(depths), np.nan), np.full(len(depths), np.nan)
    some = ~np.isnan(draws).all(axis=0)  # no resamples: all() of nothing is True, so none
    if some.any():
        with np.errstate(all="ignore"):  # an infinite draw: its interpolation may be undefined, as before
            low[some] = np.nanquantile(draws[:, some], a, axis=0)
            high[some] = np.nanquantile(draws[:, some], 1 - a, axis=0)
    return point, low, high, draws
