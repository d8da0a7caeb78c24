"""Where the customer rows live: the one seam every row passes through, with exactly two backends.

* **frames** (:class:`~uplift.data.frame_backend.FrameSource`): a pandas DataFrame in memory,
  aggregated by numpy; fast for small data. Parquet/CSV files can be read into it;
* **Ibis** (:class:`~uplift.data.ibis_backend.IbisSource`): rows that stay where they are -- a
  Parquet or CSV file, a list of files or a folder of them read by the embedded DuckDB (only the
  needed columns are read), a DataFrame scanned by DuckDB, or a table of any engine Ibis
  speaks to (DuckDB, PySpark, BigQuery, Snowflake, Postgres, ...), a PySpark DataFrame included.

Both answer the same few questions (the :class:`Source` protocol below); the answers are small
tables, turned into sufficient statistics, life tables and validation facts by
:mod:`uplift.data.collect`, and checked by :func:`uplift.data.facts.validate`, the same code for
both. :func:`open_source` picks the backend from the object (or the ``engine`` asked for);
nobody above this package asks which one it got. Paths are bound as data, column names are
column references: nothing a user wrote is evaluated as code.
"""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any, Protocol, Sequence

import pandas as pd

from uplift.data import ibis_backend
from uplift.data.engines import ENGINES
from uplift.data.facts import Tally
from uplift.data.files import read_file, resolve_files
from uplift.data.frame_backend import FrameSource
from uplift.data.ibis_backend import IbisSource
from uplift.data.moments import Moments
from uplift.data.needs import Needs
from uplift.errors import DataError

__all__ = ["Source", "ENGINES", "open_source", "source_from_spec"]  # ENGINES: the engine values open_source takes

_SPARK_BACKENDS: dict[int, Any] = {}
_spark_names = itertools.count()


class Source(Protocol):
    """A table of customer rows and the questions every backend answers.

    ``backend`` is "frame" or "ibis", ``engine`` the engine that aggregates ("pandas", "duckdb",
    "pyspark", ...), ``description`` how provenance names it.
    """

    label: str
    backend: str

    @property
    def engine(self) -> str: ...

    @property
    def description(self) -> str: ...

    @property
    def columns(self) -> list[str]: ...

    def schema(self) -> dict[str, str]: ...

    def categories(self, column: str) -> list[Any] | None: ...

    def sha256(self) -> str | None: ...

    def to_pandas(self, columns: Sequence[str] | None = None, order_by: str | None = None) -> pd.DataFrame: ...

    def close(self) -> None: ...

    def table_facts(self, unit: str | None) -> tuple[int, int | None, int]: ...

    def counts(self, by: Sequence[str]) -> pd.DataFrame: ...

    def moments(self, by: Sequence[str], needs: Needs) -> tuple[dict[tuple, Moments], Tally]: ...

    def life_counts(self, by: Sequence[str], duration: str, event: str,
                    value: str | None) -> tuple[pd.DataFrame, tuple[int, int]]: ...

    def summaries(self, by: str, columns: Sequence[str]) -> pd.DataFrame: ...

    def level_counts(self, by: str, column: str) -> pd.DataFrame: ...

    def odd_ids(self, unit: str) -> list[str]: ...

    def ids_among(self, unit: str, candidates: Sequence[str]) -> set[str]: ...

    def hash64(self, unit: str, salt: str) -> pd.DataFrame: ...

    def join_columns(self, other: Any, unit: str, columns: Sequence[str]) -> "Source": ...

    def where_present(self, column: str) -> "Source": ...

    def with_bins(self, column: str, edges: Sequence[float], labels: Sequence[str], name: str) -> "Source": ...

    def with_timing(self, flag: str, time: str, followup: str, competing: str | None, window: float,
                    names: tuple[str, str, str]) -> "Source": ...


def _is_source(obj: Any) -> bool:
    return isinstance(obj, (FrameSource, IbisSource))


def _spark_table(obj: Any, label: str | None) -> IbisSource:
    import ibis

    session = obj.sparkSession
    con = _SPARK_BACKENDS.get(id(session))
    if con is None:  # one Ibis backend per session, so tables of one session can be joined
        con = _SPARK_BACKENDS[id(session)] = ibis.pyspark.connect(session)
    name = f"uplift_spark_{id(obj)}_{next(_spark_names)}"
    obj.createOrReplaceTempView(name)
    return ibis_backend.table_source(con.table(name), label or f"spark table {name}")


