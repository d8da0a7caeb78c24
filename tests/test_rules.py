"""Association rules (support, confidence, lift, candidates) checked by hand and by brute force;
the propensity model's AUC against scipy's Mann-Whitney U and its gains table by hand."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.stats import mannwhitneyu

from uplift.cli import main
from uplift.errors import DataError
from uplift.targeting.rules import association_rules, gains_table, propensity_model, rule_candidates

HELD = {
    1: ["checking", "visa_gold", "mortgage"],
    2: ["checking", "visa_gold"],
    3: ["checking", "visa_gold", "mortgage"],
    4: ["checking"],
    5: ["checking", "savings"],
    6: ["checking", "savings", "mortgage"],
    7: ["checking", "visa_gold"],
    8: ["checking", "savings"],
}
PRODUCTS = ["checking", "savings", "visa_gold", "mortgage"]


def _wide() -> pd.DataFrame:
    rows = [{"customer_id": u, **{f"holds_{p}": int(p in held) for p in PRODUCTS}} for u, held in HELD.items()]
    return pd.DataFrame(rows)


def _long() -> pd.DataFrame:
    return pd.DataFrame([(u, p) for u, held in HELD.items() for p in held], columns=["customer_id", "product"])


def _rule(res, body, head):
    r = res.rules[(res.rules["body"] == body) & (res.rules["head"] == head)]
    assert len(r) == 1, (body, head)
    return r.iloc[0]


def test_rules_by_hand():
    """8 customers: 4 hold VISA Gold, 3 a mortgage, 2 both."""
    res = association_rules(_wide(), min_support=0.0)
    r = _rule(res, "visa_gold", "mortgage")
    assert r.support == pytest.approx(2 / 8)
    assert r.confidence == pytest.approx(2 / 4)
    assert r.lift == pytest.approx((2 / 4) / (3 / 8))
    assert r.leverage == pytest.approx(2 / 8 - (4 / 8) * (3 / 8))
    assert r.candidates == 2
    r = _rule(res, "mortgage", "visa_gold")
    assert (r.confidence, r.lift, r.candidates) == (pytest.approx(2 / 3), pytest.approx((2 / 3) / (4 / 8)), 1)
    r = _rule(res, "savings", "mortgage")
    assert r.lift == pytest.approx((1 / 3) / (3 / 8))
    assert _rule(res, "checking", "mortgage").lift == pytest.approx(1.0)
    assert res.product_support["visa_gold"] == 0.5
    assert sorted(rule_candidates(_wide(), "visa_gold", "mortgage", "customer_id")) == [2, 7]
    # min_support drops rules below it; savings -> visa_gold never co-occur so there is no such rule
    assert len(association_rules(_wide(), min_support=0.2).rules) < len(res.rules)
    assert not ((res.rules["body"] == "savings") & (res.rules["head"] == "visa_gold")).any()


def test_long_table_gives_the_same_rules_and_counts_duplicates():
    wide = association_rules(_wide(), min_support=0.0).rules
    long = _long()
    long = pd.concat([long, long.iloc[:3]], ignore_index=True)  # 3 repeated rows
    res = association_rules(long, min_support=0.0)
    assert res.input_info["duplicate_rows"] == 3
    key = ["body", "head"]
    pd.testing.assert_frame_equal(wide.sort_values(key).reset_index(drop=True), res.rules.sort_values(key).reset_index(drop=True))
    assert "repeated" in res.summary()


def test_rules_on_simulated_holdings_equal_brute_force():
    from uplift.simulate import simulate_population

    pop = simulate_population(20_000, seed=4)
    res = association_rules(pop, min_support=0.01)
    assert len(res.rules) > 10
    for r in res.rules.itertuples():
        a, b = pop[f"holds_{r.body}"] == 1, pop[f"holds_{r.head}"] == 1
        assert r.support == pytest.approx((a & b).mean(), abs=1e-12)
        assert r.confidence == pytest.approx(b[a].mean(), abs=1e-12)
        assert r.lift == pytest.approx(b[a].mean() / b.mean(), abs=1e-12)
        assert r.candidates == int((a & ~b).sum())
        assert r.support >= 0.01
    assert res.rules["lift"].is_monotonic_decreasing
    text = res.summary()
    assert "times the base rate" in text and "candidates" in text


def test_bad_holdings_are_one_line_errors():
    w = _wide()
    w.loc[0, "holds_mortgage"] = 2
    with pytest.raises(DataError, match="holds_mortgage' holds 2"):
        association_rules(w)
    w = _wide().astype({"holds_savings": float})
    w.loc[1, "holds_savings"] = np.nan
    with pytest.raises(DataError, match="missing values"):
        association_rules(w)
    with pytest.raises(DataError, match="--unit and --product"):
        association_rules(pd.DataFrame({"a": [1], "b": [2], "c": [3]}))
    with pytest.raises(DataError, match="min_support"):
        association_rules(_wide(), min_support=1.5)


def test_gains_table_by_hand():
    y = np.array([1, 0, 1, 0, 0, 0, 0, 0, 0, 1])
    score = np.arange(10, 0, -1)
    g = gains_table(y, score, bins=5)
    np.testing.assert_allclose(g["rate"], [0.5, 0.5, 0, 0, 0.5])
    np.testing.assert_allclose(g["lift"], np.array([0.5, 0.5, 0, 0, 0.5]) / 0.3)
    np.testing.assert_allclose(g["gain"], [1 / 3, 2 / 3, 2 / 3, 2 / 3, 1])
    np.testing.assert_allclose(g["cum_lift"], [(1 / 3) / 0.2, (2 / 3) / 0.4, (2 / 3) / 0.6, (2 / 3) / 0.8, 1.0])


def _propensity_frame(n=6000, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=n)
    seg = rng.choice(["a", "b"], n)
    month = rng.integers(1, 13, n)
    y = (rng.random(n) < 1 / (1 + np.exp(-(-2 + 1.2 * x + 0.5 * (seg == "b"))))).astype(int)
    return pd.DataFrame({"x": x, "seg": seg, "month": month, "bought": y})


def test_propensity_auc_equals_mann_whitney_and_time_split():
    df = _propensity_frame()
    for split in ({}, {"time_column": "month", "cutoff": 9}):
        res = propensity_model(df, "bought", ["x", "seg"], **split)
        scaler, est = res.estimator
        test = (df["month"] >= 9).to_numpy() if split else None
        if split:
            from uplift.targeting.models import FeatureEncoder

            enc = FeatureEncoder().fit(df.loc[~test, ["x", "seg"]])
            score = est.predict_proba(scaler.transform(enc.transform(df.loc[test, ["x", "seg"]])))[:, 1]
            yt = df.loc[test, "bought"].to_numpy()
            u = mannwhitneyu(score[yt == 1], score[yt == 0]).statistic
            assert res.auc == pytest.approx(u / ((yt == 1).sum() * (yt == 0).sum()), abs=1e-12)
            assert res.n_test == int(test.sum()) and "month >= 9" in res.split
        assert 0.7 < res.auc < 0.9
        assert res.gains["gain"].iloc[-1] == pytest.approx(1.0)
        assert res.gains["lift"].iloc[0] > 1.5
    gbm = propensity_model(df, "bought", ["x", "seg"], model="gbm")
    assert gbm.auc > 0.7
    with pytest.raises(DataError, match="must hold only 0/1"):
        propensity_model(df, "x", ["seg"])


def test_plots_draw(tmp_path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    res = propensity_model(_propensity_frame(), "bought", ["x", "seg"])
    fig, ax = plt.subplots(1, 2)
    assert res.plot_gains(ax[0]) is ax[0] and res.plot_lift(ax[1]) is ax[1]
    plt.close(fig)


def test_cli_rules_on_simulated_holdings(tmp_path, capsys):
    from uplift.simulate import simulate_population

    pop = simulate_population(5000, seed=1)
    pop.to_parquet(tmp_path / "pop.parquet")
    assert main(["rules", "--holdings", str(tmp_path / "pop.parquet"), "--top", "5", "--propensity", "mortgage"]) == 0
    out = capsys.readouterr().out
    assert "support" in out and "confidence" in out and "lift" in out and "candidates" in out and "AUC" in out
    _long().to_csv(tmp_path / "long.csv", index=False)
    assert main(["rules", "--holdings", str(tmp_path / "long.csv"), "--unit", "customer_id", "--product", "product",
                 "--min-support", "0", "--json"]) == 0
    import json

    d = json.loads(capsys.readouterr().out)
    assert d["n_units"] == 8
    bad = _wide()
    bad.loc[0, "holds_mortgage"] = 3
    bad.to_csv(tmp_path / "bad.csv", index=False)
    assert main(["rules", "--holdings", str(tmp_path / "bad.csv")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "holds_mortgage" in err
