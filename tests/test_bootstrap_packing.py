"""The bootstrap's packed integer running totals (uplift.targeting.bootstrap.CountPacking) and its other
shortcuts give the same numbers as the plain floating-point computation on the same resamples: bit for bit
where the arithmetic is the same, and to 1e-12 against a per-resample loop (tests/test_evaluation.py,
tests/test_targeting.py compare the statistics themselves with loops)."""

from __future__ import annotations

import numpy as np
import pytest

from uplift.targeting import bootstrap
from uplift.targeting import evaluation as ev
from uplift.targeting.evaluation import Interval
from uplift.targeting.profit import profit_by_depth


def _data(seed: int, n: int, ties: bool):
    rng = np.random.default_rng(seed)
    t = (rng.random(n) < 0.7).astype(float)
    s = rng.normal(size=n)
    if ties:
        s = np.round(s, 1)
    y = (rng.random(n) < 0.1 + 0.1 * t * (s > 0)).astype(float)
    return y, s, t


def _counts(seed: int, t: np.ndarray, n_boot: int) -> np.ndarray:
    return np.vstack(list(bootstrap.bootstrap_count_chunks(np.random.default_rng(seed), t, n_boot)))


@pytest.mark.parametrize("bits", [16, 32])
def test_packed_running_totals_equal_the_float_cumulative_sums(bits):
    """Every field of every word, unpacked, equals numpy's float cumulative sum of counts x factor in the
    same order (two words of two 32-bit fields, or one of four 16-bit fields)."""
    y, s, t = _data(1, 3000, ties=True)
    w = _counts(2, t, 12)
    packing = bootstrap.count_packing(y, t, bits=bits)
    assert packing is not None and packing.per_word == 64 // bits
    words = packing.pack(w)
    assert len(words) == 4 * bits // 64
    order = np.argsort(-s, kind="stable")
    got = packing.unpack(packing.cumsums(words, order))
    ws = w[:, order]
    want = (np.cumsum(ws, axis=1), np.cumsum(ws * t[order], axis=1), np.cumsum(ws * (y * t)[order], axis=1),
            np.cumsum(ws * (y * (1 - t))[order], axis=1))
    for a, b in zip(got, want):
        assert a.dtype == np.float64 and np.array_equal(a, b)


def test_packing_only_for_zero_one_factors_and_sizes_that_fit():
    y, _, t = _data(3, 500, ties=False)
    assert bootstrap.count_packing(y, t) is not None and bootstrap.count_packing(y, t).bits == 16
    assert bootstrap.count_packing(y * 2.5, t) is None  # a continuous outcome keeps the float sums
    assert bootstrap.factor_packing((np.ones(70_000),)).bits == 32  # 70,000 > 2^16 - 1: 32-bit fields
    assert bootstrap.factor_packing((np.ones(70_000),), bits=16) is None


def test_running_ratio_and_steps_equal_numpy():
    """``running_ratio`` equals ``numpy.divide(..., where=b != 0)`` (0 where the running count is 0), and
    ``diff_from_zero`` equals ``numpy.diff(..., prepend=0)``, bit for bit."""
    rng = np.random.default_rng(4)
    b = np.cumsum(rng.integers(0, 3, (7, 400)) * (rng.random((7, 400)) < 0.3), axis=1).astype(float)
    b[3] = 0.0  # a row with no unit of the group at all
    a = np.cumsum(rng.random((7, 400)), axis=1)
    want = np.divide(a, b, out=np.zeros_like(a), where=b != 0)
    assert np.array_equal(bootstrap.running_ratio(a, b), want)
    assert np.array_equal(bootstrap.diff_from_zero(a), np.diff(a, axis=-1, prepend=0.0))


def _float_path(monkeypatch):
    """Switch the packing off where the evaluation and the profit curve look it up."""
    from uplift.targeting import profit

    monkeypatch.setattr(ev, "count_packing", lambda *a, **k: None)
    monkeypatch.setattr(profit, "factor_packing", lambda *a, **k: None)


@pytest.mark.parametrize("ties", [False, True])
def test_evaluation_with_packed_totals_equals_the_float_path(monkeypatch, ties):
    """The held-out evaluation of several scores and the random-score baseline: the same intervals and
    decile intervals with the packed integer totals as with floating-point cumulative sums."""
    y, s, t = _data(5, 2500, ties)
    scores = {"a": s, "b": np.round(-s + np.random.default_rng(6).normal(size=len(s)), 2)}
    packed = ev.evaluate_uplifts(y, scores, t, n_boot=40, seed=3, confidence=0.9)
    rq = ev.random_qini_interval(y, t, n_boot=40, seed=4)
    _float_path(monkeypatch)
    plain = ev.evaluate_uplifts(y, scores, t, n_boot=40, seed=3, confidence=0.9)
    assert ev.random_qini_interval(y, t, n_boot=40, seed=4) == rq
    for name in scores:
        assert packed[name].qini == plain[name].qini and packed[name].auuc == plain[name].auuc
        assert packed[name].uplift_at == plain[name].uplift_at
        assert packed[name].deciles.equals(plain[name].deciles)


def test_profit_draws_with_packed_counts_equal_the_float_path(monkeypatch):
    rng = np.random.default_rng(7)
    n = 1500
    t = (rng.random(n) < 0.6).astype(float)
    y = (rng.random(n) < 0.1 + 0.05 * t).astype(float)
    score, unit_value = np.round(rng.normal(size=n), 1), rng.gamma(3.0, 40.0, n)
    args = (y, t, y, score, Interval(120.0, 100.0, 140.0, 0.9), 1.5, 8.0)
    kw = dict(scale=5000.0, n_boot=30, seed=6, confidence=0.9, unit_value=unit_value)
    packed = profit_by_depth(*args, **kw)
    _float_path(monkeypatch)
    for a, b in zip(packed, profit_by_depth(*args, **kw)):
        assert np.array_equal(a, b, equal_nan=True)
