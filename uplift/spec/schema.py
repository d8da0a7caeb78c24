"""The spec's schema: every section, key, type, range check and default, in one place.

A spec is data: :mod:`uplift.spec.load` parses it with :mod:`tomllib` and checks it
against :data:`SCHEMA`; nothing in it is ever evaluated. Unknown keys are errors, so a
misspelt key never passes silently. Every default lives here, once: the typed settings
(:mod:`uplift.spec.settings`) are built from the validated tables, never restating one.

To add a key: add one entry to the section's schema in :data:`SCHEMA`, the field of the
same name to the section's settings class, and (if it needs a cross-field check)
a line in :func:`uplift.spec.cross.check_cross_fields`.
"""

from __future__ import annotations

import difflib
import importlib
import math
from dataclasses import dataclass
from typing import Any, Callable, Mapping

from uplift.errors import SpecError

__all__ = ["Field", "SCHEMA", "PROGRAMME_SCHEMA", "ARRAYS", "REQUIRED_SECTIONS", "METRIC_KINDS", "OPS", "MAX_ARMS", "MAX_PERIODS", "MAX_WINDOW_DAYS",
           "SPENDING_FAMILIES", "LANGUAGES",
           "MAX_BOOTSTRAP", "check_table", "suggest", "key_name", "show_value"]

# --------------------------------------------------------------------------- schema

OPS = ("==", "!=", ">", ">=", "<", "<=", "in", "not_in", "is_null", "not_null")
# The metric kinds a spec may name -> whether the kind takes a denominator. The built-ins are
# listed here so that loading a spec needs no statistics; :func:`uplift.metrics.kinds.register_kind`
# adds a new kind here too (tests/test_kinds.py checks the two agree).
METRIC_KINDS: dict[str, bool] = {"proportion": False, "mean": False, "ratio": True}

LANGUAGES = ("en", "zh")
"""[experiment] language: the languages the readout and design pages are written in (English, Simplified
Chinese); each but English has a catalogue in uplift/locale (tests/test_language.py checks the two agree)."""

SPENDING_FAMILIES = ("obrien-fleming", "pocock", "power")
"""[design] spending: the alpha-spending families of :mod:`uplift.stats.sequential` (tests/test_sequential.py
checks the two lists agree)."""

# Upper bounds that keep the work bounded (a typo such as 1e9 periods would otherwise run out of
# memory or for hours). They are far above any real campaign:
MAX_ARMS = 26
"""At most 26 arms (control included), in [assignment] arms, [analysis] weights and in the data's
arm column: the readout compares every pair of arms, so its work grows with the square of the arms."""
MAX_PERIODS = 1200
"""At most 1,200 periods (100 years of months) for [clv] horizon_periods, and for a tenure in the data
(:mod:`uplift.data.facts`): the CLV grid holds one value per period."""
MAX_WINDOW_DAYS = 3650
"""At most 3,650 days (10 years) for a metric's window_days: the incidence curve holds one value per day."""
MAX_BOOTSTRAP = 10_000
"""At most 10,000 bootstrap resamples ([clv] and [targeting] n_bootstrap)."""


@dataclass(frozen=True)
class Check:
    """A range check: ``fix(value)`` is the fix text if ``value`` is out of range, else None.

    ``bounds`` states the same range as JSON Schema keywords and ``allowed`` in words, for the
    spec reference and the editor schema (:mod:`uplift.spec.reference`)."""

    fix: Callable[[Any], str | None]
    bounds: Mapping[str, Any]
    allowed: str

    def __call__(self, value: Any) -> str | None:
        return self.fix(value)


@dataclass(frozen=True)
class Field:
    """One key of a section: its type, whether it is required, its default and a range check.
    Its meaning and an example: :mod:`uplift.spec.meanings`."""

    kind: str  # str, bool, int, number, str_list, number_list, weights, amounts, scalar, scalar_or_list
    required: bool = False
    default: Any = None
    check: Check | None = None


def in_open(lo: float, hi: float, example: str) -> Check:
    return Check(lambda v: None if lo < v < hi else f"use a number in ({lo:g}, {hi:g}), e.g. {example}",
                 {"exclusiveMinimum": lo, "exclusiveMaximum": hi}, f"in ({lo:g}, {hi:g})")


