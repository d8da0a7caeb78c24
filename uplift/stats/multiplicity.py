"""Multiple testing: adjusted p-values for a family of comparisons.

* Holm (1979), "A simple sequentially rejective multiple test procedure", Scand J Stat 6:65-70:
  step-down control of the family-wise error rate (the readout's primary metrics);
* Benjamini & Hochberg (1995), "Controlling the false discovery rate", JRSS B 57:289-300:
  step-up control of the false discovery rate (secondary metrics, segments).

Both equal statsmodels' ``multipletests(method="holm" / "fdr_bh")``. Missing p-values (None
or NaN) are left out of the family and come back as None.
"""

from __future__ import annotations

import math
from typing import Sequence

__all__ = ["holm", "benjamini_hochberg"]


def holm(p_values: Sequence[float | None]) -> list[float | None]:
    """Holm (1979) step-down adjusted p-values: ``p~_(i) = max_{j<=i} min(1, (m - j + 1) p_(j))``.

    None/NaN entries are left out of the family and returned as None.
    """
    idx = [i for i, p in enumerate(p_values) if p is not None and math.isfinite(p)]
    out: list[float | None] = [None] * len(p_values)
    m = len(idx)
    running = 0.0
    for rank, i in enumerate(sorted(idx, key=lambda i: p_values[i])):  # type: ignore[arg-type, return-value]
        running = max(running, min(1.0, (m - rank) * float(p_values[i])))  # type: ignore[arg-type]
        out[i] = running
    return out


def benjamini_hochberg(p_values: Sequence[float | None]) -> list[float | None]:
    """Benjamini & Hochberg (1995) step-up adjusted p-values (FDR):
    ``p~_(i) = min_{j>=i} min(1, m p_(j) / j)``. None/NaN entries are returned as None."""
    idx = [i for i, p in enumerate(p_values) if p is not None and math.isfinite(p)]
    out: list[float | None] = [None] * len(p_values)
    m = len(idx)
    running = 1.0
    order = sorted(idx, key=lambda i: p_values[i])  # type: ignore[arg-type, return-value]
    for rank in range(m - 1, -1, -1):
        i = order[rank]
        running = min(running, min(1.0, m * float(p_values[i]) / (rank + 1)))  # type: ignore[arg-type]
        out[i] = running
    return out
