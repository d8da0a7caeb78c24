"""Load and validate an experiment spec (TOML).

A spec is data: it is parsed with :mod:`tomllib` and checked against the schema
below, and nothing in it is ever evaluated. Every error is a :class:`SpecError`
whose message is one line naming the file, the key and a fix, e.g.::

    experiments/x.toml: [design] alpha = 0.7 is out of range; use a number in (0, 0.5), e.g. 0.05

Unknown keys are errors, so a misspelt key never passes silently.

To add a key: add one entry to the section's schema in ``_SCHEMA`` (and, if it
needs a cross-field check, to :func:`_check_cross_fields`).
"""

from __future__ import annotations

import difflib
import hashlib
import math
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

__all__ = ["Spec", "SpecError", "load_spec", "parse_spec", "MetricSpec", "RuleSpec"]


from uplift.errors import SpecError  # noqa: E402  (re-exported: uplift.spec.SpecError)
from uplift.metrics.kinds import kind_names, metric_class  # noqa: E402


# --------------------------------------------------------------------------- schema

_OPS = ("==", "!=", ">", ">=", "<", "<=", "in", "not_in", "is_null", "not_null")


@dataclass(frozen=True)
class _Field:
    kind: str  # str, bool, int, number, str_list, weights, scalar, scalar_or_list
    required: bool = False
    default: Any = None
    check: Callable[[Any], str | None] | None = None  # returns the fix text if invalid


def _in_open(lo: float, hi: float, example: str) -> Callable[[Any], str | None]:
    return lambda v: None if lo < v < hi else f"use a number in ({lo:g}, {hi:g}), e.g. {example}"


def _positive(example: str) -> Callable[[Any], str | None]:
    return lambda v: None if v > 0 else f"use a number above 0, e.g. {example}"


def _non_negative(example: str) -> Callable[[Any], str | None]:
    return lambda v: None if v >= 0 else f"use a number of at least 0, e.g. {example}"


def _one_of(*options: str) -> Callable[[Any], str | None]:
    return lambda v: None if v in options else "use one of " + ", ".join(repr(o) for o in options)


def _non_empty(v: Any) -> str | None:
    return None if (v if not isinstance(v, str) else v.strip()) else "give a non-empty value"


def _metric_kind(v: Any) -> str | None:
    """A registered metric kind (:mod:`uplift.metrics.kinds`: proportion, mean, ratio and any added later)."""
    return _one_of(*kind_names())(v)


