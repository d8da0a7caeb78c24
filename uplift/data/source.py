"""Where the customer rows live: a pandas DataFrame, Parquet/CSV files, or an engine table.

A :class:`Source` names the rows without loading them. The readout's one aggregation
query per table (:mod:`uplift.data.engine`) then runs *where the rows are*:

* ``"pandas"`` - an in-memory :class:`pandas.DataFrame` (aggregated by numpy);
* ``"duckdb"`` - a Parquet or CSV file, a list of files, or a folder of them, read by
  the embedded DuckDB (multi-threaded, only the needed columns are read); rows never
  reach pandas;
* ``"ibis"`` - a table of any engine Ibis speaks to (DuckDB, PySpark, BigQuery,
  Snowflake, Postgres, ...), or a PySpark DataFrame (wrapped through Ibis's PySpark
  backend). The aggregation is an Ibis expression compiled to that engine's SQL.

:func:`open_source` picks the kind from the object; :func:`source_from_spec` reads
``[population] outcomes`` (or ``source``) and ``[population] format`` of a spec.
Paths are bound as data, column names are quoted identifiers: nothing a user wrote is
evaluated as code.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import pandas as pd

from uplift.errors import DataError

__all__ = ["Source", "open_source", "source_from_spec"]

_FORMATS = {".parquet": "parquet", ".pq": "parquet", ".csv": "csv", ".txt": "csv", ".tsv": "csv"}
_counter = itertools.count()
_SPARK_BACKENDS: dict[int, Any] = {}


def _type_family(dtype: Any) -> str:
    """'boolean', 'integer', 'floating', 'decimal', 'string' or 'other' for an Ibis data type."""
    if dtype.is_boolean():
        return "boolean"
    if dtype.is_integer():
        return "integer"
    if dtype.is_floating():
        return "floating"
    if dtype.is_decimal():
        return "decimal"
    if dtype.is_string():
        return "string"
    return "other"


def _pandas_family(s: pd.Series) -> str:
    if pd.api.types.is_bool_dtype(s.dtype):
        return "boolean"
    if pd.api.types.is_integer_dtype(s.dtype):
        return "integer"
    if pd.api.types.is_float_dtype(s.dtype):
        return "floating"
    if pd.api.types.is_string_dtype(s.dtype) or isinstance(s.dtype, pd.CategoricalDtype):
        return "string"
    return "other"


@dataclass(frozen=True, eq=False)
class Source:
    """A table of customer rows and the engine that will aggregate it.

    ``kind`` is ``"pandas"``, ``"duckdb"`` (files read by the embedded DuckDB) or
    ``"ibis"`` (an Ibis table on any backend). Build one with :func:`open_source`.
    """

    kind: str
    label: str
    frame: pd.DataFrame | None = None
    paths: tuple[str, ...] = ()
    format: str = ""
    threads: int | None = None
    _table: Any = field(default=None, repr=False)
    _cache: dict = field(default_factory=dict, repr=False)

    # ------------------------------------------------------------------ engine views
    @property
    def engine(self) -> str:
        """The engine that aggregates: 'pandas', 'duckdb' or the Ibis backend's name (e.g. 'pyspark')."""
        if self.kind == "ibis":
            try:
                return str(self.table()._find_backend().name)
            except Exception:  # pragma: no cover - unbound tables
                return "ibis"
        return self.kind

    def table(self) -> Any:
        """The rows as an Ibis table expression (files: a view in a private embedded DuckDB)."""
        if self.kind == "ibis":
            return self._table
        if "table" in self._cache:
            return self._cache["table"]
        import ibis

        if self.kind == "pandas":
            con = None
            t = ibis.memtable(self.frame)  # runs on Ibis's default backend (the embedded DuckDB)
        else:
            con = ibis.duckdb.connect(**({"threads": self.threads} if self.threads else {}))
            con.raw_sql("SET enable_progress_bar = false")  # our callers own the terminal (and --quiet)
            name = f"uplift_src_{next(_counter)}"
            try:
                if self.format == "parquet":
                    t = con.read_parquet(list(self.paths), table_name=name)
                else:
                    t = con.read_csv(list(self.paths), table_name=name)
            except Exception as exc:  # duckdb's IOException / InvalidInputException
                first = (str(exc).splitlines() or [type(exc).__name__])[0][:160]
                raise DataError(f"{self.label}: cannot be read as {self.format} ({first}); check the file is complete") from None
        self._cache["table"] = t
        self._cache["con"] = con
        return t

    def schema(self) -> dict[str, str]:
        """Column name -> type family ('boolean', 'integer', 'floating', 'decimal', 'string', 'other')."""
        if self.kind == "pandas":
            return {str(c): _pandas_family(self.frame[c]) for c in self.frame.columns}
        if "schema" not in self._cache:
            sch = self.table().schema()
            self._cache["schema"] = {str(n): _type_family(t) for n, t in sch.items()}
        return self._cache["schema"]

    @property
    def columns(self) -> list[str]:
        return list(self.schema())

    def require(self, roles: Mapping[str, str], numeric: bool = True) -> None:
        """Raise :class:`DataError` unless every column in ``roles`` (column -> its role) exists
        (and, with ``numeric``, holds numbers or booleans)."""
        sch = self.schema()
        for col, role in roles.items():
            if col not in sch:
                have = ", ".join(list(sch)[:12])
                raise DataError(f"{self.label}: column '{col}' ({role}) not found; add it or fix the spec (columns: {have})")
            if numeric and sch[col] not in ("boolean", "integer", "floating", "decimal"):
                raise DataError(f"{self.label}: column '{col}' ({role}) holds {sch[col]} values, not numbers; "
                                "convert it to numbers (e.g. 0/1 or amounts) before the readout")

    def to_pandas(self, columns: list[str] | None = None) -> pd.DataFrame:
        """The rows as pandas (for row-level work only: uplift models, tests). Loads everything asked for."""
        if self.kind == "pandas":
            return self.frame if columns is None else self.frame[columns]
        t = self.table()
        if columns is not None:
            t = t.select(*columns)
        return t.to_pandas()

    def sha256(self) -> str | None:
        """SHA-256 tracing the input (results.json ``data_sha256``): of the file's bytes for one file;
        for several files, of the lines ``<sha256>  <file name>`` in path order. None for a DataFrame or
        an engine table (hash what produced them instead)."""
        if self.kind != "duckdb":
            return None
        import hashlib

        from uplift.data.files import file_sha256

        if len(self.paths) == 1:
            return file_sha256(self.paths[0])
        lines = "".join(f"{file_sha256(p)}  {Path(p).name}\n" for p in self.paths)
        return hashlib.sha256(lines.encode("utf-8")).hexdigest()

    def close(self) -> None:
        """Close the private DuckDB connection of a file source (no-op otherwise)."""
        con = self._cache.pop("con", None)
        self._cache.clear()
        if con is not None and self.kind != "ibis":
            con.disconnect()


