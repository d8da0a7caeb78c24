"""Typed, frozen settings: one class per spec section, built once when the spec is loaded.

Nothing here restates a default: :func:`settings_from` fills each class from the table
that :mod:`uplift.spec.schema` validated, where every default is written once. A section
that is absent from the file still gets its settings (all defaults) when it has no
required key (``[experiment]`` aside, which is required); sections that need keys of
their own (``[assignment]``, ``[funnel]``, ``[clv]``) are ``None`` on the :class:`~uplift.spec.load.Spec`
when absent, and so are ``[economics]`` and ``[targeting]``, whose presence switches a
part of the readout on. ``tests/test_spec.py`` checks that every class has exactly the
fields of its section's schema.

Lists become tuples and tables read-only mappings, so settings cannot be changed after
loading: code that needs another value builds another spec.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Mapping, TypeVar

__all__ = [
    "RuleSpec", "MetricSpec", "ExperimentSettings", "PopulationSettings", "AssignmentSettings", "DesignSettings",
    "AnalysisSettings", "FunnelSettings", "EconomicsSettings", "CLVSettings", "TargetingSettings", "FairnessSettings",
    "SECTION_SETTINGS", "settings_from", "ProgrammeSettings", "ContactSettings", "ProgrammeReadoutSettings",
    "PROGRAMME_SETTINGS",
]

T = TypeVar("T")


@dataclass(frozen=True)
class RuleSpec:
    """One exclusion rule: customers where ``column op value`` holds are excluded with ``reason``;
    ``when_missing`` ("exclude" or "keep") says what happens to a customer whose value is missing.
    Built from the validated table, which holds every key (defaults in :mod:`uplift.spec.schema`)."""

    reason: str
    column: str
    op: str
    value: Any
    description: str
    when_missing: str


@dataclass(frozen=True)
class MetricSpec:
    """One metric or guardrail. ``kind`` is proportion, mean or ratio (``column / denominator``).

    A proportion metric with ``time_column`` also has ``followup_column``, ``window_days`` and optionally
    ``competing_time_column``: its conversion is read as a time to conversion with censoring
    (:mod:`uplift.survival.conversion`)."""

    name: str
    kind: str
    column: str
    denominator: str = ""
    covariate: str = ""
    denominator_covariate: str = ""
    primary: bool = False
    description: str = ""
    bad_direction: str = ""
    margin: float | None = None
    is_guardrail: bool = False
    unit: str = ""
    baseline: float | None = None
    time_column: str = ""
    followup_column: str = ""
    competing_time_column: str = ""
    window_days: int | None = None

    @property
    def timed(self) -> bool:
        """True when the metric names the days to conversion (a time-to-conversion readout)."""
        return bool(self.time_column)


@dataclass(frozen=True)
class ExperimentSettings:
    """``[experiment]``: what is tested, on which unit, when, in which currency."""

    name: str
    unit: str
    hypothesis: str
    owner: str
    start_date: str
    end_date: str
    data_as_of: str
    currency: str
    target_product: str
    primary_product: str
    programme: str
    registry: str
    language: str


@dataclass(frozen=True)
class PopulationSettings:
    """``[population]``: default input files (resolved against the spec's folder) and how to read them."""

    source: str
    outcomes: str
    format: str
    design: str


@dataclass(frozen=True)
class AssignmentSettings:
    """``[assignment]``: salted-hash assignment into arms with these weights, optionally stratified."""

    salt: str
    arms: Mapping[str, float]
    control: str
    stratify: tuple[str, ...]
    ledger: str


@dataclass(frozen=True)
class DesignSettings:
    """``[design]``: error rates, the effect to detect, inflow and planned looks."""

    alpha: float
    power: float
    mde_relative: float | None
    mde_absolute: float | None
    baseline_rate: float | None
    alternative: str
    multiple_arms: str
    weekly_inflow: int | None
    looks: int
    current_look: int | None
    cuped_rho: float | None
    spending: str
    spending_rho: float
    look_fractions: tuple[float, ...]
    value_per_conversion: float | None
    prior_effect: float | None
    prior_sd: float | None


@dataclass(frozen=True)
class AnalysisSettings:
    """``[analysis]``: how a readout is computed; ``confidence`` and ``min_cell_size`` apply in every section."""

    arm_column: str
    control: str
    segments: tuple[str, ...]
    min_cell_size: int
    max_unmatched_share: float
    covariates: tuple[str, ...]
    confidence: float
    weights: Mapping[str, float] | None
    prior_mean: float
    prior_sd: float | None
    always_valid: bool
    always_valid_tuning_n: int
    decision: str


@dataclass(frozen=True)
class FunnelSettings:
    """``[funnel]``: the 0/1 stage columns, in order (seen -> accepted -> opened -> used -> retained)."""

    stages: tuple[str, ...]
    days_columns: tuple[str, ...]
    followup_column: str


@dataclass(frozen=True)
class EconomicsSettings:
    """``[economics]``: the columns and unit costs behind incremental profit and ROI."""

    margin_column: str
    revenue_column: str
    cannibalised_column: str
    cost_to_serve_column: str
    conversion_column: str
    contact_cost: float
    incentive_cost: float
    eligible_population: int | None
    profit_prior_mean: float
    profit_prior_sd: float | None


@dataclass(frozen=True)
class CLVSettings:
    """``[clv]``: tenure and churn columns, margin per period, horizon, discounting and extrapolation."""

    tenure_column: str
    churned_column: str
    margin_per_period_column: str
    horizon_periods: int
    periods_per_year: int
    annual_discount_rate: float
    extrapolation: str
    margin_timing: str
    products_column: str
    n_bootstrap: int
    max_tenure_periods: int | None
    margin_net_of: tuple[str, ...]


@dataclass(frozen=True)
class TargetingSettings:
    """``[targeting]``: the uplift model, its features and sample, and how a conversion is valued."""

    features: tuple[str, ...]
    outcome: str
    value_column: str
    model: str
    holdout_share: float
    max_customers: int
    seed: int
    value_per_conversion: float | None
    value: str
    n_bootstrap: int
    budget: float | None
    capacity: Mapping[str, float] | None
    min_profit_per_contact: float | None


@dataclass(frozen=True)
class FairnessSettings:
    """``[fairness]``: the customer groups of the Consumer Duty panel and the harm and unsuitable-sale signals."""

    group_columns: tuple[str, ...]
    harm_columns: tuple[str, ...]
    unsuitable_sale_columns: tuple[str, ...]


@dataclass(frozen=True)
class ProgrammeSettings:
    """Programme spec ``[programme]``: its name, unit, the global holdout (salt, share, start) and its registry."""

    name: str
    unit: str
    salt: str
    start_date: str
    holdout_share: float
    registry: str
    currency: str


@dataclass(frozen=True)
class ContactSettings:
    """Programme spec ``[contact]``: the contact policy across campaigns (0 switches a rule off)."""

    min_days_between: int
    max_offers: int
    period_days: int
    complaint_column: str
    cooloff_days: int


@dataclass(frozen=True)
class ProgrammeReadoutSettings:
    """Programme spec ``[readout]``: the outcome columns, contact cost, confidence and meta-analysis method."""

    conversion_column: str
    revenue_column: str
    profit_column: str
    clv_column: str
    contact_cost: float
    confidence: float
    meta_method: str


PROGRAMME_SETTINGS: dict[str, type] = {
    "programme": ProgrammeSettings, "contact": ContactSettings, "readout": ProgrammeReadoutSettings,
}

SECTION_SETTINGS: dict[str, type] = {
    "experiment": ExperimentSettings,
    "population": PopulationSettings,
    "assignment": AssignmentSettings,
    "design": DesignSettings,
    "analysis": AnalysisSettings,
    "funnel": FunnelSettings,
    "economics": EconomicsSettings,
    "clv": CLVSettings,
    "targeting": TargetingSettings,
    "fairness": FairnessSettings,
}


def _frozen(value: Any) -> Any:
    if isinstance(value, list):
        return tuple(value)
    if isinstance(value, dict):
        return MappingProxyType(dict(value))
    return value


def settings_from(cls: type[T], table: Mapping[str, Any]) -> T:
    """An instance of settings class ``cls`` from a validated table (every key present, defaults filled)."""
    return cls(**{f.name: _frozen(table[f.name]) for f in dataclasses.fields(cls)})  # type: ignore[arg-type]