def positive(example: str) -> Check:
    return Check(lambda v: None if v > 0 else f"use a number above 0, e.g. {example}", {"exclusiveMinimum": 0}, "above 0")


def non_negative(example: str) -> Check:
    return Check(lambda v: None if v >= 0 else f"use a number of at least 0, e.g. {example}", {"minimum": 0}, "at least 0")


def between(lo: int, hi: int, example: str) -> Check:
    """A whole number in [lo, hi] (``hi`` a documented maximum, see :data:`MAX_PERIODS` and friends)."""
    return Check(lambda v: None if lo <= v <= hi else f"use a whole number from {lo:,} to {hi:,}, e.g. {example}",
                 {"minimum": lo, "maximum": hi}, f"{lo:,} to {hi:,}")


def one_of(*options: str) -> Check:
    return Check(lambda v: None if v in options else "use one of " + ", ".join(repr(o) for o in options),
                 {"enum": list(options)}, "one of " + ", ".join(f'"{o}"' for o in options))


def subset_of(*options: str) -> Check:
    """A list of names, each one of ``options``."""
    return Check(lambda v: None if set(v) <= set(options) else
                 "use " + " and/or ".join(f'"{o}"' for o in options) + ", e.g. [" + ", ".join(f'"{o}"' for o in options) + "]",
                 {"items": {"enum": list(options)}}, "any of " + ", ".join(f'"{o}"' for o in options))


def _metric_kind(v: Any) -> str | None:
    """A registered metric kind (proportion, mean, ratio and any added by ``register_kind``).

    A name not listed yet loads the registry (``uplift.metrics.kinds``, whose classes register
    themselves) once and looks again, so a kind added there is accepted on the command line too;
    specs naming only the built-in kinds load without importing any statistics."""
    if v not in METRIC_KINDS:
        importlib.import_module("uplift.metrics.kinds")
    return one_of(*METRIC_KINDS)(v)


metric_kind = Check(_metric_kind, {"enum": list(METRIC_KINDS)}, "a metric kind: " + ", ".join(f'"{k}"' for k in METRIC_KINDS))


def _relative_effect(v: Any) -> str | None:
    """A relative effect is a fraction of the baseline in (0, 1]: 0.2 is 20%; 20 is refused with the fraction."""
    if v <= 0:
        return "use a fraction of the baseline above 0, e.g. 0.1 for 10%"
    if v > 1:
        return f"it is a fraction of the baseline, not a percentage: did {v:g} mean {v / 100:g} ({v:g}%)? use a number in (0, 1]"
    return None


relative_effect = Check(_relative_effect, {"exclusiveMinimum": 0, "maximum": 1}, "in (0, 1]: a fraction, 0.2 = +20%")
non_empty = Check(lambda v: None if (v if not isinstance(v, str) else v.strip()) else "give a non-empty value",
                  {"minLength": 1, "pattern": "\\S"}, "not empty")


def prior_sd(example: str) -> Check:
    """A prior's standard deviation: above 0 (a prior of sd 0 or less is not a distribution)."""
    return Check(lambda v: None if v > 0 else (f"a prior's standard deviation must be above 0, e.g. {example}; "
                                               "leave the key out for the weakly informative default"),
                 {"exclusiveMinimum": 0}, "above 0")


