"""Evaluating uplift scores on held-out data: Qini and uplift curves, Qini coefficient, AUUC,
uplift@k, uplift by decile, each with bootstrap intervals.

Definitions (Radcliffe 2007, "Using control groups to target on predicted lift";
Devriendt, Guns & Verbeke 2020, "Learning to rank for uplift modeling"), with units sorted
by descending score and, at each distinct score threshold, the cumulative counts
``N_t, N_c`` (treated, control) and outcome sums ``Y_t, Y_c``:

* Qini curve:   ``Q(k) = Y_t(k) - Y_c(k) N_t(k) / N_c(k)``   (0 when ``N_c(k) = 0``)
* uplift curve: ``U(k) = (Y_t(k)/N_t(k) - Y_c(k)/N_c(k)) (N_t(k) + N_c(k))``
* Qini coefficient: ``(A(Q) - A(random)) / (A(Q*) - A(random))`` where ``A`` is the
  trapezoid area, ``random`` the straight line from (0, 0) to (n, Q(n)) and ``Q*`` the
  perfect Qini curve (ranking treated responders first and control responders last;
  ``negative_effect=True``);
* AUUC: the same normalisation of the uplift curve against the perfect uplift curve.

For a binary outcome every number equals scikit-uplift 0.5.1's (``qini_curve``,
``qini_auc_score``, ``uplift_curve``, ``uplift_auc_score``, ``uplift_at_k``,
``uplift_by_percentile``) on the same input to 1e-10; the tests pin this. The same formulas
apply unchanged to a continuous outcome (revenue, margin), where sklift refuses the input;
for a continuous outcome the perfect uplift curve uses the perfect Qini ordering
(``y t - y (1 - t)``), since sklift's binary-only construction has no continuous analogue.

Bootstrap intervals resample units with replacement within the treated and the control
group separately (group sizes fixed), keeping each unit's score: the interval is for the
metric of *this* score on the population the held-out sample represents. Percentile
intervals (Efron & Tibshirani 1993, ch. 13). Resamples are expressed as integer weights on
the once-sorted data, so no resample re-sorts, and every statistic is computed for a chunk of
resamples at once with array operations (:mod:`uplift.targeting.bootstrap`).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd

from uplift.errors import DataError
from uplift.results import jsonable
from uplift.targeting.bootstrap import Ordering, bootstrap_count_chunks, cell_membership, cell_segments, cell_totals
from uplift.targeting.bootstrap import count_packing
from uplift.targeting.bootstrap import normalised_rows
from uplift.targeting.bootstrap import area_from_origin, perfect_draws, qini_rows, uplift_draws, weighted_cumsums
from uplift.text import chart_label, t


__all__ = [
    "Interval",
    "UpliftEvaluation",
    "qini_curve",
    "uplift_curve",
    "perfect_qini_curve",
    "perfect_uplift_curve",
    "qini_coefficient",
    "auuc",
    "uplift_at_k",
    "uplift_by_decile",
    "random_qini_interval",
    "evaluate_uplift",
    "evaluate_uplifts",
]


# --------------------------------------------------------------------------- inputs


def _as_arrays(y: Any, score: Any, treatment: Any, what: str = "held-out data") -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    y = np.asarray(y, dtype=np.float64).ravel()
    s = np.asarray(score, dtype=np.float64).ravel()
    t = np.asarray(treatment).ravel()
    if not (len(y) == len(s) == len(t)):
        raise DataError(f"{what}: outcome ({len(y)}), score ({len(s)}) and treatment ({len(t)}) differ in length; pass one value per unit")
    if t.dtype == bool:
        t = t.astype(np.float64)
    t = t.astype(np.float64)
    if not np.isin(t, (0.0, 1.0)).all():
        raise DataError(f"{what}: treatment must be 0 (control) or 1 (treated); recode the arm column")
    if not (t == 1).any():
        raise DataError(f"{what}: no treated units; each split needs treated and control units (use a larger sample or another seed)")
    if not (t == 0).any():
        raise DataError(f"{what}: no control units; each split needs treated and control units (use a larger sample or another seed)")
    if not np.isfinite(y).all():
        raise DataError(f"{what}: the outcome has {int((~np.isfinite(y)).sum())} missing or infinite values; fill or remove them first")
    if not np.isfinite(s).all():
        raise DataError(f"{what}: the score has {int((~np.isfinite(s)).sum())} missing or infinite values")
    return y, s, t


def _is_binary(y: np.ndarray) -> bool:
    return bool(np.isin(y, (0.0, 1.0)).all())


def _order(score: np.ndarray) -> np.ndarray:
    """Descending order, ties in the same order as scikit-uplift (reversed stable ascending sort)."""
    return np.argsort(score, kind="mergesort")[::-1]


# --------------------------------------------------------------------------- sorted core

@dataclass(frozen=True)
class _Sorted:
    """Outcome, treatment and threshold indices in score order (the sort is done once)."""

    y: np.ndarray
    t: np.ndarray
    thr: np.ndarray  # last index of each run of equal scores

    @classmethod
    def build(cls, y: np.ndarray, score: np.ndarray, t: np.ndarray, o: np.ndarray | None = None) -> "_Sorted":
        """``o``: the order :func:`_order` gives ``score``, when already computed."""
        o = _order(score) if o is None else o
        s = score[o]
        thr = np.r_[np.nonzero(np.diff(s))[0], len(s) - 1]
        return cls(y=y[o], t=t[o], thr=thr)

    def cums(self, w: np.ndarray | None = None) -> tuple[np.ndarray, ...]:
        """Cumulative (N, N_t, N_c, Y_t, Y_c) at each threshold; ``w`` are bootstrap weights in sorted order."""
        y, t = self.y, self.t
        if w is None:
            n_all = (self.thr + 1).astype(np.float64)
            n_t = np.cumsum(t, dtype=np.float64)[self.thr]
            y_t = np.cumsum(y * t, dtype=np.float64)[self.thr]
            y_c = np.cumsum(y * (1 - t), dtype=np.float64)[self.thr]
        else:
            n_all = np.cumsum(w, dtype=np.float64)[self.thr]
            n_t = np.cumsum(w * t, dtype=np.float64)[self.thr]
            y_t = np.cumsum(w * y * t, dtype=np.float64)[self.thr]
            y_c = np.cumsum(w * y * (1 - t), dtype=np.float64)[self.thr]
        return n_all, n_t, n_all - n_t, y_t, y_c


def _qini_points(c: tuple[np.ndarray, ...]) -> tuple[np.ndarray, np.ndarray]:
    n_all, n_t, n_c, y_t, y_c = c
    ratio = np.divide(n_t, n_c, out=np.zeros_like(n_t), where=n_c != 0)
    q = y_t - y_c * ratio
    return np.r_[0.0, n_all], np.r_[0.0, q]


def _uplift_points(c: tuple[np.ndarray, ...]) -> tuple[np.ndarray, np.ndarray]:
    n_all, n_t, n_c, y_t, y_c = c
    rt = np.divide(y_t, n_t, out=np.zeros_like(y_t), where=n_t != 0)
    rc = np.divide(y_c, n_c, out=np.zeros_like(y_c), where=n_c != 0)
    return np.r_[0.0, n_all], np.r_[0.0, (rt - rc) * n_all]


def _area(x: np.ndarray, v: np.ndarray) -> float:
    return float(np.trapezoid(v, x))


def _normalised(actual: tuple[np.ndarray, np.ndarray], perfect: tuple[np.ndarray, np.ndarray]) -> float:
    """(A(actual) - A(line)) / (A(perfect) - A(line)), the line from (0,0) to the perfect curve's end."""
    xp, vp = perfect
    base = _area(np.array([0.0, xp[-1]]), np.array([0.0, vp[-1]]))
    denom = _area(xp, vp) - base
    if denom == 0:
        return float("nan")
    return (_area(*actual) - base) / denom


