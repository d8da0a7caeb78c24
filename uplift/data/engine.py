"""Aggregation where the rows live: one query per table, the same numbers on every engine.

Three engine-side computations, each an Ibis expression compiled to the engine's SQL
(embedded DuckDB for files, PySpark, or any other Ibis backend), each ONE group-by:

* :func:`aggregate` - the sufficient statistics of a readout: per (arm x segment) cell the
  count, the mean and the sample variance of every needed column and the sample
  covariance of the pairs the estimators need (CUPED: outcome x covariate; ratios:
  numerator x denominator; ROI: the margin, cannibalisation, cost-to-serve and conversion
  columns), using the engines' own ``avg``, ``var_samp`` and ``covar_samp`` aggregates
  (numerically stable one-pass updates, Welford 1962 / Chan, Golub & LeVeque 1979),
  never ``sum(x^2) - n mean^2``. Centred co-moments are ``(n - 1)`` times those, giving
  the same :class:`~uplift.data.moments.Moments` record the pandas engine builds. The same
  query counts missing values, and the minimum and maximum of 0/1 columns, so the checks
  cost no extra pass; a second, diagnostic query runs only when a check has failed.
* :func:`life_table` - the life table of :func:`uplift.survival.estimators.life_table` (time, at risk,
  events, censored and the count, sum and centred sum of squares of a value column per
  cell): one group-by over (group, duration, event flag), pivoted on the small result.
* :func:`hash_columns` / :func:`buckets` - the assignment bucket of :mod:`uplift.data.hashing`,
  ``first 8 bytes of SHA-256(utf8(salt + ":" + unit)) / 2**64``, computed in the engine
  from its portable ``sha256`` digest (Ibis ``hexdigest``: DuckDB ``sha256``, Spark
  ``sha2(., 256)``, BigQuery ``SHA256``). The 16 leading hex digits are read as two 32-bit
  halves with integer arithmetic only (no engine-specific base conversion and no signed
  64-bit overflow), so ``bucket = (hi * 2**32 + lo) / 2**64`` rounds exactly as Python's
  ``int / 2**64`` does.

Everything after these tables is the same code on the same small tables
(:func:`uplift.metrics.analyse.analyse_source`, :func:`clv_from_source`).
"""

from __future__ import annotations

import math
from dataclasses import replace
from typing import Any, Iterable, Mapping, Sequence

import numpy as np
import pandas as pd

from uplift.data.moments import Moments, aggregate_frame, check_numeric_columns
from uplift.errors import DataError, SpecError
from uplift.data.source import Source, open_source

__all__ = [
    "aggregate",
    "life_table",
    "hash_columns",
    "arm_expression",
    "hash64",
    "buckets",
    "clv_from_source",
    "prepare_source",
]

_NUMERIC = ("boolean", "integer", "floating", "decimal")
_HEX = "0123456789abcdef"
_TWO32 = 4294967296.0
_TWO64 = 18446744073709551616.0


def _f(v: Any) -> float:
    return float("nan") if v is None else float(v)


def _isnum(v: Any) -> bool:
    return v is not None and not (isinstance(v, float) and math.isnan(v))


def _execute(expr: Any, label: str) -> pd.DataFrame:
    try:
        return expr.to_pandas()
    except DataError:
        raise
    except Exception as exc:  # engine errors (unreadable file, permission, ...) in one line
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]
        raise DataError(f"{label}: the engine could not aggregate the rows ({first})") from None


# =========================================================================== sufficient statistics


