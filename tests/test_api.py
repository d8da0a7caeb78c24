"""The public API is a decision: this list changes only on purpose."""

from __future__ import annotations

import subprocess
import sys

import uplift

EXPECTED = [
    "__version__",
    "UserError", "SpecError", "DataError",
    "Spec", "load_spec",
    "Simulation", "Truth", "simulate", "simulate_population", "simulate_outcomes",
    "DesignResult", "design_experiment", "sample_size", "power_at", "mde_at_n",
    "Eligibility", "Assignment", "apply_exclusions", "assign", "assign_to_ledger",
    "SRMResult", "BalanceResult", "sample_ratio_mismatch", "covariate_balance",
    "open_source", "Moments", "aggregate_frame",
    "MetricsResult", "analyse_metrics",
    "life_table", "kaplan_meier", "logrank_test",
    "CLVResult", "clv_analysis",
    "make_model", "evaluate_uplift",
    "TargetingResult", "targeting_analysis",
    "RulesResult", "association_rules",
    "Analysis", "analyse", "render_readout",
]


def test_public_names_are_pinned():
    assert uplift.__all__ == EXPECTED


def test_every_public_name_resolves_and_is_documented():
    for name in uplift.__all__[1:]:
        obj = getattr(uplift, name)
        assert obj.__doc__ and obj.__doc__.strip(), f"{name} has no docstring"


def test_import_and_help_do_not_load_the_heavy_libraries():
    code = "import sys, uplift.cli; uplift.cli.build_parser(); print(sorted(m for m in ('sklearn', 'statsmodels', 'lifelines', 'matplotlib') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == "[]", out