def _perfect_qini_score(y: np.ndarray, t: np.ndarray) -> np.ndarray:
    return y * t - y * (1 - t)


def _perfect_uplift_score(y: np.ndarray, t: np.ndarray, w: np.ndarray | None = None) -> np.ndarray:
    if not _is_binary(y):
        return _perfect_qini_score(y, t)
    ww = np.ones_like(y) if w is None else w
    cr_num = np.sum(ww * ((y == 1) & (t == 0)))  # control responders
    tn_num = np.sum(ww * ((y == 0) & (t == 1)))  # treated non-responders
    summand = y if cr_num > tn_num else t
    return 2 * (y == t) + summand


# --------------------------------------------------------------------------- public metrics


def qini_curve(y: Any, score: Any, treatment: Any) -> tuple[np.ndarray, np.ndarray]:
    """Qini curve points ``(k, Q(k))`` at each distinct score threshold, starting at (0, 0).

    ``Q(k) = Y_t(k) - Y_c(k) N_t(k) / N_c(k)`` (Radcliffe 2007). Equals ``sklift.metrics.qini_curve``.
    """
    y, s, t = _as_arrays(y, score, treatment)
    return _qini_points(_Sorted.build(y, s, t).cums())


def uplift_curve(y: Any, score: Any, treatment: Any) -> tuple[np.ndarray, np.ndarray]:
    """Uplift curve points ``(k, U(k))``, ``U(k) = (Y_t/N_t - Y_c/N_c)(k) * k``.

    Equals ``sklift.metrics.uplift_curve`` (Devriendt et al. 2020).
    """
    y, s, t = _as_arrays(y, score, treatment)
    return _uplift_points(_Sorted.build(y, s, t).cums())