_SCHEMA: dict[str, dict[str, _Field]] = {
    "experiment": {
        "name": _Field("str", required=True, check=_non_empty),
        "unit": _Field("str", required=True, check=_non_empty),
        "hypothesis": _Field("str", default=""),
        "owner": _Field("str", default=""),
        "start_date": _Field("str", default=""),
        "end_date": _Field("str", default=""),
        "data_as_of": _Field("str", default=""),
        "currency": _Field("str", default="EUR"),
        "target_product": _Field("str", default=""),
    },
    "population": {
        "source": _Field("str", default=""),
        "outcomes": _Field("str", default=""),
        # how to read the files above (default: from the suffix); the rows are aggregated where they are
        "format": _Field("str", default="", check=_one_of("", "auto", "parquet", "csv")),
    },
    "exclude": {  # an array of tables: one rule each, applied in order
        "reason": _Field("str", required=True, check=_non_empty),
        "column": _Field("str", required=True, check=_non_empty),
        "op": _Field("str", required=True, check=_one_of(*_OPS)),
        "value": _Field("scalar_or_list"),
        "description": _Field("str", default=""),
    },
    "assignment": {
        "salt": _Field("str", required=True, check=_non_empty),
        "arms": _Field("weights", required=True),
        "control": _Field("str", required=True),
        "stratify": _Field("str_list", default=[]),
        "ledger": _Field("str", default=""),  # default --ledger path, resolved against the spec's folder
    },
    "design": {
        "alpha": _Field("number", default=0.05, check=_in_open(0, 0.5, "0.05")),
        "power": _Field("number", default=0.80, check=_in_open(0, 1, "0.8")),
        "mde_relative": _Field("number", default=None, check=_positive("0.1")),
        "mde_absolute": _Field("number", default=None, check=_positive("0.005")),
        "baseline_rate": _Field("number", default=None, check=_in_open(0, 1, "0.03")),
        "alternative": _Field("str", default="two-sided", check=_one_of("two-sided", "larger", "smaller")),
        "multiple_arms": _Field("str", default="bonferroni", check=_one_of("bonferroni", "none")),
        "weekly_inflow": _Field("int", default=None, check=_positive("5000")),
        "looks": _Field("int", default=1, check=_positive("1")),
        "current_look": _Field("int", default=None, check=_positive("1")),
        # assumed corr(metric, pre-period covariate) for CUPED when the population has no post-period column
        "cuped_rho": _Field("number", default=None, check=_in_open(-1, 1, "0.5")),
    },
    "metrics": {  # an array of tables
        "name": _Field("str", required=True, check=_non_empty),
        "kind": _Field("str", required=True, check=_metric_kind),
        "column": _Field("str", required=True, check=_non_empty),
        "denominator": _Field("str", default=""),
        "covariate": _Field("str", default=""),
        "denominator_covariate": _Field("str", default=""),
        "primary": _Field("bool", default=False),
        "description": _Field("str", default=""),
        "unit": _Field("str", default="", check=_one_of("", "currency", "count")),
    },
    "guardrails": {  # an array of tables
        "name": _Field("str", required=True, check=_non_empty),
        "kind": _Field("str", required=True, check=_metric_kind),
        "column": _Field("str", required=True, check=_non_empty),
        "denominator": _Field("str", default=""),
        "bad_direction": _Field("str", default="increase", check=_one_of("increase", "decrease")),
        "margin": _Field("number", default=None, check=_non_negative("0.002")),
        "description": _Field("str", default=""),
    },
    "funnel": {
        "stages": _Field("str_list", required=True),
    },
    "economics": {
        "margin_column": _Field("str", default=""),
        "revenue_column": _Field("str", default=""),
        "cannibalised_column": _Field("str", default=""),
        "cost_to_serve_column": _Field("str", default=""),
        "conversion_column": _Field("str", default=""),
        "contact_cost": _Field("number", default=0.0, check=_non_negative("1.5")),
        "incentive_cost": _Field("number", default=0.0, check=_non_negative("20")),
        "eligible_population": _Field("int", default=None, check=_positive("250000")),
    },
    "clv": {
        "tenure_column": _Field("str", required=True, check=_non_empty),
        "churned_column": _Field("str", required=True, check=_non_empty),
        "margin_per_period_column": _Field("str", default=""),
        "horizon_periods": _Field("int", default=60, check=_positive("60")),
        "periods_per_year": _Field("int", default=12, check=_positive("12")),
        "annual_discount_rate": _Field("number", default=0.08, check=_in_open(-1, 10, "0.08")),
        "extrapolation": _Field("str", default="auto", check=_one_of("auto", "sbg", "weibull", "none")),
        "margin_timing": _Field("str", default="end", check=_one_of("end", "start")),
        "products_column": _Field("str", default=""),
        "n_bootstrap": _Field("int", default=0, check=_non_negative("200")),  # bootstrap check of the CLV interval
    },
    "analysis": {
        "arm_column": _Field("str", default=""),
        "control": _Field("str", default=""),
        "segments": _Field("str_list", default=[]),
        "min_cell_size": _Field("int", default=50, check=_positive("50")),
        "max_unmatched_share": _Field("number", default=0.01, check=_non_negative("0.01")),
        "covariates": _Field("str_list", default=[]),
        "confidence": _Field("number", default=0.95, check=_in_open(0.5, 1, "0.95")),
        "weights": _Field("weights", default=None),  # designed arm weights for the SRM check
    },
    "targeting": {
        "features": _Field("str_list", default=[]),
        "outcome": _Field("str", default=""),
        "value_column": _Field("str", default=""),
        "model": _Field("str", default="auto"),
        "holdout_share": _Field("number", default=0.3, check=_in_open(0, 1, "0.3")),
        "max_customers": _Field("int", default=200_000, check=_positive("200000")),
        "seed": _Field("int", default=0),
        "value_per_conversion": _Field("number", default=None, check=_non_negative("250")),
        # what one conversion is worth: 12-month net margin from [economics], or incremental CLV from [clv]
        "value": _Field("str", default="margin", check=_one_of("margin", "clv")),
        "n_bootstrap": _Field("int", default=200, check=_positive("200")),
    },
}

_ARRAYS = {"exclude", "metrics", "guardrails"}
_REQUIRED_SECTIONS = ("experiment",)


# --------------------------------------------------------------------------- result types


