"""A simulated programme with known truth: outcomes for units offered by several overlapping campaigns.

Each unit's exposure ``k`` is the number of the registry's campaigns that put it in an offer arm.
Its outcomes are drawn by :func:`uplift.simulate.simulate_outcomes` with offer strength

    s(k) = (1 - r^k) / (1 - r)        (s(0) = 0, s(1) = 1, s(2) = 1 + r, ...; 0 < r < 1)

so a second offer adds only ``r`` of a first one (planted saturation: overlapping campaigns do not
add up). The truth is the simulator's expected outcome under the unit's exposure minus under none,
summed over the units outside the holdout (``true_*`` columns per unit; totals in the truth dict).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from uplift.experiment.ledger import read_ledger
from uplift.programme.contact import unit_keys
from uplift.programme.holdout import holdout_mask
from uplift.programme.registry import Registry
from uplift.simulate import simulate_outcomes
from uplift.spec.programme import ProgrammeSpec

__all__ = ["simulate_programme", "strength"]


def strength(k: int, saturation: float) -> float:
    """Offer strength of ``k`` offers with saturation ratio ``r`` (module docstring)."""
    return float((1 - saturation ** k) / (1 - saturation)) if k else 0.0


def simulate_programme(population: pd.DataFrame, registry: Registry, programme: ProgrammeSpec, seed: int = 0,
                       saturation: float = 0.5) -> tuple[pd.DataFrame, dict[str, Any]]:
    """(outcomes, truth) for ``population`` under the campaigns recorded in ``registry``."""
    unit = programme.programme.unit
    keys = pd.Index(unit_keys(population[unit]))
    k = np.zeros(len(keys), dtype=np.int64)
    for entry in registry.latest("assignment").values():
        ledger = read_ledger(registry.ledger_of(entry), unit)
        treated = ledger.loc[ledger["arm"].astype(str) != str(entry["control"]), unit]
        pos = keys.get_indexer(unit_keys(treated))
        np.add.at(k, pos[pos >= 0], 1)
    arms = np.array([f"k{x}" if x else "control" for x in k], dtype=object)
    if not (arms == "control").any():
        arms[0] = "control"  # pragma: no cover - a programme always leaves someone unexposed (the holdout)
    intensity = {f"k{x}": strength(int(x), saturation) for x in np.unique(k) if x}
    out, _ = simulate_outcomes(population, arms, seed=seed, intensity=intensity, control="control")
    net = out["margin_12m"] - out["cannibalised_margin_12m"] - out["service_cost_12m"]
    uplift = np.zeros(len(out))
    net_uplift = np.zeros(len(out))
    for a in intensity:
        m = arms == a
        uplift[m] = out[f"true_uplift_{a}"].to_numpy()[m]
        net_uplift[m] = out[f"true_net_margin_uplift_{a}"].to_numpy()[m]
    frame = pd.DataFrame({unit: population[unit].to_numpy(), "converted": out["converted"].to_numpy(),
                          "revenue_12m": out["revenue_12m"].to_numpy(), "net_margin_12m": net.to_numpy(),
                          "offers": k, "true_uplift": uplift, "true_net_margin_uplift": net_uplift})
    hold = holdout_mask(population[unit], programme.programme.salt, programme.programme.holdout_share)
    truth = {"saturation": saturation, "seed": seed, "exposed": int((~hold).sum()),
             "incremental_conversions": float(uplift[~hold].sum()),
             "incremental_net_margin": float(net_uplift[~hold].sum()),
             "offers": {str(x): int((k == x).sum()) for x in np.unique(k)},
             "definition": "sum over units outside the holdout of E[outcome | their offers] - E[outcome | no offer]"}
    return frame, truth
