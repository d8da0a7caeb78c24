"""Segment and covariate columns from the population: joined by unit onto the outcomes.

``[analysis] segments``, ``[analysis] covariates`` and ``[fairness] group_columns`` name columns that are often known before the
test (a customer's segment, age band, balance) and so live in the population file rather than in the
outcomes. A column the outcomes lack is taken from the population when the readout is given one:
the population's ``[experiment] unit`` column and the named columns are LEFT JOINed onto the outcomes
by unit (:meth:`uplift.data.source.Source.join_columns`, on the outcomes' own backend: in memory for
pandas, in the embedded database for DuckDB), so the analysis runs on the joined table exactly as if
the outcomes had held the columns. A column the outcomes hold is read from the outcomes (they win).

Checked before anything is written, with the same one-line messages on every backend (the checks look
at the column names and the in-memory population only):

* a column in neither file: ``segment column 'x' ([analysis] segments) is in neither the outcomes (A)
  nor the population (B); ...``;
* a population without the unit column, or with a unit id twice (a join would double outcome rows).

An outcome unit absent from the population gets no value there, and the usual check of a segment
column with missing values names it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from uplift.errors import DataError

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["join_population_columns", "population_columns"]


def _wanted(spec: Any) -> list[tuple[str, str]]:
    """(column, where it is named) for every segment, covariate and Consumer Duty group column, in spec order, once each."""
    a = spec.analysis
    named = [(c, "segment column", "[analysis] segments") for c in a.segments]
    named += [(c, "covariate column", "[analysis] covariates") for c in a.covariates]
    if getattr(spec, "fairness", None) is not None:
        named += [(c, "group column", "[fairness] group_columns") for c in spec.fairness.group_columns]
    seen: dict[str, tuple[str, str]] = {}
    for c, noun, where in named:
        seen.setdefault(c, (noun, where))
    return [(c, f"{noun} '{c}' ({where})") for c, (noun, where) in seen.items()]


def _name(label: str | None, manifest: Mapping[str, Any] | None, role: str) -> str:
    """A file's name for a message: the manifest's entry for ``role``, else the label's file name."""
    for f in (manifest or {}).get("files") or []:
        if f.get("role") == role:
            return str(f.get("name"))
    return Path(label).name if label else role


def population_columns(spec: Any, columns: Sequence[str], population: pd.DataFrame | None, outcomes_label: str | None,
                       manifest: Mapping[str, Any] | None = None) -> list[str]:
    """The segment and covariate columns to take from the population (the outcomes' ``columns`` lack them);
    raises the one-line :class:`DataError` of the module docstring. [] without a population."""
    if population is None:
        return []
    have = set(columns)
    missing = [(c, what) for c, what in _wanted(spec) if c not in have]
    if not missing:
        return []
    out_name, pop_name = _name(outcomes_label, manifest, "outcomes"), _name(None, manifest, "population")
    for c, what in missing:
        if c not in population.columns:
            raise DataError(f"{what} is in neither the outcomes ({out_name}) nor the population ({pop_name}); add it "
                            f"to one of them or remove it from the spec")
    unit = spec.unit
    if unit not in population.columns:
        raise DataError(f"{pop_name}: has no unit column '{unit}' to join {missing[0][1]} onto the outcomes by unit; "
                        "add the column or put the segment in the outcomes")
    ids = population[unit]
    dup = int(ids[ids.notna()].duplicated().sum())
    if dup:
        raise DataError(f"{pop_name}: {dup} duplicate ids in unit column '{unit}', so segment and covariate columns "
                        "cannot be joined by unit; keep one row per unit")
    return [c for c, _ in missing]


def join_population_columns(spec: Any, source: Any, population: pd.DataFrame | None,
                            manifest: Mapping[str, Any] | None = None) -> Any:
    """``source`` with the population's segment and covariate columns it lacks LEFT JOINed by unit
    (:func:`population_columns` first checks them)."""
    take = population_columns(spec, source.columns, population, source.label, manifest)
    if not take:
        return source
    from uplift.data.source import open_source

    extra = open_source(population[[spec.unit, *take]], beside=source, label="population")
    return source.join_columns(extra, spec.unit, take)