@dataclass(frozen=True)
class RuleSpec:
    """One exclusion rule: customers where ``column op value`` holds are excluded with ``reason``."""

    reason: str
    column: str
    op: str
    value: Any = None
    description: str = ""


@dataclass(frozen=True)
class MetricSpec:
    """One metric or guardrail. ``kind`` names a registered metric kind (:mod:`uplift.metrics.kinds`):
    proportion, mean or ratio (``column / denominator``), or one added later."""

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


@dataclass(frozen=True)
class Spec:
    """A validated experiment spec. Sections absent from the file are empty dicts/lists.

    ``sections`` holds every section with defaults filled in; the typed attributes
    below are the ones most code reads.
    """

    path: Path | None
    name: str
    unit: str
    sections: Mapping[str, Any]
    exclusions: tuple[RuleSpec, ...]
    metrics: tuple[MetricSpec, ...]
    guardrails: tuple[MetricSpec, ...]
    arms: Mapping[str, float] = field(default_factory=dict)
    control: str = ""
    sha256: str = ""

    def section(self, name: str) -> dict[str, Any]:
        """The named section with defaults filled in (``{}`` when absent)."""
        value = self.sections.get(name)
        return dict(value) if isinstance(value, Mapping) else {}

    def has(self, name: str) -> bool:
        """True if the spec file contains the section."""
        return name in self.sections

    @property
    def label(self) -> str:
        """The file name used in error messages."""
        return str(self.path) if self.path else "<spec>"

    def resolve(self, relative: str) -> Path:
        """A path from the spec, resolved against the spec's folder (not the working directory)."""
        p = Path(relative).expanduser()
        if p.is_absolute() or self.path is None:
            return p
        return (self.path.parent / p).resolve()

    def input_path(self, given: str | Path | None, section: str, key: str) -> Path | None:
        """A file named on the command line (``given``, as is) or else by ``[section] key`` in the spec
        (resolved against the spec's folder); None when neither names one."""
        if given:
            return Path(given)
        value = self.section(section).get(key)
        return self.resolve(value) if value else None

    @property
    def arm_column(self) -> str:
        """The column holding arms in outcomes: ``[analysis] arm_column`` or ``arm``."""
        return self.section("analysis").get("arm_column") or "arm"

    @property
    def control_arm(self) -> str:
        """The control arm: ``[analysis] control`` if set, else ``[assignment] control``."""
        return self.section("analysis").get("control") or self.control


# --------------------------------------------------------------------------- loading


def load_spec(path: str | Path) -> Spec:
    """Read and validate a TOML spec file. Raises :class:`SpecError` with a one-line message."""
    p = Path(path)
    label = str(path)
    if not p.exists():
        raise SpecError(f"{label}: spec file not found; check the path")
    if p.is_dir():
        raise SpecError(f"{label}: is a directory, not a spec file; give the path of a .toml file")
    try:
        raw = p.read_bytes()
    except OSError as exc:
        raise SpecError(f"{label}: cannot be read ({exc.strerror}); check its permissions") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise SpecError(f"{label}: is not UTF-8 text; save the spec as UTF-8 TOML") from None
    return parse_spec(text, path=p, label=label)


