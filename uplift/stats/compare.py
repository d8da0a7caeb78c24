"""Closed-form estimators on sufficient statistics (see :mod:`uplift.data.moments`).

Nothing here touches rows. Each comparison is *treatment arm minus control* and
returns a :class:`Comparison` (a frozen dataclass with ``to_dict()`` and
``summary()``). Formulas and sources:

* proportions - difference p1 - p0 with the unpooled Wald interval
  ``+- z sqrt(p1(1-p1)/n1 + p0(1-p0)/n0)`` clipped to [-1, 1], and Newcombe's hybrid-score
  interval (Newcombe 1998, Stat Med 17:873, method 10; = statsmodels
  ``confint_proportions_2indep(method="newcomb")``), which is the headline interval when an
  arm has fewer than :data:`SMALL_COUNT` successes or failures (Wald is poor near 0% or 100%);
  two-sided p-value from the pooled z-test ``z = (p1-p0) / sqrt(p(1-p)(1/n1+1/n0))``
  (= statsmodels ``proportions_ztest``);
* means - Welch's t: ``se = sqrt(v1/n1 + v0/n0)``, Welch-Satterthwaite df
  (= scipy ``ttest_ind(equal_var=False)``);
* ratio metrics - delta method on R = mean(Y)/mean(D), per-unit variance
  ``(vY - 2R cYD + R^2 vD)/mean(D)^2`` (Deng, Knoblich & Lu 2018, KDD);
* CUPED / regression adjustment - ``Y - theta (X - mean X)`` with
  ``theta`` the pooled within-arm slope (the OLS coefficient of ``Y ~ arm + X``,
  so the estimate equals OLS's), variance per arm ``vY - 2 theta cXY + theta^2 vX``
  (Deng, Xu, Kohavi & Walker 2013, WSDM, "CUPED"); ``se="ols"`` gives OLS's
  classical standard error instead. For ratio metrics the linearised unit values
  are adjusted the same way (Deng et al. 2018, sec. 4);
* relative effect (arm - control)/control - delta method on the log of the ratio
  of means, ``se(log r) = sqrt(var(m1)/m1^2 + var(m0)/m0^2)``, interval
  ``exp(log r +- q se) - 1`` (as tea-tasting); when a mean is not positive the
  linear delta method ``var(r) = var(m1)/m0^2 + m1^2 var(m0)/m0^4`` is used and
  ``method`` says so.

t or z, one convention: every comparison built from per-unit variances (plain means,
ratios, CUPED-adjusted means, proportions and ratios) uses Student's t with
Welch-Satterthwaite degrees of freedom computed from the variances it uses (the
CUPED-adjusted or linearised ones): ``df = (a + b)^2 / (a^2/(n1-1) + b^2/(n0-1))`` with
``a = v1/n1``, ``b = v0/n0`` (Welch 1947; as tea-tasting ``use_t=True`` and gbstats). The
unadjusted difference of proportions, whose variance follows from the rates, keeps the
normal z-test; OLS standard errors (``se="ols"``) use t with n - 3 df.

Guardrail tests (non-inferiority, the three guardrail states) are :mod:`uplift.stats.guardrails`;
adjusting the p-values of a family of comparisons is :mod:`uplift.stats.multiplicity`;
planned interim looks are :mod:`uplift.stats.sequential`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Mapping

from uplift.data.moments import AdjustedStats, Moments, Proportion, RatioStats, SampleMean
from uplift.results import jsonable
from uplift.stats import distributions as st  # scipy.stats' normal, t, chi2 without importing it
from uplift.text import Msg


__all__ = [
    "Comparison",
    "compare_proportions",
    "compare_means",
    "compare_ratios",
    "compare_adjusted",
    "compare_adjusted_ratios",
    "normal_comparison",
    "welch_comparison",
    "welch_df",
    "wilson_interval",
    "newcombe_interval",
    "relative_effect",
    "SMALL_COUNT",
]

SMALL_COUNT = 5
"""A difference of proportions takes Newcombe's interval as its headline when an arm has fewer
than this many successes or failures (the Wald interval then under-covers and can leave [-1, 1])."""


# --------------------------------------------------------------------------- result


@dataclass(frozen=True)
class Comparison:
    """One arm against control on one metric: absolute and relative effect with intervals."""

    kind: str
    n_treatment: int
    n_control: int
    mean_treatment: float
    mean_control: float
    estimate: float
    se: float
    ci: tuple[float, float]
    p_value: float
    statistic: float
    df: float | None
    rel_effect: float | None
    rel_ci: tuple[float, float] | None
    confidence: float
    method: str
    details: Mapping[str, Any] = field(default_factory=dict)

    @property
    def z_critical(self) -> float:
        """The critical value the interval used (t with ``df`` or normal)."""
        q = 0.5 + self.confidence / 2
        return float(st.t.ppf(q, self.df)) if self.df is not None else float(st.norm.ppf(q))

    def one_sided_p(self, alternative: str) -> float:
        """One-sided p-value from the same statistic: "larger" (H1: effect > 0) or "smaller" (H1: effect < 0)."""
        if alternative not in ("larger", "smaller"):
            raise ValueError("alternative must be 'larger' or 'smaller'")
        z = self.statistic if alternative == "larger" else -self.statistic
        return float(st.t.sf(z, self.df)) if self.df is not None else float(st.norm.sf(z))

    def to_dict(self) -> dict[str, Any]:
        """The results.json row of this comparison (JSON values: None where a number is undefined)."""
        return jsonable({
            "kind": self.kind,
            "n_arm": int(self.n_treatment),
            "n_control": int(self.n_control),
            "mean_arm": self.mean_treatment,
            "mean_control": self.mean_control,
            "abs_effect": self.estimate,
            "abs_se": self.se,
            "abs_ci": self.ci,
            "rel_effect": self.rel_effect,
            "rel_ci": self.rel_ci,
            "p_value": self.p_value,
            "p_value_larger": self.one_sided_p("larger"),
            "p_value_smaller": self.one_sided_p("smaller"),
            "statistic": self.statistic,
            "df": self.df,
            "confidence": self.confidence,
            "method": self.method,
            **self.details,
        })

    def summary(self) -> str:
        lo, hi = self.ci
        rel = "n/a" if self.rel_effect is None else f"{self.rel_effect:+.2%}"
        rci = "" if self.rel_ci is None else f" [{self.rel_ci[0]:+.2%}, {self.rel_ci[1]:+.2%}]"
        return (
            f"{self.kind}: arm {self.mean_treatment:.6g} (n={self.n_treatment}) vs control "
            f"{self.mean_control:.6g} (n={self.n_control}); effect {self.estimate:+.6g} "
            f"[{lo:+.6g}, {hi:+.6g}] ({self.confidence:.0%}), relative {rel}{rci}, p={self.p_value:.4g}\n"
            f"  method: {self.method}"
        )


# --------------------------------------------------------------------------- relative effect


def relative_effect(
    m1: float, var_m1: float, m0: float, var_m0: float, crit: float
) -> tuple[float | None, tuple[float, float] | None, Msg]:
    """Relative effect r = m1/m0 - 1 with a delta-method interval.

    Both means positive: log scale, ``se = sqrt(var_m1/m1^2 + var_m0/m0^2)``,
    interval ``(m1/m0) exp(+- crit se) - 1`` (delta method for log(m1/m0)).
    Otherwise (m0 != 0): linear delta method ``var = var_m1/m0^2 + m1^2 var_m0/m0^4``.
    ``var_m*`` are variances of the means (not of units).
    """
    if m0 == 0 or not math.isfinite(m0):
        return None, None, Msg("relative effect undefined (control mean is 0)")
    ratio = m1 / m0
    if m1 > 0 and m0 > 0:
        se = math.sqrt(var_m1 / (m1 * m1) + var_m0 / (m0 * m0))
        h = math.exp(min(crit * se, 700.0))  # e^700 ~ 1e304: past it the interval is [-100%, unbounded) anyway
        return ratio - 1, (ratio / h - 1, ratio * h - 1), Msg("relative CI: delta method on log(arm/control)")
    se = math.sqrt(var_m1 / (m0 * m0) + (m1 * m1) * var_m0 / (m0 * m0 * m0 * m0))
    return ratio - 1, (ratio - 1 - crit * se, ratio - 1 + crit * se), Msg("relative CI: delta method on arm/control (linear)")


# --------------------------------------------------------------------------- proportions


def wilson_interval(successes: float, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """Wilson score interval (Wilson 1927): (p + z^2/2n +- z sqrt(p(1-p)/n + z^2/4n^2)) / (1 + z^2/n)."""
    z = st.norm.ppf(0.5 + confidence / 2)
    p = successes / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(max(p * (1 - p) / n + z * z / (4 * n * n), 0.0)) / denom
    return centre - half, centre + half


def newcombe_interval(
    x1: float, n1: int, x0: float, n0: int, confidence: float = 0.95
) -> tuple[float, float]:
    """Newcombe's hybrid score interval for p1 - p0 (Newcombe 1998, method 10).

    With Wilson limits (l1, u1) and (l0, u0):
    ``[d - sqrt((p1-l1)^2 + (u0-p0)^2), d + sqrt((u1-p1)^2 + (p0-l0)^2)]``.
    """
    p1, p0 = x1 / n1, x0 / n0
    l1, u1 = wilson_interval(x1, n1, confidence)
    l0, u0 = wilson_interval(x0, n0, confidence)
    d = p1 - p0
    return d - math.sqrt((p1 - l1) ** 2 + (u0 - p0) ** 2), d + math.sqrt((u1 - p1) ** 2 + (p0 - l0) ** 2)


def compare_proportions(treatment: Proportion, control: Proportion, confidence: float = 0.95) -> Comparison:
    """Difference of proportions p1 - p0.

    * Wald interval: ``d +- z sqrt(p1(1-p1)/n1 + p0(1-p0)/n0)`` (unpooled), clipped to [-1, 1];
    * Newcombe hybrid-score interval (Newcombe 1998, method 10; statsmodels
      ``confint_proportions_2indep(method="newcomb")``);
    * headline ``ci``: Newcombe when an arm has fewer than :data:`SMALL_COUNT` (5) successes or
      fewer than 5 failures, else Wald; ``details["ci_method"]`` says which, and both intervals
      are in ``details`` (``wald_ci``, ``newcombe_ci``);
    * p-value: pooled two-sided z-test ``z = d / sqrt(p(1-p)(1/n1 + 1/n0))``, p the pooled rate
      (statsmodels ``proportions_ztest``);
    * relative effect: delta method on log(p1/p0).
    """
    n1, n0 = treatment.n, control.n
    x1, x0 = treatment.successes, control.successes
    p1, p0 = treatment.p, control.p
    d = p1 - p0
    z = st.norm.ppf(0.5 + confidence / 2)
    v1, v0 = p1 * (1 - p1) / n1, p0 * (1 - p0) / n0
    se = math.sqrt(v1 + v0)
    pp = (x1 + x0) / (n1 + n0)
    se0 = math.sqrt(pp * (1 - pp) * (1 / n1 + 1 / n0))
    if se0 > 0:
        stat = d / se0
        p = 2 * st.norm.sf(abs(stat))
    else:
        stat, p = 0.0, 1.0
    rel, rel_ci, rel_method = relative_effect(p1, v1, p0, v0, z)
    wald = (max(d - z * se, -1.0), min(d + z * se, 1.0))
    newcombe = newcombe_interval(x1, n1, x0, n0, confidence)
    small = min(x1, n1 - x1, x0, n0 - x0) < SMALL_COUNT
    abs_method = (Msg("abs CI: Newcombe hybrid score (an arm has fewer than {n} successes or failures; "
                      "Wald CI also given)", n=SMALL_COUNT) if small else
                  Msg("abs CI: Wald (unpooled, clipped to [-1, 1]; Newcombe hybrid-score CI also given, and used "
                      "when an arm has fewer than {n} successes or failures)", n=SMALL_COUNT))
    return Comparison(
        kind="proportion",
        n_treatment=n1, n_control=n0, mean_treatment=p1, mean_control=p0,
        estimate=d, se=se, ci=newcombe if small else wald, p_value=float(p), statistic=float(stat), df=None,
        rel_effect=rel, rel_ci=rel_ci, confidence=confidence,
        method=Msg("{how}; p: pooled two-sided z-test; {relative}", how=abs_method, relative=rel_method),
        details={"newcombe_ci": newcombe, "wald_ci": wald, "ci_method": "newcombe" if small else "wald"},
    )


# --------------------------------------------------------------------------- means


def welch_df(a: float, b: float, n1: int, n0: int) -> float:
    """Welch-Satterthwaite degrees of freedom (Welch 1947) with ``a = v1/n1``, ``b = v0/n0`` (the
    variances of the two means): ``(a + b)^2 / (a^2/(n1-1) + b^2/(n0-1))``; ``n1 + n0 - 2`` when
    both variances are 0."""
    s = a + b  # computed as 1 / ((a/s)^2/(n1-1) + (b/s)^2/(n0-1)): the same number, free of the scale of the
    if not s > 0:  # variances, so huge ones (1e200) cannot overflow a square
        return float(max(n1 + n0 - 2, 1))
    fa, fb = a / s, b / s
    den = (fa * fa / (n1 - 1) if n1 > 1 else 0.0) + (fb * fb / (n0 - 1) if n0 > 1 else 0.0)
    return 1.0 / den if den > 0 else float(max(n1 + n0 - 2, 1))


def welch_comparison(
    kind: str, n1: int, n0: int, m1: float, m0: float, a: float, b: float, confidence: float,
    method: str, details: Mapping[str, Any] | None = None, estimate: float | None = None,
) -> Comparison:
    """Arm minus control from two means and the variances of the means (``a = var(m1)``,
    ``b = var(m0)``), Welch's t: ``se = sqrt(a + b)``, ``df`` by :func:`welch_df`, interval
    ``d +- t_df se``, two-sided ``p = 2 T_df(-|d/se|)`` (Welch 1947; = scipy
    ``ttest_ind(equal_var=False)`` when a, b are sample variances over n). Relative effect by
    :func:`relative_effect` with a t quantile whose Welch df uses the log-scale variances
    ``a/m1^2, b/m0^2`` (as tea-tasting ``use_t=True``). ``method`` says how a and b were built."""
    d = m1 - m0 if estimate is None else estimate
    se = math.sqrt(max(a + b, 0.0))
    df = welch_df(a, b, n1, n0)
    q = 0.5 + confidence / 2
    crit = st.t.ppf(q, df)
    if se > 0:
        stat = d / se
        p = 2 * st.t.sf(abs(stat), df)
    else:
        stat, p = (0.0, 1.0) if d == 0 else (math.copysign(math.inf, d), 0.0)
    crit_rel = st.t.ppf(q, welch_df(a / (m1 * m1), b / (m0 * m0), n1, n0)) if m1 > 0 and m0 > 0 else crit
    rel, rel_ci, rel_method = relative_effect(m1, a, m0, b, crit_rel)
    return Comparison(
        kind=kind, n_treatment=n1, n_control=n0, mean_treatment=m1, mean_control=m0,
        estimate=d, se=se, ci=(d - crit * se, d + crit * se), p_value=float(p), statistic=float(stat), df=df,
        rel_effect=rel, rel_ci=rel_ci, confidence=confidence, method=Msg("{how}; {relative}", how=method, relative=rel_method),
        details=dict(details or {}),
    )


def compare_means(treatment: SampleMean, control: SampleMean, confidence: float = 0.95) -> Comparison:
    """Welch's t-test and interval for m1 - m0 (:func:`welch_comparison` with ``a = v1/n1``, ``b = v0/n0``).

    ``se = sqrt(v1/n1 + v0/n0)``, ``df = se^4 / ((v1/n1)^2/(n1-1) + (v0/n0)^2/(n0-1))``
    (Welch 1947); ``p = 2 T_df(-|d/se|)``. Matches scipy ``ttest_ind(equal_var=False)`` and
    statsmodels ``ttest_ind(..., usevar="unequal")``.
    """
    n1, n0 = treatment.n, control.n
    return welch_comparison(
        "mean", n1, n0, treatment.mean, control.mean, treatment.var / n1, control.var / n0, confidence,
        Msg("abs CI and p: Welch t (unequal variances, Welch-Satterthwaite df)"),
    )


# --------------------------------------------------------------------------- ratios


def compare_ratios(treatment: RatioStats, control: RatioStats, confidence: float = 0.95) -> Comparison:
    """Difference of ratio metrics R1 - R0, R = mean(Y)/mean(D), delta method, Welch t.

    ``var(R) = (vY - 2 R cYD + R^2 vD) / (n mean(D)^2)`` (Deng, Knoblich & Lu 2018, eq. 3);
    ``se = sqrt(var(R1) + var(R0))``; t with Welch-Satterthwaite df from var(R1), var(R0)
    (:func:`welch_comparison`; tea-tasting ``RatioOfMeans(use_t=True)``).
    """
    return welch_comparison(
        "ratio", treatment.n, control.n, treatment.ratio, control.ratio, treatment.variance_of_ratio,
        control.variance_of_ratio, confidence, Msg("abs CI and p: delta method for ratio of means (Welch t)"),
    )


def normal_comparison(
    kind: str, n1: int, n0: int, m1: float, m0: float, v1: float, v0: float, confidence: float,
    method: str, details: Mapping[str, Any] | None = None, estimate: float | None = None,
) -> Comparison:
    """Arm minus control from two means and the variances of the means (v1 = var(m1), v0 = var(m0)),
    normal quantiles: ``se = sqrt(v1 + v0)``, interval ``d +- z se``, two-sided ``p = 2 (1 - Phi(|d|/se))``,
    relative effect by :func:`relative_effect`. ``method`` says how the variances were built.
    For estimators without per-unit variances (the built-in kinds use :func:`welch_comparison`)."""
    d = m1 - m0 if estimate is None else estimate
    se = math.sqrt(max(v1 + v0, 0.0))
    z = st.norm.ppf(0.5 + confidence / 2)
    if se > 0:
        stat = d / se
        p = 2 * st.norm.sf(abs(stat))
    else:
        stat, p = (0.0, 1.0) if d == 0 else (math.copysign(math.inf, d), 0.0)
    rel, rel_ci, rel_method = relative_effect(m1, v1, m0, v0, z)
    return Comparison(
        kind=kind, n_treatment=n1, n_control=n0, mean_treatment=m1, mean_control=m0,
        estimate=d, se=se, ci=(d - z * se, d + z * se), p_value=float(p), statistic=float(stat), df=None,
        rel_effect=rel, rel_ci=rel_ci, confidence=confidence, method=Msg("{how}; {relative}", how=method, relative=rel_method),
        details=dict(details or {}),
    )


# --------------------------------------------------------------------------- CUPED / regression adjustment


def _slope(theta: str) -> Msg:
    """How theta was estimated, for a method line: "within" or "total" (as ``theta=`` of the CUPED functions)."""
    return Msg("pooled within-arm slope") if theta == "within" else Msg("pooled total-arm slope")


def compare_adjusted(
    treatment: AdjustedStats,
    control: AdjustedStats,
    confidence: float = 0.95,
    *,
    theta: str = "within",
    se: str = "robust",
    kind: str = "mean",
) -> Comparison:
    """CUPED / regression-adjusted difference of means (proportions are means of 0/1).

    ``theta`` - "within": pooled within-arm slope
    ``sum_a (n_a-1) c_XY,a / sum_a (n_a-1) v_X,a`` (the OLS slope of ``Y ~ arm + X``);
    "total": slope on the pooled sample (tea-tasting's choice).

    Estimate ``(Ybar1 - Ybar0) - theta (Xbar1 - Xbar0)``: with "within" it equals the OLS
    coefficient of the arm dummy in ``Y ~ 1 + arm + X`` exactly.

    ``se`` - "robust": ``sqrt(sum_a (vY - 2 theta cXY + theta^2 vX)_a / n_a)`` (Deng et al.
    2013), Welch t with the df of the adjusted variances (:func:`welch_comparison`); "ols": OLS's classical
    ``s^2 (1/n1 + 1/n0 + (Xbar1-Xbar0)^2 / Sxx_w)``, ``s^2 = RSS/(n - 3)``, t with n - 3 df.
    Adjusted arm means are ``Ybar_a - theta (Xbar_a - Xbar)``.
    """
    t, c = treatment, control
    n1, n0 = t.n, c.n
    if theta == "within":
        sxx = (n1 - 1) * t.var_x + (n0 - 1) * c.var_x
        sxy = (n1 - 1) * t.cov_xy + (n0 - 1) * c.cov_xy
    elif theta == "total":
        tot = t + c
        sxx, sxy = tot.var_x, tot.cov_xy
    else:
        raise ValueError("theta must be 'within' or 'total'")
    th = sxy / sxx if sxx > 0 else 0.0
    xbar = (n1 * t.mean_x + n0 * c.mean_x) / (n1 + n0)
    m1 = t.mean_y - th * (t.mean_x - xbar)
    m0 = c.mean_y - th * (c.mean_x - xbar)
    d = m1 - m0
    u1 = max(t.var_y - 2 * th * t.cov_xy + th * th * t.var_x, 0.0)
    u0 = max(c.var_y - 2 * th * c.cov_xy + th * th * c.var_x, 0.0)
    details = {"theta": th, "covariate_mean_arm": t.mean_x, "covariate_mean_control": c.mean_x,
               "variance_reduction": None}
    raw_var = t.var_y / n1 + c.var_y / n0
    if raw_var > 0:
        details["variance_reduction"] = 1 - (u1 / n1 + u0 / n0) / raw_var
    if se == "robust":
        return welch_comparison(
            kind, n1, n0, m1, m0, u1 / n1, u0 / n0, confidence,
            Msg("abs CI and p: CUPED (theta = {slope}), per-arm residual variances, "
                "Welch t (Welch-Satterthwaite df of the adjusted variances)", slope=_slope(theta)),
            details,
        )
    if se != "ols":
        raise ValueError("se must be 'robust' or 'ols'")
    syy_w = (n1 - 1) * t.var_y + (n0 - 1) * c.var_y
    sxx_w = (n1 - 1) * t.var_x + (n0 - 1) * c.var_x
    sxy_w = (n1 - 1) * t.cov_xy + (n0 - 1) * c.cov_xy
    rss = syy_w - (sxy_w * sxy_w / sxx_w if sxx_w > 0 else 0.0)
    dof = n1 + n0 - 3
    s2 = rss / dof
    dx = t.mean_x - c.mean_x
    var = s2 * (1 / n1 + 1 / n0 + (dx * dx / sxx_w if sxx_w > 0 else 0.0))
    sd = math.sqrt(max(var, 0.0))
    crit = st.t.ppf(0.5 + confidence / 2, dof)
    stat = d / sd if sd > 0 else 0.0
    p = 2 * st.t.sf(abs(stat), dof) if sd > 0 else 1.0
    zq = st.norm.ppf(0.5 + confidence / 2)
    rel, rel_ci, rel_method = relative_effect(m1, u1 / n1, m0, u0 / n0, zq)
    return Comparison(
        kind=kind, n_treatment=n1, n_control=n0, mean_treatment=m1, mean_control=m0,
        estimate=d, se=sd, ci=(d - crit * sd, d + crit * sd), p_value=float(p), statistic=float(stat),
        df=float(dof), rel_effect=rel, rel_ci=rel_ci, confidence=confidence,
        method=Msg("abs CI and p: OLS Y ~ 1 + arm + X, classical standard error (t, n-3 df); {relative}", relative=rel_method),
        details=details,
    )


def _linearised(m: Moments, y: str, d: str | None, x: str, c: str | None) -> tuple[float, float, float, float, float]:
    """Ratio R = Ybar/Dbar, covariate ratio Q = Xbar/Cbar and the per-unit (co)variances
    of the linearised values u = (Y - R D)/Dbar and w = (X - Q C)/Cbar.
    A missing denominator is the constant 1 (then u = Y - Ybar)."""

    def mu(a: str | None) -> float:
        return 1.0 if a is None else m.mean_of(a)

    def cv(a: str | None, b: str | None) -> float:
        return 0.0 if a is None or b is None else m.cov(a, b)

    md, mc = mu(d), mu(c)
    r, q = mu(y) / md, mu(x) / mc
    var_u = (cv(y, y) - 2 * r * cv(y, d) + r * r * cv(d, d)) / (md * md)
    var_w = (cv(x, x) - 2 * q * cv(x, c) + q * q * cv(c, c)) / (mc * mc)
    cov_uw = (cv(y, x) - r * cv(d, x) - q * cv(y, c) + r * q * cv(d, c)) / (md * mc)
    return r, q, var_u, var_w, cov_uw


def compare_adjusted_ratios(
    treatment: Moments,
    control: Moments,
    numerator: str,
    denominator: str | None,
    covariate: str,
    covariate_denominator: str | None = None,
    confidence: float = 0.95,
    *,
    theta: str = "within",
) -> Comparison:
    """CUPED for a ratio metric (Deng, Knoblich & Lu 2018, sec. 4; tea-tasting's RatioOfMeans).

    With R_a = Ybar/Dbar and Q_a = Xbar/Cbar (covariate ratio) per arm and the linearised
    unit values u = (Y - R D)/Dbar, w = (X - Q C)/Cbar:
    ``theta = cov(u, w) / var(w)`` pooled within arms ("within") or on the pooled sample
    ("total", tea-tasting), estimate ``(R1 - R0) - theta (Q1 - Q0)``, per-arm variance
    ``(v_u - 2 theta c_uw + theta^2 v_w) / n``, Welch t on those variances. ``denominator=None``
    reduces to :func:`compare_adjusted` with robust standard errors. ``covariate_denominator=None``
    takes the covariate's denominator as the constant 1 (the covariate enters as a plain mean,
    as tea-tasting does without ``denom_covariate``); it must never be a post-period column, or
    an offer that moves it biases the estimate.
    """
    cols = (numerator, denominator, covariate, covariate_denominator)
    r1, q1, vu1, vw1, cuw1 = _linearised(treatment, *cols)
    r0, q0, vu0, vw0, cuw0 = _linearised(control, *cols)
    n1, n0 = treatment.n, control.n
    if theta == "within":
        sww = (n1 - 1) * vw1 + (n0 - 1) * vw0
        suw = (n1 - 1) * cuw1 + (n0 - 1) * cuw0
    elif theta == "total":
        _, _, _, sww, suw = _linearised(treatment + control, *cols)
    else:
        raise ValueError("theta must be 'within' or 'total'")
    th = suw / sww if sww > 0 else 0.0
    tot = treatment + control
    qbar = (tot.mean_of(covariate) / (1.0 if covariate_denominator is None else tot.mean_of(covariate_denominator)))
    m1 = r1 - th * (q1 - qbar)
    m0 = r0 - th * (q0 - qbar)
    v1 = max(vu1 - 2 * th * cuw1 + th * th * vw1, 0.0) / n1
    v0 = max(vu0 - 2 * th * cuw0 + th * th * vw0, 0.0) / n0
    raw = vu1 / n1 + vu0 / n0
    details = {"theta": th, "variance_reduction": (1 - (v1 + v0) / raw) if raw > 0 else None}
    over = (f"{covariate}/{covariate_denominator}" if covariate_denominator
            else Msg("{column} (as a plain mean)", column=covariate))
    return welch_comparison(
        "ratio" if denominator else "mean", n1, n0, m1, m0, v1, v0, confidence,
        Msg("abs CI and p: CUPED on linearised ratio on covariate {over} (delta method; theta = {slope}), Welch t",
            over=over, slope=_slope(theta)),
        details,
    )
