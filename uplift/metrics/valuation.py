"""One valuation of a conversion and of a contact policy, shared by finance and targeting.

Finance (:func:`uplift.metrics.crosssell.incremental_roi`) and targeting
(:mod:`uplift.targeting`) both price the offer from ONE :class:`Valuation`: the test's arm
and control means of the net value per customer (margin - cannibalised margin - cost to
serve; CUPED-adjusted when the spec adjusts an economics metric) and of the conversion
indicator, with their sampling (co)variances. The definitions:

* **incremental profit** per treated customer ``d_pi = net_a - net_c`` (before campaign cost);
* **campaign cost** per treated customer ``cost = c_contact + c_incentive p_a``;
* **value of a conversion** ``V = d_pi / d_p``, ``d_p = p_a - p_c``: the incremental net value
  per *incremental* conversion (a Wald / instrumental-variable ratio: the offer's effect on
  net value divided by its effect on conversion; Angrist, Imbens & Rubin 1996). It is net of
  cannibalised margin and cost to serve and before campaign cost;
* **expected profit of contacting one customer** (:func:`expected_profit`):
  ``uplift x V - c_contact - c_incentive x P(convert | offered)`` (Devriendt, Berrevoets &
  Verbeke 2021; sklift's ``max_prof_uplift``);
* **value of a policy** contacting a set of customers: the sum of their expected profits
  (:meth:`Valuation.policy`). When the set's uplifts average ``d_p``, their values of a
  conversion average ``V`` weighted by uplift, and their conversion probabilities average
  ``p_a`` -- which is how targeting anchors its list -- contacting all ``n`` of them is
  ``n (d_pi - cost)``, finance's net incremental profit.

CUPED per column (Deng, Xu, Kohavi & Walker 2013): each economics column ``Y_j`` is adjusted
with the covariate ``X`` by its own ``theta_j``, the pooled within-arm slope
``sum_a (n_a - 1) cov_a(Y_j, X) / sum_a (n_a - 1) var_a(X)`` (the OLS slope of ``Y_j ~ arm + X``);
the adjusted arm mean is ``Ybar_j,a - theta_j (Xbar_a - Xbar)``. The net value
``sum_j w_j Y_j`` (w = +1 margin, -1 cannibalised, -1 cost to serve) has within-arm unit variance
``sum_jk w_j w_k cov(Y_j - theta_j X, Y_k - theta_k X)`` (delta method, every covariance between
the adjusted columns; thetas treated as fixed, as in CUPED). Conversion is not adjusted.
Variances of means are unit variances over n; intervals are normal.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Mapping

import numpy as np

from uplift.data.moments import Moments
from uplift.text import Msg

__all__ = ["Valuation", "expected_profit", "interval"]


def expected_profit(uplift: Any, value: Any, contact_cost: float, incentive_cost: float, p_offered: Any) -> Any:
    """Expected incremental profit of contacting a customer: ``uplift x value - contact_cost -
    incentive_cost x p_offered`` (Devriendt, Berrevoets & Verbeke 2021, Information Sciences 548:497).
    Works on numbers and numpy arrays alike."""
    return uplift * value - contact_cost - incentive_cost * p_offered


@dataclass(frozen=True)
class Valuation:
    """Arm and control means of net value and conversion per customer, with the variances and
    covariances of those means, and the campaign's unit costs. See the module docstring."""

    n_arm: int
    n_control: int
    net_arm: float
    net_control: float
    conv_arm: float
    conv_control: float
    var_net_arm: float        # variance of the mean net value of the arm
    var_net_control: float
    var_conv_arm: float       # variance of the arm's conversion rate
    var_conv_control: float
    cov_arm: float            # covariance of the arm's mean net value and conversion rate
    cov_control: float
    contact_cost: float
    incentive_cost: float
    covariate: str = ""
    theta: Mapping[str, float] = field(default_factory=dict)

    # ----------------------------------------------------------------- building
    @classmethod
    def from_moments(cls, arm: Moments, control: Moments, weights: Mapping[str, float], conversion: str,
                     covariate: str, contact_cost: float, incentive_cost: float) -> "Valuation":
        """From the two arms' :class:`~uplift.data.moments.Moments`: net value ``sum_j weights[j] x column_j``,
        each column CUPED-adjusted with ``covariate`` when given (formulas in the module docstring).
        Needs the co-moments of every pair of (weighted columns, conversion, covariate)."""
        cols = list(weights)
        w = np.array([float(weights[c]) for c in cols])
        theta = {c: 0.0 for c in cols}
        xbar = 0.0
        if covariate:
            sxx = sum((m.n - 1) * m.var(covariate) for m in (arm, control))
            for c in cols:
                sxy = sum((m.n - 1) * m.cov(c, covariate) for m in (arm, control))
                theta[c] = sxy / sxx if sxx > 0 else 0.0
            xbar = (arm.n * arm.mean_of(covariate) + control.n * control.mean_of(covariate)) / (arm.n + control.n)
        th = np.array([theta[c] for c in cols])

        def parts(m: Moments) -> tuple[float, float, float]:
            """(adjusted mean net, unit variance of adjusted net, unit covariance with conversion)."""
            shift = (m.mean_of(covariate) - xbar) if covariate else 0.0
            mean = float(w @ (np.array([m.mean_of(c) for c in cols]) - th * shift))
            cov = np.array([[m.cov(a, b) for b in cols] for a in cols])
            cconv = np.array([m.cov(c, conversion) for c in cols])
            if covariate:
                cx = np.array([m.cov(c, covariate) for c in cols])
                vx = m.var(covariate)
                cov = cov - np.outer(th, cx) - np.outer(cx, th) + np.outer(th, th) * vx
                cconv = cconv - th * m.cov(covariate, conversion)
            return mean, float(w @ cov @ w), float(w @ cconv)

        na, va, ca = parts(arm)
        nc, vc, cc = parts(control)
        return cls(
            n_arm=arm.n, n_control=control.n, net_arm=na, net_control=nc,
            conv_arm=arm.mean_of(conversion), conv_control=control.mean_of(conversion),
            var_net_arm=va / arm.n, var_net_control=vc / control.n,
            var_conv_arm=arm.var(conversion) / arm.n, var_conv_control=control.var(conversion) / control.n,
            cov_arm=ca / arm.n, cov_control=cc / control.n,
            contact_cost=float(contact_cost), incentive_cost=float(incentive_cost),
            covariate=covariate, theta=theta if covariate else {},
        )

    # ----------------------------------------------------------------- per treated customer
    @property
    def incremental_profit(self) -> tuple[float, float]:
        """(d_pi, its variance): ``net_a - net_c``, ``var = var(net_a) + var(net_c)``."""
        return self.net_arm - self.net_control, self.var_net_arm + self.var_net_control

    @property
    def incremental_conversion(self) -> tuple[float, float]:
        """(d_p, its variance): ``p_a - p_c`` with the unpooled Wald variance."""
        return self.conv_arm - self.conv_control, self.var_conv_arm + self.var_conv_control

    @property
    def campaign_cost(self) -> tuple[float, float]:
        """(cost, its variance): ``c_contact + c_incentive p_a``, ``var = c_incentive^2 var(p_a)``."""
        k1 = self.incentive_cost
        return self.contact_cost + k1 * self.conv_arm, k1 * k1 * self.var_conv_arm

    @property
    def net_incremental_profit(self) -> tuple[float, float]:
        """(d_pi - cost, delta-method variance ``var(net_a) - 2 c_incentive cov(net_a, p_a) +
        c_incentive^2 var(p_a) + var(net_c)``): the value of contacting one customer of the
        tested population, = :func:`expected_profit` (d_p, V, ...)."""
        dpi, _ = self.incremental_profit
        cost, _ = self.campaign_cost
        k1 = self.incentive_cost
        return dpi - cost, self.var_net_arm - 2 * k1 * self.cov_arm + k1 * k1 * self.var_conv_arm + self.var_net_control

    @property
    def roi(self) -> tuple[float, float] | None:
        """((d_pi - cost) / cost, delta-method variance with gradient (1/cost, -d_pi c_incentive/cost^2,
        -1/cost) in (net_a, p_a, net_c)); None when the cost is 0."""
        dpi, _ = self.incremental_profit
        cost, _ = self.campaign_cost
        if cost <= 0:
            return None
        k1 = self.incentive_cost
        g1, gp, g0 = 1 / cost, -dpi * k1 / cost**2, -1 / cost
        var = g1 * g1 * self.var_net_arm + 2 * g1 * gp * self.cov_arm + gp * gp * self.var_conv_arm + g0 * g0 * self.var_net_control
        return (dpi - cost) / cost, var

    @property
    def value_per_conversion(self) -> tuple[float, float] | None:
        """(V = d_pi / d_p, delta-method variance ``(var(d_pi) - 2 V (cov_a + cov_c) + V^2 var(d_p)) / d_p^2``);
        None when d_p = 0."""
        dpi, vpi = self.incremental_profit
        dp, vdp = self.incremental_conversion
        if dp == 0:
            return None
        v = dpi / dp
        return v, (vpi - 2 * v * (self.cov_arm + self.cov_control) + v * v * vdp) / dp**2

    # ----------------------------------------------------------------- policies
    def policy(self, n: float, value_units: float | None = None, conversion_units: float | None = None,
               uplift_shift: float = 0.0, value: float | None = None, value_var: float = 0.0) -> tuple[float, float]:
        """(total, variance) of contacting ``n`` customers, i.e. the sum of their :func:`expected_profit`.

        With finance's value of a conversion (``value=None``) the sum is
        ``value_units x d_pi - n c_contact - c_incentive p_a x conversion_units``, where
        ``value_units = sum_i tau_i V_i / d_pi`` (how many average customers' incremental value the
        contacted customers carry; ``n`` when they are the whole population) and
        ``conversion_units = sum_i p1_i / p_a`` (``n`` for the whole population). The variance is the
        delta method in (net_a, net_c, p_a) with gradient ``(value_units, -value_units,
        -c_incentive conversion_units)``, the units taken as fixed (they come from the ranking model).
        With a given ``value`` V (variance ``value_var``, independent of the test) the sum is
        ``V (n d_p + uplift_shift) - n c_contact - c_incentive p_a conversion_units`` with gradient
        ``(V n - c_incentive conversion_units, -V n)`` in (p_a, p_c) plus ``(n d_p + uplift_shift)^2 value_var``.
        Contacting everyone (units = n, shift 0) with ``value=None`` is ``n x`` :attr:`net_incremental_profit`.
        """
        dpi, _ = self.incremental_profit
        dp, _ = self.incremental_conversion
        k0, k1 = self.contact_cost, self.incentive_cost
        a = float(n if value_units is None else value_units)
        b = float(n if conversion_units is None else conversion_units)
        if value is None:
            est = a * dpi - n * k0 - k1 * self.conv_arm * b
            g_n1, g_n0, g_p1, g_p0, extra = a, -a, -k1 * b, 0.0, 0.0
        else:
            est = value * (n * dp + uplift_shift) - n * k0 - k1 * self.conv_arm * b
            g_n1 = g_n0 = 0.0
            g_p1, g_p0 = value * n - k1 * b, -value * n
            extra = (n * dp + uplift_shift) ** 2 * value_var
        var = (g_n1 * g_n1 * self.var_net_arm + 2 * g_n1 * g_p1 * self.cov_arm + g_p1 * g_p1 * self.var_conv_arm
               + g_n0 * g_n0 * self.var_net_control + 2 * g_n0 * g_p0 * self.cov_control + g_p0 * g_p0 * self.var_conv_control
               + extra)
        return float(est), float(var)

    def describe(self) -> Msg:
        """Which estimator the net value uses, for the page and results.json."""
        if self.covariate:
            return Msg("CUPED-adjusted with {covariate} (each economics column by its own pooled within-arm theta; "
                       "variance by the delta method with the covariances of the adjusted columns)", covariate=self.covariate)
        return Msg("difference in means (unadjusted)")

    def to_dict(self) -> dict[str, Any]:
        """The inputs of every finance and targeting valuation figure (results.json ``roi.per_arm.<arm>.valuation``)."""
        return {
            "estimator": self.describe(), "covariate": self.covariate or None,
            "theta": dict(self.theta) or None,
            "n_arm": int(self.n_arm), "n_control": int(self.n_control),
            "net_value_arm": self.net_arm, "net_value_control": self.net_control,
            "conversion_arm": self.conv_arm, "conversion_control": self.conv_control,
            "var_net_value_arm": self.var_net_arm, "var_net_value_control": self.var_net_control,
            "var_conversion_arm": self.var_conv_arm, "var_conversion_control": self.var_conv_control,
            "cov_net_value_conversion_arm": self.cov_arm, "cov_net_value_conversion_control": self.cov_control,
        }


def interval(estimate: float, var: float, z: float) -> dict[str, Any]:
    """``{"estimate", "se", "ci"}`` with se = sqrt(var) and the normal interval estimate +- z se."""
    se = math.sqrt(var) if var >= 0 else float("nan")
    return {"estimate": estimate, "se": se, "ci": [estimate - z * se, estimate + z * se]}