def perfect_qini_curve(y: Any, treatment: Any) -> tuple[np.ndarray, np.ndarray]:
    """The Qini curve of the oracle ordering ``y t - y (1 - t)`` (sklift's ``negative_effect=True``)."""
    y, _, t = _as_arrays(y, np.zeros(len(np.asarray(y))), treatment)
    return _qini_points(_Sorted.build(y, _perfect_qini_score(y, t), t).cums())


def perfect_uplift_curve(y: Any, treatment: Any) -> tuple[np.ndarray, np.ndarray]:
    """The uplift curve of the oracle ordering (sklift's ``perfect_uplift_curve`` for binary y)."""
    y, _, t = _as_arrays(y, np.zeros(len(np.asarray(y))), treatment)
    return _uplift_points(_Sorted.build(y, _perfect_uplift_score(y, t), t).cums())


def qini_coefficient(y: Any, score: Any, treatment: Any, negative_effect: bool = True) -> float:
    """Qini coefficient: ``(A(Q) - A(line)) / (A(Q*) - A(line))`` (Radcliffe 2007).

    ``A`` is the trapezoid area, the line runs from (0, 0) to (n, Q*(n)). With
    ``negative_effect=False`` the perfect curve is sklift's: rising straight to the total
    incremental responders ``R`` at ``x = R`` and flat after. Equals
    ``sklift.metrics.qini_auc_score``.
    """
    y, s, t = _as_arrays(y, score, treatment)
    actual = _qini_points(_Sorted.build(y, s, t).cums())
    if negative_effect:
        perfect = _qini_points(_Sorted.build(y, _perfect_qini_score(y, t), t).cums())
    else:
        r = y[t == 1].sum() - (t == 1).sum() * y[t == 0].sum() / (t == 0).sum()
        perfect = (np.array([0.0, r, float(len(y))]), np.array([0.0, r, r]))
    return _normalised(actual, perfect)


def auuc(y: Any, score: Any, treatment: Any) -> float:
    """Normalised area under the uplift curve: ``(A(U) - A(line)) / (A(U*) - A(line))``.

    Equals ``sklift.metrics.uplift_auc_score`` for a binary outcome.
    """
    y, s, t = _as_arrays(y, score, treatment)
    actual = _uplift_points(_Sorted.build(y, s, t).cums())
    perfect = _uplift_points(_Sorted.build(y, _perfect_uplift_score(y, t), t).cums())
    return _normalised(actual, perfect)


def uplift_at_k(y: Any, score: Any, treatment: Any, k: float = 0.3, strategy: str = "overall") -> float:
    """Mean outcome of treated minus control among the top ``k`` by score.

    ``strategy="overall"``: the top ``int(n k)`` units of the whole sample;
    ``"by_group"``: the top ``int(n_t k)`` treated and top ``int(n_c k)`` control units.
    ``k`` is a share in (0, 1) or a whole number of units. Equals ``sklift.metrics.uplift_at_k``.
    """
    y, s, t = _as_arrays(y, score, treatment)
    return _uplift_at_k(y, s, t, k, strategy)


