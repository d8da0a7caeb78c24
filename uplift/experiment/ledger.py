"""The assignment ledger: an append-only table of who got which arm, read and written safely.

Columns (one row per assigned unit):

=================== ==========================================================
experiment          the spec's ``[experiment] name``
<unit>              the unit id, in the column named by ``[experiment] unit``
arm                 the arm
stratum             ``col=value|col=value`` of the stratify columns, or ``all``
spec_sha256         SHA-256 of the spec text that assigned the row
assignment_config   canonical JSON of salt, arms and weights, control, stratify, unit
assigned_at         the date the row was assigned (see :func:`uplift.experiment.assign.assign`)
=================== ==========================================================

Parquet (``.parquet``/``.pq``) or CSV (``.csv``). Text columns are stored as
categoricals with sorted categories, so equal content gives equal bytes.
Writes go to a temporary file that is renamed over the ledger (:mod:`uplift.data.files`),
so a crash mid-write leaves the previous ledger intact.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import numpy as np
import pandas as pd
from pandas.api.types import union_categoricals

from uplift.data.facts import LEDGER_COLUMNS
from uplift.data.files import atomic_write
from uplift.errors import DataError
from uplift.spec.record import assignment_config  # re-exported: what the ledger records

__all__ = [
    "LEDGER_TEXT_COLUMNS", "concat_ledgers", "distinct_text", "ledger_columns", "assignment_config", "read_ledger",
    "write_ledger", "write_table", "table_writer", "ledger_writer", "empty_ledger",
]

LEDGER_TEXT_COLUMNS: tuple[str, ...] = LEDGER_COLUMNS  # defined once, with the other reserved names
_SUFFIXES = (".parquet", ".pq", ".csv")


def ledger_columns(unit: str) -> list[str]:
    """The ledger's columns in order, with the unit column named ``unit``."""
    return [LEDGER_COLUMNS[0], unit, *LEDGER_COLUMNS[1:]]


def empty_ledger(unit: str) -> pd.DataFrame:
    """A ledger with no rows."""
    df = pd.DataFrame({c: pd.Series([], dtype=object) for c in ledger_columns(unit)})
    return normalise(df, unit)


def normalise(df: pd.DataFrame, unit: str) -> pd.DataFrame:
    """Columns in ledger order, text columns as categoricals with sorted categories."""
    cols = {}
    for c in ledger_columns(unit):
        col = df[c].reset_index(drop=True)
        cols[c] = _sorted_categorical(col) if c in LEDGER_TEXT_COLUMNS else col
    return pd.DataFrame(cols)


def _sorted_categorical(col: pd.Series) -> pd.Series:
    """Text as a categorical whose categories are the used values, sorted (equal content, equal bytes)."""
    if not isinstance(col.dtype, pd.CategoricalDtype):
        col = col.astype("category")  # factorises the values themselves: no per-row text copy
    codes = col.cat.codes.to_numpy()
    k = len(col.cat.categories)
    if k and not (np.bincount(codes[codes >= 0] if (codes < 0).any() else codes, minlength=k) > 0).all():
        col = col.cat.remove_unused_categories()
    cats = [str(v) for v in col.cat.categories]
    if len(set(cats)) != len(cats):  # e.g. 1 and "1": collapse through text (rare, small)
        col = col.astype(object).map(str).astype("category")
        cats = [str(v) for v in col.cat.categories]
    if list(col.cat.categories) != cats or col.cat.categories.dtype != object:
        col = col.cat.rename_categories(pd.Index(cats, dtype=object))
    if cats != sorted(cats):
        col = col.cat.reorder_categories(sorted(cats))
    return col


def concat_ledgers(old: pd.DataFrame, new: pd.DataFrame, unit: str) -> pd.DataFrame:
    """``old`` followed by ``new``; text columns stay categorical (union of categories)."""
    a, b = normalise(old, unit), normalise(new, unit)
    out = {}
    for c in ledger_columns(unit):
        if c in LEDGER_TEXT_COLUMNS:
            out[c] = pd.Series(union_categoricals([a[c], b[c]], ignore_order=True))
        else:
            out[c] = pd.concat([a[c], b[c]], ignore_index=True)
    return normalise(pd.DataFrame(out), unit)


def distinct_text(col: pd.Series) -> list[str]:
    """The distinct values of a column as sorted text, without materialising a text copy of every row."""
    if isinstance(col.dtype, pd.CategoricalDtype):
        return sorted({str(v) for v in col.cat.remove_unused_categories().cat.categories})
    return sorted({str(v) for v in pd.unique(col)})


def _check_suffix(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix not in _SUFFIXES:
        raise DataError(f"{path}: unknown ledger type {suffix or '(none)'}; name the ledger .parquet or .csv")
    return suffix


def read_ledger(path: str | Path, unit: str) -> pd.DataFrame | None:
    """Read a ledger file; ``None`` if it does not exist. Raises :class:`DataError` if malformed."""
    p = Path(path)
    suffix = _check_suffix(p)
    if not p.exists():
        return None
    if p.is_dir():
        raise DataError(f"{p}: is a directory; give the ledger's file name")
    try:
        if suffix == ".csv":
            df = pd.read_csv(p, dtype=str, keep_default_na=False)
        else:
            df = pd.read_parquet(p)
    except Exception as exc:  # pyarrow/pandas raise many types for corrupt files
        first = str(exc).splitlines()[0][:160] if str(exc) else type(exc).__name__
        raise DataError(f"{p}: cannot be read as a ledger ({first}); restore it from a backup") from None
    missing = [c for c in ledger_columns(unit) if c not in df.columns]
    if missing:
        raise DataError(
            f"{p}: is not a ledger for unit '{unit}' (missing column(s) {', '.join(missing)}); "
            "give the ledger written by `uplift assign` for this spec"
        )
    return normalise(df, unit)


def write_ledger(df: pd.DataFrame, path: str | Path, unit: str) -> None:
    """Write the ledger atomically (temporary file, then rename)."""
    atomic_write(path, ledger_writer(df, path, unit))


def ledger_writer(df: pd.DataFrame, path: str | Path, unit: str) -> Callable[[str], object]:
    """The function that writes the ledger ``df`` to a temporary file (see :func:`table_writer`)."""
    _check_suffix(Path(path))
    return table_writer(normalise(df, unit), path)


def write_table(frame: pd.DataFrame, path: str | Path) -> None:
    """Write a ledger-style table atomically: CSV (no index, ``\\n`` line ends) when the file
    is named ``.csv``, else Parquet. Shared by the ledger and its exclusion log."""
    atomic_write(path, table_writer(frame, path))


def table_writer(frame: pd.DataFrame, path: str | Path) -> Callable[[str], object]:
    """The function that writes ``frame`` to a temporary file in the format ``path`` names
    (for :func:`uplift.data.writes.commit_files`)."""
    if Path(path).suffix.lower() == ".csv":
        return lambda tmp: frame.to_csv(tmp, index=False, lineterminator="\n")
    return lambda tmp: frame.to_parquet(tmp, index=False)


def describe(df: pd.DataFrame) -> dict[str, Any]:
    """Counts per arm (aggregates only)."""
    return {str(k): int(v) for k, v in df["arm"].value_counts(sort=False).items() if v}