SCHEMA: dict[str, dict[str, Field]] = {
    "experiment": {
        "name": Field("str", required=True, check=non_empty),
        "unit": Field("str", required=True, check=non_empty),
        "hypothesis": Field("str", default=""),
        "owner": Field("str", default=""),
        "start_date": Field("str", default=""),
        "end_date": Field("str", default=""),
        "data_as_of": Field("str", default=""),
        "currency": Field("str", default="EUR"),
        "target_product": Field("str", default=""),
        # What every analysed customer holds (e.g. "current account"): the holdings declaration. Only
        # with it does the readout show cross-sell measures (cross-sell rate, attach rate, products per
        # customer); without it a conversion is just the metric it is, under its own description.
        "primary_product": Field("str", default=""),
        "programme": Field("str", default=""), "registry": Field("str", default=""),  # paths: a programme spec, a registry
        # the language of readout.html and design.html (--lang on the command line wins); results.json
        # is the same in every language apart from its "language" field
        "language": Field("str", default="en", check=one_of(*LANGUAGES)),
    },
    "population": {
        "source": Field("str", default=""),
        "outcomes": Field("str", default=""),
        # how to read the files above (default: from the suffix); the rows are aggregated where they are
        "format": Field("str", default="", check=one_of("", "auto", "parquet", "csv")),
        # design.json written by `uplift design --out`: the readout shows its hash and flags deviations from it
        "design": Field("str", default=""),
    },
    "exclude": {  # an array of tables: one rule each, applied in order
        "reason": Field("str", required=True, check=non_empty),
        "column": Field("str", required=True, check=non_empty),
        "op": Field("str", required=True, check=one_of(*OPS)),
        "value": Field("scalar_or_list"),
        "description": Field("str", default=""),
        # a unit whose value in `column` is missing (empty or NaN): "exclude" it under this rule's reason
        # (we cannot show the rule does not apply, e.g. an unknown opt-out), or "keep" it (the rule
        # does not apply, e.g. days_since_last_contact is empty for a customer never contacted).
        # Either way the waterfall counts these units in `missing`. Ignored by is_null / not_null.
        "when_missing": Field("str", default="exclude", check=one_of("exclude", "keep")),
    },
    "assignment": {
        "salt": Field("str", required=True, check=non_empty),
        "arms": Field("weights", required=True),
        "control": Field("str", required=True),
        "stratify": Field("str_list", default=[]),
        "ledger": Field("str", default=""),  # default --ledger path, resolved against the spec's folder
    },
    "design": {
        "alpha": Field("number", default=0.05, check=in_open(0, 0.5, "0.05")),
        "power": Field("number", default=0.80, check=in_open(0, 1, "0.8")),
        "mde_relative": Field("number", default=None, check=relative_effect),
        "mde_absolute": Field("number", default=None, check=positive("0.005")),
        "baseline_rate": Field("number", default=None, check=in_open(0, 1, "0.03")),
        "alternative": Field("str", default="two-sided", check=one_of("two-sided", "larger", "smaller")),
        "multiple_arms": Field("str", default="bonferroni", check=one_of("bonferroni", "none")),
        "weekly_inflow": Field("int", default=None, check=positive("5000")),
        "looks": Field("int", default=1, check=between(1, 100, "1")),
        "current_look": Field("int", default=None, check=positive("1")),
        # assumed corr(metric, pre-period covariate) for CUPED when the population has no post-period column
        "cuped_rho": Field("number", default=None, check=in_open(-1, 1, "0.5")),
        # Alpha spending over the planned looks (uplift.stats.sequential): "obrien-fleming" (little early),
        # "pocock" (about equal at every look) or "power" (alpha x t^spending_rho); look_fractions places the
        # looks at these shares of the final sample (increasing, the last 1), default equally spaced.
        "spending": Field("str", default="obrien-fleming", check=one_of(*SPENDING_FAMILIES)),
        "spending_rho": Field("number", default=3.0, check=positive("3")),
        "look_fractions": Field("number_list", default=[]),
        # The design's profit forecast (uplift.experiment.forecast): what one incremental conversion of the primary
        # (proportion) metric is worth before campaign costs, and the designer's prior of the primary metric's
        # absolute effect (a plain input; the readout's own prior is [analysis] prior_mean/prior_sd).
        "value_per_conversion": Field("number", default=None, check=non_negative("250")),
        "prior_effect": Field("number", default=None),
        "prior_sd": Field("number", default=None, check=prior_sd("0.005")),
    },
    "metrics": {  # an array of tables
        "name": Field("str", required=True, check=non_empty),
        "kind": Field("str", required=True, check=metric_kind),
        "column": Field("str", required=True, check=non_empty),
        "denominator": Field("str", default=""),
        "covariate": Field("str", default=""),
        "denominator_covariate": Field("str", default=""),
        "primary": Field("bool", default=False),
        "description": Field("str", default=""),
        "unit": Field("str", default="", check=one_of("", "currency", "count")),
        # Conversions that take time (kind = "proportion" only): days from the customer's start to
        # conversion (empty when not converted), days observed, days to an event that ends the chance
        # to convert (empty when none), and the outcome window the decision is about, in days.
        "time_column": Field("str", default=""),
        "followup_column": Field("str", default=""),
        "competing_time_column": Field("str", default=""),
        "window_days": Field("int", default=None, check=between(1, MAX_WINDOW_DAYS, "90")),
    },
    "guardrails": {  # an array of tables
        "name": Field("str", required=True, check=non_empty),
        "kind": Field("str", required=True, check=metric_kind),
        "column": Field("str", required=True, check=non_empty),
        "denominator": Field("str", default=""),
        "bad_direction": Field("str", default="increase", check=one_of("increase", "decrease")),
        "margin": Field("number", default=None, check=non_negative("0.002")),
        "description": Field("str", default=""),
        "baseline": Field("number", default=None, check=in_open(0, 1, "0.01")),
    },
    "funnel": {
        "stages": Field("str_list", required=True),
        # Days from the customer's start to reaching each stage (one column per stage, in the same order,
        # empty where not reached) and the days observed per customer: the
        # readout then shows the median days to each stage per arm (Kaplan-Meier, censored at follow-up).
        "days_columns": Field("str_list", default=[]),
        "followup_column": Field("str", default=""),
    },
    "economics": {
        "margin_column": Field("str", default=""),
        "revenue_column": Field("str", default=""),
        "cannibalised_column": Field("str", default=""),
        "cost_to_serve_column": Field("str", default=""),
        "conversion_column": Field("str", default=""),
        "contact_cost": Field("number", default=0.0, check=non_negative("1.5")),
        "incentive_cost": Field("number", default=0.0, check=non_negative("20")),
        "eligible_population": Field("int", default=None, check=positive("250000")),
        # Prior of the net incremental profit per treated customer (currency) for the Bayesian view, e.g. from
        # past campaigns. Without profit_prior_sd: the weakly informative unit-information prior (sd = sqrt(n) x se,
        # worth one customer; uplift.stats.bayes), centred at profit_prior_mean.
        "profit_prior_mean": Field("number", default=0.0),
        "profit_prior_sd": Field("number", default=None, check=prior_sd("5")),
    },
    "clv": {
        "tenure_column": Field("str", required=True, check=non_empty),
        "churned_column": Field("str", required=True, check=non_empty),
        "margin_per_period_column": Field("str", default=""),
        "horizon_periods": Field("int", default=60, check=between(1, MAX_PERIODS, "60")),
        "periods_per_year": Field("int", default=12, check=between(1, 366, "12")),
        "annual_discount_rate": Field("number", default=0.08, check=in_open(-1, 10, "0.08")),
        "extrapolation": Field("str", default="auto", check=one_of("auto", "sbg", "weibull", "none")),
        "margin_timing": Field("str", default="end", check=one_of("end", "start")),
        "products_column": Field("str", default=""),
        "n_bootstrap": Field("int", default=0, check=between(0, MAX_BOOTSTRAP, "200")),  # bootstrap check of the CLV interval
        # The longest tenure the data can hold, in periods: a larger one is refused. Default (none given):
        # the periods from [experiment] start_date to data_as_of, rounded up, when both dates are given
        # (tenure counts periods since the campaign); otherwise 100 years of periods (100 x periods_per_year).
        "max_tenure_periods": Field("int", default=None, check=between(1, MAX_PERIODS, "24")),
        # What margin_per_period_column is net of: "cannibalisation" (margin lost on products the customer
        # already held) and/or "cost_to_serve". The readout states it; [] says the margin is gross of both.
        "margin_net_of": Field("str_list", default=[], check=subset_of("cannibalisation", "cost_to_serve")),
    },
    "analysis": {
        "arm_column": Field("str", default=""),
        "control": Field("str", default=""),
        "segments": Field("str_list", default=[]),
        "min_cell_size": Field("int", default=50, check=positive("50")),
        "max_unmatched_share": Field("number", default=0.01, check=non_negative("0.01")),
        "covariates": Field("str_list", default=[]),
        "confidence": Field("number", default=0.95, check=in_open(0.5, 1, "0.95")),
        "weights": Field("weights", default=None),  # designed arm weights for the SRM check
        # Prior of each primary metric's absolute effect for the chance to beat control (uplift.stats.bayes);
        # without prior_sd: the weakly informative unit-information prior centred at prior_mean.
        "prior_mean": Field("number", default=0.0),
        "prior_sd": Field("number", default=None, check=prior_sd("0.01")),
        # Always-valid monitoring (uplift.stats.sequences): an always-valid interval and p-value per metric row,
        # valid however often the campaign is looked at; always_valid_tuning_n is the sample size (both arms)
        # where the confidence sequence is narrowest (GrowthBook's default tuning, 5,000).
        "always_valid": Field("bool", default=False),
        "always_valid_tuning_n": Field("int", default=5000, check=positive("5000")),
        # Which p-values the ship decision tests the primary metrics on: the fixed-horizon (or planned-look)
        # ones, or the always-valid ones (needs always_valid = true), which may be read at any look.
        "decision": Field("str", default="fixed-horizon", check=one_of("fixed-horizon", "always-valid")),
    },
    "targeting": {
        "features": Field("str_list", default=[]),
        "outcome": Field("str", default=""),
        "value_column": Field("str", default=""),
        "model": Field("str", default="auto"),
        "holdout_share": Field("number", default=0.3, check=in_open(0, 1, "0.3")),
        "max_customers": Field("int", default=200_000, check=positive("200000")),
        "seed": Field("int", default=0),
        "value_per_conversion": Field("number", default=None, check=non_negative("250")),
        # what one conversion is worth: 12-month net margin from [economics], or incremental CLV from [clv]
        "value": Field("str", default="margin", check=one_of("margin", "clv")),
        "n_bootstrap": Field("int", default=200, check=between(1, MAX_BOOTSTRAP, "200")),
        # Next best offer (several offer arms, or any of these set): the campaign budget (contact plus expected
        # incentive cost, currency), the most contacts per offer, and the least expected profit a contact must bring.
        "budget": Field("number", default=None, check=positive("20000")),
        "capacity": Field("amounts", default=None),
        "min_profit_per_contact": Field("number", default=None, check=non_negative("2.0")),
    },
    "fairness": {
        # Consumer Duty panel: outcomes per customer group and arm, and the next wave's make-up by group.
        "group_columns": Field("str_list", required=True),
        "harm_columns": Field("str_list", default=[]),  # 0/1 outcomes where 1 is a harm (complaint, churn)
        "unsuitable_sale_columns": Field("str_list", default=[]),  # 0/1 signals of an unsuitable sale
    },
}

