"""xsell-uplift: A/B experiments and uplift modelling for financial-services cross-selling.

The public API is listed in ``__all__``; ``tests/test_api.py`` pins it, so growing
the API is a decision. Names are imported lazily (PEP 562), so ``import uplift`` and
``uplift --help`` stay fast; ``from uplift import analyse`` works as usual.

The flow, one function per step::

    spec = load_spec("experiments/demo.toml")
    design_experiment(spec, population)                 # n per arm, MDE, duration
    assignment = assign(spec, population)               # exclusions + salted-hash arms
    analysis = analyse(spec, outcomes, ledger=assignment.ledger, population=population)
    analysis.to_results()                               # what results.json holds
    render_readout(spec, "reports/x", outcomes=..., ledger=...)   # HTML + JSON
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_EXPORTS: dict[str, str] = {
    # errors
    "UserError": "uplift.errors", "SpecError": "uplift.errors", "DataError": "uplift.errors",
    # spec and simulation
    "Spec": "uplift.spec", "load_spec": "uplift.spec",
    "Simulation": "uplift.simulate", "Truth": "uplift.simulate", "simulate": "uplift.simulate",
    "simulate_population": "uplift.simulate", "simulate_outcomes": "uplift.simulate",
    # design, assignment, checks
    "DesignResult": "uplift.design", "design_experiment": "uplift.design", "sample_size": "uplift.design",
    "power_at": "uplift.design", "mde_at_n": "uplift.design",
    "Eligibility": "uplift.assign", "Assignment": "uplift.assign", "apply_exclusions": "uplift.assign",
    "assign": "uplift.assign", "assign_to_ledger": "uplift.assign",
    "SRMResult": "uplift.checks", "BalanceResult": "uplift.checks", "sample_ratio_mismatch": "uplift.checks",
    "covariate_balance": "uplift.checks",
    # estimation
    "Moments": "uplift.aggregates", "aggregate_frame": "uplift.aggregates",
    "MetricsResult": "uplift.metrics", "analyse_metrics": "uplift.metrics",
    # survival and CLV
    "life_table": "uplift.survival", "kaplan_meier": "uplift.survival", "logrank_test": "uplift.survival",
    "CLVResult": "uplift.clv", "clv_analysis": "uplift.clv",
    # targeting and next product
    "make_model": "uplift.models", "evaluate_uplift": "uplift.evaluation",
    "TargetingResult": "uplift.targeting", "targeting_analysis": "uplift.targeting",
    "RulesResult": "uplift.rules", "association_rules": "uplift.rules",
    # the readout
    "Analysis": "uplift.analysis", "analyse": "uplift.analysis", "render_readout": "uplift.readout",
}

__all__ = ["__version__", *_EXPORTS]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'uplift' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
