"""Group-sequential boundaries for planned interim looks, and what the looks cost in sample size.

Lan & DeMets (1983), "Discrete sequential boundaries for clinical trials", Biometrika 70:659-663:
alpha spending. ``alpha(t)`` is the error spent by information fraction ``t``, per side at the
one-sided level ``a`` (two-sided tests spend ``a = alpha / 2`` on each side):

* **O'Brien-Fleming-type** ``a(t) = 2 - 2 Phi(z_{1-a/2} / sqrt(t))`` (Lan & DeMets 1983; gsDesign
  ``sfLDOF``, R ldbounds ``iuse=1``, rpact ``asOF``): almost nothing early, nearly the full level at the end;
* **Pocock-type** ``a(t) = a log(1 + (e - 1) t)`` (Lan & DeMets 1983; gsDesign ``sfLDPocock``,
  rpact ``asP``): nearly constant boundaries, the early looks can stop a clear winner;
* **power family** ``a(t) = a t^rho`` (Kim & DeMets 1987, "Design and analysis of group sequential
  tests based on the type I error spending rate function", Biometrika 74:149-154; gsDesign
  ``sfPower``, rpact ``asKD``; the family Spotify's confidence library offers): rho = 1 spends
  linearly, rho = 3 is close to O'Brien-Fleming.

Boundaries by recursive numerical integration of the score process (Armitage, McPherson & Rowe
1969; Jennison & Turnbull 2000, *Group Sequential Methods*, ch. 19) on a Simpson grid, each
boundary solved with Brent's method; looks may be unequally spaced.

The **price of the looks** (:func:`inflation_factor`): the maximum sample size of a group-sequential
design with power ``1 - beta`` over the fixed design's, ``(theta / (z_{1-a} + z_{1-beta}))^2`` where
``theta`` is the drift (expected z at the end) at which the boundaries reach the power (Jennison &
Turnbull 2000, sec. 2.3; rpact ``getDesignCharacteristics()$inflationFactor``). Power counts the
crossings in the direction of the effect.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from uplift.stats import distributions as st  # scipy.stats' normal, t, chi2 without importing it
from uplift.stats.lazy import lazy_module
from uplift.text import Msg

optimize = lazy_module("scipy.optimize")

__all__ = ["FAMILIES", "SequentialBoundaries", "inflation_factor", "obrien_fleming_boundaries", "obrien_fleming_spending",
           "power_of", "spending", "spending_boundaries"]

FAMILIES = ("obrien-fleming", "pocock", "power")
"""The alpha-spending families ``[design] spending`` may name."""

_NAMES = {"obrien-fleming": Msg("O'Brien-Fleming-type"), "pocock": Msg("Pocock-type"), "power": "power family"}
_LOWEST = -12.0  # one-sided designs: the continuation region starts 12 sd below 0 (mass beyond ~1e-33)


def _finite(x: float) -> float | None:
    """JSON-ready: None for an infinite boundary (a look that spends no alpha)."""
    return float(x) if math.isfinite(x) else None


def spending(t: float | np.ndarray, a: float, family: str = "obrien-fleming", rho: float = 3.0) -> float | np.ndarray:
    """One-sided error spent by information fraction ``t`` at the one-sided level ``a`` (module docstring);
    equals ``a`` at t = 1."""
    tt = np.clip(np.asarray(t, dtype=float), 1e-300, None)
    if family == "obrien-fleming":
        out = 2 - 2 * st.norm.cdf(st.norm.ppf(1 - a / 2) / np.sqrt(tt))
    elif family == "pocock":
        out = a * np.log1p((math.e - 1) * np.minimum(tt, 1.0))
    elif family == "power":
        if not rho > 0:
            raise ValueError("the power family needs rho > 0")
        out = a * np.minimum(tt, 1.0) ** rho
    else:
        raise ValueError(f"unknown spending family {family!r}; use one of {', '.join(FAMILIES)}")
    return float(out) if out.ndim == 0 else out


def obrien_fleming_spending(t: float | np.ndarray, alpha: float = 0.05) -> float | np.ndarray:
    """Cumulative two-sided alpha spent by information fraction ``t`` (Lan & DeMets 1983).

    O'Brien-Fleming-type, alpha/2 spent on each side: per side
    ``alpha_1(t) = 2 - 2 Phi(z_{1-alpha/4} / sqrt(t))``, total ``2 alpha_1(t)``; equals alpha at t = 1.
    (gsDesign ``sfLDOF`` with one-sided alpha/2; R ldbounds ``iuse=1, sides=2``.)
    """
    out = 2 * np.asarray(spending(t, alpha / 2, "obrien-fleming"))
    return float(out) if out.ndim == 0 else out


@dataclass(frozen=True)
class SequentialBoundaries:
    """Group-sequential boundaries on the z scale, one per look (two-sided: reject when ``|Z_k| >= z_k``;
    one-sided: when ``Z_k >= z_k``)."""

    alpha: float
    fractions: tuple[float, ...]
    alpha_spent: tuple[float, ...]  # cumulative, total over the sides
    z: tuple[float, ...]
    method: str = "Lan-DeMets alpha spending, O'Brien-Fleming-type, two-sided"
    family: str = "obrien-fleming"
    rho: float | None = None
    sides: int = 2

    @property
    def nominal_alpha(self) -> tuple[float, ...]:
        """Nominal p-value threshold at each look: ``sides x (1 - Phi(z_k))``."""
        return tuple(float(self.sides * st.norm.sf(z)) for z in self.z)

    def to_dict(self) -> dict[str, Any]:
        return {
            "method": self.method,
            "spending": self.family,
            "spending_rho": self.rho,
            "alpha": self.alpha,
            "information_fractions": list(self.fractions),
            "alpha_spent_cumulative": list(self.alpha_spent),
            "boundaries_z": [_finite(z) for z in self.z],
            "nominal_alpha": [_finite(a) for a in self.nominal_alpha],
        }


def _fractions(looks: int, fractions: Sequence[float] | None) -> np.ndarray:
    if looks < 1:
        raise ValueError("looks must be at least 1")
    if fractions is None:
        return np.arange(1, looks + 1) / looks
    t = np.asarray(fractions, dtype=float)
    if len(t) != looks or np.any(np.diff(t) <= 0) or t[0] <= 0 or t[-1] > 1 + 1e-12:
        raise ValueError("fractions must be increasing in (0, 1], one per look")
    return t


def _simpson(lo: float, hi: float, m: int) -> tuple[np.ndarray, np.ndarray]:
    x = np.linspace(lo, hi, m)
    h = (hi - lo) / (m - 1)
    w = np.ones(m)
    w[1:-1:2] = 4
    w[2:-1:2] = 2
    return x, w * h / 3


def _region(t: float, c: float, sides: int, drift: float) -> tuple[float, float]:
    """The continuation region of the score ``S = Z sqrt(t)`` at a look with boundary ``c``."""
    b = c * math.sqrt(t)
    lo = -b if sides == 2 else min(_LOWEST * math.sqrt(t) + drift * t, b - 1e-9)
    return lo, b


def _first(t: float, c: float, sides: int, drift: float, m: int) -> tuple[np.ndarray, np.ndarray]:
    """Grid and Simpson-weighted density of the score at the first look, inside its continuation region."""
    x, w = _simpson(*_region(t, c, sides, drift), m)
    return x, w * st.norm.pdf((x - drift * t) / math.sqrt(t)) / math.sqrt(t)


def _step(x: np.ndarray, mass: np.ndarray, t0: float, t1: float, c: float, sides: int, drift: float,
          m: int) -> tuple[np.ndarray, np.ndarray]:
    """Propagate the not-yet-stopped mass from the look at ``t0`` to the look at ``t1`` (boundary ``c``)."""
    sd = math.sqrt(t1 - t0)
    xn, wn = _simpson(*_region(t1, c, sides, drift), m)
    u = (xn[:, None] - x[None, :] - drift * (t1 - t0)) / sd
    dens = (np.exp(-0.5 * u * u) / (sd * math.sqrt(2 * math.pi))) @ mass
    return xn, wn * dens


def _cross(x: np.ndarray, mass: np.ndarray, c: float, tk: float, dt: float, sides: int, drift: float) -> tuple[float, float]:
    """(upper, lower) crossing probability at a look with boundary ``c`` from the continuation mass."""
    sd = math.sqrt(dt)
    bb = c * math.sqrt(tk)
    up = float(np.sum(mass * st.norm.sf((bb - x - drift * dt) / sd)))
    low = float(np.sum(mass * st.norm.cdf((-bb - x - drift * dt) / sd))) if sides == 2 else 0.0
    return up, low


def _solve(x: np.ndarray, mass: np.ndarray, tk: float, dt: float, sides: int, target: float) -> float:
    """The boundary at a look that spends ``target`` of alpha (Brent's method)."""
    return float(optimize.brentq(lambda c: sum(_cross(x, mass, c, tk, dt, sides, 0.0)) - target,
                                 1e-6, 40.0, xtol=1e-12, rtol=1e-12))


def spending_boundaries(looks: int, alpha: float = 0.05, family: str = "obrien-fleming", rho: float = 3.0,
                        fractions: Sequence[float] | None = None, sides: int = 2, grid: int = 1201) -> SequentialBoundaries:
    """Boundaries c_1..c_K with P_H0(cross by look j) = alpha(t_j) for every j.

    ``alpha`` is the total level (two-sided: ``alpha / 2`` per side, as the fixed design's two-sided test);
    ``family`` and ``rho`` the spending function (:func:`spending`); ``fractions`` the information fractions
    (default k/K, may be unequal). ``Z_k`` are jointly normal with ``corr(Z_j, Z_k) = sqrt(t_j/t_k)``.
    One look gives ``z_{1-alpha/sides}``."""
    if sides not in (1, 2):
        raise ValueError("sides must be 1 or 2")
    t = _fractions(looks, fractions)
    a = alpha / sides
    spent = np.atleast_1d(sides * np.asarray(spending(t, a, family, rho)))
    m = grid if grid % 2 == 1 else grid + 1
    z: list[float] = [float(st.norm.isf(spent[0] / sides))]
    x, mass = _first(float(t[0]), z[0], sides, 0.0, m)
    for k in range(1, looks):
        target = spent[k] - spent[k - 1]
        dt = float(t[k] - t[k - 1])
        z.append(40.0 if target <= 1e-15 else _solve(x, mass, float(t[k]), dt, sides, float(target)))
        if k < looks - 1:
            x, mass = _step(x, mass, float(t[k - 1]), float(t[k]), z[k], sides, 0.0, m)
    side = Msg("two-sided") if sides == 2 else Msg("one-sided")
    name = f"power family (rho = {rho:g})" if family == "power" else _NAMES[family]
    return SequentialBoundaries(alpha, tuple(float(v) for v in t), tuple(float(v) for v in spent), tuple(z),
                                Msg("Lan-DeMets alpha spending, {name}, {side}", name=name, side=side), family,
                                float(rho) if family == "power" else None, sides)


def obrien_fleming_boundaries(
    looks: int, alpha: float = 0.05, fractions: Sequence[float] | None = None, grid: int = 1201
) -> SequentialBoundaries:
    """Two-sided O'Brien-Fleming-type boundaries (:func:`spending_boundaries` with that family)."""
    return spending_boundaries(looks, alpha, "obrien-fleming", fractions=fractions, grid=grid)


def power_of(bounds: SequentialBoundaries, drift: float, grid: int = 1201) -> float:
    """P(crossing in the direction of ``drift`` > 0 at some look) when ``E[Z at t = 1] = drift``."""
    t = [float(v) for v in bounds.fractions]
    m = grid if grid % 2 == 1 else grid + 1
    total = float(st.norm.sf(bounds.z[0] - drift * math.sqrt(t[0])))
    x, mass = _first(t[0], bounds.z[0], bounds.sides, drift, m)
    for k in range(1, len(t)):
        total += _cross(x, mass, bounds.z[k], t[k], t[k] - t[k - 1], bounds.sides, drift)[0]
        if k < len(t) - 1:
            x, mass = _step(x, mass, t[k - 1], t[k], bounds.z[k], bounds.sides, drift, m)
    return total


def inflation_factor(bounds: SequentialBoundaries, power: float = 0.8, grid: int = 401) -> float:
    """Maximum sample size of the group-sequential design over the fixed design's at the same level
    and power (module docstring). 1 for a single look."""
    fixed = float(st.norm.isf(bounds.alpha / bounds.sides) + st.norm.ppf(power))
    if len(bounds.z) == 1:
        return 1.0
    theta = optimize.brentq(lambda d: power_of(bounds, d, grid) - power, fixed * 0.9, fixed * 2.0, xtol=1e-10)
    return float((theta / fixed) ** 2)


