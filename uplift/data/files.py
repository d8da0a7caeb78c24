"""Reading and writing files safely: atomic writes, and one-line errors for bad files."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any, Callable

import pandas as pd

__all__ = ["DataError", "read_table", "atomic_write", "write_parquet_atomic", "write_json_atomic", "write_text_atomic", "file_sha256"]


from uplift.errors import DataError  # noqa: E402  (re-exported)


def atomic_write(path: str | Path, write: Callable[[str], object]) -> None:
    """Create ``path`` by ``write(temporary_path)``, fsync, then rename: never half-written.

    The temporary file sits in the same folder (so the rename is atomic) and is removed if
    ``write`` fails; the file gets the usual permissions (0666 minus the umask).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600; a report should get the usual permissions
    try:
        write(tmp)
        with open(tmp, "rb") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


def write_parquet_atomic(df: pd.DataFrame, path: str | Path) -> None:
    """Write a DataFrame to Parquet via a temporary file and a rename (never half-written)."""
    atomic_write(path, lambda tmp: df.to_parquet(tmp, index=False))


def write_text_atomic(text: str, path: str | Path) -> None:
    """Write text via a temporary file and a rename."""
    def w(tmp: str) -> None:
        with open(tmp, "w", encoding="utf-8", newline="\n") as fh:
            fh.write(text)
    atomic_write(path, w)


def write_json_atomic(obj: Any, path: str | Path) -> None:
    """Write JSON (sorted keys, 2-space indent, NaN refused) atomically."""
    write_text_atomic(json.dumps(obj, indent=2, sort_keys=True, allow_nan=False) + "\n", path)


def file_sha256(path: str | Path) -> str:
    """SHA-256 of a file's bytes."""
    import hashlib

    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def read_table(path: str | Path, what: str = "data") -> pd.DataFrame:
    """Read a Parquet or CSV file into pandas, with a one-line :class:`DataError` on failure."""
    p = Path(path)
    if not p.exists():
        raise DataError(f"{p}: {what} file not found; check the path")
    if p.is_dir():
        raise DataError(f"{p}: is a directory; give a .parquet or .csv file")
    suffix = p.suffix.lower()
    if suffix not in (".parquet", ".pq", ".csv", ".txt"):
        raise DataError(f"{p}: unknown file type {suffix or '(none)'}; use .parquet or .csv")
    try:
        df = pd.read_parquet(p) if suffix in (".parquet", ".pq") else pd.read_csv(p)
    except Exception as exc:  # pyarrow/pandas raise many types for corrupt or unreadable files
        if isinstance(exc, PermissionError):
            raise DataError(f"{p}: cannot be read (permission denied); check the file's permissions") from None
        text = str(exc).strip()
        first = " ".join(text.splitlines()[0].split())[:160] if text else type(exc).__name__
        raise DataError(f"{p}: cannot be read as {suffix[1:]} ({first}); check the file is complete") from None
    if len(df) == 0:
        raise DataError(f"{p}: {what} file has no rows; give a file with at least one row")
    return df
