"""The input manifest of a readout: what finance needs to check that a number came from these files.

For every input (outcomes, ledger, population) and the spec, :func:`input_manifest` records the
file name, its size in bytes (``os.stat``), its row count (as pandas reads it) and the SHA-256 of
its bytes -- the value ``sha256sum <file>`` prints, so anyone can check a file with the standard
tool. A folder of data files (a partitioned table) is listed part by part, each with its own size,
rows and SHA-256. The ledger's recorded spec hash (column ``spec_sha256``: the SHA-256 of the spec
text that assigned each row, see :mod:`uplift.experiment.ledger`) is listed beside the spec file's
own hash, so a ledger assigned by another version of the spec shows.

``data_sha256`` (:func:`checksum_list_sha256`) is one value for all inputs: the SHA-256 of the
checksum list, the lines ``<sha256>  <name>`` (the format ``sha256sum`` prints and ``sha256sum -c``
reads) of the data files in manifest order. It is *not* the hash of any file.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from uplift.data.files import FORMATS, file_sha256, resolve_files

__all__ = ["checksum_lines", "checksum_list_sha256", "file_entry", "input_entries", "ledger_spec_hashes"]


def _row_count(path: Path, fmt: str) -> int:
    """Rows of one data file as pandas reads it: Parquet from the file's metadata (equal to
    ``len(pd.read_parquet(path))``), CSV by reading its first column (header excluded)."""
    if fmt == "parquet":
        import pyarrow.parquet as pq

        return pq.ParquetFile(path).metadata.num_rows
    import pandas as pd

    return len(pd.read_csv(path, usecols=[0], keep_default_na=False, na_values=[""]))


def file_entry(role: str, path: str | Path, name: str, fmt: str | None = None) -> dict[str, Any]:
    """One row of the manifest: role, name, size in bytes, rows (None when not a data file), SHA-256."""
    p = Path(path)
    fmt = fmt or FORMATS.get(p.suffix.lower())
    return {
        "role": role,
        "name": name,
        "bytes": int(os.stat(p).st_size),
        "rows": _row_count(p, fmt) if fmt in ("parquet", "csv") else None,
        "sha256": file_sha256(p),
    }


def input_entries(role: str, path: str | Path, fmt: str | None = None) -> list[dict[str, Any]]:
    """The manifest rows of one input: one row for a file; for a folder, one row per data file
    (the parts the readout reads, :func:`uplift.data.files.resolve_files`), named ``folder/part``."""
    p = Path(path)
    files, found_fmt = resolve_files(p, fmt or None, str(p))
    if p.is_dir():
        return [file_entry(role, f, f"{p.name}/{Path(f).relative_to(p).as_posix()}", found_fmt) for f in files]
    return [file_entry(role, p, p.name, found_fmt)]


def checksum_lines(entries: Sequence[Mapping[str, Any]]) -> str:
    """The entries as ``sha256sum`` prints them: ``<sha256>  <name>`` per line."""
    return "".join(f"{e['sha256']}  {e['name']}\n" for e in entries)


def checksum_list_sha256(entries: Sequence[Mapping[str, Any]]) -> str:
    """SHA-256 of :func:`checksum_lines` (one fingerprint of all inputs; "" when there are none)."""
    return hashlib.sha256(checksum_lines(entries).encode("utf-8")).hexdigest() if entries else ""


def ledger_spec_hashes(path: str | Path) -> list[str]:
    """The distinct spec hashes a ledger records (column ``spec_sha256``), sorted; [] when it has none."""
    p = Path(path)
    files, fmt = resolve_files(p, None, str(p))
    import pandas as pd

    found: set[str] = set()
    for f in files:
        if fmt == "parquet":
            import pyarrow.parquet as pq

            if "spec_sha256" not in pq.ParquetFile(f).schema_arrow.names:
                continue  # no such column: arms from elsewhere
            col = pd.read_parquet(f, columns=["spec_sha256"])["spec_sha256"]
        else:
            if "spec_sha256" not in pd.read_csv(f, nrows=0).columns:
                continue
            col = pd.read_csv(f, usecols=["spec_sha256"], dtype=str, keep_default_na=False)["spec_sha256"]
        found |= {str(v) for v in col.dropna().unique() if str(v)}
    return sorted(found)
