"""From a source to the small tables statistics work on: cells of moments, life tables, group summaries.

Each function asks the source's backend one question (:mod:`uplift.data.source`), turns what
comes back into :class:`~uplift.data.facts.Facts` and runs :func:`~uplift.data.facts.validate`
on them -- the same code for every backend, so the same bad input gives the same one-line
message wherever the rows live -- then returns the small table:

* :func:`collect_cells` - :class:`~uplift.data.moments.Moments` per cell (arm x segment x ...)
  of the columns a :class:`~uplift.data.needs.Needs` asks for;
* :func:`life_table` - at risk, events and censored per period and group, with the count, sum
  and centred sum of squares of a value column (Kalbfleisch & Prentice 2002, sec. 1.4), the
  table :mod:`uplift.survival.estimators` and :mod:`uplift.clv` work on;
* :func:`incidence_table` - at risk, conversions, competing events and censored per day and arm,
  and the share of the outcome window observed (:mod:`uplift.survival.incidence`);
* :func:`group_summaries` - n, mean and variance per group of each column, missing values left
  out and counted (covariate balance);
* :func:`aggregate_frame` - :func:`collect_cells` for a DataFrame, every co-moment;
* :func:`unit_facts` - rows, distinct and missing ids, and ids a reader could not tell apart.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd

from uplift.data import hashing, timing
from uplift.data.facts import (AMOUNT, BIN, GROUP, MAX_MAGNITUDE, NUMERIC, Facts, GroupRole, Required, Tally, ValueFact,
                               validate)
from uplift.data.moments import Moments
from uplift.data.needs import Needs
from uplift.data.source import Source, open_source
from uplift.errors import DataError
from uplift.spec.schema import MAX_PERIODS

__all__ = ["unit_facts", "id_facts", "collect_cells", "aggregate_frame", "group_counts", "life_table", "binned_life_table", "Summary", "incidence_table",
           "group_summaries"]


def _roles(by: Mapping[str, GroupRole] | Sequence[str] | str | None) -> dict[str, GroupRole]:
    if by is None:
        return {}
    if isinstance(by, str):
        return {by: GROUP}
    if isinstance(by, Mapping):
        return dict(by)
    return {b: GROUP for b in by}


def _key(k: tuple) -> tuple:
    return tuple(str(v) for v in k)


def unit_facts(source: Source, unit: str) -> Facts:
    """The facts about the unit column ``unit`` the checks need (for :func:`~uplift.data.facts.validate`):
    that its name is not one of the toolkit's, rows, distinct present ids, rows without an id, and
    (:func:`uplift.data.hashing.id_findings`) ids with surrounding spaces or invisible characters and
    ids that look like another id. Without the column: rows only (another check names it)."""
    reserved = ((unit, "[experiment] unit"),)
    if unit not in source.schema():
        return Facts(source.label, reserved=reserved, rows=source.table_facts(None)[0], unit=unit)
    rows, distinct, missing = source.table_facts(unit)
    return replace(id_facts(source, unit), reserved=reserved, rows=rows, distinct_units=distinct, missing_units=missing)


def id_facts(source: Source, unit: str) -> Facts:
    """The ids of ``unit`` a reader could not tell apart (:func:`uplift.data.hashing.id_findings`), as facts."""
    spaced, alike = hashing.id_findings(source.odd_ids(unit), lambda ids: source.ids_among(unit, ids))
    return Facts(source.label, unit=unit, spaced_ids=spaced, lookalike_ids=alike)


def collect_cells(source: Source, by: Mapping[str, GroupRole] | Sequence[str], needs: Needs) -> dict[tuple, Moments]:
    """:class:`Moments` of ``needs.columns`` per cell of ``by`` (keys: tuples of the ``by`` values,
    sorted by their text), from ONE aggregation in the source's backend.

    ``by`` maps each grouping column to its :class:`~uplift.data.facts.GroupRole` (an arm, a segment)
    or lists the columns. Co-moments of pairs ``needs`` does not ask for are NaN. Raises
    :class:`~uplift.errors.DataError` (one line) for a missing or non-numeric column, a missing
    group value, missing (empty or NaN) or infinite values (with their count), or a 0/1 column
    holding anything else.
    """
    roles = _roles(by)
    validate(Facts(source.label, schema=source.schema(), groups=tuple(roles.items()),
                   required=tuple(Required(c, needs.role(c)) for c in needs.columns)))
    cells, tally = source.moments(list(roles), needs)
    validate(_tally_facts(source.label, tally, roles, needs))
    validate(Facts(source.label, too_large=tuple((c, needs.role(c)) for c in _too_large(cells.values(), needs.columns))))
    return dict(sorted(cells.items(), key=lambda kv: _key(kv[0])))


def _too_large(cells: Any, columns: Sequence[str]) -> list[str]:
    """The columns holding values beyond :data:`~uplift.data.facts.MAX_MAGNITUDE` in size, seen in the moments."""
    cells = list(cells)
    return [c for i, c in enumerate(columns)
            if _beyond([m.n for m in cells], [m.mean[i] for m in cells], [m.comoment[i, i] for m in cells])]


def _beyond(n: Any, mean: Any, m2: Any) -> bool:
    """True if some cell (count ``n``, ``mean``, centred sum of squares ``m2``) holds a value beyond
    :data:`~uplift.data.facts.MAX_MAGNITUDE` in size: a cell's |mean| and its root mean square
    sqrt(mean^2 + m2/n) are at most its largest |value|, so either above the limit (or not finite,
    after an overflow) shows one. Cells within the limit in both hold no value that overflows a square."""
    n, mean, m2 = (np.asarray(v, dtype=float) for v in (n, mean, m2))
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        rms = np.sqrt(mean * mean + np.where(n > 0, m2 / np.maximum(n, 1), 0.0))
        return bool(((n > 0) & ~(np.abs(mean) <= MAX_MAGNITUDE) | (n > 0) & ~(rms <= MAX_MAGNITUDE)).any())


def _tally_facts(label: str, tally: Tally, roles: Mapping[str, GroupRole], needs: Needs) -> Facts:
    return Facts(
        label,
        groups_missing=tuple((b, r, tally.groups_missing.get(b, 0), tally.rows) for b, r in roles.items()),
        values=tuple(ValueFact(c, needs.role(c), tally.rows, tally.missing.get(c, 0), tally.infinite.get(c, 0))
                     for c in needs.columns),
        non_binary=tuple((c, needs.role(c), *tally.non_binary[c]) for c in needs.binary if c in tally.non_binary),
    )


def aggregate_frame(df: pd.DataFrame, by: Sequence[str], columns: Sequence[str], *,
                    source: str = "outcomes") -> dict[tuple, Moments]:
    """Moments of ``columns`` per cell of ``by`` (e.g. ``["arm"]`` or ``["arm", "segment"]``) of a
    DataFrame, every co-moment included: :func:`collect_cells` on the in-memory backend.

    The co-moments are the corrected two-pass sums ``M = Xc'Xc - s s'/n`` per block of rows,
    pooled exactly (Chan, Golub & LeVeque 1983, eq. 1.7; :func:`uplift.data.moments.moments_by_code`),
    never ``sum(x^2) - n mean^2`` on raw values. Only non-empty cells are returned.
    """
    needs = Needs.of({c: "aggregated column" for c in columns}, pairs=None)
    return collect_cells(open_source(df, label=source, engine="pandas"), list(by), needs)


def group_counts(source: Source, column: str, role: GroupRole = GROUP) -> dict[Any, int]:
    """Rows per value of ``column``, refusing (one line) a missing column or rows without a value."""
    validate(Facts(source.label, schema=source.schema(), groups=((column, role),)))
    c = source.counts([column])
    missing = c[column].isna().to_numpy()
    n = c["n"].to_numpy(dtype=np.int64)
    validate(Facts(source.label, groups_missing=((column, role, int(n[missing].sum()), int(n.sum())),)))
    return {(v.item() if isinstance(v, np.generic) else v): int(k) for v, k in zip(c[column][~missing], n[~missing])}


def life_table(
    source: Source,
    duration: str,
    event: str,
    by: Mapping[str, GroupRole] | Sequence[str] | str | None = None,
    value: str | None = None,
    *,
    integer_durations: bool = False,
    max_duration: tuple[float, str] | None = None,
) -> pd.DataFrame:
    """The life table of the rows, from ONE group-by of (``by``, duration, event flag) in the backend.

    One row per (group, time): ``by...``, ``time``, ``at_risk`` (duration >= time, the reverse
    cumulative sum of events + censored), ``events`` (churned at ``time``), ``censored`` (active at
    the data cut, last seen at ``time``) and, with ``value``, ``value_sum_<cell>`` and
    ``value_m2_<cell>`` for the cells ``events``/``censored`` (sum and centred sum of squares of the
    value), so means and variances over any union of cells pool exactly (Chan, Golub & LeVeque
    1979). The same columns as :func:`uplift.survival.estimators.life_table`.

    Durations must be present, finite and >= 0 (whole numbers with ``integer_durations``), the
    flag 0/1 or true/false, the value present and finite; a :class:`~uplift.errors.DataError`
    (one line) says otherwise.
    """
    roles = _roles(by)
    cols = list(roles)
    required = [Required(duration, "tenure", AMOUNT), Required(event, "churn flag", NUMERIC)]
    if value:
        required.append(Required(value, "margin per period", AMOUNT))
    validate(Facts(source.label, schema=source.schema(), groups=tuple(roles.items()), required=tuple(required)))
    long, (v_missing, v_infinite) = source.life_counts(cols, duration, event, value)
    n = long["n"].to_numpy(dtype=np.int64)
    rows = int(n.sum())
    t = pd.to_numeric(long["time"], errors="coerce").to_numpy(dtype=float, na_value=np.nan)
    e = pd.to_numeric(long["event"], errors="coerce").astype(float).to_numpy(dtype=float, na_value=np.nan)
    finite = np.isfinite(t)
    other = ~np.isnan(e) & ~np.isin(e, (0.0, 1.0))
    negative = finite & (t < 0)
    values = [ValueFact(duration, "tenure", rows, int(n[np.isnan(t)].sum()), int(n[np.isinf(t)].sum())),
              ValueFact(event, "churn flag", rows, int(n[np.isnan(e)].sum()))]
    if value:
        values.append(ValueFact(value, "margin per period", rows, v_missing, v_infinite))
    validate(Facts(
        source.label,
        groups_missing=tuple((c, r, int(n[long[c].isna().to_numpy()].sum()), rows) for c, r in roles.items()),
        values=tuple(values),
        negative=((duration, "tenure", int(n[negative].sum()), float(t[negative].min()) if negative.any() else 0.0),),
        too_large=((value, "margin per period"),) if value and _beyond(
            n, long["value_sum"].to_numpy(dtype=float) / np.maximum(n, 1), long["value_m2"].to_numpy(dtype=float)) else (),
        non_integer=((duration, "tenure"),) if integer_durations and (t[finite] != np.round(t[finite])).any() else (),
        too_long=_too_long(duration, t, n, finite, max_duration),
        flags=((event, "churn flag", int(n[other].sum()), float(e[other][0]) if other.any() else 0.0),),
    ))
    return _pivot(long.assign(event=e.astype(np.int8)), cols, bool(value))


def _too_long(duration: str, t: np.ndarray, n: np.ndarray, finite: np.ndarray,
              max_duration: tuple[float, str] | None) -> tuple[tuple[str, str, int, float, float, str], ...]:
    """The :class:`Facts` ``too_long`` entry: rows with a duration above the bound, their maximum. Without a
    bound from the spec, :data:`~uplift.spec.schema.MAX_PERIODS` (100 years of months)."""
    bound, source = max_duration or (MAX_PERIODS, f"the maximum of {MAX_PERIODS:,} periods (100 years of months)")
    over = finite & (t > bound)
    return ((duration, "tenure", int(n[over].sum()), float(t[over].max()) if over.any() else 0.0, float(bound), source),)


def _pivot(long: pd.DataFrame, by: list[str], with_value: bool) -> pd.DataFrame:
    """(group, time, event) rows -> one row per (group, time) with events/censored and at risk."""
    stats = ["n", "value_sum", "value_m2"] if with_value else ["n"]
    wide = long.set_index([*by, "time", "event"])[stats].unstack("event", fill_value=0).sort_index()
    out = pd.DataFrame(index=wide.index)

    def col(stat: str, flag: int) -> np.ndarray:
        return wide[(stat, flag)].to_numpy() if (stat, flag) in wide.columns else np.zeros(len(wide))

    out["events"] = col("n", 1).astype(np.int64)
    out["censored"] = col("n", 0).astype(np.int64)
    if with_value:
        out["value_sum_events"] = col("value_sum", 1).astype(float)
        out["value_sum_censored"] = col("value_sum", 0).astype(float)
        out["value_m2_events"] = col("value_m2", 1).astype(float)
        out["value_m2_censored"] = col("value_m2", 0).astype(float)
    out = out.reset_index().sort_values([*by, "time"], kind="stable").reset_index(drop=True)
    leaving = out["events"] + out["censored"]
    if by:
        out["at_risk"] = leaving[::-1].groupby([out[c] for c in by], observed=True, sort=False).cumsum()[::-1]
    else:
        out["at_risk"] = leaving[::-1].cumsum()[::-1]
    out["at_risk"] = out["at_risk"].astype(np.int64)
    first = [*by, "time", "at_risk", "events", "censored"]
    return out[first + [c for c in out.columns if c not in first]]


@dataclass(frozen=True)
class Summary:
    """One column in one group: ``n`` non-missing rows, ``missing`` rows, their ``mean`` and sample
    variance ``var`` (n - 1 denominator; NaN when n < 2)."""

    n: int
    missing: int
    mean: float
    var: float


def group_summaries(source: Source, by: str, columns: Sequence[str]) -> dict[str, dict[str, Summary]]:
    """:class:`Summary` per column and group of ``by`` (groups as text, rows without a group left out).

    Numeric and 0/1 columns are summarised as they are (missing = empty or NaN); any other column
    becomes one 0/1 indicator per text value, named ``column=value`` (missing where the column is),
    whose mean is the share p = k / n and variance n p (1 - p) / (n - 1), exactly the centred sum
    of squares of the indicator. Keys in the order of ``columns``, levels sorted. An infinite value
    in a numeric column is refused (one line naming the column): it would make a mean meaningless.
    """
    sch = source.schema()
    numeric = [c for c in columns if sch.get(c) in NUMERIC]
    table = source.summaries(by, numeric) if numeric else None
    if table is not None:
        rows_all = int((table["n"] + table["missing"]).groupby(table["column"]).sum().max())
        inf = table.groupby("column")["infinite"].sum()
        validate(Facts(source.label, values=tuple(ValueFact(c, "balance covariate", rows_all, 0, int(inf.get(c, 0)))
                                                  for c in numeric)))
    out: dict[str, dict[str, Summary]] = {}
    for c in columns:
        if c in numeric:
            rows = table[table["column"] == c]
            out[c] = {str(r.group): Summary(int(r.n), int(r.missing), float(r.mean), float(r.var))
                      for r in rows.itertuples(index=False)}
            continue
        lv = source.level_counts(by, c)
        lv = lv.assign(group=lv["group"].map(str))
        present = lv[lv["level"].notna()]
        total = present.groupby("group")["n"].sum()
        miss = lv[lv["level"].isna()].groupby("group")["n"].sum()
        groups = sorted(set(lv["group"]))
        for level in sorted(set(map(str, present["level"]))):
            k = present[present["level"].map(str) == level].groupby("group")["n"].sum()
            per: dict[str, Summary] = {}
            for g in groups:
                n, kg = int(total.get(g, 0)), int(k.get(g, 0))
                p = kg / n if n else float("nan")
                var = n * p * (1 - p) / (n - 1) if n > 1 else float("nan")
                per[g] = Summary(n, int(miss.get(g, 0)), p, var)
            out[f"{c}={level}"] = per
    return out


def binned_life_table(source: Source, duration: str, event: str, column: str, edges: Sequence[float],
                      labels: Sequence[str], role: str) -> pd.DataFrame:
    """:func:`life_table` by bins of a count ``column`` (e.g. products held): ``labels[i]`` holds
    ``edges[i] <= value < edges[i + 1]`` (the last bin open above), ``"<edges[0]"`` anything below.
    The bin is the table's ``bin`` column. Refuses (one line) a non-numeric column or any missing
    or negative count."""
    validate(Facts(source.label, reserved=((duration, "the duration"), (event, "the event flag"), (column, role)),
                   schema=source.schema(), required=(Required(column, role),)))
    lt = life_table(source.with_bins(column, edges, labels, BIN), duration, event, by=BIN).rename(columns={BIN: "bin"})
    bad = lt["bin"].isin(["__missing", "__negative"]).to_numpy()
    nbad = int((lt["events"] + lt["censored"]).to_numpy()[bad].sum())
    validate(Facts(source.label, invalid_counts=((column, role, nbad),)))
    return lt


_TIMING_NAMES = ("derived:days", "derived:timing", "derived:maturity")


def incidence_table(source: Source, by: str, flag: str, time: str, followup: str, competing: str | None,
                    window: float, *, where: str = "[metrics]") -> tuple[pd.DataFrame, dict[str, float]]:
    """The competing-risks life table per group of ``by`` and the share of the window observed per group,
    from ONE group-by of (group, observed days, code) in the backend (rules: :mod:`uplift.data.timing`).

    Table columns: ``by``, ``time``, ``at_risk`` (observed days >= time), ``events`` (converted at
    ``time``), ``competing`` (competing event at ``time``), ``censored`` (follow-up ended at ``time``).
    Maturity per group: the mean of min(follow-up, window) / window. A one-line
    :class:`~uplift.errors.DataError` names the column and the fix for: missing or non-numeric
    columns, a missing or infinite follow-up, negative days, a flag other than 0/1, a time without
    a conversion (or a conversion without a time), a conversion or competing event after the follow-up.
    """
    cols = [(flag, "conversion flag"), (time, "days to conversion"), (followup, "days of follow-up")]
    if competing:
        cols.append((competing, "days to competing event"))
    validate(Facts(source.label, schema=source.schema(), groups=((by, GROUP),),
                   required=tuple(Required(c, r, NUMERIC if c == flag else AMOUNT) for c, r in cols)))
    days, code, share = _TIMING_NAMES
    derived = source.with_timing(flag, time, followup, competing, float(window), _TIMING_NAMES)
    long, _ = derived.life_counts([by], days, code, share)
    n = long["n"].to_numpy(dtype=np.int64)
    codes = pd.to_numeric(long["event"]).to_numpy(dtype=np.int64)
    validate(Facts(source.label, groups_missing=((by, GROUP, int(n[long[by].isna().to_numpy()].sum()), int(n.sum())),)))
    _refuse_timing(source.label, where, {int(k): int(n[codes == k].sum()) for k in np.unique(codes)},
                   flag, time, followup, competing)
    long = long.assign(time=pd.to_numeric(long["time"]).astype(float), event=codes)
    maturity = {str(g): float(part["value_sum"].sum() / part["n"].sum()) for g, part in long.groupby(by, observed=True)}
    wide = long.pivot_table(index=[by, "time"], columns="event", values="n", aggfunc="sum", fill_value=0, observed=True)
    out = pd.DataFrame(index=wide.index)
    for name, k in (("events", timing.CONVERTED), ("competing", timing.COMPETING), ("censored", timing.CENSORED)):
        out[name] = wide[k].to_numpy(dtype=np.int64) if k in wide.columns else np.zeros(len(wide), np.int64)
    out = out.reset_index().sort_values([by, "time"], kind="stable").reset_index(drop=True)
    leaving = out["events"] + out["competing"] + out["censored"]
    out["at_risk"] = leaving[::-1].groupby(out[by], observed=True, sort=False).cumsum()[::-1].astype(np.int64)
    return out[[by, "time", "at_risk", "events", "competing", "censored"]], maturity


def _refuse_timing(label: str, where: str, counts: dict[int, int], flag: str, time: str, followup: str,
                   competing: str | None) -> None:
    """One line for the first kind of bad row (in the order of :mod:`uplift.data.timing`), with its count."""
    messages = {
        timing.BAD_FOLLOWUP: f"column '{followup}' (days of follow-up) is empty or infinite in {{k:,}} rows; "
                             "give every customer the days observed from their start to the data cut",
        timing.NEGATIVE: f"column '{followup}' (days of follow-up) holds negative days in {{k:,}} rows; "
                         "days count from the customer's start and must be >= 0",
        timing.NEGATIVE_TIME: f"column '{time}' (days to conversion) holds negative days in {{k:,}} rows; "
                              "days count from the customer's start and must be >= 0",
        timing.NEGATIVE_COMPETING: f"column '{competing}' (days to competing event) holds negative days in {{k:,}} rows; "
                                   "days count from the customer's start and must be >= 0",
        timing.BAD_FLAG: f"column '{flag}' (conversion flag) is empty or not 0/1 in {{k:,}} rows; use 1 for converted, 0 otherwise",
        timing.TIME_WITHOUT_CONVERSION: f"column '{time}' (days to conversion) has a value in {{k:,}} rows where "
                                        f"'{flag}' is 0; leave it empty when not converted, or set '{flag}' to 1",
        timing.CONVERSION_WITHOUT_TIME: f"column '{time}' (days to conversion) is empty in {{k:,}} rows where "
                                        f"'{flag}' is 1; give the days from the customer's start to conversion",
        timing.BEYOND_FOLLOWUP: f"column '{time}' (days to conversion) is beyond '{followup}' (days of follow-up) "
                                "in {k:,} rows; a conversion must happen within the follow-up: check both columns",
        timing.COMPETING_BEYOND_FOLLOWUP: f"column '{competing}' (days to competing event) is beyond '{followup}' "
                                          "(days of follow-up) in {k:,} rows; leave it empty for events after the data cut",
    }
    for code, message in messages.items():
        if counts.get(code, 0):
            raise DataError(f"{label}: {where} " + message.replace("{k:,}", f"{counts[code]:,}"))
