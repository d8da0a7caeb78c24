"""CLV uplift: retention models, discounting, CLV per arm, incremental CLV and its interval.

Checked against: published sBG estimates (Fader & Hardie 2007), direct row-level sums,
lifelines' Kaplan-Meier pieces, closed-form truths of simulated sBG / Weibull
processes, ``uplift.simulate.true_clv`` (coverage over runs), and a bootstrap
stratified by arm.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from scipy import special

from uplift.clv.analyse import bootstrap_incremental_clv, clv_analysis, clv_from_life_table
from uplift.clv.discounting import discount_factors, period_discount_rate
from uplift.clv.models import DiscreteWeibull, ShiftedBetaGeometric, derl_sbg
from uplift.errors import DataError, SpecError, UserError
from uplift.simulate import simulate, true_clv
from uplift.spec import load_spec, parse_spec
from uplift.survival.estimators import life_table

DEMO = "experiments/demo.toml"


def _spec(clv_lines: str = "", extra: str = ""):
    text = (
        '[experiment]\nname = "t"\nunit = "customer_id"\n'
        '[assignment]\nsalt = "s"\narms = { control = 0.5, offer = 0.5 }\ncontrol = "control"\n'
        '[clv]\ntenure_column = "tenure_months"\nchurned_column = "churned"\n'
        'margin_per_period_column = "monthly_margin"\n' + clv_lines + extra
    )
    return parse_spec(text, label="t.toml")


def _table(t, e):
    """(times, at_risk, events) of periods 1..max from integer tenures and churn flags."""
    k = int(t.max())
    d = np.bincount(t[e.astype(bool)], minlength=k + 1)[1:]
    n = np.bincount(t, minlength=k + 1)[::-1].cumsum()[::-1][1:]
    return np.arange(1, k + 1), n, d


def _sbg_sample(rng, n, a, b, lo=6, hi=24):
    q = rng.beta(a, b, n)
    life = rng.geometric(q)
    cut = rng.integers(lo, hi + 1, n)
    return np.minimum(life, cut), (life <= cut).astype(int)


# --------------------------------------------------------------------------- discounting


def test_period_rate_and_discount_grid():
    d = period_discount_rate(0.08, 12)
    assert d == pytest.approx(1.08 ** (1 / 12) - 1, rel=1e-15)
    assert (1 + d) ** 12 == pytest.approx(1.08, rel=1e-14)
    t, v = discount_factors(3, 0.01, "end")
    assert t.tolist() == [1, 2, 3]
    np.testing.assert_allclose(v, [1 / 1.01, 1 / 1.01**2, 1 / 1.01**3], rtol=1e-15)
    t, v = discount_factors(3, 0.01, "start")
    assert t.tolist() == [0, 1, 2] and v[0] == 1.0


# --------------------------------------------------------------------------- retention models


@pytest.mark.parametrize(
    "survivors,alpha,beta,ll",
    [
        ([1000, 869, 743, 653, 593, 551, 517, 491], 0.668, 3.806, -1611.2),  # "high end"
        ([1000, 631, 468, 382, 326, 289, 262, 241], 0.704, 1.182, -1680.3),  # "regular"
    ],
)
def test_sbg_reproduces_fader_hardie_2007(survivors, alpha, beta, ll):
    """Published MLEs for the two cohorts of Fader & Hardie (2007), 'How to Project Customer Retention'."""
    s = np.array(survivors, dtype=float)
    m = ShiftedBetaGeometric().fit(np.arange(1, 8), s[:-1], -np.diff(s))
    assert m.params_["alpha"] == pytest.approx(alpha, abs=5e-4)
    assert m.params_["beta"] == pytest.approx(beta, abs=5e-4)
    assert m.loglik_ == pytest.approx(ll, abs=0.05)


def test_sbg_recovers_known_parameters_and_its_intervals_cover(full):
    rng = np.random.default_rng(11)
    a, b = 0.8, 4.0
    t, e = _sbg_sample(rng, 100_000, a, b)
    m = ShiftedBetaGeometric().fit(*_table(t, e))
    assert m.converged_
    assert abs(m.params_["alpha"] - a) < 3 * m.se_[0] and abs(m.params_["beta"] - b) < 3 * m.se_[1]
    assert m.params_["alpha"] == pytest.approx(a, rel=0.05) and m.params_["beta"] == pytest.approx(b, rel=0.08)
    runs = 400 if full else 100
    hits = np.zeros(2)
    for _ in range(runs):
        t, e = _sbg_sample(rng, 5000, a, b)
        f = ShiftedBetaGeometric().fit(*_table(t, e))
        # Wald intervals on the working scale (logit p, kappa) are the ones with good coverage
        p_true, k_true = a / (a + b), 1 / (a + b)
        se = np.sqrt(np.diag(f.cov_theta_))
        hits += np.abs(f.theta_ - [special.logit(p_true), k_true]) < 1.96 * se
    assert np.all(hits / runs >= 0.90), hits / runs


@pytest.mark.parametrize("scale,shape", [(12.0, 0.7), (20.0, 1.6)])
def test_weibull_recovers_known_parameters(scale, shape):
    rng = np.random.default_rng(5)
    n = 100_000
    life = np.maximum(np.ceil(scale * rng.weibull(shape, n)).astype(int), 1)
    cut = rng.integers(6, 25, n)
    t, e = np.minimum(life, cut), (life <= cut).astype(int)
    m = DiscreteWeibull().fit(*_table(t, e))
    assert m.converged_
    assert abs(m.params_["scale"] - scale) < 3 * m.se_[0]
    assert abs(m.params_["shape"] - shape) < 3 * m.se_[1]
    assert m.params_["shape"] == pytest.approx(shape, rel=0.03)


def test_sbg_geometric_limit_is_handled():
    """Homogeneous churn: the sBG MLE sits at the geometric boundary (alpha, beta -> inf)."""
    rng = np.random.default_rng(3)
    life = rng.geometric(0.05, 50_000)
    cut = rng.integers(6, 25, 50_000)
    t, e = np.minimum(life, cut), (life <= cut).astype(int)
    m = ShiftedBetaGeometric().fit(*_table(t, e))
    p = 1 - m.survival(1)
    assert p == pytest.approx(0.05, abs=0.002)
    if not m.free_[1]:
        assert m.to_dict()["params"]["alpha"] is None
        assert m.derl(np.array([1]), 0.01)[0] == pytest.approx((1 - p) * 1.01 / (0.01 + p), rel=1e-12)


def test_derl_matches_direct_sum():
    a, b, d = 0.668, 3.806, 0.10
    t = np.arange(0, 4000)
    s = np.exp(special.betaln(a, b + t) - special.betaln(a, b))
    for n in (1, 2, 5, 10):
        direct = sum(s[k] / s[n - 1] / (1 + d) ** (k - n) for k in range(n, 4000))
        assert derl_sbg(a, b, n, d) == pytest.approx(direct, rel=1e-6)


def test_auto_extrapolation_picks_the_generating_family():
    rng = np.random.default_rng(8)
    frames = []
    for arm in ("control", "offer"):
        t, e = _sbg_sample(rng, 40_000, 0.7, 3.0, 12, 24)
        frames.append(pd.DataFrame({"arm": arm, "t": t, "e": e}))
    res = clv_from_life_table(life_table(pd.concat(frames), "t", "e", by="arm"), "arm", "control")
    assert res.family == "sbg"
    frames = []
    for arm in ("control", "offer"):
        life = np.maximum(np.ceil(30 * rng.weibull(1.8, 40_000)).astype(int), 1)
        cut = rng.integers(12, 25, 40_000)
        frames.append(pd.DataFrame({"arm": arm, "t": np.minimum(life, cut), "e": (life <= cut).astype(int)}))
    res = clv_from_life_table(life_table(pd.concat(frames), "t", "e", by="arm"), "arm", "control")
    assert res.family == "weibull"


# --------------------------------------------------------------------------- the CLV estimator


def test_without_censoring_clv_and_variance_equal_the_row_level_mean_and_variance():
    """No censoring, horizon inside the data: CLV = mean_i m_i sum_t v^t 1{T_i > t} exactly, and the
    delta-method variance equals the sample variance of that per-customer sum / N (it is linear)."""
    rng = np.random.default_rng(2)
    frames = []
    for arm, q in (("control", 0.08), ("offer", 0.06)):
        n = 3000
        life = np.minimum(rng.geometric(q, n), 200)
        m = rng.lognormal(2, 1, n) - 3 + 2 * (life > 20)  # margin correlated with lifetime, some negative
        frames.append(pd.DataFrame({"arm": arm, "t": life, "e": 1, "m": m}))
    df = pd.concat(frames, ignore_index=True)
    lt = life_table(df, "t", "e", by="arm", value_col="m")
    for timing in ("end", "start"):
        res = clv_from_life_table(lt, "arm", "control", horizon_periods=36, annual_discount_rate=0.1,
                                  periods_per_year=12, margin_timing=timing)
        grid, v = discount_factors(36, 1.1 ** (1 / 12) - 1, timing)
        for arm, sub in df.groupby("arm"):
            y = sub["m"].to_numpy()[:, None] * (sub["t"].to_numpy()[:, None] > grid[None, :]) @ v
            r = res.arms[arm]
            assert r.clv == pytest.approx(y.mean(), rel=1e-10)
            assert r.tail_part == 0.0
            assert r.se == pytest.approx(np.sqrt(y.var(ddof=0) / len(y)), rel=1e-6)


def test_constant_margin_variance_is_greenwood_type():
    """Margin 1 per period, censoring: CLV = sum_t v^t S(t) with the generalised Greenwood variance
    sum_j A_j^2 d_j / (n_j (n_j - d_j)), A_j = sum_{t >= j} v^t S(t), from lifelines' KM pieces."""
    from lifelines import KaplanMeierFitter

    rng = np.random.default_rng(4)
    t, e = _sbg_sample(rng, 5000, 1.0, 6.0, 10, 30)
    t2, e2 = _sbg_sample(rng, 5000, 1.0, 8.0, 10, 30)
    df = pd.DataFrame({"arm": ["control"] * 5000 + ["offer"] * 5000, "t": np.r_[t, t2], "e": np.r_[e, e2]})
    res = clv_from_life_table(life_table(df, "t", "e", by="arm"), "arm", "control", horizon_periods=24,
                              annual_discount_rate=0.08, periods_per_year=12)
    grid, v = discount_factors(24, 1.08 ** (1 / 12) - 1, "end")
    sub = df[df["arm"] == "control"]
    kmf = KaplanMeierFitter().fit(sub["t"], sub["e"])
    s = kmf.predict(grid.astype(float)).to_numpy()
    assert res.arms["control"].clv == pytest.approx(float(v @ s), rel=1e-10)
    et = kmf.event_table
    var = 0.0
    for j, row in et.iterrows():
        if 1 <= j <= 24 and row["observed"] > 0:
            a = float(v[grid >= j] @ s[grid >= j])
            var += a**2 * row["observed"] / (row["at_risk"] * (row["at_risk"] - row["observed"]))
    assert res.arms["control"].se == pytest.approx(np.sqrt(var), rel=1e-6)


