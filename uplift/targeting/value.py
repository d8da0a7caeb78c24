"""The value of one conversion: what an extra conversion is worth, on average and per customer.

``V_i`` in the profit formula of :mod:`uplift.targeting.analyse`:

* a continuous (money) outcome: 1 (the uplift is already money);
* ``[targeting] value_per_conversion``: that number for everyone;
* ``[targeting] value = "clv"``: the incremental CLV per treated customer over the incremental
  conversion rate, dCLV / dp (:func:`clv_value_per_conversion`);
* otherwise, with ``[economics]`` margin and conversion columns (the default ``value =
  "margin"``): finance's value of a conversion, the incremental net value (margin - cannibalised
  margin - cost to serve, CUPED-adjusted as finance) per incremental conversion, d_pi / d_p, with
  its delta-method interval (:class:`uplift.metrics.valuation.Valuation`): ONE definition for
  finance and targeting, the same for every customer;
* otherwise (``[targeting] value_column``, or the incremental conversion rate not clearly
  above 0) from the test's net value per customer. Its average is the coefficient
  of the conversion indicator in an OLS regression of net value on conversion and the features
  (HC1 interval, :func:`estimate_value_per_conversion`): controlling for the features removes the
  part of "converters have higher margins" that is due to who they are rather than to the new
  product. Per customer, ``V_i = f1(x_i) - f0(x_i)``: gradient-boosting regressions of net value
  on the features among converters and among non-converters of the training part
  (:func:`fit_unit_value`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy.stats import norm

from uplift.clv.analyse import clv_analysis
from uplift.errors import DataError, SpecError
from uplift.metrics.valuation import Valuation
from uplift.targeting.evaluation import Interval
from uplift.targeting.models import FeatureEncoder
from uplift.targeting.sample import SampleSplit, TargetingSetup, TrainingSample
from uplift.text import Msg

__all__ = [
    "ConversionValue",
    "value_per_conversion",
    "clv_value_per_conversion",
    "estimate_value_per_conversion",
    "finance_value",
    "UnitValue",
    "fit_unit_value",
]


@dataclass(frozen=True)
class ConversionValue:
    """The average value of one conversion with its interval, where it comes from (``source``), the
    net value of every customer of the training sample when it was estimated from them (else None), and
    whether it is finance's value (``from_finance``)."""

    value: Interval
    source: str
    net_values: np.ndarray | None = None
    from_finance: bool = False


def value_per_conversion(spec: Any, setup: TargetingSetup, sample: TrainingSample,
                         encoder: FeatureEncoder, valuation: Valuation | None = None) -> ConversionValue:
    """The value of one conversion as the spec asks (see the module docstring for each case), with an
    interval at ``[analysis] confidence``. ``encoder`` is fitted on the sample's features; ``valuation``
    is finance's (:class:`uplift.metrics.valuation.Valuation` of the modelled arm), None when there is none."""
    confidence = setup.confidence
    if not setup.binary:
        return ConversionValue(Interval(1.0, 1.0, 1.0, confidence, Msg("the outcome is already money")),
                               Msg("the outcome '{outcome}' is money: value 1 per unit of uplift", outcome=setup.outcome))
    s = spec.targeting
    if s.value_per_conversion is not None:
        v = s.value_per_conversion
        return ConversionValue(Interval(v, v, v, confidence, Msg("fixed in the spec")), "[targeting] value_per_conversion")
    if s.value == "clv":
        value = clv_value_per_conversion(spec, sample.outcome_rows(), setup.arm_column, setup.control, sample.arm,
                                         sample.y, sample.t)
        return ConversionValue(value, Msg("incremental CLV per treated customer / incremental conversion rate "
                                          "([targeting] value = \"clv\"; the offer's lifetime value flows through "
                                          "conversion)"))
    if valuation is not None and not s.value_column:
        v = finance_value(valuation, confidence)
        if v is not None:
            net = _net_value(spec, sample.frame)[0] if not s.value_column else None
            return ConversionValue(v, Msg("finance's incremental net value per incremental conversion (d_pi / d_p; "
                                          "{estimator})", estimator=valuation.describe()), net, from_finance=True)
    net, source = _net_value(spec, sample.frame)
    value = estimate_value_per_conversion(net, sample.y, encoder.transform(sample.X), confidence=confidence)
    return ConversionValue(value, source, net)