def aggregate(
    source: Any,
    by: Sequence[str],
    columns: Sequence[str],
    *,
    pairs: Iterable[tuple[str, str]] | None = None,
    binary: Iterable[str] = (),
    roles: Mapping[str, str] | None = None,
) -> dict[tuple, Moments]:
    """Moments of ``columns`` per cell of ``by``, from ONE group-by query in the source's engine.

    Per cell: ``n = count(*)``, ``mean_c = avg(c)``, ``M[c, c] = (n - 1) var_samp(c)`` and, for
    each pair (a, b) in ``pairs`` (default: every pair), ``M[a, b] = (n - 1) covar_samp(a, b)``;
    co-moments of pairs not asked for are NaN (no estimator reads them). ``binary`` columns
    must hold only 0 and 1. A pandas source is aggregated by :func:`uplift.data.moments.aggregate_frame`
    (all pairs).

    Raises :class:`DataError` (one line, naming the column and the fix) for a missing or
    non-numeric column, missing/infinite values (with their count), a non-0/1 value in a
    binary column, or a missing group value.
    """
    src = open_source(source)
    columns = tuple(dict.fromkeys(columns))
    by = list(by)
    binary = [c for c in dict.fromkeys(binary)]
    roles = dict(roles or {})
    label = src.label
    role = lambda c: roles.get(c, "metric column")  # noqa: E731
    src.require({b: "group column" for b in by}, numeric=False)
    src.require({c: role(c) for c in columns})
    if src.kind == "pandas":
        df = src.frame
        check_numeric_columns(df, {c: role(c) for c in columns}, source=label)
        from uplift.metrics.analyse import check_binary  # metrics imports this module lazily; import back lazily

        for c in binary:
            check_binary(df, c, role(c), label)
        for b in by:
            nnull = int(df[b].isna().sum())
            if nnull:
                raise DataError(f"{label}: column '{b}' is missing for {nnull} rows; every row needs an arm/segment value")
        return aggregate_frame(df, by, columns, source=label, check=False)

    sch = src.schema()
    t = src.table()
    k = len(columns)
    idx = {c: i for i, c in enumerate(columns)}
    if pairs is None:
        want = [(i, j) for i in range(k) for j in range(i + 1, k)]
    else:
        want = sorted({tuple(sorted((idx[a], idx[b]))) for a, b in pairs if a in idx and b in idx and a != b})
    x = {c: t[c].cast("float64") for c in columns}
    aggs: dict[str, Any] = {"__n": t.count()}
    for c, i in idx.items():
        aggs[f"__k{i}"] = t[c].count()
        aggs[f"__m{i}"] = x[c].mean()
        aggs[f"__v{i}"] = x[c].var(how="sample")
    for c in binary:
        if sch[c] in ("floating", "decimal"):  # integers are checked from their moments, below
            aggs[f"__nb{idx[c]}"] = ((x[c] != 0) & (x[c] != 1)).cast("int64").sum()
    for i, j in want:
        aggs[f"__c{i}_{j}"] = x[columns[i]].cov(x[columns[j]], how="sample")
    expr = t.group_by([t[b] for b in by]).aggregate(**aggs) if by else t.aggregate(**aggs)
    res = _execute(expr, label)
    rows = res.to_dict("records")

    # ---------------------------------------------------------------- checks on the small table
    for b in by:
        nnull = sum(int(r["__n"]) for r in rows if _missing(r[b]))
        if nnull:
            raise DataError(f"{label}: column '{b}' is missing for {nnull} rows; every row needs an arm/segment value")
    for c, i in idx.items():
        nmiss = sum(int(r["__n"]) - int(r[f"__k{i}"]) for r in rows)
        nonfinite = any(int(r[f"__k{i}"]) > 0 and not math.isfinite(_f(r[f"__m{i}"])) for r in rows)
        if nmiss or nonfinite:
            nbad = nmiss + (_count_nonfinite(t, c, label) if nonfinite else 0)
            total = sum(int(r["__n"]) for r in rows)
            what = "missing" if not nonfinite else ("infinite or NaN" if not nmiss else "missing or infinite")
            raise DataError(
                f"{label}: column '{c}' ({role(c)}) is {what} in {nbad} of {total} rows; "
                "fill those values (e.g. 0 for no purchase) or remove the rows and report them before the readout"
            )
    for c in binary:
        i = idx[c]
        if sch[c] in ("floating", "decimal"):
            bad = sum(int(r.get(f"__nb{i}") or 0) for r in rows) > 0
        else:
            # integers: sum x(x - 1) = (n - 1) var + n mean^2 - n mean is >= 0, and 0 only if every
            # x is 0 or 1 (x(x - 1) >= 2 for any other integer); rounding error is far below 0.5
            bad = False
            for r in rows:
                n, m = int(r["__n"]), _f(r[f"__m{i}"])
                v = _f(r[f"__v{i}"]) if n > 1 and _isnum(r[f"__v{i}"]) else 0.0
                if (n - 1) * v + n * m * m - n * m > 0.5 or m < 0 or m > 1:
                    bad = True
        if bad:
            lim = _execute(t.aggregate(lo=x[c].min(), hi=x[c].max()), label).iloc[0]
            lo, hi = _f(lim["lo"]), _f(lim["hi"])
            raise DataError(
                f"{label}: column '{c}' ({role(c)}, kind proportion) holds values other than 0 and 1 "
                f"(range {lo:g} to {hi:g}); use a 0/1 column or set kind = \"mean\""
            )

    # ---------------------------------------------------------------- Moments per cell
    out: dict[tuple, Moments] = {}
    for r in rows:
        n = int(r["__n"])
        if n == 0:
            continue
        mean = np.array([_f(r[f"__m{i}"]) for i in range(k)])
        com = np.full((k, k), np.nan)
        for i in range(k):
            v = r[f"__v{i}"]
            com[i, i] = 0.0 if n < 2 or not _isnum(v) else float(v) * (n - 1)
        for i, j in want:
            v = r[f"__c{i}_{j}"]
            com[i, j] = com[j, i] = 0.0 if n < 2 or not _isnum(v) else float(v) * (n - 1)
        key = tuple(_py(r[b]) for b in by)
        out[key] = Moments(n, columns, mean, com)
    return dict(sorted(out.items(), key=lambda kv: tuple(str(v) for v in kv[0])))


