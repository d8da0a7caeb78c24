"""Load a spec: TOML text -> validated tables -> a :class:`Spec` with typed, frozen settings.

Every error is a :class:`~uplift.errors.SpecError` whose message is one line naming the
file, the key and a fix, e.g.::

    experiments/x.toml: [design] alpha = 0.7 is out of range; use a number in (0, 0.5), e.g. 0.05
"""

from __future__ import annotations

import hashlib
import sys
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any, Mapping

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

from uplift.errors import SpecError
from uplift.spec.cross import check_cross_fields
from uplift.spec.schema import ARRAYS, REQUIRED_SECTIONS, SCHEMA, check_table, key_name, suggest
from uplift.spec.settings import (
    SECTION_SETTINGS, AnalysisSettings, AssignmentSettings, CLVSettings, DesignSettings, EconomicsSettings,
    ExperimentSettings, FunnelSettings, MetricSpec, PopulationSettings, RuleSpec, TargetingSettings, FairnessSettings, settings_from,
)

__all__ = ["Spec", "load_spec", "parse_spec"]


@dataclass(frozen=True)
class Spec:
    """A validated experiment spec with typed, frozen settings per section.

    Read settings from the typed attributes (``spec.analysis.confidence``,
    ``spec.design.alpha``, ``spec.clv.horizon_periods``, ...): every default was filled
    in once, from :data:`uplift.spec.schema.SCHEMA`. Optional sections absent from the file
    are ``None`` (``assignment``, ``funnel``, ``economics``, ``clv``, ``targeting``);
    ``experiment``, ``population``, ``design`` and ``analysis`` are always there.
    """

    path: Path | None
    name: str
    unit: str
    exclusions: tuple[RuleSpec, ...]
    metrics: tuple[MetricSpec, ...]
    guardrails: tuple[MetricSpec, ...]
    experiment: ExperimentSettings
    population: PopulationSettings
    design: DesignSettings
    analysis: AnalysisSettings
    assignment: AssignmentSettings | None = None
    funnel: FunnelSettings | None = None
    economics: EconomicsSettings | None = None
    clv: CLVSettings | None = None
    targeting: TargetingSettings | None = None
    fairness: FairnessSettings | None = None
    present: frozenset[str] = frozenset()
    sha256: str = ""

    def has(self, name: str) -> bool:
        """True if the spec file contains the section ``[name]``."""
        return name in self.present

    @property
    def label(self) -> str:
        """The file name used in error messages."""
        return str(self.path) if self.path else "<spec>"

    @property
    def arms(self) -> Mapping[str, float]:
        """Designed arm weights (``[assignment] arms``; empty without an assignment)."""
        return self.assignment.arms if self.assignment else MappingProxyType({})

    @property
    def control(self) -> str:
        """``[assignment] control`` ("" without an assignment); see :attr:`control_arm`."""
        return self.assignment.control if self.assignment else ""

    @property
    def currency(self) -> str:
        """The currency of amounts (``[experiment] currency``)."""
        return self.experiment.currency

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
        settings = getattr(self, section, None)
        value = getattr(settings, key, "") if settings is not None else ""
        return self.resolve(value) if value else None

    @property
    def arm_column(self) -> str:
        """The column holding arms in outcomes: ``[analysis] arm_column`` or ``arm``."""
        return self.analysis.arm_column or "arm"

    @property
    def control_arm(self) -> str:
        """The control arm: ``[analysis] control`` if set, else ``[assignment] control``."""
        return self.analysis.control or self.control

    @property
    def analysed_arm_weights(self) -> Mapping[str, float]:
        """The weights the SRM check expects: ``[analysis] weights``, else ``[assignment] arms`` (maybe empty)."""
        return self.analysis.weights or self.arms


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
    """Validate a spec given as TOML text. ``label`` names the file in error messages.

    A spec nests at most a few levels (a table of arm weights); a value nested hundreds of levels
    deep exhausts the parser's recursion and is refused as a spec error, not a traceback."""
    try:
        return _parse(text, path, label)
    except RecursionError:
        raise SpecError(f"{label}: nests arrays or tables too deeply to read; a spec needs at most a few levels "
                        "(e.g. arms = { control = 0.5, offer = 0.5 }); flatten the nested values") from None


def _parse(text: str, path: Path | None, label: str) -> Spec:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        msg = str(exc).splitlines()[0] if str(exc) else "syntax error"
        raise SpecError(f"{label}: is not valid TOML ({msg}); fix the syntax at that line") from None
    if not isinstance(data, dict):  # pragma: no cover - tomllib always returns a dict
        raise SpecError(f"{label}: is not a TOML table")

    for section in data:
        if section not in SCHEMA:
            raise SpecError(f"{label}: unknown section [{key_name(section)}]{suggest(section, SCHEMA)}")
    for section in REQUIRED_SECTIONS:
        if section not in data:
            raise SpecError(f"{label}: missing section [{section}]; add it with at least name and unit")

    sections: dict[str, Any] = {}
    for section, value in data.items():
        schema = SCHEMA[section]
        if section in ARRAYS:
            if isinstance(value, dict):
                raise SpecError(f"{label}: [{section}] must be an array of tables; write [[{section}]] instead of [{section}]")
            if not isinstance(value, list):
                raise SpecError(f"{label}: {section} must be an array of tables; write [[{section}]] blocks")
            sections[section] = [
                check_table(label, f"{section}[{i}]", item, schema) for i, item in enumerate(value)
            ]
        else:
            if not isinstance(value, dict):
                raise SpecError(f"{label}: {section} must be a table; write it as a [{section}] section")
            sections[section] = check_table(label, section, value, schema)

    check_cross_fields(label, sections)
    return _build(sections, path, text)


def _build(sections: dict[str, Any], path: Path | None, text: str) -> Spec:
    rules = tuple(RuleSpec(**r) for r in sections.get("exclude", []))
    metrics = tuple(
        MetricSpec(
            name=m["name"], kind=m["kind"], column=m["column"], denominator=m["denominator"],
            covariate=m["covariate"], denominator_covariate=m["denominator_covariate"],
            primary=m["primary"], description=m["description"], unit=m["unit"],
            time_column=m["time_column"], followup_column=m["followup_column"],
            competing_time_column=m["competing_time_column"], window_days=m["window_days"],
        )
        for m in sections.get("metrics", [])
    )
    guardrails = tuple(
        MetricSpec(
            name=g["name"], kind=g["kind"], column=g["column"], denominator=g["denominator"],
            description=g["description"], bad_direction=g["bad_direction"], margin=g["margin"],
            is_guardrail=True, baseline=g["baseline"],
        )
        for g in sections.get("guardrails", [])
    )

    def typed(name: str, always: bool = False) -> Any:
        if name not in sections and not always:
            return None
        table = sections.get(name) or check_table("<defaults>", name, {}, SCHEMA[name])
        return settings_from(SECTION_SETTINGS[name], table)

    experiment = typed("experiment", always=True)
    return Spec(
        path=path,
        name=experiment.name,
        unit=experiment.unit,
        exclusions=rules,
        metrics=metrics,
        guardrails=guardrails,
        experiment=experiment,
        population=typed("population", always=True),
        design=typed("design", always=True),
        analysis=typed("analysis", always=True),
        assignment=typed("assignment"),
        funnel=typed("funnel"),
        economics=typed("economics"),
        clv=typed("clv"),
        targeting=typed("targeting"),
        fairness=typed("fairness"),
        present=frozenset(sections),
        sha256=hashlib.sha256(text.encode("utf-8")).hexdigest(),
    )