def test_extrapolated_clv_recovers_known_sbg_truth():
    """Constant margin, sBG lifetimes observed for 24 periods, horizon 60: the true CLV is
    sum_{t=1}^{60} v^t B(a, b + t) / B(a, b)."""
    rng = np.random.default_rng(9)
    params = {"control": (0.9, 5.0), "offer": (0.9, 7.0)}
    frames = []
    for arm, (a, b) in params.items():
        t, e = _sbg_sample(rng, 60_000, a, b, 13, 24)
        frames.append(pd.DataFrame({"arm": arm, "t": t, "e": e}))
    res = clv_from_life_table(life_table(pd.concat(frames), "t", "e", by="arm"), "arm", "control",
                              extrapolation="sbg")
    grid, v = discount_factors(60, 1.08 ** (1 / 12) - 1, "end")
    truth = {arm: float(v @ np.exp(special.betaln(a, b + grid) - special.betaln(a, b))) for arm, (a, b) in params.items()}
    for arm, r in res.arms.items():
        assert abs(r.clv - truth[arm]) < 3 * r.se, (arm, r.clv, truth[arm], r.se)
        assert 0 < r.share_tail < 1
    inc = res.incremental[0]
    assert abs(inc.estimate - (truth["offer"] - truth["control"])) < 3 * inc.se


