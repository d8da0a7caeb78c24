"""The facts input checks need, and :func:`validate`: the one place they become a one-line error.

Both backends (:mod:`uplift.data.frame_backend`, :mod:`uplift.data.ibis_backend`) answer the
same small questions about the rows -- how many rows and distinct units, how many values
are missing or infinite per column, which 0/1 columns hold something else, ... -- and
:mod:`uplift.data.collect` / :mod:`uplift.data.arms` put the answers into a :class:`Facts`.
:func:`validate` then raises the first problem as a :class:`~uplift.errors.DataError`
naming the file, the column and the fix. Because the message is built here and only here,
the same bad input gives the same message on every backend.

The missing-value rule (the same on every backend): a value is *missing* when it is empty
(SQL ``NULL``; an empty field in a CSV file) or NaN. Text such as ``NA``, ``None`` or
``null`` in a CSV file is text, not a missing value: in a numeric column it makes the
column a text column. ``inf``/``-inf`` are *infinite*, not missing.

The id rule (the same on every backend): a unit id is its text exactly as written (CSV files
read the unit column as text, so ``00000001`` keeps its zeros; whole-number ids from Parquet are
their decimal text). Nothing is trimmed or normalised: an id with surrounding spaces or invisible
(zero-width) characters is refused, and so are two ids that differ only by such characters, by
width (full-width letters) or by Unicode form (:func:`uplift.data.hashing.id_findings`).

The toolkit's own column names (:data:`RESERVED_COLUMNS`: the ledger's columns and the columns the
analysis derives) are defined here once; a user's column named like one of them is refused.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

from uplift.errors import DataError
from uplift.spec.schema import MAX_ARMS

__all__ = ["LEDGER_COLUMNS", "NET_PROFIT", "PRODUCTS_AFTER", "BIN", "RESERVED_COLUMNS", "NUMERIC", "AMOUNT", "MAX_MAGNITUDE", "GroupRole", "ARM", "SEGMENT", "GROUP", "Required", "ValueFact", "Facts", "Tally", "validate"]

LEDGER_COLUMNS: tuple[str, ...] = ("experiment", "arm", "stratum", "spec_sha256", "assignment_config", "assigned_at")
"""The ledger's own columns (besides the unit column), in the ledger's order after the unit."""
NET_PROFIT = "derived:net_profit"
"""Derived column: margin - cannibalised margin - cost to serve."""
PRODUCTS_AFTER = "derived:products_after"
"""Derived column: products held before the campaign + converted."""
BIN = "derived:bin"
"""Derived column: the bin of a count column (:func:`uplift.data.collect.binned_life_table`)."""
RESERVED_COLUMNS: Mapping[str, str] = {
    "experiment": "the ledger's experiment column",
    "arm": "the toolkit's arm column",
    "stratum": "the ledger's stratum column",
    "spec_sha256": "the ledger's spec_sha256 column",
    "assignment_config": "the ledger's assignment_config column",
    "assigned_at": "the ledger's assigned_at column",
    NET_PROFIT: "the toolkit's derived net-profit column",
    PRODUCTS_AFTER: "the toolkit's derived products-after column",
    BIN: "the toolkit's derived bin column",
}
"""Every column name the toolkit writes or derives, and what it is: the one list of reserved names."""

NUMERIC = frozenset({"boolean", "integer", "floating", "decimal"})
"""Type families that hold numbers (booleans count as 0/1)."""
AMOUNT = frozenset({"integer", "floating", "decimal"})
"""Type families that hold amounts or durations (not booleans)."""
MAX_MAGNITUDE = 1e15
"""The largest size of value an analysed column may hold (a quadrillion: no amount per customer comes
near). Past it, sums of squares lose all precision and then overflow floating point (1e200 squared is
above 1.8e308), so a readout of such a column would be wrong or crash. Checked on the moments every
backend returns: a cell whose mean or root mean square exceeds it holds such values."""


@dataclass(frozen=True)
class GroupRole:
    """What a grouping column is (an arm, a segment, ...), and the fixes to suggest."""

    noun: str
    where: str = ""
    if_absent: str = "name an existing column"
    if_missing: str = "every row needs a value: fill or remove those rows"


ARM = GroupRole("arm column", "", "set [analysis] arm_column or join the ledger",
                "join the ledger so every customer has an arm, or remove and report those rows")
SEGMENT = GroupRole("segment column", " (from [analysis] segments)", "remove it or add the column",
                    "fill it (e.g. 'unknown') before the readout")
GROUP = GroupRole("column")


@dataclass(frozen=True)
class Required:
    """A column that must exist, what it is for, and (if not None) the type families it may hold."""

    column: str
    role: str
    families: frozenset[str] | None = NUMERIC
    fix: str = "add it or fix the spec"


@dataclass(frozen=True)
class ValueFact:
    """Rows of ``column`` that are missing (empty or NaN) or infinite, out of ``rows``."""

    column: str
    role: str
    rows: int
    missing: int = 0
    infinite: int = 0


@dataclass(frozen=True)
class Facts:
    """Everything the checks look at, for one table (``label`` names it in messages).

    Every field is optional: a consumer fills in what it asked the backend. :func:`validate`
    checks them in the order of the fields below and raises on the first problem.
    """

    label: str
    reserved: tuple[tuple[str, str], ...] = ()
    schema: Mapping[str, str] | None = None
    groups: tuple[tuple[str, GroupRole], ...] = ()
    required: tuple[Required, ...] = ()
    rows: int | None = None
    unit: str = ""
    distinct_units: int | None = None
    missing_units: int = 0
    spaced_ids: tuple[int, str] | None = None
    lookalike_ids: tuple[int, str, str] | None = None
    other_experiment: tuple[str, str] | None = None
    groups_missing: tuple[tuple[str, GroupRole, int, int], ...] = ()
    arms: tuple[str, int] | None = None  # (arm column, distinct arms): at most MAX_ARMS
    values: tuple[ValueFact, ...] = ()
    non_binary: tuple[tuple[str, str, float, float], ...] = ()
    negative: tuple[tuple[str, str, int, float], ...] = ()
    too_large: tuple[tuple[str, str], ...] = ()
    non_integer: tuple[tuple[str, str], ...] = ()
    too_long: tuple[tuple[str, str, int, float, float, str], ...] = ()
    flags: tuple[tuple[str, str, int, float], ...] = ()
    invalid_counts: tuple[tuple[str, str, int], ...] = ()
    unmatched: tuple[int, int, float] | None = None
    id_like: tuple[str, int, int] | None = None


def validate(facts: Facts) -> None:
    """Raise :class:`DataError` (one line: the table, the column, the problem, the fix) for the
    first problem in ``facts``; return None when there is none. See :class:`Facts` for the order."""
    for check in (_delimited, _not_reserved, _groups_exist, _columns_exist, _has_rows, _units_present, _units_unique,
                  _ids_plain, _ids_distinct, _one_experiment, _groups_complete, _few_arms, _values_complete, _binary,
                  _non_negative, _bounded, _magnitude, _whole, _flags, _counts, _matched, _not_id_like):
        message = check(facts)
        if message:
            raise DataError(f"{facts.label}: {message}")


def _not_reserved(f: Facts) -> str:
    for col, use in f.reserved:
        if col in RESERVED_COLUMNS:
            return (f"column '{col}' ({use}) is {RESERVED_COLUMNS[col]}; rename it in the data "
                    "(and wherever the spec names it)")
    return ""


def _delimited(f: Facts) -> str:
    """A file read as one column whose header holds ';' was saved with another separator (Excel in many
    locales writes ';'). Reported before any "column not found", which would mislead."""
    if f.schema is None or len(f.schema) != 1:
        return ""
    (header,) = f.schema
    if ";" not in str(header):
        return ""
    return "looks semicolon-separated (one column whose header holds ';'); save it as comma-separated CSV"


def _groups_exist(f: Facts) -> str:
    for col, role in f.groups:
        if f.schema is not None and col not in f.schema:
            return f"{role.noun} '{col}'{role.where} not found; {role.if_absent}"
    return ""


def _columns_exist(f: Facts) -> str:
    if f.schema is None:
        return ""
    for r in f.required:
        family = f.schema.get(r.column)
        if family is None:
            have = ", ".join(list(f.schema)[:12])
            return f"column '{r.column}' ({r.role}) not found; {r.fix} (columns: {have})"
        if r.families is not None and family not in r.families:
            return (f"column '{r.column}' ({r.role}) holds {family} values, not numbers; "
                    "convert it to numbers (e.g. 0/1 or amounts) before the readout")
    return ""


def _has_rows(f: Facts) -> str:
    return "has no rows; give a file with at least one row" if f.rows == 0 else ""


def _units_present(f: Facts) -> str:
    if not f.missing_units:
        return ""
    return (f"{f.missing_units} of {f.rows} rows have no {f.unit} (unit column '{f.unit}' is missing or blank there); "
            "every row needs a unit id: fill or remove those rows")


def _units_unique(f: Facts) -> str:
    if f.rows is None or f.distinct_units is None or f.rows - f.missing_units == f.distinct_units:
        return ""
    return (f"{f.rows - f.missing_units - f.distinct_units} duplicate ids in unit column '{f.unit}' (a unit counted twice, "
            "or in two arms); give one row per unit")


def _ids_plain(f: Facts) -> str:
    if not f.spaced_ids:
        return ""
    count, example = f.spaced_ids
    return (f"unit column '{f.unit}' has {count} ids with surrounding spaces or invisible characters (e.g. {example!r}); "
            "remove them so each customer has one id")


def _ids_distinct(f: Facts) -> str:
    if not f.lookalike_ids:
        return ""
    count, a, b = f.lookalike_ids
    return (f"unit column '{f.unit}' has {count} ids that look like another id (e.g. {a!r} and {b!r}: the same after "
            "Unicode NFKC normalisation); give each customer one spelling of its id")


def _one_experiment(f: Facts) -> str:
    if f.other_experiment is None:
        return ""
    found, expected = f.other_experiment
    return f"belongs to experiment {found!r}, not {expected!r}; give this experiment's ledger"


def _groups_complete(f: Facts) -> str:
    for col, role, missing, rows in f.groups_missing:
        if missing:
            return f"{role.noun} '{col}'{role.where} is missing for {missing} of {rows} rows; {role.if_missing}"
    return ""


def _few_arms(f: Facts) -> str:
    if f.arms is None or f.arms[1] <= MAX_ARMS:
        return ""
    col, n = f.arms
    return (f"arm column '{col}' holds {n:,} distinct arms, more than the maximum of {MAX_ARMS}; "
            "check it is the arm column (not an id), or analyse fewer arms at a time")


def _values_complete(f: Facts) -> str:
    for v in f.values:
        bad = v.missing + v.infinite
        if bad:
            what = "missing (empty or NaN)" if not v.infinite else ("infinite" if not v.missing else "missing or infinite")
            return (f"column '{v.column}' ({v.role}) is {what} in {bad} of {v.rows} rows; fill those values "
                    "(e.g. 0 for no purchase) or remove the rows and report them before the readout")
    return ""


def _binary(f: Facts) -> str:
    for col, role, lo, hi in f.non_binary:  # + 0.0: an engine's minimum may be -0.0
        return (f"column '{col}' ({role}, kind proportion) holds values other than 0 and 1 "
                f"(range {lo + 0.0:g} to {hi + 0.0:g}); "
                "use a 0/1 column or set kind = \"mean\"")
    return ""


def _non_negative(f: Facts) -> str:
    for col, role, count, low in f.negative:
        if count:
            return f"column '{col}' ({role}) has {count} negative values (min {low:g}); a {role} must be >= 0"
    return ""


def _magnitude(f: Facts) -> str:
    for col, role in f.too_large:
        return (f"column '{col}' ({role}) holds values too large to analyse (beyond {MAX_MAGNITUDE:g} in size, "
                "where sums of squares overflow); check the column's units or remove those values")
    return ""


def _whole(f: Facts) -> str:
    for col, role in f.non_integer:
        return f"column '{col}' ({role}) has values that are not whole numbers; give whole periods (e.g. months)"
    return ""


def _bounded(f: Facts) -> str:
    for col, role, count, high, bound, source in f.too_long:
        if count:
            return (f"column '{col}' ({role}) has {count} values above {bound:,.0f} periods (max {high:g}), longer than "
                    f"{source}; fix those rows or set [clv] max_tenure_periods")
    return ""


def _flags(f: Facts) -> str:
    for col, role, count, example in f.flags:
        if count:
            return f"column '{col}' ({role}) must be 0 or 1; found {count} other values (e.g. {example:g})"
    return ""


def _counts(f: Facts) -> str:
    for col, role, count in f.invalid_counts:
        if count:
            return f"column '{col}' ({role}) must hold counts >= 0 with no missing values ({count} rows are missing or negative)"
    return ""


def _matched(f: Facts) -> str:
    if f.unmatched is None:
        return ""
    unmatched, rows, limit = f.unmatched
    share = unmatched / max(rows, 1)
    if share <= limit:
        return ""
    return (f"{unmatched} of {rows} units ({share:.1%}) are not in the ledger, above [analysis] max_unmatched_share "
            f"= {limit:g}; check that outcomes and ledger belong together")


def _not_id_like(f: Facts) -> str:
    if f.id_like is None:
        return ""
    col, values, units = f.id_like
    if 2 * values <= units:
        return ""
    return (f"segment column '{col}' ([analysis] segments) has {values} distinct values for {units} units, "
            "fewer than 2 units per value: it would publish (nearly) one customer per value; "
            "remove it from [analysis] segments or group its values")


@dataclass(frozen=True)
class Tally:
    """What a backend counted while aggregating (the raw material of :class:`Facts`).

    ``missing``/``infinite``: per value column, rows that are empty or NaN / infinite;
    ``non_binary``: per 0/1 column that holds anything else, its (min, max);
    ``groups_missing``: per grouping column, rows without a value.
    """

    rows: int
    missing: Mapping[str, int]
    infinite: Mapping[str, int]
    non_binary: Mapping[str, tuple[float, float]]
    groups_missing: Mapping[str, int]
