"""Salted SHA-256 assignment buckets: the one definition every engine must reproduce.

    hash64(unit) = int(first 8 bytes of SHA-256(utf8(salt + ":" + canonical(unit))), big-endian)
    bucket(unit) = hash64(unit) / 2**64

which lies in [0, 1). Arms are cut at the cumulative weights in the order the spec
lists them. The canonical string of a unit is ``str(unit)`` for text and for whole
numbers (``10000001``, never ``10000001.0``): the id exactly as written, never trimmed or
normalised (CSV files read the unit column as text, so ``00000001`` keeps its zeros on every
engine). Ids a reader could not tell apart are refused instead (:func:`id_findings`). The same digest is available in SQL
engines (DuckDB ``sha256``, Spark ``sha2(..., 256)``), so buckets can be computed
where the data lives. Never an engine's native ``hash()``: it differs between
engines and releases.

Inside an engine (DuckDB, Spark, any Ibis backend) :func:`hash_columns` builds the same
bucket as an Ibis expression from the engine's portable ``sha256`` digest (Ibis ``hexdigest``:
DuckDB ``sha256``, Spark ``sha2(., 256)``, BigQuery ``SHA256``). The 16 leading hex digits are
read as two 32-bit halves with integer arithmetic only (no engine-specific base conversion and
no signed 64-bit overflow), so ``bucket = (hi * 2**32 + lo) / 2**64`` rounds exactly as
Python's ``int / 2**64`` does; :func:`arm_expression` cuts it into arms.

Speed: :func:`hash64` computes many digests inside DuckDB's ``sha256`` (vectorised,
multi-threaded), which gives bit-identical results to :mod:`hashlib` (pinned by
``tests/test_hashing.py``, and spot-checked against :mod:`hashlib` on every call).
Without DuckDB it falls back to a :mod:`hashlib` loop.
"""

from __future__ import annotations

import hashlib
import unicodedata
from typing import Any, Callable, Iterable, Mapping, Sequence

import numpy as np
import pandas as pd

from uplift.errors import DataError

__all__ = [
    "PLAIN_ID",
    "id_key",
    "id_findings",
    "canonical_unit",
    "canonical_units",
    "same_id_type",
    "same_id_type_ibis",
    "bucket",
    "buckets",
    "hash64",
    "arm_for_buckets",
    "assign_by_weights",
    "hash_columns",
    "arm_expression",
]

_SCALE = float(2**64)
_SPOT_CHECKS = 64  # rows re-hashed with hashlib on every vectorised call
_INT64_MAX = 2**63 - 1


PLAIN_ID = "[^!-~]"
"""Regular expression (Python and RE2 alike) finding a character outside printable ASCII without the
space: an id without one is *plain*, equal to its own :func:`id_key`, and cannot look like another id."""
_INVISIBLE = "\u200b\u200c\u200d\u2060\ufeff\u00ad"  # zero-width space/non-joiner/joiner, word joiner, BOM, soft hyphen


def id_key(text: str) -> str:
    """What a reader sees of an id: Unicode NFKC form (full-width letters become ASCII, composed and
    decomposed accents agree), without zero-width characters, without surrounding white space."""
    key = unicodedata.normalize("NFKC", text)
    return key.translate({ord(c): None for c in _INVISIBLE}).strip()


def id_findings(odd: Sequence[str], present: Callable[[list[str]], set[str]]
                ) -> tuple[tuple[int, str] | None, tuple[int, str, str] | None]:
    """Ids a reader could not tell apart, from the distinct ids that are not plain (``odd``, see
    :data:`PLAIN_ID`) and ``present(candidates)``: which of the candidate ids the table holds.

    Returns ``(spaced, lookalike)``: ``spaced`` = (count, first example) of ids with surrounding white
    space or an invisible character; ``lookalike`` = (count of ids, first pair) of ids that share
    their :func:`id_key` with another id of the table. None where there are none. Every backend
    answers the same two questions, so the findings are the same everywhere.
    """
    odd = sorted(t for t in set(odd) if t.strip())  # a blank id is no id: counted as missing, not here
    spaced = [t for t in odd if t != t.strip() or any(c in t for c in _INVISIBLE)]
    keys = {t: id_key(t) for t in odd}
    candidates = sorted({k for t, k in keys.items() if k != t and k not in keys})
    found = present(candidates) if candidates else set()
    groups: dict[str, set[str]] = {}
    for t, k in keys.items():
        groups.setdefault(k, set()).add(t)
    for k in candidates:
        if k in found:
            groups[k].add(k)
    alike = [sorted(g) for _, g in sorted(groups.items()) if len(g) > 1]
    return ((len(spaced), spaced[0]) if spaced else None,
            (sum(len(g) for g in alike), alike[0][0], alike[0][1]) if alike else None)