# A programme spec (its own file; uplift.spec.programme): the global holdout, the contact policy, the readout.
PROGRAMME_SCHEMA: dict[str, dict[str, Field]] = {
    "programme": {"name": Field("str", required=True, check=non_empty), "unit": Field("str", required=True, check=non_empty),
                  "salt": Field("str", required=True, check=non_empty), "start_date": Field("str", required=True, check=non_empty),
                  "holdout_share": Field("number", required=True, check=in_open(0, 1, "0.05")),
                  "registry": Field("str", required=True, check=non_empty), "currency": Field("str", default="EUR")},
    "contact": {"min_days_between": Field("int", default=0, check=between(0, MAX_WINDOW_DAYS, "30")),
                "max_offers": Field("int", default=0, check=between(0, 1000, "3")),
                "period_days": Field("int", default=90, check=between(1, MAX_WINDOW_DAYS, "90")),
                "complaint_column": Field("str", default=""), "cooloff_days": Field("int", default=0, check=between(0, MAX_WINDOW_DAYS, "60"))},
    "readout": {"conversion_column": Field("str", default="converted"), "revenue_column": Field("str", default=""),
                "profit_column": Field("str", default=""), "clv_column": Field("str", default=""),
                "contact_cost": Field("number", default=0.0, check=non_negative("1.5")),
                "confidence": Field("number", default=0.95, check=in_open(0.5, 1, "0.95")),
                "meta_method": Field("str", default="dl", check=one_of("dl", "pm"))},
}
ARRAYS = {"exclude", "metrics", "guardrails"}
REQUIRED_SECTIONS = ("experiment",)


