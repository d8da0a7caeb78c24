"""Median days to each funnel stage per arm, with censoring at each customer's follow-up.

With ``[funnel] days_columns`` (days from the customer's start to each stage, empty where not reached)
and ``followup_column`` (days observed), each stage k is a time to event among the customers who
reached the stage before it (everyone for the first stage): reached at ``days_k`` (the stage's 0/1
column is 1), else censored at the follow-up. Per arm the Kaplan-Meier curve S(t) comes from the
same life table the conversion readout uses (:func:`uplift.data.collect.incidence_table`: one
group-by in the backend, the same checks of the rows) and :func:`uplift.survival.incidence.cumulative_incidence`.

The median is the smallest day t with S(t) <= 1/2, its interval the same read off the pointwise
log-log band of S (Brookmeyer & Crowley 1982, "A confidence interval for the median survival time",
Biometrics 38:29-41, in the band-inversion form lifelines' ``median_survival_times`` uses);
"not reached" (null) when fewer than half reach the stage within the follow-up. lifelines'
``KaplanMeierFitter.median_survival_time_`` is the reference in tests/test_stage_days.py.

Days are counted from the customer's start, so stage k's median among those who reached stage k-1
is the typical day the stage is reached. Taking the customers who reached the stage before by the
data cut conditions on that stage having happened in the follow-up; with follow-ups much longer
than the funnel (the demo: 390-720 days) this is negligible.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from uplift.data.collect import incidence_table
from uplift.data.source import Source
from uplift.results import jsonable
from uplift.survival.incidence import Incidence, cumulative_incidence
from uplift.text import Msg

__all__ = ["StageDays", "median_day", "stage_days"]

METHOD = Msg("Kaplan-Meier per arm of the days from the customer's start to the stage, among the customers who "
             "reached the stage before, censored at the follow-up; median = first day with S(t) <= 1/2, interval "
             "from the pointwise log-log band (Brookmeyer & Crowley 1982)")


def median_day(curve: Incidence) -> tuple[float, float, float]:
    """(median, lower, upper): the first day with S = 1 - F <= 1/2, and the same for the band's edges
    (lower from the upper band of F, upper from its lower band); inf where never reached."""
    def first(f: np.ndarray) -> float:
        hit = np.nonzero(f >= 0.5 - 1e-12)[0]
        return float(curve.times[hit[0]]) if len(hit) else float("inf")

    return first(curve.incidence), first(curve.upper), first(curve.lower)


@dataclass(frozen=True)
class StageDays:
    """Per stage with a days column: the customers at risk and reaching it, and the median day, per arm."""

    followup_column: str
    confidence: float
    stages: tuple[dict[str, Any], ...]

    def to_dict(self) -> dict[str, Any]:
        return jsonable({"followup_column": self.followup_column, "confidence": self.confidence,
                         "method": METHOD, "stages": list(self.stages)})


def stage_days(source: Source, arm_column: str, stages: tuple[str, ...], days_columns: tuple[str, ...],
               followup: str, confidence: float = 0.95) -> StageDays:
    """The :class:`StageDays` of the funnel (module docstring); a stage whose days column is "" is left out
    (the spec names one per stage; the Python API may skip some)."""
    out = []
    prev_days, prev_stage = "", None
    for stage, days in zip(stages, days_columns):
        if days:
            rows = source.where_present(prev_days) if prev_days else source
            table, _ = incidence_table(rows, arm_column, stage, days, followup, None, 1.0,
                                       where=f"[funnel] stage {stage!r}:")
            arms = {}
            for a, part in table.groupby(arm_column, observed=True, sort=True):
                curve = cumulative_incidence(part.drop(columns=arm_column), False, confidence, label=str(a))
                med, lo, hi = median_day(curve)
                arms[str(a)] = {"customers": curve.n, "reached": int(curve.events.sum()), "median_days": med,
                                "lower": lo, "upper": hi}
            out.append({"stage": stage, "column": days, "among": prev_stage, "arms": arms})
            prev_days, prev_stage = days, stage
    return StageDays(followup_column=followup, confidence=confidence, stages=tuple(out))
