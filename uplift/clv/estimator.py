"""The CLV estimator F(x) of one arm and its delta-method variance, from the arm's life table.

Estimation, from the life table only (:func:`uplift.survival.estimators.life_table`, one
group-by of the rows by arm, tenure and churn flag, carrying the count, sum and
centred sum of squares of the margin per cell), with CLV = sum_{t in grid} V(t) / (1 + d)^t
and V(t) = E[m 1{T > t}] (see :mod:`uplift.clv.analyse`):

* observed periods t <= tau (tau = the last observed tenure): the margin-weighted
  product-limit estimator V(t) = mbar_0 prod_{j <= t} (1 - W^churned_j / W^at-risk_j),
  with mbar_0 the mean margin of all customers and W the margin summed over the
  customers churning in / at risk at period j. Without censoring it is exactly the
  sample mean of m 1{T > t}; with censoring independent of lifetime and margin
  (staggered entry) it is consistent, and it takes the margin level from everyone
  rather than from the few customers observed the longest (the plain Kaplan-Meier
  S(t) is reported beside it, for the survival curves and the RMST);
* beyond tau (the tail): V(t) = V(tau) G(t) / G(tau), with G a parametric
  retention curve (:mod:`uplift.clv.models`) -- shifted-beta-geometric (sBG) or discrete
  Weibull, chosen by AIC plus a holdout check on the last observed periods
  (:func:`select_extrapolation`) -- fitted by maximum likelihood to the same *margin-weighted*
  life table, i.e. to the value-retention curve V(t) / V(0) (for a constant margin, exactly
  the survival curve), so the drift of the survivors towards high-margin, loyal customers
  continues in the tail. The survival curve itself is extrapolated with the same model
  fitted to counts (for the plots and DERL). The assumption is stated in the results: the
  value-retention process seen in the observed periods continues beyond them.

Sampling variance: the estimate is a smooth function F of the per-customer means
x = (share of customers and margin per customer in each life-table cell), so by the
delta method Var F = (1/N^2) sum_i IF_i^2 with influence IF_i = grad F . (u_i - x),
u_i = the cell indicators of customer i and its margin times them. IF_i is linear in
the margin within a cell, so sum_i IF_i^2 = sum_cells [n_c (g_c + h_c mbar_c)^2 + h_c^2 M2_c]
(with M2_c the centred sum of squares of the margin in the cell) -- a "generalised
Greenwood" variance that reduces to Greenwood's formula for S(t) and to Klein &
Moeschberger's for the RMST. The gradient through the fitted tail model uses the
implicit function theorem (d theta / d x = -H^-1 d score / d x).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Mapping

import numpy as np
import pandas as pd
from scipy import stats

from uplift.clv.discounting import discount_factors, period_discount_rate
from uplift.clv.models import RETENTION_MODELS, HazardModel
from uplift.clv.result import ArmCLV
from uplift.errors import DataError
from uplift.results import jsonable
from uplift.survival.estimators import kaplan_meier, rmst

__all__ = [
    "ArmCells",
    "arm_cells",
    "pad_cells",
    "cells_life_table",
    "EstimatorConfig",
    "clv_point",
    "select_extrapolation",
    "estimate_arm",
    "influence_covariance",
]


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


def pad_cells(c: ArmCells, size: int) -> ArmCells:
    """The same cells on the longer grid 0..size-1 (empty periods appended), so that all arms share one grid."""

    def p(a: np.ndarray) -> np.ndarray:
        return np.concatenate([a, np.zeros(size - len(a))])

    return ArmCells(c.arm, p(c.n_event), p(c.n_cens), p(c.w_event), p(c.w_cens), p(c.m2_event), p(c.m2_cens))


def cells_life_table(c: ArmCells) -> pd.DataFrame:
    """Back to a life table (time, at_risk, events, censored) over the occupied periods."""
    cnt = c.n_event + c.n_cens
    at_risk = np.cumsum(cnt[::-1])[::-1]
    occ = cnt > 0
    return pd.DataFrame({
        "time": np.arange(len(cnt))[occ].astype(float), "at_risk": at_risk[occ].astype(np.int64),
        "events": c.n_event[occ].astype(np.int64), "censored": c.n_cens[occ].astype(np.int64),
    })


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
    x: np.ndarray, size: int, horizon_t: np.ndarray, tail: "HazardModel | None", theta: np.ndarray | None
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


def _cumulative_value(x: np.ndarray, size: int, t: np.ndarray, disc: np.ndarray, tail: Any, theta: Any) -> np.ndarray:
    """Cumulative discounted value C(h) = sum_{t in grid, t <= h} V(t) / (1 + d)^t at each grid point h;
    its last element is the CLV."""
    v, _ = _value_curve(x, size, t, tail, theta)
    return np.cumsum(disc * v)


def _fit_tail(kind: str, x: np.ndarray, size: int, weighted: bool, last: int | None = None,
              start: Any = None) -> "HazardModel":
    times, at_risk, events = _hazard_table(x, size, weighted)
    if last is not None:
        keep = times <= last
        times, at_risk, events = times[keep], at_risk[keep], events[keep]
    return RETENTION_MODELS[kind](start=start).fit(times, at_risk, events)


def _cell_scores(model: "HazardModel", size: int) -> np.ndarray:
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


def _jacobian(
    x: np.ndarray, size: int, t: np.ndarray, disc: np.ndarray, tail: "HazardModel | None", weighted: bool
) -> np.ndarray:
    """d C(h) / d x for every grid point h (rows; the last row is grad CLV): finite differences with the
    tail parameters held fixed, plus the implicit-function term for the fitted parameters
    (d theta / d x = -H^-1 d psi / d x). One pass gives the whole cumulative value curve's gradient."""
    theta = None if tail is None else tail.theta_
    jac = np.zeros((len(t), len(x)))
    counts = x[: 2 * size]
    occupied = np.nonzero(counts)[0]
    wscale = float(np.mean(np.abs(x[2 * size:][occupied]))) or 1.0
    for i in np.concatenate([occupied, occupied + 2 * size]):  # every occupied cell: count and margin
        h = 1e-6 * max(abs(x[i]), wscale if i >= 2 * size else 0.0)
        xp, xm = x.copy(), x.copy()
        xp[i] += h
        xm[i] -= h
        jac[:, i] = (_cumulative_value(xp, size, t, disc, tail, theta) - _cumulative_value(xm, size, t, disc, tail, theta)) / (2 * h)
    if tail is not None:
        dth = np.zeros((len(t), 2))
        for k in np.nonzero(tail.free_)[0]:
            e = np.zeros(2)
            e[k] = 1e-6 * max(1.0, abs(theta[k]))
            dth[:, k] = (_cumulative_value(x, size, t, disc, tail, theta + e)
                         - _cumulative_value(x, size, t, disc, tail, theta - e)) / (2 * e[k])
        jac += dth @ _dtheta_dx(tail, x, size, weighted)
    return jac


