"""Sufficient statistics: the seam between data and statistics.

Every metric in a readout reduces, per arm (and per segment), to a small record:
the count ``n``, the column means, and the *centred* cross-product sums
(co-moments) ``M[a, b] = sum_i (a_i - mean_a)(b_i - mean_b)``. Sample variances
and covariances are ``M / (n - 1)``. Nothing after this module touches rows.

Both backends of :mod:`uplift.data.source` fill the same record from one aggregation over
all the columns a readout needs (:func:`uplift.data.collect.collect_cells`):

* in memory (numpy/pandas): cells coded by one pandas group-by, then per cell the corrected
  two-pass algorithm ``M = Xc'Xc - s s'/n`` with ``Xc = X - mean`` and ``s = sum(Xc)``
  (Chan, Golub & LeVeque 1983, "Algorithms for computing the sample variance", eq. 1.7;
  :func:`moments_by_code` here), never ``sum(x^2) - n mean^2`` on raw values;
* Ibis (files in the embedded DuckDB, Spark, warehouses): one ``GROUP BY`` with the engine's
  own ``avg``, ``var_samp`` and ``covar_samp`` aggregates (Welford-type updates), the
  co-moments being ``(n - 1)`` times those.

Either way only the co-moments the estimators read are kept (the others are NaN).

Records pool exactly with ``+`` (Chan et al. 1979 parallel update)::

    n = n_a + n_b,  d = mean_b - mean_a,
    mean = mean_a + d n_b / n,
    M = M_a + M_b + d d' n_a n_b / n

which is how per-segment cells add up to per-arm totals, and how a later
distributed engine can combine partial aggregates.

Typed views of one shape each (in the spirit of gbstats' ``statistics.py``)
are what :mod:`uplift.stats.compare` consumes: :class:`SampleMean`, :class:`Proportion`,
:class:`RatioStats`, :class:`AdjustedStats` and, for CUPED ratios, the
:class:`Moments` record itself.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Iterable, Mapping, Sequence

import numpy as np
from uplift.results import jsonable

__all__ = [
    "Moments",
    "SampleMean",
    "Proportion",
    "RatioStats",
    "AdjustedStats",
    "pool",
    "block_moments",
    "moments_by_code",
]


# --------------------------------------------------------------------------- the general record


@dataclass(frozen=True, eq=False)
class Moments:
    """Count, means and centred co-moments of named columns in one cell (arm, or arm x segment).

    ``comoment[i, j] = sum_r (x_ri - mean_i)(x_rj - mean_j)``; the sample covariance is
    ``comoment / (n - 1)``. Poolable with ``+`` (Chan, Golub & LeVeque 1979).
    """

    n: int
    columns: tuple[str, ...]
    mean: np.ndarray
    comoment: np.ndarray

    # ----------------------------------------------------------------- access
    def index(self, column: str) -> int:
        try:
            return self.columns.index(column)
        except ValueError:
            raise KeyError(f"column {column!r} was not aggregated (have: {', '.join(self.columns)})") from None

    def mean_of(self, column: str) -> float:
        """Sample mean of ``column``."""
        return float(self.mean[self.index(column)])

    def var(self, column: str) -> float:
        """Sample variance (n - 1 denominator) of ``column``; NaN when n < 2."""
        return self.cov(column, column)

    def cov(self, a: str, b: str) -> float:
        """Sample covariance (n - 1 denominator) of ``a`` and ``b``; NaN when n < 2."""
        if self.n < 2:
            return float("nan")
        return float(self.comoment[self.index(a), self.index(b)]) / (self.n - 1)

    # ----------------------------------------------------------------- building
    @classmethod
    def empty(cls, columns: Sequence[str]) -> "Moments":
        k = len(columns)
        return cls(0, tuple(columns), np.zeros(k), np.zeros((k, k)))

    def __add__(self, other: "Moments") -> "Moments":
        """Pool two disjoint cells exactly: mean = m_a + d n_b/n, M = M_a + M_b + d d' n_a n_b/n."""
        if not isinstance(other, Moments):
            return NotImplemented
        if other.columns != self.columns:
            other = other.select(self.columns)
        if other.n == 0:
            return self
        if self.n == 0:
            return other
        n = self.n + other.n
        d = other.mean - self.mean
        mean = self.mean + d * (other.n / n)
        com = self.comoment + other.comoment + np.outer(d, d) * (self.n * other.n / n)
        return Moments(n, self.columns, mean, com)

    def __radd__(self, other: Any) -> "Moments":
        if other == 0:  # lets sum() start from 0
            return self
        return NotImplemented

    def select(self, columns: Sequence[str]) -> "Moments":
        """The record restricted to (and reordered as) ``columns``."""
        idx = [self.index(c) for c in columns]
        return Moments(self.n, tuple(columns), self.mean[idx], self.comoment[np.ix_(idx, idx)])

    def with_linear(self, name: str, weights: Mapping[str, float]) -> "Moments":
        """Add a column ``name = sum_c w_c * c`` exactly: mean = w'mu, M[name, .] = w'M.

        Used for derived measures (net profit = margin - cannibalised - cost to serve,
        products after = products before + converted) without a second pass over rows.
        """
        w = np.zeros(len(self.columns))
        for c, v in weights.items():
            w[self.index(c)] += float(v)
        # only the weighted columns enter: a record from an engine holds NaN for co-moments no
        # estimator reads (see uplift.data.needs.Needs), and 0 * NaN would spread them
        idx = np.flatnonzero(w)
        wi = w[idx]
        mean = np.append(self.mean, wi @ self.mean[idx])
        row = wi @ self.comoment[idx, :]
        k = len(self.columns)
        com = np.empty((k + 1, k + 1))
        com[:k, :k] = self.comoment
        com[k, :k] = row
        com[:k, k] = row
        com[k, k] = wi @ self.comoment[np.ix_(idx, idx)] @ wi
        return Moments(self.n, self.columns + (name,), mean, com)

    # ----------------------------------------------------------------- typed views
    def sample_mean(self, column: str) -> "SampleMean":
        return SampleMean(self.n, self.mean_of(column), self.var(column) if self.n > 1 else 0.0)

    def proportion(self, column: str) -> "Proportion":
        """The 0/1 ``column`` as n and a whole number of successes: mean x n rounded, so that sums in another
        row order (mean x n = 4.9999999 or 5.0000001) give the same count and the same interval."""
        x = self.mean_of(column) * self.n
        return Proportion(self.n, float(round(x)) if math.isfinite(x) else x)

    def ratio(self, numerator: str, denominator: str) -> "RatioStats":
        n = self.n
        return RatioStats(
            n,
            self.mean_of(numerator),
            self.mean_of(denominator),
            self.var(numerator) if n > 1 else 0.0,
            self.var(denominator) if n > 1 else 0.0,
            self.cov(numerator, denominator) if n > 1 else 0.0,
        )

    def adjusted(self, outcome: str, covariate: str) -> "AdjustedStats":
        n = self.n
        return AdjustedStats(
            n,
            self.mean_of(outcome),
            self.mean_of(covariate),
            self.var(outcome) if n > 1 else 0.0,
            self.var(covariate) if n > 1 else 0.0,
            self.cov(outcome, covariate) if n > 1 else 0.0,
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: n, mean per column, sample variance per column, sample covariances (None if n < 2)."""
        out: dict[str, Any] = {"n": int(self.n), "mean": {}, "var": {}, "cov": {}}
        for i, c in enumerate(self.columns):
            out["mean"][c] = jsonable(self.mean[i]) if self.n else None
            out["var"][c] = jsonable(self.comoment[i, i] / (self.n - 1)) if self.n > 1 else None
            for j in range(i + 1, len(self.columns)):
                key = f"{c}|{self.columns[j]}"
                out["cov"][key] = jsonable(self.comoment[i, j] / (self.n - 1)) if self.n > 1 else None
        return out


def pool(records: Iterable[Moments]) -> Moments:
    """Pool disjoint cells (exact; see :meth:`Moments.__add__`)."""
    out: Moments | None = None
    for r in records:
        out = r if out is None else out + r
    if out is None:
        raise ValueError("nothing to pool")
    return out


# --------------------------------------------------------------------------- typed shapes


def _pool_second(n1: int, m1: np.ndarray, c1: np.ndarray, n2: int, m2: np.ndarray, c2: np.ndarray):
    """Pool means and sample covariance matrices of two disjoint samples (Chan et al. 1979)."""
    n = n1 + n2
    d = m2 - m1
    mean = m1 + d * n2 / n
    com = c1 * max(n1 - 1, 0) + c2 * max(n2 - 1, 0) + np.outer(d, d) * n1 * n2 / n
    cov = com / (n - 1) if n > 1 else np.zeros_like(com)
    return n, mean, cov


@dataclass(frozen=True)
class SampleMean:
    """n, mean and sample variance of one column. ``variance_of_mean = var / n``."""

    n: int
    mean: float
    var: float

    @property
    def variance_of_mean(self) -> float:
        return self.var / self.n

    def __add__(self, other: "SampleMean") -> "SampleMean":
        n, m, c = _pool_second(self.n, np.array([self.mean]), np.array([[self.var]]),
                               other.n, np.array([other.mean]), np.array([[other.var]]))
        return SampleMean(n, float(m[0]), float(c[0, 0]))


@dataclass(frozen=True)
class Proportion:
    """n and the number of successes of a 0/1 column. ``p = successes / n``."""

    n: int
    successes: float

    @property
    def p(self) -> float:
        return self.successes / self.n

    @property
    def mean(self) -> float:
        return self.p

    @property
    def var(self) -> float:
        """Unit-level variance with denominator n: p (1 - p) (the Wald / binomial variance)."""
        return self.p * (1 - self.p)

    def __add__(self, other: "Proportion") -> "Proportion":
        return Proportion(self.n + other.n, self.successes + other.successes)


@dataclass(frozen=True)
class RatioStats:
    """Per-unit numerator Y and denominator D: n, means, sample variances and covariance.

    The ratio of means R = mean(Y) / mean(D) has, by the delta method
    (e.g. Deng, Knoblich & Lu 2018, "Applying the delta method in metric analytics", eq. 3),
    ``var(R) ~= (var_Y - 2 R cov_YD + R^2 var_D) / (n mean_D^2)``.
    """

    n: int
    mean_num: float
    mean_den: float
    var_num: float
    var_den: float
    cov: float

    @property
    def ratio(self) -> float:
        return self.mean_num / self.mean_den

    @property
    def unit_var(self) -> float:
        """Variance of the linearised unit value (Y - R D) / mean_D."""
        r = self.ratio
        return (self.var_num - 2 * r * self.cov + r * r * self.var_den) / (self.mean_den**2)

    @property
    def variance_of_ratio(self) -> float:
        return self.unit_var / self.n

    def __add__(self, other: "RatioStats") -> "RatioStats":
        c1 = np.array([[self.var_num, self.cov], [self.cov, self.var_den]])
        c2 = np.array([[other.var_num, other.cov], [other.cov, other.var_den]])
        n, m, c = _pool_second(self.n, np.array([self.mean_num, self.mean_den]), c1,
                               other.n, np.array([other.mean_num, other.mean_den]), c2)
        return RatioStats(n, float(m[0]), float(m[1]), float(c[0, 0]), float(c[1, 1]), float(c[0, 1]))


@dataclass(frozen=True)
class AdjustedStats:
    """Outcome Y and pre-period covariate X: n, means, sample variances and covariance (CUPED)."""

    n: int
    mean_y: float
    mean_x: float
    var_y: float
    var_x: float
    cov_xy: float

    def __add__(self, other: "AdjustedStats") -> "AdjustedStats":
        c1 = np.array([[self.var_y, self.cov_xy], [self.cov_xy, self.var_x]])
        c2 = np.array([[other.var_y, other.cov_xy], [other.cov_xy, other.var_x]])
        n, m, c = _pool_second(self.n, np.array([self.mean_y, self.mean_x]), c1,
                               other.n, np.array([other.mean_y, other.mean_x]), c2)
        return AdjustedStats(n, float(m[0]), float(m[1]), float(c[0, 0]), float(c[1, 1]), float(c[0, 1]))


# --------------------------------------------------------------------------- the in-memory kernel


_CHUNK = 1 << 17  # rows per block: a block of a few columns stays in cache


def block_moments(block: np.ndarray, columns: tuple[str, ...]) -> Moments:
    """Corrected two-pass moments of one block of rows (Chan, Golub & LeVeque 1983, eq. 1.7):
    ``M = Xc'Xc - s s'/n`` with ``Xc = X - mean`` and ``s = sum(Xc)``."""
    n = block.shape[0]
    mean = block.mean(axis=0)
    xc = block - mean
    s = xc.sum(axis=0)
    com = xc.T @ xc - np.outer(s, s) / n
    return Moments(n, columns, mean + s / n, com)


def moments_by_code(codes: np.ndarray, ncells: int, arrays: Sequence[np.ndarray],
                    columns: Sequence[str]) -> dict[int, Moments]:
    """Moments of ``columns`` (one array each, same length as ``codes``) per cell code in ``[0, ncells)``.

    Rows are read in blocks; within a block each cell's co-moments come from
    :func:`block_moments` (corrected two-pass, never ``sum(x^2) - n mean^2``), and blocks are
    pooled exactly with :meth:`Moments.__add__`. Only non-empty cells are returned.
    """
    columns = tuple(columns)
    k = len(columns)
    acc: dict[int, Moments] = {}
    n = len(codes)
    for start in range(0, n, _CHUNK):
        stop = min(start + _CHUNK, n)
        cc = codes[start:stop]
        present = np.unique(cc) if ncells > 1 else np.array([0])
        many = len(present) > 8
        if many:  # many cells: one sort of the block instead of a scan per cell
            order = np.argsort(cc, kind="stable")
            bounds = np.searchsorted(cc[order], present, side="left")
            ends = np.append(bounds[1:], len(cc))
        for i, g in enumerate(present):
            if ncells > 1:
                idx = order[bounds[i]:ends[i]] if many else np.flatnonzero(cc == g)
                block = np.empty((len(idx), k), dtype=np.float64, order="F")
                for j, a in enumerate(arrays):
                    block[:, j] = a[start:stop][idx]
            else:
                block = np.empty((stop - start, k), dtype=np.float64, order="F")
                for j, a in enumerate(arrays):
                    block[:, j] = a[start:stop]
            m = block_moments(block, columns)
            acc[int(g)] = m if int(g) not in acc else acc[int(g)] + m
    return dict(sorted(acc.items()))
