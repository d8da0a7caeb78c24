"""Discounting for CLV: an annual rate converted to the period rate, and the discount factors
of the period grid.

CLV = sum_{t in grid} V(t) / (1 + d)^t with d the period discount rate and the grid
t = 1..H ("end" timing: a period's margin arrives at its end) or t = 0..H-1 ("start": paid
in advance) (Fader & Hardie 2007, "How to Project Customer Retention", eq. 1).
"""

from __future__ import annotations

import numpy as np

from uplift.errors import SpecError

__all__ = ["period_discount_rate", "discount_factors"]


def period_discount_rate(annual_discount_rate: float, periods_per_year: int) -> float:
    """d = (1 + annual)^(1 / periods_per_year) - 1 (compound conversion of an annual rate)."""
    if not annual_discount_rate > -1:
        raise SpecError(f"[clv] annual_discount_rate = {annual_discount_rate!r} must be above -1, e.g. 0.08")
    if not periods_per_year >= 1:
        raise SpecError(f"[clv] periods_per_year = {periods_per_year!r} must be at least 1, e.g. 12")
    return (1.0 + annual_discount_rate) ** (1.0 / periods_per_year) - 1.0


def discount_factors(horizon_periods: int, period_rate: float, margin_timing: str = "end") -> tuple[np.ndarray, np.ndarray]:
    """The period grid and its discount factors 1 / (1 + d)^t.

    ``end``: the margin of period t is received at its end, t = 1..H; ``start``: at its
    start (in advance), t = 0..H-1 (the first margin is undiscounted).
    """
    if not horizon_periods >= 1:
        raise SpecError(f"[clv] horizon_periods = {horizon_periods!r} must be at least 1, e.g. 60")
    if margin_timing not in ("end", "start"):
        raise SpecError(f"[clv] margin_timing = {margin_timing!r}: use 'end' or 'start'")
    t = np.arange(1, horizon_periods + 1) if margin_timing == "end" else np.arange(0, horizon_periods)
    return t, (1.0 + period_rate) ** (-t.astype(float))