def _dtheta_dx(model: "HazardModel", x: np.ndarray, size: int, weighted: bool) -> np.ndarray:
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


def _value_model_dict(model: "HazardModel", cells: ArmCells) -> dict[str, Any]:
    """The margin-weighted tail model: parameters and influence-function standard errors (JSON-ready:
    None for a parameter at infinity, e.g. the geometric limit of sBG)."""
    size = len(cells.n_event)
    jac = _dtheta_dx(model, cells.x(), size, weighted=True)
    nat_jac = model.natural_jacobian(model.theta_) @ jac
    se = np.array([math.sqrt(max(_variance(cells, nat_jac[k]), 0.0)) for k in range(2)])
    p = model.natural(model.theta_)
    return {
        "model": model.name,
        "fitted_to": "margin-weighted life table (value retention V(t)/V(0))",
        "params": jsonable(dict(zip(model.param_names, p))),
        "se": {k: (jsonable(v) if np.isfinite(pp) else None) for k, v, pp in zip(model.param_names, se, p)},
        "free_parameters": model.n_free_,
        "periods_fitted": model.n_periods_,
    }


def _variance(cells: ArmCells, grad: np.ndarray) -> float:
    """(1/N^2) sum_cells [n_c (g_c + h_c mbar_c - g.x)^2 + h_c^2 M2_c] (influence-function variance)."""
    return float(_variances(cells, np.atleast_2d(grad))[0])


