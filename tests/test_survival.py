"""Survival curves: life table, Kaplan-Meier, log-rank, RMST.

References used: lifelines (KaplanMeierFitter, logrank_test, multivariate_logrank_test,
survival_table_from_events, restricted_mean_survival_time) and statsmodels
(SurvfuncRight, survdiff) on lifelines' bundled datasets; simulation with known truth
for interval coverage.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from lifelines import KaplanMeierFitter
from lifelines.datasets import load_rossi, load_waltons
from lifelines.statistics import logrank_test as ll_logrank
from lifelines.statistics import multivariate_logrank_test
from lifelines.utils import restricted_mean_survival_time, survival_table_from_events
from statsmodels.duration.survfunc import SurvfuncRight, survdiff

from uplift.errors import DataError, UserError
from uplift.survival.estimators import kaplan_meier, life_table, logrank_test, rmst, rmst_difference

TOL = 1e-8


def _datasets():
    w = load_waltons()
    r = load_rossi()
    return [
        ("waltons", w, "T", "E", "group"),
        ("rossi", r, "week", "arrest", "fin"),
    ]


@pytest.mark.parametrize("name,df,dur,ev,grp", _datasets(), ids=lambda x: x if isinstance(x, str) else "")
def test_life_table_matches_lifelines_event_table(name, df, dur, ev, grp):
    lt = life_table(df, dur, ev)
    ref = survival_table_from_events(df[dur], df[ev])
    ref = ref[(ref["observed"] + ref["censored"]) > 0]
    assert np.array_equal(lt["time"].to_numpy(), ref.index.to_numpy(dtype=float))
    assert np.array_equal(lt["at_risk"].to_numpy(), ref["at_risk"].to_numpy())
    assert np.array_equal(lt["events"].to_numpy(), ref["observed"].to_numpy())
    assert np.array_equal(lt["censored"].to_numpy(), ref["censored"].to_numpy())


@pytest.mark.parametrize("name,df,dur,ev,grp", _datasets(), ids=lambda x: x if isinstance(x, str) else "")
def test_kaplan_meier_matches_lifelines_and_statsmodels(name, df, dur, ev, grp):
    lt = life_table(df, dur, ev, by=grp)
    for g, tab in lt.groupby(grp):
        sub = df[df[grp] == g]
        km = kaplan_meier(tab, label=str(g))
        kmf = KaplanMeierFitter(alpha=0.05).fit(sub[dur], sub[ev])
        sf = kmf.survival_function_.loc[km.times].iloc[:, 0].to_numpy()
        ci = kmf.confidence_interval_.loc[km.times].to_numpy()
        np.testing.assert_allclose(km.survival, sf, atol=TOL, rtol=0)
        np.testing.assert_allclose(km.lower, ci[:, 0], atol=TOL, rtol=0)
        np.testing.assert_allclose(km.upper, ci[:, 1], atol=TOL, rtol=0)
        sm = SurvfuncRight(sub[dur].to_numpy(dtype=float), sub[ev].to_numpy())
        # statsmodels reports event times only
        at_events = np.isin(km.times, sm.surv_times)
        np.testing.assert_allclose(km.survival[at_events], sm.surv_prob, atol=TOL, rtol=0)
        finite = np.isfinite(sm.surv_prob_se)  # statsmodels gives NaN where S reaches 0; we give 0
        np.testing.assert_allclose(km.se[at_events][finite], sm.surv_prob_se[finite], atol=TOL, rtol=0)
        assert np.all(km.se[at_events][~finite] == 0) and np.all(km.survival[at_events][~finite] == 0)
        np.testing.assert_array_equal(km.at_risk[at_events], sm.n_risk)


def test_kaplan_meier_other_confidence_level_matches_lifelines():
    df = load_rossi()
    km = kaplan_meier(life_table(df, "week", "arrest"), confidence=0.90)
    kmf = KaplanMeierFitter(alpha=0.10).fit(df["week"], df["arrest"])
    ci = kmf.confidence_interval_.loc[km.times].to_numpy()
    np.testing.assert_allclose(km.lower, ci[:, 0], atol=TOL, rtol=0)
    np.testing.assert_allclose(km.upper, ci[:, 1], atol=TOL, rtol=0)


@pytest.mark.parametrize("name,df,dur,ev,grp", _datasets(), ids=lambda x: x if isinstance(x, str) else "")
def test_logrank_matches_lifelines_and_statsmodels(name, df, dur, ev, grp):
    res = logrank_test(life_table(df, dur, ev, by=grp), grp)
    a, b = sorted(df[grp].unique())
    ll = ll_logrank(df[dur][df[grp] == a], df[dur][df[grp] == b], df[ev][df[grp] == a], df[ev][df[grp] == b])
    assert res.statistic == pytest.approx(ll.test_statistic, abs=TOL)
    assert res.p_value == pytest.approx(ll.p_value, abs=TOL)
    chi2, p = survdiff(df[dur].to_numpy(dtype=float), df[ev].to_numpy(), df[grp].to_numpy())
    assert res.statistic == pytest.approx(chi2, abs=TOL)
    assert res.p_value == pytest.approx(p, abs=TOL)


def test_logrank_three_groups_matches_lifelines_and_statsmodels():
    df = load_rossi()
    df = df.assign(prio_band=pd.cut(df["prio"], [-1, 0, 2, 100], labels=["none", "few", "many"]).astype(str))
    res = logrank_test(life_table(df, "week", "arrest", by="prio_band"), "prio_band")
    ll = multivariate_logrank_test(df["week"], df["prio_band"], df["arrest"])
    assert res.df == 2
    assert res.statistic == pytest.approx(ll.test_statistic, abs=1e-8)
    chi2, p = survdiff(df["week"].to_numpy(dtype=float), df["arrest"].to_numpy(), df["prio_band"].to_numpy())
    assert res.statistic == pytest.approx(chi2, abs=1e-8)
    assert res.p_value == pytest.approx(p, abs=1e-8)


@pytest.mark.filterwarnings("ignore::scipy.integrate.IntegrationWarning")
@pytest.mark.parametrize("horizon", [10.0, 33.5, 52.0])
def test_rmst_estimate_matches_lifelines_and_variance_matches_independent_sum(horizon):
    df = load_rossi()
    km = kaplan_meier(life_table(df, "week", "arrest"))
    kmf = KaplanMeierFitter().fit(df["week"], df["arrest"])
    r = rmst(km, horizon)
    assert r.estimate == pytest.approx(restricted_mean_survival_time(kmf, t=horizon), abs=1e-8)
    # Klein & Moeschberger eq. 4.5.2 assembled from lifelines' own pieces:
    # A_j = RMST(tau) - RMST(t_j) (lifelines' integration), d_j, n_j from its event table.
    et = kmf.event_table
    et = et[(et.index > 0) & (et.index < horizon) & (et["observed"] > 0)]
    total = restricted_mean_survival_time(kmf, t=horizon)
    var = 0.0
    for tj, row in et.iterrows():
        a = total - restricted_mean_survival_time(kmf, t=tj)
        n, d = row["at_risk"], row["observed"]
        if n > d:
            var += a**2 * d / (n * (n - d))
    assert r.se == pytest.approx(np.sqrt(var), rel=1e-8)
    # and it is not lifelines' return_variance (the variance of min(T, tau), not of the estimate)
    _, var_trunc = restricted_mean_survival_time(kmf, t=horizon, return_variance=True)
    assert abs(r.se**2 - var_trunc) > 10 * r.se**2


def _geometric_sample(rng, n, q, follow_up):
    t = rng.geometric(q, size=n)
    c = rng.integers(follow_up // 2, follow_up + 1, size=n)
    return pd.DataFrame({"t": np.minimum(t, c), "e": (t <= c).astype(int)})


def test_rmst_and_km_intervals_cover_the_truth(full):
    """Geometric lifetimes (S(t) = (1-q)^t), staggered censoring: 95% intervals cover the true
    RMST(tau) = sum_{t<tau} (1-q)^t, the true S(t0), and the true RMST difference about 95% of the time."""
    rng = np.random.default_rng(20261123)
    runs = 1000 if full else 250
    q0, q1, tau, t0 = 0.06, 0.04, 20, 12
    true_r0 = sum((1 - q0) ** t for t in range(tau))
    true_r1 = sum((1 - q1) ** t for t in range(tau))
    hit_r = hit_s = hit_d = 0
    for _ in range(runs):
        d0 = _geometric_sample(rng, 400, q0, 2 * tau)
        d1 = _geometric_sample(rng, 400, q1, 2 * tau)
        k0 = kaplan_meier(life_table(d0, "t", "e"))
        k1 = kaplan_meier(life_table(d1, "t", "e"))
        r0, r1 = rmst(k0, tau), rmst(k1, tau)
        hit_r += r0.lower <= true_r0 <= r0.upper
        j = np.searchsorted(k0.times, t0, side="right") - 1
        hit_s += k0.lower[j] <= (1 - q0) ** t0 <= k0.upper[j]
        diff = rmst_difference(r1, r0)
        hit_d += diff.lower <= true_r1 - true_r0 <= diff.upper
    for hits in (hit_r, hit_s, hit_d):
        assert 0.92 <= hits / runs <= 0.98, (hit_r / runs, hit_s / runs, hit_d / runs)


def test_logrank_false_positive_rate_at_alpha(full):
    rng = np.random.default_rng(7)
    runs = 1000 if full else 300
    rejections = 0
    for _ in range(runs):
        d = pd.concat([_geometric_sample(rng, 300, 0.05, 30).assign(g="a"),
                       _geometric_sample(rng, 300, 0.05, 30).assign(g="b")])
        rejections += logrank_test(life_table(d, "t", "e", by="g"), "g").p_value < 0.05
    assert 0.025 <= rejections / runs <= 0.08


def test_life_table_value_columns_pool_exactly():
    rng = np.random.default_rng(1)
    df = _geometric_sample(rng, 2000, 0.1, 20).assign(m=rng.lognormal(3, 1, 2000) * 1e6)
    lt = life_table(df, "t", "e", value_col="m")
    for _, row in lt.sample(5, random_state=0).iterrows():
        for cell, flag in (("events", 1), ("censored", 0)):
            vals = df.loc[(df["t"] == row["time"]) & (df["e"] == flag), "m"].to_numpy()
            assert row[f"value_sum_{cell}"] == pytest.approx(vals.sum(), rel=1e-12)
            assert row[f"value_m2_{cell}"] == pytest.approx(((vals - vals.mean()) ** 2).sum() if len(vals) else 0.0, rel=1e-9, abs=1e-6)


@pytest.mark.parametrize(
    "frame,match",
    [
        (pd.DataFrame({"t": [1, -2, 3], "e": [1, 0, 1]}), "negative"),
        (pd.DataFrame({"t": [1, 2, 3], "e": [1, 2, 0]}), "0 or 1"),
        (pd.DataFrame({"t": [1.0, np.nan, 3], "e": [1, 0, 0]}), "missing"),
        (pd.DataFrame({"t": [1, 2, 3], "e": [1, None, 0]}), "missing"),
        (pd.DataFrame({"t": ["a", "b", "c"], "e": [1, 0, 0]}), "not numbers"),
        (pd.DataFrame({"t": [1, 2, 3], "x": [1, 0, 0]}), "not found"),
    ],
)
def test_bad_input_gives_one_line_error(frame, match):
    with pytest.raises(DataError, match=match) as info:
        life_table(frame, "t", "e")
    assert isinstance(info.value, UserError)
    assert "\n" not in str(info.value)


def test_results_are_json_ready():
    import json

    df = load_waltons()
    lt = life_table(df, "T", "E", by="group")
    km = kaplan_meier(lt[lt["group"] == "control"], label="control")
    json.dumps(km.to_dict(), allow_nan=False)
    json.dumps(logrank_test(lt, "group").to_dict(), allow_nan=False)
    json.dumps(rmst(km, 40).to_dict(), allow_nan=False)
    assert "Kaplan-Meier" in km.summary()


def test_continuous_times_use_the_group_by_path_and_match_lifelines():
    rng = np.random.default_rng(12)
    t = rng.exponential(10, 500).round(3)
    c = rng.uniform(0, 25, 500).round(3)
    df = pd.DataFrame({"t": np.minimum(t, c), "e": (t <= c).astype(int)})
    km = kaplan_meier(life_table(df, "t", "e"))
    kmf = KaplanMeierFitter().fit(df["t"], df["e"])
    np.testing.assert_allclose(km.survival, kmf.survival_function_.loc[km.times].iloc[:, 0].to_numpy(), atol=TOL)


def test_both_aggregation_paths_equal_a_loop_over_the_cells():
    """Whole-period durations (aggregated by bincount) and the same durations shifted by half a
    period (aggregated by a group-by) against a plain loop over the (group, time) cells: counts,
    at risk, value sums and centred sums of squares (which keep their digits at mean 1e6, sd 10)."""
    rng = np.random.default_rng(13)
    df = _geometric_sample(rng, 5000, 0.08, 30).assign(
        g=rng.choice(["b", "a", "c"], 5000), m=rng.normal(1e6, 10, 5000)
    )
    for shift in (0.0, 0.5):
        d = df.assign(t=df["t"] + shift)
        lt = life_table(d, "t", "e", by="g", value_col="m")
        assert list(zip(lt["g"], lt["time"])) == sorted(set(zip(d["g"], d["t"])))
        for row in lt.itertuples(index=False):
            cell = d[(d["g"] == row.g) & (d["t"] == row.time)]
            ev, ce = cell.loc[cell["e"] == 1, "m"].to_numpy(), cell.loc[cell["e"] == 0, "m"].to_numpy()
            assert (row.events, row.censored) == (len(ev), len(ce))
            assert row.at_risk == int(((d["g"] == row.g) & (d["t"] >= row.time)).sum())
            for vals, total, m2 in ((ev, row.value_sum_events, row.value_m2_events),
                                    (ce, row.value_sum_censored, row.value_m2_censored)):
                assert total == pytest.approx(vals.sum(), rel=1e-12, abs=1e-9)
                assert m2 == pytest.approx(((vals - vals.mean()) ** 2).sum() if len(vals) else 0.0, rel=1e-6, abs=1e-9)


@pytest.mark.parametrize("tdtype", ["int16", "uint8", "uint64", "int64", "float64"])
@pytest.mark.parametrize("edtype", ["bool", "int8", "uint64", "float64"])
def test_column_types_give_the_same_life_table_and_lifelines_curve(tdtype, edtype):
    """Durations and flags stored as small, unsigned or 64-bit integers, booleans or floats (the bincount
    path reads integers and booleans as they are): the same counts and Kaplan-Meier curve as lifelines'
    on the same rows."""
    rng = np.random.default_rng(21)
    df = _geometric_sample(rng, 3000, 0.07, 40).assign(g=rng.choice(["b", "a"], 3000))
    typed = df.astype({"t": tdtype, "e": edtype})
    lt = life_table(typed, "t", "e", by="g")
    for g, part in lt.groupby("g"):
        rows = df[df["g"] == g]
        ref = survival_table_from_events(rows["t"], rows["e"])
        ref = ref[(ref["observed"] + ref["censored"]) > 0]
        assert part["time"].astype(float).tolist() == ref.index.astype(float).tolist()
        assert part["events"].tolist() == ref["observed"].tolist() and part["censored"].tolist() == ref["censored"].tolist()
        assert part["at_risk"].tolist() == ref["at_risk"].tolist()
        km = kaplan_meier(part.drop(columns="g").reset_index(drop=True))
        kmf = KaplanMeierFitter().fit(rows["t"], rows["e"])
        np.testing.assert_allclose(km.survival, kmf.survival_function_.loc[km.times].iloc[:, 0].to_numpy(), atol=TOL)


def test_missing_group_value_is_an_error():
    df = pd.DataFrame({"t": [1, 2, 3], "e": [1, 0, 1], "g": ["a", None, "b"]})
    with pytest.raises(DataError, match="missing"):
        life_table(df, "t", "e", by="g")
