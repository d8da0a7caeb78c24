"""Conversions that take time: the readout block of a proportion metric with a ``time_column``.

Per arm, the cumulative incidence of conversion by day (:mod:`uplift.survival.incidence`: 1 - Kaplan-Meier
with censoring at the follow-up, Aalen-Johansen when a competing event is named) from ONE group-by
in the backend (:func:`uplift.data.collect.incidence_table`); then the effect of each arm against
control at the horizons :data:`HORIZONS_DAYS` (those within the window) and at ``window_days``,
with intervals and p-values, and the maturity: the share of the window observed,
mean over customers of min(follow-up, window) / window.

Below full maturity the estimate at the window rests on customers observed that long: it assumes
censoring is independent of the time to conversion (customers who started later convert like those
who started earlier). :data:`ASSUMPTION` states it on the page and in results.json.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

import numpy as np
import pandas as pd

from uplift.data.collect import group_counts, incidence_table
from uplift.data.source import Source, open_source
from uplift.errors import DataError
from uplift.results import jsonable
from uplift.text import Msg
from uplift.spec.settings import MetricSpec
from uplift.survival.incidence import (
    Incidence,
    IncidenceDifference,
    cumulative_incidence,
    incidence_difference,
)

__all__ = ["ASSUMPTION", "HORIZONS_DAYS", "ConversionTiming", "conversion_timing", "default_followup", "timed_metrics"]

HORIZONS_DAYS: tuple[int, ...] = (30, 60, 90)
"""The days at which the readout shows the effect besides the window (those up to the window)."""

ASSUMPTION = Msg("Customers still under observation are censored at their follow-up: the estimate assumes "
                 "they convert like customers observed for longer (censoring independent of the time to "
                 "conversion, e.g. customers who started later are alike).")


@dataclass(frozen=True)
class ConversionTiming:
    """The time-to-conversion readout of one metric: curves per arm, effects by horizon, maturity."""

    metric: str
    column: str
    window_days: int
    control: str
    confidence: float
    curves: Mapping[str, Incidence]
    maturity: Mapping[str, float]
    horizons: tuple[int, ...]
    effects: Mapping[int, tuple[IncidenceDifference, ...]]

    @property
    def method(self) -> str:
        return next(iter(self.curves.values())).method

    @property
    def overall_maturity(self) -> float:
        """Share of the window observed over all customers (arms weighted by their customers)."""
        n = {a: c.n for a, c in self.curves.items()}
        return float(sum(self.maturity[a] * n[a] for a in n) / max(sum(n.values()), 1))

    def to_dict(self) -> dict[str, Any]:
        """The results.json block (``conversion_timing`` entry)."""
        until = max(self.horizons)

        def point(c: Incidence, day: int) -> dict[str, float]:
            f, v, lo, hi = c.at(day)
            return {"estimate": f, "se": float(np.sqrt(v)), "lower": lo, "upper": hi}

        def horizon(day: int) -> dict[str, Any]:
            return {"days": day, "incidence": {a: point(c, day) for a, c in self.curves.items()},
                    "effects": [e.to_dict() for e in self.effects[day]]}

        arms = {}
        for a, c in self.curves.items():
            keep = c.times <= until
            arms[a] = {
                "n": c.n, "conversions": int(c.events.sum()), "competing_events": int(c.competing.sum()),
                "observed_until_days": c.last_day, "maturity": self.maturity[a],
                "curve": {"days": [0.0, *c.times[keep].tolist()], "incidence": [0.0, *c.incidence[keep].tolist()],
                          "lower": [0.0, *c.lower[keep].tolist()], "upper": [0.0, *c.upper[keep].tolist()]},
            }
        return jsonable({
            "metric": self.metric, "column": self.column, "method": self.method, "window_days": self.window_days,
            "control": self.control, "confidence": self.confidence, "maturity": self.overall_maturity,
            "assumption": ASSUMPTION if self.overall_maturity < 1 else "",
            "arms": arms, "horizons": [horizon(h) for h in self.horizons], "window": horizon(self.window_days),
        })


def timed_metrics(metrics: tuple[MetricSpec, ...]) -> tuple[MetricSpec, ...]:
    """The metrics read as a time to conversion (those with a ``time_column``)."""
    return tuple(m for m in metrics if m.timed)


LEDGER_START = "assigned_at"
"""The ledger column (:mod:`uplift.experiment.ledger`) a default follow-up counts from."""
FOLLOWUP = "derived:followup_days"


def default_followup(source: Source, data_as_of: str, where: str) -> Source:
    """``source`` with a :data:`FOLLOWUP` column: the days from each customer's ``assigned_at`` (the ledger's
    date of assignment, joined beside the arm) to ``[experiment] data_as_of``. Refuses (one line) what
    cannot be counted: no ledger dates, no data_as_of, a date that is not ISO, a start after the data cut."""
    fix = "add followup_column = \"...\" to the metric (days observed per customer)"
    if LEDGER_START not in source.columns:
        raise DataError(f"{source.label}: {where} has no followup_column and no ledger dates ('{LEDGER_START}') to count "
                        f"the follow-up from; {fix}, or give --ledger")
    try:
        cut = date.fromisoformat(data_as_of[:10])
    except ValueError:
        raise DataError(f"{source.label}: {where} has no followup_column, so the follow-up counts to [experiment] "
                        f"data_as_of, which is {data_as_of!r}; set data_as_of = \"YYYY-MM-DD\" or {fix}") from None
    days: dict[Any, int] = {}
    for start in group_counts(source, LEDGER_START):
        try:
            days[start] = (cut - date.fromisoformat(str(start)[:10])).days
        except ValueError:
            raise DataError(f"{source.label}: {where} ledger column '{LEDGER_START}' holds {str(start)!r}, not a date, "
                            f"so the follow-up cannot be counted; {fix}, or assign with --assigned-at") from None
    late = sorted(str(k) for k, v in days.items() if v < 0)
    if late:
        raise DataError(f"{source.label}: {where} customers assigned on {late[0]} start after [experiment] data_as_of "
                        f"= {data_as_of}; fix data_as_of or {fix}")
    table = pd.DataFrame({LEDGER_START: list(days), FOLLOWUP: np.asarray(list(days.values()), dtype=np.int64)})
    return source.join_columns(open_source(table, beside=source, label="ledger dates"), LEDGER_START, [FOLLOWUP])


def conversion_timing(source: Source, metric: MetricSpec, arm_column: str, control: str,
                      confidence: float = 0.95, data_as_of: str = "") -> ConversionTiming:
    """The :class:`ConversionTiming` of ``metric`` (a proportion with ``time_column``, ``window_days`` and
    ``followup_column``, or without it the days from the ledger's ``assigned_at`` to ``data_as_of``:
    :func:`default_followup`) on the rows of ``source``, arms in ``arm_column``.

    Refuses (one line) a window longer than every follow-up of an arm: the incidence is not
    observed that far, so the readout cannot answer yet."""
    window = int(metric.window_days or 0)
    where = f"[metrics] {metric.name}:"
    followup = metric.followup_column
    if not followup:
        source, followup = default_followup(source, data_as_of, where), FOLLOWUP
    table, maturity = incidence_table(source, arm_column, metric.column, metric.time_column, followup,
                                      metric.competing_time_column or None, window, where=where)
    competing = bool(metric.competing_time_column)
    curves = {str(a): cumulative_incidence(part.drop(columns=arm_column), competing, confidence, label=str(a))
              for a, part in table.groupby(arm_column, observed=True, sort=True)}
    if control not in curves:
        raise DataError(f"{source.label}: {where} no customers in the control arm {control!r}; check the arm column")
    for a, c in curves.items():
        if c.last_day < window:
            raise DataError(f"{source.label}: {where} window_days = {window} is longer than anyone's follow-up in "
                            f"arm {a!r} (longest: {c.last_day:g} days); lower window_days or read out later")
    horizons = tuple(sorted({h for h in HORIZONS_DAYS if h <= window} | {window}))
    effects = {h: tuple(incidence_difference(c, curves[control], h, confidence) for a, c in curves.items() if a != control)
               for h in horizons}
    return ConversionTiming(metric=metric.name, column=metric.column, window_days=window, control=control,
                            confidence=confidence, curves=curves, maturity={str(k): v for k, v in maturity.items()},
                            horizons=horizons, effects=effects)
