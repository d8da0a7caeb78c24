"""CLV results: per arm (:class:`ArmCLV`), incremental over control (:class:`IncrementalCLV`) and
the whole analysis (:class:`CLVResult`: results.json's ``clv`` block, the text summary and the plots).

Frozen dataclasses, filled by :func:`uplift.clv.analyse.clv_from_life_table` (the estimates come from
:mod:`uplift.clv.estimator`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

import numpy as np

from uplift.results import jsonable
from uplift.survival.estimators import RMST, KaplanMeier, LogRankResult, RMSTDifference, rmst
from uplift.text import Msg, chart_label, t


__all__ = ["ArmCLV", "IncrementalCLV", "CLVResult"]


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
    cumulative_se: np.ndarray | None = None  # delta-method se of discounted_cumulative, per grid point
    gradient: np.ndarray | None = None  # d CLV / d (cell shares, margin per customer): the influence weights

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
    first_year: Mapping[str, Any] | None = None  # incremental value in the first year (uplift.clv.finance)
    lifetime_roi: Mapping[str, Any] | None = None  # (incremental CLV - cost) / cost with its interval

    @property
    def share_observed(self) -> float | None:
        """Share of the incremental CLV from the observed periods (None when it is 0); with the
        extrapolated share it adds up to 1 (either may lie outside [0, 1] when the parts differ in sign)."""
        return self.observed_part / self.estimate if self.estimate else None

    @property
    def share_extrapolated(self) -> float | None:
        """Share of the incremental CLV from the extrapolated periods."""
        return self.tail_part / self.estimate if self.estimate else None

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
                "share_observed": self.share_observed,
                "share_extrapolated": self.share_extrapolated,
                "first_year": self.first_year,
                "lifetime_roi": self.lifetime_roi,
                "population": self.population_estimate,
                "population_ci": list(self.population_ci),
                "eligible_population": self.eligible_population,
                "eligible_population_source": self.population_source,
                "confidence": self.confidence,
                "bootstrap_se": self.bootstrap_se,
            }
        )


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
    influence: Mapping[str, Any] | None = None  # leave-one-out check (uplift.clv.finance.influence_check)
    margin_definition: str = ""

    @property
    def method(self) -> Msg:
        """How the numbers were computed, in one paragraph."""
        fam = {"sbg": Msg("shifted-beta-geometric (Fader & Hardie 2007)"), "weibull": Msg("discrete Weibull"),
               None: Msg("none")}[self.family]
        timing = (Msg("at the end of each period (t = 1..H)") if self.margin_timing == "end"
                  else Msg("at the start of each period (t = 0..H-1)"))
        margin = (f"'{self.margin_column}'" if self.margin_column
                  else Msg("1 per period (no margin column: CLV in discounted periods)"))
        return Msg(
            "CLV = sum_t V(t)/(1+d)^t over a {horizon}-period horizon, margin received {timing}, "
            "d = (1+{rate:g})^(1/{per_year}) - 1 = {period_rate:.6f} per period. "
            "V(t) = E[margin x 1{{{alive}}}] with margin {margin}: in the observed periods the "
            "margin-weighted Kaplan-Meier (product-limit) estimate; beyond them V(t) = V(tau) G(t)/G(tau) with G a "
            "{family} retention curve fitted by maximum likelihood to the margin-weighted life table (assumption: the "
            "value retention seen so far continues). "
            "Intervals: delta method on the life-table cells (generalised Greenwood, through the fitted tail by the "
            "implicit function theorem); arms independent; population figures scale the per-customer ones by the "
            "eligible population. Log-rank test and RMST (Klein & Moeschberger variance) to the last observed period.",
            horizon=self.horizon_periods, timing=timing, rate=self.annual_discount_rate, per_year=self.periods_per_year,
            period_rate=self.period_discount_rate, alive=Msg("still a customer after t"), margin=margin, family=fam,
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
            "margin_definition": self.margin_definition,
            "influence": self.influence,
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
                ax.plot(tt, r.survival_curve[r.tau:], ls="--", color=color, label=chart_label(t("{arm} (extrapolated)", arm=a)))
        ax.axvline(self._tau, color="grey", lw=0.8, ls=":")
        ax.set_xlabel(t("periods since the campaign"))
        ax.set_ylabel(t("share of customers still active"))
        ax.set_ylim(0, 1.02)
        ax.set_title(t("Survival by arm (bands: pointwise log-log interval)"))
        ax.legend(frameon=False, fontsize="small")
        return ax

    def plot_cumulative_value(self, ax: Any, currency: str = "") -> Any:
        """Cumulative discounted value per customer over the horizon, per arm, with its pointwise delta-method
        band (estimate +- z se at each period) and a vertical line where extrapolation starts."""
        from scipy import stats

        z = stats.norm.ppf(0.5 + self.confidence / 2)
        for a, r in self.arms.items():
            line, = ax.plot(r.grid, r.discounted_cumulative, label=chart_label(a))
            if r.cumulative_se is not None:
                ax.fill_between(r.grid, r.discounted_cumulative - z * r.cumulative_se,
                                r.discounted_cumulative + z * r.cumulative_se, color=line.get_color(), alpha=0.18, lw=0)
        if self.family is not None and self.horizon_periods > self._tau:
            ax.axvline(self._tau, color="black", lw=1.0, ls="--",
                       label=t("extrapolation starts (after period {period})", period=self._tau))
        else:
            ax.axvline(self._tau, color="grey", lw=0.8, ls=":", label=t("last observed period"))
        ax.set_xlabel(t("period"))
        ax.set_ylabel(chart_label(t("discounted value per customer ({currency})", currency=t(currency)) if currency
                                  else t("discounted value per customer")))
        ax.set_title(t("Cumulative value by arm ({level} bands)", level=f"{self.confidence:.0%}"))
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
        ax.set_xlabel(t("periods since the campaign"))
        ax.set_ylabel(t("share of customers still active"))
        ax.set_title(t("Retention by products held"))
        ax.legend(frameon=False, fontsize="small", title=t("products"))
        return ax


def _fmt(v: Any) -> str:
    return "-" if v is None else f"{v:.4g}"
