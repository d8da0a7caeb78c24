"""The Ibis backend: rows that stay where they are (files in the embedded DuckDB, Spark, warehouses).

:class:`IbisSource` answers the questions of :mod:`uplift.data.source` with Ibis expressions
compiled to the engine's SQL, each ONE group-by, so only small tables reach Python:

* :meth:`IbisSource.moments` - per cell ``n = count(*)``, ``mean_c = avg(c)``,
  ``M[c, c] = (n - 1) var_samp(c)`` and, for each pair asked for,
  ``M[a, b] = (n - 1) covar_samp(a, b)``: the engines' own numerically stable one-pass
  aggregates (Welford 1962; Chan, Golub & LeVeque 1979), never ``sum(x^2) - n mean^2``. The same
  query counts the values of each column (missing = ``count(*) - count(c)``) and checks the 0/1
  columns; a second, diagnostic query runs only when a check has found something (NaN or
  infinite values, the range of a column that is not 0/1), so the counts are exact;
* :meth:`IbisSource.life_counts` - rows per (group, duration, event flag) with the value's
  count, sum and ``var_samp``;
* :meth:`IbisSource.summaries` / :meth:`IbisSource.level_counts` - per-group n, mean and
  variance (balance), with NaN counted as missing.

Parquet files are asked these in SQL, without importing Ibis (:mod:`uplift.data.duck_files`, the
same aggregates). Column names are Ibis column references (or quoted identifiers of the file's
own schema), paths are bound by Ibis or DuckDB's reader: nothing a user wrote is evaluated as code.
"""

from __future__ import annotations

import itertools
import math
from typing import Any, Sequence

import numpy as np
import pandas as pd

from uplift.data import duck_files, hashing
from uplift.data.duck_files import DENSE_IDS, DuckFiles
from uplift.data.facts import Tally
from uplift.data.timing import ibis_timing
from uplift.data.files import files_sha256
from uplift.data.moments import Moments
from uplift.data.needs import Needs
from uplift.errors import DataError

__all__ = ["IbisSource", "type_family", "duckdb_connection", "files_source", "frame_source", "table_source", "DENSE_IDS"]

_counter = itertools.count()


def type_family(dtype: Any) -> str:
    """'boolean', 'integer', 'floating', 'decimal', 'string' or 'other' for an Ibis data type."""
    for family in ("boolean", "integer", "floating", "decimal", "string"):
        if getattr(dtype, f"is_{family}")():
            return family
    return "other"


def _f(v: Any) -> float:
    return float("nan") if v is None or v is pd.NA else float(v)


def _i(v: Any) -> int:
    return int(v) if _isnum(v) else 0


def _isnum(v: Any) -> bool:
    return v is not None and v is not pd.NA and not (isinstance(v, float) and math.isnan(v))


def _py(v: Any) -> Any:
    """numpy scalars -> Python scalars (keys of the cells)."""
    return v.item() if isinstance(v, np.generic) else v


def _ibis_aggregate(t: Any, op: str, *cols: str) -> Any:
    """The Ibis expression of one aggregate of :func:`uplift.data.duck_files.aggregate_sql`."""
    if op in ("rows", "count", "lo", "hi"):
        return t.count() if op == "rows" else getattr(t[cols[0]], {"count": "count", "lo": "min", "hi": "max"}[op])()
    x = [t[c].cast("float64") for c in cols]
    if op in ("nonbinary", "nan", "inf"):
        return ((x[0] != 0) & (x[0] != 1) if op == "nonbinary" else getattr(x[0], f"is{op}")()).cast("int64").sum()
    return x[0].var(how="sample") if op == "var" else x[0].cov(x[1], how="sample") if op == "cov" else getattr(x[0], op)()


def duckdb_connection(threads: int | None = None) -> Any:
    """A private embedded DuckDB connection (Ibis) that prints no progress bar.

    Outside Jupyter DuckDB draws a progress bar on long queries; our callers own the terminal (and
    ``--quiet``), so it is switched off. Inside a Jupyter kernel it is off already and DuckDB refuses
    to change the setting without ipywidgets, so it is only set when on."""
    import ibis

    con = ibis.duckdb.connect(**({"threads": threads} if threads else {}))
    if con.raw_sql("SELECT current_setting('enable_progress_bar')").fetchall()[0][0]:  # fetch all: frees the result
        con.raw_sql("SET enable_progress_bar = false").fetchall()
    return con