def _beside(obj: Any, other: Source, label: str, fmt: str | None, text: tuple[str, ...]) -> Source:
    """``obj`` on ``other``'s backend (and connection), so the two can be joined."""
    if isinstance(other, FrameSource):
        if isinstance(obj, pd.DataFrame):
            return FrameSource(obj, label)
        if isinstance(obj, (str, Path)):
            files, fmt = resolve_files(obj, fmt, label)
            return FrameSource(read_file(list(files), fmt, label, text), label, paths=files)
        return FrameSource(open_source(obj, label=label).to_pandas(), label)
    if isinstance(obj, (str, Path)):
        return other.beside(resolve_files(obj, fmt, label), label, text)
    if isinstance(obj, pd.DataFrame):
        return other.beside(obj, label)
    src = open_source(obj, label=label)  # a source, an Ibis table or a Spark DataFrame
    return other.beside(src.frame, label) if isinstance(src, FrameSource) else src


def open_source(obj: Any, *, format: str | None = None, label: str | None = None, threads: int | None = None,
                engine: str | None = None, beside: Source | None = None, text_columns: Sequence[str] = ()) -> Source:
    """A :class:`Source` for ``obj``: a DataFrame, a path (file or folder of Parquet/CSV), an Ibis
    table, a PySpark DataFrame, or an existing Source.

    ``engine`` "pandas" holds the rows in memory (files are read into pandas), "duckdb" leaves them
    to an engine (a DataFrame is scanned by the embedded DuckDB), None or "auto" decides from the
    object (a DataFrame stays in memory, everything else stays in its engine). ``beside`` opens
    ``obj`` on that source's backend and connection, to be joined with it (a ledger, a population).
    ``format`` ("parquet" or "csv") overrides the file suffix; ``threads`` caps DuckDB's threads;
    ``text_columns`` (the unit column) are read from CSV files as text on every engine.
    Raises :class:`DataError` (one line) for a missing path, an unknown file type, a folder
    without data files, an empty or unreadable file, or an object it cannot read.
    """
    if format is not None and format not in ("parquet", "csv", "auto", ""):
        raise DataError(f"[population] format = {format!r}: use 'parquet' or 'csv'")
    if engine not in (None, *ENGINES):
        raise DataError(f"engine {engine!r}: use one of {', '.join(ENGINES)}")
    fmt = None if format in (None, "", "auto") else format
    text = tuple(c for c in text_columns if c)
    if beside is not None:
        return _beside(obj, beside, label or (str(obj) if isinstance(obj, (str, Path)) else "data"), fmt, text)
    in_memory = engine == "pandas"
    if _is_source(obj):
        if in_memory and isinstance(obj, IbisSource):
            return FrameSource(obj.to_pandas(), obj.label, paths=obj.paths)
        if engine == "duckdb" and isinstance(obj, FrameSource):
            return ibis_backend.frame_source(obj.frame, obj.label)
        return obj
    if isinstance(obj, pd.DataFrame):
        if engine == "duckdb":
            return ibis_backend.frame_source(obj, label or "outcomes")
        return FrameSource(obj, label or "outcomes")
    if isinstance(obj, (str, Path)):
        label = label or str(obj)
        files, fmt = resolve_files(obj, fmt, label)
        if in_memory:
            return FrameSource(read_file(list(files), fmt, label, text), label, paths=files)
        return ibis_backend.files_source(files, fmt, label, threads, text)
    mod = type(obj).__module__
    if mod.startswith("pyspark.sql"):
        src = _spark_table(obj, label)
    elif mod.startswith("ibis.") and hasattr(obj, "schema") and hasattr(obj, "group_by"):
        src = ibis_backend.table_source(obj, label or "engine table")
    else:
        raise DataError(f"{label or 'outcomes'}: cannot read a {type(obj).__name__}; give a DataFrame, a Parquet/CSV "
                        "path, an Ibis table or a Spark DataFrame")
    return FrameSource(src.to_pandas(), src.label) if in_memory else src


def source_from_spec(spec: Any, which: str = "outcomes", override: Any = None, engine: str | None = None) -> Source:
    """The source a spec names: ``override`` if given (a path, DataFrame or table), else
    ``[population] <which>`` (``outcomes`` or ``source``) resolved against the spec's folder,
    read as ``[population] format`` (default: from the file suffix)."""
    fmt = spec.population.format or None
    if override is not None:
        return open_source(override, format=fmt if isinstance(override, (str, Path)) else None, engine=engine,
                           text_columns=(spec.unit,))
    rel = getattr(spec.population, which)
    if not rel:
        raise DataError(f"{spec.label}: no [population] {which} path; add it or pass the data explicitly")
    return open_source(spec.resolve(rel), format=fmt, engine=engine, text_columns=(spec.unit,))
