"""Parquet files in a private embedded DuckDB, asked in SQL directly: the default readout's way to its answers.

The file questions of the default readout (the unit facts, the rows per arm, the metrics' cells and
their checks) need nothing of Ibis but its SQL, so :class:`~uplift.data.ibis_backend.IbisSource`
asks them here, in the SQL Ibis would compile for them (the same aggregates: ``count``, ``avg``,
``var_samp``, ``covar_samp``; the same casts), and only builds an Ibis table of the same view on the
same connection when another question comes (a join). Importing Ibis takes longer than the scan of
ten million rows. The life tables (:func:`life_counts`) and the rows they are asked of -- the rows
present (:func:`present_sql`), with bins (:func:`bins_sql`) or conversion timing (:func:`timing_sql`) --
are views asked in SQL too (:func:`derived_view`), and so is a join compiled by Ibis once
(:func:`ibis_view`): compiling each query of the whole joined expression cost Ibis more than the scan.

Nothing a user wrote becomes SQL text: the paths are handed to DuckDB's own reader (Python
arguments, not SQL), and a column enters a query only as a name of the file's own schema, quoted
as an identifier by :func:`quote` (``"`` doubled); numbers come from the engine or the spec, and the
only text literals are the toolkit's own bin labels (``'`` doubled).
"""

from __future__ import annotations

import atexit
import itertools
import os
import threading
from typing import Any, Callable, Sequence

from uplift.errors import DataError

__all__ = ["DuckFiles", "open_parquet", "quote", "type_family", "aggregate_sql", "unit_facts", "marked_ids", "ask_ahead",
           "life_counts", "derived_view", "ibis_view", "present_sql", "timing_sql", "bins_sql",
           "TRIM_BLANKS", "DENSE_IDS"]

_names = itertools.count()

DENSE_IDS = 8
"""Whole-number ids spanning at most this many times the rows are counted by marking (see
:meth:`uplift.data.ibis_backend.IbisSource.table_facts`): at most 8 bits of marks per row (per engine
thread), less than the ids."""

_KEPT: dict[tuple, list[dict]] = {}  # answers asked ahead (:func:`ask_ahead`), by (files, query), each used once
_AHEAD: dict[tuple, threading.Thread] = {}
_AHEAD_CONNECTIONS: list[Any] = []  # the connections asking ahead, interrupted at exit (:func:`_stop_ahead`)
_STOPPING: list[bool] = []  # non-empty once :func:`_stop_ahead` interrupts them

TRIM_BLANKS = "' ' || chr(9) || chr(10) || chr(13) || chr(11) || chr(12)"
"""The blanks an empty text id may consist of (Python's ``str.strip()``), as the SQL Ibis compiles for ``strip()``."""

_INTEGER = {"TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT", "UTINYINT", "USMALLINT", "UINTEGER", "UBIGINT",
            "UHUGEINT"}


def quote(name: str) -> str:
    """``name`` as a quoted SQL identifier (``"`` doubled inside), never as SQL text."""
    return '"' + str(name).replace('"', '""') + '"'


def type_family(duck_type: str) -> str:
    """'boolean', 'integer', 'floating', 'decimal', 'string' or 'other' for a DuckDB type name, as
    :func:`uplift.data.ibis_backend.type_family` names Ibis's type of the same column."""
    t = duck_type.upper()
    if t == "BOOLEAN":
        return "boolean"
    if t in _INTEGER:
        return "integer"
    if t in ("FLOAT", "DOUBLE"):
        return "floating"
    if t.startswith("DECIMAL"):
        return "decimal"
    if t == "VARCHAR":
        return "string"
    return "other"