def files_source(paths: Sequence[str], fmt: str, label: str, threads: int | None = None,
                 text_columns: Sequence[str] = ()) -> "IbisSource":
    """Parquet/CSV files read by a private embedded DuckDB (only the needed columns are read);
    ``text_columns`` (the unit column) are read from CSV as text, as :func:`uplift.data.files.read_csv` does.
    Parquet files are opened without Ibis (:mod:`uplift.data.duck_files`)."""
    if fmt == "parquet":
        return IbisSource(None, label, paths=tuple(paths), duck=duck_files.open_parquet(paths, label, threads))
    con = duckdb_connection(threads)
    return IbisSource(_read_files(con, paths, fmt, label, text_columns), label, con=con, paths=tuple(paths))


def frame_source(frame: pd.DataFrame, label: str, con: Any = None) -> "IbisSource":
    """A DataFrame scanned in place (Arrow) by an embedded DuckDB (a private one unless ``con`` is given)."""
    import ibis

    return IbisSource(ibis.memtable(frame), label, con=con if con is not None else duckdb_connection())


def table_source(table: Any, label: str) -> "IbisSource":
    """An Ibis table of any backend (the query runs on that backend)."""
    return IbisSource(table, label)


def _read_files(con: Any, paths: Sequence[str], fmt: str, label: str, text_columns: Sequence[str] = ()) -> Any:
    name = f"uplift_src_{next(_counter)}"
    try:
        if fmt == "parquet":
            return con.read_parquet(list(paths), table_name=name)
        # comma-separated only, as the in-memory reader: a ';'-separated export is refused the same way
        # on both backends (uplift.data.facts), not silently sniffed here and misread there
        table = con.read_csv(list(paths), table_name=name, delim=",")
        retype = {c: "VARCHAR" for c in text_columns if c in table.columns and not table[c].type().is_string()}
        # DuckDB guesses types from the values (00000001 -> 1); ids are text, as in memory
        return con.read_csv(list(paths), table_name=name, delim=",", types=retype) if retype else table
    except Exception as exc:  # duckdb's IOException / InvalidInputException
        first = " ".join((str(exc).strip().splitlines() or [type(exc).__name__])[0].split())[:160]
        raise DataError(f"{label}: cannot be read as {fmt} ({first}); check the file is complete") from None


