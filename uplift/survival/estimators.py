"""Survival curves with right-censoring, from a life table.

Row-level work stops at :func:`life_table`: one group-by of the customer rows by
(group, duration, event flag) into a small table of counts (and, optionally, the
count, sum and centred sum of squares of a value column, e.g. the monthly
margin, per cell). Everything else here works on that small table, so the same
code runs on a life table computed by pandas, DuckDB or Spark.

* :func:`kaplan_meier` -- the product-limit estimator with Greenwood standard
  errors and log-log ("exponential Greenwood") pointwise intervals;
* :func:`logrank_test` -- the log-rank (Mantel-Cox) test between groups;
* :func:`rmst` / :func:`rmst_difference` -- the restricted mean survival time
  to a horizon with its Greenwood-type sampling variance.

References: Kaplan & Meier (1958); Greenwood (1926); Kalbfleisch & Prentice
(2002), *The Statistical Analysis of Failure Time Data*, 2nd ed., sec. 1.4;
Klein & Moeschberger (2003), *Survival Analysis*, 2nd ed., sec. 4.2-4.5 (RMST
variance, eq. 4.5.2) and 7.3 (log-rank).

Note: lifelines' ``restricted_mean_survival_time(..., return_variance=True)``
returns the variance of the truncated lifetime min(T, tau), not the sampling
variance of the RMST estimate; :func:`rmst` returns the latter.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np
import pandas as pd
from uplift.stats import distributions as stats  # scipy.stats' normal, chi2 without importing it

from uplift.data import collect
from uplift.data.source import open_source
from uplift.errors import DataError
from uplift.results import jsonable
from uplift.text import chart_label

__all__ = [
    "life_table",
    "KaplanMeier",
    "kaplan_meier",
    "LogRankResult",
    "logrank_test",
    "RMST",
    "rmst",
    "rmst_difference",
    "RMSTDifference",
]

_CELL_COLS = ("events", "censored")


# --------------------------------------------------------------------------- life table



def life_table(
    data: pd.DataFrame,
    duration_col: str,
    event_col: str,
    by: str | Sequence[str] | None = None,
    value_col: str | None = None,
    label: str = "data",
    integer_durations: bool = False,
) -> pd.DataFrame:
    """Aggregate customer rows into a life table: one row per (group, time).

    The only row-level step of the survival and CLV code: one group-by of the
    rows by ``by`` + duration + event flag. Columns of the result:

    ``by...``, ``time`` (each distinct duration), ``events`` (churned at ``time``),
    ``censored`` (still active at the data cut, last seen at ``time``),
    ``at_risk`` (duration >= time, i.e. reverse cumulative sum of events + censored);
    with ``value_col`` also, for each of the two cells (``events``/``censored``)
    of the period, ``value_sum_<cell>`` and ``value_m2_<cell>`` (the sum and the
    centred sum of squares, sum (v - mean)^2, of the value within the cell), so
    that means and variances of the value over any union of cells can be pooled
    exactly (Chan, Golub & LeVeque 1979) without raw sums of squares.

    A duration equal to the data cut with no event is right-censored: the
    customer is known to have survived ``time`` periods. Ties: events at ``time``
    are counted as happening before censorings at ``time`` (the usual convention,
    as in lifelines and statsmodels).

    A life table computed by another engine (DuckDB, Spark) with these columns can
    be passed to every function of this module. The rows go through the data seam
    (:func:`uplift.data.collect.life_table` on an in-memory source), so a DataFrame gets
    the same aggregation, checks and messages as a file or an engine table.
    Missing group values, durations, flags or values raise :class:`DataError` (rows
    are never dropped silently).
    """
    by_cols: list[str] = [by] if isinstance(by, str) else list(by or [])
    return collect.life_table(open_source(data, label=label), duration_col, event_col, by=by_cols or None,
                              value=value_col, integer_durations=integer_durations)




# --------------------------------------------------------------------------- Kaplan-Meier


@dataclass(frozen=True)
class KaplanMeier:
    """A Kaplan-Meier curve. Arrays are indexed by the distinct times of the life table.

    ``survival[j]`` is S(t_j) = prod_{i <= j} (1 - d_i / n_i); ``se[j]`` its Greenwood
    standard error S(t_j) sqrt(sum_{i <= j} d_i / (n_i (n_i - d_i))); ``lower``/``upper``
    the log-log interval exp(-exp(log(-log S) -/+ z sqrt(V) / log S)), V the Greenwood sum
    (Kalbfleisch & Prentice 2002, sec. 1.4).
    """

    label: str
    times: np.ndarray
    at_risk: np.ndarray
    events: np.ndarray
    censored: np.ndarray
    survival: np.ndarray
    greenwood: np.ndarray  # cumulative sum of d / (n (n - d))
    se: np.ndarray
    lower: np.ndarray
    upper: np.ndarray
    confidence: float = 0.95

    def at(self, t: float | np.ndarray) -> np.ndarray:
        """S(t) as a right-continuous step function (1 before the first time)."""
        idx = np.searchsorted(self.times, np.asarray(t, dtype=float), side="right") - 1
        s = np.concatenate([[1.0], self.survival])
        return s[idx + 1]

    def to_frame(self) -> pd.DataFrame:
        """One row per time: at_risk, events, censored, survival, se, lower, upper."""
        return pd.DataFrame(
            {
                "time": self.times, "at_risk": self.at_risk, "events": self.events, "censored": self.censored,
                "survival": self.survival, "se": self.se, "lower": self.lower, "upper": self.upper,
            }
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (no NaN)."""
        return {
            "label": self.label,
            "confidence": self.confidence,
            **{k: jsonable(v.tolist()) for k, v in self.to_frame().items()},
        }

    def summary(self) -> str:
        """The curve as a text table."""
        head = f"Kaplan-Meier: {self.label} (log-log {self.confidence:.0%} CI, Greenwood SE)\n"
        return head + self.to_frame().to_string(index=False, float_format=lambda x: f"{x:.4f}")

    def plot(self, ax: Any, color: Any = None, band: bool = True, **kwargs: Any) -> Any:
        """Draw the step curve (and its band) on a matplotlib Axes."""
        t = np.concatenate([[0.0], self.times])
        s = np.concatenate([[1.0], self.survival])
        line = ax.step(t, s, where="post", label=chart_label(self.label), color=color, **kwargs)[0]
        if band:
            lo = np.concatenate([[1.0], self.lower])
            hi = np.concatenate([[1.0], self.upper])
            ax.fill_between(t, lo, hi, step="post", alpha=0.2, color=line.get_color(), linewidth=0)
        return ax


