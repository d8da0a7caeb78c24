"""Salted SHA-256 assignment buckets: the one definition every engine must reproduce.

bucket(unit) = int(first 8 bytes of SHA-256(utf8(salt + ":" + str(unit))), big-endian) / 2**64

which lies in [0, 1). Arms are cut at the cumulative weights in the order the spec
lists them. The canonical string of a unit is ``str(unit)`` for text and for whole
numbers (``10000001``, never ``10000001.0``). The same digest is available in SQL
engines (DuckDB ``sha256``, Spark ``sha2(..., 256)``), so buckets can be computed
where the data lives. Never an engine's native ``hash()``: it differs between
engines and releases.
"""

from __future__ import annotations

import hashlib
from typing import Iterable, Mapping

import numpy as np
import pandas as pd

__all__ = ["canonical_unit", "bucket", "buckets", "arm_for_buckets", "assign_by_weights"]

_SCALE = float(2**64)


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


def bucket(unit: object, salt: str) -> float:
    """The bucket in [0, 1) of one unit: first 8 bytes of SHA-256(salt:unit) / 2**64."""
    digest = hashlib.sha256(f"{salt}:{canonical_unit(unit)}".encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") / _SCALE


def buckets(units: Iterable[object] | pd.Series, salt: str) -> np.ndarray:
    """Buckets for many units (see :func:`bucket`)."""
    values = units.tolist() if isinstance(units, (pd.Series, pd.Index, np.ndarray)) else list(units)
    prefix = f"{salt}:".encode("utf-8")
    sha = hashlib.sha256
    out = np.empty(len(values), dtype=np.uint64)
    if values and all(isinstance(v, int) and not isinstance(v, bool) for v in values[:1000]):
        for i, v in enumerate(values):
            out[i] = int.from_bytes(sha(prefix + str(v).encode()).digest()[:8], "big")
    else:
        for i, v in enumerate(values):
            out[i] = int.from_bytes(sha(prefix + canonical_unit(v).encode("utf-8")).digest()[:8], "big")
    return out / _SCALE


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
