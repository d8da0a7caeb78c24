"""Uplift metrics: equal to scikit-uplift on the same input, correct for continuous outcomes
(against a brute-force loop), and bootstrap intervals that cover and a random baseline that
does not cry wolf (simulation with known truth)."""

from __future__ import annotations

import importlib
import sys

import numpy as np
import pytest

from uplift.errors import DataError
from uplift.targeting import evaluation as ev
from uplift.targeting import sklift_adapter as _sklift


def _data(seed: int, n: int = 2000, ties: bool = True):
    rng = np.random.default_rng(seed)
    t = rng.integers(0, 2, n)
    s = rng.normal(size=n)
    if ties:
        s = np.round(s, 1)  # many tied scores
    y = (rng.random(n) < 0.15 + 0.1 * t * (s > 0) - 0.05 * t * (s < -1)).astype(int)
    return y, s, t


SEEDS = [0, 1, 2, 3]


@pytest.fixture(scope="module")
def sk():
    return _sklift.metrics()


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("ties", [True, False])
def test_curves_and_coefficients_equal_sklift(sk, seed, ties):
    y, s, t = _data(seed, ties=ties)
    for ours, ref in [(ev.qini_curve(y, s, t), sk.qini_curve(y, s, t)),
                      (ev.uplift_curve(y, s, t), sk.uplift_curve(y, s, t)),
                      (ev.perfect_qini_curve(y, t), sk.perfect_qini_curve(y, t)),
                      (ev.perfect_uplift_curve(y, t), sk.perfect_uplift_curve(y, t))]:
        np.testing.assert_allclose(ours[0], ref[0], rtol=0, atol=1e-10)
        np.testing.assert_allclose(ours[1], ref[1], rtol=0, atol=1e-10)
    assert abs(ev.qini_coefficient(y, s, t) - sk.qini_auc_score(y, s, t)) < 1e-10
    assert abs(ev.qini_coefficient(y, s, t, negative_effect=False) - sk.qini_auc_score(y, s, t, negative_effect=False)) < 1e-10
    assert abs(ev.auuc(y, s, t) - sk.uplift_auc_score(y, s, t)) < 1e-10


@pytest.mark.parametrize("seed", SEEDS)
def test_uplift_at_k_and_deciles_equal_sklift(sk, seed):
    y, s, t = _data(seed)
    for k in (0.1, 0.3, 0.5, 150):
        for strategy in ("overall", "by_group"):
            assert abs(ev.uplift_at_k(y, s, t, k=k, strategy=strategy) - sk.uplift_at_k(y, s, t, strategy=strategy, k=k)) < 1e-10
    ours = ev.uplift_by_decile(y, s, t)
    ref = sk.uplift_by_percentile(y, s, t, std=True)
    for a, b in [("n_treatment", "n_treatment"), ("n_control", "n_control"), ("uplift", "uplift"),
                 ("response_rate_treatment", "response_rate_treatment"), ("std_uplift", "std_uplift")]:
        np.testing.assert_allclose(ours[a].to_numpy(float), ref[b].to_numpy(float), rtol=0, atol=1e-10)


def test_sklift_metrics_survive_removal_of_stable_cumsum(monkeypatch):
    """scikit-learn 1.10 removes stable_cumsum; the adapter's shim keeps sklift.metrics importable."""
    import sklearn.utils.extmath as extmath

    monkeypatch.delattr(extmath, "stable_cumsum", raising=False)
    for name in [m for m in sys.modules if m.startswith("sklift.metrics")]:
        monkeypatch.delitem(sys.modules, name)
    m = _sklift.metrics()
    y, s, t = _data(5)
    assert abs(m.qini_auc_score(y, s, t) - ev.qini_coefficient(y, s, t)) < 1e-10
    assert hasattr(extmath, "stable_cumsum")  # shim installed
    monkeypatch.undo()
    assert importlib.import_module("sklift.metrics").qini_auc_score(y, s, t) == pytest.approx(ev.qini_coefficient(y, s, t), abs=1e-10)


def _brute_qini(y, s, t):
    """Independent loop: at each distinct threshold (descending), Q = Y_t - Y_c * N_t / N_c."""
    xs, qs, us = [0.0], [0.0], [0.0]
    for thr in sorted(set(s), reverse=True):
        top = s >= thr
        nt, nc = (top & (t == 1)).sum(), (top & (t == 0)).sum()
        yt, yc = y[top & (t == 1)].sum(), y[top & (t == 0)].sum()
        xs.append(float(top.sum()))
        qs.append(yt - (yc * nt / nc if nc else 0.0))
        us.append(((yt / nt if nt else 0.0) - (yc / nc if nc else 0.0)) * top.sum())
    return np.array(xs), np.array(qs), np.array(us)


