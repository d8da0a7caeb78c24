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

import platform
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Mapping

import pandas as pd

from uplift.errors import DataError
from uplift.metrics.analyse import analyse_metrics
from uplift.experiment.precision import precision_achieved
from uplift.results import SCHEMA_VERSION, jsonable
from uplift.spec import Spec

if TYPE_CHECKING:  # the result types, for annotations only (clv and targeting are heavy imports)
    from uplift.clv.analyse import CLVResult
    from uplift.experiment.assign import Eligibility
    from uplift.experiment.checks import BalanceResult, SRMResult
    from uplift.experiment.precision import PrecisionResult
    from uplift.metrics.analyse import MetricsResult
    from uplift.targeting.analyse import TargetingResult

__all__ = ["Analysis", "analyse", "prepare_outcomes"]


@dataclass(frozen=True)
class Analysis:
    """Everything a readout shows, as typed result objects; :meth:`to_results` is results.json.

    Each part keeps its own typed values (NaN where a number is undefined) and has a
    ``to_dict()``. The notebook draws the charts from these objects and the tables from
    :meth:`to_results`, so the page and results.json show the same numbers.
    """

    spec: Spec
    provenance: Mapping[str, Any]
    arms: Mapping[str, int]
    control: str
    srm: SRMResult
    balance: BalanceResult | None = None
    eligibility: Eligibility | None = None
    metrics: MetricsResult | None = None
    clv: CLVResult | None = None
    targeting: TargetingResult | None = None
    precision: PrecisionResult | None = None
    notes: tuple[str, ...] = field(default_factory=tuple)

    def to_results(self) -> dict[str, Any]:
        """The ``results.json`` object (DESIGN.md "Contracts"): JSON values, aggregates only.

        Assembled from the parts' ``to_dict()`` and converted once by
        :func:`uplift.results.jsonable` (an undefined number becomes None, i.e. null). It
        follows the JSON Schema ``uplift/results.schema.json`` and names its version in
        ``schema_version``.
        """
        m = self.metrics.to_dict() if self.metrics is not None else {}
        results: dict[str, Any] = jsonable({
            "schema_version": SCHEMA_VERSION,
            "experiment": self.spec.name,
            "toolkit_version": self.provenance.get("toolkit_version"),
            "spec_sha256": self.provenance.get("spec_sha256"),
            "data_sha256": self.provenance.get("data_sha256"),
            "provenance": self.provenance,
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
            "notes": self.notes,
        })
        units = {m.name: m.unit for m in (*self.spec.metrics, *self.spec.guardrails)}
        for row in (*results["metrics"], *results["guardrails"]):
            row["unit"] = units.get(row.get("metric"), "")
        return results


def prepare_outcomes(
    spec: Spec,
    outcomes: pd.DataFrame,
    ledger: pd.DataFrame | None = None,
    label: str = "outcomes",
) -> tuple[pd.DataFrame, str, list[str]]:
    """Attach arms to outcomes and validate them. Returns (frame, arm column, notes).

    Arms come from ``[analysis] arm_column`` when the spec names one (an experiment
    randomised elsewhere), else from the ledger joined on the unit column, else
    from an ``arm`` column in the outcomes. Outcomes for units missing from the
    ledger are counted and dropped, and refused above ``[analysis] max_unmatched_share``.
    """
    notes: list[str] = []
    unit = spec.unit
    analysis = spec.section("analysis")
    if analysis.get("arm_column"):
        arm_col = analysis["arm_column"]
        if arm_col not in outcomes.columns:
            raise DataError(f"{label}: no column '{arm_col}' ([analysis] arm_column); name the column that holds the arms")
        frame = outcomes
    elif ledger is not None:
        for name, df in (("ledger", ledger), (label, outcomes)):
            if unit not in df.columns:
                raise DataError(f"{name}: no unit column '{unit}' ([experiment] unit); add it or fix the spec")
        if "arm" not in ledger.columns:
            raise DataError("ledger: no 'arm' column; give a ledger written by `uplift assign`")
        if "experiment" in ledger.columns:
            other = set(map(str, ledger["experiment"].unique())) - {spec.name}
            if other:
                raise DataError(
                    f"ledger: belongs to experiment {sorted(other)[0]!r}, not {spec.name!r}; give this experiment's ledger"
                )
        if ledger[unit].duplicated().any():
            raise DataError(f"ledger: unit column '{unit}' has duplicate ids; a unit must be in one arm only")
        if outcomes[unit].duplicated().any():
            n_dup = int(outcomes[unit].duplicated().sum())
            raise DataError(f"{label}: {n_dup} duplicate ids in '{unit}'; give one outcome row per unit")
        arm_col = "arm"
        base = outcomes.drop(columns=[c for c in ("arm",) if c in outcomes.columns])
        frame = base.merge(ledger[[unit, "arm"]], on=unit, how="left", validate="one_to_one")
        unmatched = int(frame["arm"].isna().sum())
        if unmatched:
            share = unmatched / max(len(frame), 1)
            limit = float(analysis.get("max_unmatched_share", 0.01))
            if share > limit:
                raise DataError(
                    f"{label}: {unmatched} of {len(frame)} units ({share:.1%}) are not in the ledger, above "
                    f"[analysis] max_unmatched_share = {limit:g}; check that outcomes and ledger belong together"
                )
            notes.append(f"{unmatched} outcome rows for units not in the ledger were left out (counted, not analysed).")
            frame = frame[frame["arm"].notna()]
    elif "arm" in outcomes.columns:
        arm_col = "arm"
        frame = outcomes
    else:
        raise DataError(
            f"{label}: no arms: give --ledger, an 'arm' column, or [analysis] arm_column in the spec"
        )
    if frame[arm_col].isna().any():
        raise DataError(f"{label}: column '{arm_col}' has {int(frame[arm_col].isna().sum())} missing arms; fill or drop them")
    frame = frame.copy()
    frame[arm_col] = frame[arm_col].astype(str)
    control = spec.control_arm
    arms = sorted(frame[arm_col].unique())
    if control not in arms:
        raise DataError(f"{label}: control arm {control!r} has no units in column '{arm_col}'; check the control name")
    if len(arms) < 2:
        raise DataError(f"{label}: only one arm ({arms[0]!r}) in column '{arm_col}'; an experiment needs a control and an offer arm")
    for a in spec.arms:
        if a not in arms:
            raise DataError(f"{label}: arm {a!r} of the spec has no units; check the ledger and outcomes")
    return frame, arm_col, notes