# --------------------------------------------------------------------------- validation


def check_table(label: str, where: str, table: Any, schema: Mapping[str, Field]) -> dict[str, Any]:
    """The table with every key type- and range-checked and every absent key set to its default.

    Raises :class:`SpecError` (one line) for an unknown key (with a "did you mean"), a missing
    required key, a value of the wrong type or out of range."""
    if not isinstance(table, dict):
        raise SpecError(f"{label}: [{where}] must be a table of key = value pairs")
    for key in table:
        if key not in schema:
            raise SpecError(f"{label}: unknown key [{where}] {key_name(key)}{suggest(key, schema)}")
    out: dict[str, Any] = {}
    for key, f in schema.items():
        if key not in table:
            if f.required:
                raise SpecError(f"{label}: [{where}] is missing required key '{key}'; add {key} = ...")
            out[key] = list(f.default) if isinstance(f.default, list) else f.default
            continue
        value = check_type(label, where, key, table[key], f.kind)
        if f.check is not None:
            fix = f.check(value)
            if fix:
                raise SpecError(f"{label}: [{where}] {key} = {show_value(value)} is out of range; {fix}")
        out[key] = value
    return out


def check_type(label: str, where: str, key: str, value: Any, kind: str) -> Any:
    bad = f"{label}: [{where}] {key} = {show_value(value)} "
    if kind == "str":
        if not isinstance(value, str):
            raise SpecError(bad + f'must be text; write {key} = "..."')
        return value
    if kind == "bool":
        if not isinstance(value, bool):
            raise SpecError(bad + f"must be true or false; write {key} = true")
        return value
    if kind == "int":
        if isinstance(value, bool) or not isinstance(value, int):
            raise SpecError(bad + f"must be a whole number; write e.g. {key} = 12")
        return value
    if kind == "number":
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise SpecError(bad + f"must be a finite number; write e.g. {key} = 0.05")
        return float(value)
    if kind == "str_list":
        if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
            raise SpecError(bad + f'must be a list of names; write {key} = ["a", "b"]')
        if len(set(value)) != len(value):
            raise SpecError(bad + "lists a name twice; list each name once")
        return list(value)
    if kind == "number_list":
        ok = isinstance(value, list) and all(not isinstance(v, bool) and isinstance(v, (int, float)) and math.isfinite(v)
                                             for v in value)
        if not ok:
            raise SpecError(bad + f"must be a list of numbers; write e.g. {key} = [0.5, 1.0]")
        return [float(v) for v in value]
    if kind == "scalar_or_list":
        ok = is_scalar(value) or (isinstance(value, list) and all(is_scalar(v) for v in value))
        if not ok:
            raise SpecError(bad + "must be a number, text, true/false or a list of those")
        return value
    if kind == "amounts":
        if not isinstance(value, dict) or not value:
            raise SpecError(bad + f"must be a table of name = number; write {key} = {{ offer = 5000 }}")
        for name, v in value.items():
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or v < 0:
                raise SpecError(f"{label}: [{where}] {key}.{key_name(name)} = {show_value(v)} must be a number of at least 0")
        return {str(k): float(v) for k, v in value.items()}
    if kind == "weights":
        if not isinstance(value, dict) or not value:
            raise SpecError(bad + 'must be a table of arm = weight; write arms = { control = 0.5, offer = 0.5 }')
        for arm, w in value.items():
            if isinstance(w, bool) or not isinstance(w, (int, float)) or not math.isfinite(w):
                raise SpecError(f"{label}: [{where}] arms.{key_name(arm)} = {show_value(w)} must be a number in (0, 1)")
            if not 0 < w < 1:
                raise SpecError(
                    f"{label}: [{where}] arms.{key_name(arm)} = {show_value(w)} is out of range; each weight must lie in (0, 1)"
                )
        return {str(k): float(v) for k, v in value.items()}
    raise AssertionError(kind)  # pragma: no cover


def suggest(word: str, options: Mapping[str, Any]) -> str:
    close = difflib.get_close_matches(word, list(options), n=1)
    if close:
        return f"; did you mean '{close[0]}'?"
    return "; remove it (known: " + ", ".join(options) + ")"


def key_name(key: str) -> str:
    """A key or section name for a one-line message: as written, or quoted if it holds line breaks or control characters."""
    return key if key and key.isprintable() and len(key) <= 60 else show_value(key)


def is_scalar(v: Any) -> bool:
    return isinstance(v, (str, int, float, bool))


def show_value(v: Any) -> str:
    s = repr(v)
    return s if len(s) <= 40 else s[:37] + "..."
