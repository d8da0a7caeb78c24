"""The built-in metric kinds (proportion, mean, ratio) and the registry that maps a spec's
``kind = "..."`` to its class.

=============  ===========================================  ==============================  =====================
kind           compared by (:mod:`uplift.stats.compare`)    per-unit variance for design    shown as
=============  ===========================================  ==============================  =====================
proportion     difference of rates: Wald / Newcombe CI,     p (1 - p)                       rate (pp)
               pooled z-test p-value
mean           Welch's t                                    sd^2                            the spec's unit
ratio          delta method on mean(Y) / mean(D)            delta-method unit variance      the spec's unit
               (Deng, Knoblich & Lu 2018), Welch's t
=============  ===========================================  ==============================  =====================

Each takes an optional ``covariate`` (CUPED, Welch's t on the adjusted variances; a ratio also
``denominator_covariate``, the pre-period denominator: without it the covariate enters as a plain
mean, never over the post-period denominator, which the offer may move). A new kind
is one :class:`~uplift.metrics.base.Metric` subclass registered with :func:`register_kind`;
the spec loader, design, precision, the readout and the report then accept it unchanged
(the README's contributor notes show one).
"""

from __future__ import annotations

import difflib
import math
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Mapping, TypeVar

import numpy as np
import pandas as pd

from uplift.data.facts import Facts, ValueFact, validate
from uplift.data.moments import Moments
from uplift.errors import DataError, UserError
from uplift.spec.schema import METRIC_KINDS
from uplift.metrics.base import DesignInputs, Metric, MetricSettings
from uplift.stats import compare as stats
from uplift.text import Msg

__all__ = [
    "Proportion", "Mean", "Ratio", "register_kind", "unregister_kind", "registered_kinds", "kind_names",
    "metric_class", "metric_for", "column_mean_sd", "correlation", "ratio_unit_variance",
]

_NO_POPULATION = Msg("no variance: give --population with the metric's column or its pre-period covariate")


# --------------------------------------------------------------------------- population summaries for design


def design_values(population: pd.DataFrame, column: str) -> np.ndarray:
    """The numeric values of a population column the design reads, as floats (missing as NaN).

    An infinite value is refused (one line naming the column, :func:`uplift.data.facts.validate`):
    dropped, it would silently shrink a standard deviation; kept, it would make it infinite."""
    x = pd.to_numeric(population[column], errors="coerce").to_numpy(dtype=float)
    validate(Facts("population", values=(ValueFact(column, "design input", len(x), 0, int(np.isinf(x).sum())),)))
    return x


def column_mean_sd(population: pd.DataFrame, column: str) -> tuple[float, float, int]:
    """(mean, sample standard deviation (n - 1), n) of the numeric values of one population column,
    from centred values; missing values left out, infinite ones refused (:func:`design_values`)."""
    x = design_values(population, column)
    x = x[np.isfinite(x)]
    if len(x) < 2:
        raise DataError(f"population: column '{column}' has fewer than two numeric values; check the column")
    m = float(x.mean())
    return m, float(np.sqrt(np.sum((x - m) ** 2) / (len(x) - 1))), len(x)


def correlation(population: pd.DataFrame, a: str, b: str) -> float:
    """Pearson correlation of two population columns over the rows where both are present
    (infinite values refused, :func:`design_values`)."""
    x, y = design_values(population, a), design_values(population, b)
    ok = np.isfinite(x) & np.isfinite(y)
    x, y = x[ok] - x[ok].mean(), y[ok] - y[ok].mean()
    return float((x @ y) / math.sqrt((x @ x) * (y @ y)))


def ratio_unit_variance(y: np.ndarray, x: np.ndarray) -> tuple[float, float]:
    """(R, per-unit delta-method variance) of the ratio sum(y)/sum(x) (Deng et al. 2018).

    v = (s_yy - 2 R s_xy + R^2 s_xx) / mean(x)^2, sample (co)variances from centred values,
    so Var(R_hat) ~= v / n.
    """
    y = np.asarray(y, dtype=float)
    x = np.asarray(x, dtype=float)
    ok = np.isfinite(y) & np.isfinite(x)
    y, x = y[ok], x[ok]
    n = len(y)
    if n < 2:
        raise DataError("a ratio metric needs at least two units with both columns present")
    my, mx = y.mean(), x.mean()
    if mx == 0:
        raise DataError("the ratio's denominator has mean 0; check the denominator column")
    dy, dx = y - my, x - mx
    syy = float(dy @ dy) / (n - 1)
    sxx = float(dx @ dx) / (n - 1)
    sxy = float(dy @ dx) / (n - 1)
    r = my / mx
    return float(r), float((syy - 2 * r * sxy + r * r * sxx) / (mx * mx))


