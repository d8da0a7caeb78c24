"""What :func:`uplift.experiment.design.design_experiment` returns: the design per metric and for the test.

:class:`DesignResult` holds the sizes per arm, MDE, power and duration for each metric
(:class:`MetricDesign`), with ``to_dict()`` (what ``uplift design --json`` prints) and a
plain-text ``summary()``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from uplift.experiment.censoring import censoring_text
from uplift.experiment.exclusions import waterfall_text
from uplift.results import jsonable
from uplift.text import text_table

__all__ = ["DesignResult", "MetricDesign", "judge_feasibility"]


@dataclass(frozen=True)
class MetricDesign:
    """The design numbers of one metric. Effects are absolute unless named ``*_relative``."""

    name: str
    kind: str
    primary: bool
    baseline: float | None
    sd: float | None
    source: str
    effect: float | None = None
    effect_relative: float | None = None
    n_total: int | None = None
    n_per_arm: Mapping[str, int] = field(default_factory=dict)
    mde: float | None = None
    mde_relative: float | None = None
    power: float | None = None
    rho: float | None = None
    rho_source: str = ""
    cuped_n_total: int | None = None
    cuped_n_per_arm: Mapping[str, int] = field(default_factory=dict)
    cuped_mde: float | None = None
    note: str = ""

    def to_dict(self) -> dict[str, Any]:
        return jsonable(self.__dict__)


@dataclass(frozen=True)
class DesignResult:
    """Sample size, MDE, power and duration of the test described by a spec.

    ``n_per_arm``/``n_total`` are for the primary metric; ``mde``/``power`` are at that n
    (rounded up per arm); ``metrics`` has the same numbers per metric at the primary's n.
    """

    experiment: str
    primary: str
    weights: Mapping[str, float]
    control: str
    alpha: float
    alpha_per_comparison: float
    power_target: float
    alternative: str
    multiple_arms: str
    n_comparisons: int
    n_per_arm: Mapping[str, int]
    n_total: int
    n_total_exact: float
    mde: float | None
    mde_relative: float | None
    power: float | None
    weekly_inflow: int | None
    duration_weeks: float | None
    cuped: Mapping[str, Any] | None
    eligible: int | None
    metrics: tuple[MetricDesign, ...]
    notes: tuple[str, ...] = ()
    method: str = ""
    enrolment: str = "fixed pool"
    feasibility: Mapping[str, Any] = field(default_factory=dict)
    waterfall: tuple[Mapping[str, Any], ...] = ()
    data_as_of: str = ""
    start_date: str = ""
    curves: tuple[Mapping[str, Any], ...] = ()
    guardrails: tuple[Mapping[str, Any], ...] = ()
    window_days: int | None = None
    looks: Mapping[str, Any] | None = None
    """With [design] looks > 1: the price of the planned looks per spending family and of continuous
    monitoring (:func:`uplift.experiment.looks.price_looks`)."""
    forecast: Mapping[str, Any] | None = None
    """Profit and ROI at the MDE and at the prior effect (:func:`uplift.experiment.forecast.profit_forecast`)."""
    censoring: Mapping[str, Any] | None = None
    """A primary proportion with window_days: the power at the planned readout when customers are censored
    before the end of the window (:func:`uplift.experiment.censoring.censoring_block`)."""

    @property
    def duration_weeks_whole(self) -> int | None:
        return None if self.duration_weeks is None else int(math.ceil(self.duration_weeks - 1e-9))

    @property
    def readout_weeks(self) -> float | None:
        """Weeks from the start until the readout can first answer the question: recruitment
        (``duration_weeks``) + the primary metric's outcome window (``window_days`` / 7), when the
        primary is a time to conversion; else the recruitment alone. A fixed pool is assigned at once:
        the window alone (None without one)."""
        if self.duration_weeks is None:  # a fixed pool, assigned at once: the window alone
            return self.window_days / 7.0 if self.window_days else None
        return self.duration_weeks + (self.window_days or 0) / 7.0

    @property
    def calendar_weeks(self) -> float | None:
        """Weeks from ``[experiment] start_date`` to ``data_as_of`` (the outcome cut), when both are given."""
        import datetime as dt

        try:
            days = (dt.date.fromisoformat(self.data_as_of) - dt.date.fromisoformat(self.start_date)).days
        except ValueError:
            return None
        return days / 7.0

    def to_dict(self) -> dict[str, Any]:
        return jsonable({
            "experiment": self.experiment,
            "primary": self.primary,
            "weights": dict(self.weights),
            "control": self.control,
            "alpha": self.alpha,
            "alpha_per_comparison": self.alpha_per_comparison,
            "power_target": self.power_target,
            "alternative": self.alternative,
            "multiple_arms": self.multiple_arms,
            "n_comparisons": self.n_comparisons,
            "n_per_arm": dict(self.n_per_arm),
            "n_total": self.n_total,
            "n_total_exact": self.n_total_exact,
            "mde": self.mde,
            "mde_relative": self.mde_relative,
            "power": self.power,
            "weekly_inflow": self.weekly_inflow,
            "duration_weeks": self.duration_weeks,
            "duration_weeks_whole": self.duration_weeks_whole,
            "window_days": self.window_days,
            "readout_weeks": self.readout_weeks,
            "cuped": dict(self.cuped) if self.cuped else None,
            "eligible": self.eligible,
            "metrics": [m.to_dict() for m in self.metrics],
            "notes": list(self.notes),
            "method": self.method,
            "enrolment": self.enrolment,
            "data_as_of": self.data_as_of,
            "start_date": self.start_date,
            "calendar_weeks": self.calendar_weeks,
            "feasibility": dict(self.feasibility),
            "exclusions": {"waterfall": [dict(r) for r in self.waterfall]} if self.waterfall else None,
            "guardrails": [dict(g) for g in self.guardrails],
            "curves": [dict(c) for c in self.curves],
            "looks": dict(self.looks) if self.looks else None,
            "forecast": dict(self.forecast) if self.forecast else None,
            "censoring": dict(self.censoring) if self.censoring else None,
        })

    def summary(self) -> str:

        lines = [
            self.feasibility.get("text", ""),
            f"Design of experiment '{self.experiment}' (primary metric: {self.primary})",
            (f"alpha {self.alpha:g} ({self.alternative}); {self.n_comparisons} offer arm(s) vs {self.control}: "
            f"{self.multiple_arms} -> alpha per comparison {self.alpha_per_comparison:.4g}; target power {self.power_target:g}"),
        ]
        rows = [("arm", "weight", "n")]
        for a, w in self.weights.items():
            rows.append((a, f"{w:g}", f"{self.n_per_arm[a]:,}"))
        rows.append(("total", "", f"{self.n_total:,}"))
        lines.append(text_table(rows))
        p = self.metrics[0]
        lines.append(
            f"MDE at this n: {_fmt(self.mde)} absolute ({_pct(self.mde_relative)} relative); "
            f"power at the target effect: {_pct(self.power)}"
        )
        if self.duration_weeks is not None:
            lines.append(
                f"duration: an inflow of {self.weekly_inflow:,} eligible per week enrols the {self.n_total:,} units in "
                f"{self.duration_weeks:.2f} weeks (plan {self.duration_weeks_whole} week(s)), then the outcome window"
            )
        else:
            lines.append(
                "duration: a fixed pool (no [design] weekly_inflow): every eligible unit is assigned at once, so the "
                "test lasts its outcome window"
                + (f"; outcomes are read at [experiment] data_as_of {self.data_as_of}" if self.data_as_of else "")
                + (f", {self.calendar_weeks:.1f} weeks after the start {self.start_date}"
                   if self.calendar_weeks is not None else "")
            )
        if self.window_days and self.readout_weeks is not None:
            lines.append(
                f"outcome window: {self.window_days} days -> the readout can first answer the question "
                f"{self.readout_weeks:.2f} weeks after the start "
                + ("(recruitment + window)" if self.duration_weeks is not None else "(a fixed pool, assigned at once: the window)")
            )
        if self.censoring:
            lines.append(censoring_text(self.censoring, self.power))
        if self.cuped:
            c = self.cuped
            lines.append(
                f"with CUPED on {c['covariate']} (rho {c['rho']:.3f}, {c['rho_source']}): variance x {c['factor']:.3f} -> "
                f"n total {c['n_total']:,}"
                + (f", {c['duration_weeks']:.2f} weeks" if c.get("duration_weeks") is not None else "")
            )
        if self.waterfall:
            lines.append(waterfall_text(list(self.waterfall)))
        head = ("metric", "kind", "baseline", "sd", "effect", "n total", "MDE at n", "MDE rel", "power", "CUPED n")
        body = []
        for m in self.metrics:
            body.append(
                (
                    m.name + (" *" if m.primary else ""), m.kind, _fmt(m.baseline), _fmt(m.sd),
                    _fmt(m.effect), _int(m.n_total), _fmt(m.mde), _pct(m.mde_relative), _pct(m.power),
                    _int(m.cuped_n_total),
                )
            )
        lines.append("Per metric (* primary; MDE and power at the primary metric's n):")
        lines.append(text_table([head] + body))
        for m in self.metrics:
            if m.note:
                lines.append(f"  {m.name}: {m.note}")
        if self.guardrails:
            lines.append(f"Guardrails (one-sided non-inferiority at alpha/2 = {self.alpha / 2:g}, true harm 0, "
                         "at the design's n):")
            rows_g = [("guardrail", "kind", "baseline", "margin", "power", "margin at target power")]
            for g in self.guardrails:
                rows_g.append((g["guardrail"], g["kind"], _fmt(g.get("baseline")), _fmt(g.get("margin")),
                               _pct(g.get("power")), _fmt(g.get("margin_at_power"))))
            lines.append(text_table(rows_g))
            lines += [f"  {g['guardrail']}: {g['note']}" for g in self.guardrails if g.get("note")]
        if self.looks:
            lk = self.looks
            head = ("looks", "spending", "x fixed n", "max n total", "weeks")
            body = [(str(lk["looks"]), f["method"].replace("Lan-DeMets alpha spending, ", "") + (" *" if f["chosen"] else ""),
                     f"{f['inflation_factor']:.3f}", f"{f['n_total']:,}", _fmt(f["duration_weeks"])) for f in lk["families"]]
            c = lk["continuous"]
            body.append(("any", f"always-valid, continuous (tuned to {c['tuning_n']:,}; at most)", f"{c['inflation_factor']:.3f}",
                         f"{c['n_total']:,}", _fmt(c["duration_weeks"])))
            lines.append("The price of looking (* the spec's [design] spending):")
            lines.append(text_table([head] + body))
        if self.forecast:
            from uplift.experiment.forecast import forecast_lines

            lines += forecast_lines(self.forecast)
        lines += [f"note: {n}" for n in self.notes]
        lines.append(f"method: {self.method}")
        del p
        return "\n".join(lines)


def _fmt(x) -> str:
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return "-"
    if abs(x) >= 1000:
        return f"{x:,.0f}"
    return f"{x:.4g}"


def _pct(x) -> str:
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return "-"
    return f"{100 * x:.2f}%"


def _int(x) -> str:
    return "-" if x is None else f"{x:,}"


def judge_feasibility(n_total: int, eligible: int | None, inflow: int | None,
                      at_eligible: tuple[float, float | None] | None, baseline: float | None,
                      target_power: float, uneven: bool = False) -> dict[str, Any]:
    """Whether the test can reach its power with the units it can get, in one line first.

    A fixed pool (no ``[design] weekly_inflow``): ``uplift assign`` puts every eligible unit in the
    test, so the test is feasible when the eligible count E is at least the N the design needs;
    ``at_eligible`` = (MDE, power at the target effect) of the primary metric with all E units
    (split by the arm weights), which is what the test will reach. An inflow: the N units enrol
    over N / inflow weeks, so the pool is not a bound. Without a population the pool is unknown.
    """
    mde_e, power_e = at_eligible if at_eligible is not None else (None, None)
    rel_e = mde_e / abs(baseline) if (mde_e is not None and baseline) else None
    out: dict[str, Any] = {"enrolment": "inflow" if inflow else "fixed pool", "needed": n_total, "eligible": eligible,
                           "mde_at_eligible": mde_e, "mde_relative_at_eligible": rel_e,
                           "power_at_eligible": power_e}
    reach = (f"with all {eligible:,} the MDE is {_fmt(mde_e)} ({_pct(rel_e)} of the baseline)"
             + (f" and the power at the target effect {_pct(power_e)}" if power_e is not None else "")) \
        if eligible is not None else ""
    if inflow:
        out["verdict"] = "feasible"
        out["text"] = (f"Feasible as an inflow: the {n_total:,} units enrol in {n_total / inflow:.2f} weeks at "
                       f"{inflow:,} eligible per week"
                       + (f" (the population holds {eligible:,} eligible today)" if eligible is not None else ""))
    elif eligible is None:
        out["verdict"] = "unknown"
        out["text"] = (f"Feasibility unknown: the test needs {n_total:,} units from a fixed pool; give the population "
                       "(--population FILE or [population] source) to count the eligible units")
    elif n_total <= eligible:
        out["verdict"] = "feasible"
        out["text"] = (f"Feasible: the test needs {n_total:,} units and {eligible:,} are eligible "
                       f"({n_total / eligible:.0%}); `uplift assign` puts all of them in the test: {reach}")
    else:
        out["verdict"] = "not feasible"
        out["text"] = (f"NOT FEASIBLE: the test needs {n_total:,} units for {_pct(target_power)} power but only "
                       f"{eligible:,} are eligible (a fixed pool, no [design] weekly_inflow); {reach}; accept that MDE, "
                       "relax an exclusion rule" + (", use a more even split" if uneven else "")
                       + " or set weekly_inflow if units keep arriving")
    return out
