"""Group-sequential boundaries for planned interim looks.

Lan & DeMets (1983), "Discrete sequential boundaries for clinical trials", Biometrika 70:659-663:
alpha spending with the O'Brien-Fleming-type function, alpha/2 per side,
``alpha(t) = 2 [2 - 2 Phi(z_{1-alpha/4} / sqrt(t))]`` (the convention of gsDesign's ``sfLDOF``
and R ldbounds); boundaries by recursive numerical integration (Armitage, McPherson & Rowe
1969; Jennison & Turnbull 2000, *Group Sequential Methods*, ch. 19).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np
from scipy import optimize, stats as st

__all__ = ["SequentialBoundaries", "obrien_fleming_spending", "obrien_fleming_boundaries"]


def _finite(x: float) -> float | None:
    """JSON-ready: None for an infinite boundary (a look that spends no alpha)."""
    return float(x) if math.isfinite(x) else None


def obrien_fleming_spending(t: float | np.ndarray, alpha: float = 0.05) -> float | np.ndarray:
    """Cumulative two-sided alpha spent by information fraction ``t`` (Lan & DeMets 1983).

    O'Brien-Fleming-type, alpha/2 spent on each side: per side
    ``alpha_1(t) = 2 - 2 Phi(z_{1-alpha/4} / sqrt(t))``, total ``2 alpha_1(t)``; equals alpha at t = 1.
    (gsDesign ``sfLDOF`` with one-sided alpha/2; R ldbounds ``iuse=1, sides=2``.)
    """
    t = np.asarray(t, dtype=float)
    out = 2 * (2 - 2 * st.norm.cdf(st.norm.ppf(1 - alpha / 4) / np.sqrt(np.maximum(t, 1e-300))))
    return float(out) if out.ndim == 0 else out


@dataclass(frozen=True)
class SequentialBoundaries:
    """Two-sided group-sequential boundaries on the z scale, one per look."""

    alpha: float
    fractions: tuple[float, ...]
    alpha_spent: tuple[float, ...]  # cumulative
    z: tuple[float, ...]
    method: str = "Lan-DeMets alpha spending, O'Brien-Fleming-type, two-sided"

    @property
    def nominal_alpha(self) -> tuple[float, ...]:
        """Two-sided nominal p-value threshold at each look: ``2 (1 - Phi(z_k))``."""
        return tuple(float(2 * st.norm.sf(z)) for z in self.z)

    def to_dict(self) -> dict[str, Any]:
        return {
            "method": self.method,
            "alpha": self.alpha,
            "information_fractions": list(self.fractions),
            "alpha_spent_cumulative": list(self.alpha_spent),
            "boundaries_z": [_finite(z) for z in self.z],
            "nominal_alpha": [_finite(a) for a in self.nominal_alpha],
        }


def obrien_fleming_boundaries(
    looks: int, alpha: float = 0.05, fractions: Sequence[float] | None = None, grid: int = 1201
) -> SequentialBoundaries:
    """Boundaries c_1..c_K with P_H0(|Z_k| >= c_k for some k <= j) = alpha(t_j) for every j.

    ``Z_k`` are the cumulative z-statistics at information fractions ``t_k`` (default k/K),
    jointly normal with ``corr(Z_j, Z_k) = sqrt(t_j/t_k)``. Computed by recursive numerical
    integration of the score process ``S_k = Z_k sqrt(t_k)`` on a Simpson grid over the
    continuation region (Armitage, McPherson & Rowe 1969; Jennison & Turnbull 2000, ch. 19),
    solving each c_k with Brent's method. One look gives ``z_{1-alpha/2}``.
    """
    if looks < 1:
        raise ValueError("looks must be at least 1")
    if fractions is None:
        t = np.arange(1, looks + 1) / looks
    else:
        t = np.asarray(fractions, dtype=float)
        if len(t) != looks or np.any(np.diff(t) <= 0) or t[0] <= 0 or t[-1] > 1 + 1e-12:
            raise ValueError("fractions must be increasing in (0, 1], one per look")
    spent = obrien_fleming_spending(t, alpha)
    spent = np.atleast_1d(spent)
    z: list[float] = []
    m = grid if grid % 2 == 1 else grid + 1

    def simpson(lo: float, hi: float) -> tuple[np.ndarray, np.ndarray]:
        x = np.linspace(lo, hi, m)
        h = (hi - lo) / (m - 1)
        w = np.ones(m)
        w[1:-1:2] = 4
        w[2:-1:2] = 2
        return x, w * h / 3

    c1 = float(st.norm.isf(spent[0] / 2))
    z.append(c1)
    b = c1 * math.sqrt(t[0])
    x, w = simpson(-b, b)
    dens = st.norm.pdf(x / math.sqrt(t[0])) / math.sqrt(t[0])
    for k in range(1, looks):
        dt = t[k] - t[k - 1]
        sd = math.sqrt(dt)
        target = spent[k] - spent[k - 1]
        mass = w * dens

        def cross(c: float) -> float:
            bb = c * math.sqrt(t[k])
            return float(np.sum(mass * (st.norm.sf((bb - x) / sd) + st.norm.cdf((-bb - x) / sd))))

        if target <= 1e-15:
            ck = 40.0
        else:
            lo, hi = 1e-6, 40.0
            ck = float(optimize.brentq(lambda c: cross(c) - target, lo, hi, xtol=1e-12, rtol=1e-12))
        z.append(ck)
        bb = ck * math.sqrt(t[k])
        xn, wn = simpson(-bb, bb)
        dens = (st.norm.pdf((xn[:, None] - x[None, :]) / sd) / sd) @ mass
        x, w = xn, wn
    return SequentialBoundaries(alpha, tuple(float(v) for v in t), tuple(float(v) for v in spent), tuple(z))