def _sd_variances(kind: str, sd: float | None) -> tuple[float, float]:
    """v_0 = v_1 = sd^2, refusing a missing or non-positive sd (one line)."""
    if sd is None or not sd > 0 or not math.isfinite(sd):
        raise UserError(f"a {kind} metric needs a standard deviation above 0 (sd = {sd}); give a population or sd")
    return sd * sd, sd * sd


# --------------------------------------------------------------------------- the registry

_KINDS: dict[str, type[Metric]] = {}
_M = TypeVar("_M", bound=type)


def register_kind(cls: _M) -> _M:
    """Make ``cls`` the class of metrics with ``kind = cls.kind`` (usable as a class decorator).

    From then on the spec loader accepts the kind, and design, precision, the readout and the
    report use the class. Registering a name twice replaces the earlier class.
    """
    if not (isinstance(cls, type) and issubclass(cls, Metric)) or not cls.kind:
        raise TypeError("register_kind takes a Metric subclass with a non-empty 'kind'")
    _KINDS[cls.kind] = cls
    METRIC_KINDS[cls.kind] = bool(cls.takes_denominator)
    return cls


def unregister_kind(kind: str) -> None:
    """Remove a registered kind (the built-ins can be removed too; mainly for tests)."""
    _KINDS.pop(kind, None)
    METRIC_KINDS.pop(kind, None)


def registered_kinds() -> Mapping[str, type[Metric]]:
    """A read-only view of kind name -> class, in registration order."""
    return MappingProxyType(_KINDS)


def kind_names() -> tuple[str, ...]:
    """The kinds a spec may name, in registration order ("proportion", "mean", "ratio", ...)."""
    return tuple(_KINDS)


def metric_class(kind: str) -> type[Metric]:
    """The class registered for ``kind``; a one-line :class:`~uplift.errors.UserError` otherwise."""
    try:
        return _KINDS[kind]
    except (KeyError, TypeError):
        close = difflib.get_close_matches(str(kind), list(_KINDS), n=1)
        hint = f"; did you mean '{close[0]}'?" if close else ""
        raise UserError(f"kind {kind!r} is not one of {', '.join(_KINDS)}{hint}") from None


def metric_for(spec: MetricSettings) -> Metric:
    """The metric object for one ``[[metrics]]`` or ``[[guardrails]]`` entry of the spec.

    >>> from uplift.spec import MetricSpec
    >>> conversion = metric_for(MetricSpec(name="conversion", kind="proportion", column="converted"))
    >>> conversion.needs().binary, conversion.display
    (('converted',), 'rate')
    >>> Proportion.unit_variance(0.5, 0.1)  # p0 (1 - p0), p1 (1 - p1) with p1 = p0 + 0.1
    (0.25, 0.24)
    """
    return metric_class(spec.kind).from_spec(spec)


# --------------------------------------------------------------------------- the kinds