def parse_spec(text: str, path: Path | None = None, label: str = "<spec>") -> Spec:
    """Validate a spec given as TOML text. ``label`` names the file in error messages."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        msg = str(exc).splitlines()[0] if str(exc) else "syntax error"
        raise SpecError(f"{label}: is not valid TOML ({msg}); fix the syntax at that line") from None
    if not isinstance(data, dict):  # pragma: no cover - tomllib always returns a dict
        raise SpecError(f"{label}: is not a TOML table")

    for section in data:
        if section not in _SCHEMA:
            raise SpecError(f"{label}: unknown section [{_name(section)}]{_suggest(section, _SCHEMA)}")
    for section in _REQUIRED_SECTIONS:
        if section not in data:
            raise SpecError(f"{label}: missing section [{section}]; add it with at least name and unit")

    sections: dict[str, Any] = {}
    for section, value in data.items():
        schema = _SCHEMA[section]
        if section in _ARRAYS:
            if isinstance(value, dict):
                raise SpecError(f"{label}: [{section}] must be an array of tables; write [[{section}]] instead of [{section}]")
            if not isinstance(value, list):
                raise SpecError(f"{label}: {section} must be an array of tables; write [[{section}]] blocks")
            sections[section] = [
                _check_table(label, f"{section}[{i}]", item, schema) for i, item in enumerate(value)
            ]
        else:
            if not isinstance(value, dict):
                raise SpecError(f"{label}: {section} must be a table; write it as a [{section}] section")
            sections[section] = _check_table(label, section, value, schema)

    _check_cross_fields(label, sections)
    return _build(sections, path, text)


def _check_table(label: str, where: str, table: Any, schema: Mapping[str, _Field]) -> dict[str, Any]:
    if not isinstance(table, dict):
        raise SpecError(f"{label}: [{where}] must be a table of key = value pairs")
    for key in table:
        if key not in schema:
            raise SpecError(f"{label}: unknown key [{where}] {_name(key)}{_suggest(key, schema)}")
    out: dict[str, Any] = {}
    for key, f in schema.items():
        if key not in table:
            if f.required:
                raise SpecError(f"{label}: [{where}] is missing required key '{key}'; add {key} = ...")
            out[key] = list(f.default) if isinstance(f.default, list) else f.default
            continue
        value = _check_type(label, where, key, table[key], f.kind)
        if f.check is not None:
            fix = f.check(value)
            if fix:
                raise SpecError(f"{label}: [{where}] {key} = {_show(value)} is out of range; {fix}")
        out[key] = value
    return out


def _check_type(label: str, where: str, key: str, value: Any, kind: str) -> Any:
    bad = f"{label}: [{where}] {key} = {_show(value)} "
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
    if kind == "scalar_or_list":
        ok = _is_scalar(value) or (isinstance(value, list) and all(_is_scalar(v) for v in value))
        if not ok:
            raise SpecError(bad + "must be a number, text, true/false or a list of those")
        return value
    if kind == "weights":
        if not isinstance(value, dict) or not value:
            raise SpecError(bad + 'must be a table of arm = weight; write arms = { control = 0.5, offer = 0.5 }')
        for arm, w in value.items():
            if isinstance(w, bool) or not isinstance(w, (int, float)) or not math.isfinite(w):
                raise SpecError(f"{label}: [{where}] arms.{_name(arm)} = {_show(w)} must be a number in (0, 1)")
            if not 0 < w < 1:
                raise SpecError(
                    f"{label}: [{where}] arms.{_name(arm)} = {_show(w)} is out of range; each weight must lie in (0, 1)"
                )
        return {str(k): float(v) for k, v in value.items()}
    raise AssertionError(kind)  # pragma: no cover


def _check_cross_fields(label: str, s: dict[str, Any]) -> None:
    exp = s["experiment"]
    a = s.get("assignment")
    if a is not None:
        arms = a["arms"]
        if len(arms) < 2:
            raise SpecError(f"{label}: [assignment] arms has {len(arms)} arm; give a control and at least one offer arm")
        total = sum(arms.values())
        if abs(total - 1.0) > 1e-9:
            raise SpecError(f"{label}: [assignment] arms weights sum to {total:g}, not 1; make them add up to 1")
        if a["control"] not in arms:
            raise SpecError(
                f"{label}: [assignment] control = {a['control']!r} is not one of the arms "
                f"({', '.join(_name(x) for x in arms)}); name one of them"
            )
    an = s.get("analysis", {})
    if an and bool(an.get("arm_column")) != bool(an.get("control")):
        raise SpecError(f"{label}: [analysis] needs both arm_column and control, or neither; add the missing one")
    if an and an.get("weights") is not None:
        w = an["weights"]
        if abs(sum(w.values()) - 1.0) > 1e-9:
            raise SpecError(f"{label}: [analysis] weights sum to {sum(w.values()):g}, not 1; make them add up to 1")
        if an.get("control") and an["control"] not in w:
            raise SpecError(f"{label}: [analysis] weights has no entry for control {an['control']!r}; add it")
    if a is None and not an.get("control"):
        raise SpecError(
            f"{label}: no arms defined; add an [assignment] section, or [analysis] arm_column and control"
        )
    for i, rule in enumerate(s.get("exclude", [])):
        op, value = rule["op"], rule["value"]
        where = f"exclude[{i}]"
        if op in ("is_null", "not_null"):
            if value is not None:
                raise SpecError(f"{label}: [{where}] op = {op!r} takes no value; remove value")
        elif value is None:
            raise SpecError(f"{label}: [{where}] op = {op!r} needs a value; add value = ...")
        elif op in ("in", "not_in") and not isinstance(value, list):
            raise SpecError(f"{label}: [{where}] op = {op!r} needs a list; write value = [..]")
        elif op in (">", ">=", "<", "<=") and (isinstance(value, (bool, list, str))):
            raise SpecError(f"{label}: [{where}] op = {op!r} needs a number; write value = 30")
        elif op in ("==", "!=") and isinstance(value, list):
            raise SpecError(f"{label}: [{where}] op = {op!r} takes one value; use op = \"in\" for a list")
    seen: set[str] = set()
    for section in ("metrics", "guardrails"):
        for i, m in enumerate(s.get(section, [])):
            where = f"{section}[{i}]"
            if m["name"] in seen:
                raise SpecError(f"{label}: [{where}] name = {m['name']!r} is used twice; give each metric its own name")
            seen.add(m["name"])
            takes_denominator = metric_class(m["kind"]).takes_denominator
            if takes_denominator and not m["denominator"]:
                raise SpecError(f"{label}: [{where}] kind = {m['kind']!r} needs a denominator; add denominator = \"...\"")
            if not takes_denominator and m["denominator"]:
                with_den = " or ".join(repr(k) for k in kind_names() if metric_class(k).takes_denominator)
                raise SpecError(f"{label}: [{where}] denominator is only for kind = {with_den}; remove it or change kind")
    if "metrics" in s and s["metrics"] and not any(m["primary"] for m in s["metrics"]):
        raise SpecError(f"{label}: [[metrics]] has no primary metric; set primary = true on one of them")
    f = s.get("funnel")
    if f is not None and len(f["stages"]) < 2:
        raise SpecError(f"{label}: [funnel] stages needs at least two stages, e.g. [\"seen\", \"accepted\"]")
    c = s.get("clv")
    if c is not None and c["annual_discount_rate"] <= -1:  # pragma: no cover - range check catches it
        raise SpecError(f"{label}: [clv] annual_discount_rate must be above -1")
    d = s.get("design", {})
    if d and d.get("current_look") and d["current_look"] > d["looks"]:
        raise SpecError(f"{label}: [design] current_look = {d['current_look']} exceeds looks = {d['looks']}; raise looks")
    if d and d.get("mde_relative") is not None and d.get("mde_absolute") is not None:
        raise SpecError(f"{label}: [design] give mde_relative or mde_absolute, not both; remove one")
    if not exp["name"].replace("-", "").replace("_", "").replace(".", "").isalnum():
        raise SpecError(
            f"{label}: [experiment] name = {exp['name']!r} may hold only letters, digits, '-', '_' and '.'; "
            "it names the report folder"
        )


def _build(sections: dict[str, Any], path: Path | None, text: str) -> Spec:
    exp = sections["experiment"]
    a = sections.get("assignment") or {}
    rules = tuple(RuleSpec(**r) for r in sections.get("exclude", []))
    metrics = tuple(
        MetricSpec(
            name=m["name"], kind=m["kind"], column=m["column"], denominator=m["denominator"],
            covariate=m["covariate"], denominator_covariate=m["denominator_covariate"],
            primary=m["primary"], description=m["description"], unit=m["unit"],
        )
        for m in sections.get("metrics", [])
    )
    guardrails = tuple(
        MetricSpec(
            name=g["name"], kind=g["kind"], column=g["column"], denominator=g["denominator"],
            description=g["description"], bad_direction=g["bad_direction"], margin=g["margin"],
            is_guardrail=True,
        )
        for g in sections.get("guardrails", [])
    )
    return Spec(
        path=path,
        name=exp["name"],
        unit=exp["unit"],
        sections=sections,
        exclusions=rules,
        metrics=metrics,
        guardrails=guardrails,
        arms=dict(a.get("arms", {})),
        control=a.get("control", ""),
        sha256=hashlib.sha256(text.encode("utf-8")).hexdigest(),
    )


def _suggest(word: str, options: Mapping[str, Any]) -> str:
    close = difflib.get_close_matches(word, list(options), n=1)
    if close:
        return f"; did you mean '{close[0]}'?"
    return "; remove it (known: " + ", ".join(options) + ")"


def _name(key: str) -> str:
    """A key or section name for a one-line message: as written, or quoted if it holds line breaks or control characters."""
    return key if key and key.isprintable() and len(key) <= 60 else _show(key)


def _is_scalar(v: Any) -> bool:
    return isinstance(v, (str, int, float, bool))


def _show(v: Any) -> str:
    s = repr(v)
    return s if len(s) <= 40 else s[:37] + "..."
