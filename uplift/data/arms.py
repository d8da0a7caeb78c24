"""Attach arms to the outcome rows: from an arm column, or by joining the assignment ledger.

One implementation for both backends: the join runs where the rows are (pandas in memory, or
the engine's LEFT JOIN), and every check is a count the backend returns, validated by
:func:`uplift.data.facts.validate`:

* the outcomes have rows and no unit twice (a unit counted twice, or in two arms);
* the ledger has the unit and ``arm`` columns, belongs to this experiment, holds each unit
  once (a unit in one arm only), and was assigned under the spec's current assignment settings;
* at most :data:`~uplift.spec.schema.MAX_ARMS` arms;
* outcomes of units missing from the ledger are counted and left out, and refused above
  ``max_unmatched_share`` (they would bias the comparison if many).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from uplift.data.collect import group_counts, unit_facts
from uplift.data.facts import ARM, GROUP, Facts, GroupRole, Required, validate
from uplift.data.source import Source, open_source
from uplift.spec.record import check_recorded
from uplift.text import Msg

__all__ = ["Armed", "attach_arms", "prefetch_arms"]

ARM_COLUMN = GroupRole("arm column", " ([analysis] arm_column)", "name the column that holds the arms")
NO_ARMS = GroupRole("arm column", "", "give --ledger, an 'arm' column, or [analysis] arm_column in the spec")


@dataclass(frozen=True)
class Armed:
    """Outcome rows with their arms: the source (joined with the ledger if one was given), the arm
    column, the number of units per arm, and notes on what was left out."""

    source: Source
    arm_column: str
    counts: Mapping[Any, int]
    notes: tuple[str, ...] = ()


def attach_arms(source: Source, *, unit: str, ledger: Any = None, arm_column: str = "", experiment: str = "",
                max_unmatched_share: float = 0.01, assignment: str | None = None,
                ledger_columns: Sequence[str] = ()) -> Armed:
    """Arms for every outcome row. See the module docstring for the checks.

    Arms come from ``arm_column`` when given (an experiment randomised elsewhere), else from the
    ``ledger`` (a DataFrame, a Parquet/CSV path or a table of the same engine; opened beside the
    outcomes) joined on ``unit``, else from an ``arm`` column of the outcomes. ``experiment``
    names the experiment a ledger must belong to; ``assignment`` the ``assignment_config`` its rows
    must record (:func:`uplift.spec.record.check_recorded`: the spec's arms, weights, control, salt,
    strata and unit, unchanged since assignment); ``ledger_columns`` other ledger columns to join
    beside ``arm`` when they are there (e.g. ``assigned_at``). Raises :class:`~uplift.errors.DataError` (one line).
    """
    schema = source.schema()
    validate(unit_facts(source, unit))
    notes: list[str] = []
    if arm_column:
        return _few(Armed(source, arm_column, group_counts(source, arm_column, ARM_COLUMN), ()))
    if ledger is None:
        validate(Facts(source.label, schema=schema, groups=(("arm", NO_ARMS),)))
        return _few(Armed(source, "arm", group_counts(source, "arm", ARM), ()))
    led = open_source(ledger, beside=source, label=str(ledger) if isinstance(ledger, (str, Path)) else "ledger",
                      text_columns=(unit, "arm"))
    _check_ledger(led, unit, experiment)
    if assignment and "assignment_config" in led.schema():
        check_recorded(group_counts(led, "assignment_config", GROUP), assignment, led.label, experiment)
    validate(Facts(source.label, schema=schema, required=(Required(unit, "[experiment] unit", None),)))
    joined = source.join_columns(led, unit, ["arm", *(c for c in ledger_columns if c in led.columns and c != "arm")])
    counts = joined.counts(["arm"])
    unmatched_rows = counts["arm"].isna().to_numpy()
    n = counts["n"].to_numpy(dtype=np.int64)
    unmatched = int(n[unmatched_rows].sum())
    validate(Facts(source.label, unmatched=(unmatched, int(n.sum()), float(max_unmatched_share))))
    if unmatched:
        notes.append(Msg("{n} outcome rows for units not in the ledger were left out (counted, not analysed).", n=unmatched))
        joined = joined.where_present("arm")
    arms = {(v.item() if isinstance(v, np.generic) else v): int(k)
            for v, k in zip(counts["arm"][~unmatched_rows], n[~unmatched_rows])}
    return _few(Armed(joined, "arm", arms, tuple(notes)))


def prefetch_arms(source: Source, unit: str, arm_column: str = "", ledger: Any = None, rows_per_arm: bool = True) -> None:
    """Ask ``source`` now the questions :func:`attach_arms` will ask first -- the unit column's facts
    and, without a ledger, the rows per arm (unless ``rows_per_arm`` is False) -- so an engine that keeps
    its answers (the embedded DuckDB's sources do) can scan while the caller does something else (a thread
    importing the statistics). Nothing is checked here and nothing is raised: :func:`attach_arms` asks
    again, gets the kept answer or the same error, and checks it."""
    try:
        columns = source.schema()
        if unit in columns:
            source.table_facts(unit)
        arm = arm_column or ("arm" if ledger is None else "")
        if rows_per_arm and arm and arm in columns:
            source.counts([arm])
    except Exception:  # noqa: BLE001 - the real call reports it
        return


def _few(armed: Armed) -> Armed:
    """``armed``, refused (one line) when it holds more arms than :data:`uplift.spec.schema.MAX_ARMS`:
    the readout compares every pair of arms, so its work grows with the square of their number."""
    validate(Facts(armed.source.label, arms=(armed.arm_column, len(armed.counts))))
    return armed


def _check_ledger(led: Source, unit: str, experiment: str) -> None:
    """The ledger has the unit and arm columns, rows, one experiment and each unit once."""
    schema = led.schema()
    validate(Facts(led.label, schema=schema, required=(
        Required(unit, "[experiment] unit", None),
        Required("arm", "the arm of each unit", None, "give a ledger written by `uplift assign`"))))
    other = None
    if experiment and "experiment" in schema:
        names = sorted(str(v) for v in group_counts(led, "experiment", GROUP) if str(v) != experiment)
        other = (names[0], experiment) if names else None
    validate(replace(unit_facts(led, unit), other_experiment=other))