@register_kind
@dataclass(frozen=True, kw_only=True)
class Proportion(Metric):
    """A share of customers: the mean of a 0/1 column (conversion, complaint, churn).

    Compared by :func:`uplift.stats.compare.compare_proportions` (Wald and Newcombe intervals,
    pooled z-test p-value); with a covariate, CUPED on the 0/1 values. Design variance
    ``p (1 - p)`` with ``p_1 = p_0 + delta``. Shown as a rate, effects in percentage points.
    """

    kind = "proportion"
    binary = True
    design_basis = "baseline"

    def compare_unadjusted(self, treatment: Moments, control: Moments, confidence: float = 0.95) -> stats.Comparison:
        """Difference of rates p1 - p0 (:func:`uplift.stats.compare.compare_proportions`)."""
        return stats.compare_proportions(treatment.proportion(self.column), control.proportion(self.column), confidence)

    @classmethod
    def unit_variance(cls, baseline: float, delta: float = 0.0, sd: float | None = None) -> tuple[float, float]:
        """v_0 = p_0 (1 - p_0), v_1 = p_1 (1 - p_1), p_1 = p_0 + delta (delta signed); both rates in (0, 1)."""
        p0 = baseline
        p1 = baseline + delta
        if not 0 < p0 < 1:
            raise UserError(f"baseline rate {p0:g} must lie in (0, 1), e.g. 0.02")
        if not 0 < p1 < 1:
            raise UserError(
                f"baseline {p0:g} with an effect of {delta:+g} gives a rate of {p1:g}, outside (0, 1); use a smaller effect"
            )
        return p0 * (1 - p0), p1 * (1 - p1)

    @classmethod
    def max_effect(cls, baseline: float | None, alternative: str = "two-sided") -> float:
        """The rate must stay in (0, 1): at most p_0 down (``smaller``), else 1 - p_0 up."""
        if baseline is None:
            raise UserError("a proportion metric needs a baseline rate; set [design] baseline_rate")
        return baseline if alternative == "smaller" else 1 - baseline

    def design_inputs(self, population: Any | None, baseline_rate: float | None = None) -> DesignInputs:
        """The baseline rate: ``baseline_rate`` if given, else the column's mean in the population."""
        if baseline_rate is not None:
            return DesignInputs(float(baseline_rate), None, "[design] baseline_rate")
        if population is not None and self.column in population.columns:
            mean, _, _ = column_mean_sd(population, self.column)
            return DesignInputs(mean, None, Msg("population column {column}", column=self.column))
        return DesignInputs(missing=Msg("no baseline: set [design] baseline_rate or give a population with column {column}",
                                        column=self.column))

    def expected_events(self, baseline: float | None, n: float) -> float | None:
        """n min(p, 1 - p): the expected count of the rarer outcome."""
        return None if baseline is None else n * min(baseline, 1 - baseline)

    @property
    def display(self) -> str:
        return "rate"


@register_kind
@dataclass(frozen=True, kw_only=True)
class Mean(Metric):
    """The mean of a numeric column per customer (revenue, balance, products held).

    Compared by Welch's t (:func:`uplift.stats.compare.compare_means`); with a covariate,
    CUPED (:func:`uplift.stats.compare.compare_adjusted`), priced in the design by the factor
    ``1 - rho^2``. Design variance ``sd^2`` in both arms.
    """

    kind = "mean"

    def compare_unadjusted(self, treatment: Moments, control: Moments, confidence: float = 0.95) -> stats.Comparison:
        """Difference of means, Welch's t (:func:`uplift.stats.compare.compare_means`)."""
        return stats.compare_means(treatment.sample_mean(self.column), control.sample_mean(self.column), confidence)

    @classmethod
    def unit_variance(cls, baseline: float, delta: float = 0.0, sd: float | None = None) -> tuple[float, float]:
        """v_0 = v_1 = sd^2."""
        return _sd_variances(cls.kind, sd)

    def design_inputs(self, population: Any | None, baseline_rate: float | None = None) -> DesignInputs:
        """Mean and sd of the column in the population, else of its pre-period covariate (a proxy)."""
        if population is None:
            return DesignInputs(missing=_NO_POPULATION)
        cols = population.columns
        col = self.column if self.column in cols else (self.covariate if self.covariate in cols else "")
        if not col:
            return DesignInputs(missing=Msg("population has neither {column} nor a covariate column; variance unknown",
                                        column=self.column))
        mean, sd, _ = column_mean_sd(population, col)
        return DesignInputs(mean, sd, Msg("population column {column}", column=col) if col == self.column
                            else Msg("population column {column} (pre-period proxy)", column=col))

    def cuped_columns(self) -> tuple[str, str] | None:
        return (self.column, self.covariate) if self.covariate else None