def _uplift_at_k(y: np.ndarray, s: np.ndarray, t: np.ndarray, k: float, strategy: str,
                 o: np.ndarray | None = None) -> float:
    """:func:`uplift_at_k` of checked arrays; ``o``: :func:`_order` of ``s`` when already computed."""
    n = len(y)
    is_int = isinstance(k, (int, np.integer)) and not isinstance(k, bool)
    if is_int and not 0 < k < n or not is_int and not 0 < float(k) < 1:
        raise DataError(f"uplift_at_k: k={k} must be a share in (0, 1) or a whole number in (0, {n})")
    if strategy not in ("overall", "by_group"):
        raise DataError(f"uplift_at_k: strategy={strategy!r} must be 'overall' or 'by_group'")
    o = _order(s) if o is None else o
    ys, ts = y[o], t[o]
    if strategy == "overall":
        m = int(k) if is_int else int(n * k)
        top_y, top_t = ys[:m], ts[:m]
        return float(top_y[top_t == 1].mean() - top_y[top_t == 0].mean())
    n_c = int(k) if is_int else int((t == 0).sum() * k)
    n_t = int(k) if is_int else int((t == 1).sum() * k)
    return float(ys[ts == 1][:n_t].mean() - ys[ts == 0][:n_c].mean())


def uplift_by_decile(y: Any, score: Any, treatment: Any, bins: int = 10, confidence: float = 0.95) -> pd.DataFrame:
    """Uplift per score bin (``bins`` near-equal groups of the score-sorted sample, best first).

    Columns: ``bin`` (1 = highest scores), ``n_treatment``, ``n_control``,
    ``response_rate_treatment``, ``response_rate_control``, ``uplift`` (difference in means)
    and a normal-approximation interval ``ci_low``/``ci_high`` from
    ``var = s_t^2 / n_t + s_c^2 / n_c`` with ``s^2`` the centred mean square (ddof 0, which
    for a binary outcome is sklift's ``p (1 - p)``). Bins are ``numpy.array_split`` of the
    sorted sample, as in ``sklift.metrics.uplift_by_percentile(strategy="overall")``.
    """
    y, s, t = _as_arrays(y, score, treatment)
    return _uplift_by_decile(y, s, t, bins, confidence)


def _uplift_by_decile(y: np.ndarray, s: np.ndarray, t: np.ndarray, bins: int, confidence: float,
                      o: np.ndarray | None = None) -> pd.DataFrame:
    """:func:`uplift_by_decile` of checked arrays; ``o``: :func:`_order` of ``s`` when already computed."""
    from scipy.stats import norm

    if not isinstance(bins, (int, np.integer)) or not 0 < bins < len(y):
        raise DataError(f"uplift_by_decile: bins={bins} must be a whole number between 1 and the sample size")
    o = _order(s) if o is None else o
    z = float(norm.ppf(0.5 + confidence / 2))
    rows = []
    for i, (yb, tb) in enumerate(zip(np.array_split(y[o], bins), np.array_split(t[o], bins)), start=1):
        yt, yc = yb[tb == 1], yb[tb == 0]
        mt = float(yt.mean()) if len(yt) else float("nan")
        mc = float(yc.mean()) if len(yc) else float("nan")
        vt = float(np.mean((yt - mt) ** 2)) / len(yt) if len(yt) else float("nan")
        vc = float(np.mean((yc - mc) ** 2)) / len(yc) if len(yc) else float("nan")
        se = float(np.sqrt(vt + vc))
        rows.append(
            dict(bin=i, n_treatment=len(yt), n_control=len(yc), response_rate_treatment=mt,
                 response_rate_control=mc, uplift=mt - mc, std_uplift=se,
                 ci_low=mt - mc - z * se, ci_high=mt - mc + z * se)
        )
    return pd.DataFrame(rows)


# --------------------------------------------------------------------------- bootstrap


