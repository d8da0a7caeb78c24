"""The engines a readout runs on (``--engine``): ``auto`` (files through the embedded DuckDB, DataFrames in
memory), ``pandas`` (files read into memory) and ``duckdb``. A module of its own, so that naming them (the
command line's ``--help``, the readout's checks before the notebook starts) imports no data library."""

from __future__ import annotations

__all__ = ["ENGINES"]

ENGINES: tuple[str, ...] = ("auto", "pandas", "duckdb")