@register_kind
@dataclass(frozen=True, kw_only=True)
class Ratio(Metric):
    """A ratio of means R = mean(Y) / mean(D) over customers (revenue per product, spend per visit).

    Compared by the delta method (:func:`uplift.stats.compare.compare_ratios`; Deng, Knoblich &
    Lu 2018); with a covariate X, CUPED on the linearised unit values
    (:func:`uplift.stats.compare.compare_adjusted_ratios`) against the pre-period ratio
    X / ``denominator_covariate``, or against X alone (denominator 1, as tea-tasting's
    ``RatioOfMeans`` without ``denom_covariate``) when no ``denominator_covariate`` is given. The
    post-period denominator is never used to adjust: the offer may move it, and adjusting over it
    then biases the estimate (in tests/test_kinds.py a 30% shift in it, with no effect on the
    ratio, rejected at alpha 0.05 in all of 1,000 simulated runs).
    Design variance: the delta-method unit variance ``(s_yy - 2 R s_yd + R^2 s_dd) / mean(D)^2``.
    """

    denominator: str
    denominator_covariate: str = ""

    kind = "ratio"
    takes_denominator = True

    @classmethod
    def from_spec(cls, spec: MetricSettings) -> "Ratio":
        return cls(name=spec.name, column=spec.column, denominator=spec.denominator, covariate=spec.covariate or "",
                   denominator_covariate=spec.denominator_covariate or "", unit=spec.unit or "")

    def roles(self) -> dict[str, str]:
        out = {self.column: f"metric '{self.name}'"}
        for c, r in ((self.denominator, f"denominator of '{self.name}'"), (self.covariate, f"covariate of '{self.name}'"),
                     (self.denominator_covariate, f"denominator covariate of '{self.name}'")):
            if c:
                out[c] = r
        return out

    def _check_denominator(self, treatment: Moments, control: Moments) -> None:
        for who, m in (("arm", treatment), ("control", control)):
            if m.mean_of(self.denominator) == 0:
                raise DataError(f"outcomes: denominator column '{self.denominator}' averages 0 in the {who}; "
                                "a ratio metric needs a non-zero denominator")

    def compare_unadjusted(self, treatment: Moments, control: Moments, confidence: float = 0.95) -> stats.Comparison:
        """Difference of ratios R1 - R0, delta method (:func:`uplift.stats.compare.compare_ratios`)."""
        self._check_denominator(treatment, control)
        return stats.compare_ratios(treatment.ratio(self.column, self.denominator),
                                    control.ratio(self.column, self.denominator), confidence)

    def compare(self, treatment: Moments, control: Moments, confidence: float = 0.95) -> stats.Comparison:
        """CUPED on the linearised ratio when there is a covariate (Deng et al. 2018, sec. 4), else
        unadjusted. The covariate's denominator is ``denominator_covariate`` (pre-period) or the constant 1."""
        if not self.covariate:
            return self.compare_unadjusted(treatment, control, confidence)
        self._check_denominator(treatment, control)
        return stats.compare_adjusted_ratios(treatment, control, self.column, self.denominator, self.covariate,
                                             self.denominator_covariate or None, confidence)

    @classmethod
    def unit_variance(cls, baseline: float, delta: float = 0.0, sd: float | None = None) -> tuple[float, float]:
        """v_0 = v_1 = sd^2, sd the square root of the delta-method unit variance."""
        return _sd_variances(cls.kind, sd)

    def design_inputs(self, population: Any | None, baseline_rate: float | None = None) -> DesignInputs:
        """R and the delta-method sd (:func:`ratio_unit_variance`) of the population's columns,
        else of their pre-period covariates (a proxy)."""
        if population is None:
            return DesignInputs(missing=_NO_POPULATION)
        cols = population.columns
        num = self.column if self.column in cols else (self.covariate if self.covariate and self.covariate in cols else "")
        den = self.denominator if self.denominator in cols else (
            self.denominator_covariate if self.denominator_covariate and self.denominator_covariate in cols else "")
        if not num or not den:
            missing = self.column if not num else self.denominator
            return DesignInputs(missing=Msg("population has no column {column} (nor a pre-period covariate); variance unknown",
                                        column=missing))
        r, v = ratio_unit_variance(design_values(population, num), design_values(population, den))
        proxy = (num, den) != (self.column, self.denominator)
        return DesignInputs(r, math.sqrt(v), Msg("population columns {columns} (delta method) (pre-period proxy)",
                                                 columns=f"{num}/{den}") if proxy
                            else Msg("population columns {columns} (delta method)", columns=f"{num}/{den}"))