def _missing(v: Any) -> bool:
    try:
        return bool(pd.isna(v))
    except (TypeError, ValueError):
        return False


def _py(v: Any) -> Any:
    """numpy scalars -> Python scalars (keys of the cells)."""
    return v.item() if isinstance(v, np.generic) else v


def _count_nonfinite(t: Any, c: str, label: str) -> int:
    """Diagnostic query (runs only after a failed check): rows where ``c`` is NaN or infinite."""
    x = t[c].cast("float64")
    try:
        return int(_execute(t.aggregate(bad=(x.isnan() | x.isinf()).cast("int64").sum()), label)["bad"].iloc[0] or 0)
    except DataError:
        return 0


# =========================================================================== life table


def life_table(
    source: Any,
    duration_col: str,
    event_col: str,
    by: str | Sequence[str] | None = None,
    value_col: str | None = None,
    *,
    label: str | None = None,
    integer_durations: bool = False,
) -> pd.DataFrame:
    """The life table of :func:`uplift.survival.estimators.life_table`, from ONE group-by in the source's engine.

    ``GROUP BY by, duration, event`` with ``count(*)`` and, for ``value_col``, ``count``, ``sum`` and
    ``var_samp`` of the value (centred sum of squares ``m2 = (count - 1) var_samp``); the small
    result is pivoted on the event flag and ``at_risk(t) = sum_{s >= t} (events + censored)(s)``
    per group (Kalbfleisch & Prentice 2002, sec. 1.4). Same columns and checks as
    :func:`uplift.survival.estimators.life_table`; a pandas source is handed to it directly.
    """
    src = open_source(source)
    by_cols: list[str] = [by] if isinstance(by, str) else list(by or [])
    label = label or src.label
    if src.kind == "pandas":
        from uplift.survival import estimators as survival

        return survival.life_table(src.frame, duration_col, event_col, by=by_cols or None, value_col=value_col,
                                   label=label, integer_durations=integer_durations)
    for col in [duration_col, event_col, *by_cols, *([value_col] if value_col else [])]:
        if col not in src.schema():
            raise DataError(f"{label}: column {col!r} not found; name an existing column in the spec's [clv] section")
    return _life_table_expr(src.table(), src.schema(), duration_col, event_col, by_cols, value_col, label,
                            integer_durations)