def test_continuous_outcome_curves_match_brute_force():
    rng = np.random.default_rng(11)
    n = 600
    t = rng.integers(0, 2, n)
    s = np.round(rng.normal(size=n), 1)
    y = rng.lognormal(4, 1, n) + 30 * t * (s > 0)  # revenue
    x, q, u = _brute_qini(y, s, t)
    xq, vq = ev.qini_curve(y, s, t)
    xu, vu = ev.uplift_curve(y, s, t)
    np.testing.assert_allclose(xq, x)
    np.testing.assert_allclose(vq, q, rtol=1e-12, atol=1e-8)
    np.testing.assert_allclose(vu, u, rtol=1e-12, atol=1e-8)
    # the perfect ordering scores 1 and the reverse ordering scores below 0
    perfect = y * t - y * (1 - t)
    assert ev.qini_coefficient(y, perfect, t) == pytest.approx(1.0, abs=1e-12)
    assert ev.qini_coefficient(y, -perfect, t) < 0
    # uplift@k on revenue: the plain difference in means among the top units
    top = np.zeros(n, bool)
    top[np.argsort(s, kind="mergesort")[::-1][:180]] = True
    assert ev.uplift_at_k(y, s, t, k=0.3) == pytest.approx(y[top & (t == 1)].mean() - y[top & (t == 0)].mean(), abs=1e-10)


def test_bad_input_is_one_line_error():
    y, s, t = _data(0, n=50)
    with pytest.raises(DataError, match="no treated units"):
        ev.qini_coefficient(y, s, np.zeros(50))
    with pytest.raises(DataError, match="no control units"):
        ev.qini_coefficient(y, s, np.ones(50))
    with pytest.raises(DataError, match="differ in length"):
        ev.qini_coefficient(y[:10], s, t)
    with pytest.raises(DataError, match="treatment must be 0"):
        ev.qini_coefficient(y, s, t * 2)
    with pytest.raises(DataError, match="k=1.5"):
        ev.uplift_at_k(y, s, t, k=1.5)


def test_evaluate_uplift_point_estimates_equal_sklift(sk):
    y, s, t = _data(3, n=3000)
    e = ev.evaluate_uplift(y, s, t, n_boot=200, seed=1)
    assert e.qini.estimate == pytest.approx(sk.qini_auc_score(y, s, t), abs=1e-10)
    assert e.auuc.estimate == pytest.approx(sk.uplift_auc_score(y, s, t), abs=1e-10)
    assert e.uplift_at[0.3].estimate == pytest.approx(sk.uplift_at_k(y, s, t, strategy="overall", k=0.3), abs=1e-10)
    assert e.qini.low < e.qini.estimate < e.qini.high
    dec = e.deciles
    assert (dec["boot_low"] <= dec["uplift"]).all() and (dec["uplift"] <= dec["boot_high"]).all()
    ratio = (dec["boot_high"] - dec["boot_low"]) / (dec["ci_high"] - dec["ci_low"])
    assert ratio.between(0.6, 1.4).all(), ratio  # bootstrap and normal intervals agree in width
    d = e.to_dict()
    import json

    json.dumps(d, allow_nan=False)
    assert d["qini_coefficient"]["ci"][0] < d["qini_coefficient"]["estimate"]


def test_weighted_core_equals_a_brute_force_loop_over_thresholds():
    """The bootstrap's weighted cumulative sums (N, N_t, N_c, Y_t, Y_c above each distinct score),
    with integer resampling weights including zeros, against a plain loop over the thresholds."""
    y, s, t = _data(4)
    w = np.random.default_rng(4).integers(0, 4, len(y)).astype(float)
    srt = ev._Sorted.build(y.astype(float), s, t.astype(float))
    order = np.argsort(s, kind="mergesort")[::-1]  # the weights follow the rows into score order
    got = srt.cums(w[order])
    want = [[], [], [], [], []]
    for thr in sorted(set(s), reverse=True):
        top = s >= thr
        for col, v in zip(want, (w[top].sum(), (w * t)[top].sum(), (w * (1 - t))[top].sum(),
                                 (w * y * t)[top].sum(), (w * y * (1 - t))[top].sum())):
            col.append(v)
    for a, b in zip(got, want):
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-9)


