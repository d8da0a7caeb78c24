"""One experiment analysis: from a spec and outcome data to everything a readout shows.

:func:`analyse` joins outcomes to arms (from the outcomes' arm column or the
assignment ledger), runs the health checks (sample-ratio mismatch, covariate
balance, exclusion waterfall), the metric estimates, CLV and targeting where the
spec asks for them, and returns an :class:`Analysis` whose :meth:`Analysis.to_results`
is the ``results.json`` contract of DESIGN.md. The readout notebook and
``uplift readout --json-only`` both call it, so the HTML and the JSON always come
from one computation.
"""

from __future__ import annotations

import dataclasses
import functools
import platform
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Mapping

import pandas as pd

from uplift import __version__
from uplift.data.arms import attach_arms
from uplift.data.hashing import same_id_type
from uplift.data.source import Source, open_source
from uplift.experiment.assign import apply_exclusions
from uplift.experiment.checks import covariate_balance, sample_ratio_mismatch
from uplift.experiment.precision import precision_achieved
from uplift.metrics.analyse import analyse_metrics, arms_from_counts, conversion_column
from uplift.readout.design_check import design_check
from uplift.readout.population_columns import join_population_columns
from uplift.readout.look_history import readout_history
from uplift.readout.overlap import in_order
from uplift.results import SCHEMA_VERSION, jsonable
from uplift.spec import Spec
from uplift.spec.record import spec_assignment_config
from uplift.survival.conversion import ConversionTiming, conversion_timing, timed_metrics
from uplift.survival.stage_days import StageDays, stage_days
from uplift.text import Msg

if TYPE_CHECKING:  # the result types, for annotations only (clv and targeting are heavy imports)
    from uplift.clv.analyse import CLVResult
    from uplift.experiment.assign import Eligibility
    from uplift.experiment.checks import BalanceResult, SRMResult
    from uplift.experiment.precision import PrecisionResult
    from uplift.metrics.analyse import MetricsResult
    from uplift.targeting.analyse import TargetingResult
    from uplift.targeting.fairness import DutyResult

__all__ = ["Analysis", "analyse", "prepare_outcomes", "targeting_columns"]


@dataclass(frozen=True)
class Analysis:
    """Everything a readout shows, as typed result objects; :meth:`to_results` is results.json.

    Each part keeps its own typed values (NaN where a number is undefined) and has a
    ``to_dict()``. The notebook draws the charts from these objects and the tables from
    :meth:`to_results`, so the page and results.json show the same numbers.
    """

    spec: Spec
    provenance: Mapping[str, Any]
    manifest: Mapping[str, Any]
    arms: Mapping[str, int]
    control: str
    srm: SRMResult
    balance: BalanceResult | None = None
    eligibility: Eligibility | None = None
    metrics: MetricsResult | None = None
    clv: CLVResult | None = None
    targeting: TargetingResult | None = None
    precision: PrecisionResult | None = None
    timing: tuple[ConversionTiming, ...] = ()
    design: Mapping[str, Any] | None = None
    notes: tuple[str, ...] = field(default_factory=tuple)
    history: tuple[tuple[str, Mapping[str, Any]], ...] = ()  # earlier looks' results.json (--history), oldest first
    funnel_days: StageDays | None = None  # [funnel] days_columns: median days to each stage per arm
    consumer_duty: DutyResult | None = None  # [fairness]: outcomes by customer group and arm, harm flags

    def to_results(self, language: str | None = None) -> dict[str, Any]:
        """The ``results.json`` object (DESIGN.md "Contracts"): JSON values, aggregates only.

        ``language`` (default ``[experiment] language``) is the page's language, recorded in the
        ``language`` field; nothing else depends on it (texts stay English, translated on the page).

        Assembled from the parts' ``to_dict()`` and converted once by
        :func:`uplift.results.jsonable` (an undefined number becomes None, i.e. null). It
        follows the JSON Schema ``uplift/results.schema.json`` and names its version in
        ``schema_version``.
        """
        m = self.metrics.to_dict() if self.metrics is not None else {}
        results: dict[str, Any] = jsonable({
            "schema_version": SCHEMA_VERSION,
            "experiment": self.spec.name,
            "language": language or self.spec.experiment.language,
            "toolkit_version": self.provenance.get("toolkit_version"),
            "spec_sha256": self.provenance.get("spec_sha256"),
            "data_sha256": self.provenance.get("data_sha256"),
            "provenance": self.provenance,
            "manifest": self.manifest,
            "control": self.control,
            "arms": self.arms,
            "srm": self.srm,
            "balance": self.balance,
            "eligibility": self.eligibility,
            "metrics": m.get("metrics", []),
            "guardrails": m.get("guardrails", []),
            "decision": m.get("decision"),
            "funnel": m.get("funnel"),
            "segments": m.get("segments"),
            "roi": m.get("roi"),
            "catalogue": m.get("catalogue"),
            "sequential": m.get("sequential"),
            "sufficient_statistics": m.get("sufficient_statistics"),
            "precision": self.precision,
            "clv": self.clv,
            "targeting": self.targeting,
            "conversion_timing": [t.to_dict() for t in self.timing],
            "design": self.design,
            "funnel_days": self.funnel_days.to_dict() if self.funnel_days is not None else None,
            "consumer_duty": self.consumer_duty.to_dict() if self.consumer_duty is not None else None,
            "notes": [*self.notes, *m.get("notes", [])],  # reading the data, then the metrics (e.g. the funnel's order)
        })
        units = {m.name: m.unit for m in (*self.spec.metrics, *self.spec.guardrails)}
        for row in (*results["metrics"], *results["guardrails"]):
            row["unit"] = units.get(row.get("metric"), "")
        results["look_history"] = jsonable(readout_history(self.spec, self.history, results)) if self.history else None
        return results


