"""Cumulative incidence of conversion over time, with censoring and a competing event, from a life table.

The table is the one :func:`uplift.data.collect.incidence_table` returns for one arm: per distinct
day t_i, ``at_risk`` n_i, conversions d1_i, competing events d2_i (e.g. the customer left the bank)
and censored customers (follow-up ended). With d_i = d1_i + d2_i and the all-cause Kaplan-Meier
S(t) = prod_{t_i <= t} (1 - d_i / n_i):

* **no competing event** (:func:`cumulative_incidence` with ``competing=False``): the Kaplan-Meier
  complement F(t) = 1 - S(t) with Greenwood's variance S(t)^2 sum_{t_i <= t} d_i / (n_i (n_i - d_i))
  (Greenwood 1926; Kalbfleisch & Prentice 2002, sec. 1.4) and the log-log interval on S, as
  lifelines' ``KaplanMeierFitter`` (its ``cumulative_density_`` and ``1 - confidence_interval_``);
* **a competing event**: the Aalen-Johansen estimator F1(t) = sum_{t_i <= t} S(t_{i-1}) d1_i / n_i
  (Aalen & Johansen 1978; Kalbfleisch & Prentice 2002, sec. 8.2.2) with the delta-method
  (Greenwood-type) variance of Collett (2015, *Modelling Survival Data in Medical Research*,
  3rd ed., p. 411), as lifelines' ``AalenJohansenFitter.variance_``::

      Var F1(t) = sum_{t_i <= t} { [F1(t) - F1(t_i)]^2 d_i / (n_i (n_i - d_i))
                                   + S(t_{i-1})^2 d1_i (n_i - d1_i) / n_i^3
                                   - 2 [F1(t) - F1(t_i)] S(t_{i-1}) d1_i / n_i^2 }

  and the log-log interval F1^{exp(+-z se / (F1 |log F1|))}. (lifelines jitters event times tied
  between the two kinds of event; this module keeps ties, with conversions and competing events
  at the same day both counted at that day.) A term d_i / (n_i (n_i - d_i)) with n_i = d_i is set
  to 0, as lifelines' Kaplan-Meier does.

The difference between two arms at a day t (:func:`incidence_difference`) is F_a(t) - F_c(t) with
variance Var F_a(t) + Var F_c(t) (independent arms), a Wald interval and a two-sided normal p-value.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from uplift.stats import distributions as stats  # scipy.stats' normal, chi2 without importing it

from uplift.survival.estimators import kaplan_meier
from uplift.text import chart_label

__all__ = ["Incidence", "IncidenceDifference", "cumulative_incidence", "incidence_difference"]


@dataclass(frozen=True)
class Incidence:
    """Cumulative incidence of conversion for one arm. Arrays are indexed by the table's distinct days.

    ``incidence[j]`` is F(t_j), ``variance[j]`` its variance, ``lower``/``upper`` the pointwise
    interval at ``confidence``; ``method`` "Kaplan-Meier" (1 - KM) or "Aalen-Johansen"."""

    label: str
    method: str
    times: np.ndarray
    at_risk: np.ndarray
    events: np.ndarray
    competing: np.ndarray
    censored: np.ndarray
    incidence: np.ndarray
    variance: np.ndarray
    lower: np.ndarray
    upper: np.ndarray
    confidence: float = 0.95

    @property
    def n(self) -> int:
        """Customers in the arm (at risk at the first day)."""
        return int(self.at_risk[0]) if len(self.at_risk) else 0

    @property
    def last_day(self) -> float:
        """The longest observed time: the curve is defined up to it."""
        return float(self.times[-1]) if len(self.times) else 0.0

    def at(self, t: float) -> tuple[float, float, float, float]:
        """(F(t), Var F(t), lower, upper) as a right-continuous step function: 0 before the first day,
        NaN after the longest observed time."""
        if t > self.last_day:
            return (float("nan"),) * 4
        j = int(np.searchsorted(self.times, float(t), side="right")) - 1
        if j < 0:
            return 0.0, 0.0, 0.0, 0.0
        return float(self.incidence[j]), float(self.variance[j]), float(self.lower[j]), float(self.upper[j])

    def plot(self, ax: Any, until: float | None = None, color: Any = None, band: bool = True) -> Any:
        """Draw the step curve from day 0 (and its band) on a matplotlib Axes, up to ``until``."""
        keep = self.times <= (until if until is not None else self.last_day)
        t = np.concatenate([[0.0], self.times[keep]])
        f = np.concatenate([[0.0], self.incidence[keep]])
        line = ax.step(t, f, where="post", label=chart_label(self.label), color=color)[0]
        if band:
            ax.fill_between(t, np.concatenate([[0.0], self.lower[keep]]), np.concatenate([[0.0], self.upper[keep]]),
                            step="post", alpha=0.2, color=line.get_color(), linewidth=0)
        return ax


def _loglog_bounds(f: np.ndarray, se: np.ndarray, z: float) -> tuple[np.ndarray, np.ndarray]:
    """F^{exp(z se / (F |log F|))} and F^{exp(-z se / (F |log F|))}: the log(-log F) interval (0 or 1 kept)."""
    inside = (f > 0) & (f < 1)
    fi = np.where(inside, f, 0.5)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        delta = z * se / (fi * np.abs(np.log(fi)))
        lo = np.where(inside, fi ** np.exp(delta), f)
        hi = np.where(inside, fi ** np.exp(-delta), f)
    return lo, hi


def _aalen_johansen_variance(f1: np.ndarray, lag_s: np.ndarray, n: np.ndarray, d: np.ndarray,
                             d1: np.ndarray) -> np.ndarray:
    """Collett's delta-method variance of the Aalen-Johansen estimate at every day (module docstring),
    summed directly over i <= j in blocks of rows (no expansion of the squares, so no cancellation)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        a = np.where(n > d, d / (n * (n - d)), 0.0)
        b = lag_s ** 2 * d1 * (n - d1) / n ** 3
        c = lag_s * d1 / n ** 2
    second = np.cumsum(b)
    out = np.empty(len(f1))
    for start in range(0, len(f1), 512):
        j = np.arange(start, min(start + 512, len(f1)))
        diff = f1[j, None] - f1[None, :]
        mask = np.arange(len(f1))[None, :] <= j[:, None]
        out[j] = np.where(mask, diff ** 2 * a - 2 * diff * c, 0.0).sum(axis=1) + second[j]
    return out