def finance_value(valuation: Valuation, confidence: float) -> Interval | None:
    """Finance's value of a conversion ``V = d_pi / d_p`` (:attr:`uplift.metrics.valuation.Valuation.value_per_conversion`)
    with its delta-method normal interval; None when the incremental conversion rate is not clearly above 0
    (the ratio would be meaningless)."""
    z = float(norm.ppf(0.5 + confidence / 2))
    dp, vdp = valuation.incremental_conversion
    vpc = valuation.value_per_conversion
    if vpc is None or not dp - z * np.sqrt(vdp) > 0:
        return None
    v, var = vpc
    se = float(np.sqrt(var))
    return Interval(v, v - z * se, v + z * se, confidence,
                    "incremental net value / incremental conversion rate (finance's), delta method")


def _net_value(spec: Any, frame: pd.DataFrame) -> tuple[np.ndarray, str]:
    """Net value per customer: ``[targeting] value_column``, else ``[economics]`` margin - cannibalised
    margin - cost to serve; and how it was built. Refuses (one line) missing columns or values."""
    econ, label = spec.economics, spec.label
    vcol = spec.targeting.value_column
    if vcol:
        if vcol not in frame.columns:
            raise DataError(f"outcomes: has no column '{vcol}' ([targeting] value_column); add it or remove the key to derive value from [economics]")
        net = pd.to_numeric(frame[vcol], errors="coerce")
        source = Msg("OLS of '{column}' on conversion and the features", column=vcol)
    else:
        mcol = econ.margin_column if econ is not None else ""
        if not mcol:
            raise SpecError(f"{label}: cannot value a conversion; set [targeting] value_per_conversion, [targeting] value_column or [economics] margin_column")
        parts = [(mcol, 1.0), (econ.cannibalised_column, -1.0), (econ.cost_to_serve_column, -1.0)]
        net = pd.Series(0.0, index=frame.index)
        used = []
        for col, sign in parts:
            if not col:
                continue
            if col not in frame.columns:
                raise DataError(f"outcomes: has no column '{col}' named in [economics]; add it or fix {label}")
            net = net + sign * pd.to_numeric(frame[col], errors="coerce")
            used.append(("+ " if sign > 0 else "- ") + col)
        source = Msg("OLS of ({columns}) on conversion and the features", columns=" ".join(used).lstrip("+ "))
    if net.isna().any():
        raise DataError(f"outcomes: the value columns have {int(net.isna().sum()):,} missing values; fill them first")
    return net.to_numpy(dtype=np.float64), source


def clv_value_per_conversion(spec: Any, outcomes: pd.DataFrame, arm_column: str, control: str, arm: str,
                             converted: np.ndarray, treated: np.ndarray) -> Interval:
    """Value of one conversion from the test's incremental CLV: V = dCLV / dp.

    dCLV is the incremental CLV per treated customer of ``arm`` (:func:`uplift.clv.analyse.clv_analysis`)
    and dp the incremental conversion rate; the interval is the delta method for a ratio of two
    independent estimates, se(V) = |V| sqrt((se_dCLV / dCLV)^2 + (se_dp / dp)^2).
    Refused (one line) when dp is not clearly positive: the ratio would be meaningless.
    """
    if spec.clv is None:
        raise SpecError(f"{spec.label}: [targeting] value = \"clv\" needs a [clv] section; add it or use value = \"margin\"")
    confidence = spec.analysis.confidence
    z = float(norm.ppf(0.5 + confidence / 2))
    inc = clv_analysis(spec, outcomes, arm_column, control).to_dict()["incremental"][arm]
    c1, c0 = converted[treated == 1], converted[treated == 0]
    dp = float(c1.mean() - c0.mean())
    se_dp = float(np.sqrt(c1.var() / len(c1) + c0.var() / len(c0)))
    if not dp - z * se_dp > 0:
        raise DataError(f"outcomes: the incremental conversion rate ({dp:+.4f}, se {se_dp:.4f}) is not clearly above 0, so "
                        "incremental CLV cannot be priced per conversion; set [targeting] value = \"margin\" or value_per_conversion")
    v = float(inc["clv"]) / dp
    se_v = abs(v) * float(np.sqrt((inc["se"] / inc["clv"]) ** 2 + (se_dp / dp) ** 2)) if inc["clv"] else float("inf")
    return Interval(v, v - z * se_v, v + z * se_v, confidence,
                    "incremental CLV / incremental conversion rate, delta method (independent estimates)")