def prepare_outcomes(
    spec: Spec,
    outcomes: Any,
    ledger: Any = None,
    label: str | None = None,
    engine: str | None = None,
) -> tuple[Source, str, list[str]]:
    """Open the outcomes, attach arms and check them. Returns (source, arm column, notes).

    ``outcomes`` is anything :func:`uplift.data.source.open_source` reads (``engine`` as there).
    Arms come from ``[analysis] arm_column`` when the spec names one (an experiment randomised
    elsewhere), else from the ledger joined on the unit column, else from an ``arm`` column of
    the outcomes (:func:`uplift.data.arms.attach_arms`: duplicate units refused, outcomes of units
    missing from the ledger counted and left out, refused above ``[analysis] max_unmatched_share``).
    Then every arm of the spec must have units and the control must be there
    (:func:`uplift.metrics.analyse.arms_from_counts`).
    """
    source = open_source(outcomes, label=label, engine=engine, text_columns=(spec.unit,))
    armed = attach_arms(source, unit=spec.unit, ledger=ledger, arm_column=spec.analysis.arm_column,
                        experiment=spec.name, max_unmatched_share=spec.analysis.max_unmatched_share,
                        assignment=spec_assignment_config(spec),
                        ledger_columns=("assigned_at",) if any(not m.followup_column for m in timed_metrics(spec.metrics)) else ())
    arms_from_counts(spec, armed.counts, armed.arm_column, spec.control_arm, source.label)
    return armed.source, armed.arm_column, list(armed.notes)


