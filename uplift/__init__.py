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
    "DesignResult": "uplift.experiment.design_result", "design_experiment": "uplift.experiment.design", "sample_size": "uplift.experiment.design",
    "power_at": "uplift.experiment.design", "mde_at_n": "uplift.experiment.design",
    "Eligibility": "uplift.experiment.exclusions", "Assignment": "uplift.experiment.assign", "apply_exclusions": "uplift.experiment.exclusions",
    "assign": "uplift.experiment.assign", "assign_to_ledger": "uplift.experiment.assign",
    "SRMResult": "uplift.experiment.checks", "BalanceResult": "uplift.experiment.checks", "sample_ratio_mismatch": "uplift.experiment.checks",
    "covariate_balance": "uplift.experiment.checks",
    # estimation
    "open_source": "uplift.data.source", "Moments": "uplift.data.moments", "aggregate_frame": "uplift.data.collect",
    "MetricsResult": "uplift.metrics.analyse", "analyse_metrics": "uplift.metrics.analyse",
    # survival and CLV
    "life_table": "uplift.survival.estimators", "kaplan_meier": "uplift.survival.estimators", "logrank_test": "uplift.survival.estimators",
    "CLVResult": "uplift.clv.result", "clv_analysis": "uplift.clv.analyse",
    # targeting and next product
    "make_model": "uplift.targeting.models", "evaluate_uplift": "uplift.targeting.evaluation",
    "TargetingResult": "uplift.targeting.result", "targeting_analysis": "uplift.targeting.analyse",
    "RulesResult": "uplift.targeting.rules", "association_rules": "uplift.targeting.rules",
    # the readout
    "Analysis": "uplift.readout.analysis", "analyse": "uplift.readout.analysis", "render_readout": "uplift.readout.render",
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
