"""Typed results to JSON, in one place, and the schema of ``results.json``.

Estimation returns typed result objects (frozen dataclasses holding Python and numpy
values; NaN is allowed where a number is undefined). Each has a ``to_dict()`` of plain
Python values. :func:`jsonable` is the one conversion from those values to JSON values,
used by every ``to_dict()`` and at every edge where JSON leaves the toolkit
(``results.json``, ``truth.json``, the CLI's ``--json``); :func:`to_json` is the one text
form. JSON has no NaN: an undefined number becomes ``null``.

``results.json`` (what :meth:`uplift.readout.analysis.Analysis.to_results` returns) is
described by the JSON Schema ``results.schema.json`` beside this module (draft 2020-12,
package data), and names its :data:`SCHEMA_VERSION`. Keys are added freely (a minor
version); a key is renamed or removed only with a new major version, because other tools
read them. :func:`validate_results` checks a results object against the schema.

Example::

    >>> jsonable({"p": float("nan"), "ci": (0.1, np.float64(0.2)), "n": np.int64(3)})
    {'p': None, 'ci': [0.1, 0.2], 'n': 3}
"""

from __future__ import annotations

import json
import math
from functools import lru_cache
from pathlib import PurePath, Path
from typing import Any, Mapping

import numpy as np

from uplift.errors import DataError

__all__ = ["SCHEMA_VERSION", "SCHEMA_PATH", "jsonable", "to_json", "load_schema", "validate_results"]

SCHEMA_VERSION = "1.0"
SCHEMA_PATH = Path(__file__).resolve().parent / "results.schema.json"  # package data


def jsonable(obj: Any) -> Any:
    """The JSON value of ``obj``: plain dicts, lists, str, int, float, bool and None.

    - NaN and +/-inf -> None (JSON has no NaN); numpy scalars -> Python ``int``/``float``/``bool``
    - mappings -> dicts with string keys; tuples, lists and numpy arrays -> lists
    - paths -> str; a result object (anything with ``to_dict()``) -> its ``to_dict()``, converted
    - None and str unchanged; anything else -> ``str(obj)``

    Idempotent: ``jsonable(jsonable(x)) == jsonable(x)``.
    """
    if obj is None or isinstance(obj, str):
        return obj
    if isinstance(obj, (bool, np.bool_)):
        return bool(obj)
    if isinstance(obj, (int, np.integer)):
        return int(obj)
    if isinstance(obj, (float, np.floating)):
        f = float(obj)
        return f if math.isfinite(f) else None
    if isinstance(obj, Mapping):
        return {str(k): jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return [jsonable(v) for v in obj.tolist()]
    if isinstance(obj, PurePath):
        return str(obj)
    to_dict = getattr(obj, "to_dict", None)
    if callable(to_dict):
        return jsonable(to_dict())
    return str(obj)


def to_json(obj: Any, indent: int | None = 2, sort_keys: bool = True) -> str:
    """``obj`` as JSON text through :func:`jsonable` (NaN refused, so a missed NaN fails loudly)."""
    return json.dumps(jsonable(obj), indent=indent, sort_keys=sort_keys, allow_nan=False)


@lru_cache(maxsize=1)
def load_schema() -> dict[str, Any]:
    """The JSON Schema of ``results.json`` (``results.schema.json``, package data)."""
    return json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))


def validate_results(results: Mapping[str, Any], label: str = "results.json") -> None:
    """Check ``results`` against the schema; a breach raises a one-line :class:`DataError`.

    The message names the key (as a JSON path such as ``$.metrics[0].p_value``) and what
    the schema expects there. Needs ``jsonschema`` (imported here, on use only).
    """
    import jsonschema

    schema = load_schema()
    validator = jsonschema.Draft202012Validator(schema)
    error = jsonschema.exceptions.best_match(validator.iter_errors(jsonable(results)))
    if error is not None:
        message = " ".join(error.message.split())
        message = message if len(message) <= 200 else message[:197] + "..."
        raise DataError(
            f"{label}: {error.json_path}: {message} (schema of results.json, version {SCHEMA_VERSION}); "
            "write it with Analysis.to_results() of this toolkit version"
        )
