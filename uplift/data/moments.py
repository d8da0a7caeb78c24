"""Sufficient statistics: the seam between data and statistics.

Every metric in a readout reduces, per arm (and per segment), to a small record:
the count ``n``, the column means, and the *centred* cross-product sums
(co-moments) ``M[a, b] = sum_i (a_i - mean_a)(b_i - mean_b)``. Sample variances
and covariances are ``M / (n - 1)``. Nothing after this module touches rows.

Two engines fill the same record from one aggregation over all columns at once:

* :func:`aggregate_frame` - pandas/numpy: one ``groupby(...).ngroup()`` to code
  the cells, then per cell the corrected two-pass algorithm
  ``M = Xc'Xc - s s'/n`` with ``Xc = X - mean`` and ``s = sum(Xc)``
  (Chan, Golub & LeVeque 1983, "Algorithms for computing the sample variance",
  eq. 1.7), never ``sum(x^2) - n mean^2`` on raw values;
* :func:`aggregate_duckdb` - one SQL ``GROUP BY`` query in the embedded DuckDB
  over a DataFrame or a Parquet/CSV file, using DuckDB's own ``avg``,
  ``var_samp`` and ``covar_samp`` aggregates (Welford-type updates).

For rows that stay where they are (Parquet/CSV files, an engine table on DuckDB, Spark or any
Ibis backend), :func:`uplift.data.engine.aggregate` fills the same record from one query in that
engine, computing only the covariances the estimators read (the others are NaN).

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

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

import numpy as np
import pandas as pd

from uplift.errors import DataError
from uplift.results import jsonable

__all__ = [
    "Moments",
    "SampleMean",
    "Proportion",
    "RatioStats",
    "AdjustedStats",
    "aggregate_frame",
    "aggregate_duckdb",
    "pool",
    "check_numeric_columns",
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
        # estimator reads (see uplift.data.engine.aggregate), and 0 * NaN would spread them
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
        return Proportion(self.n, self.mean_of(column) * self.n)

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


# --------------------------------------------------------------------------- input checks


def check_numeric_columns(
    df: pd.DataFrame,
    roles: Mapping[str, str],
    source: str = "outcomes",
) -> None:
    """Raise :class:`DataError` (one line) unless every column in ``roles`` exists, is numeric and complete.

    ``roles`` maps column -> what it is for (e.g. ``"metric 'revenue'"``), used in the message.
    Booleans count as numeric (0/1). Missing values and infinities are refused, naming
    the column, the number of rows and the fix: nothing is dropped silently.
    """
    for col, role in roles.items():
        if col not in df.columns:
            have = ", ".join(map(str, list(df.columns)[:12]))
            raise DataError(f"{source}: column '{col}' ({role}) not found; add it or fix the spec (columns: {have})")
        s = df[col]
        if not (pd.api.types.is_numeric_dtype(s) or pd.api.types.is_bool_dtype(s)):
            raise DataError(
                f"{source}: column '{col}' ({role}) holds {s.dtype} values, not numbers; "
                "convert it to numbers (e.g. 0/1 or amounts) before the readout"
            )
        if (pd.api.types.is_bool_dtype(s) or pd.api.types.is_integer_dtype(s)) and not s.hasnans:
            continue  # integers and booleans without NA are always finite
        values = s.to_numpy(dtype=float, na_value=np.nan)
        nbad = int((~np.isfinite(values)).sum())
        if nbad:
            nnan = int(np.isnan(values).sum())
            what = "missing (NaN)" if nnan == nbad else ("infinite" if nnan == 0 else "missing or infinite")
            raise DataError(
                f"{source}: column '{col}' ({role}) is {what} in {nbad} of {len(s)} rows; "
                "fill those values (e.g. 0 for no purchase) or remove the rows and report them before the readout"
            )


# --------------------------------------------------------------------------- engine: pandas / numpy


_CHUNK = 1 << 17  # rows per block: a block of a few columns stays in cache


def _group_codes(df: pd.DataFrame, by: Sequence[str]) -> tuple[np.ndarray, list[tuple]]:
    """Integer cell code per row and the key of each code, from one pandas groupby.

    A single categorical column is coded by its own categories (no hashing needed).
    """
    if len(by) == 1 and isinstance(df[by[0]].dtype, pd.CategoricalDtype):
        s = df[by[0]]
        return s.cat.codes.to_numpy(), [(c,) for c in s.cat.categories]
    grouped = df.groupby(list(by), observed=True, sort=True, dropna=False)
    codes = grouped.ngroup().to_numpy()
    keys = [k if isinstance(k, tuple) else (k,) for k in grouped.groups.keys()]
    return codes, keys


def _block_moments(block: np.ndarray, columns: tuple[str, ...]) -> Moments:
    """Corrected two-pass moments of one block of rows (Chan, Golub & LeVeque 1983, eq. 1.7)."""
    n = block.shape[0]
    mean = block.mean(axis=0)
    xc = block - mean
    s = xc.sum(axis=0)
    com = xc.T @ xc - np.outer(s, s) / n
    return Moments(n, columns, mean + s / n, com)


def aggregate_frame(
    df: pd.DataFrame,
    by: Sequence[str],
    columns: Sequence[str],
    *,
    source: str = "outcomes",
    check: bool = True,
) -> dict[tuple, Moments]:
    """Moments of ``columns`` per cell of ``by`` (e.g. ``["arm"]`` or ``["arm", "segment"]``).

    One pandas ``groupby(by).ngroup()`` codes the cells (a single categorical column is coded
    by its categories). Rows are then read in blocks; within a block each cell's co-moments
    are the corrected two-pass sum ``M = Xc'Xc - s s'/n`` with ``Xc = X - mean``, ``s = sum(Xc)``
    (Chan, Golub & LeVeque 1983, eq. 1.7), and blocks are pooled exactly with
    :meth:`Moments.__add__` - never ``sum(x^2) - n mean^2`` on raw values. Keys are tuples of
    the ``by`` values; only non-empty cells are returned.
    """
    columns = tuple(dict.fromkeys(columns))
    by = list(by)
    for b in by:
        if b not in df.columns:
            raise DataError(f"{source}: grouping column '{b}' not found; check the arm/segment column names")
        nnull = int(df[b].isna().sum())
        if nnull:
            raise DataError(
                f"{source}: column '{b}' is missing for {nnull} of {len(df)} rows; "
                "every row needs an arm/segment value: fill or remove those rows"
            )
    if check:
        check_numeric_columns(df, {c: "aggregated column" for c in columns}, source)
    if len(df) == 0:
        return {}
    codes, keys = _group_codes(df, by)
    arrays = [df[c].to_numpy() for c in columns]
    k = len(columns)
    acc: dict[int, Moments] = {}
    n = len(df)
    for start in range(0, n, _CHUNK):
        stop = min(start + _CHUNK, n)
        cc = codes[start:stop]
        present = np.unique(cc) if len(keys) > 1 else np.array([0])
        if len(present) > 8:  # many cells: one sort of the block instead of a scan per cell
            order = np.argsort(cc, kind="stable")
            bounds = np.searchsorted(cc[order], present, side="left")
            ends = np.append(bounds[1:], len(cc))
        for i, g in enumerate(present):
            if len(keys) > 1:
                idx = order[bounds[i]:ends[i]] if len(present) > 8 else np.flatnonzero(cc == g)
                block = np.empty((len(idx), k), dtype=np.float64, order="F")
                for j, a in enumerate(arrays):
                    block[:, j] = a[start:stop][idx]
            else:
                block = np.empty((stop - start, k), dtype=np.float64, order="F")
                for j, a in enumerate(arrays):
                    block[:, j] = a[start:stop]
            m = _block_moments(block, columns)
            acc[int(g)] = m if int(g) not in acc else acc[int(g)] + m
    return {tuple(keys[g]): m for g, m in sorted(acc.items())}


# --------------------------------------------------------------------------- engine: DuckDB


def _quote(name: str) -> str:
    return '"' + str(name).replace('"', '""') + '"'


def aggregate_duckdb(
    source: pd.DataFrame | str | Path,
    by: Sequence[str],
    columns: Sequence[str],
    *,
    label: str | None = None,
) -> dict[tuple, Moments]:
    """The same Moments per cell, from one DuckDB ``GROUP BY`` query.

    ``source`` is a DataFrame (scanned in place) or a Parquet/CSV path (read by DuckDB,
    never loaded into pandas). Uses DuckDB's ``count``, ``avg``, ``var_samp`` and
    ``covar_samp`` aggregates; co-moments are ``(n - 1)`` times the sample covariances.
    Column names are quoted identifiers, the path is a bound parameter: nothing from the
    user is evaluated as code.
    """
    import duckdb

    columns = tuple(dict.fromkeys(columns))
    by = list(by)
    con = duckdb.connect()
    try:
        params: list[Any] = []
        if isinstance(source, pd.DataFrame):
            con.register("__uplift_src", source)
            rel = "__uplift_src"
            label = label or "outcomes"
        else:
            p = Path(source)
            label = label or str(p)
            if not p.exists():
                raise DataError(f"{p}: outcomes file not found; check the path")
            suffix = p.suffix.lower()
            if suffix in (".parquet", ".pq"):
                rel = "read_parquet(?)"
            elif suffix in (".csv", ".txt"):
                rel = "read_csv_auto(?)"
            else:
                raise DataError(f"{p}: unknown file type {suffix or '(none)'}; use .parquet or .csv")
            params.append(str(p))
        try:
            desc = con.execute(f"DESCRIBE SELECT * FROM {rel}", params).fetchall()
        except duckdb.Error as exc:
            first = str(exc).splitlines()[0][:160]
            raise DataError(f"{label}: cannot be read ({first}); check the file is complete") from None
        types = {row[0]: str(row[1]).upper() for row in desc}
        numeric = ("TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT", "UTINYINT", "USMALLINT",
                   "UINTEGER", "UBIGINT", "FLOAT", "DOUBLE", "REAL", "BOOLEAN", "DECIMAL")
        for b in by:
            if b not in types:
                raise DataError(f"{label}: grouping column '{b}' not found; check the arm/segment column names")
        for c in columns:
            if c not in types:
                raise DataError(f"{label}: column '{c}' not found; add it or fix the spec")
            if not types[c].startswith(numeric):
                raise DataError(f"{label}: column '{c}' holds {types[c]} values, not numbers; convert it to numbers")
        sel = [f"{_quote(b)} AS g{i}" for i, b in enumerate(by)]
        sel.append("count(*) AS n")
        bad = [f"count(*) FILTER (WHERE {_quote(c)} IS NULL OR NOT isfinite({_quote(c)}::DOUBLE)) AS bad{i}"
               for i, c in enumerate(columns)]
        nullby = [f"count(*) FILTER (WHERE {_quote(b)} IS NULL) AS nullby{i}" for i, b in enumerate(by)]
        means = [f"avg({_quote(c)}::DOUBLE) AS m{i}" for i, c in enumerate(columns)]
        covs = []
        k = len(columns)
        for i in range(k):
            for j in range(i, k):
                a, b = _quote(columns[i]), _quote(columns[j])
                if i == j:
                    covs.append(f"var_samp({a}::DOUBLE) AS c{i}_{j}")
                else:
                    covs.append(f"covar_samp({a}::DOUBLE, {b}::DOUBLE) AS c{i}_{j}")
        group = ", ".join(_quote(b) for b in by)
        sql = f"SELECT {', '.join(sel + bad + nullby + means + covs)} FROM {rel}"
        if by:
            sql += f" GROUP BY {group} ORDER BY {group}"
        cur = con.execute(sql, params)
        names = [d[0] for d in cur.description]
        rows = cur.fetchall()
    finally:
        con.close()
    total_bad = {c: 0 for c in columns}
    total_null_by = {b: 0 for b in by}
    out: dict[tuple, Moments] = {}
    for row in rows:
        r = dict(zip(names, row))
        for i, c in enumerate(columns):
            total_bad[c] += int(r[f"bad{i}"])
        for i, b in enumerate(by):
            total_null_by[b] += int(r[f"nullby{i}"])
        n = int(r["n"])
        if n == 0:
            continue
        mean = np.array([float(r[f"m{i}"]) if r[f"m{i}"] is not None else np.nan for i in range(k)])
        com = np.zeros((k, k))
        for i in range(k):
            for j in range(i, k):
                v = r[f"c{i}_{j}"]
                v = 0.0 if v is None else float(v) * (n - 1)
                com[i, j] = com[j, i] = v
        key = tuple(r[f"g{i}"] for i in range(len(by)))
        out[key] = Moments(n, columns, mean, com)
    for b, nnull in total_null_by.items():
        if nnull:
            raise DataError(f"{label}: column '{b}' is missing for {nnull} rows; every row needs an arm/segment value")
    for c, nbad in total_bad.items():
        if nbad:
            raise DataError(
                f"{label}: column '{c}' is missing or infinite in {nbad} rows; "
                "fill those values (e.g. 0 for no purchase) or remove the rows and report them before the readout"
            )
    return out