def _sim_clv(n, seed, timing="end"):
    sim = simulate(n, seed=seed)
    lt = life_table(sim.outcomes, "tenure_months", "churned", by="arm", value_col="monthly_margin",
                    integer_durations=True)
    res = clv_from_life_table(lt, "arm", "control", margin_timing=timing)
    truth = true_clv(sim.outcomes, "control", ["control", "offer"], margin_timing=timing)
    return sim, res, truth


@pytest.mark.parametrize("timing", ["end", "start"])
def test_large_simulation_is_unbiased_against_true_clv(timing):
    _, res, truth = _sim_clv(400_000, 123, timing)
    for arm, r in res.arms.items():
        assert abs(r.clv - truth["clv"][arm]) < 3 * r.se, (arm, r.clv, truth["clv"][arm], r.se)
    inc = res.incremental[0]
    assert abs(inc.estimate - truth["incremental"]["offer"]) < 3 * inc.se


def test_incremental_clv_interval_covers_the_truth(full):
    """95% intervals of incremental CLV cover simulate's true value in >= 93% of 200 runs (--full);
    reduced to 40 runs by default (threshold 85%: P(fail | 95% coverage) < 0.01)."""
    runs = 200 if full else 40
    hits = 0
    z = []
    for r in range(runs):
        _, res, truth = _sim_clv(20_000, 1000 + r)
        inc = res.incremental[0]
        tr = truth["incremental"]["offer"]
        hits += inc.lower <= tr <= inc.upper
        z.append((inc.estimate - tr) / inc.se)
    cover = hits / runs
    print(f"incremental CLV coverage {cover:.3f} over {runs} runs; mean z {np.mean(z):.3f}, sd z {np.std(z):.3f}")
    assert cover >= (0.93 if full else 0.85)
    assert abs(np.mean(z)) < 3 / np.sqrt(runs) + 0.1