def _life_table_expr(t: Any, sch: Mapping[str, str], duration_col: str, event_col: str, by_cols: list[str],
                     value_col: str | None, label: str, integer_durations: bool) -> pd.DataFrame:
    if sch.get(duration_col) not in ("integer", "floating", "decimal"):
        raise DataError(f"{label}: column {duration_col!r} (tenure) must be numeric; it is {sch.get(duration_col)}")
    if sch.get(event_col) not in _NUMERIC:
        raise DataError(f"{label}: column {event_col!r} (churn flag) must be 0/1 or true/false; it is {sch.get(event_col)}")
    if value_col and sch.get(value_col) not in ("integer", "floating", "decimal"):
        raise DataError(f"{label}: column {value_col!r} (margin per period) must be numeric; it is {sch.get(value_col)}")
    ev = t[event_col].cast("float64") if sch[event_col] == "boolean" else t[event_col]
    keys = [t[c] for c in by_cols] + [t[duration_col].name("__time"), ev.name("__event")]
    aggs: dict[str, Any] = {"__n": t.count()}
    if value_col:
        v = t[value_col].cast("float64")
        aggs.update(__vk=t[value_col].count(), __vs=v.sum(), __vv=v.var(how="sample"))
    g = _execute(t.group_by(keys).aggregate(**aggs), label)

    # ---------------------------------------------------------------- checks on the small table
    n = g["__n"].to_numpy(dtype=np.int64)
    for c in by_cols:
        miss = g[c].isna().to_numpy()
        if miss.any():
            raise DataError(f"{label}: column {c!r} has {int(n[miss].sum())} missing values; fill or remove those rows")
    d = pd.to_numeric(g["__time"], errors="coerce").to_numpy(dtype=float)
    bad = ~np.isfinite(d)
    if bad.any():
        raise DataError(f"{label}: column {duration_col!r} has {int(n[bad].sum())} missing or infinite values; "
                        "fill or remove those rows")
    if (d < 0).any():
        raise DataError(f"{label}: column {duration_col!r} has {int(n[d < 0].sum())} negative tenures "
                        f"(min {d.min():g}); tenure must be >= 0")
    if integer_durations and (d != np.round(d)).any():
        raise DataError(f"{label}: column {duration_col!r} has non-integer tenures; give whole periods (e.g. months)")
    e = pd.to_numeric(g["__event"], errors="coerce").to_numpy(dtype=float)
    if np.isnan(e).any():
        raise DataError(f"{label}: column {event_col!r} (churn flag) has {int(n[np.isnan(e)].sum())} missing values; use 0 or 1")
    badv = ~np.isin(e, (0.0, 1.0))
    if badv.any():
        raise DataError(f"{label}: column {event_col!r} (churn flag) must be 0 or 1; found {int(n[badv].sum())} other "
                        f"values (e.g. {e[badv][0]:g})")
    if value_col:
        vk = g["__vk"].to_numpy(dtype=np.int64)
        vs = g["__vs"].to_numpy(dtype=float, na_value=np.nan)
        nbad = int((n - vk).sum())
        if nbad or not np.isfinite(vs[vk > 0]).all():
            nbad += _count_nonfinite(t, value_col, label) if not np.isfinite(vs[vk > 0]).all() else 0
            raise DataError(f"{label}: column {value_col!r} has {nbad} missing or infinite values; "
                            "fill them (e.g. 0 margin) or remove those rows")

    # ---------------------------------------------------------------- pivot on the event flag
    g = g.assign(__event=e.astype(np.int8))
    index = [*by_cols, "__time"]
    cols: dict[str, str] = {"__n": "count"}
    if value_col:
        vv = g["__vv"].to_numpy(dtype=float, na_value=np.nan)
        g["__m2"] = np.where(g["__n"].to_numpy() > 1, np.nan_to_num(vv) * (n - 1), 0.0)
        cols.update(__vs="sum", __m2="m2")
    wide = g.pivot_table(index=index, columns="__event", values=list(cols), aggfunc="sum", fill_value=0,
                         observed=True, sort=True)
    out = pd.DataFrame(index=wide.index)

    def col(stat: str, flag: int) -> np.ndarray:
        return wide[(stat, flag)].to_numpy() if (stat, flag) in wide.columns else np.zeros(len(wide))

    out["events"] = col("__n", 1).astype(np.int64)
    out["censored"] = col("__n", 0).astype(np.int64)
    if value_col:
        out["value_sum_events"] = col("__vs", 1).astype(float)
        out["value_sum_censored"] = col("__vs", 0).astype(float)
        out["value_m2_events"] = col("__m2", 1).astype(float)
        out["value_m2_censored"] = col("__m2", 0).astype(float)
    out = out.reset_index().rename(columns={"__time": "time"})
    out = out.sort_values([*by_cols, "time"], kind="stable").reset_index(drop=True)
    leaving = out["events"] + out["censored"]
    if by_cols:
        out["at_risk"] = leaving[::-1].groupby([out[c] for c in by_cols], sort=False).cumsum()[::-1]
    else:
        out["at_risk"] = leaving[::-1].cumsum()[::-1]
    out["at_risk"] = out["at_risk"].astype(np.int64)
    first = [*by_cols, "time", "at_risk", "events", "censored"]
    return out[first + [c for c in out.columns if c not in first]]


