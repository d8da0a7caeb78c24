"""What a ledger records of the spec that assigned it, and the one check that the spec still says it.

Every ledger row carries ``assignment_config``: canonical JSON of the settings that decide (and
give meaning to) an arm: ``[assignment] salt``, ``arms`` (names, weights and order: arms are cut in
this order), ``control`` and ``stratify``, and ``[experiment] unit``. ``uplift assign``, ``check``
and ``readout`` compare it with the spec (:func:`check_recorded`) and stop on any difference: a
changed control swaps the arms' roles and flips the sign of every effect; changed arms, weights,
salt or strata mean the ledger's arms are no longer the spec's. Settings that do not touch the
assignment (metrics, segments, design, economics) may change freely.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

from uplift.errors import UserError

__all__ = ["assignment_config", "check_recorded", "spec_assignment_config"]

_KEYS = (("salt", "[assignment]"), ("arms", "[assignment]"), ("control", "[assignment]"),
         ("stratify", "[assignment]"), ("unit", "[experiment]"))


def assignment_config(salt: str, arms: Mapping[str, float], control: str, stratify: list[str] | tuple[str, ...],
                      unit: str) -> str:
    """Canonical JSON of everything that decides an arm; a ledger never mixes two of these."""
    return json.dumps(
        {
            "salt": salt,
            "arms": [[a, float(w)] for a, w in arms.items()],  # order matters: arms are cut in this order
            "control": control,
            "stratify": list(stratify),
            "unit": unit,
        },
        sort_keys=True,
        separators=(",", ":"),
    )


def spec_assignment_config(spec: Any) -> str | None:
    """The ``assignment_config`` the spec would record (None for a spec without ``[assignment]``)."""
    a = spec.assignment
    if a is None:
        return None
    return assignment_config(a.salt, dict(spec.arms), spec.control, list(a.stratify), spec.unit)


def _show(key: str, value: Any) -> str:
    """A recorded value as the spec would write it (TOML)."""
    if key == "arms" and isinstance(value, list):
        return "{ " + ", ".join(f"{name} = {w:g}" for name, w in value) + " }"
    return json.dumps(value, ensure_ascii=False)


def check_recorded(recorded: Iterable[str], expected: str, label: str, experiment: str) -> None:
    """Raise a one-line :class:`UserError` unless every recorded ``assignment_config`` equals ``expected``.

    The message names the first differing key, the ledger's value, the spec's value and the fix.
    """
    found = sorted({str(r) for r in recorded})
    if not found or found == [expected]:
        return
    new = json.loads(expected)
    old_text = next((r for r in found if r != expected), found[0])
    try:
        old = json.loads(old_text)
    except ValueError:
        old = {}
    if not isinstance(old, dict):
        old = {}
    for key, section in _KEYS:
        if old.get(key) != new.get(key):
            was, now = _show(key, old.get(key)), _show(key, new.get(key))
            raise UserError(
                f"{label}: experiment {experiment!r} was assigned with a different {section} {key}: the ledger has "
                f"{key} = {was}, the spec has {key} = {now}; put back {key} = {was} in the spec, "
                "or start a new experiment name with a new ledger")
    raise UserError(  # two settings in one ledger (hand-edited or merged): no single value to put back
        f"{label}: experiment {experiment!r} was assigned with a different [assignment] "
        f"(the ledger holds {len(found)} assignment settings); restore the ledger from a backup")
