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

Estimation, from the life table only (:func:`uplift.survival.estimators.life_table`, one
group-by of the rows by arm, tenure and churn flag, carrying the count, sum and
centred sum of squares of the margin per cell):

* observed periods t <= tau (tau = the last observed tenure): the margin-weighted
  product-limit estimator V(t) = mbar_0 prod_{j <= t} (1 - W^churned_j / W^at-risk_j),
  with mbar_0 the mean margin of all customers and W the margin summed over the
  customers churning in / at risk at period j. Without censoring it is exactly the
  sample mean of m 1{T > t}; with censoring independent of lifetime and margin
  (staggered entry) it is consistent, and it takes the margin level from everyone
  rather than from the few customers observed the longest (the plain Kaplan-Meier
  S(t) is reported beside it, for the survival curves and the RMST);
* beyond tau (the tail): V(t) = V(tau) G(t) / G(tau), with G a parametric
  retention curve -- shifted-beta-geometric (sBG) or discrete Weibull, chosen by
  AIC plus a holdout check on the last observed periods -- fitted by maximum
  likelihood to the same *margin-weighted* life table, i.e. to the value-retention
  curve V(t) / V(0) (for a constant margin, exactly the survival curve), so the
  drift of the survivors towards high-margin, loyal customers continues in the tail.
  The survival curve itself is extrapolated with the same model fitted to counts
  (for the plots and DERL). The assumption is stated in the results: the
  value-retention process seen in the observed periods continues beyond them.

Sampling variance: the estimate is a smooth function F of the per-customer means
x = (share of customers and margin per customer in each life-table cell), so by the
delta method Var F = (1/N^2) sum_i IF_i^2 with influence IF_i = grad F . (u_i - x),
u_i = the cell indicators of customer i and its margin times them. IF_i is linear in
the margin within a cell, so sum_i IF_i^2 = sum_cells [n_c (g_c + h_c mbar_c)^2 + h_c^2 M2_c]
(with M2_c the centred sum of squares of the margin in the cell) -- a "generalised
Greenwood" variance that reduces to Greenwood's formula for S(t) and to Klein &
Moeschberger's for the RMST. The gradient through the fitted tail model uses the
implicit function theorem (d theta / d x = -H^-1 d score / d x). Arms are independent
samples, so the incremental CLV has variance Var_arm + Var_control. A bootstrap
stratified by arm (:func:`bootstrap_incremental_clv`) checks it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd
from scipy import optimize, special, stats

from uplift.errors import DataError, SpecError
from uplift.results import jsonable
from uplift.survival.estimators import (
    KaplanMeier,
    LogRankResult,
    RMST,
    RMSTDifference,
    kaplan_meier,
    life_table,
    logrank_test,
    rmst,
    rmst_difference,
)

__all__ = [
    "ShiftedBetaGeometric",
    "DiscreteWeibull",
    "derl_sbg",
    "period_discount_rate",
    "discount_factors",
    "ArmCells",
    "arm_cells",
    "ArmCLV",
    "IncrementalCLV",
    "CLVResult",
    "clv_from_life_table",
    "clv_analysis",
    "bootstrap_incremental_clv",
    "retention_by_products",
]


# =========================================================================== retention models
# Parametric retention models for discrete renewal periods, fitted to a life table.
#
# Both models are written through their period hazard h_t = P(T = t | T >= t),
# t = 1, 2, ..., so the censored-data log-likelihood of a life table with n_t at
# risk and d_t churned in period t is
#     l(theta) = sum_t d_t log h_t(theta) + (n_t - d_t) log(1 - h_t(theta)),
# and S(t) = prod_{j <= t} (1 - h_j). The same likelihood accepts weights (the
# margin of the customers at risk and churning) in place of counts. Fitted by
# maximum likelihood on working parameters (bounded L-BFGS-B with the analytic
# gradient, or Newton steps from a warm start, polished by Newton steps with a
# finite-difference Hessian of the analytic gradient); ``se_`` from the inverse
# observed information (delta method to the natural scale). A parameter at its
# bound (sBG heterogeneity 0, the geometric limit) is held there (``free_``).


