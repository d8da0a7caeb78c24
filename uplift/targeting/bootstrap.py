"""The stratified bootstrap of held-out targeting numbers, vectorised over resamples.

A resample draws ``n_t`` units with replacement among the treated units and ``n_c`` among the
control units (Efron & Tibshirani 1993, ch. 13: resampling within groups keeps the group sizes
fixed) and is held as integer counts on the units (how often each unit was drawn). Every statistic
of a resample is then a weighted statistic of the original units, so the units are sorted once
(by score) and never re-indexed per resample.

Resamples come as a matrix of counts, one row per resample (:func:`stratified_bootstrap_counts`),
in chunks of rows that bound memory (:func:`bootstrap_count_chunks`): each chunk draws all its
indices at once, first the control units' (``rng.integers(0, n_c, size=(rows, n_c))``) and then the
treated units'. The statistics are computed for every row of a chunk with array operations: weighted
cumulative sums along the score order (:func:`weighted_cumsums`) read at the thresholds between
distinct scores, and the trapezoid areas of the curves row by row (:func:`area_from_origin`). When a
curve's ordering is a function of the (outcome, arm) cell only (the perfect Qini and uplift curves
of a binary outcome) its cumulative sums are sums of the cells' total counts (:func:`cell_totals`,
:func:`segment_cumsums`), without a pass over the units.

For a binary outcome the four running totals of a resample (``N``, ``N_t``, ``Y_t``, ``Y_c``) are whole
numbers no larger than the number of units ``n``: they are packed side by side into 64-bit integers (each
total in a 16-bit field, four to a word, below 65,536 units; in 32-bit fields, two to a word, above) and summed with one
integer cumulative sum per word instead of four floating-point ones (:class:`CountPacking`). No field can
carry into the next (every running total stays below ``2^bits``), and whole numbers below ``2^53`` are
exact in float64 whichever way they are summed, so the unpacked totals equal the floating-point running
sums to the last bit.

The same numbers as a loop over the resamples: the tests compare every vectorised statistic with a
plain per-resample loop on the same counts. Above ``BOOT_CHUNK_CELLS / 2`` units a chunk holds one
resample, drawn from the generator exactly as the earlier per-resample loop drew it.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Iterator, Sequence

import numpy as np

__all__ = [
    "BOOT_CHUNK_CELLS",
    "stratified_bootstrap_counts",
    "bootstrap_count_chunks",
    "weighted_cumsums",
    "diff_from_zero",
    "running_ratio",
    "CountPacking",
    "count_packing",
    "factor_packing",
    "area_from_origin",
    "normalised_rows",
    "qini_rows",
    "uplift_rows",
    "cell_membership",
    "cell_totals",
    "cell_segments",
    "segment_cumsums",
    "Ordering",
    "PerfectDraws",
    "perfect_draws",
    "uplift_draws",
]

BOOT_CHUNK_CELLS = 65_536
"""Resamples x units held at a time (one float64 matrix of 512 KB, about a dozen of them at once): small
enough to stay in the processor's cache, where the passes over the matrices run several times faster
than over large ones; large enough to leave no Python overhead per resample on small samples."""


def stratified_bootstrap_counts(rng: np.random.Generator, t: np.ndarray, n_boot: int,
                                groups: tuple[np.ndarray, np.ndarray] | None = None) -> np.ndarray:
    """``n_boot`` stratified bootstrap resamples as counts, shape ``(n_boot, len(t))`` (float64).

    For the control units (``t == 0``) then the treated units (``t == 1``): all indices drawn at once,
    ``rng.integers(0, n_g, size=(n_boot, n_g))``, and counted per resample with one ``np.bincount``
    (row ``b``'s indices offset by ``b n_g``). Every row of a group sums to the group's size.
    ``groups``: the positions of the control and of the treated units, when already found.
    """
    t = np.asarray(t)
    counts = np.zeros((n_boot, len(t)), dtype=np.float64)
    if n_boot == 0:
        return counts
    for idx in (groups if groups is not None else _arm_positions(t)):
        k = len(idx)
        if not k:
            continue
        draws = rng.integers(0, k, size=(n_boot, k))
        draws += (np.arange(n_boot, dtype=draws.dtype) * k)[:, None]
        counts[:, idx] = np.bincount(draws.ravel(), minlength=n_boot * k).reshape(n_boot, k)
    return counts


def _arm_positions(t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Positions of the control units (``t == 0``) and of the treated units (``t == 1``)."""
    return np.flatnonzero(t == 0.0), np.flatnonzero(t == 1.0)


def bootstrap_count_chunks(rng: np.random.Generator, t: np.ndarray, n_boot: int) -> Iterator[np.ndarray]:
    """The ``n_boot`` resamples of :func:`stratified_bootstrap_counts` in consecutive chunks of
    ``max(1, BOOT_CHUNK_CELLS // len(t))`` rows (the last one shorter), each drawn from ``rng`` in turn.
    The chunking depends only on ``len(t)`` and ``n_boot``, so a seed gives the same resamples. The arms'
    positions are found once for every chunk."""
    rows = max(1, BOOT_CHUNK_CELLS // max(len(t), 1))
    groups = _arm_positions(np.asarray(t))
    for start in range(0, n_boot, rows):
        yield stratified_bootstrap_counts(rng, t, min(rows, n_boot - start), groups)


def weighted_cumsums(w: np.ndarray, y: np.ndarray, t: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Cumulative ``(N, N_t, Y_t, Y_c)`` along the last axis: the running sums of ``w``, ``w t``,
    ``w y t`` and ``w y (1 - t)`` (``w`` counts in score order, one row per resample; ``y`` and ``t``
    in the same order, one row or one per resample). ``N_c = N - N_t``."""
    return (np.cumsum(w, axis=-1, dtype=np.float64), np.cumsum(w * t, axis=-1, dtype=np.float64),
            np.cumsum(w * y * t, axis=-1, dtype=np.float64), np.cumsum(w * y * (1 - t), axis=-1, dtype=np.float64))


def diff_from_zero(x: np.ndarray) -> np.ndarray:
    """Steps along the last axis from 0: ``x_i - x_(i-1)`` with ``x_0 = 0`` (``numpy.diff(x, axis=-1,
    prepend=0.0)``, the same subtractions, without building the prepended copy)."""
    d = np.empty_like(x)
    d[..., :1] = x[..., :1]
    np.subtract(x[..., 1:], x[..., :-1], out=d[..., 1:])
    return d


@dataclass(frozen=True)
class CountPacking:
    """The four running totals of a binary outcome's resamples, ``(N, N_t, Y_t, Y_c)``, as 16- or 32-bit
    fields of little-endian 64-bit words (module docstring): ``fields`` holds each total's 0/1 factor per
    unit (``1``, ``t``, ``y t``, ``y (1 - t)``, in the units' order), ``64 / bits`` fields to a word."""

    bits: int
    fields: tuple[np.ndarray, ...]

    @property
    def per_word(self) -> int:
        return 64 // self.bits

    def pack(self, counts: np.ndarray) -> list[np.ndarray]:
        """The words of every unit for each row of whole-number ``counts`` (units' order): a word holds
        ``sum_f (counts x factor_f) << (f bits)`` over its fields."""
        c = counts.astype(np.uint64)
        words = []
        for start in range(0, len(self.fields), self.per_word):
            word = np.zeros(c.shape, dtype="<u8")
            for f, factor in enumerate(self.fields[start:start + self.per_word]):
                word += (c * factor) << np.uint64(f * self.bits)
            words.append(word)
        return words

    def cumsums(self, words: Sequence[np.ndarray], order: np.ndarray) -> list[np.ndarray]:
        """Each word's running sum along the units taken in ``order`` (exact integer sums)."""
        return [np.cumsum(w[:, order], axis=-1) for w in words]

    def unpack(self, cums: Sequence[np.ndarray], fields: int = 4) -> tuple[np.ndarray, ...]:
        """The first ``fields`` of ``(N, N_t, Y_t, Y_c)`` as float64, from words (or any selection of their
        columns): each field read through a view of the words as ``bits``-bit unsigned integers. A field
        keeps its words' memory layout (row- or column-major), as the floating-point sums did."""
        out = []
        for k, word in enumerate(cums):
            by_column = word.ndim == 2 and word.flags.f_contiguous and not word.flags.c_contiguous
            base = word.T if by_column else np.ascontiguousarray(word)
            parts = base.astype("<u8", copy=False).view(f"<u{self.bits // 8}").reshape(*base.shape, self.per_word)
            for f in range(min(self.per_word, fields - k * self.per_word)):
                field = parts[..., f].astype(np.float64)
                out.append(field.T if by_column else field)
        return tuple(out)


def factor_packing(factors: Sequence[np.ndarray], bits: int | None = None) -> CountPacking | None:
    """The :class:`CountPacking` of running totals of counts times per-unit 0/1 ``factors`` (one array per
    total, the units' order): 16-bit fields below 65,536 units, 32-bit ones below 2^32 (``bits`` forces a
    width, for tests). None when a factor is not 0/1 (sums of other values depend on their order and keep
    the float path) or the units are too many."""
    arrays = [np.asarray(f) for f in factors]
    if not all(np.isin(f, (0.0, 1.0)).all() for f in arrays):
        return None
    need = max(int(len(arrays[0])).bit_length(), 1)  # every running total is at most n < 2^need
    width = bits if bits is not None else (16 if need <= 16 else 32)
    if need > width or width not in (16, 32):
        return None
    return CountPacking(width, tuple(f.astype(np.uint64) for f in arrays))


def count_packing(y: np.ndarray, t: np.ndarray, bits: int | None = None) -> CountPacking | None:
    """:func:`factor_packing` of the four running totals ``(N, N_t, Y_t, Y_c)`` (factors ``1``, ``t``,
    ``y t``, ``y (1 - t)``) of units with a 0/1 outcome ``y`` and a 0/1 arm ``t``; None otherwise."""
    y, t = np.asarray(y, dtype=np.float64), np.asarray(t, dtype=np.float64)
    if not (np.isin(y, (0.0, 1.0)).all() and np.isin(t, (0.0, 1.0)).all()):
        return None
    return factor_packing((np.ones(len(y)), t, y * t, y * (1 - t)), bits)


def running_ratio(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``a / b`` per element, 0 where ``b = 0``, for ``b`` a running count along the last axis (non-decreasing
    from 0, so its zeros are a prefix of each row): the plain division, then each row's prefix of zeros
    (found by binary search) set to 0. The same numbers as ``numpy.divide(a, b, out=zeros, where=b != 0)``
    without its masked, buffered loop."""
    with np.errstate(invalid="ignore", divide="ignore"):
        out = np.divide(a, b)
    flat_b, flat_out = b.reshape(-1, b.shape[-1]), out.reshape(-1, out.shape[-1])
    for r in range(flat_b.shape[0]):
        flat_out[r, :int(np.searchsorted(flat_b[r], 0.0, side="right"))] = 0.0
    return out


def qini_rows(n_all: np.ndarray, n_t: np.ndarray, y_t: np.ndarray, y_c: np.ndarray) -> np.ndarray:
    """Qini curve per row at the given points, ``Q = Y_t - Y_c N_t / N_c`` (0 where ``N_c = 0``;
    Radcliffe 2007); its x values are ``N``. The points run along each row (running totals)."""
    n_c = n_all - n_t
    return y_t - y_c * running_ratio(n_t, n_c)


def uplift_rows(n_all: np.ndarray, n_t: np.ndarray, y_t: np.ndarray, y_c: np.ndarray) -> np.ndarray:
    """Uplift curve per row at the given points, ``U = (Y_t / N_t - Y_c / N_c) N`` (a mean is 0 where
    its group is empty; Devriendt, Guns & Verbeke 2020); its x values are ``N``. The points run along
    each row (running totals)."""
    n_c = n_all - n_t
    return (running_ratio(y_t, n_t) - running_ratio(y_c, n_c)) * n_all


def area_from_origin(x: np.ndarray, v: np.ndarray, dx: np.ndarray | None = None) -> np.ndarray:
    """Trapezoid area under each row's curve from (0, 0) through the points ``(x_i, v_i)``:
    ``sum_i (x_i - x_(i-1)) (v_i + v_(i-1)) / 2`` with ``x_0 = v_0 = 0`` (``numpy.trapezoid`` of the
    points with the origin put first). ``dx``: the steps of ``x`` when already computed."""
    d = diff_from_zero(x) if dx is None else dx
    return (np.einsum("ij,ij->i", d, v) + np.einsum("ij,ij->i", d[:, 1:], v[:, :-1])) / 2.0


def normalised_rows(actual: np.ndarray, perfect: np.ndarray, end_x: np.ndarray, end_v: np.ndarray) -> np.ndarray:
    """``(A(actual) - A(line)) / (A(perfect) - A(line))`` per row, the line from (0, 0) to the perfect
    curve's end ``(end_x, end_v)``; NaN where the denominator is 0."""
    base = end_x * end_v / 2.0
    denom = perfect - base
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(denom == 0, np.nan, (actual - base) / np.where(denom == 0, 1.0, denom))


def cell_membership(y: np.ndarray, t: np.ndarray) -> np.ndarray:
    """The (outcome, arm) cell of every unit of a binary outcome as a 0/1 matrix, shape ``(n, 4)``, cell
    ``2 y + t``: column 0 control non-responders, 1 treated non-responders, 2 control responders, 3
    treated responders."""
    cell = (2 * np.asarray(y) + np.asarray(t)).astype(np.int64)
    member = np.zeros((len(cell), 4))
    member[np.arange(len(cell)), cell] = 1.0
    return member


def cell_totals(counts: np.ndarray, member: np.ndarray) -> np.ndarray:
    """Total count of every cell of :func:`cell_membership` per resample, shape ``(rows, 4)`` (whole
    numbers, exact)."""
    return counts @ member


def cell_segments(y_sorted: np.ndarray, t_sorted: np.ndarray, thr: np.ndarray) -> list[tuple[int, ...]]:
    """The (outcome, arm) cells of each run of equal scores (runs end at ``thr``), for an ordering
    that is a function of the cell (each cell lies in one run)."""
    cell = (2 * y_sorted + t_sorted).astype(np.int64)
    starts = np.r_[0, thr[:-1] + 1]
    return [tuple(int(c) for c in np.unique(cell[a:b + 1])) for a, b in zip(starts, thr)]


def segment_cumsums(totals: np.ndarray, segments: Sequence[tuple[int, ...]]) -> tuple[np.ndarray, ...]:
    """Cumulative ``(N, N_t, Y_t, Y_c)`` at the end of each run of :func:`cell_segments`, per resample,
    from the cell totals of :func:`cell_totals` (whole-number counts: the sums are exact)."""
    zero = np.zeros(totals.shape[0])
    cols: dict[str, list[np.ndarray]] = {"n": [], "nt": [], "yt": [], "yc": []}
    for cells in segments:
        cols["n"].append(sum((totals[:, c] for c in cells), zero))
        cols["nt"].append(sum((totals[:, c] for c in cells if c % 2 == 1), zero))
        cols["yt"].append(totals[:, 3] if 3 in cells else zero)
        cols["yc"].append(totals[:, 2] if 2 in cells else zero)
    n_all, n_t, y_t, y_c = (np.cumsum(np.column_stack(cols[k]), axis=1) for k in ("n", "nt", "yt", "yc"))
    return n_all, n_t, y_t, y_c


@dataclass(frozen=True)
class Ordering:
    """The units in a curve's order: ``order`` (unit positions, best first), ``y`` and ``t`` in that order,
    ``thr`` the last position of each run of equal scores, and ``segments`` (:func:`cell_segments`) when
    the ordering is a function of the (outcome, arm) cell of a binary outcome, else None."""

    order: np.ndarray
    y: np.ndarray
    t: np.ndarray
    thr: np.ndarray
    segments: list[tuple[int, ...]] | None = None

    def full_cumsums(self, counts: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """:func:`weighted_cumsums` at every position of the order, one row per resample (``y t`` and
        ``y (1 - t)`` formed once: with ``t`` 0 or 1, ``w (y t)`` is ``w y t`` to the last bit)."""
        w = counts[:, self.order]
        yt, yc = self._products
        return (np.cumsum(w, axis=-1), np.cumsum(w * self.t, axis=-1), np.cumsum(w * yt, axis=-1),
                np.cumsum(w * yc, axis=-1))

    @cached_property
    def _products(self) -> tuple[np.ndarray, np.ndarray]:
        return self.y * self.t, self.y * (1 - self.t)

    def cumsums(self, counts: np.ndarray, totals: np.ndarray | None) -> tuple[np.ndarray, ...]:
        """Cumulative ``(N, N_t, Y_t, Y_c)`` at each threshold, one row per resample: from the cell
        totals when the ordering has segments, else from the counts in this order."""
        if self.segments is not None and totals is not None:
            return segment_cumsums(totals, self.segments)
        return tuple(c[:, self.thr] for c in self.full_cumsums(counts))


@dataclass(frozen=True)
class PerfectDraws:
    """The perfect curves of every resample (one value per row): the Qini curve's trapezoid area and
    end point, and the uplift curve's."""

    qini_area: np.ndarray
    qini_end: tuple[np.ndarray, np.ndarray]
    uplift_area: np.ndarray
    uplift_end: tuple[np.ndarray, np.ndarray]


def perfect_draws(counts: np.ndarray, member: np.ndarray | None, perfect_qini: Ordering,
                  perfect_uplift: dict[str, Ordering]) -> PerfectDraws:
    """The perfect Qini and uplift curves of every resample (rows of ``counts``; ``member``: the units'
    :func:`cell_membership` for a binary outcome, else None). ``perfect_uplift`` has the orderings ``"y"`` and ``"t"`` of a binary outcome (a resample uses
    ``"y"`` when it holds more control responders than treated non-responders, as the unweighted curve
    does), or ``"q"`` (the perfect Qini ordering) for a continuous one."""
    binary = "q" not in perfect_uplift
    totals = cell_totals(counts, member) if binary and member is not None else None
    qc = perfect_qini.cumsums(counts, totals)
    qv = qini_rows(*qc)
    if binary:
        use_y = totals[:, 2] > totals[:, 1]  # type: ignore[index]
        cy, ct = perfect_uplift["y"].cumsums(counts, totals), perfect_uplift["t"].cumsums(counts, totals)
        uy, ut = uplift_rows(*cy), uplift_rows(*ct)
        area = np.where(use_y, area_from_origin(cy[0], uy), area_from_origin(ct[0], ut))
        end = (np.where(use_y, cy[0][:, -1], ct[0][:, -1]), np.where(use_y, uy[:, -1], ut[:, -1]))
    else:
        uv = uplift_rows(*qc)
        area, end = area_from_origin(qc[0], uv), (qc[0][:, -1], uv[:, -1])
    return PerfectDraws(area_from_origin(qc[0], qv), (qc[0][:, -1], qv[:, -1]), area, end)


def uplift_draws(counts: np.ndarray, model: Ordering, perfect: PerfectDraws, ks: Sequence[float],
                 bin_ends: np.ndarray, packing: CountPacking | None = None,
                 words: Sequence[np.ndarray] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The held-out metrics of one score (``model``: its ordering) for every resample (rows of
    ``counts``): a matrix with the Qini coefficient, the AUUC and uplift@k for each of ``ks`` as
    columns, and a matrix of the uplift in each score bin (bins end at positions ``bin_ends``).

    As :func:`uplift.targeting.evaluation.evaluate_uplift` defines them on weighted units: the Qini
    coefficient and AUUC normalise the curve's trapezoid area by the perfect curve's
    (:func:`perfect_draws`); uplift@k cuts after the last unit whose cumulative count is at most ``k``
    times the resample's size; a bin's uplift is the difference of the weighted means of its treated
    and control units.

    ``packing`` and ``words`` (:func:`count_packing` of the units and its :meth:`CountPacking.pack` of
    ``counts``, shared by every score of the same units): the running totals by one integer cumulative
    sum per word, unpacked where they are read (the same numbers as the floating-point sums).
    """
    n = counts.shape[1]
    no_ties = len(model.thr) == n
    if packing is not None and words is not None:
        cums = packing.cumsums(words, model.order)

        def at(cols: np.ndarray | slice) -> tuple[np.ndarray, ...]:
            return packing.unpack([c[:, cols] for c in cums])

        def at_rows(rows: np.ndarray, cols: np.ndarray) -> tuple[np.ndarray, ...]:
            return packing.unpack([c[rows, cols] for c in cums])

        at_thr = packing.unpack(cums) if no_ties else at(model.thr)
        n_all = at_thr[0] if no_ties else packing.unpack(cums[:1], fields=1)[0]
    else:
        full = model.full_cumsums(counts)

        def at(cols: np.ndarray | slice) -> tuple[np.ndarray, ...]:
            return tuple(c[:, cols] for c in full)

        def at_rows(rows: np.ndarray, cols: np.ndarray) -> tuple[np.ndarray, ...]:
            return tuple(c[rows, cols] for c in full)

        at_thr = full if no_ties else at(model.thr)  # no ties: every unit
        n_all = full[0]
    dx = diff_from_zero(at_thr[0])
    qini = normalised_rows(area_from_origin(at_thr[0], qini_rows(*at_thr), dx), perfect.qini_area, *perfect.qini_end)
    auuc = normalised_rows(area_from_origin(at_thr[0], uplift_rows(*at_thr), dx), perfect.uplift_area, *perfect.uplift_end)
    rows = np.arange(counts.shape[0])
    at_k = []
    for k in ks:
        # the top j units: those whose cumulative count is at most k x the resample's size
        j = np.array([np.searchsorted(n_all[r], n_all[r, -1] * k, side="right") for r in rows], dtype=np.int64)
        na, nt, yt, yc = (np.where(j > 0, c, 0.0) for c in at_rows(rows, j - 1))
        nc = na - nt
        with np.errstate(invalid="ignore", divide="ignore"):
            at_k.append(np.where(nt != 0, yt / np.where(nt != 0, nt, 1.0), np.nan)
                        - np.where(nc != 0, yc / np.where(nc != 0, nc, 1.0), np.nan))
    zero = np.zeros((counts.shape[0], 1))
    b_n, b_t, b_yt, b_yc = (np.diff(np.hstack([zero, c]), axis=1) for c in at(bin_ends))
    with np.errstate(invalid="ignore", divide="ignore"):
        deciles = b_yt / b_t - b_yc / (b_n - b_t)
    return np.column_stack([qini, auuc, *at_k]), deciles