def test_delta_method_se_agrees_with_stratified_bootstrap():
    sim, res, _ = _sim_clv(20_000, 77)
    boot = bootstrap_incremental_clv(sim.outcomes, "arm", "control", "tenure_months", "churned", "monthly_margin",
                                     family=res.family, n_boot=200, seed=1)
    ratio = res.incremental[0].se / np.std(boot["offer"], ddof=1)
    print(f"delta-method SE / bootstrap SE = {ratio:.3f}")
    assert 0.85 <= ratio <= 1.15
    for arm in ("control", "offer"):
        assert 0.85 <= res.arms[arm].se / np.std(boot[f"{arm}_clv"], ddof=1) <= 1.15


# --------------------------------------------------------------------------- the readout entry point


@pytest.fixture(scope="module")
def demo():
    spec = load_spec(DEMO)
    sim = simulate(30_000, seed=3, arms={"control": 0.3, "offer": 0.7})
    return spec, sim, clv_analysis(spec, sim.outcomes)


def test_clv_analysis_on_the_demo_spec(demo):
    spec, sim, res = demo
    d = res.to_dict()
    json.dumps(d, allow_nan=False)
    assert set(d["arms"]) == {"control", "offer"}
    for a in d["arms"].values():
        assert a["clv"] == pytest.approx(a["observed_part"] + a["extrapolated_part"])
        assert a["share_observed"] + a["share_extrapolated"] == pytest.approx(1.0)
        assert a["rmst_se"] > 0 and a["rmst"] > 0 and a["model"] in ("sBG", "Weibull")
        assert a["survival_model"]["model"] == a["model"] and a["survival_model"]["params"]
        assert a["derl"]["mean_derl_periods"] > 0
    inc = d["incremental"]["offer"]
    assert inc["ci"][0] < inc["clv"] < inc["ci"][1]
    assert inc["eligible_population"] == 30_000  # no [economics] eligible_population in the demo
    assert inc["population"] == pytest.approx(inc["clv"] * 30_000)
    assert (d["annual_discount_rate"], d["periods_per_year"], d["horizon_periods"], d["margin_timing"]) == (0.08, 12, 60, "end")
    assert d["period_discount_rate"] == pytest.approx(1.08 ** (1 / 12) - 1)
    assert "margin" in d["method"] and d["extrapolation"]["chosen"] in ("sbg", "weibull")
    assert 0 <= d["logrank"]["p_value"] <= 1
    rbp = d["retention_by_products"]
    assert rbp["4+"]["survival_at_last_period"] > rbp["1"]["survival_at_last_period"]
    text = res.summary()
    assert "Incremental CLV offer vs control" in text and "tail" in text