# =========================================================================== assignment buckets


def _hex_to_int(h: Any) -> Any:
    """An 8-digit lowercase hex string expression -> its integer value, portable SQL only:
    ``sum_i position(h_i in '0123456789abcdef') * 16^(7 - i)``.

    Summed in double precision, which is exact here (every partial sum is an integer < 2**32 <
    2**53) and avoids engines' 32-bit integer literals (Spark's ANSI mode raises on overflow);
    cast to int64 at the end."""
    import ibis

    digits = ibis.literal(_HEX)
    acc = None
    for i in range(8):
        term = digits.find(h.substr(i, 1)).cast("float64") * float(16 ** (7 - i))
        acc = term if acc is None else acc + term
    return acc.cast("int64")


def hash_columns(table: Any, unit: str, salt: str, sch: Mapping[str, str] | None = None) -> tuple[Any, Any, Any]:
    """Ibis expressions ``(hi, lo, bucket)`` for the salted SHA-256 bucket of column ``unit``.

    ``digest = sha256(salt || ':' || cast(unit as string))`` (lowercase hex); ``hi``/``lo`` are its
    hex digits 1-8 and 9-16 as integers, ``hash64 = hi * 2**32 + lo`` and
    ``bucket = (hi * 2**32 + lo) / 2**64`` in double precision (one rounding, as Python's
    ``int / 2**64``). Unit ids must be integers or text (their canonical text, see
    :func:`uplift.data.hashing.canonical_unit`).
    """
    import ibis

    dtype = table[unit].type()
    if dtype.is_integer():
        text = table[unit].cast("int64").cast("string")
    elif dtype.is_string():
        text = table[unit]
    else:
        raise DataError(f"unit column {unit!r} holds {dtype} values; store customer ids as whole numbers or text")
    digest = (ibis.literal(f"{salt}:") + text).hexdigest("sha256").lower()
    hi = _hex_to_int(digest.substr(0, 8))
    lo = _hex_to_int(digest.substr(8, 8))
    bucket = (hi.cast("float64") * _TWO32 + lo.cast("float64")) / _TWO64
    return hi, lo, bucket