class DuckFiles:
    """A view over Parquet files on a private DuckDB connection: its name, its columns' DuckDB types,
    and :meth:`rows`, which runs one query and turns engine errors into the same one line as the Ibis path."""

    def __init__(self, raw: Any, view: str, types: dict[str, str], label: str, files: tuple = ()) -> None:
        self.raw = raw
        self.view = view
        self.types = types
        self.label = label
        self.files = files  # the files' identity (:func:`_identity`): answers asked ahead are found by it
        self.keep = False  # asking ahead: every answer is kept for the source opened later
        self.shared: dict[str, Any] = {}  # shared with the views derived from this one (their Ibis backend)

    def col(self, name: str) -> str:
        """The quoted name of a column of the files; a name the files do not hold is refused (never SQL)."""
        if name not in self.types:
            raise DataError(f"{self.label}: no column {name!r}")
        return quote(name)

    def as_double(self, name: str) -> str:
        """The column as DOUBLE (``CAST``, left out for a DOUBLE column, as Ibis compiles ``cast('float64')``)."""
        c = self.col(name)
        return c if self.types[name].upper() == "DOUBLE" else f"CAST({c} AS DOUBLE)"

    def rows(self, select: Sequence[tuple[str, str]], group_by: Sequence[str] = (), where: str = "") -> list[dict]:
        """``SELECT <expr> AS <name>, ... FROM view [WHERE ...] [GROUP BY ...]`` as dicts (one per result row);
        ``group_by`` columns come first, under their own names."""
        keys = [self.col(b) for b in group_by]
        items = [*keys, *(f"{expr} AS {quote(name)}" for name, expr in select)]
        sql = f"SELECT {', '.join(items)} FROM {quote(self.view)}"
        if where:
            sql += f" WHERE {where}"
        if keys:
            sql += f" GROUP BY {', '.join(str(i + 1) for i in range(len(keys)))}"
        names = [*group_by, *(n for n, _ in select)]
        key = (self.files, tuple(select), tuple(group_by), where)
        if not self.keep and self.files:
            ahead = _AHEAD.pop(self.files, None)
            if ahead is not None:  # the same question may be on its way: wait for it, then take its answer
                ahead.join()
            if key in _KEPT:
                return _KEPT.pop(key)
        try:
            rows = [dict(zip(names, r)) for r in self.raw.execute(sql).fetchall()]
            if self.keep:
                _KEPT[key] = rows
            return rows
        except DataError:
            raise
        except Exception as exc:  # unreadable file, permission, engine error ...
            first = " ".join((str(exc).strip().splitlines() or [type(exc).__name__])[0].split())[:200]
            raise DataError(f"{self.label}: the engine could not aggregate the rows ({first})") from None

    def frame(self, sql: str) -> Any:
        """The answer of one query as a pandas DataFrame; engine errors become the same one line as :meth:`rows`."""
        try:
            return self.raw.execute(sql).df()
        except Exception as exc:  # unreadable file, permission, engine error ...
            first = " ".join((str(exc).strip().splitlines() or [type(exc).__name__])[0].split())[:200]
            raise DataError(f"{self.label}: the engine could not aggregate the rows ({first})") from None

    def close(self) -> None:
        self.raw.close()


def connect(threads: int | None = None) -> Any:
    """A private embedded DuckDB connection that prints no progress bar (see
    :func:`uplift.data.ibis_backend.duckdb_connection`: set only when on, as Jupyter refuses the change)."""
    import duckdb

    raw = duckdb.connect(config={"threads": threads} if threads else {})
    if raw.execute("SELECT current_setting('enable_progress_bar')").fetchall()[0][0]:
        raw.execute("SET enable_progress_bar = false")
    return raw


def open_parquet(paths: Sequence[str], label: str, threads: int | None = None) -> DuckFiles:
    """The Parquet files ``paths`` as a view of a private DuckDB connection (read lazily: only the
    columns a query names are read). Unreadable files: one line, as the Ibis path says it."""
    raw = connect(threads)
    view = f"uplift_files_{next(_names)}"  # apart from the Ibis path's uplift_src_<n> on the same connection
    try:
        rel = raw.read_parquet([str(p) for p in paths])
        rel.create_view(view)
        types = {str(n): str(t) for n, t in zip(rel.columns, rel.dtypes)}
    except Exception as exc:  # duckdb's IOException / InvalidInputException
        raw.close()
        first = " ".join((str(exc).strip().splitlines() or [type(exc).__name__])[0].split())[:160]
        raise DataError(f"{label}: cannot be read as parquet ({first}); check the file is complete") from None
    return DuckFiles(raw, view, types, label, _identity(paths))


def _identity(paths: Sequence[str]) -> tuple:
    """Each file's real path, size and modification time: a file rewritten in between is another file."""
    out = []
    for p in paths:
        st = os.stat(p)
        out.append((os.path.realpath(p), st.st_size, st.st_mtime_ns))
    return tuple(out)