class IbisSource:
    """Rows in an engine, as an Ibis table. Build one with :func:`uplift.data.source.open_source`.

    ``con`` is the private DuckDB connection of files or DataFrames (None for a table of the user's
    own connection); ``paths`` the files (for :meth:`sha256`); ``duck`` the view of Parquet files on a
    private DuckDB connection (:mod:`uplift.data.duck_files`) asked in SQL, whose Ibis ``table`` and
    ``con`` are built on first use.
    """

    backend = "ibis"

    def __init__(self, table: Any, label: str, con: Any = None, paths: tuple[str, ...] = (),
                 _cache: dict | None = None, duck: DuckFiles | None = None) -> None:
        self._table, self.label, self._con, self.paths = table, label, con, tuple(paths)
        self._cache = {} if _cache is None else _cache
        self.duck = duck

    @property
    def con(self) -> Any:
        """The Ibis backend (for files asked in SQL: built on their DuckDB connection when first asked)."""
        if self._con is None and self.duck is not None:
            if "ibis" not in self.duck.shared:  # one Ibis backend for a connection's views: their tables can meet
                import ibis

                self.duck.shared["ibis"] = ibis.duckdb.from_connection(self.duck.raw)
            self._con = self.duck.shared["ibis"]
        return self._con

    @property
    def table(self) -> Any:
        """The Ibis table (for files asked in SQL: their view, on first use)."""
        if self._table is None:
            self._table = self.con.table(self.duck.view)
        return self._table

    # ------------------------------------------------------------------ what the table is
    @property
    def engine(self) -> str:
        """The engine that aggregates: the Ibis backend's name (e.g. 'duckdb', 'pyspark')."""
        if self.duck is not None:
            return "duckdb"
        if self.con is not None:
            return str(self.con.name)
        try:
            return str(self.table._find_backend().name)
        except Exception:  # pragma: no cover - unbound tables
            return "ibis"

    @property
    def description(self) -> str:
        return f"{self.engine} (rows stay in the engine)"

    def schema(self) -> dict[str, str]:
        """Column name -> type family ('boolean', 'integer', 'floating', 'decimal', 'string', 'other')."""
        if "schema" not in self._cache:
            self._cache["schema"] = ({n: duck_files.type_family(t) for n, t in self.duck.types.items()} if self.duck
                                     else {str(n): type_family(t) for n, t in self.table.schema().items()})
        return self._cache["schema"]

    @property
    def columns(self) -> list[str]:
        return list(self.schema())

    def categories(self, column: str) -> list[Any] | None:
        """None: engine tables declare no categories (only the values present exist)."""
        return None

    def sha256(self) -> str | None:
        """SHA-256 of the files (see :func:`uplift.data.files.files_sha256`); None for an engine table."""
        return files_sha256(self.paths)

    def execute(self, expr: Any) -> pd.DataFrame:
        """Run an Ibis expression on this source's engine; engine errors become one line."""
        try:
            return self.con.to_pandas(expr) if self.con is not None else expr.to_pandas()
        except DataError:
            raise
        except Exception as exc:  # unreadable file, permission, engine error ...
            first = " ".join((str(exc).strip().splitlines() or [type(exc).__name__])[0].split())[:200]
            raise DataError(f"{self.label}: the engine could not aggregate the rows ({first})") from None

    def to_pandas(self, columns: Sequence[str] | None = None, order_by: str | None = None) -> pd.DataFrame:
        """The rows (or ``columns`` of them) as pandas, sorted by ``order_by`` when given (row-level work only)."""
        t = self.table if columns is None else self.table.select(*columns)
        if order_by:
            t = t.order_by(order_by)
        return self.execute(t).reset_index(drop=True)

    def interrupt(self) -> None:
        """Stop a query running on the private DuckDB connection (from another thread); no-op otherwise."""
        raw = (self.duck.raw if self.duck is not None else
               getattr(self.con, "con", None) if self.con is not None and str(self.con.name) == "duckdb" else None)
        if raw is not None and hasattr(raw, "interrupt"):
            raw.interrupt()

    def close(self) -> None:
        """Close the private DuckDB connection (no-op for a user's table)."""
        if self._cache.get("shared"):
            return
        if self.duck is not None:
            self.duck.close()
        elif self.con is not None:
            self.con.disconnect()

    # ------------------------------------------------------------------ the questions
    def aggregate(self, by: Sequence[str], aggs: dict[str, tuple[str, ...]]) -> list[dict]:
        """ONE aggregate query, grouped by ``by``: per result row ``by`` and each name of ``aggs``, an
        aggregate ``(op, column, ...)`` of :func:`uplift.data.duck_files.aggregate_sql` (in SQL for
        Parquet files, as the Ibis expression of the same meaning otherwise)."""
        if self.duck is not None:
            return self.duck.rows([(k, duck_files.aggregate_sql(self.duck, *a)) for k, a in aggs.items()], by)
        t = self.table
        exprs = {k: _ibis_aggregate(t, *a) for k, a in aggs.items()}
        expr = t.group_by([t[b] for b in by]).aggregate(**exprs) if by else t.aggregate(**exprs)
        return self.execute(expr).to_dict("records")

    def table_facts(self, unit: str | None) -> tuple[int, int | None, int]:
        """(rows, distinct present values of ``unit``, rows without a unit); (rows, None, 0) without a unit
        column: one aggregate query."""
        if not unit:
            return int(self.aggregate([], {"n": ("rows",)})[0]["n"]), None, 0
        key = ("table_facts", unit)
        if key not in self._cache:
            self._cache[key] = self._unit_facts(unit)
        return self._cache[key]

    def _unit_facts(self, unit: str) -> tuple[int, int, int]:
        """:meth:`table_facts` for a unit column, computed once (:meth:`table_facts` keeps it).

        Whole-number ids in the embedded DuckDB whose range max - min + 1 is at most
        :data:`DENSE_IDS` x rows are counted exactly by marking each id in a bit array of that range,
        in the engine (:meth:`_marked`; memory: the range in bits per thread; the number of distinct ids
        is the number of marks); a hash table of millions of ids is several times slower. Other ids (text, sparse numbers, other engines) use the engine's ``count(DISTINCT)``."""
        if self.duck is not None:  # the same queries in SQL
            return duck_files.unit_facts(self.duck, unit, self.schema()[unit], DENSE_IDS, self._marked)
        t = self.table
        ids = t[unit]
        family = type_family(ids.type())
        if family == "string":  # an empty or blank text id is no id (as in memory)
            import ibis

            ids = ibis.cases((ids.strip() == "", ibis.null("string")), else_=ids)
        if family == "integer" and self.con is not None and str(self.con.name) == "duckdb":
            r = self.execute(t.aggregate(n=t.count(), k=ids.count(), lo=ids.min(), hi=ids.max())).iloc[0]
            n, k = int(r["n"]), int(r["k"])
            if k == 0:
                return n, 0, n
            lo, hi = int(r["lo"]), int(r["hi"])
            if hi - lo < DENSE_IDS * max(k, 1):
                return n, self._marked(unit, lo, hi - lo + 1), n - k
        r = self.execute(t.aggregate(n=t.count(), d=ids.nunique(), k=ids.count())).iloc[0]
        return int(r["n"]), int(r["d"]), int(r["n"]) - int(r["k"])

    def _marked(self, unit: str, lo: int, span: int) -> int:
        """The number of distinct present values of the whole-number column ``unit`` (all in [lo, lo + span)),
        counted by marking in the engine (:func:`uplift.data.duck_files.marked_ids`); an Ibis table of the
        embedded DuckDB is marked through a view of its compiled query on the same connection."""
        if self.duck is not None:
            return duck_files.marked_ids(self.duck, unit, lo, span)
        t, view = self.table, f"uplift_ids_{next(_counter)}"
        self.con.con.sql(str(self.con.compile(t.select(t[unit].name("id"))))).create_view(view)
        return duck_files.marked_ids(DuckFiles(self.con.con, view, {"id": "BIGINT"}, self.label), "id", lo, span)

    def counts(self, by: Sequence[str]) -> pd.DataFrame:
        """Rows per distinct combination of ``by`` (missing values form their own group): ``by`` + ``n``."""
        key = ("counts", tuple(by))
        if key not in self._cache:
            self._cache[key] = pd.DataFrame(self.aggregate(by, {"n": ("rows",)}), columns=[*by, "n"])
        return self._cache[key].copy()

    def moments(self, by: Sequence[str], needs: Needs) -> tuple[dict[tuple, Moments], Tally]:
        """Moments of the needed columns per cell of ``by`` from ONE group-by, and what the checks need
        (asked twice, the second answer is the kept first one)."""
        key = ("moments", tuple(by), needs)
        if key not in self._cache:
            self._cache[key] = self._moments(by, needs)
        cells, tally = self._cache[key]
        return dict(cells), tally

    def _moments(self, by: Sequence[str], needs: Needs) -> tuple[dict[tuple, Moments], Tally]:
        sch = self.schema()
        columns = needs.columns
        k = len(columns)
        want = needs.pair_indices()
        aggs: dict[str, tuple[str, ...]] = {"__n": ("rows",)}
        for i, c in enumerate(columns):
            aggs.update({f"__k{i}": ("count", c), f"__m{i}": ("mean", c), f"__v{i}": ("var", c)})
        for c in needs.binary:
            if sch[c] in ("floating", "decimal"):  # integers are checked from their moments, below
                aggs[f"__nb{columns.index(c)}"] = ("nonbinary", c)
        for i, j in want:
            aggs[f"__c{i}_{j}"] = ("cov", columns[i], columns[j])
        rows = self.aggregate(by, aggs)
        if self.duck is not None:  # the rows per group came with them: :meth:`counts` of ``by`` needs no scan of its own
            self._cache.setdefault(("counts", tuple(by)), pd.DataFrame([[*(r[b] for b in by), r["__n"]] for r in rows],
                                                                       columns=[*by, "n"]))
        tally = self._tally(rows, by, columns, needs.binary)
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
            out[tuple(_py(r[b]) for b in by)] = Moments(n, columns, mean, com)
        return out, tally

    def _tally(self, rows: list[dict], by: Sequence[str], columns: tuple[str, ...], binary: Sequence[str]) -> Tally:
        """The checks' counts from the aggregate rows, with a diagnostic query where they cannot be exact."""
        sch = self.schema()
        total = sum(int(r["__n"]) for r in rows)
        groups_missing = {b: sum(int(r["__n"]) for r in rows if pd.isna(r[b])) for b in by}
        nulls = {c: sum(int(r["__n"]) - int(r[f"__k{i}"]) for r in rows) for i, c in enumerate(columns)}
        odd = [c for i, c in enumerate(columns) if sch[c] in ("floating", "decimal")
               and any(int(r[f"__k{i}"]) > 0 and not math.isfinite(_f(r[f"__m{i}"])) for r in rows)]
        nan, inf = self._nonfinite(odd)
        missing = {c: nulls[c] + nan.get(c, 0) for c in columns}
        infinite = {c: inf.get(c, 0) for c in columns}
        flagged = []
        for c in binary:
            i = columns.index(c)
            if sch[c] in ("floating", "decimal"):
                bad = sum(_i(r.get(f"__nb{i}")) for r in rows) > 0
            else:
                # integers: sum x(x - 1) = (n - 1) var + n mean^2 - n mean is >= 0, and 0 only if every
                # x is 0 or 1 (x(x - 1) >= 2 for any other integer); rounding error is far below 0.5
                bad = False
                for r in rows:
                    n, m = int(r[f"__k{i}"]), _f(r[f"__m{i}"])
                    v = _f(r[f"__v{i}"]) if n > 1 and _isnum(r[f"__v{i}"]) else 0.0
                    if n and ((n - 1) * v + n * m * m - n * m > 0.5 or m < 0 or m > 1):
                        bad = True
            if bad:
                flagged.append(c)
        return Tally(total, missing, infinite, self._ranges(flagged), groups_missing)

    def _nonfinite(self, columns: Sequence[str]) -> tuple[dict[str, int], dict[str, int]]:
        """Diagnostic query (only for columns whose mean was not finite): NaN and infinite rows."""
        if not columns:
            return {}, {}
        aggs = {}
        for i, c in enumerate(columns):
            aggs.update({f"nan{i}": ("nan", c), f"inf{i}": ("inf", c)})
        r = self.aggregate([], aggs)[0]
        return ({c: _i(r[f"nan{i}"]) for i, c in enumerate(columns)}, {c: _i(r[f"inf{i}"]) for i, c in enumerate(columns)})

    def _ranges(self, columns: Sequence[str]) -> dict[str, tuple[float, float]]:
        """Diagnostic query (only for 0/1 columns found to hold other values): their min and max."""
        if not columns:
            return {}
        aggs = {}
        for i, c in enumerate(columns):
            aggs.update({f"lo{i}": ("min", c), f"hi{i}": ("max", c)})
        r = self.aggregate([], aggs)[0]
        return {c: (_f(r[f"lo{i}"]), _f(r[f"hi{i}"])) for i, c in enumerate(columns)}

    def life_counts(self, by: Sequence[str], duration: str, event: str,
                    value: str | None) -> tuple[pd.DataFrame, tuple[int, int]]:
        """Rows per (``by``, duration, event flag) from ONE group-by: ``by`` + ``time``, ``event``, ``n``
        and, with ``value``, ``value_sum`` and ``value_m2 = (count - 1) var_samp``; and the value
        column's (missing, infinite) rows (a diagnostic query only when its sum is not finite)."""
        sch = self.schema()
        if self.duck is not None:  # the same query in SQL
            g = duck_files.life_counts(self.duck, by, duration, event, value, sch[event] == "boolean")
        else:
            t = self.table
            ev = t[event].cast("float64") if sch[event] == "boolean" else t[event]
            keys = [t[c] for c in by] + [t[duration].name("time"), ev.name("event")]
            aggs: dict[str, Any] = {"n": t.count()}
            if value:
                v = t[value].cast("float64")
                aggs.update(__vk=t[value].count(), value_sum=v.sum(), __vv=v.var(how="sample"))
            g = self.execute(t.group_by(keys).aggregate(**aggs))
        bad = (0, 0)
        if value:
            n = g["n"].to_numpy(dtype=np.int64)
            vk = g["__vk"].to_numpy(dtype=np.int64)
            vs = g["value_sum"].to_numpy(dtype=float, na_value=np.nan)
            nulls = int((n - vk).sum())
            nan, inf = (self._nonfinite([value]) if sch[value] in ("floating", "decimal")
                        and not np.isfinite(vs[vk > 0]).all() else ({}, {}))
            bad = (nulls + nan.get(value, 0), inf.get(value, 0))
            vv = g["__vv"].to_numpy(dtype=float, na_value=np.nan)
            g["value_m2"] = np.where(n > 1, np.nan_to_num(vv) * (n - 1), 0.0)
            g = g.drop(columns=["__vk", "__vv"])
        return g, bad

    def summaries(self, by: str, columns: Sequence[str]) -> pd.DataFrame:
        """Per group of ``by`` (missing groups left out) and numeric column: ``n`` (non-missing rows),
        ``missing``, ``infinite`` (rows of +-inf, counted in ``n``), ``mean`` and ``var`` over the non-missing
        values (NaN counts as missing): ONE group-by. Columns: ``group``, ``column``, ``n``, ``missing``,
        ``infinite``, ``mean``, ``var``."""
        import ibis

        t, sch = self.table, self.schema()
        t = t.filter(t[by].notnull())
        aggs: dict[str, Any] = {"__rows": t.count()}
        for i, c in enumerate(columns):
            x = t[c].cast("float64")
            if sch[c] in ("floating", "decimal"):
                x = ibis.cases((x.isnan(), ibis.null("float64")), else_=x)
                aggs[f"i{i}"] = x.isinf().cast("int64").sum()
            aggs.update({f"n{i}": x.count(), f"m{i}": x.mean(), f"v{i}": x.var(how="sample")})
        res = self.execute(t.group_by(t[by].name("group")).aggregate(**aggs))
        rows = []
        for r in res.sort_values("group", key=lambda s: s.astype(str)).to_dict("records"):
            for i, c in enumerate(columns):
                n = int(r[f"n{i}"])
                rows.append({"group": _py(r["group"]), "column": c, "n": n, "missing": int(r["__rows"]) - n,
                             "infinite": _i(r.get(f"i{i}")), "mean": _f(r[f"m{i}"]) if n else float("nan"),
                             "var": _f(r[f"v{i}"]) if n > 1 else float("nan")})
        return pd.DataFrame(rows, columns=["group", "column", "n", "missing", "infinite", "mean", "var"])

    def level_counts(self, by: str, column: str) -> pd.DataFrame:
        """Rows per (group of ``by``, text value of ``column``; missing as None): ``group``, ``level``, ``n``."""
        t = self.table
        t = t.filter(t[by].notnull())
        res = self.execute(t.group_by([t[by].name("group"), t[column].cast("string").name("level")]).aggregate(n=t.count()))
        res["level"] = res["level"].astype(object).where(res["level"].notna(), None)
        return res

    def odd_ids(self, unit: str) -> list[str]:
        """The distinct text ids of ``unit`` that are not plain (:data:`uplift.data.hashing.PLAIN_ID`),
        found in the engine; [] for numbers."""
        if self.schema().get(unit) != "string":
            return []
        t = self.table
        res = self.execute(t.filter(t[unit].re_search(hashing.PLAIN_ID)).select(t[unit].name("id")).distinct())
        return sorted(str(v) for v in res["id"])

    def ids_among(self, unit: str, candidates: Sequence[str]) -> set[str]:
        """Which of the text ids ``candidates`` the column ``unit`` holds."""
        if self.schema().get(unit) != "string" or not candidates:
            return set()
        t = self.table
        res = self.execute(t.filter(t[unit].isin(list(candidates))).select(t[unit].name("id")).distinct())
        return {str(v) for v in res["id"]}

    def hash64(self, unit: str, salt: str) -> pd.DataFrame:
        """``unit``, ``hash64`` (uint64) and ``bucket`` per row, computed in the engine
        (:func:`uplift.data.hashing.hash_columns`); rows in the engine's order."""
        t = self.table
        hi, lo, b = hashing.hash_columns(t, unit, salt)
        res = self.execute(t.select(t[unit], hi.name("__hi"), lo.name("__lo"), b.name("bucket")))
        h = (res["__hi"].to_numpy(dtype=np.uint64) << np.uint64(32)) | res["__lo"].to_numpy(dtype=np.uint64)
        return pd.DataFrame({unit: res[unit].to_numpy(), "hash64": h, "bucket": res["bucket"].to_numpy(dtype=float)})

    # ------------------------------------------------------------------ new tables from this one
    def beside(self, obj: Any, label: str, text_columns: Sequence[str] = ()) -> "IbisSource":
        """A DataFrame, or the files of :func:`uplift.data.files.resolve_files` as ``(paths, fmt)``, as a
        table this one can be joined with: on the same connection."""
        import ibis

        if isinstance(obj, pd.DataFrame):
            return IbisSource(ibis.memtable(obj), label, con=self.con, _cache={"shared": True})
        if self.con is None:
            raise DataError(f"{label}: a file can be joined to files or DataFrames only; load it into the same engine")
        paths, fmt = obj
        return IbisSource(_read_files(self.con, paths, fmt, label, text_columns), label, con=self.con, paths=tuple(paths),
                          _cache={"shared": True})

    def _derived(self, table: Any) -> "IbisSource":
        """A source of ``table`` on this one's connection. On a private embedded DuckDB the table becomes a
        view, compiled by Ibis once (:func:`uplift.data.duck_files.ibis_view`), then asked in SQL as Parquet
        files are, and Ibis questions are compiled against its name, not the whole expression again."""
        if self.con is None or str(self.con.name) != "duckdb":
            return IbisSource(table, self.label, con=self.con, paths=self.paths, _cache={"shared": True})
        view, duck = duck_files.ibis_view(self.con, table, f"uplift_view_{next(_counter)}", self.label)
        return IbisSource(view, self.label, con=self.con, paths=self.paths, _cache={"shared": True}, duck=duck)

    def _derived_sql(self, select: str) -> "IbisSource":
        """A source of the SQL query ``select`` on this source's view (:func:`uplift.data.duck_files.derived_view`)."""
        return IbisSource(None, self.label, con=self._con, paths=self.paths, _cache={"shared": True},
                          duck=duck_files.derived_view(self.duck, select))

    def join_columns(self, other: "IbisSource", unit: str, columns: Sequence[str]) -> "IbisSource":
        """This table LEFT JOINed with ``columns`` of ``other`` on ``unit`` (same-named columns replaced)."""
        t, o = self.table, other.table
        base = t.drop(*[c for c in columns if c in t.columns]) if any(c in t.columns for c in columns) else t
        left_id, right_id = hashing.same_id_type_ibis(base[unit], o[unit])
        right = o.select(right_id.name("__unit"), *[o[c] for c in columns])
        if left_id is not base[unit]:
            return self._derived(base.left_join(right, left_id == right["__unit"]).drop("__unit"))
        return self._derived(base.left_join(right, base[unit] == right["__unit"]).drop("__unit"))

    def where_present(self, column: str) -> "IbisSource":
        """The rows where ``column`` has a value."""
        if self.duck is not None:
            return self._derived_sql(duck_files.present_sql(self.duck, column))
        return self._derived(self.table.filter(self.table[column].notnull()))

    def with_bins(self, column: str, edges: Sequence[float], labels: Sequence[str], name: str) -> "IbisSource":
        """A text column ``name`` as :meth:`uplift.data.frame_backend.FrameSource.with_bins` (in SQL on a view)."""
        if self.duck is not None:
            return self._derived_sql(duck_files.bins_sql(self.duck, column, edges, labels, name))
        import ibis

        p = self.table[column].cast("float64")
        branches = [(p.isnull() | p.isnan(), "__missing"), (p < 0, "__negative"), (p < edges[0], f"<{edges[0]:g}")]
        branches += [(p < hi, lab) for hi, lab in zip(edges[1:], labels[:-1])]
        return self._derived(self.table.mutate(**{name: ibis.cases(*branches, else_=labels[-1])}))

    def with_timing(self, flag: str, time: str, followup: str, competing: str | None, window: float,
                    names: tuple[str, str, str]) -> "IbisSource":
        """Columns ``names`` = (observed days, code, maturity share) of :func:`uplift.data.timing.ibis_timing`
        (on a view of the embedded DuckDB: the same rules in SQL, :func:`uplift.data.duck_files.timing_sql`)."""
        if self.duck is not None:
            return self._derived_sql(duck_files.timing_sql(self.duck, flag, time, followup, competing, window, names))
        days, code, share = ibis_timing(self.table, flag, time, followup, competing, window)
        return self._derived(self.table.mutate(**dict(zip(names, (days, code, share)))))