def test_plots_draw(demo):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    _, _, res = demo
    fig, axes = plt.subplots(1, 3)
    res.plot_survival(axes[0])
    res.plot_cumulative_value(axes[1])
    res.plot_retention_by_products(axes[2])
    assert len(axes[0].lines) >= 2 and len(axes[1].lines) >= 2 and len(axes[2].lines) >= 4
    plt.close(fig)


def test_eligible_population_from_the_spec(demo):
    _, sim, _ = demo
    spec = _spec(extra="[economics]\neligible_population = 250000\n")
    res = clv_analysis(spec, sim.outcomes)
    inc = res.to_dict()["incremental"]["offer"]
    assert inc["eligible_population"] == 250_000
    assert inc["population_ci"][0] == pytest.approx(inc["ci"][0] * 250_000)


def test_no_extrapolation_truncates_and_says_so(demo):
    _, sim, _ = demo
    res = clv_analysis(_spec('extrapolation = "none"\n'), sim.outcomes)
    assert all(r.tail_part == 0 for r in res.arms.values())
    assert any("No extrapolation" in n for n in res.notes)


# --------------------------------------------------------------------------- bad input


def _bad(outcomes, **changes):
    o = outcomes.copy()
    for col, fn in changes.items():
        o[col] = fn(o[col])
    return o


@pytest.mark.parametrize(
    "change,match",
    [
        ({"tenure_months": lambda s: s.where(s.index != 5, -3)}, "negative"),
        ({"churned": lambda s: s.where(s.index != 5, 2)}, "0 or 1"),
        ({"tenure_months": lambda s: s.astype(float).where(s.index != 5, 2.5)}, "whole periods|non-integer"),
        ({"monthly_margin": lambda s: s.where(s.index != 5, np.nan)}, "missing"),
        ({"arm": lambda s: s.astype(str).where(s.astype(str) != "offer", "control")}, "nobody at risk"),
    ],
)
def test_bad_data_gives_one_line_error(demo, change, match):
    _, sim, _ = demo
    with pytest.raises(DataError, match=match) as info:
        clv_analysis(_spec(), _bad(sim.outcomes, **change))
    assert "\n" not in str(info.value)


def test_arm_with_nobody_at_risk_in_period_1():
    df = pd.DataFrame({"arm": ["control"] * 50 + ["offer"] * 50, "tenure_months": [3] * 50 + [0] * 50,
                       "churned": [1, 0] * 50, "monthly_margin": 1.0})
    with pytest.raises(DataError, match="nobody at risk"):
        clv_analysis(_spec(), df)


@pytest.mark.parametrize(
    "line,match",
    [("annual_discount_rate = -1.0\n", "annual_discount_rate"), ("annual_discount_rate = -2\n", "annual_discount_rate"),
     ("horizon_periods = 0\n", "horizon_periods"), ('margin_timing = "middle"\n', "margin_timing")],
)
def test_bad_spec_values_give_one_line_error(line, match):
    with pytest.raises(SpecError, match=match) as info:
        _spec(line)
    assert "\n" not in str(info.value)


