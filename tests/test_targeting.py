"""Profit-optimal targeting: the next-wave list excludes every excluded customer, captures
most of the profit of targeting by the true effects, prices a conversion at its true value,
and bad input exits 2 with one line."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from uplift.cli import main
from uplift.targeting.evaluation import Interval
from uplift.spec import load_spec, parse_spec
from uplift.targeting.analyse import targeting_analysis
from uplift.targeting.profit import calibrate_uplift, profit_by_depth
from uplift.targeting.value import estimate_value_per_conversion

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "experiments" / "demo.toml"


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    import sklearn.ensemble  # noqa: F401
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1):
        yield


@pytest.fixture(scope="module")
def sim():
    from uplift.simulate import simulate

    return simulate(60_000, seed=21, arms={"control": 0.5, "offer": 0.5})


@pytest.fixture(scope="module")
def result(sim):
    spec = load_spec(DEMO)
    return targeting_analysis(spec, sim.population, sim.outcomes, "arm", "control", n_boot=100)


def test_next_wave_excludes_every_excluded_customer(sim, result):
    from uplift.experiment.assign import apply_exclusions

    spec = load_spec(DEMO)
    el = apply_exclusions(spec, sim.population)
    wave = result.next_wave
    converted = set(sim.outcomes.loc[sim.outcomes["converted"] == 1, "customer_id"])
    assert set(wave["customer_id"]) == set(el.eligible["customer_id"]) - converted
    assert not set(wave["customer_id"]) & converted  # bought in the test: never listed again
    assert result.excluded["converted_in_test"] == len(set(el.eligible["customer_id"]) & converted)
    listed = sim.population.set_index("customer_id").loc[wave["customer_id"]]
    # every rule of the demo spec, checked directly on the raw columns
    assert (listed["marketing_opt_out"] == 0).all()
    assert (listed["complaints_90d"] == 0).all()
    assert (listed["financial_stress"] == 0).all()
    assert (listed["holds_mortgage"] == 0).all()
    assert (listed["days_since_last_contact"] >= 30).all()
    assert sum(result.excluded.values()) == len(sim.population) - len(wave)
    assert list(wave.columns) == ["customer_id", "score", "decile", "expected_incremental_profit", "selected"]
    assert wave["expected_incremental_profit"].is_monotonic_decreasing
    assert set(wave["decile"]) == set(range(1, 11))
    assert wave["selected"].sum() == result.n_targeted == (wave["expected_incremental_profit"] > 0).sum()


def test_profit_targeting_captures_most_of_the_true_optimum(sim, result):
    """True profit of contacting i: true net-margin uplift - contact cost - incentive x P(convert | offer)."""
    o = sim.outcomes.set_index("customer_id")
    true_profit = (o["true_net_margin_uplift_offer"] - 1.5 - 20.0 * o["true_p_offer"]).loc[result.next_wave["customer_id"]].to_numpy()
    ours = true_profit[result.next_wave["selected"].to_numpy()].sum()
    oracle = true_profit[true_profit > 0].sum()
    print(f"profit capture: {ours / oracle:.3f} (ours {ours:,.0f}, oracle {oracle:,.0f}); model {result.model}; "
          f"best depth {result.best_depth:.2f} vs oracle {np.mean(true_profit > 0):.2f}")
    assert ours / oracle >= 0.80


def test_profit_interval_covers_the_true_profit_of_the_list(full, sim_size):
    """Truth: the sum of the true incremental profit of the customers the list selects."""
    from uplift.simulate import simulate

    spec = load_spec(DEMO)
    reps = sim_size(6, 60)
    hits = 0
    for r in range(reps):
        s = simulate(20_000, seed=300 + r, arms={"control": 0.5, "offer": 0.5})
        res = targeting_analysis(spec, s.population, s.outcomes, "arm", "control", n_boot=100, models=["solo"])
        o = s.outcomes.set_index("customer_id")
        sel = res.next_wave.loc[res.next_wave["selected"], "customer_id"]
        truth = float((o["true_net_margin_uplift_offer"] - 1.5 - 20.0 * o["true_p_offer"]).loc[sel].sum())
        hits += res.best_profit.low <= truth <= res.best_profit.high
    print(f"expected-profit interval coverage: {hits}/{reps}")
    assert hits / reps >= (0.66 if not full else 0.85)


def test_value_per_conversion_matches_the_simulation_truth(sim, result):
    """The value of a conversion is finance's, per incremental conversion: its truth is the mean true
    net-value uplift over the mean true conversion uplift (the Wald ratio's estimand)."""
    o = sim.outcomes
    true_v = o["true_net_margin_uplift_offer"].mean() / o["true_uplift_offer"].mean()
    v = result.value_per_conversion
    print(f"value per conversion {v.estimate:.1f} [{v.low:.1f}, {v.high:.1f}], truth {true_v:.1f}")
    assert v.low <= true_v <= v.high
    assert "finance's incremental net value per incremental conversion" in result.value_source


def test_result_is_json_ready_and_has_the_readout_keys(result):
    d = result.to_dict()
    json.dumps(d, allow_nan=False)
    for k in ("model", "models", "qini", "qini_ci", "random_score_qini", "best_depth", "expected_incremental_profit",
              "expected_incremental_profit_ci", "assumptions", "profit_curve"):
        assert k in d, k
    assert {m["model"] for m in d["models"]} == {"solo", "two_models", "class_transformation", "x_learner", "dr_learner"}
    assert d["assumptions"]["contact_cost"] == 1.5 and d["assumptions"]["incentive_cost"] == 20.0
    assert d["qini"] > d["random_score_qini"]["ci"][1]
    assert "customer_id" not in json.dumps(d)
    assert "Qini" in result.summary()


def test_plots_draw_on_given_axes(result):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(1, 2)
    assert result.plot_qini(ax[0]) is ax[0]
    assert result.plot_profit_by_depth(ax[1]) is ax[1]
    assert len(ax[1].lines) >= 3
    plt.close(fig)


def test_profit_by_depth_by_hand():
    """8 units, no ties. Top half (4 units: t=1,1,0,0 with y=1,0,0,0):
    uplift 0.5 - 0 = 0.5; per unit: 0.5 * 100 - 2 - 10 * 0.5 = 43; times share 0.5, times scale 10 = 215."""
    y = np.array([1, 0, 0, 0, 1, 0, 1, 0], float)
    t = np.array([1, 1, 0, 0, 1, 1, 0, 0], float)
    score = np.arange(8, 0, -1, dtype=float)
    v = Interval(100.0, 100.0, 100.0)
    point, low, high, _ = profit_by_depth(y, t, y, score, v, 2.0, 10.0, scale=10.0, n_boot=20, seed=0,
                                          depths=np.array([0.0, 0.5, 1.0]))
    assert point[0] == 0.0
    assert point[1] == pytest.approx(215.0)
    # all 8: treated 2/4, control 1/4 -> uplift 0.25; 0.25*100 - 2 - 10*0.5 = 18; share 1; scale 10 -> 180
    assert point[2] == pytest.approx(180.0)


def test_a_depth_without_control_units_has_no_interval_and_no_warning():
    """The top quarter holds treated units only, in the data and so in every resample: that depth's
    profit is undefined in every draw, its interval NaN (no numpy warning); the other depths keep theirs."""
    import warnings

    y = np.array([1, 0, 1, 1, 0, 0, 1, 0, 0, 1, 0, 0], float)
    t = np.array([1, 1, 1, 0, 1, 0, 1, 0, 0, 1, 0, 1], float)
    score = np.arange(12, 0, -1, dtype=float)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        point, low, high, draws = profit_by_depth(y, t, y, score, Interval(100.0, 90.0, 110.0), 1.0, 5.0, scale=100.0,
                                                  n_boot=30, seed=1, depths=np.array([0.25, 0.5, 1.0]))
    assert np.isnan(draws[:, 0]).all() and np.isnan(point[0]) and np.isnan(low[0]) and np.isnan(high[0])
    assert np.isfinite(low[1:]).all() and np.isfinite(high[1:]).all() and (low[1:] <= high[1:]).all()
    assert (low[2], high[2]) == pytest.approx((np.nanquantile(draws[:, 2], 0.025), np.nanquantile(draws[:, 2], 0.975)), rel=1e-12)


def test_profit_draws_equal_a_loop_over_the_same_resamples():
    """Every resample's profit at every depth, computed for all resamples at once, equals the formula
    evaluated resample by resample and depth by depth on the same counts and value draws (to 1e-12)."""
    from uplift.targeting.bootstrap import bootstrap_count_chunks

    rng = np.random.default_rng(4)
    n = 900
    t = (rng.random(n) < 0.6).astype(float)
    y = (rng.random(n) < 0.1 + 0.05 * t).astype(float)
    score = np.round(rng.normal(size=n), 1)
    unit_value = rng.gamma(3.0, 40.0, n)
    value = Interval(120.0, 100.0, 140.0, 0.9)
    depths = np.array([0.0, 0.1, 0.25, 0.5, 0.77, 1.0])
    _, low, high, draws = profit_by_depth(y, t, y, score, value, 1.5, 8.0, scale=5000.0, n_boot=25, seed=6,
                                          confidence=0.9, depths=depths, unit_value=unit_value)
    draw = np.random.default_rng(6)
    rel_se = (value.high - value.low) / (2 * 1.6448536269514722) / value.estimate
    order = np.argsort(-score, kind="stable")
    want = []
    for w in bootstrap_count_chunks(draw, t, 25):
        factors = 1.0 + rel_se * draw.standard_normal(len(w))
        for row, f in zip(w, factors):
            per_depth = []
            for d in depths:
                top = order[:int(round(d * n))]
                wt, wc = row[top] * t[top], row[top] * (1 - t[top])
                if not len(top):
                    per_depth.append(0.0)
                    continue
                up = (wt * y[top] * unit_value[top]).sum() / wt.sum() - (wc * y[top] * unit_value[top]).sum() / wc.sum()
                share = row[top].sum() / row.sum()
                per_depth.append(5000.0 * share * (up * f - 1.5 - 8.0 * (wt * y[top]).sum() / wt.sum()))
            want.append(per_depth)
    np.testing.assert_allclose(draws, np.array(want), rtol=1e-12, atol=1e-9)
    np.testing.assert_allclose(low, np.quantile(draws, 0.05, axis=0), rtol=1e-12)
    np.testing.assert_allclose(high, np.quantile(draws, 0.95, axis=0), rtol=1e-12)


def test_calibration_and_value_equal_numpy_least_squares():
    rng = np.random.default_rng(0)
    n = 5000
    x = rng.normal(size=n)
    t = (rng.random(n) < 0.7).astype(float)
    y = (rng.random(n) < 0.1 + t * (0.05 + 0.04 * x.clip(-1, 1))).astype(float)
    tau_hat = 0.05 + 0.03 * x
    cal = calibrate_uplift(y, t, tau_hat)
    e = t.mean()
    X = np.column_stack([np.ones(n), t - e, (t - e) * (tau_hat - tau_hat.mean())])
    beta = np.linalg.lstsq(X, y, rcond=None)[0]
    assert cal["ate"] == pytest.approx(beta[1], abs=1e-10)
    assert cal["slope"] == pytest.approx(beta[2], abs=1e-10)
    value = 50 + 200 * y + 30 * x + rng.normal(size=n)
    iv = estimate_value_per_conversion(value, y, np.column_stack([x, x]))  # duplicate column: rank-deficient
    b2 = np.linalg.lstsq(np.column_stack([np.ones(n), y, x]), value, rcond=None)[0]
    assert iv.estimate == pytest.approx(b2[1], abs=1e-8)


def _nested(inner: tuple[float, float], outer: tuple[float, float]) -> bool:
    return outer[0] <= inner[0] <= inner[1] <= outer[1]


def test_intervals_follow_the_spec_confidence():
    """[analysis] confidence = 0.90: every targeting interval is the 90% one built from the same
    standard error or the same bootstrap draws (same seeds) as at 95%, so it is narrower; the
    normal intervals are recomputed here from the 95% ones with scipy's quantiles."""
    from scipy.stats import norm

    from uplift.simulate import simulate

    s = simulate(12_000, seed=8, arms={"control": 0.5, "offer": 0.5})
    text = DEMO.read_text()
    assert "confidence" not in text.partition("[analysis]")[2].partition("[")[0]

    def run(level: float):
        spec = parse_spec(text.replace("[analysis]\n", f"[analysis]\nconfidence = {level}\n"), path=DEMO, label=str(DEMO))
        return targeting_analysis(spec, s.population, s.outcomes, "arm", "control", n_boot=60, models=["two_models"])

    r95, r90 = run(0.95), run(0.90)
    z95, z90 = norm.ppf(0.975), norm.ppf(0.95)
    # the same estimates
    assert r90.qini.estimate == r95.qini.estimate and r90.best_profit.estimate == r95.best_profit.estimate
    np.testing.assert_array_equal(r90.profit, r95.profit)
    # normal intervals: estimate +- z se, se from the 95% interval
    v95, v90 = r95.value_per_conversion, r90.value_per_conversion
    se = (v95.high - v95.low) / (2 * z95)
    assert v90.estimate == v95.estimate and v90.confidence == 0.90
    assert (v90.low, v90.high) == pytest.approx((v95.estimate - z90 * se, v95.estimate + z90 * se), rel=1e-12)
    c95, c90 = r95.calibration, r90.calibration
    se = (c95["slope_ci_high"] - c95["slope_ci_low"]) / (2 * z95)
    assert (c90["slope_ci_low"], c90["slope_ci_high"]) == pytest.approx((c95["slope"] - z90 * se, c95["slope"] + z90 * se), rel=1e-12)
    # bootstrap percentile intervals from the same draws: nested, and narrower
    d95, d90 = r95.to_dict(), r90.to_dict()
    pairs = [(d90["qini_ci"], d95["qini_ci"]), (d90["expected_incremental_profit_ci"], d95["expected_incremental_profit_ci"]),
             (d90["random_score_qini"]["ci"], d95["random_score_qini"]["ci"]), (d90["auuc"]["ci"], d95["auuc"]["ci"]),
             (d90["models"][0]["qini_ci"], d95["models"][0]["qini_ci"])]
    pairs += [(d90["uplift_at_k"][k]["ci"], d95["uplift_at_k"][k]["ci"]) for k in d95["uplift_at_k"]]
    pairs += [((a["boot_low"], a["boot_high"]), (b["boot_low"], b["boot_high"])) for a, b in zip(d90["deciles"], d95["deciles"])]
    pairs += [((lo, hi), (lo95, hi95)) for lo, hi, lo95, hi95 in zip(r90.profit_low, r90.profit_high, r95.profit_low, r95.profit_high)
              if np.isfinite([lo, hi, lo95, hi95]).all()]
    assert all(_nested(tuple(a), tuple(b)) for a, b in pairs)
    for key in ("qini_ci", "expected_incremental_profit_ci"):
        assert d90[key][1] - d90[key][0] < d95[key][1] - d95[key][0]
    assert (np.asarray(r90.profit_high) - r90.profit_low)[1:].sum() < (np.asarray(r95.profit_high) - r95.profit_low)[1:].sum()
    # the deciles' normal intervals: uplift +- z se
    for a, b in zip(d90["deciles"], d95["deciles"]):
        se = (b["ci_high"] - b["ci_low"]) / (2 * z95)
        assert (a["ci_low"], a["ci_high"]) == pytest.approx((b["uplift"] - z90 * se, b["uplift"] + z90 * se), rel=1e-9)
    assert d90["random_score_qini"]["confidence"] == 0.90 and r90.best_profit.confidence == 0.90
    assert "90% CI" in r90.summary() and "95% CI" in r95.summary()


def test_qini_and_profit_intervals_at_90_percent_are_the_bootstrap_quantiles():
    """The Qini interval at 90%: the 5% and 95% quantiles of scikit-uplift's Qini coefficient on the
    same stratified resamples (drawn here as the evaluation draws them); the profit interval: the
    same quantiles of the profit draws."""
    from uplift.targeting import sklift_adapter
    from uplift.targeting.evaluation import evaluate_uplift

    rng = np.random.default_rng(0)
    n = 3000
    x = rng.normal(size=n)
    t = (rng.random(n) < 0.5).astype(float)
    y = (rng.random(n) < 0.1 + 0.05 * t * (x > 0)).astype(float)
    score = x + rng.normal(size=n)
    e90 = evaluate_uplift(y, score, t, n_boot=40, seed=3, confidence=0.90, random_baseline=False)
    from uplift.targeting.bootstrap import bootstrap_count_chunks

    qini = []
    for w in bootstrap_count_chunks(np.random.default_rng(3), t, 40):
        for row in w:  # each resample: every unit repeated as often as it was drawn
            idx = np.repeat(np.arange(n), row.astype(int))
            qini.append(sklift_adapter.metrics().qini_auc_score(y[idx], score[idx], t[idx]))
    assert (e90.qini.low, e90.qini.high) == pytest.approx(tuple(np.quantile(qini, [0.05, 0.95])), rel=1e-9)
    point, low, high, draws = profit_by_depth(y, t, y, score, Interval(100.0, 90.0, 110.0, 0.90), 1.0, 5.0, scale=1000.0,
                                              n_boot=50, seed=1, confidence=0.90)
    finite = np.isfinite(draws).all(axis=0)
    np.testing.assert_allclose(low[finite], np.quantile(draws[:, finite], 0.05, axis=0), rtol=1e-12)
    np.testing.assert_allclose(high[finite], np.quantile(draws[:, finite], 0.95, axis=0), rtol=1e-12)


# --------------------------------------------------------------------------- CLI and bad input


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    from uplift.simulate import simulate

    d = tmp_path_factory.mktemp("target")
    s = simulate(6000, seed=5, arms={"control": 0.5, "offer": 0.5})
    s.population.to_parquet(d / "population.parquet")
    s.outcomes.to_parquet(d / "outcomes.parquet")
    return d, s


def _spec(tmp: Path, extra: str = "", targeting: str = 'outcome = "converted"') -> Path:
    text = DEMO.read_text()
    head, _, _ = text.partition("[targeting]")
    body = head + "[targeting]\nfeatures = [\"segment\", \"products_held\", \"balance\"]\n" + targeting + "\nn_bootstrap = 20\n" + extra
    p = tmp / "spec.toml"
    p.write_text(body)
    return p


def _run(capsys, argv):
    code = main(argv)
    err = capsys.readouterr().err
    return code, err


def test_cli_writes_the_next_wave_list(files, capsys):
    d, s = files
    spec = _spec(d)
    out = d / "wave.csv"
    code = main(["target", str(spec), "--outcomes", str(d / "outcomes.parquet"), "--population",
                 str(d / "population.parquet"), "--out", str(out), "--quiet"])
    assert code == 0
    wave = pd.read_csv(out)
    pop = s.population.set_index("customer_id").loc[wave["customer_id"]]
    assert (pop["holds_mortgage"] == 0).all() and (pop["marketing_opt_out"] == 0).all()
    assert "best depth" in capsys.readouterr().out


def test_cli_binary_metric_given_a_revenue_column_exits_2(files, capsys, tmp_path):
    d, _ = files
    spec = _spec(tmp_path, targeting='outcome = "revenue_12m"',
                 extra="")
    text = spec.read_text().replace('column = "converted"\nprimary = true', 'column = "revenue_12m"\nprimary = true')
    spec.write_text(text)
    out = tmp_path / "wave.parquet"
    code, err = _run(capsys, ["target", str(spec), "--outcomes", str(d / "outcomes.parquet"), "--population",
                              str(d / "population.parquet"), "--out", str(out)])
    assert code == 2 and err.count("\n") == 1 and "revenue_12m" in err and "binary" in err, err
    assert not out.exists()


def test_cli_one_arm_only_exits_2(files, capsys, tmp_path):
    d, s = files
    only = s.outcomes[s.outcomes["arm"] == "offer"]
    only.to_parquet(tmp_path / "o.parquet")
    out = tmp_path / "wave.parquet"
    code, err = _run(capsys, ["target", str(_spec(tmp_path)), "--outcomes", str(tmp_path / "o.parquet"), "--population",
                              str(d / "population.parquet"), "--out", str(out)])
    assert code == 2 and err.count("\n") == 1 and "control" in err, err
    assert not out.exists()


def test_cli_no_treated_customers_in_a_split_exits_2(files, capsys, tmp_path):
    d, s = files
    o = s.outcomes.copy()
    treated = np.flatnonzero((o["arm"] == "offer").to_numpy())
    o = o.drop(index=treated[2:]).reset_index(drop=True)  # two treated customers left: some split gets none
    o.to_parquet(tmp_path / "o.parquet")
    out = tmp_path / "wave.parquet"
    code, err = _run(capsys, ["target", str(_spec(tmp_path)), "--outcomes", str(tmp_path / "o.parquet"), "--population",
                              str(d / "population.parquet"), "--out", str(out)])
    assert code == 2 and err.count("\n") == 1 and "no treated customers" in err, err
    assert not out.exists()


def test_spec_errors_are_one_line(files, tmp_path):
    from uplift.errors import SpecError

    d, s = files
    spec = parse_spec(_spec(tmp_path, targeting='outcome = "converted"\nmodel = "forest"').read_text(), label="x.toml")
    with pytest.raises(SpecError, match=r"\[targeting\] model = 'forest' is unknown"):
        targeting_analysis(spec, s.population, s.outcomes, "arm", "control")
    spec = parse_spec(_spec(tmp_path).read_text().replace('features = ["segment", "products_held", "balance"]',
                                                          'features = ["segment", "no_such_column"]'), label="x.toml")
    with pytest.raises(Exception, match="no_such_column"):
        targeting_analysis(spec, s.population, s.outcomes, "arm", "control")


def test_large_tests_fit_on_a_capped_sample_but_score_everyone():
    """Above [targeting] max_customers the models see a seeded sample; the list still covers every eligible customer."""
    from uplift.simulate import simulate

    small = simulate(12_000, seed=5, arms={"control": 0.5, "offer": 0.5})
    spec = parse_spec(DEMO.read_text().replace("holdout_share = 0.3", "holdout_share = 0.3\nmax_customers = 6000"),
                      path=DEMO, label=str(DEMO))
    res = targeting_analysis(spec, small.population, small.outcomes, "arm", "control", n_boot=20, models=["solo"])
    d = res.to_dict()
    assert any("random sample of 6,000 of 12,000" in n for n in d["notes"])
    assert d["n_fit"] + d["n_select"] + d["n_holdout"] == 6000
    assert len(res.next_wave) == d["eligible"]["eligible"]  # every eligible customer scored, not only the sample
    assert d["eligible"]["eligible"] + sum(d["eligible"]["excluded"].values()) == 12_000


def test_value_of_a_conversion_from_incremental_clv(sim):
    """[targeting] value = "clv": V = incremental CLV / incremental conversion rate, recomputed independently."""
    from uplift.clv.analyse import clv_analysis
    from uplift.targeting.value import clv_value_per_conversion

    spec = parse_spec(DEMO.read_text().replace('value = "margin"', 'value = "clv"'), path=DEMO, label=str(DEMO))
    assert spec.targeting.value == "clv"
    o = sim.outcomes
    y = o["converted"].to_numpy(float)
    t = (o["arm"] == "offer").to_numpy(int)
    v = clv_value_per_conversion(spec, o, "arm", "control", "offer", y, t)
    inc = clv_analysis(spec, o, "arm", "control").to_dict()["incremental"]["offer"]["clv"]
    assert v.estimate == pytest.approx(inc / (y[t == 1].mean() - y[t == 0].mean()), rel=1e-12)
    truth = sim.truth.clv["incremental"]["offer"] / sim.truth.ate["offer"]["converted"]
    assert v.low < truth < v.high
    no_clv = parse_spec(DEMO.read_text().split("[clv]")[0] + "[targeting]\nfeatures = [\"segment\"]\nvalue = \"clv\"\n",
                        path=DEMO, label=str(DEMO))
    with pytest.raises(Exception, match=r"needs a \[clv\] section"):
        clv_value_per_conversion(no_clv, o, "arm", "control", "offer", y, t)