def _sim_sample(seed: int, n: int, intensity: float = 1.0):
    from uplift.simulate import simulate

    sim = simulate(n, seed=seed, arms={"control": 0.5, "offer": 0.5}, intensity={"offer": intensity})
    o, p = sim.outcomes, sim.population
    score = np.log(p["balance"].to_numpy()) + 0.8 * p["products_held"].to_numpy()  # a fixed, informative-ish score
    return o["converted"].to_numpy(), score, (o["arm"] == "offer").to_numpy().astype(int), o


def test_bootstrap_interval_for_uplift_at_k_covers_the_truth(full, sim_size):
    """Truth: the mean true uplift among the top 30% by score, from a large population."""
    from uplift.simulate import simulate

    big = simulate(200_000, seed=999, arms={"control": 0.5, "offer": 0.5})
    bs = np.log(big.population["balance"].to_numpy()) + 0.8 * big.population["products_held"].to_numpy()
    cut = np.quantile(bs, 0.7)
    truth = float(big.outcomes["true_uplift_offer"].to_numpy()[bs > cut].mean())
    reps = sim_size(60, 400)
    hits = 0
    for r in range(reps):
        y, s, t, _ = _sim_sample(1000 + r, 4000)
        e = ev.evaluate_uplift(y, s, t, n_boot=200, seed=r, ks=(0.3,), random_baseline=False)
        hits += e.uplift_at[0.3].low <= truth <= e.uplift_at[0.3].high
    coverage = hits / reps
    print(f"uplift@0.3 bootstrap 95% coverage: {coverage:.3f} over {reps} samples (truth {truth:.4f})")
    assert coverage >= (0.85 if not full else 0.92)


def test_random_baseline_false_positive_rate_under_no_effect(full, sim_size):
    """No treatment effect: a fixed score's Qini exceeds the random-score 95% upper bound ~2.5% of the time."""
    reps = sim_size(40, 300)
    exceed = 0
    for r in range(reps):
        y, s, t, _ = _sim_sample(5000 + r, 3000, intensity=0.0)
        q = ev.qini_coefficient(y, s, t)
        rq = ev.random_qini_interval(y, t, n_boot=200, seed=r)
        exceed += q > rq.high
    rate = exceed / reps
    print(f"false-positive rate (Qini above random upper bound, no effect): {rate:.3f} over {reps}")
    assert rate <= (0.125 if not full else 0.05)


# --------------------------------------------------------------------------- vectorised bootstrap


def _resamples(seed: int, t: np.ndarray, n_boot: int) -> np.ndarray:
    """The counts the evaluation draws for ``seed`` (every chunk, in order)."""
    from uplift.targeting.bootstrap import bootstrap_count_chunks

    return np.vstack(list(bootstrap_count_chunks(np.random.default_rng(seed), t, n_boot)))


def _loop_draws(y, s, t, w, ks=(0.1, 0.3), bins=10):
    """One resample (counts ``w`` on the units) evaluated the plain way: Qini and AUUC by the public
    functions on the resampled rows (each unit repeated ``w`` times); uplift@k and the deciles by the
    weighted sums of the units in score order, one Python loop over the cut."""
    idx = np.repeat(np.arange(len(y)), w.astype(int))
    q = ev.qini_coefficient(y[idx], s[idx], t[idx])
    a = ev.auuc(y[idx], s[idx], t[idx])
    o = np.argsort(s, kind="mergesort")[::-1]
    ys, ts, ws = y[o].astype(float), t[o].astype(float), w[o]
    at = []
    for k in ks:
        m, acc, j = ws.sum() * k, 0.0, 0
        while j < len(ws) and acc + ws[j] <= m:
            acc += ws[j]
            j += 1
        top = slice(0, j)
        nt, nc = (ws[top] * ts[top]).sum(), (ws[top] * (1 - ts[top])).sum()
        at.append(((ws[top] * ys[top] * ts[top]).sum() / nt if nt else np.nan)
                  - ((ws[top] * ys[top] * (1 - ts[top])).sum() / nc if nc else np.nan))
    dec = []
    for part in np.array_split(np.arange(len(y)), bins):
        wb, yb, tb = ws[part], ys[part], ts[part]
        with np.errstate(invalid="ignore", divide="ignore"):
            dec.append((wb * yb * tb).sum() / (wb * tb).sum() - (wb * yb * (1 - tb)).sum() / (wb * (1 - tb)).sum())
    return np.array([q, a, *at]), np.array(dec)