@dataclass(frozen=True)
class Interval:
    """An estimate with a confidence interval (``low``/``high``) and how it was built."""

    estimate: float
    low: float
    high: float
    confidence: float = 0.95
    method: str = ""

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: ``{"estimate", "ci": [low, high], "confidence", "method"}`` (NaN -> None)."""
        return {"estimate": jsonable(self.estimate), "ci": [jsonable(self.low), jsonable(self.high)],
                "confidence": self.confidence, "method": self.method}

    def __str__(self) -> str:
        return f"{self.estimate:.4f} [{self.low:.4f}, {self.high:.4f}]"


def _pct(values: np.ndarray, confidence: float) -> tuple[float, float]:
    v = np.asarray(values, dtype=np.float64)
    v = v[np.isfinite(v)]
    if len(v) == 0:
        return float("nan"), float("nan")
    a = (1 - confidence) / 2
    return float(np.quantile(v, a)), float(np.quantile(v, 1 - a))


def _ordering(y: np.ndarray, score: np.ndarray, t: np.ndarray, cells: bool = False, o: np.ndarray | None = None) -> Ordering:
    """The units in descending ``score`` order (ties as :func:`_order`) for the vectorised bootstrap;
    ``cells``: the score is a function of the (outcome, arm) cell of a binary outcome; ``o``: :func:`_order`
    of ``score`` when already computed."""
    o = _order(score) if o is None else o
    srt = _Sorted.build(y, score, t, o)
    return Ordering(o, srt.y, srt.t, srt.thr, cell_segments(srt.y, srt.t, srt.thr) if cells else None)


def _perfect_orderings(y: np.ndarray, t: np.ndarray) -> tuple[Ordering, dict[str, Ordering]]:
    """The perfect Qini ordering and the perfect uplift orderings (``"y"``/``"t"`` for a binary outcome,
    ``"q"``, the perfect Qini ordering, for a continuous one)."""
    binary = _is_binary(y)
    qp = _ordering(y, _perfect_qini_score(y, t), t, cells=binary)
    if not binary:
        return qp, {"q": qp}
    return qp, {k: _ordering(y, 2 * (y == t) + (y if k == "y" else t), t, cells=True) for k in ("y", "t")}


def random_qini_interval(y: Any, treatment: Any, n_boot: int = 200, seed: int = 0, confidence: float = 0.95) -> Interval:
    """The Qini coefficient of a random score: its mean and percentile interval over ``n_boot``
    draws, each a random ordering evaluated on a stratified bootstrap resample.

    A model whose held-out Qini lies above ``high`` ranks better than chance at that level. The
    resamples come in chunks (:func:`uplift.targeting.bootstrap.bootstrap_count_chunks`); after each
    chunk's counts, its random orderings are drawn at once (``rng.permuted`` along each row). For a binary
    outcome the running totals are integer sums of packed counts
    (:class:`uplift.targeting.bootstrap.CountPacking`, the same numbers).
    """
    y, _, t = _as_arrays(y, np.zeros(len(np.asarray(y))), treatment)
    rng = np.random.default_rng(seed)
    qp, _ = _perfect_orderings(y, t)
    n = len(y)
    member = cell_membership(y, t) if qp.segments is not None else None
    packing = count_packing(y, t)  # a binary outcome: the running totals by one integer sum per word
    vals = []
    for w in bootstrap_count_chunks(rng, t, n_boot):
        perm = rng.permuted(np.broadcast_to(np.arange(n), w.shape), axis=1)  # random scores without ties
        if packing is not None:
            c = packing.unpack([np.cumsum(np.take_along_axis(word, perm, axis=1), axis=-1) for word in packing.pack(w)])
        else:
            c = weighted_cumsums(np.take_along_axis(w, perm, axis=1), y[perm], t[perm])
        pc = qp.cumsums(w, cell_totals(w, member) if member is not None else None)
        pv = qini_rows(*pc)
        vals.append(normalised_rows(area_from_origin(c[0], qini_rows(*c)), area_from_origin(pc[0], pv), pc[0][:, -1], pv[:, -1]))
    draws = np.concatenate(vals) if vals else np.empty(0)
    lo, hi = _pct(draws, confidence)
    finite = draws[np.isfinite(draws)]  # the draws the interval uses; none: NaN without numpy's warning
    return Interval(float(finite.mean()) if len(finite) else float("nan"), lo, hi, confidence,
                    f"random scores, {n_boot} stratified bootstrap resamples, percentile interval")


@dataclass(frozen=True)
class UpliftEvaluation:
    """Held-out evaluation of one uplift score. Curves are kept for plotting (``qini_x``, ...)."""

    n: int
    n_treatment: int
    n_control: int
    outcome_kind: str
    qini: Interval
    auuc: Interval
    uplift_at: dict[float, Interval]
    deciles: pd.DataFrame
    qini_x: np.ndarray = field(repr=False)
    qini_y: np.ndarray = field(repr=False)
    perfect_x: np.ndarray = field(repr=False)
    perfect_y: np.ndarray = field(repr=False)
    random_qini: Interval | None = None
    n_boot: int = 0

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready summary (no customer-level rows; curves thinned to at most 101 points)."""
        idx = np.unique(np.linspace(0, len(self.qini_x) - 1, min(101, len(self.qini_x))).round().astype(int))
        return {
            "n": self.n, "n_treatment": self.n_treatment, "n_control": self.n_control,
            "outcome_kind": self.outcome_kind,
            "qini_coefficient": self.qini.to_dict(),
            "auuc": self.auuc.to_dict(),
            "uplift_at_k": {f"{k:g}": v.to_dict() for k, v in self.uplift_at.items()},
            "random_score_qini": self.random_qini.to_dict() if self.random_qini else None,
            "deciles": [{k: jsonable(v) for k, v in r.items()} for r in self.deciles.to_dict("records")],
            "qini_curve": {"x": [float(v) for v in self.qini_x[idx]], "y": [float(v) for v in self.qini_y[idx]]},
            "n_bootstrap": self.n_boot,
        }

    def summary(self) -> str:
        """Text summary."""
        lines = [
            f"held-out units: {self.n} ({self.n_treatment} treated, {self.n_control} control), outcome {self.outcome_kind}",
            f"Qini coefficient: {self.qini}",
            f"AUUC:             {self.auuc}",
        ]
        if self.random_qini:
            lines.append(f"random-score Qini: {self.random_qini}")
        for k, v in self.uplift_at.items():
            lines.append(f"uplift@{k:g}:       {v}")
        return "\n".join(lines)

    def plot_qini(self, ax: Any, label: str = "model", perfect: bool = False) -> Any:
        """Draw the Qini curve and the random line (and, if asked, the perfect curve) on an Axes.

        The perfect curve is off by default: with a binary outcome it rises far above any
        real model and squashes the curve the reader came to see.
        """
        ax.plot(self.qini_x, self.qini_y, label=chart_label(f"{label} (Qini {self.qini.estimate:.3f})"))
        if perfect:
            ax.plot(self.perfect_x, self.perfect_y, ls=":", color="grey", label=t("perfect"))
        ax.plot([0, self.qini_x[-1]], [0, self.qini_y[-1]], ls="--", color="black", label=t("random"))
        ax.set_xlabel(t("units targeted (by descending score)"))
        ax.set_ylabel(t("incremental outcome (Qini)"))
        ax.legend(frameon=False)
        return ax


