"""Sample-ratio mismatch and covariate balance: scipy reference, hand values, Hillstrom, simulation."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from uplift.experiment.assign import assign
from uplift.experiment.checks import check_ledger, covariate_balance, sample_ratio_mismatch, srm_by_stratum
from uplift.cli import main
from uplift.errors import UserError


@pytest.mark.parametrize(
    "observed, weights",
    [
        ({"control": 1013, "offer": 8987}, {"control": 0.1, "offer": 0.9}),
        ({"a": 500, "b": 560, "c": 940}, {"a": 0.25, "b": 0.25, "c": 0.5}),
        ({"control": 900, "offer": 9100}, {"control": 0.1, "offer": 0.9}),
    ],
)
def test_srm_equals_scipy_chisquare(observed, weights):
    res = sample_ratio_mismatch(observed, weights)
    n = sum(observed.values())
    ref = stats.chisquare(list(observed.values()), [n * w for w in weights.values()])
    assert res.chi2 == pytest.approx(ref.statistic, rel=1e-12)
    assert res.p_value == pytest.approx(ref.pvalue, rel=1e-12)
    assert res.flagged == (ref.pvalue < 0.001)
    d = res.to_dict()
    json.dumps(d, allow_nan=False)
    assert set(d) >= {"p_value", "chi2", "observed", "expected", "weights", "threshold", "flagged"}
    assert "SRM" in res.summary()


def test_srm_flags_a_known_mismatch_and_edge_cases():
    # 900 vs expected 1000 of 10,000 at 10%: chi2 = 100^2/1000 + 100^2/9000 = 11.11, p = 0.00086
    res = sample_ratio_mismatch({"control": 900, "offer": 9100}, {"control": 0.1, "offer": 0.9})
    assert res.chi2 == pytest.approx(100**2 / 1000 + 100**2 / 9000)
    assert res.flagged
    assert not sample_ratio_mismatch({"control": 950, "offer": 9050}, {"control": 0.1, "offer": 0.9}).flagged
    empty = sample_ratio_mismatch({}, {"control": 0.5, "offer": 0.5})
    assert empty.p_value is None and not empty.flagged and empty.to_dict()["p_value"] is None
    with pytest.raises(UserError, match="not in the designed weights"):
        sample_ratio_mismatch({"control": 5, "typo": 5}, {"control": 0.5, "offer": 0.5})
    # an arm with no units at all counts as 0
    assert sample_ratio_mismatch({"control": 100}, {"control": 0.5, "offer": 0.5}).flagged


def test_srm_per_stratum_matches_scipy():
    frame = pd.DataFrame({
        "arm": ["c"] * 120 + ["t"] * 880 + ["c"] * 40 + ["t"] * 960,
        "stratum": ["x"] * 1000 + ["y"] * 1000,
    })
    res = srm_by_stratum(frame, "arm", "stratum", {"c": 0.1, "t": 0.9})
    for s, (c, t) in {"x": (120, 880), "y": (40, 960)}.items():
        got = next(r for r in res.strata if r.stratum == s)
        assert got.p_value == pytest.approx(stats.chisquare([c, t], [100, 900]).pvalue, rel=1e-12)
    assert res.to_dict()["flagged_strata"] == ["y"]  # 40 vs 100: p ~ 1e-10
    assert res.flagged


def test_balance_by_hand():
    frame = pd.DataFrame({
        "arm": ["c", "c", "c", "t", "t", "t", "t"],
        "x": [1.0, 2.0, 3.0, 2.0, 3.0, 4.0, 5.0],
        "seg": ["a", "b", "a", "a", "b", "b", None],
    })
    res = covariate_balance(frame, "arm", "c", ["x", "seg"])
    x = next(r for r in res.rows if r["covariate"] == "x")
    # means 2 and 3.5, variances 1 and 5/3: SMD = 1.5 / sqrt(4/3)
    assert x["smd"] == pytest.approx(1.5 / math.sqrt(4 / 3))
    assert x["flagged"]
    a = next(r for r in res.rows if r["covariate"] == "seg=a")
    # indicator seg=a: control [1,0,1] (mean 2/3, var 1/3); arm [1,0,0] with one missing (mean 1/3, var 1/3)
    assert a["mean_control"] == pytest.approx(2 / 3) and a["mean_arm"] == pytest.approx(1 / 3)
    assert a["smd"] == pytest.approx((1 / 3 - 2 / 3) / math.sqrt(1 / 3)) and a["missing_arm"] == 1
    json.dumps(res.to_dict(), allow_nan=False)
    assert "FLAG" in res.summary()


def test_balance_equals_pandas_groupby(demo_spec, demo_population):
    res = assign(demo_spec, demo_population)
    frame = res.eligibility.eligible.merge(res.ledger[["customer_id", "arm"]], on="customer_id")
    frame["arm"] = frame["arm"].astype(str)
    covs = ["revenue_pre_12m", "balance", "products_held", "bank_tenure_months"]
    bal = covariate_balance(frame, "arm", "control", covs)
    g = frame.groupby("arm")[covs]
    m, v = g.mean(), g.var(ddof=1)
    for r in bal.rows:
        c = r["covariate"]
        want = (m.loc["offer", c] - m.loc["control", c]) / math.sqrt((v.loc["offer", c] + v.loc["control", c]) / 2)
        assert r["smd"] == pytest.approx(want, rel=1e-9)
        assert not r["flagged"]


def test_hillstrom_published_counts_pass_srm_and_balance(hillstrom):
    """Hillstrom (2008) MineThatData e-mail test: 64,000 customers, three arms of 1/3 each.

    Published arm counts: Mens E-Mail 21,307, Womens E-Mail 21,387, No E-Mail 21,306.
    """
    counts = hillstrom["segment"].value_counts().to_dict()
    assert counts == {"Womens E-Mail": 21387, "Mens E-Mail": 21307, "No E-Mail": 21306}
    w = {k: 1 / 3 for k in ("No E-Mail", "Mens E-Mail", "Womens E-Mail")}
    res = sample_ratio_mismatch(counts, w)
    ref = stats.chisquare([21306, 21307, 21387])
    assert res.p_value == pytest.approx(ref.pvalue, rel=1e-12)
    print(f"Hillstrom SRM: chi2 = {res.chi2:.4f}, p = {res.p_value:.4f}")
    assert not res.flagged
    bal = covariate_balance(hillstrom, "segment", "No E-Mail", ["recency", "history", "mens", "womens", "newbie", "channel"])
    worst = max(abs(r["smd"]) for r in bal.rows)
    print(f"Hillstrom balance: largest |SMD| = {worst:.4f} over {len(bal.rows)} rows")
    assert not bal.flagged and worst < 0.02


def test_hash_assignment_balance_by_simulation(demo_population):
    """A/A over 200 salts: |SMD| of a covariate exceeds 1.96 * sqrt(1/n0 + 1/n1) (its large-sample
    5% bound) in about 5% of splits."""
    from uplift.data.hashing import assign_by_weights

    x = np.log(demo_population["balance"].to_numpy())
    ids = demo_population["customer_id"].to_numpy()
    exceed = 0
    salts = 200
    for i in range(salts):
        arm = assign_by_weights(ids, f"bal-{i}", {"c": 0.5, "t": 0.5})
        c, t = x[arm == "c"], x[arm == "t"]
        smd = (t.mean() - c.mean()) / math.sqrt((t.var(ddof=1) + c.var(ddof=1)) / 2)
        exceed += abs(smd) > 1.96 * math.sqrt(1 / len(c) + 1 / len(t))
    rate = exceed / salts
    print(f"A/A balance: {rate:.3f} of {salts} hash splits beyond the 5% bound")
    assert rate < 0.05 + 3 * math.sqrt(0.05 * 0.95 / salts)


def test_check_cli(demo_spec_path, demo_population, tmp_path, capsys):
    spec = str(demo_spec_path)
    pop_path = tmp_path / "pop.parquet"
    demo_population.to_parquet(pop_path)
    led = tmp_path / "ledger.parquet"
    assert main(["assign", spec, "--population", str(pop_path), "--ledger", str(led), "--quiet"]) == 0
    capsys.readouterr()
    assert main(["check", spec, "--ledger", str(led), "--population", str(pop_path), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["flagged"] is False and data["srm"]["overall"]["p_value"] > 0.001
    assert len(data["srm"]["strata"]) == 4 and data["balance"]["rows"]
    # a tampered ledger (half the control rows dropped) is flagged: exit 1
    ledger = pd.read_parquet(led)
    drop = ledger.index[ledger["arm"] == "control"][::2]
    bad = tmp_path / "bad.parquet"
    ledger.drop(index=drop).to_parquet(bad)
    assert main(["check", spec, "--ledger", str(bad)]) == 1
    assert "SAMPLE RATIO MISMATCH" in capsys.readouterr().out
    # a missing ledger: exit 2, one line
    assert main(["check", spec, "--ledger", str(tmp_path / "nope.parquet")]) == 2
    err = capsys.readouterr().err
    assert "not found" in err and err.count("\n") == 1


def test_check_ledger_other_experiment(demo_spec):
    led = pd.DataFrame({"experiment": ["x"], "customer_id": [1], "arm": ["control"], "stratum": ["all"]})
    with pytest.raises(UserError, match="holds experiment x"):
        check_ledger(demo_spec, led)
