"""The contact policy across a programme's campaigns, applied from the registry's ledgers.

A *contact* is a unit in a non-control arm of a campaign's ledger, on that row's ``assigned_at``
date (control units get no offer). For a campaign assigned on day ``D`` the rules of the
programme spec's ``[contact]`` section exclude a unit when (each rule off at 0):

* ``complaint_cooloff``: its last complaint (population column ``complaint_column``, a date) was
  ``0 <= D - complaint < cooloff_days`` days ago;
* ``contact_min_days``: another campaign contacted it within ``|D - d| < min_days_between`` days
  (at most one campaign per N days, on either side of D);
* ``contact_max_offers``: it already had ``max_offers`` contacts in ``D - period_days < d <= D``
  (at most K offers per period).

The campaign's own earlier rows are not its history (re-running ``assign`` adds no contact).
The rules are exclusions, so they show in the waterfall with these reasons; a unit already in a
ledger keeps its arm (the ledger is append-only) and is not checked again.
"""

from __future__ import annotations

import datetime as _dt
from typing import Mapping

import numpy as np
import pandas as pd

from uplift.data.hashing import canonical_units
from uplift.errors import DataError
from uplift.experiment.ledger import read_ledger
from uplift.programme.registry import Registry
from uplift.spec.settings import ContactSettings

__all__ = ["CONTACT_REASONS", "contact_history", "contact_flags", "unit_keys"]

CONTACT_REASONS = ("complaint_cooloff", "contact_min_days", "contact_max_offers")


def unit_keys(units: pd.Series | np.ndarray) -> np.ndarray:
    """Canonical unit ids as text, so ledgers with whole-number and text ids join."""
    return canonical_units(units).astype(str)


def contact_history(registry: Registry, unit: str, skip: str = "") -> pd.DataFrame:
    """Every contact recorded by the registry's campaigns except ``skip``: columns key, date, experiment."""
    frames = []
    for name, entry in registry.latest("assignment").items():
        if name == skip:
            continue
        ledger = read_ledger(registry.ledger_of(entry), unit)
        if ledger is None:
            raise DataError(f"{entry['ledger']}: the ledger of campaign {name!r} recorded in {registry.path} is missing; "
                            "restore it (the contact policy needs it)")
        treated = ledger.loc[ledger["arm"].astype(str) != str(entry["control"])]
        dates = pd.to_datetime(treated["assigned_at"].astype(str), errors="coerce")
        frames.append(pd.DataFrame({"key": unit_keys(treated[unit]), "date": dates.to_numpy(), "experiment": name}))
    if not frames:
        return pd.DataFrame({"key": pd.Series([], dtype=str), "date": pd.Series([], dtype="datetime64[ns]"),
                             "experiment": pd.Series([], dtype=str)})
    return pd.concat(frames, ignore_index=True)


def contact_flags(population: pd.DataFrame, unit: str, history: pd.DataFrame, when: _dt.date,
                  rules: ContactSettings, label: str = "population") -> Mapping[str, np.ndarray]:
    """reason -> True where the rule excludes the population's unit (see the module docstring)."""
    n = len(population)
    day = pd.Timestamp(when)
    out: dict[str, np.ndarray] = {r: np.zeros(n, bool) for r in CONTACT_REASONS}
    if rules.cooloff_days and rules.complaint_column:
        col = rules.complaint_column
        if col not in population.columns:
            raise DataError(f"{label}: has no column '{col}' named by [contact] complaint_column; add the date of "
                            "each unit's last complaint (empty when none) or remove the key")
        raw = population[col]
        when_c = pd.to_datetime(raw.astype("string"), errors="coerce")
        bad = when_c.isna() & raw.notna() & (raw.astype("string").str.strip() != "")
        if bad.any():
            raise DataError(f"{label}: column '{col}' ([contact] complaint_column) holds {raw[bad].iloc[0]!r}, not a "
                            "date; write dates as YYYY-MM-DD (empty when no complaint)")
        age = (day - when_c).dt.days.to_numpy(dtype=float, na_value=np.nan)
        with np.errstate(invalid="ignore"):
            out["complaint_cooloff"] = (age >= 0) & (age < rules.cooloff_days)
    if len(history) and (rules.min_days_between or rules.max_offers):
        keys = unit_keys(population[unit])
        gap = (day - pd.to_datetime(history["date"])).dt.days.to_numpy(dtype=float, na_value=np.nan)
        hkeys = history["key"].to_numpy()
        if rules.min_days_between:
            near = hkeys[np.abs(gap) < rules.min_days_between]
            out["contact_min_days"] = pd.Series(keys).isin(set(near)).to_numpy()
        if rules.max_offers:
            recent = pd.Series(hkeys[(gap >= 0) & (gap < rules.period_days)]).value_counts()
            counts = pd.Series(keys).map(recent).fillna(0).to_numpy()
            out["contact_max_offers"] = counts >= rules.max_offers
    return out