def analyse(
    spec: Spec,
    outcomes: Any,
    ledger: Any = None,
    population: pd.DataFrame | None = None,
    data_sha256: str = "",
    label: str | None = None,
    engine: str | None = None,
    manifest: Mapping[str, Any] | None = None,
    history: Any = (),
) -> Analysis:
    """Run every part of the readout. See the module docstring.

    ``manifest``: the inputs' manifest (:func:`uplift.readout.render.manifest_of`); its ``data_sha256``
    is used (``data_sha256`` only when there is no manifest, e.g. for frames passed in memory).
    ``history``: the earlier looks' ``(label, results)``, oldest first (``--history``); results.json's
    ``look_history`` then has this readout as the last look (:mod:`uplift.readout.look_history`).

    ``outcomes`` is anything :func:`uplift.data.source.open_source` reads: a DataFrame (in memory),
    a Parquet/CSV file or folder (read by the embedded DuckDB), an Ibis table or a Spark DataFrame,
    or a source (``engine`` overrides, as there). The metrics, balance and life tables are one
    aggregation each wherever the rows are; targeting (row-level: it fits models) reads the
    columns it needs, sorted by unit.
    """
    source, arm_col, notes = prepare_outcomes(spec, outcomes, ledger, label=label, engine=engine)
    source = join_population_columns(spec, source, population, manifest)  # segments/covariates by unit
    control = spec.control_arm
    metrics = analyse_metrics(spec, source, arm_col, control)
    arms = {str(a): int(m.n) for a, m in sorted(metrics.arm_statistics.items())}
    weights = dict(spec.analysed_arm_weights) or {a: 1 / len(arms) for a in arms}
    srm = sample_ratio_mismatch(arms, weights)
    balance = _balance(spec, source, arm_col, control, population)
    eligibility = apply_exclusions(spec, population) if population is not None and spec.exclusions else None
    panel = False
    if spec.fairness is not None:
        absent = [g for g in spec.fairness.group_columns if g not in source.columns]
        panel = not (absent and population is None)
        if not panel:  # the groups live in the population, which this readout was not given
            notes.append(Msg("Consumer Duty panel left out: group column '{column}' ([fairness] group_columns) is not in "
                             "the outcomes; give the readout the population to join it by unit", column=absent[0]))
    engine_parts = functools.partial(_engine_parts, spec, source, arm_col, control, panel)
    targeting = None
    if spec.targeting is not None and population is not None:
        order = spec.unit if spec.unit in source.columns else None
        rows = source.to_pandas(targeting_columns(spec, source.columns, arm_col), order_by=order)

        def target() -> Any:
            from uplift.targeting.analyse import targeting_analysis

            return targeting_analysis(spec, population, rows, arm_col, control, valuations=metrics.valuations)

        # targeting works on the rows in memory while the engine answers the life tables and the duty panel
        (clv, timing, funnel_days, duty), targeting = in_order(engine_parts, target, getattr(source, "interrupt", None))
    else:
        clv, timing, funnel_days, duty = engine_parts()
    if duty is not None:
        duty = _next_wave_groups(spec, duty, population, targeting)
    precision = precision_achieved(spec, metrics.to_dict()["metrics"])
    manifest = dict(manifest) if manifest is not None else _frame_manifest(spec, data_sha256)
    provenance = _provenance(spec, str(manifest.get("data_sha256") or ""), arms, source.description)
    manifest["libraries"] = provenance["libraries"]  # one set of versions, shown in both places
    manifest["python"] = provenance["python"]
    manifest["toolkit_version"] = provenance["toolkit_version"]
    return Analysis(
        spec=spec, provenance=provenance, manifest=manifest, arms=arms, control=control,
        srm=srm, balance=balance, eligibility=eligibility, metrics=metrics, clv=clv, targeting=targeting,
        precision=precision, timing=timing, design=design_check(spec, arms, ledger),
        notes=tuple(dict.fromkeys([*notes, *metrics.notes])),
        history=tuple((str(label), res) for label, res in history), funnel_days=funnel_days, consumer_duty=duty,
    )


def _engine_parts(spec: Spec, source: Source, arm_col: str, control: str,
                  panel: bool) -> tuple[CLVResult | None, tuple[ConversionTiming, ...], StageDays | None, DutyResult | None]:
    """The parts the engine answers from the test's rows, none needing targeting: CLV (``[clv]``), the
    conversion timing of timed metrics, the funnel's days between stages (``[funnel] days_columns``) and,
    with ``panel``, the ``[fairness]`` panel (:func:`uplift.targeting.fairness.duty_panel`)."""
    clv = None
    if spec.clv is not None:  # imported here: CLV and targeting bring optimisers and scikit-learn
        from uplift.clv.analyse import clv_analysis

        clv = clv_analysis(spec, source, arm_col, control)
    timing = tuple(conversion_timing(source, m, arm_col, control, spec.analysis.confidence,
                                     data_as_of=spec.experiment.data_as_of) for m in timed_metrics(spec.metrics))
    funnel = spec.funnel
    funnel_days = (stage_days(source, arm_col, funnel.stages, funnel.days_columns, funnel.followup_column,
                              spec.analysis.confidence) if funnel is not None and funnel.days_columns else None)
    duty = None
    if panel:
        from uplift.targeting.fairness import duty_panel

        f = spec.fairness
        duty = duty_panel(source, arm_col, control, f.group_columns, conversion_column(spec), f.harm_columns,
                          f.unsuitable_sale_columns, spec.analysis.confidence, label=source.label,
                          min_cell_size=spec.analysis.min_cell_size)
    return clv, timing, funnel_days, duty


