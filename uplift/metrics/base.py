"""What a metric kind is: the :class:`Metric` base class and the needs (:class:`uplift.data.needs.Needs`) it declares.

A metric kind (proportion, mean, ratio, and those that come later) is one class. It

* declares the sufficient statistics it needs (:meth:`Metric.needs`: columns, co-moment
  pairs, 0/1 columns), which the data seam merges over all metrics into one aggregation;
* compares two arms from their :class:`~uplift.data.moments.Moments` (:meth:`Metric.compare`,
  CUPED when the metric has a covariate; :meth:`Metric.compare_unadjusted`);
* gives its per-unit variance for the design (:meth:`Metric.unit_variance` at a baseline or
  standard deviation; :meth:`Metric.design_inputs` reads them from a population);
* says how its numbers are shown (:attr:`Metric.display`: a rate in percentage points, a
  currency amount, a count or a plain number).

Design, precision, the readout and the report ask these objects instead of branching on the
kind's name. The built-in kinds and the registry are in :mod:`uplift.metrics.kinds`.

This follows tea-tasting (``metrics/base.py``, ``metrics/mean.py``): a metric declares the
aggregates it needs (``aggr_cols``) and analyses them (``analyze_aggregates``).
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any, ClassVar, Iterable, Protocol

from uplift.data.moments import Moments
from uplift.data.needs import Needs
from uplift.stats import compare as stats

__all__ = ["DISPLAYS", "DesignInputs", "Metric", "MetricSettings", "needs_of", "unadjusted_block",
           "format_effect_text"]

DISPLAYS = ("rate", "currency", "count", "number")
"""How a metric's values are shown: a rate (a share; differences in percentage points), a
currency amount, a count, or a plain number."""


class MetricSettings(Protocol):
    """The fields of a metric in the spec (:class:`uplift.spec.MetricSpec` has them all)."""

    name: str
    kind: str
    column: str
    denominator: str
    covariate: str
    denominator_covariate: str
    unit: str


def needs_of(metrics: Iterable["Metric"]) -> Needs:
    """The union of the needs of ``metrics`` (one aggregation pass serves them all)."""
    out = Needs()
    for m in metrics:
        out = out | m.needs()
    return out


@dataclass(frozen=True)
class DesignInputs:
    """What the design of one metric starts from: the control ``baseline`` (rate or mean), the
    per-unit standard deviation ``sd`` (None where the kind's variance follows from the
    baseline), where they came from (``source``), or why they are unknown (``missing``)."""

    baseline: float | None = None
    sd: float | None = None
    source: str = ""
    missing: str = ""


def unadjusted_block(raw: stats.Comparison) -> dict[str, Any]:
    """The unadjusted comparison reported beside a CUPED-adjusted one (results.json ``unadjusted``)."""
    d = raw.to_dict()
    return {k: d[k] for k in ("mean_arm", "mean_control", "abs_effect", "abs_ci", "rel_effect", "rel_ci",
                              "p_value", "method")}


def format_effect_text(x: float, display: str = "number") -> str:
    """An absolute effect as plain text: a rate in percentage points ("0.31 pp"), anything else
    with three significant digits and thousands separators."""
    return f"{100 * x:.2f} pp" if display == "rate" else f"{x:,.3g}"


@dataclass(frozen=True, kw_only=True)
class Metric(ABC):
    """One metric of a given kind: its name, its columns and how it is analysed.

    Subclasses set ``kind`` (the spec's ``kind = "..."``) and implement
    :meth:`compare_unadjusted`, :meth:`unit_variance` and :meth:`design_inputs`; register them
    with :func:`uplift.metrics.kinds.register_kind`. ``covariate`` (a pre-period column) makes
    :meth:`compare` CUPED-adjusted (Deng, Xu, Kohavi & Walker 2013).
    """

    name: str
    column: str
    covariate: str = ""
    unit: str = ""  # the spec's unit: "", "currency" or "count" (how a mean is shown)

    kind: ClassVar[str] = ""
    binary: ClassVar[bool] = False
    """True when the metric's column holds 0/1 values (a rate; checked on the data)."""
    takes_denominator: ClassVar[bool] = False
    """True when the spec must give a ``denominator`` for this kind (and may not otherwise)."""
    design_basis: ClassVar[str] = "variance"
    """What the design reads from the population: "variance" (a mean's sd) or "baseline" (a rate)."""

    @classmethod
    def from_spec(cls, spec: MetricSettings) -> "Metric":
        """The metric described by one ``[[metrics]]``/``[[guardrails]]`` entry of the spec."""
        return cls(name=spec.name, column=spec.column, covariate=spec.covariate or "", unit=spec.unit or "")

    # ----------------------------------------------------------------- what the data seam computes
    def roles(self) -> dict[str, str]:
        """Column -> role for the columns this metric reads (roles name them in error messages)."""
        out = {self.column: f"metric '{self.name}'"}
        if self.covariate:
            out[self.covariate] = f"covariate of '{self.name}'"
        return out

    def needs(self) -> Needs:
        """Columns (n, mean, variance of each), the covariances of every pair of them, and the 0/1 columns."""
        roles = {c: r for c, r in self.roles().items() if c}
        cols = list(roles)
        return Needs.of(roles, pairs=[(a, b) for i, a in enumerate(cols) for b in cols[i + 1:]],
                        binary=[self.column] if self.binary else [])

    # ----------------------------------------------------------------- analysis
    @property
    def cuped(self) -> bool:
        """True when :meth:`compare` adjusts for a pre-period covariate."""
        return bool(self.covariate)

    @abstractmethod
    def compare_unadjusted(self, treatment: Moments, control: Moments, confidence: float = 0.95) -> stats.Comparison:
        """Treatment arm against control without covariate adjustment."""

    def compare(self, treatment: Moments, control: Moments, confidence: float = 0.95) -> stats.Comparison:
        """Treatment arm against control: CUPED when there is a covariate, else :meth:`compare_unadjusted`.

        CUPED on the unit values ``Y - theta (X - mean X)``, theta the pooled within-arm slope
        (:func:`uplift.stats.compare.compare_adjusted`; the estimate equals OLS's of ``Y ~ arm + X``).
        """
        if not self.covariate:
            return self.compare_unadjusted(treatment, control, confidence)
        return stats.compare_adjusted(treatment.adjusted(self.column, self.covariate),
                                      control.adjusted(self.column, self.covariate), confidence, kind=self.kind)

    # ----------------------------------------------------------------- design
    @classmethod
    @abstractmethod
    def unit_variance(cls, baseline: float, delta: float = 0.0, sd: float | None = None) -> tuple[float, float]:
        """Per-unit variances (v_0, v_1) of control and the offer arm when control sits at
        ``baseline`` and the arm at ``baseline + delta`` (``sd``: per-unit standard deviation)."""

    @classmethod
    def max_effect(cls, baseline: float | None, alternative: str = "two-sided") -> float:
        """The largest absolute effect the metric can show (inf: unbounded). A rate, for
        instance, must stay inside (0, 1). Bounds the search for a minimum detectable effect."""
        return math.inf

    @abstractmethod
    def design_inputs(self, population: Any | None, baseline_rate: float | None = None) -> DesignInputs:
        """Baseline and standard deviation for the design, from ``population`` (a DataFrame,
        or None) or from ``baseline_rate`` ([design] baseline_rate, for the primary metric)."""

    def cuped_columns(self) -> tuple[str, str] | None:
        """(metric column, covariate) whose correlation rho prices CUPED in the design
        (variance x (1 - rho^2)); None when the design does not price CUPED for this kind."""
        return None

    def expected_events(self, baseline: float | None, n: float) -> float | None:
        """Expected number of the rarer outcome among ``n`` units (None: not a count of events).
        The design warns when it is small (the normal approximation is then rough)."""
        return None

    # ----------------------------------------------------------------- display
    @property
    def display(self) -> str:
        """How values are shown (one of :data:`DISPLAYS`): the spec's unit, else a plain number."""
        return self.unit or "number"

    def format_effect(self, x: float) -> str:
        """An absolute effect as plain text (:func:`format_effect_text`)."""
        return format_effect_text(x, self.display)