def _files(path: Path, fmt: str | None, label: str) -> tuple[tuple[str, ...], str]:
    if not path.exists():
        raise DataError(f"{label}: file or folder not found; check the path")
    if path.is_dir():
        found: dict[str, list[str]] = {}
        for p in sorted(path.rglob("*")):
            if p.is_file() and not p.name.startswith((".", "_")) and p.suffix.lower() in _FORMATS:
                found.setdefault(_FORMATS[p.suffix.lower()], []).append(str(p))
        if fmt:
            files = found.get(fmt, [])
        elif len(found) == 1:
            fmt, files = next(iter(found.items()))
        elif not found:
            files = []
        else:
            raise DataError(f"{label}: the folder holds both Parquet and CSV files; keep one kind or set [population] format")
        if not files:
            raise DataError(f"{label}: the folder holds no {fmt or 'Parquet or CSV'} files; check the path")
        return tuple(files), str(fmt)
    fmt = fmt or _FORMATS.get(path.suffix.lower())
    if fmt not in ("parquet", "csv"):
        raise DataError(f"{label}: unknown file type {path.suffix or '(none)'}; use .parquet or .csv, or set [population] format")
    return (str(path),), fmt


def open_source(obj: Any, *, format: str | None = None, label: str | None = None,
                threads: int | None = None) -> Source:
    """A :class:`Source` for ``obj``: a DataFrame, a path (file or folder of Parquet/CSV), an Ibis
    table, a PySpark DataFrame, or an existing Source (returned as is).

    ``format`` ("parquet" or "csv") overrides the file suffix; ``threads`` caps DuckDB's threads.
    Raises :class:`DataError` (one line) for a missing path, an unknown file type or a folder
    without data files.
    """
    if isinstance(obj, Source):
        return obj
    if format is not None and format not in ("parquet", "csv", "auto", ""):
        raise DataError(f"[population] format = {format!r}: use 'parquet' or 'csv'")
    fmt = None if format in (None, "", "auto") else format
    if isinstance(obj, pd.DataFrame):
        return Source("pandas", label or "outcomes", frame=obj)
    if isinstance(obj, (str, Path)):
        p = Path(obj)
        files, fmt = _files(p, fmt, label or str(p))
        return Source("duckdb", label or str(p), paths=files, format=fmt, threads=threads)
    mod = type(obj).__module__
    if mod.startswith("pyspark.sql"):
        import ibis

        session = obj.sparkSession
        con = _SPARK_BACKENDS.get(id(session))
        if con is None:  # one Ibis backend per session, so tables of one session can be joined
            con = _SPARK_BACKENDS[id(session)] = ibis.pyspark.connect(session)
        name = f"uplift_src_{next(_counter)}"
        obj.createOrReplaceTempView(name)
        return Source("ibis", label or f"spark table {name}", _table=con.table(name))
    if mod.startswith("ibis."):
        import ibis.expr.types as ir

        if isinstance(obj, ir.Table):
            return Source("ibis", label or "engine table", _table=obj)
    raise DataError(f"{label or 'outcomes'}: cannot read a {type(obj).__name__}; give a DataFrame, a Parquet/CSV path, "
                    "an Ibis table or a Spark DataFrame")


def source_from_spec(spec: Any, which: str = "outcomes", override: Any = None) -> Source:
    """The source a spec names: ``override`` if given (a path, DataFrame or table), else
    ``[population] <which>`` (``outcomes`` or ``source``) resolved against the spec's folder,
    read as ``[population] format`` (default: from the file suffix)."""
    pop = spec.section("population") if spec.has("population") else {}
    fmt = pop.get("format") or None
    if override is not None:
        return open_source(override, format=fmt if isinstance(override, (str, Path)) else None)
    rel = pop.get(which) or ""
    if not rel:
        raise DataError(f"{spec.label}: no [population] {which} path; add it or pass the data explicitly")
    return open_source(spec.resolve(rel), format=fmt)