def arm_expression(table: Any, unit: str, salt: str, weights: Mapping[str, float]) -> Any:
    """Ibis expression: the arm of each row by salted hash, as :func:`uplift.data.hashing.arm_for_buckets`.

    Arm k gets buckets in ``[w_1 + ... + w_{k-1}, w_1 + ... + w_k)`` in the order of ``weights``;
    the cut points are the same ``numpy.cumsum`` doubles as in Python, and the last arm takes the
    rest. Use it to assign (unstratified) inside the warehouse: ``t.mutate(arm=arm_expression(...))``.
    """
    import ibis

    names = list(weights)
    if not names:
        raise ValueError("weights must name at least one arm")
    edges = np.cumsum([float(weights[a]) for a in names])
    _, _, b = hash_columns(table, unit, salt)
    if len(names) == 1:
        return ibis.literal(names[0])
    return ibis.cases(*[(b < float(e), a) for e, a in zip(edges[:-1], names[:-1])], else_=names[-1])


def hash64(source: Any, unit: str, salt: str) -> pd.DataFrame:
    """``unit`` and its ``hash64`` (uint64) and ``bucket`` per row, computed in the source's engine.

    Rows come back in the engine's order (sort by ``unit`` to compare). Only the ids and the
    hashes leave the engine: for a test, or an audit of an assignment done in the warehouse.
    """
    src = open_source(source)
    if unit not in src.schema():
        raise DataError(f"{src.label}: unit column {unit!r} not found; set [experiment] unit")
    if src.kind == "pandas":
        from uplift.data import hashing as hashing

        h = hashing.hash64(src.frame[unit], salt)
        return pd.DataFrame({unit: src.frame[unit].to_numpy(), "hash64": h, "bucket": h / _TWO64})
    t = src.table()
    hi, lo, b = hash_columns(t, unit, salt)
    res = _execute(t.select(t[unit], hi.name("__hi"), lo.name("__lo"), b.name("bucket")), src.label)
    h = (res["__hi"].to_numpy(dtype=np.uint64) << np.uint64(32)) | res["__lo"].to_numpy(dtype=np.uint64)
    return pd.DataFrame({unit: res[unit].to_numpy(), "hash64": h, "bucket": res["bucket"].to_numpy(dtype=float)})


def buckets(source: Any, unit: str, salt: str) -> pd.DataFrame:
    """``unit`` and ``bucket`` in [0, 1) per row (see :func:`hash64`)."""
    return hash64(source, unit, salt)[[unit, "bucket"]]


# =========================================================================== arms from the ledger, in the engine


def _check_rows_and_units(src: Source, unit: str, label: str) -> None:
    """One aggregate query: the outcomes have rows, and (if the unit column is there) no unit twice."""
    t = src.table()
    has_unit = unit in src.schema()
    chk = _execute(t.aggregate(n=t.count(), **({"d": t[unit].nunique()} if has_unit else {})), label).iloc[0]
    if int(chk["n"]) == 0:
        raise DataError(f"{label}: outcomes file has no rows; give a file with at least one row")
    if has_unit and int(chk["n"]) != int(chk["d"]):
        raise DataError(f"{label}: {int(chk['n']) - int(chk['d'])} duplicate ids in unit column '{unit}' "
                        "(a unit counted twice, or in two arms); give one outcome row per unit")


