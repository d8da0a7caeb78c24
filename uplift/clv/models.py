"""Parametric retention models for discrete renewal periods, fitted to a life table.

Both models are written through their period hazard h_t = P(T = t | T >= t),
t = 1, 2, ..., so the censored-data log-likelihood of a life table with n_t at
risk and d_t churned in period t is

    l(theta) = sum_t d_t log h_t(theta) + (n_t - d_t) log(1 - h_t(theta)),

and S(t) = prod_{j <= t} (1 - h_j). The same likelihood accepts weights (the
margin of the customers at risk and churning) in place of counts. Fitted by
maximum likelihood on working parameters (bounded L-BFGS-B with the analytic
gradient, or Newton steps from a warm start, polished by Newton steps with a
finite-difference Hessian of the analytic gradient); ``se_`` from the inverse
observed information (delta method to the natural scale). A parameter at its
bound (sBG heterogeneity 0, the geometric limit) is held there (``free_``).

* :class:`ShiftedBetaGeometric`: Fader & Hardie (2007), "How to Project Customer Retention";
* :class:`DiscreteWeibull`: a Weibull lifetime observed in whole periods;
* :func:`derl_sbg`: discounted expected residual lifetime under the sBG (Fader & Hardie 2010).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy import optimize, special

from uplift.errors import DataError
from uplift.results import jsonable

__all__ = ["HazardModel", "ShiftedBetaGeometric", "DiscreteWeibull", "RETENTION_MODELS", "derl_sbg"]


class HazardModel:
    """A retention model given by its period hazard h_t(theta), fitted to a life table by maximum
    likelihood (see the module docstring). Subclasses define ``_hazard_and_grad(theta, t)`` on their
    working parameters ``theta`` (with optional lower bounds), ``_start`` and ``natural(theta)``."""

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

    # -- likelihood pieces (public for the delta method in uplift.clv.estimator)
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
    def fit(self, times: Any, at_risk: Any, events: Any) -> "HazardModel":
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
        jac_nat = self.natural_jacobian(theta)
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

    def natural_jacobian(self, theta: np.ndarray) -> np.ndarray:
        """d natural(theta) / d theta by forward differences (shape (2, 2)): the delta method's
        map from the working to the natural scale."""
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


class ShiftedBetaGeometric(HazardModel):
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


class DiscreteWeibull(HazardModel):
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


RETENTION_MODELS: dict[str, type[HazardModel]] = {"sbg": ShiftedBetaGeometric, "weibull": DiscreteWeibull}
"""The extrapolation families by their ``[clv] extrapolation`` name."""