def _variances(cells: ArmCells, grads: np.ndarray) -> np.ndarray:
    """:func:`_variance` of every row of ``grads`` (one gradient per row)."""
    size = len(cells.n_event)
    x = cells.x()
    const = grads @ x  # 0 up to rounding: F is homogeneous of degree 0 in x
    g_cnt = grads[:, :2 * size]
    g_val = grads[:, 2 * size:]
    counts = np.concatenate([cells.n_event, cells.n_cens])
    sums = np.concatenate([cells.w_event, cells.w_cens])
    m2 = np.concatenate([cells.m2_event, cells.m2_cens])
    with np.errstate(divide="ignore", invalid="ignore"):
        mean = np.where(counts > 0, sums / np.where(counts > 0, counts, 1), 0.0)
    total = np.sum(counts * (g_cnt + g_val * mean - const[:, None]) ** 2 + g_val**2 * m2, axis=1)
    return total / cells.n**2


def influence_covariance(cells: ArmCells, grad: np.ndarray, flag_count: np.ndarray, flag_sum: np.ndarray) -> float:
    """Cov(F, p) of the arm's estimate F (gradient ``grad``) and the share p of its customers with a 0/1 flag,
    by the influence functions: (1/N^2) sum_i IF_i (f_i - p) with IF_i = g_c + h_c m_i - g.x for customer i
    in cell c, i.e. (1/N^2) sum_c [(g_c - g.x)(k_c - p n_c) + h_c (W^f_c - p W_c)], where ``flag_count``
    (k_c) and ``flag_sum`` (W^f_c: margin summed over the flagged customers) are per cell, events then
    censored, like the cells."""
    size = len(cells.n_event)
    const = float(grad @ cells.x())
    counts = np.concatenate([cells.n_event, cells.n_cens])
    sums = np.concatenate([cells.w_event, cells.w_cens])
    p = float(flag_count.sum()) / cells.n
    total = np.sum((grad[:2 * size] - const) * (flag_count - p * counts) + grad[2 * size:] * (flag_sum - p * sums))
    return float(total) / cells.n**2


@dataclass(frozen=True)
class EstimatorConfig:
    """What the estimator needs besides the cells: the horizon H in periods, the periods per year,
    the annual discount rate, the margin timing ("end" or "start") and the extrapolation family."""

    horizon: int
    periods_per_year: int
    annual_rate: float
    timing: str
    family: str | None  # "sbg", "weibull" or None (no extrapolation)

    @property
    def period_rate(self) -> float:
        """d = (1 + annual)^(1 / periods_per_year) - 1 (:func:`uplift.clv.discounting.period_discount_rate`)."""
        return period_discount_rate(self.annual_rate, self.periods_per_year)

    def grid(self) -> tuple[np.ndarray, np.ndarray]:
        """The period grid t and its discount factors 1 / (1 + d)^t (:func:`uplift.clv.discounting.discount_factors`)."""
        return discount_factors(self.horizon, self.period_rate, self.timing)


def clv_point(cells: ArmCells, cfg: EstimatorConfig, start: Any = None) -> tuple[float, float, float, "HazardModel | None"]:
    """CLV = sum_t V(t) / (1 + d)^t of one arm: (CLV, its observed part, its tail part, the margin-weighted
    tail model or None). ``start``: working parameters to start the tail fit from (a warm start)."""
    x = cells.x()
    size = len(cells.n_event)
    t, disc = cfg.grid()
    needs_tail = bool((t > cells.tau).any()) and cfg.family is not None
    tail = _fit_tail(cfg.family, x, size, weighted=True, start=start) if needs_tail else None
    v, is_tail = _value_curve(x, size, t, tail, None)
    obs = float(np.sum((disc * v)[~is_tail]))
    tl = float(np.sum((disc * v)[is_tail]))
    return obs + tl, obs, tl, tail