def canonical_unit(unit: object) -> str:
    """The canonical text of a unit id: integers without a decimal point, text as is."""
    if isinstance(unit, (bool, np.bool_)):
        raise TypeError("a unit id cannot be true/false")
    if isinstance(unit, (int, np.integer)):
        return str(int(unit))
    if isinstance(unit, (float, np.floating)):
        if float(unit).is_integer():
            return str(int(unit))
        raise TypeError(f"unit id {unit!r} is not a whole number or text")
    return str(unit)


def same_id_type(left: pd.Series, right: pd.Series) -> tuple[pd.Series, pd.Series]:
    """Two unit columns ready to be matched: unchanged when both hold whole numbers or both text;
    else both as their canonical text (:func:`canonical_units`), so integer ids from one file meet
    text ids from another as the same strings the hash sees."""
    def numeric(s: pd.Series) -> bool:
        return bool(pd.api.types.is_integer_dtype(s.dtype) or pd.api.types.is_float_dtype(s.dtype))

    if numeric(left) == numeric(right):
        return left, right

    def text(s: pd.Series) -> pd.Series:
        keep = s.notna().to_numpy()
        out = np.full(len(s), None, dtype=object)
        if keep.any():
            out[keep] = canonical_units(s[keep]).astype(str)
        return pd.Series(out, index=s.index, name=s.name)
    return text(left), text(right)


def same_id_type_ibis(left: Any, right: Any) -> tuple[Any, Any]:
    """:func:`same_id_type` for two Ibis unit columns: whole numbers meeting text become their decimal text."""
    def numeric(x: Any) -> bool:
        return bool(x.type().is_integer() or x.type().is_floating())

    if numeric(left) == numeric(right):
        return left, right

    def text(x: Any) -> Any:
        return x.cast("int64").cast("string") if numeric(x) else x
    return text(left), text(right)


def _hash64_one(text: str, salt: str) -> int:
    return int.from_bytes(hashlib.sha256(f"{salt}:{text}".encode("utf-8")).digest()[:8], "big")


def bucket(unit: object, salt: str) -> float:
    """The bucket in [0, 1) of one unit: first 8 bytes of SHA-256(salt:unit) / 2**64."""
    return _hash64_one(canonical_unit(unit), salt) / _SCALE


def canonical_units(units: Iterable[object] | pd.Series | np.ndarray) -> np.ndarray:
    """Canonical ids for many units, vectorised where the type allows.

    Returns an ``int64``/``uint64`` array when every id is a whole number (its decimal
    text is the canonical string), else an object array of ``str``.
    """
    if isinstance(units, (pd.Series, pd.Index)):
        s = units
        if isinstance(s.dtype, pd.CategoricalDtype):
            cats = canonical_units(s.cat.categories)
            codes = s.cat.codes.to_numpy()
            if (codes < 0).any():
                raise TypeError("a unit id is missing")
            return cats[codes]
        if pd.api.types.is_bool_dtype(s.dtype):
            raise TypeError("a unit id cannot be true/false")
        if pd.api.types.is_integer_dtype(s.dtype):
            if s.hasnans:
                raise TypeError("a unit id is missing")
            unsigned = pd.api.types.is_unsigned_integer_dtype(s.dtype)
            return s.to_numpy(dtype=np.uint64 if unsigned else np.int64)
        if pd.api.types.is_float_dtype(s.dtype):
            return canonical_units(s.to_numpy(dtype=float, na_value=np.nan))
        arr = s.to_numpy(dtype=object)
    elif isinstance(units, np.ndarray):
        arr = units
    else:
        values = list(units)
        if values and all(isinstance(v, (int, np.integer)) and not isinstance(v, (bool, np.bool_)) for v in values):
            try:
                return np.asarray(values, dtype=np.int64)
            except OverflowError:
                return np.asarray([str(int(v)) for v in values], dtype=object)
        arr = np.asarray(values, dtype=object)  # never let numpy coerce mixed ids to one type
    if arr.dtype.kind == "b":
        raise TypeError("a unit id cannot be true/false")
    if arr.dtype.kind in "iu":
        return arr.astype(np.uint64 if arr.dtype.kind == "u" else np.int64, copy=False)
    if arr.dtype.kind == "f":
        if not np.isfinite(arr).all() or not (arr == np.floor(arr)).all():
            bad = arr[~(np.isfinite(arr) & (arr == np.floor(arr)))][0]
            raise TypeError(f"unit id {bad!r} is not a whole number or text")
        if (np.abs(arr) <= 2.0**53).all():
            return arr.astype(np.int64)
        arr = arr.astype(object)
    if arr.dtype.kind in "US":
        return arr.astype(str).astype(object)
    values = arr.tolist()
    if values and all(isinstance(v, str) for v in values):
        return np.asarray(values, dtype=object)
    return np.asarray([canonical_unit(v) for v in values], dtype=object)


def _hash64_hashlib(canon: np.ndarray, salt: str) -> np.ndarray:
    prefix = f"{salt}:".encode("utf-8")
    sha = hashlib.sha256
    out = np.empty(len(canon), dtype=np.uint64)
    for i, v in enumerate(canon.tolist()):
        out[i] = int.from_bytes(sha(prefix + str(v).encode("utf-8")).digest()[:8], "big")
    return out


