"""Reading and writing files safely: atomic writes, and one-line errors for bad files.

CSV files follow one missing-value rule wherever they are read (in memory here, or by the
embedded DuckDB in :mod:`uplift.data.ibis_backend`): only an *empty* field is missing. Text
such as ``NA``, ``None`` or ``null`` is text (a numeric column holding it is a text column);
``NaN`` and ``inf`` in a numeric column are the floating-point values NaN and infinity, which
the checks of :mod:`uplift.data.facts` count as missing and infinite. The unit column (the
``text_columns`` the callers name) is always read as text, so an id keeps its leading zeros.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from uplift.data.writes import commit_files
from uplift.results import to_json

if TYPE_CHECKING:  # pandas is imported where rows are read: writing and naming files need none of it
    import pandas as pd

__all__ = ["DataError", "FORMATS", "refuse_empty", "resolve_files", "read_csv", "read_file", "read_table", "atomic_write",
           "write_parquet_atomic", "write_json_atomic", "write_text_atomic", "parquet_writer", "text_writer", "json_writer", "file_sha256", "files_sha256"]


from uplift.errors import DataError  # noqa: E402  (re-exported)

FORMATS = {".parquet": "parquet", ".pq": "parquet", ".csv": "csv", ".txt": "csv", ".tsv": "csv"}
"""File suffix -> format of the data files the toolkit reads."""
_NAN_TEXT = ("NaN", "nan", "-NaN", "-nan")


def atomic_write(path: str | Path, write: Callable[[str], object]) -> None:
    """Create ``path`` by ``write(temporary_path)``, fsync, then rename: never half-written.

    The temporary file sits in the same folder as the file (a symlink's target, so the link is
    kept) and is removed if ``write`` fails; the file gets the usual permissions (0666 minus the
    umask). Several files written as one unit: :func:`uplift.data.writes.commit_files`.
    """
    commit_files([(path, write)])


def parquet_writer(df: pd.DataFrame) -> Callable[[str], object]:
    """A writer of ``df`` as Parquet for :func:`atomic_write` / :func:`uplift.data.writes.commit_files`."""
    return lambda tmp: df.to_parquet(tmp, index=False)


def text_writer(text: str) -> Callable[[str], object]:
    """A writer of UTF-8 text with ``\\n`` line ends (see :func:`parquet_writer`)."""
    def w(tmp: str) -> None:
        with open(tmp, "w", encoding="utf-8", newline="\n") as fh:
            fh.write(text)
    return w


def json_writer(obj: Any) -> Callable[[str], object]:
    """A writer of ``obj`` as JSON (:func:`uplift.results.to_json`: sorted keys, 2-space indent)."""
    return text_writer(to_json(obj) + "\n")


def write_parquet_atomic(df: pd.DataFrame, path: str | Path) -> None:
    """Write a DataFrame to Parquet via a temporary file and a rename (never half-written)."""
    atomic_write(path, parquet_writer(df))


def write_text_atomic(text: str, path: str | Path) -> None:
    """Write text via a temporary file and a rename."""
    atomic_write(path, text_writer(text))


def write_json_atomic(obj: Any, path: str | Path) -> None:
    """Write ``obj`` as JSON (:func:`uplift.results.to_json`: sorted keys, 2-space indent) atomically."""
    atomic_write(path, json_writer(obj))


def file_sha256(path: str | Path) -> str:
    """SHA-256 of a file's bytes."""
    import hashlib

    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def files_sha256(paths: tuple[str, ...] | list[str]) -> str | None:
    """SHA-256 tracing data files (results.json ``data_sha256``): of the file's bytes for one file;
    for several, of the lines ``<sha256>  <file name>`` in path order. None for no files."""
    import hashlib

    if not paths:
        return None
    if len(paths) == 1:
        return file_sha256(paths[0])
    lines = "".join(f"{file_sha256(p)}  {Path(p).name}\n" for p in paths)
    return hashlib.sha256(lines.encode("utf-8")).hexdigest()


def refuse_empty(path: str | Path, label: str) -> None:
    """Raise a one-line :class:`DataError` for an empty (0-byte) file, naming it unless ``label`` does."""
    if Path(path).stat().st_size == 0:
        which = "" if str(path) == label else f" ({Path(path).name})"
        raise DataError(f"{label}{which}: the file is empty (0 bytes); give a file with a header and at least one row")