def select_extrapolation(
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


def estimate_arm(cells: ArmCells, cfg: EstimatorConfig, fitted: Mapping[tuple[str, str], HazardModel],
                 confidence: float = 0.95) -> ArmCLV:
    """CLV per customer of one arm with its delta-method interval, survival curve, RMST and DERL.

    ``cells`` on the grid common to all arms (:func:`pad_cells`); ``fitted`` the count-weighted
    fits of :func:`select_extrapolation` by (family, arm): the chosen family's fit warm-starts
    the margin-weighted tail fit and is reported as the survival model; the sBG fit gives DERL.
    The interval is CLV +- z se with se^2 the influence-function variance (module docstring).
    """
    arm = cells.arm
    size = len(cells.n_event)
    tau_all = size - 1
    t, disc = cfg.grid()
    z = stats.norm.ppf(0.5 + confidence / 2)
    warm = fitted.get((cfg.family, arm)) if cfg.family else None
    value, obs, tail_part, tail = clv_point(cells, cfg, start=None if warm is None else warm.theta_)
    jac = _jacobian(cells.x(), size, t, disc, tail, weighted=True)
    cumulative_se = np.sqrt(np.maximum(_variances(cells, jac), 0.0))
    se = float(cumulative_se[-1])
    km = kaplan_meier(cells_life_table(cells), confidence=confidence, label=arm)
    r = rmst(km, float(tau_all), confidence)
    surv_model = fitted.get((cfg.family or "sbg", arm))
    sbg = fitted.get(("sbg", arm))
    v, _ = _value_curve(cells.x(), size, t, tail, None)
    return ArmCLV(
        arm=arm, n=cells.n, clv=value, se=se, lower=value - z * se, upper=value + z * se,
        observed_part=obs, tail_part=tail_part, tau=tau_all, km=km, rmst=r,
        survival_model=(surv_model.to_dict() if surv_model is not None else {"model": None}),
        value_model=(_value_model_dict(tail, cells) if tail is not None else None),
        derl=_derl_summary(cells, sbg, cfg.period_rate) if sbg is not None else None,
        grid=t, value_curve=v, discounted_cumulative=np.cumsum(disc * v), cumulative_se=cumulative_se,
        gradient=jac[-1],
        survival_curve=_survival_to_horizon(cells, cfg, surv_model),
    )


def _survival_to_horizon(cells: ArmCells, cfg: EstimatorConfig, surv_model: HazardModel | None) -> np.ndarray:
    """S(t) for t = 0..H: Kaplan-Meier to the last observed period, then S(tau) G(t) / G(tau) with G the
    count-weighted fit of the chosen family (NaN beyond tau without extrapolation)."""
    size = len(cells.n_event)
    horizon_periods = cfg.horizon
    s_km, _ = _km_and_margin(cells.x(), size)
    s_full = np.ones(horizon_periods + 1)
    upto = min(horizon_periods, size - 1)
    s_full[: upto + 1] = s_km[: upto + 1]
    if horizon_periods > size - 1:
        if cfg.family is not None and surv_model is not None:
            g = surv_model.survival(np.arange(size - 1, horizon_periods + 1))
            s_full[size - 1:] = s_km[size - 1] * g / g[0]
        else:
            s_full[size:] = np.nan
    return s_full


def _derl_summary(cells: ArmCells, sbg: Any, period_rate: float) -> dict[str, Any] | None:
    """Mean DERL and residual value of the arm's active (censored) customers under its sBG fit
    (:func:`uplift.clv.models.derl_sbg`, n = tenure + 1); None when nobody is active."""
    active = cells.n_cens.sum()
    if not active > 0:
        return None
    k = np.arange(len(cells.n_event))
    dv = sbg.derl(k + 1, period_rate)
    return {
        "model": "sBG (count-weighted fit)",
        "active_customers": int(active),
        "mean_derl_periods": float(np.sum(cells.n_cens * dv) / active),
        "residual_value_per_active_customer": float(np.sum(cells.w_cens * dv) / active),
        "definition": "sum_{t>=n} S(t)/S(n-1) / (1+d)^(t-n), n = tenure + 1 (Fader & Hardie 2010, eq. 6); value = margin x DERL",
    }