def ask_ahead(path: Any, fmt: str | None, unit: str) -> None:
    """Ask a Parquet file's unit facts (:func:`unit_facts`) now, on a thread of its own and a connection of
    its own, before the caller has imported what opens the file for real: the Parquet file later opened
    by :func:`open_parquet` (same real path, size and modification time) finds the kept answers of the same
    questions instead of scanning again. Only a single ``.parquet`` file (or any file with ``fmt``
    "parquet") is asked ahead; nothing is raised here (errors are met again, and reported, when asked for real)."""
    try:
        p = os.fspath(path)
        if not (os.path.isfile(p) and (fmt == "parquet" or (not fmt and p.lower().endswith(".parquet")))):
            return
        files = _identity([p])
    except (OSError, TypeError):
        return
    if files in _AHEAD:
        return
    import duckdb  # noqa: F401 - here, not on the thread: a thread importing while Ctrl-C ends an import elsewhere can deadlock

    def run() -> None:
        duck = None
        try:
            duck = open_parquet([p], p)
            _AHEAD_CONNECTIONS.append(duck.raw)
            duck.keep = True
            if unit in duck.types:
                unit_facts(duck, unit, type_family(duck.types[unit]), DENSE_IDS,
                           lambda u, lo, span: marked_ids(duck, u, lo, span))
        except Exception as exc:  # noqa: BLE001 - asked again for real, and reported then
            if "interrupt" in str(exc).lower() and not _STOPPING:
                # DuckDB took a Ctrl-C meant for the command (it stops its query on SIGINT): hand it on
                import _thread

                _thread.interrupt_main()
        finally:
            if duck is not None:
                _AHEAD_CONNECTIONS.remove(duck.raw)
                duck.close()

    thread = _AHEAD[files] = threading.Thread(target=run, name="uplift-ask-ahead", daemon=True)
    thread.start()


@atexit.register
def _stop_ahead() -> None:
    """At exit (Ctrl-C while the rest imports, say): interrupt the questions still asked ahead and wait for
    their threads, so no engine query is running when the interpreter ends (DuckDB would abort the process)."""
    _STOPPING.append(True)
    for raw in list(_AHEAD_CONNECTIONS):
        try:
            raw.interrupt()
        except Exception:  # noqa: BLE001 - closed meanwhile
            pass
    for thread in list(_AHEAD.values()):
        thread.join(timeout=10)


def aggregate_sql(duck: DuckFiles, op: str, *cols: str) -> str:
    """The SQL Ibis compiles for one aggregate of :meth:`uplift.data.ibis_backend.IbisSource.aggregate`:
    ``rows`` count(*), ``count`` count(c), ``lo``/``hi`` min/max(c), and over c as DOUBLE ``mean`` avg,
    ``var`` var_samp, ``cov`` covar_samp, ``min``/``max``, ``nonbinary``/``nan``/``inf`` the rows
    that are not 0 or 1 / NaN / infinite."""
    if op == "rows":
        return "count(*)"
    if op in ("count", "lo", "hi"):
        return f"{dict(count='count', lo='min', hi='max')[op]}({duck.col(cols[0])})"
    x = [duck.as_double(c) for c in cols]
    if op == "nonbinary":
        return f"sum(CAST(({x[0]} <> 0) AND ({x[0]} <> 1) AS BIGINT))"
    if op in ("nan", "inf"):
        return f"sum(CAST(is{op}({x[0]}) AS BIGINT))"
    return f"{dict(mean='avg', var='var_samp', cov='covar_samp', min='min', max='max')[op]}({', '.join(x)})"


def unit_facts(duck: DuckFiles, unit: str, family: str, dense: int,
               marked: Callable[[str, int, int], int]) -> tuple[int, int, int]:
    """:meth:`uplift.data.ibis_backend.IbisSource.table_facts` of a unit column in SQL, the same queries:
    whole-number ids whose range is at most ``dense`` x their count are counted by ``marked(unit, lo, span)``
    (:func:`marked_ids`), other ids by ``count(DISTINCT)``; an empty or blank text id is no id."""
    if family == "integer":
        agg = {"n": "count(*)", "k": f"count({duck.col(unit)})", "lo": f"min({duck.col(unit)})", "hi": f"max({duck.col(unit)})"}
        r = duck.rows(list(agg.items()))[0]
        n, k = int(r["n"]), int(r["k"])
        if k == 0:
            return n, 0, n
        lo, hi = int(r["lo"]), int(r["hi"])
        if hi - lo < dense * max(k, 1):
            return n, marked(unit, lo, hi - lo + 1), n - k
    ids = duck.col(unit)
    if family == "string":
        ids = f"CASE WHEN TRIM({ids}, {TRIM_BLANKS}) = '' THEN CAST(NULL AS TEXT) ELSE {ids} END"
    r = duck.rows([("n", "count(*)"), ("d", f"count(DISTINCT {ids})"), ("k", f"count({ids})")])[0]
    return int(r["n"]), int(r["d"]), int(r["n"]) - int(r["k"])