def prepare_source(spec: Any, source: Any, ledger: Any = None, label: str | None = None) -> tuple[Source, str, list[str]]:
    """:func:`uplift.readout.analysis.prepare_outcomes` for rows that stay in the engine: (source, arm column, notes).

    Arms come from ``[analysis] arm_column`` when the spec names one, else from the ledger
    (a DataFrame, a Parquet/CSV path, or a table of the same engine) LEFT JOINed on the unit
    column inside the engine, else from an ``arm`` column. Duplicate ids (ledger or outcomes)
    are refused; outcomes of units missing from the ledger are counted and left out, and refused
    above ``[analysis] max_unmatched_share`` (default 0.01). Checks are aggregate queries; no row
    leaves the engine. The returned source is the joined table (arm column ``arm``).
    """
    import ibis

    src = open_source(source, label=label)
    label = src.label
    unit = spec.unit
    analysis = spec.section("analysis")
    notes: list[str] = []
    if src.kind != "pandas":
        _check_rows_and_units(src, unit, label)
    if analysis.get("arm_column"):
        arm_col = analysis["arm_column"]
        if arm_col not in src.schema():
            raise DataError(f"{label}: no column '{arm_col}' ([analysis] arm_column); name the column that holds the arms")
        return src, arm_col, notes
    if ledger is None:
        if "arm" in src.schema():
            return src, "arm", notes
        raise DataError(f"{label}: no arms: give --ledger, an 'arm' column, or [analysis] arm_column in the spec")
    if src.kind == "pandas":
        from uplift.readout.analysis import prepare_outcomes

        if not isinstance(ledger, pd.DataFrame):
            raise DataError("ledger: give the ledger as a DataFrame when the outcomes are a DataFrame")
        frame, arm_col, notes = prepare_outcomes(spec, src.frame, ledger, label=label)
        return open_source(frame, label=label), arm_col, notes
    t = src.table()
    if isinstance(ledger, pd.DataFrame):
        lt = ibis.memtable(ledger)  # registered in the outcomes' engine when the query runs
        led_cols = [str(c) for c in ledger.columns]
    elif isinstance(ledger, (str, bytes)) or hasattr(ledger, "__fspath__"):
        if src.kind != "duckdb":
            raise DataError("ledger: a ledger file can be joined to file outcomes only; load it into the same engine")
        led = open_source(ledger, label="ledger")
        con = src._cache["con"]
        name = f"uplift_ledger_{id(led)}"
        lt = con.read_parquet(list(led.paths), table_name=name) if led.format == "parquet" else \
            con.read_csv(list(led.paths), table_name=name)
        led_cols = list(lt.columns)
    else:
        lt = open_source(ledger, label="ledger").table()
        led_cols = list(lt.columns)
    for name, cols in (("ledger", led_cols), (label, list(src.schema()))):
        if unit not in cols:
            raise DataError(f"{name}: no unit column '{unit}' ([experiment] unit); add it or fix the spec")
    if "arm" not in led_cols:
        raise DataError("ledger: no 'arm' column; give a ledger written by `uplift assign`")
    chk = _execute(lt.aggregate(n=lt.count(), d=lt[unit].nunique(),
                                **({"other": (lt["experiment"].cast("string") != spec.name).cast("int64").sum()}
                                   if "experiment" in led_cols else {})), "ledger").iloc[0]
    if "other" in chk and int(chk["other"] or 0):
        raise DataError(f"ledger: holds rows of another experiment than {spec.name!r}; give this experiment's ledger")
    if int(chk["n"]) != int(chk["d"]):
        raise DataError(f"ledger: unit column '{unit}' has duplicate ids; a unit must be in one arm only")
    base = t.drop("arm") if "arm" in t.columns else t
    ledger_arm = lt.select(lt[unit].name("__unit"), lt["arm"].cast("string").name("arm"))
    joined = base.left_join(ledger_arm, base[unit] == ledger_arm["__unit"]).drop("__unit")
    # outcomes and ledger have unique units (checked above), so the left join cannot add rows
    chk = _execute(joined.aggregate(n=joined.count(), unmatched=joined["arm"].isnull().cast("int64").sum()), label).iloc[0]
    n, unmatched = int(chk["n"]), int(chk["unmatched"] or 0)
    if unmatched:
        share = unmatched / max(n, 1)
        limit = float(analysis.get("max_unmatched_share", 0.01))
        if share > limit:
            raise DataError(
                f"{label}: {unmatched} of {n} units ({share:.1%}) are not in the ledger, above "
                f"[analysis] max_unmatched_share = {limit:g}; check that outcomes and ledger belong together"
            )
        notes.append(f"{unmatched} outcome rows for units not in the ledger were left out (counted, not analysed).")
        joined = joined.filter(joined["arm"].notnull())
    out = Source("ibis", label, _table=joined)
    out._cache["parent"] = src  # keep the file connection alive
    return out, "arm", notes


# =========================================================================== CLV from a source