def estimate_value_per_conversion(value: Any, converted: Any, features: np.ndarray | None = None,
                                  confidence: float = 0.95) -> Interval:
    """OLS coefficient of ``converted`` in ``value ~ 1 + converted + features`` with an HC1 interval.

    By Frisch-Waugh-Lovell this is the value difference between converters and
    non-converters after removing what the features explain (statsmodels OLS, HC1).
    """
    from statsmodels.regression.linear_model import OLS  # not statsmodels.api: a fifth of the import time

    v = np.asarray(value, dtype=np.float64)
    c = np.asarray(converted, dtype=np.float64)
    cols = [np.ones(len(v)), c]
    if features is not None and features.shape[1]:
        f = np.asarray(features, dtype=np.float64)
        f = (f - f.mean(axis=0)) / np.where(f.std(axis=0) > 0, f.std(axis=0), 1.0)
        cols.append(f)
    X = np.column_stack(cols)
    # keep a linearly independent set of columns (one-hot blocks are collinear with the
    # constant): pivoted QR, constant and conversion first so they are always kept
    X = X[:, _independent_columns(X)]
    res = OLS(v, X).fit(cov_type="HC1")
    est, se = float(res.params[1]), float(res.bse[1])
    z = float(norm.ppf(0.5 + confidence / 2))
    return Interval(est, est - z * se, est + z * se, confidence, "OLS coefficient of conversion given the features, HC1 standard error")


def _independent_columns(X: np.ndarray, tol: float = 1e-9) -> np.ndarray:
    """Indices of a maximal set of linearly independent columns, chosen left to right (Gram-Schmidt)."""
    keep: list[int] = []
    basis = np.zeros((X.shape[0], 0))
    for j in range(X.shape[1]):
        v = X[:, j] - basis @ (basis.T @ X[:, j]) if basis.shape[1] else X[:, j].astype(float)
        norm_v = float(np.linalg.norm(v))
        if norm_v > tol * max(1.0, float(np.linalg.norm(X[:, j]))):
            keep.append(j)
            basis = np.column_stack([basis, v / norm_v])
    return np.asarray(keep, dtype=int)


@dataclass(frozen=True)
class UnitValue:
    """``V_i``, the value of one conversion for each customer: ``scale x (f1(x) - f0(x))`` with the two
    regressions of :func:`fit_unit_value`, or the ``average`` for everyone when they were not fitted.
    Targeting sets ``scale`` so that the uplift-weighted mean of ``V_i`` over the list is finance's value
    of a conversion (:func:`uplift.targeting.analyse.score_next_wave`)."""

    average: float
    encoder: FeatureEncoder
    converters: Any = None
    non_converters: Any = None
    description: str = "one value per conversion for every customer"
    notes: tuple[str, ...] = ()
    scale: float = 1.0

    def __call__(self, X: pd.DataFrame) -> np.ndarray:
        """``V_i`` for the customers of ``X`` (their feature columns)."""
        if self.converters is None:
            return np.full(len(X), self.average)
        Z = self.encoder.transform(X)
        return self.scale * (self.converters.predict(Z) - self.non_converters.predict(Z))


def fit_unit_value(setup: TargetingSetup, sample: TrainingSample, split: SampleSplit, value: ConversionValue,
                   encoder: FeatureEncoder) -> UnitValue:
    """``V_i = E[net | x, converted] - E[net | x, not converted]``: gradient-boosting regressions of the net
    value on the features among the converters and among the non-converters of the training part
    (the held-out part stays untouched). One average for everyone when the value did not come from
    the customers' net values, or with fewer than 50 converters or non-converters in training (noted).
    """
    if value.net_values is None:
        return UnitValue(value.value.estimate, encoder)
    from sklearn.ensemble import HistGradientBoostingRegressor

    rows = split.training
    conv_r = sample.y[rows] == 1
    if not (conv_r.sum() >= 50 and (~conv_r).sum() >= 50):
        return UnitValue(value.value.estimate, encoder, notes=(
            "fewer than 50 converters (or non-converters) in training: one average value per conversion",))
    Zr = encoder.transform(sample.X.iloc[rows])
    net = value.net_values[rows]
    kw = dict(max_iter=100, learning_rate=0.1, max_leaf_nodes=8, min_samples_leaf=50, random_state=setup.seed)
    return UnitValue(
        value.value.estimate, encoder,
        converters=HistGradientBoostingRegressor(**kw).fit(Zr[conv_r], net[conv_r]),
        non_converters=HistGradientBoostingRegressor(**kw).fit(Zr[~conv_r], net[~conv_r]),
        description="per customer: gradient boosting of net value on the features among converters "
                    "minus among non-converters (training units)",
    )