def marked_ids(duck: DuckFiles, unit: str, lo: int, span: int) -> int:
    """The distinct present values of the whole-number column ``unit`` (all in [lo, lo + span)): the engine
    sets one bit per value of the range (``bitstring_agg``, each thread its own bits, OR-ed) and counts them."""
    c = duck.col(unit)
    r = duck.rows([("d", f"bit_count(bitstring_agg({c}, {int(lo)}, {int(lo) + int(span) - 1}))")], where=f"{c} IS NOT NULL")
    return int(r[0]["d"] or 0)


def life_counts(duck: DuckFiles, by: Sequence[str], duration: str, event: str, value: str | None,
                boolean_event: bool) -> Any:
    """Rows per (``by``, duration, event flag) in ONE group-by, the SQL Ibis compiles for
    :meth:`uplift.data.ibis_backend.IbisSource.life_counts`: ``by`` + ``time``, ``event`` (a boolean flag
    as DOUBLE), ``n = count(*)`` and, with ``value``, ``__vk = count(value)``, ``value_sum`` and
    ``__vv = var_samp`` of the value as DOUBLE (a DataFrame)."""
    ev = duck.as_double(event) if boolean_event else duck.col(event)
    items = [duck.col(c) for c in by] + [f"{duck.col(duration)} AS {quote('time')}", f"{ev} AS {quote('event')}",
                                         f"count(*) AS {quote('n')}"]
    if value:
        v = duck.as_double(value)
        items += [f"count({duck.col(value)}) AS {quote('__vk')}", f"sum({v}) AS {quote('value_sum')}",
                  f"var_samp({v}) AS {quote('__vv')}"]
    groups = ", ".join(str(i + 1) for i in range(len(by) + 2))
    return duck.frame(f"SELECT {', '.join(items)} FROM {quote(duck.view)} GROUP BY {groups}")


def derived_view(duck: DuckFiles, select: str) -> DuckFiles:
    """A view of the query ``select`` (built from :meth:`DuckFiles.col` names of ``duck``'s columns and
    numbers, never from text a user wrote) on ``duck``'s connection: the rows of a filter or with new
    columns, for the questions after. An engine error becomes the same one line as when a query runs."""
    name = f"uplift_rows_{next(_names)}"  # apart from the Ibis path's uplift_view_<n> on the same connection
    try:
        rel = duck.raw.sql(select)
        rel.create_view(name)
        types = {str(n): str(t) for n, t in zip(rel.columns, rel.dtypes)}
    except Exception as exc:  # a binder error of the engine
        first = " ".join((str(exc).strip().splitlines() or [type(exc).__name__])[0].split())[:200]
        raise DataError(f"{duck.label}: the engine could not aggregate the rows ({first})") from None
    out = DuckFiles(duck.raw, name, types, duck.label)
    out.shared = duck.shared
    return out


def ibis_view(con: Any, table: Any, name: str, label: str) -> tuple[Any, DuckFiles]:
    """The Ibis ``table`` of the Ibis DuckDB backend ``con`` as the view ``name`` (compiled by Ibis once, its
    in-memory tables registered): (the Ibis table of the view, the view to ask in SQL). A binder error of
    the engine becomes the same one line as when a query runs."""
    try:
        view = con.create_view(name, table)
        rel = con.con.table(name)
        types = {str(n): str(t) for n, t in zip(rel.columns, rel.dtypes)}
    except DataError:
        raise
    except Exception as exc:  # a binder error of the engine
        first = " ".join((str(exc).strip().splitlines() or [type(exc).__name__])[0].split())[:200]
        raise DataError(f"{label}: the engine could not aggregate the rows ({first})") from None
    out = DuckFiles(con.con, name, types, label)
    out.shared["ibis"] = con
    return view, out


def present_sql(duck: DuckFiles, column: str) -> str:
    """The rows where ``column`` has a value (as Ibis compiles ``filter(notnull())``)."""
    return f"SELECT * FROM {quote(duck.view)} WHERE {duck.col(column)} IS NOT NULL"