def test_bad_settings_through_the_python_api():
    lt = pd.DataFrame({"arm": ["control", "offer"], "time": [3.0, 3.0], "at_risk": [5, 5], "events": [2, 2],
                       "censored": [3, 3]})
    for kwargs, match in (({"annual_discount_rate": -1.0}, "annual_discount_rate"), ({"horizon_periods": 0}, "horizon"),
                          ({"margin_timing": "x"}, "margin_timing")):
        with pytest.raises(UserError, match=match):
            clv_from_life_table(lt, "arm", "control", **kwargs)


def test_clv_analysis_bootstrap_check_is_reported(demo):
    spec, sim, res = demo
    boot = clv_analysis(spec, sim.outcomes, n_bootstrap=100, seed=2)
    inc = boot.to_dict()["incremental"]["offer"]
    assert inc["clv"] == pytest.approx(res.incremental[0].estimate)
    assert 0.8 <= inc["se"] / inc["bootstrap_se"] <= 1.25


@pytest.mark.filterwarnings("ignore::UserWarning")
@pytest.mark.filterwarnings("ignore::lifelines.exceptions.StatisticalWarning")
def test_observed_value_curve_is_lifelines_weighted_kaplan_meier():
    """Censored data, positive margins correlated with lifetime: V(t) = mean margin x the
    margin-weighted Kaplan-Meier curve (lifelines KaplanMeierFitter with weights)."""
    from lifelines import KaplanMeierFitter

    rng = np.random.default_rng(21)
    n = 4000
    frames = []
    for arm, a, b in (("control", 1.0, 5.0), ("offer", 1.0, 7.0)):
        q = rng.beta(a, b, n)
        life = rng.geometric(q)
        cut = rng.integers(10, 31, n)
        m = rng.lognormal(1, 0.8, n) * (1 + 3 * (q < 0.1))  # loyal customers earn more
        frames.append(pd.DataFrame({"arm": arm, "t": np.minimum(life, cut), "e": (life <= cut).astype(int), "m": m}))
    df = pd.concat(frames, ignore_index=True)
    res = clv_from_life_table(life_table(df, "t", "e", by="arm", value_col="m"), "arm", "control", horizon_periods=30,
                              annual_discount_rate=0.1, periods_per_year=12)
    grid, v = discount_factors(30, 1.1 ** (1 / 12) - 1, "end")
    for arm, sub in df.groupby("arm"):
        kmf = KaplanMeierFitter().fit(sub["t"], sub["e"], weights=sub["m"])
        expected = sub["m"].mean() * float(v @ kmf.predict(grid.astype(float)).to_numpy())
        assert res.arms[arm].clv == pytest.approx(expected, rel=1e-9)
        assert res.arms[arm].tail_part == 0.0


def test_bootstrap_check_from_the_spec(demo):
    _, sim, _ = demo
    res = clv_analysis(_spec("n_bootstrap = 30\n"), sim.outcomes)
    assert res.incremental[0].bootstrap_se > 0
    with pytest.raises(SpecError, match="n_bootstrap"):
        _spec("n_bootstrap = -1\n")


def test_retention_by_products_matches_lifelines_per_bucket(demo):
    from lifelines import KaplanMeierFitter

    from uplift.clv.analyse import retention_by_products

    _, sim, _ = demo
    o = sim.outcomes
    curves = retention_by_products(o, "tenure_months", "churned", "products_held")
    assert list(curves) == ["1", "2", "3", "4+"]
    for label, mask in (("1", o["products_held"] == 1), ("4+", o["products_held"] >= 4)):
        kmf = KaplanMeierFitter().fit(o.loc[mask, "tenure_months"], o.loc[mask, "churned"])
        km = curves[label]
        np.testing.assert_allclose(km.survival, kmf.survival_function_.loc[km.times].iloc[:, 0], atol=1e-10)


def test_small_cells_are_left_out_of_the_results(demo):
    spec, sim, _ = demo
    small = sim.outcomes.iloc[:3000]
    res = clv_analysis(_spec(extra="[analysis]\nmin_cell_size = 200\n"), small)
    for arm in res.to_dict()["arms"].values():
        assert min(arm["survival_curve"]["at_risk"]) >= 200
    assert all(r.km.at_risk.min() < 200 for r in res.arms.values())  # there were small periods to drop
