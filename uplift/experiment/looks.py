"""The sample-size price of looking: planned looks under each alpha-spending family, and continuous monitoring.

For ``[design] looks`` > 1 the design reports, beside the fixed-horizon sample size, what each way of
looking costs at the same alpha (per comparison) and power (:func:`price_looks`):

* planned looks at ``[design] look_fractions`` (default equally spaced) with O'Brien-Fleming-type,
  Pocock-type and power-family spending: the inflation factor of the maximum sample size
  (:func:`uplift.stats.sequential.inflation_factor`; Jennison & Turnbull 2000, sec. 2.3), the
  maximum total n and the weeks it takes;
* continuous monitoring with always-valid intervals (``[analysis] always_valid``): an upper bound on the
  sample size at which the last look's interval excludes 0 with the target power
  (:func:`uplift.stats.sequences.always_valid_inflation`).
"""

from __future__ import annotations

import math
from typing import Any

from uplift.spec.settings import DesignSettings
from uplift.stats.sequences import always_valid_inflation
from uplift.stats.sequential import inflation_factor, spending_boundaries
from uplift.text import Msg

__all__ = ["price_looks"]


def price_looks(design: DesignSettings, alpha: float, sides: int, power: float, n_fixed: float,
                inflow: int | None, tuning_n: int) -> dict[str, Any]:
    """The cost of the planned looks and of continuous monitoring (module docstring). ``alpha`` is the
    level of one comparison (two-sided total when ``sides`` = 2), ``n_fixed`` the fixed design's total n."""
    fractions = list(design.look_fractions) or [k / design.looks for k in range(1, design.looks + 1)]

    def cost(factor: float) -> dict[str, Any]:
        n = math.ceil(n_fixed * factor - 1e-9)
        return {"inflation_factor": factor, "n_total": n, "duration_weeks": n / inflow if inflow else None}

    families = []
    for family in ("obrien-fleming", "pocock", "power"):
        b = spending_boundaries(design.looks, alpha, family, design.spending_rho, fractions=fractions, sides=sides, grid=401)
        families.append({"spending": family, "spending_rho": b.rho, "method": b.method, "chosen": family == design.spending,
                         "boundaries_z": list(b.z), **cost(inflation_factor(b, power))})
    continuous = {"method": Msg("always-valid (mixture SPRT) intervals, looked at continuously; upper bound: the n at "
                                "which the last look's interval excludes 0 with the target power"),
                  "tuning_n": tuning_n, **cost(always_valid_inflation(n_fixed, alpha, power, tuning_n, sides))}
    chosen = next(f for f in families if f["chosen"])
    return {"looks": design.looks, "information_fractions": fractions, "alpha": alpha, "sides": sides, "power": power,
            "n_total_fixed": n_fixed, "chosen": design.spending, "families": families, "continuous": continuous,
            "note": Msg("[design] looks = {looks} with {method}: the maximum sample size is {factor:.3f} x the fixed "
                        "design's ({n:,} in total); {others}; continuous always-valid monitoring at most x {continuous:.3f}",
                        looks=design.looks, method=chosen["method"], factor=chosen["inflation_factor"],
                        n=chosen["n_total"], others="; ".join(f"{f['spending']} x {f['inflation_factor']:.3f}"
                                                              for f in families if not f["chosen"]),
                        continuous=continuous["inflation_factor"])}