def timing_sql(duck: DuckFiles, flag: str, time: str, followup: str, competing: str | None, window: float,
               names: tuple[str, str, str]) -> str:
    """The rows with the columns ``names`` = (observed days, code, maturity share) of
    :func:`uplift.data.timing.ibis_timing`, the same rules and casts in SQL: each input read once as
    DOUBLE with NaN as NULL in an inner query, the code computed once there, days and share from it."""
    from uplift.data import timing as tm

    def num(col: str) -> str:
        x = duck.as_double(col)
        return f"CASE WHEN ISNAN({x}) THEN CAST(NULL AS DOUBLE) ELSE {x} END"

    x, t, f = (quote(f"uplift:{k}") for k in ("x", "t", "f"))
    c = quote("uplift:c") if competing else "CAST(NULL AS DOUBLE)"
    has_t, has_c = f"({t} IS NOT NULL)", f"({c} IS NOT NULL)"
    code = (f"CAST(CASE WHEN ({f} IS NULL) OR ISINF({f}) THEN {tm.BAD_FOLLOWUP} "
            f"WHEN {f} < 0 THEN {tm.NEGATIVE} "
            f"WHEN {has_t} AND ({t} < 0) THEN {tm.NEGATIVE_TIME} "
            f"WHEN {has_c} AND ({c} < 0) THEN {tm.NEGATIVE_COMPETING} "
            f"WHEN ({x} IS NULL) OR NOT ({x} IN (0.0, 1.0)) THEN {tm.BAD_FLAG} "
            f"WHEN {has_t} AND ({x} = 0) THEN {tm.TIME_WITHOUT_CONVERSION} "
            f"WHEN NOT {has_t} AND ({x} = 1) THEN {tm.CONVERSION_WITHOUT_TIME} "
            f"WHEN {has_t} AND ({t} > {f}) THEN {tm.BEYOND_FOLLOWUP} "
            f"WHEN {has_c} AND ({c} > {f}) THEN {tm.COMPETING_BEYOND_FOLLOWUP} "
            f"WHEN {has_t} AND (NOT {has_c} OR ({t} <= {c})) THEN {tm.CONVERTED} "
            f"WHEN {has_c} THEN {tm.COMPETING} ELSE {tm.CENSORED} END AS BIGINT)")
    k = quote("uplift:code")
    w = repr(float(window))
    inputs = [f"{num(flag)} AS {x}", f"{num(time)} AS {t}", f"{num(followup)} AS {f}"]
    if competing:
        inputs.append(f"{num(competing)} AS {c}")
    helpers = [x, t, f, *([c] if competing else []), *(quote(n) for n in names if n in duck.types)]  # replaced, as by Ibis
    inner = f"SELECT *, {', '.join(inputs)} FROM {quote(duck.view)}"
    coded = f"SELECT *, {code} AS {k} FROM ({inner})"
    days = (f"CASE WHEN {k} >= {tm.BAD_FOLLOWUP} THEN 0.0 WHEN {k} = {tm.CONVERTED} THEN {t} "
            f"WHEN {k} = {tm.COMPETING} THEN {c} ELSE {f} END")
    share = f"CASE WHEN {k} >= {tm.BAD_FOLLOWUP} THEN 0.0 WHEN {f} > {w} THEN 1.0 ELSE {f} / {w} END"
    return (f"SELECT * EXCLUDE ({', '.join([*helpers, k])}), {days} AS {quote(names[0])}, {k} AS {quote(names[1])}, "
            f"{share} AS {quote(names[2])} FROM ({coded})")


def _text(value: str) -> str:
    """A label of the toolkit's own as an SQL string literal (``'`` doubled)."""
    return "'" + str(value).replace("'", "''") + "'"


def bins_sql(duck: DuckFiles, column: str, edges: Sequence[float], labels: Sequence[str], name: str) -> str:
    """The rows with a text column ``name`` placing ``column`` (as DOUBLE) in ``[edges[i], edges[i+1])`` ->
    ``labels[i]``, as :meth:`uplift.data.ibis_backend.IbisSource.with_bins` compiles it: missing or NaN
    ``__missing``, negative ``__negative``, below ``edges[0]`` ``<edges[0]``; the last bin open above."""
    p = duck.as_double(column)
    branches = [f"WHEN ({p} IS NULL) OR ISNAN({p}) THEN '__missing'", f"WHEN {p} < 0 THEN '__negative'",
                f"WHEN {p} < {float(edges[0])!r} THEN {_text(f'<{edges[0]:g}')}"]
    branches += [f"WHEN {p} < {float(hi)!r} THEN {_text(lab)}" for hi, lab in zip(edges[1:], labels[:-1])]
    drop = f" EXCLUDE ({quote(name)})" if name in duck.types else ""
    return (f"SELECT *{drop}, CASE {' '.join(branches)} ELSE {_text(labels[-1])} END AS {quote(name)} "
            f"FROM {quote(duck.view)}")