def cumulative_incidence(table: pd.DataFrame, competing: bool, confidence: float = 0.95,
                         label: str = "") -> Incidence:
    """The cumulative incidence of conversion from a one-arm table (time, at_risk, events, competing,
    censored): 1 - Kaplan-Meier without a competing event, Aalen-Johansen with one (module docstring)."""
    t = table.sort_values("time")
    times = t["time"].to_numpy(dtype=float)
    n = t["at_risk"].to_numpy(dtype=float)
    d1 = t["events"].to_numpy(dtype=float)
    d2 = t["competing"].to_numpy(dtype=float) if "competing" in t else np.zeros(len(t))
    cens = t["censored"].to_numpy(dtype=float)
    z = float(stats.norm.ppf(0.5 + confidence / 2))
    if not competing:
        km = kaplan_meier(pd.DataFrame({"time": times, "at_risk": n, "events": d1, "censored": cens + d2}),
                          confidence=confidence, label=label)
        inc, var, lo, hi = 1 - km.survival, km.survival ** 2 * km.greenwood, 1 - km.upper, 1 - km.lower
        method = "Kaplan-Meier"
    else:
        d = d1 + d2
        with np.errstate(divide="ignore", invalid="ignore"):
            s = np.cumprod(np.where(n > 0, 1.0 - d / np.where(n > 0, n, 1.0), 1.0))
        lag_s = np.concatenate([[1.0], s[:-1]])
        inc = np.cumsum(np.where(n > 0, lag_s * d1 / np.where(n > 0, n, 1.0), 0.0))
        var = _aalen_johansen_variance(inc, lag_s, n, d, d1)
        lo, hi = _loglog_bounds(inc, np.sqrt(np.maximum(var, 0.0)), z)
        method = "Aalen-Johansen"
    return Incidence(label=str(label), method=method, times=times, at_risk=n.astype(np.int64),
                     events=d1.astype(np.int64), competing=d2.astype(np.int64), censored=cens.astype(np.int64),
                     incidence=inc, variance=var, lower=lo, upper=hi, confidence=confidence)


@dataclass(frozen=True)
class IncidenceDifference:
    """F_arm(t) - F_control(t) at day ``day``: estimate, standard error, Wald interval, two-sided p-value."""

    arm: str
    control: str
    day: float
    estimate: float
    se: float
    lower: float
    upper: float
    p_value: float
    confidence: float

    def to_dict(self) -> dict[str, Any]:
        return {"arm": self.arm, "control": self.control, "days": self.day, "difference": self.estimate,
                "se": self.se, "lower": self.lower, "upper": self.upper, "p_value": self.p_value}


def incidence_difference(arm: Incidence, control: Incidence, day: float, confidence: float = 0.95) -> IncidenceDifference:
    """F_a(t) - F_c(t), se = sqrt(Var F_a(t) + Var F_c(t)) (independent arms), interval estimate +- z se,
    p = 2 (1 - Phi(|estimate| / se)). NaN where either curve is not observed as far as ``day``."""
    fa, va, _, _ = arm.at(day)
    fc, vc, _, _ = control.at(day)
    est, se = fa - fc, float(np.sqrt(va + vc))
    z = float(stats.norm.ppf(0.5 + confidence / 2))
    p = float(2 * stats.norm.sf(abs(est) / se)) if se > 0 else (1.0 if est == 0 else float("nan"))
    return IncidenceDifference(arm=arm.label, control=control.label, day=float(day), estimate=est, se=se,
                               lower=est - z * se, upper=est + z * se, p_value=p, confidence=confidence)