def _next_wave_groups(spec: Spec, duty: DutyResult, population: pd.DataFrame | None, targeting: Any) -> DutyResult:
    """The Consumer Duty panel with the next wave's make-up by group against the eligible customers, when
    targeting ran on a population."""
    from uplift.targeting.fairness import composition

    if targeting is None or population is None or spec.unit not in population.columns:
        return duty
    f = spec.fairness
    wave = targeting.next_wave[[spec.unit, "selected"]]
    groups = [g for g in f.group_columns if g in population.columns]
    eligible = population[[spec.unit, *groups]]
    pop_ids, wave_ids = same_id_type(eligible[spec.unit], wave[spec.unit])  # whole-number ids in one file, text in another
    eligible = eligible.assign(**{spec.unit: pop_ids}).merge(wave.assign(**{spec.unit: wave_ids}), on=spec.unit, how="inner")
    return dataclasses.replace(duty, composition=composition(eligible, eligible["selected"].to_numpy(), groups))


def _balance(spec: Spec, source: Source, arm_col: str, control: str, population: pd.DataFrame | None) -> Any:
    """Covariate balance of ``[analysis] covariates``: from the outcomes, or joined from the population."""
    covariates = list(spec.analysis.covariates)
    if not covariates:
        return None
    missing = [c for c in covariates if c not in source.columns]
    from_pop = [c for c in missing if population is not None and c in population.columns]
    if from_pop and spec.unit in population.columns and spec.unit in source.columns:
        extra = open_source(population[[spec.unit, *from_pop]], beside=source, label="population")
        source = source.join_columns(extra, spec.unit, from_pop)
    present = [c for c in covariates if c in source.columns]
    return covariate_balance(source, arm_col, control, present) if present else None


def targeting_columns(spec: Spec, available: list[str], arm_column: str) -> list[str]:
    """The outcome columns targeting may read (unit, arm, outcome, features, value and economics
    columns, the [clv] columns), those present in ``available``, in its order."""
    wanted = {spec.unit, arm_column}
    if spec.targeting is not None:
        wanted |= {spec.targeting.outcome, spec.targeting.value_column, *spec.targeting.features}
    for settings in (spec.economics, spec.clv):
        if settings is not None:
            wanted |= {getattr(settings, f.name) for f in dataclasses.fields(settings) if f.name.endswith("_column")}
    wanted |= {m.column for m in (*spec.metrics, *spec.guardrails)}
    return [c for c in available if c in wanted]


def _frame_manifest(spec: Spec, data_sha256: str) -> dict[str, Any]:
    """The manifest when the outcomes came as frames, not files: no files to list; the spec file's hash."""
    from pathlib import Path

    from uplift.data.files import file_sha256

    p = Path(spec.path) if spec.path else None
    spec_file = ({"name": p.name, "bytes": int(p.stat().st_size), "sha256": file_sha256(p)}
                 if p is not None and p.is_file() else None)
    return {"files": [], "data_sha256": data_sha256, "spec": spec_file,
            "ledger_spec_sha256": [], "ledger_matches_spec": None,
            "check": "the outcomes were passed in memory: there are no files to check"}


def _provenance(spec: Spec, data_sha256: str, arms: Mapping[str, int], engine: str) -> dict[str, Any]:
    experiment = spec.experiment
    return {
        "experiment": spec.name,
        "hypothesis": experiment.hypothesis,
        "unit": spec.unit,
        "start_date": experiment.start_date,
        "end_date": experiment.end_date,
        "data_as_of": experiment.data_as_of,
        "currency": experiment.currency,
        "spec_sha256": spec.sha256,
        "data_sha256": data_sha256,
        "toolkit_version": __version__,
        "python": platform.python_version(),
        "libraries": _library_versions(),
        "units_analysed": int(sum(arms.values())),
        "engine": engine,
    }


def _library_versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    out = {}
    for name in ("numpy", "pandas", "scipy", "statsmodels", "scikit-learn", "scikit-uplift", "lifelines", "duckdb", "matplotlib"):
        try:
            out[name] = version(name)
        except PackageNotFoundError:  # pragma: no cover
            pass
    return out
