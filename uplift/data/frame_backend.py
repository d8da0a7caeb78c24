"""The in-memory backend: rows in a pandas DataFrame, aggregated by numpy (fast for small data).

:class:`FrameSource` answers the questions of :mod:`uplift.data.source` -- moments per cell,
life-table counts, per-group summaries, row counts and the facts the checks need -- with one
pandas group-by to code the cells and numpy on the coded rows. It never raises for bad values:
it counts them (:class:`~uplift.data.facts.Tally`), and :func:`uplift.data.facts.validate`
decides, exactly as for the Ibis backend.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Sequence

import numpy as np
import pandas as pd

from uplift.data import hashing
from uplift.data.files import files_sha256
from uplift.data.moments import Moments, moments_by_code
from uplift.data.needs import Needs
from uplift.data.facts import Tally
from uplift.data.timing import frame_timing
from uplift.errors import DataError

__all__ = ["FrameSource", "type_family", "mask_unasked"]


def type_family(s: pd.Series) -> str:
    """'boolean', 'integer', 'floating', 'string' or 'other' for a pandas column."""
    if pd.api.types.is_bool_dtype(s.dtype):
        return "boolean"
    if pd.api.types.is_integer_dtype(s.dtype):
        return "integer"
    if pd.api.types.is_float_dtype(s.dtype):
        return "floating"
    if pd.api.types.is_string_dtype(s.dtype) or isinstance(s.dtype, pd.CategoricalDtype):
        return "string"
    return "other"


def mask_unasked(m: Moments, needs: Needs) -> Moments:
    """``m`` with the co-moments of pairs ``needs`` did not ask for set to NaN (as engines leave them)."""
    if needs.pairs is None:
        return m
    com = m.comoment.copy()
    cols = m.columns
    for i in range(len(cols)):
        for j in range(i + 1, len(cols)):
            if not needs.wants(cols[i], cols[j]):
                com[i, j] = com[j, i] = np.nan
    return Moments(m.n, cols, m.mean, com)


def _floats(s: pd.Series) -> np.ndarray:
    return s.to_numpy(dtype=float, na_value=np.nan)


def _nonfinite(s: pd.Series) -> tuple[int, int]:
    """(missing, infinite) rows of a numeric column: missing = empty (NA) or NaN."""
    if (pd.api.types.is_bool_dtype(s) or pd.api.types.is_integer_dtype(s)) and not s.hasnans:
        return 0, 0  # integers and booleans without NA are always finite
    v = _plain(s)
    if v is not None and bool(np.isfinite(v).all()):
        return 0, 0  # a numpy float column, all finite: no copy needed to say so
    v = _floats(s)
    nan = int(np.isnan(v).sum())
    return nan, int(np.isinf(v).sum())


def _binary_range(s: pd.Series) -> tuple[float, float] | None:
    """(min, max) of a column meant to hold 0/1 when it holds anything else, else None (missing values aside)."""
    if pd.api.types.is_bool_dtype(s) or len(s) == 0:
        return None
    if s.hasnans or pd.api.types.is_extension_array_dtype(s):
        v = _floats(s)
        v = v[~np.isnan(v)]
    else:
        v = s.to_numpy()
    if len(v) == 0:
        return None
    lo, hi = float(v.min()), float(v.max())
    if lo < 0 or hi > 1:
        return lo, hi
    if pd.api.types.is_integer_dtype(s):
        return None
    return None if bool(((v == 0) | (v == 1)).all()) else (lo, hi)


def _group_codes(df: pd.DataFrame, by: Sequence[str]) -> tuple[np.ndarray, list[tuple]]:
    """Integer cell code per row and the key of each code, from one pandas group-by.

    A single categorical column is coded by its own categories (no hashing needed). The keys are the
    group-by's own result index, in the order ``ngroup`` numbers the groups (a categorical column sorts
    by its categories' order, not alphabetically; ``groups.keys()`` is not in that order and fails on a
    single column with missing values)."""
    if not by:
        return np.zeros(len(df), dtype=np.int64), [()]
    if len(by) == 1 and isinstance(df[by[0]].dtype, pd.CategoricalDtype):
        s = df[by[0]]
        return s.cat.codes.to_numpy(), [(c,) for c in s.cat.categories]
    grouped = df.groupby(list(by), observed=True, sort=True, dropna=False)
    codes = grouped.ngroup().to_numpy()
    keys = [k if isinstance(k, tuple) else (k,) for k in grouped.size().index.tolist()]
    return codes, keys


def _py(v: Any) -> Any:
    return v.item() if isinstance(v, np.generic) else v


@dataclass(frozen=True, eq=False)
class FrameSource:
    """Rows held in memory as a pandas DataFrame. Build one with :func:`uplift.data.source.open_source`.

    ``paths`` are the files the rows were read from (for :meth:`sha256`), empty for a DataFrame.
    """

    frame: pd.DataFrame
    label: str = "outcomes"
    paths: tuple[str, ...] = ()

    backend = "frame"
    engine = "pandas"
    description = "pandas (in memory)"

    # ------------------------------------------------------------------ what the table is
    def schema(self) -> dict[str, str]:
        """Column name -> type family ('boolean', 'integer', 'floating', 'string', 'other')."""
        return {str(c): type_family(self.frame[c]) for c in self.frame.columns}

    @property
    def columns(self) -> list[str]:
        return [str(c) for c in self.frame.columns]

    def categories(self, column: str) -> list[Any] | None:
        """The declared values of a categorical column (some may have no rows); None for other columns."""
        dtype = self.frame[column].dtype
        return list(dtype.categories) if isinstance(dtype, pd.CategoricalDtype) else None

    def sha256(self) -> str | None:
        """SHA-256 of the files the rows came from (see :func:`uplift.data.files.files_sha256`); None for a DataFrame."""
        return files_sha256(self.paths)

    def to_pandas(self, columns: Sequence[str] | None = None, order_by: str | None = None) -> pd.DataFrame:
        """The rows (or ``columns`` of them) as pandas, sorted by ``order_by`` when given (row-level work only)."""
        df = self.frame if columns is None else self.frame[list(columns)]
        if order_by and not df[order_by].is_monotonic_increasing:
            df = df.sort_values(order_by, kind="stable")
        return df.reset_index(drop=True)

    def close(self) -> None:
        """Nothing to release."""

    # ------------------------------------------------------------------ the questions
    def table_facts(self, unit: str | None) -> tuple[int, int | None, int]:
        """(rows, distinct present values of ``unit``, rows without a unit); (rows, None, 0) without a unit column.
        A text id that is empty or only blanks is no id: counted with the missing ones, as in the engine."""
        n = len(self.frame)
        if not unit:
            return n, None, 0
        units = self.frame[unit]
        absent = units.isna().to_numpy()
        if type_family(units) == "string" or units.dtype == object:
            absent = absent | (units.astype("string").str.strip() == "").fillna(False).to_numpy(dtype=bool)
        return n, int(units[~absent].nunique(dropna=True)), int(absent.sum())

    def counts(self, by: Sequence[str]) -> pd.DataFrame:
        """Rows per distinct combination of ``by`` (missing values form their own group): columns ``by`` + ``n``."""
        g = self.frame.groupby(list(by), dropna=False, observed=True, sort=True).size()
        return g.rename("n").reset_index()

    def moments(self, by: Sequence[str], needs: Needs) -> tuple[dict[tuple, Moments], Tally]:
        """Moments of the needed columns per cell of ``by`` (one group-by, then :func:`moments_by_code`),
        and what the checks need. Nothing is aggregated when a value is missing or a 0/1 column is not."""
        df = self.frame
        columns = needs.columns
        missing, infinite = {}, {}
        for c in columns:
            missing[c], infinite[c] = _nonfinite(df[c])
        non_binary = {c: r for c in needs.binary if (r := _binary_range(df[c])) is not None}
        tally = Tally(len(df), missing, infinite, non_binary, {b: int(df[b].isna().sum()) for b in by})
        if any(missing.values()) or any(infinite.values()) or non_binary or any(tally.groups_missing.values()):
            return {}, tally
        codes, keys = _group_codes(df, by)
        arrays = [df[c].to_numpy() if not pd.api.types.is_extension_array_dtype(df[c]) else _floats(df[c])
                  for c in columns]
        with np.errstate(over="ignore", invalid="ignore"):  # values too large to square: refused by the caller's checks
            cells = moments_by_code(codes, len(keys), arrays, columns)
        return {tuple(_py(v) for v in keys[g]): mask_unasked(m, needs) for g, m in cells.items()}, tally

    def life_counts(self, by: Sequence[str], duration: str, event: str,
                    value: str | None) -> tuple[pd.DataFrame, tuple[int, int]]:
        """Rows per (``by``, duration, event flag): ``by`` + ``time``, ``event``, ``n`` and, with ``value``,
        ``value_sum`` and ``value_m2`` (centred sum of squares in the cell); and the value column's
        (missing, infinite) rows. Whole-period durations use ``np.bincount`` on one flat cell code; other
        (or invalid) values a pandas group-by that keeps missing keys for the checks."""
        df = self.frame
        bad_value = _nonfinite(df[value]) if value else (0, 0)
        fast = _life_bincount(df, list(by), duration, event, value) if not any(bad_value) else None
        return (fast if fast is not None else _life_groupby(df, list(by), duration, event, value)), bad_value

    def summaries(self, by: str, columns: Sequence[str]) -> pd.DataFrame:
        """Per group of ``by`` (missing groups left out) and numeric column: ``n`` (non-missing rows),
        ``missing``, ``infinite`` (rows of +-inf, counted in ``n``), ``mean`` and ``var`` (n - 1 denominator,
        from centred values) over the non-missing values. Columns: ``group``, ``column``, ``n``, ``missing``,
        ``infinite``, ``mean``, ``var``."""
        groups = self.frame[by]
        keep = groups.notna().to_numpy()
        codes, uniq = pd.factorize(groups[keep], sort=True)
        rows = []
        for c in columns:
            x = _floats(self.frame[c])[keep]
            for g, name in enumerate(uniq):
                xs = x[codes == g]
                nan = np.isnan(xs)
                v = xs[~nan]
                n, inf = len(v), int(np.isinf(v).sum())
                with np.errstate(invalid="ignore"):  # an infinite value: counted, and refused by the caller
                    m = float(v.mean()) if n else float("nan")
                    var = float(np.sum((v - m) ** 2) / (n - 1)) if n > 1 else float("nan")
                rows.append({"group": _py(name), "column": c, "n": n, "missing": int(nan.sum()), "infinite": inf,
                             "mean": m, "var": var})
        return pd.DataFrame(rows, columns=["group", "column", "n", "missing", "infinite", "mean", "var"])

    def level_counts(self, by: str, column: str) -> pd.DataFrame:
        """Rows per (group of ``by``, text value of ``column``; missing values as None): ``group``, ``level``, ``n``."""
        df = self.frame
        text = df[column].astype(object)
        level = text.where(text.isna(), text.astype(str))
        g = pd.DataFrame({"group": df[by].to_numpy(), "level": level.to_numpy()})
        g = g[g["group"].notna()]
        out = g.groupby(["group", "level"], dropna=False, sort=True).size().rename("n").reset_index()
        out["level"] = out["level"].astype(object).where(out["level"].notna(), None)
        return out

    def odd_ids(self, unit: str) -> list[str]:
        """The distinct text ids of ``unit`` that are not plain (:data:`uplift.data.hashing.PLAIN_ID`); [] for numbers."""
        col = self.frame[unit]
        if type_family(col) != "string":
            return []
        values = col.cat.categories if isinstance(col.dtype, pd.CategoricalDtype) else pd.unique(col.dropna())
        text = pd.Series(values, dtype=object).map(str)
        return sorted(set(text[text.str.contains(hashing.PLAIN_ID, regex=True)]))

    def ids_among(self, unit: str, candidates: Sequence[str]) -> set[str]:
        """Which of the text ids ``candidates`` the column ``unit`` holds."""
        col = self.frame[unit]
        if type_family(col) != "string":
            return set()
        return {str(v) for v in pd.unique(col[col.isin(list(candidates))])}

    def hash64(self, unit: str, salt: str) -> pd.DataFrame:
        """``unit``, ``hash64`` (uint64) and ``bucket`` per row (:func:`uplift.data.hashing.hash64`)."""
        units = self.frame[unit]
        try:
            h = hashing.hash64(units, salt)
        except TypeError as exc:
            raise DataError(f"{self.label}: unit column {unit!r}: {exc}; store customer ids as whole numbers or text") from None
        return pd.DataFrame({unit: units.to_numpy(), "hash64": h, "bucket": h / float(2**64)})

    # ------------------------------------------------------------------ new tables from this one
    def join_columns(self, other: "FrameSource", unit: str, columns: Sequence[str]) -> "FrameSource":
        """This table LEFT JOINed with ``columns`` of ``other`` on ``unit`` (same-named columns replaced)."""
        base = self.frame.drop(columns=[c for c in columns if c in self.frame.columns])
        right = other.frame[[unit, *columns]]
        left_ids, right_ids = hashing.same_id_type(base[unit], right[unit])
        if left_ids is not base[unit]:
            base = base.assign(**{unit: left_ids})
        if right_ids is not right[unit]:
            right = right.assign(**{unit: right_ids})
        return replace(self, frame=base.merge(right, on=unit, how="left"))

    def where_present(self, column: str) -> "FrameSource":
        """The rows where ``column`` has a value."""
        return replace(self, frame=self.frame[self.frame[column].notna()])

    def with_bins(self, column: str, edges: Sequence[float], labels: Sequence[str], name: str) -> "FrameSource":
        """A text column ``name`` placing ``column`` in ``[edges[i], edges[i+1])`` -> ``labels[i]``
        (the last bin open above); below ``edges[0]``: ``"<edges[0]>"``; negative: ``"__negative"``;
        missing: ``"__missing"``."""
        p = _floats(self.frame[column])
        idx = np.clip(np.searchsorted(np.asarray(edges, dtype=float), p, side="right") - 1, 0, len(edges) - 1)
        out = np.asarray(labels, dtype=object)[idx]
        out = np.where(p < edges[0], f"<{edges[0]:g}", out)
        out = np.where(p < 0, "__negative", out)
        out = np.where(np.isnan(p), "__missing", out)
        return replace(self, frame=self.frame.assign(**{name: out}))

    def with_timing(self, flag: str, time: str, followup: str, competing: str | None, window: float,
                    names: tuple[str, str, str]) -> "FrameSource":
        """Columns ``names`` = (observed days, code, maturity share) of :func:`uplift.data.timing.frame_timing`."""
        days, code, share = frame_timing(self.frame, flag, time, followup, competing, window)
        return replace(self, frame=self.frame.assign(**dict(zip(names, (days, code, share)))))


def _plain(s: pd.Series) -> np.ndarray | None:
    """The values of a numpy-backed numeric or boolean column as they are (no copy), None for other columns."""
    return s.to_numpy() if isinstance(s.dtype, np.dtype) and s.dtype.kind in "biuf" else None


def _life_bincount(df: pd.DataFrame, by: list[str], duration: str, event: str, value: str | None) -> pd.DataFrame | None:
    """The fast path for whole-period durations 0..100,000, 0/1 flags and complete groups: one flat
    cell code per row, ``((group code) * periods + duration) * 2 + flag`` (row-major, as
    ``np.ravel_multi_index``), and ``np.bincount`` for the count, the sum and (second pass, around
    each cell's mean) the centred sum of squares. Integer and boolean columns are read as they are
    (no float copies). None when the data do not qualify."""
    dur, ev = df[duration], df[event]
    if len(df) == 0 or type_family(dur) not in ("integer", "floating") or type_family(ev) not in ("boolean", "integer", "floating"):
        return None
    t = dur.to_numpy()
    raw_t = _plain(dur)
    if raw_t is not None and raw_t.dtype.kind in "iu":  # whole numbers: only the range to check
        lo, hi = int(raw_t.min()), int(raw_t.max())
        if lo < 0 or hi > 100_000:
            return None
        periods = raw_t.astype(np.int64) if raw_t.dtype == np.uint64 else raw_t  # uint64 + int64 would be float
    else:
        tf = _floats(dur)
        if not np.isfinite(tf).all() or tf.min() < 0 or tf.max() > 100_000 or not np.array_equal(tf, np.floor(tf)):
            return None
        hi, periods = int(tf.max()), tf.astype(np.int64)
    raw_e = _plain(ev)
    if raw_e is not None and raw_e.dtype.kind in "biu":
        if raw_e.dtype.kind != "b" and (int(raw_e.min()) < 0 or int(raw_e.max()) > 1):
            return None
        flags = raw_e.view(np.uint8) if raw_e.dtype.kind == "b" else raw_e.astype(np.int64) if raw_e.dtype == np.uint64 else raw_e
    else:
        e = _floats(ev)
        if not np.isin(e, (0.0, 1.0)).all():
            return None
        flags = e.astype(np.int64)
    codes, uniques = [], []
    for c in by:
        col = df[c]
        if isinstance(col.dtype, pd.CategoricalDtype):
            code, uniq = col.cat.codes.to_numpy(), col.cat.categories
        else:
            code, uniq = pd.factorize(col, sort=True)
        if len(code) and int(code.min()) < 0:
            return None
        codes.append(code)
        uniques.append(np.asarray(uniq))
    shape = [len(u) for u in uniques] + [hi + 1, 2]
    size = int(np.prod(shape))
    if size > 50_000_000:
        return None
    flat = np.zeros(len(df), dtype=np.intp)
    for code, k in zip([*codes, periods, flags], shape):  # Horner's scheme: row-major flat index, in place
        flat *= k
        flat += code
    cnt = np.bincount(flat, minlength=size)
    idx = np.flatnonzero(cnt)
    where = np.unravel_index(idx, shape)
    out = pd.DataFrame({c: uniques[i][where[i]] for i, c in enumerate(by)})
    out["time"] = where[-2].astype(t.dtype)
    out["event"] = where[-1].astype(np.int64)
    out["n"] = cnt[idx].astype(np.int64)
    if value:
        v = _plain(df[value])
        v = _floats(df[value]) if v is None else v
        sums = np.bincount(flat, weights=v, minlength=size)
        mean = np.divide(sums, cnt, out=np.zeros(size), where=cnt > 0)
        dev = mean[flat]
        np.subtract(v, dev, out=dev)
        np.multiply(dev, dev, out=dev)
        m2 = np.bincount(flat, weights=dev, minlength=size)
        out["value_sum"] = sums[idx]
        out["value_m2"] = m2[idx]
    return out


def _life_groupby(df: pd.DataFrame, by: list[str], duration: str, event: str, value: str | None) -> pd.DataFrame:
    """The general path: a pandas group-by on (by, duration, event), missing keys kept, with the
    count and the value's sum and sample variance (centred sum of squares = (count - 1) var)."""
    frame = pd.DataFrame({**{c: df[c].to_numpy() for c in by}, "time": df[duration].to_numpy(),
                          "event": df[event].to_numpy()})
    keys = [*by, "time", "event"]
    if value:
        frame["_v"] = _floats(df[value])
        g = frame.groupby(keys, sort=True, observed=True, dropna=False)["_v"].agg(["size", "sum", "var"])
        g["value_m2"] = g["var"].fillna(0.0).to_numpy() * (g["size"].to_numpy() - 1)
        g = g.rename(columns={"size": "n", "sum": "value_sum"}).drop(columns="var")
    else:
        g = frame.groupby(keys, sort=True, observed=True, dropna=False).size().rename("n").to_frame()
    return g.reset_index()