@pytest.mark.parametrize("kind", ["binary", "binary_ties", "continuous"])
def test_vectorised_bootstrap_equals_a_loop_over_the_same_resamples(kind):
    """Every resample's Qini, AUUC, uplift@k and decile uplift, computed for all resamples at once, equal
    a plain per-resample computation on the same counts (to 1e-12); the intervals are their percentiles."""
    from uplift.targeting.bootstrap import cell_membership, perfect_draws, uplift_draws

    y, s, t = _data(11, n=1500, ties=kind == "binary_ties")
    if kind == "continuous":
        y = np.where(y == 1, np.random.default_rng(2).gamma(2.0, 50.0, len(y)), 0.0)
    y, s, t = y.astype(float), s.astype(float), t.astype(float)
    w = _resamples(5, t, 30)
    assert w.shape == (30, len(y))
    for g in (0.0, 1.0):  # stratified: each group keeps its size
        assert (w[:, t == g].sum(axis=1) == (t == g).sum()).all()
    qp, up = ev._perfect_orderings(y, t)
    member = cell_membership(y, t) if kind != "continuous" else None
    draws, dec = uplift_draws(w, ev._ordering(y, s, t), perfect_draws(w, member, qp, up), (0.1, 0.3),
                              np.cumsum([len(p) for p in np.array_split(np.arange(len(y)), 10)]) - 1)
    want = [_loop_draws(y, s, t, row) for row in w]
    np.testing.assert_allclose(draws, np.array([d for d, _ in want]), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(dec, np.array([d for _, d in want]), rtol=1e-12, atol=1e-12)
    e = ev.evaluate_uplift(y, s, t, n_boot=30, seed=5, confidence=0.9, random_baseline=False)
    ref = np.array([d for d, _ in want])
    assert (e.qini.low, e.qini.high) == pytest.approx(tuple(np.quantile(ref[:, 0], [0.05, 0.95])), rel=1e-12)
    assert (e.auuc.low, e.auuc.high) == pytest.approx(tuple(np.quantile(ref[:, 1], [0.05, 0.95])), rel=1e-12)
    assert (e.uplift_at[0.3].low, e.uplift_at[0.3].high) == pytest.approx(tuple(np.quantile(ref[:, 3], [0.05, 0.95])), rel=1e-12)
    both = ev.evaluate_uplifts(y, {"a": s, "b": -s}, t, n_boot=30, seed=5, confidence=0.9)
    assert both["a"].qini == e.qini and both["a"].auuc == e.auuc
    assert both["b"].qini == ev.evaluate_uplift(y, -s, t, n_boot=30, seed=5, confidence=0.9, random_baseline=False).qini


def test_vectorised_random_qini_equals_a_loop_over_the_same_resamples():
    """The random-score Qini draws: each resample's counts and random ordering (drawn as the evaluation
    draws them), scored by the public Qini coefficient on the resampled rows."""
    from uplift.targeting.bootstrap import bootstrap_count_chunks

    y, _, t = _data(12, n=1200)
    y, t = y.astype(float), t.astype(float)
    rng = np.random.default_rng(8)
    vals = []
    for w in bootstrap_count_chunks(rng, t, 40):
        perm = rng.permuted(np.broadcast_to(np.arange(len(y)), w.shape), axis=1)
        for row, p in zip(w, perm):
            score = np.empty(len(y))
            score[p] = np.arange(len(y), 0, -1)  # the unit at position i of the permutation ranks i-th
            idx = np.repeat(np.arange(len(y)), row.astype(int))
            vals.append(ev.qini_coefficient(y[idx], score[idx], t[idx]))
    rq = ev.random_qini_interval(y, t, n_boot=40, seed=8, confidence=0.9)
    assert rq.estimate == pytest.approx(np.mean(vals), rel=1e-12, abs=1e-12)
    assert (rq.low, rq.high) == pytest.approx(tuple(np.quantile(vals, [0.05, 0.95])), rel=1e-12, abs=1e-12)


def test_bootstrap_in_chunks_of_one_resample(monkeypatch):
    """Chunks only bound memory: with one resample per chunk the counts are drawn chunk by chunk from the
    same generator, and the intervals are still the percentiles of the per-resample loop on those counts."""
    from uplift.targeting import bootstrap

    y, s, t = _data(13, n=800)
    monkeypatch.setattr(bootstrap, "BOOT_CHUNK_CELLS", 1)
    w = _resamples(3, t.astype(float), 7)
    assert w.shape == (7, 800) and len({tuple(r) for r in w}) == 7
    e = ev.evaluate_uplift(y, s, t, n_boot=7, seed=3, random_baseline=False)
    want = np.array([_loop_draws(y.astype(float), s, t.astype(float), row)[0] for row in w])
    assert (e.qini.low, e.qini.high) == pytest.approx(tuple(np.quantile(want[:, 0], [0.025, 0.975])), rel=1e-12)
