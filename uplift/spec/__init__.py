"""The experiment spec: TOML in, typed frozen settings out.

* :mod:`uplift.spec.schema` - every section, key, type, range check and default, once;
* :mod:`uplift.spec.settings` - one frozen dataclass per section, built from the schema's tables;
* :mod:`uplift.spec.load` - :func:`load_spec` / :func:`parse_spec` and the :class:`Spec` they return.

The names below are re-exported so that ``from uplift.spec import load_spec, Spec`` reads as one place.
"""

from uplift.errors import SpecError
from uplift.spec.load import Spec, load_spec, parse_spec
from uplift.spec.settings import (
    AnalysisSettings, AssignmentSettings, CLVSettings, DesignSettings, EconomicsSettings, ExperimentSettings,
    FunnelSettings, MetricSpec, PopulationSettings, RuleSpec, TargetingSettings,
)

__all__ = [
    "Spec", "SpecError", "load_spec", "parse_spec", "MetricSpec", "RuleSpec", "ExperimentSettings",
    "PopulationSettings", "AssignmentSettings", "DesignSettings", "AnalysisSettings", "FunnelSettings",
    "EconomicsSettings", "CLVSettings", "TargetingSettings",
]