def resolve_files(path: str | Path, fmt: str | None, label: str) -> tuple[tuple[str, ...], str]:
    """The data files a path names and their format: the file itself, or every Parquet/CSV file
    below a folder (sorted; names starting with '.' or '_', such as ``_SUCCESS``, are skipped).

    ``fmt`` ("parquet"/"csv") overrides the suffix. Raises a one-line :class:`DataError` for a missing
    path, an unknown file type, a folder without data files or mixing both formats, or an empty file.
    """
    path = Path(path)
    if not path.exists():
        raise DataError(f"{label}: file or folder not found; check the path")
    if path.is_dir():
        found: dict[str, list[str]] = {}
        for p in sorted(path.rglob("*")):
            if p.is_file() and not p.name.startswith((".", "_")) and p.suffix.lower() in FORMATS:
                found.setdefault(FORMATS[p.suffix.lower()], []).append(str(p))
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
    else:
        fmt = fmt or FORMATS.get(path.suffix.lower())
        if fmt not in ("parquet", "csv"):
            raise DataError(f"{label}: unknown file type {path.suffix or '(none)'}; use .parquet or .csv, "
                            "or set [population] format")
        files = [str(path)]
    for f in files:
        refuse_empty(f, label)
    return tuple(files), str(fmt)


def read_csv(path: str | Path, text_columns: tuple[str, ...] | list[str] = ()) -> pd.DataFrame:
    """Read a CSV file into pandas with the module's missing-value rule: only an empty field is
    missing; ``NA``/``None``/``null`` stay text; a column of numbers and ``NaN`` is numeric.
    ``text_columns`` (the unit column) are text whatever they hold (``00000001`` stays ``00000001``)."""
    import pandas as pd

    df = pd.read_csv(path, keep_default_na=False, na_values=[""], dtype={c: str for c in text_columns})
    for c in df.columns:
        col = df[c]
        if c in text_columns:
            continue
        if col.dtype == object and col.isin(_NAN_TEXT).any():
            try:
                df[c] = pd.to_numeric(col.where(~col.isin(_NAN_TEXT)), errors="raise")
            except (ValueError, TypeError):
                pass  # a text column that happens to hold the word NaN
    return df


def read_file(paths: str | Path | list[str], fmt: str, label: str,
              text_columns: tuple[str, ...] | list[str] = ()) -> pd.DataFrame:
    """Read one Parquet/CSV file, or several of one format (concatenated in order), into pandas.

    Raises a one-line :class:`DataError` naming ``label`` for an empty (0-byte) or unreadable file;
    a file with a header and no rows is returned as an empty frame (the callers' checks count rows).
    ``text_columns`` are read from CSV as text (:func:`read_csv`).
    """
    import pandas as pd

    files = [Path(p) for p in (paths if isinstance(paths, (list, tuple)) else [paths])]
    frames = []
    for p in files:
        refuse_empty(p, label)
        try:
            frames.append(pd.read_parquet(p) if fmt == "parquet" else read_csv(p, text_columns))
        except Exception as exc:  # pyarrow/pandas raise many types for corrupt or unreadable files
            if isinstance(exc, PermissionError):
                raise DataError(f"{label}: cannot be read (permission denied); check the file's permissions") from None
            text = str(exc).strip()
            first = " ".join(text.splitlines()[0].split())[:160] if text else type(exc).__name__
            raise DataError(f"{label}: cannot be read as {fmt} ({first}); check the file is complete") from None
    return frames[0] if len(frames) == 1 else pd.concat(frames, ignore_index=True)


def read_table(path: str | Path, what: str = "data", text_columns: tuple[str, ...] | list[str] = ()) -> pd.DataFrame:
    """Read a Parquet or CSV file into pandas, with a one-line :class:`DataError` on failure
    (missing, a directory, an unknown type, unreadable, or no rows); ``text_columns`` (the unit
    column) are read from CSV as text."""
    p = Path(path)
    if not p.exists():
        raise DataError(f"{p}: {what} file not found; check the path")
    if p.is_dir():
        raise DataError(f"{p}: is a directory; give a .parquet or .csv file")
    suffix = p.suffix.lower()
    if suffix not in (".parquet", ".pq", ".csv", ".txt"):
        raise DataError(f"{p}: unknown file type {suffix or '(none)'}; use .parquet or .csv")
    df = read_file(p, FORMATS[suffix], str(p), text_columns)
    if len(df) == 0:
        raise DataError(f"{p}: {what} file has no rows; give a file with at least one row")
    return df