def clv_from_source(spec: Any, source: Any, arm_column: str | None = None, control: str | None = None) -> Any:
    """CLV uplift as :func:`uplift.clv.analyse.clv_analysis`, with the life tables computed in the engine.

    One group-by for the life table by arm (tenure, churn flag, margin count/sum/centred sum of
    squares), one for retention by products held (1, 2, 3, 4+), then the same
    :func:`uplift.clv.analyse.clv_from_life_table` and :func:`uplift.survival.estimators.kaplan_meier` on the small
    tables. A pandas source goes to :func:`uplift.clv.analyse.clv_analysis` itself. No bootstrap here
    (it would touch the rows many times).
    """
    from uplift.clv import analyse as clv_mod
    from uplift.survival.estimators import kaplan_meier

    src = open_source(source)
    if src.kind == "pandas":
        return clv_mod.clv_analysis(spec, src.frame, arm_column, control)
    if not spec.has("clv"):
        raise SpecError(f"{spec.label}: no [clv] section; add one with tenure_column and churned_column")
    c = spec.section("clv")
    arm_column = arm_column or spec.arm_column
    control = control or spec.control_arm
    label = src.label
    if arm_column not in src.schema():
        raise DataError(f"{label}: arm column {arm_column!r} not found; set [analysis] arm_column in {spec.label}")
    margin = c.get("margin_per_period_column") or None
    table = life_table(src, c["tenure_column"], c["churned_column"], by=arm_column, value_col=margin,
                       label=label, integer_durations=True)
    res = clv_mod.clv_from_spec_table(spec, table, arm_column, str(control), label)
    an = spec.section("analysis")
    confidence = float(an.get("confidence") or 0.95)
    rbp = None
    if c.get("products_column"):
        rbp = _retention_by_products(src, c["tenure_column"], c["churned_column"], c["products_column"],
                                     confidence, label, kaplan_meier)
    return replace(res, margin_column=margin or "", retention_by_products=rbp,
                   min_cell_size=int(an.get("min_cell_size") or 0))


def _retention_by_products(src: Source, tenure: str, churned: str, products: str, confidence: float, label: str,
                           kaplan_meier: Any, edges: Sequence[int] = (1, 2, 3, 4)) -> dict:
    """Kaplan-Meier per products-held bucket ('1', '2', '3', '4+'; '<1' if any), as
    :func:`uplift.clv.analyse.retention_by_products`, from one engine group-by on the bucketed column."""
    import ibis

    sch = src.schema()
    if products not in sch:
        raise DataError(f"{label}: column {products!r} ([clv] products_column) not found; name an existing column")
    t = src.table()
    p = t[products].cast("float64")
    names = [str(b) for b in edges[:-1]] + [f"{edges[-1]}+"]
    branches = [(p.isnull(), "__missing"), (p < 0, "__negative"), (p < edges[0], f"<{edges[0]}")]
    for lo_edge, name in zip(edges[1:], names[:-1]):
        branches.append((p < lo_edge, name))
    bucket = ibis.cases(*branches, else_=names[-1])
    if sch[products] not in _NUMERIC:
        raise DataError(f"{label}: column {products!r} must hold counts >= 0 with no missing values")
    tb = t.mutate(__bucket=bucket)
    sch2 = dict(sch, __bucket="string")
    lt = _life_table_expr(tb, sch2, tenure, churned, ["__bucket"], None, label, False)
    nbad = int(lt.loc[lt["__bucket"].isin(["__missing", "__negative"]), ["events", "censored"]].to_numpy().sum())
    if nbad:
        raise DataError(f"{label}: column {products!r} must hold counts >= 0 with no missing values "
                        f"({nbad} rows are missing or negative)")
    below = f"<{edges[0]}"
    order = ([below] if below in set(lt["__bucket"]) else []) + names
    return {b: kaplan_meier(lt[lt["__bucket"] == b].drop(columns="__bucket").reset_index(drop=True), confidence, label=b)
            for b in order if b in set(lt["__bucket"])}