def _hash64_duckdb(canon: np.ndarray, salt: str) -> np.ndarray:
    import duckdb
    import pyarrow as pa

    if canon.dtype.kind in "iu":
        column = pa.array(canon)
    else:
        column = pa.array(canon.tolist(), type=pa.large_string())
    table = pa.table({"u": column})
    con = duckdb.connect()
    try:
        con.execute("SET preserve_insertion_order = true")
        con.register("units_t", table)
        # first 16 hex digits = first 8 bytes, read as an unsigned big-endian integer
        rel = con.execute(
            "SELECT ('0x' || left(sha256($prefix || CAST(u AS VARCHAR)), 16))::UBIGINT AS h FROM units_t",
            {"prefix": f"{salt}:"},
        )
        out = rel.fetchnumpy()["h"]
    finally:
        con.close()
    out = np.asarray(out, dtype=np.uint64)
    if len(out) != len(canon):  # pragma: no cover - defensive
        raise RuntimeError("DuckDB returned a different number of hashes than units")
    return out


def hash64(units: Iterable[object] | pd.Series | np.ndarray, salt: str, engine: str = "auto") -> np.ndarray:
    """First 8 bytes of SHA-256(utf8(salt + ":" + canonical(unit))) as big-endian ``uint64``.

    ``engine`` is ``"duckdb"`` (vectorised), ``"hashlib"`` (reference loop) or ``"auto"``
    (DuckDB above 50,000 units, where it becomes faster). Both give bit-identical results; the
    DuckDB path re-hashes a sample of rows with :mod:`hashlib` and raises if any differs.
    """
    canon = canonical_units(units)
    n = len(canon)
    use_duckdb = engine == "duckdb" or (engine == "auto" and n > 50_000)
    if engine not in ("auto", "duckdb", "hashlib"):
        raise ValueError("engine must be 'auto', 'duckdb' or 'hashlib'")
    if not use_duckdb:
        return _hash64_hashlib(canon, salt)
    try:
        out = _hash64_duckdb(canon, salt)
    except ImportError:  # pragma: no cover - duckdb is a dependency
        return _hash64_hashlib(canon, salt)
    # spot-check: same digest as hashlib on a spread of rows (first, last, evenly spaced)
    if n:
        idx = np.unique(np.linspace(0, n - 1, num=min(n, _SPOT_CHECKS)).astype(np.int64))
        ref = _hash64_hashlib(canon[idx], salt)
        if not np.array_equal(ref, out[idx]):  # pragma: no cover - would be an engine bug
            raise RuntimeError("DuckDB sha256 disagrees with hashlib; refusing to assign")
    return out


def buckets(units: Iterable[object] | pd.Series, salt: str) -> np.ndarray:
    """Buckets in [0, 1) for many units (see :func:`bucket`): ``hash64 / 2**64`` as float64."""
    return hash64(units, salt) / _SCALE


def arm_for_buckets(b: np.ndarray, weights: Mapping[str, float]) -> np.ndarray:
    """Map buckets to arms: arm k gets [w_1 + ... + w_{k-1}, w_1 + ... + w_k)."""
    names = list(weights)
    edges = np.cumsum([weights[a] for a in names])
    edges[-1] = 1.0 + 1e-12  # guard against rounding: the last arm takes the rest
    idx = np.searchsorted(edges, b, side="right")
    return np.asarray(names, dtype=object)[idx]


def assign_by_weights(units: Iterable[object] | pd.Series, salt: str, weights: Mapping[str, float]) -> np.ndarray:
    """Arms for units by salted hash (no stratification)."""
    return arm_for_buckets(buckets(units, salt), weights)


# --------------------------------------------------------------------------- the same buckets inside an engine

_HEX = "0123456789abcdef"
_TWO32 = 4294967296.0


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


def hash_columns(table: Any, unit: str, salt: str) -> tuple[Any, Any, Any]:
    """Ibis expressions ``(hi, lo, bucket)`` for the salted SHA-256 bucket of column ``unit``.

    ``digest = sha256(salt || ':' || cast(unit as string))`` (lowercase hex); ``hi``/``lo`` are its
    hex digits 1-8 and 9-16 as integers, ``hash64 = hi * 2**32 + lo`` and
    ``bucket = (hi * 2**32 + lo) / 2**64`` in double precision (one rounding, as Python's
    ``int / 2**64``). Unit ids must be integers or text (their canonical text, see
    :func:`canonical_unit`).
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
    bucket = (hi.cast("float64") * _TWO32 + lo.cast("float64")) / _SCALE
    return hi, lo, bucket


def arm_expression(table: Any, unit: str, salt: str, weights: Mapping[str, float]) -> Any:
    """Ibis expression: the arm of each row by salted hash, as :func:`arm_for_buckets`.

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