def analyse(
    spec: Spec,
    outcomes: Any,
    ledger: Any = None,
    population: pd.DataFrame | None = None,
    data_sha256: str = "",
    label: str = "outcomes",
) -> Analysis:
    """Run every part of the readout. See the module docstring.

    ``outcomes`` is a pandas DataFrame, or (the engine path) a Parquet/CSV file or folder
    read through DuckDB, an Ibis table or a Spark DataFrame: then the metrics, SRM and
    life tables are one aggregation query each in the engine and no outcome row reaches
    pandas; the row-level parts (covariate balance, targeting) are left out with a note.
    """
    from uplift import __version__
    from uplift.experiment.assign import apply_exclusions
    from uplift.experiment.checks import covariate_balance, sample_ratio_mismatch

    control = spec.control_arm
    in_memory = isinstance(outcomes, pd.DataFrame)
    if in_memory:
        frame, arm_col, notes = prepare_outcomes(spec, outcomes, ledger, label=label)
        metrics = analyse_metrics(spec, frame, arm_col, control)
    else:
        from uplift.data.engine import prepare_source
        from uplift.metrics.analyse import analyse_source

        source, arm_col, notes = prepare_source(spec, outcomes, ledger, label=label)
        notes = list(notes)
        metrics = analyse_source(spec, source, arm_col, control)
    arms = {str(a): int(m.n) for a, m in sorted(metrics.arm_statistics.items())}

    weights = spec.section("analysis").get("weights") or dict(spec.arms) or {a: 1 / len(arms) for a in arms}
    srm = sample_ratio_mismatch(arms, weights)

    balance = None
    covariates = list(spec.section("analysis").get("covariates", []))
    if covariates and not in_memory:
        notes.append("Covariate balance is row-level work: run the readout in memory (--engine pandas) or `uplift check`.")
    elif covariates:
        source_frame = frame
        missing = [c for c in covariates if c not in frame.columns]
        if missing and population is not None and spec.unit in population.columns:
            source_frame = frame[[spec.unit, arm_col]].merge(population[[spec.unit, *missing]], on=spec.unit, how="left")
            source_frame = source_frame.join(frame[[c for c in covariates if c in frame.columns]].reset_index(drop=True))
        present = [c for c in covariates if c in source_frame.columns]
        if present:
            balance = covariate_balance(source_frame, arm_col, control, present)

    eligibility = None
    if population is not None and spec.exclusions:
        eligibility = apply_exclusions(spec, population)

    clv = None
    if spec.has("clv"):
        if in_memory:
            from uplift.clv.analyse import clv_analysis

            clv = clv_analysis(spec, frame, arm_col, control)
        else:
            from uplift.data.engine import clv_from_source

            clv = clv_from_source(spec, source, arm_col, control)

    targeting = None
    if spec.has("targeting") and population is not None:
        if in_memory:
            from uplift.targeting.analyse import targeting_analysis

            targeting = targeting_analysis(spec, population, frame, arm_col, control)
        else:
            notes.append("Targeting fits models on customer rows: run `uplift target`, or the readout in memory (--engine pandas).")

    precision = precision_achieved(spec, metrics.to_dict()["metrics"])

    provenance = {
        "experiment": spec.name,
        "hypothesis": spec.section("experiment").get("hypothesis", ""),
        "unit": spec.unit,
        "start_date": spec.section("experiment").get("start_date", ""),
        "end_date": spec.section("experiment").get("end_date", ""),
        "data_as_of": spec.section("experiment").get("data_as_of", ""),
        "currency": spec.section("experiment").get("currency", "EUR"),
        "spec_sha256": spec.sha256,
        "data_sha256": data_sha256,
        "toolkit_version": __version__,
        "python": platform.python_version(),
        "libraries": _library_versions(),
        "units_analysed": int(sum(arms.values())),
        "engine": "pandas (in memory)" if in_memory else f"{getattr(source, 'engine', 'engine')} (rows stay in the engine)",
    }
    return Analysis(
        spec=spec, provenance=provenance, arms=arms, control=control, srm=srm, balance=balance,
        eligibility=eligibility, metrics=metrics, clv=clv, targeting=targeting, precision=precision,
        notes=tuple(notes),
    )


def _library_versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    out = {}
    for name in ("numpy", "pandas", "scipy", "statsmodels", "scikit-learn", "scikit-uplift", "lifelines", "duckdb", "matplotlib"):
        try:
            out[name] = version(name)
        except PackageNotFoundError:  # pragma: no cover
            pass
    return out