def evaluate_uplift(
    y: Any,
    score: Any,
    treatment: Any,
    n_boot: int = 200,
    seed: int = 0,
    confidence: float = 0.95,
    ks: Sequence[float] = (0.1, 0.3),
    bins: int = 10,
    random_baseline: bool = True,
) -> UpliftEvaluation:
    """All held-out metrics of one score with stratified bootstrap percentile intervals.

    Point estimates are the plain metrics above (sklift's numbers for a binary outcome);
    the intervals come from ``n_boot`` resamples (see the module docstring). The decile
    table carries both the normal interval (``ci_low``/``ci_high``) and the bootstrap one
    (``boot_low``/``boot_high``; deciles fixed by score rank). With ``random_baseline`` the
    random-score Qini interval is added.
    """
    ev = evaluate_uplifts(y, {"score": score}, treatment, n_boot, seed, confidence, ks, bins)["score"]
    if not random_baseline:
        return ev
    rq = random_qini_interval(y, treatment, n_boot=n_boot, seed=seed + 1, confidence=confidence)
    return replace(ev, random_qini=rq)


def evaluate_uplifts(
    y: Any,
    scores: Mapping[str, Any],
    treatment: Any,
    n_boot: int = 200,
    seed: int = 0,
    confidence: float = 0.95,
    ks: Sequence[float] = (0.1, 0.3),
    bins: int = 10,
) -> dict[str, UpliftEvaluation]:
    """:func:`evaluate_uplift` (without the random baseline) of several scores of the same units, on
    the same resamples: each score's evaluation equals ``evaluate_uplift(y, score, treatment, n_boot,
    seed, ...)``; the resamples are drawn and the perfect curves computed once for all of them.

    Each resample's statistics are computed in chunks of resamples with array operations
    (:func:`uplift.targeting.bootstrap.uplift_draws`): the Qini coefficient and AUUC from the weighted
    cumulative sums at the score thresholds, uplift@k cut at ``k`` times the resample's size, and the
    uplift of each decile (fixed by position in the score order, as in :func:`uplift_by_decile`).
    """
    prepared = {}
    for name, score in scores.items():
        yy, s, t = _as_arrays(y, score, treatment)
        o = _order(s)  # once per score: the deciles, the bootstrap's ordering, the point estimates
        deciles = _uplift_by_decile(yy, s, t, bins, confidence, o)  # validates bins first
        prepared[name] = (s, deciles, _ordering(yy, s, t, o=o))
    y, _, t = _as_arrays(y, np.zeros(len(np.asarray(y))), treatment)
    n = len(y)
    qp, up = _perfect_orderings(y, t)
    binary = _is_binary(y)
    bin_ends = np.cumsum([len(p) for p in np.array_split(np.arange(n), bins)]) - 1
    member = cell_membership(y, t) if binary else None
    packing = count_packing(y, t) if binary else None  # whole-number running totals: one integer sum per word
    rng = np.random.default_rng(seed)
    boots: dict[str, list[np.ndarray]] = {name: [] for name in prepared}
    decs: dict[str, list[np.ndarray]] = {name: [] for name in prepared}
    for w in bootstrap_count_chunks(rng, t, n_boot):
        perfect = perfect_draws(w, member, qp, up)
        words = packing.pack(w) if packing is not None else None  # once for every score
        for name, (_, _, ordering) in prepared.items():
            b, d = uplift_draws(w, ordering, perfect, ks, bin_ends, packing, words)
            boots[name].append(b)
            decs[name].append(d)
    meth = f"stratified bootstrap ({n_boot} resamples), percentile interval"
    out = {}
    perfect_q = _qini_points(_Sorted.build(y, _perfect_qini_score(y, t), t).cums())  # the same for every score
    perfect_u = _uplift_points(_Sorted.build(y, _perfect_uplift_score(y, t), t).cums())
    for name, (s, deciles, ordering) in prepared.items():
        c = _Sorted(ordering.y, ordering.t, ordering.thr).cums()  # the score's sorted units, as _Sorted.build sorts them
        q0 = _normalised(_qini_points(c), perfect_q)
        a0 = _normalised(_uplift_points(c), perfect_u)
        # exact sklift uplift@k (unit-level cut, sklift's ties)
        at0 = [_uplift_at_k(y, s, t, k, "overall", ordering.order) for k in ks]
        bt = np.concatenate(boots[name]) if n_boot else np.empty((0, 2 + len(ks)))
        db = np.concatenate(decs[name]) if n_boot else np.empty((0, bins))
        lo_hi = np.array([_pct(db[:, j], confidence) for j in range(bins)]) if n_boot else np.full((bins, 2), np.nan)
        deciles["boot_low"], deciles["boot_high"] = lo_hi[:, 0], lo_hi[:, 1]
        xq, vq = _qini_points(c)
        xp, vp = perfect_q[0].copy(), perfect_q[1].copy()
        out[name] = UpliftEvaluation(
            n=n, n_treatment=int((t == 1).sum()), n_control=int((t == 0).sum()),
            outcome_kind="binary" if binary else "continuous",
            qini=Interval(q0, *_pct(bt[:, 0], confidence), confidence, meth),
            auuc=Interval(a0, *_pct(bt[:, 1], confidence), confidence, meth),
            uplift_at={k: Interval(at0[i], *_pct(bt[:, 2 + i], confidence), confidence, meth) for i, k in enumerate(ks)},
            deciles=deciles, qini_x=xq, qini_y=vq, perfect_x=xp, perfect_y=vp, random_qini=None, n_boot=n_boot,
        )
    return out


def _safe_div(a: float, b: float) -> float:
    return float(a / b) if b else float("nan")