class _HazardModel:
    """Shared fitting code. Subclasses define ``_hazard_and_grad(theta, t)`` on their working
    parameters ``theta`` (with optional lower bounds) and ``natural(theta)``."""

    param_names: tuple[str, str] = ("", "")
    name: str = ""
    lower: tuple[float, float] = (-np.inf, -np.inf)

    def __init__(self, max_iter: int = 500, start: Any = None) -> None:
        self.max_iter = max_iter
        self.start = start  # working parameters to start from (e.g. a previous fit's theta_)

    # -- to implement
    def _hazard_and_grad(self, theta: np.ndarray, t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        raise NotImplementedError

    def _start(self, t: np.ndarray, at_risk: np.ndarray, events: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def natural(self, theta: np.ndarray) -> np.ndarray:
        """The model's parameters on their natural scale."""
        raise NotImplementedError

    # -- likelihood pieces (public for the delta method in uplift.clv.analyse)
    def period_scores(self, theta: np.ndarray, t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Per-period d log h / d theta and d log(1 - h) / d theta (arrays of shape (len(t), 2))."""
        h, dh = self._hazard_and_grad(theta, t)
        h = np.clip(h, 1e-300, 1 - 1e-16)
        return dh / h[:, None], -dh / (1 - h)[:, None]

    def loglik(self, theta: np.ndarray, t: np.ndarray, at_risk: np.ndarray, events: np.ndarray) -> float:
        """l(theta) = sum_t d_t log h_t + (n_t - d_t) log(1 - h_t)."""
        h, _ = self._hazard_and_grad(theta, t)
        h = np.clip(h, 1e-300, 1 - 1e-16)
        return float(np.sum(events * np.log(h) + (at_risk - events) * np.log1p(-h)))

    def score(self, theta: np.ndarray, t: np.ndarray, at_risk: np.ndarray, events: np.ndarray) -> np.ndarray:
        """Gradient of :meth:`loglik` in theta."""
        a, b = self.period_scores(theta, t)
        return events @ a + (at_risk - events) @ b

    def hessian(self, theta: np.ndarray, t: np.ndarray, at_risk: np.ndarray, events: np.ndarray) -> np.ndarray:
        """Hessian of :meth:`loglik` (central differences of the analytic gradient; one-sided at a bound)."""
        cols = []
        for k in range(2):
            eps = 1e-6 * max(1.0, abs(theta[k]))
            e = np.zeros(2)
            e[k] = eps
            if theta[k] - eps < self.lower[k]:
                cols.append((self.score(theta + e, t, at_risk, events) - self.score(theta, t, at_risk, events)) / eps)
            else:
                cols.append((self.score(theta + e, t, at_risk, events) - self.score(theta - e, t, at_risk, events)) / (2 * eps))
        h = np.column_stack(cols)
        return (h + h.T) / 2

    # -- fit
    def fit(self, times: Any, at_risk: Any, events: Any) -> "_HazardModel":
        """Maximum-likelihood fit to a life table (period t >= 1, at risk n_t, churned d_t). Returns self.

        Periods below 1 and periods with nobody at risk are ignored. ``free_`` marks the
        parameters not at a bound (e.g. sBG heterogeneity 0: the geometric limit).
        """
        t = np.asarray(times, dtype=float)
        n = np.asarray(at_risk, dtype=float)
        d = np.asarray(events, dtype=float)
        keep = (t >= 1) & (n != 0)
        t, n, d = t[keep], n[keep], d[keep]
        if len(t) < 2 or not np.any(d != 0):
            raise DataError(
                f"{self.name}: needs churn observed in at least one period and two periods with customers at risk"
            )
        scale = float(np.abs(n).max())
        neg = lambda th: -self.loglik(th, t, n, d) / scale  # noqa: E731
        jac = lambda th: -self.score(th, t, n, d) / scale  # noqa: E731
        bounds = [(None if not np.isfinite(lo) else lo, None) for lo in self.lower]
        lower = np.asarray(self.lower)
        theta = None
        if self.start is not None:  # warm start: Newton steps alone usually converge
            theta, ok = self._newton(np.maximum(np.asarray(self.start, dtype=float), lower), t, n, d, scale)
            if not ok:
                theta = None
        if theta is None:
            res = optimize.minimize(neg, self._start(t, n, d), jac=jac, method="L-BFGS-B", bounds=bounds,
                                    options={"maxiter": self.max_iter, "ftol": 1e-15, "gtol": 1e-11})
            theta, _ = self._newton(np.asarray(res.x, dtype=float), t, n, d, scale)
        g = self.score(theta, t, n, d)
        self.theta_ = theta
        self.free_ = ~((theta <= lower + 1e-12) & (g <= 0))
        self.loglik_ = self.loglik(theta, t, n, d)
        self.n_free_ = int(self.free_.sum())
        self.aic_ = 2 * self.n_free_ - 2 * self.loglik_
        self.n_periods_ = int(len(t))
        info = -self.hessian(theta, t, n, d)
        cov = np.zeros((2, 2))
        f = self.free_
        try:
            cov[np.ix_(f, f)] = np.linalg.inv(info[np.ix_(f, f)])
        except np.linalg.LinAlgError:
            cov[np.ix_(f, f)] = np.nan
        self.cov_theta_ = cov
        jac_nat = self._natural_jacobian(theta)
        with np.errstate(invalid="ignore"):
            self.se_ = np.sqrt(np.maximum(np.diag(jac_nat @ cov @ jac_nat.T), 0.0))
        self.converged_ = bool(np.all(np.isfinite(theta)) and np.max(np.abs(g[self.free_]), initial=0.0) < 1e-6 * scale)
        return self

    def _newton(self, theta: np.ndarray, t: np.ndarray, n: np.ndarray, d: np.ndarray, scale: float) -> tuple[np.ndarray, bool]:
        """Newton steps on the free parameters (step-halving, projected on the bounds); (theta, converged)."""
        lower = np.asarray(self.lower)
        ll = self.loglik(theta, t, n, d)
        for _ in range(50):
            g = self.score(theta, t, n, d)
            free = ~((theta <= lower + 1e-12) & (g < 0))
            if not free.any() or np.max(np.abs(g[free])) < 1e-10 * scale:
                return theta, True
            hmat = self.hessian(theta, t, n, d)[np.ix_(free, free)]
            try:
                step = np.linalg.solve(hmat, g[free])
            except np.linalg.LinAlgError:
                return theta, False
            if not np.all(np.isfinite(step)) or np.any(np.linalg.eigvalsh(hmat) >= 0):
                return theta, False  # not in a concave region: let the quasi-Newton search do it
            for _half in range(30):
                new = theta.copy()
                new[free] = theta[free] - step
                new = np.maximum(new, lower)
                ll_new = self.loglik(new, t, n, d)
                if np.isfinite(ll_new) and ll_new >= ll - 1e-12 * scale:
                    break
                step = step / 2
            else:
                return theta, False
            done = np.max(np.abs(new - theta)) < 1e-13 * max(1.0, float(np.max(np.abs(theta))))
            theta, ll = new, ll_new
            if done:
                return theta, True
        g = self.score(theta, t, n, d)
        free = ~((theta <= lower + 1e-12) & (g < 0))
        return theta, bool(np.max(np.abs(g[free]), initial=0.0) < 1e-6 * scale)

    def _natural_jacobian(self, theta: np.ndarray) -> np.ndarray:
        cols = []
        for k in range(2):
            eps = 1e-7 * max(1.0, abs(theta[k]))
            e = np.zeros(2)
            e[k] = eps
            with np.errstate(invalid="ignore"):
                cols.append((self.natural(theta + e) - self.natural(theta)) / eps)
        return np.column_stack(cols)

    # -- predictions
    def hazard(self, t: Any, theta: np.ndarray | None = None) -> np.ndarray:
        """h_t for periods t >= 1."""
        th = self.theta_ if theta is None else theta
        return self._hazard_and_grad(th, np.asarray(t, dtype=float))[0]

    def survival(self, t: Any, theta: np.ndarray | None = None) -> np.ndarray:
        """S(t) = prod_{j <= t} (1 - h_j) for whole periods t >= 0 (S(0) = 1)."""
        th = self.theta_ if theta is None else theta
        t = np.asarray(t, dtype=int)
        top = int(t.max()) if t.size else 0
        s = np.concatenate([[1.0], np.cumprod(1 - self.hazard(np.arange(1, top + 1), th))]) if top > 0 else np.ones(1)
        return s[t]

    @property
    def params_(self) -> dict[str, float]:
        """Fitted parameters on their natural scale (inf in a limit, e.g. the geometric limit of sBG)."""
        return dict(zip(self.param_names, self.natural(self.theta_).tolist()))

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready description of the fit."""
        nat = self.natural(self.theta_)
        return {
            "model": self.name,
            "params": jsonable(dict(zip(self.param_names, nat))),
            "se": {k: (jsonable(v) if np.isfinite(p) else None) for k, v, p in zip(self.param_names, self.se_, nat)},
            "loglik": float(self.loglik_),
            "aic": float(self.aic_),
            "free_parameters": self.n_free_,
            "periods_fitted": self.n_periods_,
        }


class ShiftedBetaGeometric(_HazardModel):
    """Shifted-beta-geometric retention model (Fader & Hardie 2007).

    P(T = t) = B(alpha + 1, beta + t - 1) / B(alpha, beta),
    S(t) = B(alpha, beta + t) / B(alpha, beta), hazard h_t = alpha / (alpha + beta + t - 1).
    Fitted on theta = (logit p, kappa) with p = alpha / (alpha + beta) the mean churn
    probability and kappa = 1 / (alpha + beta) >= 0 the heterogeneity, so that
    h_t = p / (1 + kappa (t - 1)); kappa = 0 is the geometric (no heterogeneity) limit,
    where alpha and beta are infinite. ``params_`` holds alpha and beta.
    """

    param_names = ("alpha", "beta")
    name = "sBG"
    lower = (-np.inf, 0.0)

    def _hazard_and_grad(self, theta: np.ndarray, t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        p = special.expit(theta[0])
        kappa = theta[1]
        u = 1.0 + kappa * (t - 1)
        h = p / u
        return h, np.column_stack([h * (1 - p), -h * (t - 1) / u])

    def _start(self, t: np.ndarray, n: np.ndarray, d: np.ndarray) -> np.ndarray:
        h1 = float(np.clip(d[0] / n[0], 1e-4, 0.9)) if n[0] else 0.05
        return np.array([special.logit(h1), 0.05])

    def derl(self, renewals: Any, period_rate: float) -> np.ndarray:
        """Discounted expected residual lifetime (see :func:`derl_sbg`); in the geometric limit
        sum_{t >= n} (1 - p)^(t - n + 1) / (1 + d)^(t - n) = (1 - p)(1 + d) / (d + p)."""
        p = special.expit(self.theta_[0])
        if self.theta_[1] <= 1e-12:
            return np.full(np.shape(renewals), (1 - p) * (1 + period_rate) / (period_rate + p))
        a, b = self.natural(self.theta_)
        return derl_sbg(a, b, renewals, period_rate)

    def natural(self, theta: np.ndarray) -> np.ndarray:
        """(alpha, beta) = (p / kappa, (1 - p) / kappa)."""
        p = special.expit(theta[0])
        with np.errstate(divide="ignore"):
            return np.array([p / theta[1], (1 - p) / theta[1]]) if theta[1] > 0 else np.array([np.inf, np.inf])

    def survival(self, t: Any, theta: np.ndarray | None = None) -> np.ndarray:
        """S(t) = B(alpha, beta + t) / B(alpha, beta), or (1 - p)^t in the geometric limit."""
        th = self.theta_ if theta is None else theta
        t = np.asarray(t, dtype=float)
        p = special.expit(th[0])
        if th[1] <= 1e-12:
            return (1 - p) ** t
        a, b = p / th[1], (1 - p) / th[1]
        return np.exp(special.betaln(a, b + t) - special.betaln(a, b))


class DiscreteWeibull(_HazardModel):
    """Weibull lifetime observed in whole periods: S(t) = exp(-(t / scale)^shape).

    h_t = 1 - exp(-[(t / scale)^shape - ((t - 1) / scale)^shape]).
    Fitted on theta = (log scale, log shape); ``params_`` holds scale and shape.
    """

    param_names = ("scale", "shape")
    name = "Weibull"

    def _hazard_and_grad(self, theta: np.ndarray, t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        lam, k = np.exp(theta)

        def x_and_grad(tt: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
            with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
                r = np.where(tt > 0, tt / lam, 1.0)
                x = np.where(tt > 0, r**k, 0.0)
                dlam = -k * x  # d x / d log lam
                dk = np.where(tt > 0, x * np.log(r), 0.0) * k  # d x / d log k
            return x, dlam, dk

        x1, l1, k1 = x_and_grad(t)
        x0, l0, k0 = x_and_grad(t - 1)
        delta = x1 - x0
        surv_ratio = np.exp(-delta)
        h = -np.expm1(-delta)
        return h, np.column_stack([surv_ratio * (l1 - l0), surv_ratio * (k1 - k0)])

    def _start(self, t: np.ndarray, n: np.ndarray, d: np.ndarray) -> np.ndarray:
        h = float(np.clip(np.sum(d) / np.sum(n), 1e-4, 0.9))
        return np.log([1.0 / -np.log1p(-h), 1.0])

    def natural(self, theta: np.ndarray) -> np.ndarray:
        """(scale, shape) = exp(theta)."""
        return np.exp(theta)

    def survival(self, t: Any, theta: np.ndarray | None = None) -> np.ndarray:
        """S(t) = exp(-(t / scale)^shape) (closed form)."""
        th = self.theta_ if theta is None else theta
        lam, k = np.exp(th)
        t = np.asarray(t, dtype=float)
        return np.exp(-(np.maximum(t, 0) / lam) ** k)


def derl_sbg(alpha: float, beta: float, renewals: Any, period_rate: float) -> np.ndarray:
    """Discounted expected residual lifetime of a customer alive after ``renewals`` periods (sBG).

    DERL(d | alpha, beta, n) = sum_{t >= n} [S(t) / S(n - 1)] / (1 + d)^(t - n)
      = B(alpha, beta + n) / B(alpha, beta + n - 1) * 2F1(1, beta + n; alpha + beta + n; 1 / (1 + d))
    (Fader & Hardie 2010, "Customer-Base Valuation in a Contractual Setting: The Perils of
    Ignoring Heterogeneity", Marketing Science 29(1), eq. 6). A customer who has survived k
    periods and is about to decide on period k + 1 has n = k + 1; the first term (the coming
    period, undiscounted) counts if she renews. Multiply by the margin per period to get value.
    """
    n = np.asarray(renewals, dtype=float)
    if not period_rate > -1:
        raise DataError("DERL: the period discount rate must be above -1")
    ratio = np.exp(special.betaln(alpha, beta + n) - special.betaln(alpha, beta + n - 1))
    return ratio * special.hyp2f1(1.0, beta + n, alpha + beta + n, 1.0 / (1.0 + period_rate))


# =========================================================================== discounting


def period_discount_rate(annual_discount_rate: float, periods_per_year: int) -> float:
    """d = (1 + annual)^(1 / periods_per_year) - 1 (compound conversion of an annual rate)."""
    if not annual_discount_rate > -1:
        raise SpecError(f"[clv] annual_discount_rate = {annual_discount_rate!r} must be above -1, e.g. 0.08")
    if not periods_per_year >= 1:
        raise SpecError(f"[clv] periods_per_year = {periods_per_year!r} must be at least 1, e.g. 12")
    return (1.0 + annual_discount_rate) ** (1.0 / periods_per_year) - 1.0


def discount_factors(horizon_periods: int, period_rate: float, margin_timing: str = "end") -> tuple[np.ndarray, np.ndarray]:
    """The period grid and its discount factors 1 / (1 + d)^t.

    ``end``: the margin of period t is received at its end, t = 1..H; ``start``: at its
    start (in advance), t = 0..H-1 (the first margin is undiscounted).
    """
    if not horizon_periods >= 1:
        raise SpecError(f"[clv] horizon_periods = {horizon_periods!r} must be at least 1, e.g. 60")
    if margin_timing not in ("end", "start"):
        raise SpecError(f"[clv] margin_timing = {margin_timing!r}: use 'end' or 'start'")
    t = np.arange(1, horizon_periods + 1) if margin_timing == "end" else np.arange(0, horizon_periods)
    return t, (1.0 + period_rate) ** (-t.astype(float))


# =========================================================================== cells (the seam)


@dataclass(frozen=True)
class ArmCells:
    """One arm's life table on the whole-period grid 0..K (index = tenure in periods).

    ``n_event[k]``/``n_cens[k]``: customers who churned in period k / were still active at the
    data cut with tenure k; ``w_*`` the sum and ``m2_*`` the centred sum of squares of their
    margin per period. Built from :func:`uplift.survival.estimators.life_table` output (any engine).
    """

    arm: str
    n_event: np.ndarray
    n_cens: np.ndarray
    w_event: np.ndarray
    w_cens: np.ndarray
    m2_event: np.ndarray
    m2_cens: np.ndarray

    @property
    def n(self) -> int:
        """Customers in the arm."""
        return int(self.n_event.sum() + self.n_cens.sum())

    @property
    def tau(self) -> int:
        """The last observed period (largest tenure)."""
        nz = np.nonzero(self.n_event + self.n_cens)[0]
        return int(nz[-1]) if len(nz) else 0

    def x(self) -> np.ndarray:
        """Per-customer means: cell shares then margin per customer in each cell."""
        return np.concatenate([self.n_event, self.n_cens, self.w_event, self.w_cens]) / self.n


def arm_cells(table: pd.DataFrame, arm: str = "", label: str = "data") -> ArmCells:
    """Turn a one-arm life table (``time`` whole periods, ``events``, ``censored`` and, if present,
    ``value_sum_*``/``value_m2_*``) into :class:`ArmCells`. Without value columns the margin is 1
    per period, so CLV is the discounted expected number of periods."""
    t = table["time"].to_numpy(dtype=float)
    if len(t) == 0 or (table["events"].sum() + table["censored"].sum()) == 0:
        raise DataError(f"{label}: arm {arm!r} has no customers at risk; check the arm column and the data")
    if (t < 0).any() or (t != np.round(t)).any():
        raise DataError(f"{label}: tenure must be whole periods >= 0 for CLV; found {t[(t < 0) | (t != np.round(t))][0]:g}")
    k = t.astype(int)
    size = int(k.max()) + 1

    def put(col: str, default: str | None = None) -> np.ndarray:
        out = np.zeros(size)
        src = table[col] if col in table else table[default]
        np.add.at(out, k, src.to_numpy(dtype=float))
        return out

    has_value = "value_sum_events" in table
    ne, nc = put("events"), put("censored")
    if has_value:
        we, wc = put("value_sum_events"), put("value_sum_censored")
        m2e, m2c = put("value_m2_events"), put("value_m2_censored")
    else:
        we, wc, m2e, m2c = ne.copy(), nc.copy(), np.zeros(size), np.zeros(size)
    return ArmCells(str(arm), ne, nc, we, wc, m2e, m2c)


# =========================================================================== the estimator F(x)


_MODELS = {"sbg": ShiftedBetaGeometric, "weibull": DiscreteWeibull}


def _split(x: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    return x[:size], x[size:2 * size], x[2 * size:3 * size], x[3 * size:]


def _hazard_table(x: np.ndarray, size: int, weighted: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Periods 1..K, at risk and events, counted (weighted=False) or margin-weighted."""
    ne, nc, we, wc = _split(x, size)
    e, c = (we, wc) if weighted else (ne, nc)
    at_risk = np.cumsum((e + c)[::-1])[::-1]
    return np.arange(1, size), at_risk[1:], e[1:]


def _km_and_margin(x: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    """S(t) (Kaplan-Meier) and mbar(t) (mean margin of the survivors of t) for t = 0..K."""
    ne, nc, we, wc = _split(x, size)
    at_risk = np.cumsum((ne + nc)[::-1])[::-1]
    with np.errstate(divide="ignore", invalid="ignore"):
        s = np.cumprod(np.where(at_risk > 0, 1 - ne / np.where(at_risk > 0, at_risk, 1), 1.0))
        after = np.concatenate([np.cumsum((ne + nc)[::-1])[::-1][1:], [0.0]])  # tenure > t
        wafter = np.concatenate([np.cumsum((we + wc)[::-1])[::-1][1:], [0.0]])
        present = after + nc
        mbar = np.where(present > 0, (wafter + wc) / np.where(present > 0, present, 1), 0.0)
    return s, mbar


def _value_retention(x: np.ndarray, size: int) -> np.ndarray:
    """V(t) = E[m 1{T > t}] for t = 0..K by the margin-weighted product-limit estimator

        V(t) = mbar_0 prod_{j <= t} (1 - W^churned_j / W^at-risk_j),

    mbar_0 the mean margin of all customers, W the margin summed over the customers churning in /
    at risk at period j. Without censoring it telescopes to the sample mean of m 1{T > t}; with
    independent censoring it is consistent (each factor estimates E[m 1{T > j}] / E[m 1{T > j-1}]),
    and it takes the level of the margin from everyone, not from the few customers observed the
    longest. A period whose at-risk margin sum is not positive uses the count factor 1 - d_j / n_j.
    """
    ne, nc, we, wc = _split(x, size)
    n_risk = np.cumsum((ne + nc)[::-1])[::-1]
    w_risk = np.cumsum((we + wc)[::-1])[::-1]
    with np.errstate(divide="ignore", invalid="ignore"):
        factor = np.where(
            w_risk > 0,
            1 - we / np.where(w_risk > 0, w_risk, 1),
            np.where(n_risk > 0, 1 - ne / np.where(n_risk > 0, n_risk, 1), 1.0),
        )
    return float(np.sum(we + wc) / np.sum(ne + nc)) * np.cumprod(factor)


def _value_curve(
    x: np.ndarray, size: int, horizon_t: np.ndarray, tail: "_HazardModel | None", theta: np.ndarray | None
) -> tuple[np.ndarray, np.ndarray]:
    """V(t) on the grid ``horizon_t``, and a mask of the extrapolated (tail) points."""
    ne, nc, _, _ = _split(x, size)
    occupied = np.nonzero(ne + nc)[0]
    tau = int(occupied[-1]) if len(occupied) else 0  # this arm's last observed period
    v_obs = _value_retention(x, size)
    v = np.zeros(len(horizon_t))
    obs = horizon_t <= tau
    v[obs] = v_obs[horizon_t[obs]]
    if tail is not None and (~obs).any():
        g = tail.survival(np.concatenate([[tau], horizon_t[~obs]]), theta)
        v[~obs] = v_obs[tau] * g[1:] / g[0]
    return v, ~obs


def _clv_value(x: np.ndarray, size: int, t: np.ndarray, disc: np.ndarray, tail: Any, theta: Any) -> float:
    v, _ = _value_curve(x, size, t, tail, theta)
    return float(np.sum(disc * v))


def _fit_tail(kind: str, x: np.ndarray, size: int, weighted: bool, last: int | None = None,
              start: Any = None) -> "_HazardModel":
    times, at_risk, events = _hazard_table(x, size, weighted)
    if last is not None:
        keep = times <= last
        times, at_risk, events = times[keep], at_risk[keep], events[keep]
    return _MODELS[kind](start=start).fit(times, at_risk, events)


def _cell_scores(model: "_HazardModel", size: int) -> np.ndarray:
    """d score / d (cell weight): shape (2, 2 * size) for the event cells then the censored cells.

    A customer who churned in period k was at risk in periods 1..k and churned in k:
    sum_{1 <= j < k} dlog(1 - h_j) + dlog h_k; one censored at k: sum_{1 <= j <= k} dlog(1 - h_j).
    """
    j = np.arange(1, size)
    a, b = model.period_scores(model.theta_, j)
    cum_b = np.vstack([np.zeros((1, 2)), np.cumsum(b, axis=0)])  # cum_b[k] = sum_{j<=k} b_j
    ev = np.zeros((size, 2))
    ev[1:] = cum_b[:-1] + a
    ce = cum_b.copy()
    return np.vstack([ev, ce]).T


def _gradient(
    x: np.ndarray, size: int, t: np.ndarray, disc: np.ndarray, tail: "_HazardModel | None", weighted: bool
) -> np.ndarray:
    """grad F(x): finite differences with the tail parameters held fixed, plus the implicit-function
    term for the fitted parameters (d theta / d x = -H^-1 d psi / d x)."""
    theta = None if tail is None else tail.theta_
    grad = np.zeros_like(x)
    counts = x[: 2 * size]
    occupied = np.nonzero(counts)[0]
    wscale = float(np.mean(np.abs(x[2 * size:][occupied]))) or 1.0
    for i in np.concatenate([occupied, occupied + 2 * size]):  # every occupied cell: count and margin
        h = 1e-6 * max(abs(x[i]), wscale if i >= 2 * size else 0.0)
        xp, xm = x.copy(), x.copy()
        xp[i] += h
        xm[i] -= h
        grad[i] = (_clv_value(xp, size, t, disc, tail, theta) - _clv_value(xm, size, t, disc, tail, theta)) / (2 * h)
    if tail is not None:
        dth = np.zeros(2)
        for k in np.nonzero(tail.free_)[0]:
            e = np.zeros(2)
            e[k] = 1e-6 * max(1.0, abs(theta[k]))
            dth[k] = (_clv_value(x, size, t, disc, tail, theta + e) - _clv_value(x, size, t, disc, tail, theta - e)) / (2 * e[k])
        grad += dth @ _dtheta_dx(tail, x, size, weighted)
    return grad


def _dtheta_dx(model: "_HazardModel", x: np.ndarray, size: int, weighted: bool) -> np.ndarray:
    """d theta_hat / d x by the implicit function theorem: -H^-1 d psi / d x, shape (2, 4 size)."""
    times, at_risk, events = _hazard_table(x, size, weighted)
    f = model.free_
    hess = model.hessian(model.theta_, times, at_risk, events)[np.ix_(f, f)]
    dtheta_dw = np.zeros((2, 2 * size))
    dtheta_dw[f] = -np.linalg.solve(hess, _cell_scores(model, size)[f])  # parameters at a bound stay put
    out = np.zeros((2, 4 * size))
    if weighted:
        out[:, 2 * size:] = dtheta_dw
    else:
        out[:, :2 * size] = dtheta_dw
    return out


def _value_model_dict(model: "_HazardModel", cells: ArmCells) -> dict[str, Any]:
    """The margin-weighted tail model: parameters and influence-function standard errors."""
    size = len(cells.n_event)
    jac = _dtheta_dx(model, cells.x(), size, weighted=True)
    nat_jac = model._natural_jacobian(model.theta_) @ jac
    se = np.array([math.sqrt(max(_variance(cells, nat_jac[k]), 0.0)) for k in range(2)])
    p = model.natural(model.theta_)
    return jsonable({
        "model": model.name,
        "fitted_to": "margin-weighted life table (value retention V(t)/V(0))",
        "params": dict(zip(model.param_names, p.tolist())),
        "se": {k: (v if np.isfinite(pp) else None) for k, v, pp in zip(model.param_names, se.tolist(), p)},
        "free_parameters": model.n_free_,
        "periods_fitted": model.n_periods_,
    })


def _variance(cells: ArmCells, grad: np.ndarray) -> float:
    """(1/N^2) sum_cells [n_c (g_c + h_c mbar_c - g.x)^2 + h_c^2 M2_c] (influence-function variance)."""
    size = len(cells.n_event)
    x = cells.x()
    const = float(grad @ x)  # 0 up to rounding: F is homogeneous of degree 0 in x
    g_cnt = grad[:2 * size]
    g_val = grad[2 * size:]
    counts = np.concatenate([cells.n_event, cells.n_cens])
    sums = np.concatenate([cells.w_event, cells.w_cens])
    m2 = np.concatenate([cells.m2_event, cells.m2_cens])
    with np.errstate(divide="ignore", invalid="ignore"):
        mean = np.where(counts > 0, sums / np.where(counts > 0, counts, 1), 0.0)
    total = np.sum(counts * (g_cnt + g_val * mean - const) ** 2 + g_val**2 * m2)
    return float(total) / cells.n**2


# =========================================================================== per-arm estimation


@dataclass(frozen=True)
class _Config:
    horizon: int
    periods_per_year: int
    annual_rate: float
    timing: str
    family: str | None  # "sbg", "weibull" or None (no extrapolation)

    @property
    def period_rate(self) -> float:
        return period_discount_rate(self.annual_rate, self.periods_per_year)

    def grid(self) -> tuple[np.ndarray, np.ndarray]:
        return discount_factors(self.horizon, self.period_rate, self.timing)


def _point(cells: ArmCells, cfg: _Config, start: Any = None) -> tuple[float, float, float, "_HazardModel | None"]:
    """CLV, its observed part, its tail part and the margin-weighted tail model."""
    x = cells.x()
    size = len(cells.n_event)
    t, disc = cfg.grid()
    needs_tail = bool((t > cells.tau).any()) and cfg.family is not None
    tail = _fit_tail(cfg.family, x, size, weighted=True, start=start) if needs_tail else None
    v, is_tail = _value_curve(x, size, t, tail, None)
    obs = float(np.sum((disc * v)[~is_tail]))
    tl = float(np.sum((disc * v)[is_tail]))
    return obs + tl, obs, tl, tail


@dataclass(frozen=True)
class ArmCLV:
    """CLV per customer of one arm, with its parts, interval, survival curve and fitted models.

    ``clv = observed_part + tail_part``: the discounted value of the observed periods (t <= tau)
    and of the extrapolated ones (tau < t within the horizon).
    """

    arm: str
    n: int
    clv: float
    se: float
    lower: float
    upper: float
    observed_part: float
    tail_part: float
    tau: int
    km: KaplanMeier
    rmst: RMST
    survival_model: dict
    value_model: dict | None
    derl: dict | None
    grid: np.ndarray
    value_curve: np.ndarray
    discounted_cumulative: np.ndarray
    survival_curve: np.ndarray  # S(t) for t = 0..horizon: KM to tau, then extrapolated

    @property
    def share_observed(self) -> float | None:
        """Share of the CLV from the observed periods (None when CLV is 0)."""
        return self.observed_part / self.clv if self.clv else None

    @property
    def share_tail(self) -> float | None:
        """Share of the CLV from the extrapolated tail."""
        return self.tail_part / self.clv if self.clv else None

    def to_dict(self, min_cell_size: int = 0) -> dict[str, Any]:
        """JSON-ready dict; KM points with fewer than ``min_cell_size`` at risk are left out."""
        keep = self.km.at_risk >= min_cell_size
        return jsonable(
            {
                "n": self.n,
                "clv": self.clv,
                "clv_se": self.se,
                "clv_ci": [self.lower, self.upper],
                "observed_part": self.observed_part,
                "extrapolated_part": self.tail_part,
                "share_observed": self.share_observed,
                "share_extrapolated": self.share_tail,
                "observed_periods": self.tau,
                "rmst": self.rmst.estimate,
                "rmst_se": self.rmst.se,
                "rmst_ci": [self.rmst.lower, self.rmst.upper],
                "rmst_horizon": self.rmst.horizon,
                "model": self.survival_model.get("model"),
                "survival_model": self.survival_model,
                "value_retention_model": self.value_model,
                "derl": self.derl,
                "survival_curve": {
                    "time": self.km.times[keep].tolist(), "survival": self.km.survival[keep].tolist(),
                    "lower": self.km.lower[keep].tolist(), "upper": self.km.upper[keep].tolist(),
                    "at_risk": self.km.at_risk[keep].tolist(),
                    "churned": self.km.events[keep].tolist(),
                    "censored": self.km.censored[keep].tolist(),
                    "note": f"periods with fewer than {min_cell_size} customers at risk are left out" if min_cell_size else "",
                },
            }
        )


@dataclass(frozen=True)
class IncrementalCLV:
    """Incremental CLV of ``arm`` over ``control``: per customer and for the eligible population."""

    arm: str
    control: str
    estimate: float
    se: float
    lower: float
    upper: float
    p_value: float
    observed_part: float
    tail_part: float
    eligible_population: int
    population_source: str
    confidence: float = 0.95
    bootstrap_se: float | None = None

    @property
    def population_estimate(self) -> float:
        """Per-customer incremental CLV times the eligible population."""
        return self.estimate * self.eligible_population

    @property
    def population_ci(self) -> tuple[float, float]:
        """Interval scaled to the eligible population (population size taken as known)."""
        return self.lower * self.eligible_population, self.upper * self.eligible_population

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict."""
        return jsonable(
            {
                "arm": self.arm,
                "control": self.control,
                "clv": self.estimate,
                "se": self.se,
                "ci": [self.lower, self.upper],
                "p_value": self.p_value,
                "observed_part": self.observed_part,
                "extrapolated_part": self.tail_part,
                "population": self.population_estimate,
                "population_ci": list(self.population_ci),
                "eligible_population": self.eligible_population,
                "eligible_population_source": self.population_source,
                "confidence": self.confidence,
                "bootstrap_se": self.bootstrap_se,
            }
        )


def _selection(
    cells: Mapping[str, ArmCells], requested: str, needs_tail: bool = True, fitted: dict | None = None
) -> tuple[str | None, dict]:
    """Choose the extrapolation family: by total AIC over arms (count-weighted fits to periods
    1..tau), unless the AIC pick's holdout error (max abs error of the conditional survival over
    the last h observed periods when fitted without them) is more than twice the other's plus 0.005."""
    info: dict[str, Any] = {"requested": requested, "families": {}}
    families = ["sbg", "weibull"]
    for fam in families:
        aic, hold, ok, hold_ok = 0.0, 0.0, True, True
        for c in cells.values():
            x, size = c.x(), len(c.n_event)
            tau = size - 1
            try:
                m = _fit_tail(fam, x * c.n, size, weighted=False)  # raw counts: a proper likelihood
                aic += m.aic_
                if fitted is not None:
                    fitted[(fam, c.arm)] = m
            except (DataError, np.linalg.LinAlgError, FloatingPointError, ValueError, ZeroDivisionError):
                ok = False
                continue
            try:
                h = max(1, min(6, tau // 4))
                mh = _fit_tail(fam, x * c.n, size, weighted=False, last=tau - h, start=m.theta_)
                s_km, _ = _km_and_margin(x, size)
                if s_km[tau - h] <= 0:
                    raise ValueError("nobody left to check the holdout periods on")
                pred = mh.survival(np.arange(tau - h, tau + 1))
                err = np.max(np.abs(pred[1:] / pred[0] - s_km[tau - h + 1:] / s_km[tau - h]))
                hold = max(hold, float(err))
            except (DataError, np.linalg.LinAlgError, FloatingPointError, ValueError, ZeroDivisionError):
                hold_ok = False
        info["families"][fam] = {"aic": aic if ok else None, "holdout_max_abs_error": hold if ok and hold_ok else None}
    if requested == "none":
        info["chosen"] = None
        info["reason"] = "extrapolation = 'none': CLV is truncated at the last observed period"
        return None, info
    if requested in families:
        info["chosen"] = requested
        info["reason"] = "set in the spec"
        return requested, info
    f = info["families"]
    usable = [k for k in families if f[k]["aic"] is not None]
    if not usable:
        if not needs_tail:
            info["chosen"] = None
            info["reason"] = "no model could be fitted, and none is needed: the horizon lies within the data"
            return None, info
        raise DataError(
            "[clv] neither the sBG nor the Weibull model could be fitted to every arm (is churn observed in each arm?); "
            "set extrapolation = \"none\" or a horizon_periods within the observed periods"
        )
    best = min(usable, key=lambda k: f[k]["aic"])
    other = [k for k in usable if k != best]
    reason = "lowest AIC"
    hb = f[best]["holdout_max_abs_error"]
    ho = f[other[0]]["holdout_max_abs_error"] if other else None
    if hb is not None and ho is not None and hb > 2 * ho + 0.005:
        best = other[0]
        reason = "the lower-AIC model failed the holdout check on the last observed periods"
    info["chosen"] = best
    info["reason"] = reason
    return best, info


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
) -> "CLVResult":
    """CLV per arm and incremental CLV from a life table by arm (see :func:`uplift.survival.estimators.life_table`).

    The estimator, its variance and the extrapolation are described in the module docstring.
    """
    cfg0 = _Config(horizon_periods, periods_per_year, annual_discount_rate, margin_timing, None)
    t, disc = cfg0.grid()  # validates horizon, rate, timing
    if extrapolation not in ("auto", "sbg", "weibull", "none"):
        raise SpecError(f"[clv] extrapolation = {extrapolation!r}: use 'auto', 'sbg', 'weibull' or 'none'")
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
    # a common grid 0..K for all arms (pads with empty cells)
    size = max(len(c.n_event) for c in cells.values())
    cells = {a: _pad(c, size) for a, c in cells.items()}
    fitted: dict[tuple[str, str], _HazardModel] = {}
    family, selection = _selection(cells, extrapolation, needs_tail=horizon_periods > size - 1, fitted=fitted)
    cfg = _Config(horizon_periods, periods_per_year, annual_discount_rate, margin_timing, family)
    z = stats.norm.ppf(0.5 + confidence / 2)
    arms: dict[str, ArmCLV] = {}
    notes: list[str] = []
    tau_all = size - 1
    for arm, c in cells.items():
        warm = fitted.get((family, arm)) if family else None
        value, obs, tail_part, tail = _point(c, cfg, start=None if warm is None else warm.theta_)
        grad = _gradient(c.x(), size, t, disc, tail, weighted=True)
        se = math.sqrt(max(_variance(c, grad), 0.0))
        km = kaplan_meier(_cells_table(c), confidence=confidence, label=arm)
        r = rmst(km, float(tau_all), confidence)
        surv_model = sbg = None
        for fam in ("sbg", "weibull"):
            m = fitted.get((fam, arm))
            if m is None:
                continue
            if fam == "sbg":
                sbg = m
            if fam == (family or "sbg"):
                surv_model = m
        s_km, _ = _km_and_margin(c.x(), size)
        s_full = np.ones(horizon_periods + 1)
        upto = min(horizon_periods, size - 1)
        s_full[: upto + 1] = s_km[: upto + 1]
        if horizon_periods > size - 1:
            if family is not None and surv_model is not None:
                g = surv_model.survival(np.arange(size - 1, horizon_periods + 1))
                s_full[size - 1:] = s_km[size - 1] * g / g[0]
            else:
                s_full[size:] = np.nan
        v, _ = _value_curve(c.x(), size, t, tail, None)
        derl = None
        if sbg is not None:
            active = c.n_cens.sum()
            if active > 0:
                k = np.arange(size)
                dv = sbg.derl(k + 1, cfg.period_rate)
                derl = {
                    "model": "sBG (count-weighted fit)",
                    "active_customers": int(active),
                    "mean_derl_periods": float(np.sum(c.n_cens * dv) / active),
                    "residual_value_per_active_customer": float(np.sum(c.w_cens * dv) / active),
                    "definition": "sum_{t>=n} S(t)/S(n-1) / (1+d)^(t-n), n = tenure + 1 (Fader & Hardie 2010, eq. 6); value = margin x DERL",
                }
        arms[arm] = ArmCLV(
            arm=arm, n=c.n, clv=value, se=se, lower=value - z * se, upper=value + z * se,
            observed_part=obs, tail_part=tail_part, tau=tau_all, km=km, rmst=r,
            survival_model=(surv_model.to_dict() if surv_model is not None else {"model": None}),
            value_model=(_value_model_dict(tail, c) if tail is not None else None), derl=derl,
            grid=t, value_curve=v, discounted_cumulative=np.cumsum(disc * v), survival_curve=s_full,
        )
    if family is None and horizon_periods > tau_all:
        notes.append(f"No extrapolation: CLV covers only the {tau_all} observed periods of the {horizon_periods}-period horizon.")
    if horizon_periods <= tau_all:
        notes.append(f"The horizon ({horizon_periods} periods) lies within the observed data: no extrapolation needed.")
    n_total = sum(c.n for c in cells.values())
    pop = int(eligible_population) if eligible_population else n_total
    source = "[economics] eligible_population" if eligible_population else "number of analysed customers"
    incs = []
    ctrl = arms[control]
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
    lr_table = pd.concat([_cells_table(c).assign(_arm=a) for a, c in cells.items()], ignore_index=True)
    lr = logrank_test(lr_table, "_arm")
    rdiffs = tuple(rmst_difference(arms[a].rmst, ctrl.rmst) for a in arms if a != control)
    return CLVResult(
        control=control, arms=arms, incremental=tuple(incs), logrank=lr, rmst_differences=rdiffs,
        horizon_periods=horizon_periods, periods_per_year=periods_per_year,
        annual_discount_rate=annual_discount_rate, period_discount_rate=cfg.period_rate,
        margin_timing=margin_timing, extrapolation=extrapolation, family=family, selection=selection,
        confidence=confidence, notes=tuple(notes),
    )


def _pad(c: ArmCells, size: int) -> ArmCells:
    def p(a: np.ndarray) -> np.ndarray:
        return np.concatenate([a, np.zeros(size - len(a))])

    return ArmCells(c.arm, p(c.n_event), p(c.n_cens), p(c.w_event), p(c.w_cens), p(c.m2_event), p(c.m2_cens))


def _cells_table(c: ArmCells) -> pd.DataFrame:
    """Back to a life table (time, at_risk, events, censored) over the occupied periods."""
    cnt = c.n_event + c.n_cens
    at_risk = np.cumsum(cnt[::-1])[::-1]
    occ = cnt > 0
    return pd.DataFrame({
        "time": np.arange(len(cnt))[occ].astype(float), "at_risk": at_risk[occ].astype(np.int64),
        "events": c.n_event[occ].astype(np.int64), "censored": c.n_cens[occ].astype(np.int64),
    })


# =========================================================================== result


@dataclass(frozen=True)
class CLVResult:
    """CLV per arm, incremental CLV with intervals, survival comparison and the settings used.

    ``to_dict()`` is the ``clv`` block of results.json; ``summary()`` the text for the readout;
    ``plot_survival``, ``plot_cumulative_value`` and ``plot_retention_by_products`` draw on a
    matplotlib Axes.
    """

    control: str
    arms: Mapping[str, ArmCLV]
    incremental: tuple[IncrementalCLV, ...]
    logrank: LogRankResult
    rmst_differences: tuple[RMSTDifference, ...]
    horizon_periods: int
    periods_per_year: int
    annual_discount_rate: float
    period_discount_rate: float
    margin_timing: str
    extrapolation: str
    family: str | None
    selection: Mapping[str, Any]
    confidence: float = 0.95
    notes: tuple[str, ...] = ()
    margin_column: str = ""
    retention_by_products: Mapping[str, KaplanMeier] | None = None
    min_cell_size: int = 0

    @property
    def method(self) -> str:
        """How the numbers were computed, in one paragraph."""
        fam = {"sbg": "shifted-beta-geometric (Fader & Hardie 2007)", "weibull": "discrete Weibull", None: "none"}[self.family]
        timing = "at the end of each period (t = 1..H)" if self.margin_timing == "end" else "at the start of each period (t = 0..H-1)"
        margin = f"'{self.margin_column}'" if self.margin_column else "1 per period (no margin column: CLV in discounted periods)"
        return (
            f"CLV = sum_t V(t)/(1+d)^t over a {self.horizon_periods}-period horizon, margin received {timing}, "
            f"d = (1+{self.annual_discount_rate:g})^(1/{self.periods_per_year}) - 1 = {self.period_discount_rate:.6f} per period. "
            f"V(t) = E[margin x 1{{still a customer after t}}] with margin {margin}: in the observed periods the "
            "margin-weighted Kaplan-Meier (product-limit) estimate; beyond them V(t) = V(tau) G(t)/G(tau) with G a "
            f"{fam} retention curve fitted by maximum likelihood to the margin-weighted life table (assumption: the "
            "value retention seen so far continues). "
            "Intervals: delta method on the life-table cells (generalised Greenwood, through the fitted tail by the "
            "implicit function theorem); arms independent; population figures scale the per-customer ones by the "
            "eligible population. Log-rank test and RMST (Klein & Moeschberger variance) to the last observed period."
        )

    def to_dict(self) -> dict[str, Any]:
        """The results.json ``clv`` block (JSON-ready, no NaN)."""
        out = {
            "control": self.control,
            "arms": {a: r.to_dict(self.min_cell_size) for a, r in self.arms.items()},
            "incremental": {i.arm: i.to_dict() for i in self.incremental},
            "logrank": self.logrank.to_dict(),
            "rmst_difference": {d.arm: d.to_dict() for d in self.rmst_differences},
            "annual_discount_rate": self.annual_discount_rate,
            "period_discount_rate": self.period_discount_rate,
            "periods_per_year": self.periods_per_year,
            "horizon_periods": self.horizon_periods,
            "margin_timing": self.margin_timing,
            "extrapolation": {**dict(self.selection), "value_curve_weighting": "margin"},
            "margin_column": self.margin_column or None,
            "confidence": self.confidence,
            "method": self.method,
            "notes": list(self.notes),
        }
        if self.retention_by_products is not None:
            out["retention_by_products"] = {
                k: {"n": int(km.at_risk[0]) if len(km.at_risk) else 0,
                    "suppressed": bool(len(km.at_risk) and km.at_risk[0] < self.min_cell_size),
                    "survival_at_last_period": None if (len(km.at_risk) and km.at_risk[0] < self.min_cell_size) else float(km.survival[-1]),
                    "rmst": None if (len(km.at_risk) and km.at_risk[0] < self.min_cell_size) else rmst(km, float(self._tau)).estimate}
                for k, km in self.retention_by_products.items()
            }
        return jsonable(out)

    @property
    def _tau(self) -> int:
        return max(a.tau for a in self.arms.values())

    def summary(self) -> str:
        """Finance-ready text: CLV per arm, incremental CLV with interval, how much is extrapolated."""
        cl = f"{self.confidence:.0%}"
        lines = [
            f"CLV per customer over {self.horizon_periods} periods ({self.periods_per_year}/year), "
            f"annual discount rate {self.annual_discount_rate:.2%}, margin at the {self.margin_timing} of each period",
            f"{'arm':<14}{'n':>10}{'CLV':>12}{cl + ' CI':>24}{'observed':>11}{'tail':>11}{'tail %':>8}{'RMST':>9}",
        ]
        for a, r in self.arms.items():
            share = f"{100 * r.share_tail:.0f}%" if r.share_tail is not None else "-"
            lines.append(
                f"{a:<14}{r.n:>10}{r.clv:>12.2f}{f'[{r.lower:.2f}, {r.upper:.2f}]':>24}"
                f"{r.observed_part:>11.2f}{r.tail_part:>11.2f}{share:>8}{r.rmst.estimate:>9.2f}"
            )
        for i in self.incremental:
            lo, hi = i.population_ci
            lines.append(
                f"Incremental CLV {i.arm} vs {i.control}: {i.estimate:.2f} per customer "
                f"({cl} CI {i.lower:.2f} to {i.upper:.2f}, p = {i.p_value:.3g}); "
                f"x {i.eligible_population:,} eligible = {i.population_estimate:,.0f} ({lo:,.0f} to {hi:,.0f}); "
                f"observed part {i.observed_part:.2f}, extrapolated {i.tail_part:.2f}"
            )
        sel = self.selection
        lines.append(f"Extrapolation: {sel.get('chosen') or 'none'} ({sel.get('reason', '')}); "
                     + "; ".join(f"{k}: AIC {_fmt(v['aic'])}, holdout error {_fmt(v['holdout_max_abs_error'])}"
                                 for k, v in sel.get("families", {}).items()))
        lines.append(self.logrank.summary())
        lines.extend(d.summary() for d in self.rmst_differences)
        lines.extend(self.notes)
        return "\n".join(lines)

    # ------------------------------------------------------------------ plots
    def plot_survival(self, ax: Any) -> Any:
        """Kaplan-Meier curve per arm with its log-log band, and the extrapolation (dashed) to the horizon."""
        for a, r in self.arms.items():
            r.km.plot(ax)
            color = ax.lines[-1].get_color()
            if self.horizon_periods > r.tau and np.isfinite(r.survival_curve[r.tau:]).all():
                tt = np.arange(r.tau, self.horizon_periods + 1)
                ax.plot(tt, r.survival_curve[r.tau:], ls="--", color=color, label=f"{a} (extrapolated)")
        ax.axvline(self._tau, color="grey", lw=0.8, ls=":")
        ax.set_xlabel("periods since the campaign")
        ax.set_ylabel("share of customers still active")
        ax.set_ylim(0, 1.02)
        ax.set_title("Survival by arm (bands: pointwise log-log interval)")
        ax.legend(frameon=False, fontsize="small")
        return ax

    def plot_cumulative_value(self, ax: Any) -> Any:
        """Cumulative discounted value per customer over the horizon, per arm."""
        for a, r in self.arms.items():
            ax.plot(r.grid, r.discounted_cumulative, label=a)
        ax.axvline(self._tau, color="grey", lw=0.8, ls=":", label="last observed period")
        ax.set_xlabel("period")
        ax.set_ylabel("cumulative discounted value per customer")
        ax.set_title("Cumulative discounted value by arm")
        ax.legend(frameon=False, fontsize="small")
        return ax

    def plot_retention_by_products(self, ax: Any) -> Any:
        """Kaplan-Meier survival by number of products held (buckets below the minimum cell size omitted)."""
        if not self.retention_by_products:
            ax.text(0.5, 0.5, "no products column in [clv]", ha="center", va="center", transform=ax.transAxes)
            return ax
        for k, km in self.retention_by_products.items():
            if len(km.at_risk) and km.at_risk[0] >= self.min_cell_size:
                km.plot(ax)
        ax.set_xlabel("periods since the campaign")
        ax.set_ylabel("share of customers still active")
        ax.set_title("Retention by products held")
        ax.legend(frameon=False, fontsize="small", title="products")
        return ax


def _fmt(v: Any) -> str:
    return "-" if v is None else f"{v:.4g}"


# =========================================================================== entry points


def retention_by_products(
    outcomes: pd.DataFrame, tenure_column: str, churned_column: str, products_column: str,
    buckets: Sequence[int] = (1, 2, 3, 4), confidence: float = 0.95, label: str = "outcomes",
) -> dict[str, KaplanMeier]:
    """Kaplan-Meier survival per products-held bucket ("1", "2", "3", "4+" by default).

    The business case for cross-selling: multi-product customers churn less. One group-by.
    """
    if products_column not in outcomes.columns:
        raise DataError(f"{label}: column {products_column!r} ([clv] products_column) not found; name an existing column")
    p = outcomes[products_column]
    if not pd.api.types.is_numeric_dtype(p) or p.isna().any() or (p.to_numpy(dtype=float) < 0).any():
        raise DataError(f"{label}: column {products_column!r} must hold counts >= 0 with no missing values")
    edges = list(buckets)
    names = [str(b) for b in edges[:-1]] + [f"{edges[-1]}+"]
    code = np.clip(np.searchsorted(edges, p.to_numpy(dtype=float), side="right") - 1, 0, len(edges) - 1)
    below = p.to_numpy(dtype=float) < edges[0]
    if below.any():
        names = [f"<{edges[0]}"] + names
        code = np.where(below, -1, code) + 1
    frame = pd.DataFrame({"_bucket": pd.Categorical.from_codes(code, names), "t": outcomes[tenure_column].to_numpy(),
                          "e": outcomes[churned_column].to_numpy()})
    lt = life_table(frame, "t", "e", by="_bucket", label=label)
    return {str(k): kaplan_meier(tab, confidence, label=str(k)) for k, tab in lt.groupby("_bucket", observed=True)}


def clv_from_spec_table(spec: Any, table: pd.DataFrame, arm_column: str, control: str, label: str) -> "CLVResult":
    """:func:`clv_from_life_table` with the spec's ``[clv]``, ``[economics]`` and ``[analysis]`` settings.

    The seam every engine shares: whoever built the life table by arm (pandas here,
    DuckDB or Spark in :mod:`uplift.data.engine`) hands it over. Refuses (one line) a spec arm
    with nobody at risk.
    """
    c = spec.section("clv")
    table[arm_column] = table[arm_column].astype(str)
    expected = list(spec.arms) if spec.arms and not spec.section("analysis").get("arm_column") else []
    present = set(table[arm_column])
    missing = [a for a in expected if a not in present]
    if missing:
        raise DataError(f"{label}: arm {missing[0]!r} of the spec has nobody at risk (no rows in column {arm_column!r})")
    return clv_from_life_table(
        table, arm_column, control,
        horizon_periods=int(c["horizon_periods"]), annual_discount_rate=float(c["annual_discount_rate"]),
        periods_per_year=int(c["periods_per_year"]), margin_timing=c["margin_timing"],
        extrapolation=c["extrapolation"], confidence=float(spec.section("analysis").get("confidence") or 0.95),
        eligible_population=spec.section("economics").get("eligible_population"), label=label,
    )


def clv_analysis(
    spec: Any,
    outcomes: pd.DataFrame,
    arm_column: str | None = None,
    control: str | None = None,
    n_bootstrap: int | None = None,
    seed: int = 0,
) -> CLVResult:
    """CLV uplift of an experiment as set in the spec's ``[clv]`` section (the readout's entry point).

    One group-by of ``outcomes`` by arm, tenure and churn flag (carrying the margin's count, sum and
    centred sum of squares), then :func:`clv_from_life_table`; plus retention by products held when
    ``[clv] products_column`` is set. With ``n_bootstrap`` (default: ``[clv] n_bootstrap``, 0) > 0, also the standard error of the
    incremental CLV from that many bootstrap replicates stratified by arm (``bootstrap_se``, a check
    of the delta-method interval; it touches the rows ``n_bootstrap`` times). Raises :class:`DataError`/:class:`SpecError` with a one-line
    message on bad input (missing column, negative tenure, churn flag not 0/1, missing arms, ...).
    """
    if not spec.has("clv"):
        raise SpecError(f"{spec.label}: no [clv] section; add one with tenure_column and churned_column")
    c = spec.section("clv")
    arm_column = arm_column or spec.arm_column
    control = control or spec.control_arm
    label = "outcomes"
    if arm_column not in outcomes.columns:
        raise DataError(f"{label}: arm column {arm_column!r} not found; set [analysis] arm_column in {spec.label}")
    arms = outcomes[arm_column]
    if arms.isna().any():
        raise DataError(f"{label}: column {arm_column!r} has {int(arms.isna().sum())} rows without an arm; fill or remove them")
    margin = c.get("margin_per_period_column") or None
    table = life_table(outcomes, c["tenure_column"], c["churned_column"], by=arm_column, value_col=margin,
                       label=label, integer_durations=True)
    res = clv_from_spec_table(spec, table, arm_column, str(control), label)
    an = spec.section("analysis")
    confidence = float(an.get("confidence") or 0.95)
    rbp = None
    if c.get("products_column"):
        rbp = retention_by_products(outcomes, c["tenure_column"], c["churned_column"], c["products_column"],
                                    confidence=confidence, label=label)
    from dataclasses import replace

    if n_bootstrap is None:
        n_bootstrap = int(c.get("n_bootstrap") or 0)
    if n_bootstrap > 0:
        boot = bootstrap_incremental_clv(
            outcomes, arm_column, str(control), c["tenure_column"], c["churned_column"], margin,
            horizon_periods=res.horizon_periods, annual_discount_rate=res.annual_discount_rate,
            periods_per_year=res.periods_per_year, margin_timing=res.margin_timing, family=res.family,
            n_boot=n_bootstrap, seed=seed,
        )
        res = replace(res, incremental=tuple(
            replace(i, bootstrap_se=float(np.std(boot[i.arm], ddof=1))) for i in res.incremental
        ))
    return replace(res, margin_column=margin or "", retention_by_products=rbp,
                   min_cell_size=int(an.get("min_cell_size") or 0))


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
    cfg = _Config(horizon_periods, periods_per_year, annual_discount_rate, margin_timing, family)
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
        base = _point(ArmCells(a, full[:, 0], full[:, 1], wfull[:, 0], wfull[:, 1], z0, z0), cfg)[3]
        start = None if base is None else base.theta_
        for b in range(n_boot):
            idx = rng.integers(0, len(sub), len(sub))
            cnt = np.bincount(code[idx], minlength=2 * size).reshape(size, 2)
            w = np.bincount(code[idx], weights=m[idx], minlength=2 * size).reshape(size, 2)
            z = np.zeros(size)
            cells = ArmCells(a, cnt[:, 0].astype(float), cnt[:, 1].astype(float), w[:, 0], w[:, 1], z, z)
            reps[b] = _point(cells, cfg, start)[0]
        per_arm[a] = reps
    out = {a: per_arm[a] - per_arm[control] for a in names if a != control}
    out.update({f"{a}_clv": per_arm[a] for a in names})
    return out