def kaplan_meier(table: pd.DataFrame, confidence: float = 0.95, label: str = "") -> KaplanMeier:
    """Kaplan-Meier estimate from a one-group life table (columns time, at_risk, events, censored).

    S(t) = prod_{t_i <= t} (1 - d_i / n_i); Var S(t) = S(t)^2 sum_{t_i <= t} d_i / (n_i (n_i - d_i))
    (Greenwood 1926); log-log interval exp(-exp(log(-log S) -/+ z sqrt(V) / log S)) with
    V = sum d_i / (n_i (n_i - d_i)) (Kalbfleisch & Prentice 2002, eq. 1.14). At times where the
    curve reaches 0 the Greenwood term is set to 0 (as lifelines does) and the band is [0, 0].
    """
    t = table.sort_values("time")
    times = t["time"].to_numpy(dtype=float)
    n = t["at_risk"].to_numpy(dtype=float)
    d = t["events"].to_numpy(dtype=float)
    c = t["censored"].to_numpy(dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        s = np.cumprod(np.where(n > 0, 1.0 - d / np.where(n > 0, n, 1.0), 1.0))
        term = np.where((n > d) & (n > 0), d / (n * (n - d)), 0.0)
        gw = np.cumsum(term)
        se = s * np.sqrt(gw)
        z = stats.norm.ppf(0.5 + confidence / 2)
        logs = np.log(s)
        lo = np.exp(-np.exp(np.log(-logs) - z * np.sqrt(gw) / logs))
        hi = np.exp(-np.exp(np.log(-logs) + z * np.sqrt(gw) / logs))
    lo = np.where(s >= 1.0, 1.0, np.where(s <= 0.0, 0.0, lo))
    hi = np.where(s >= 1.0, 1.0, np.where(s <= 0.0, 0.0, hi))
    return KaplanMeier(
        label=str(label), times=times, at_risk=n.astype(np.int64), events=d.astype(np.int64),
        censored=c.astype(np.int64), survival=s, greenwood=gw, se=se, lower=lo, upper=hi, confidence=confidence,
    )


# --------------------------------------------------------------------------- log-rank


@dataclass(frozen=True)
class LogRankResult:
    """The log-rank test: chi-square statistic on k - 1 degrees of freedom and its p-value.

    ``observed``/``expected`` are per group: sum_j d_gj and sum_j n_gj d_j / n_j.
    """

    statistic: float
    df: int
    p_value: float
    groups: tuple[str, ...]
    observed: tuple[float, ...]
    expected: tuple[float, ...]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict."""
        return {
            "test": "log-rank (Mantel-Cox)",
            "statistic": jsonable(self.statistic),
            "df": self.df,
            "p_value": jsonable(self.p_value),
            "groups": list(self.groups),
            "observed": jsonable(list(self.observed)),
            "expected": jsonable(list(self.expected)),
        }

    def summary(self) -> str:
        """One line of text."""
        return f"Log-rank test: chi2 = {self.statistic:.3f} on {self.df} df, p = {self.p_value:.4g}"


def logrank_test(table: pd.DataFrame, by: str) -> LogRankResult:
    """Log-rank test that the survival curves of the groups in a life table are equal.

    With n_j, d_j the pooled at-risk and events at each distinct time and n_gj, d_gj
    per group: U_g = sum_j (d_gj - n_gj d_j / n_j), and the hypergeometric covariance
    V_gh = sum_j d_j (n_j - d_j) / (n_j - 1) * (n_gj / n_j) (1{g=h} - n_hj / n_j).
    The statistic U' V^- U over the first k - 1 groups is chi-square with k - 1 df
    (Klein & Moeschberger 2003, sec. 7.3; same as statsmodels ``survdiff`` and
    lifelines ``multivariate_logrank_test``).
    """
    groups = sorted(table[by].dropna().unique().tolist(), key=str)
    if len(groups) < 2:
        raise DataError(f"log-rank test needs at least two groups in column {by!r}; found {len(groups)}")
    times = np.unique(table["time"].to_numpy(dtype=float))
    k, m = len(groups), len(times)
    n_g = np.zeros((k, m))
    d_g = np.zeros((k, m))
    for gi, gname in enumerate(groups):
        sub = table[table[by] == gname].sort_values("time")
        tt = sub["time"].to_numpy(dtype=float)
        at = sub["at_risk"].to_numpy(dtype=float)
        idx = np.searchsorted(tt, times, side="left")  # first group time >= t: at risk there
        n_g[gi] = np.where(idx < len(tt), at[np.minimum(idx, len(tt) - 1)], 0.0)
        pos = np.searchsorted(times, tt)
        d_g[gi, pos] = sub["events"].to_numpy(dtype=float)
    n = n_g.sum(axis=0)
    d = d_g.sum(axis=0)
    keep = (n > 0) & (d > 0)
    n_g, d_g, n, d = n_g[:, keep], d_g[:, keep], n[keep], d[keep]
    e_g = n_g * d / n
    u = (d_g - e_g).sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        w = np.where(n > 1, d * (n - d) / (n - 1), 0.0)
    frac = n_g / n
    v = np.einsum("j,gj,hj->gh", w, frac, -frac)
    v[np.diag_indices(k)] += (w * frac).sum(axis=1)
    uu, vv = u[:-1], v[:-1, :-1]
    stat = float(uu @ np.linalg.pinv(vv) @ uu)
    df = k - 1
    return LogRankResult(
        statistic=stat, df=df, p_value=float(stats.chi2.sf(stat, df)), groups=tuple(map(str, groups)),
        observed=tuple(d_g.sum(axis=1).tolist()), expected=tuple(e_g.sum(axis=1).tolist()),
    )


# --------------------------------------------------------------------------- RMST


@dataclass(frozen=True)
class RMST:
    """Restricted mean survival time to ``horizon`` with its standard error and interval."""

    label: str
    horizon: float
    estimate: float
    se: float
    lower: float
    upper: float
    confidence: float = 0.95

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict."""
        return {k: jsonable(v) for k, v in self.__dict__.items()}

    def summary(self) -> str:
        """One line of text."""
        return (
            f"RMST({self.label}, to {self.horizon:g}) = {self.estimate:.4f} (SE {self.se:.4f}, "
            f"{self.confidence:.0%} CI {self.lower:.4f} to {self.upper:.4f})"
        )


def _rmst_parts(km: KaplanMeier, horizon: float) -> tuple[float, float]:
    """RMST and its variance (Klein & Moeschberger 2003, eq. 4.5.1-4.5.2)."""
    times = km.times
    s = km.survival
    # step function S on [0, horizon]: value 1 on [0, t_1), s_j on [t_j, t_{j+1})
    inside = times < horizon
    knots = np.concatenate([[0.0], times[inside], [horizon]])
    vals = np.concatenate([[1.0], s[inside]])
    areas = vals * np.diff(knots)
    est = float(areas.sum())
    # A_j = integral of S from t_j to horizon, for event times t_j < horizon
    a = np.cumsum(areas[::-1])[::-1][1:]  # A at each t_j (j over inside times)
    n = km.at_risk[inside].astype(float)
    d = km.events[inside].astype(float)
    with np.errstate(divide="ignore", invalid="ignore"):
        term = np.where(n > d, d / (n * (n - d)), 0.0)
    var = float(np.sum(a**2 * term))
    return est, var


def rmst(km: KaplanMeier, horizon: float, confidence: float = 0.95) -> RMST:
    """Restricted mean survival time mu(tau) = integral_0^tau S(t) dt of a Kaplan-Meier curve.

    Estimate: the area under the KM step function up to tau. Sampling variance
    (Klein & Moeschberger 2003, eq. 4.5.2):
    Var = sum_{t_j <= tau} A_j^2 d_j / (n_j (n_j - d_j)),  A_j = integral_{t_j}^{tau} S(u) du.
    Wald interval estimate +/- z SE.
    """
    if not horizon > 0:
        raise DataError(f"RMST horizon must be above 0; got {horizon!r}")
    est, var = _rmst_parts(km, float(horizon))
    se = float(np.sqrt(var))
    z = stats.norm.ppf(0.5 + confidence / 2)
    return RMST(km.label, float(horizon), est, se, est - z * se, est + z * se, confidence)


@dataclass(frozen=True)
class RMSTDifference:
    """RMST of ``arm`` minus ``control`` (independent samples), with SE, interval and p-value."""

    arm: str
    control: str
    horizon: float
    estimate: float
    se: float
    lower: float
    upper: float
    p_value: float
    confidence: float = 0.95

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict."""
        return {k: jsonable(v) for k, v in self.__dict__.items()}

    def summary(self) -> str:
        """One line of text."""
        return (
            f"RMST difference {self.arm} - {self.control} (to {self.horizon:g}) = {self.estimate:.4f} "
            f"({self.confidence:.0%} CI {self.lower:.4f} to {self.upper:.4f}, p = {self.p_value:.4g})"
        )


def rmst_difference(arm: RMST, control: RMST) -> RMSTDifference:
    """Difference of two independent RMSTs: SE = sqrt(SE_a^2 + SE_c^2), Wald interval and two-sided p."""
    if arm.horizon != control.horizon:
        raise DataError("RMST difference needs both RMSTs to the same horizon")
    est = arm.estimate - control.estimate
    se = float(np.hypot(arm.se, control.se))
    z = stats.norm.ppf(0.5 + arm.confidence / 2)
    p = float(2 * stats.norm.sf(abs(est) / se)) if se > 0 else float("nan")
    return RMSTDifference(arm.label, control.label, arm.horizon, est, se, est - z * se, est + z * se, p, arm.confidence)
