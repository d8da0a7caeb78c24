"""The simulator: deterministic, realistic in shape, and its truth is recoverable."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from uplift.simulate import PRODUCTS, simulate, simulate_outcomes, simulate_population, true_clv


def test_same_seed_same_data_different_seed_different_data():
    a = simulate(3000, seed=5)
    b = simulate(3000, seed=5)
    c = simulate(3000, seed=6)
    pd.testing.assert_frame_equal(a.population, b.population)
    pd.testing.assert_frame_equal(a.outcomes, b.outcomes)
    assert a.truth.to_dict() == b.truth.to_dict()
    assert not a.outcomes["converted"].equals(c.outcomes["converted"])


def test_population_shape():
    pop = simulate_population(20_000, seed=1)
    holds = pop[[f"holds_{p}" for p in PRODUCTS]]
    assert (holds.sum(axis=1) == pop["products_held"]).all()
    assert pop["products_held"].between(1, 6).all()
    assert set(pop["segment"].cat.categories) == {"mass", "affluent", "private", "small_business"}
    assert pop["customer_id"].is_unique
    # heavy tails: the largest balance is far above the median
    assert pop["balance"].max() > 100 * pop["balance"].median()
    for flag in ("marketing_opt_out", "financial_stress"):
        assert 0.01 < pop[flag].mean() < 0.15


def test_funnel_stages_are_nested_and_churn_falls_with_products():
    sim = simulate(50_000, seed=2)
    o = sim.outcomes
    stages = ["seen", "accepted", "opened", "used", "retained"]
    for before, after in zip(stages, stages[1:]):
        assert (o[after] <= o[before]).all(), (before, after)
    assert (o["opened"] == o["converted"]).all()
    by_products = o.groupby("products_held")["churned"].mean()
    assert by_products.is_monotonic_decreasing
    assert by_products.loc[4] < 0.5 * by_products.loc[1]
    assert o["tenure_months"].between(1, 24).all()
    assert ((o["churned"] == 0) & (o["tenure_months"] < 13)).sum() == 0  # censoring only at 13..24


def test_effects_are_heterogeneous_with_some_negative():
    sim = simulate(50_000, seed=3)
    u = sim.outcomes["true_uplift_offer"]
    assert (u < 0).mean() > 0.02
    assert u.groupby(sim.outcomes["segment"], observed=True).mean().std() > 0.001


def test_difference_in_means_recovers_the_true_effect_within_its_ci():
    """Difference in conversion rates (checked against statsmodels) covers the true ATE."""
    from statsmodels.stats.weightstats import CompareMeans, DescrStatsW

    sim = simulate(200_000, seed=11)
    o = sim.outcomes
    for metric in ("converted", "revenue_12m"):
        x1 = o.loc[o["arm"] == "offer", metric].to_numpy(float)
        x0 = o.loc[o["arm"] == "control", metric].to_numpy(float)
        cm = CompareMeans(DescrStatsW(x1), DescrStatsW(x0))
        lo, hi = cm.tconfint_diff(alpha=0.05, usevar="unequal")
        truth = sim.truth.ate["offer"][metric]
        assert lo <= truth <= hi, (metric, lo, truth, hi)
        assert hi - lo < abs(truth)  # and the effect is clearly detectable at this size


def test_no_effect_world_has_zero_truth():
    pop = simulate_population(5000, seed=4)
    arms = np.where(np.arange(5000) % 2 == 0, "control", "offer")
    _, truth = simulate_outcomes(pop, arms, seed=4, intensity={"offer": 0.0})
    assert truth.ate["offer"]["converted"] == 0.0
    assert truth.ate["offer"]["revenue_12m"] == 0.0


def test_true_clv_matches_a_monte_carlo_of_the_same_model():
    """The closed-form CLV truth equals a brute-force sum over simulated geometric lifetimes."""
    sim = simulate(4000, seed=9)
    o = sim.outcomes
    t = true_clv(o, horizon_periods=24, annual_discount_rate=0.1)
    rng = np.random.default_rng(0)
    d = 1.1 ** (1 / 12) - 1
    reps = 400
    p = o["true_p_offer"].to_numpy()
    q1, q0 = o["true_churn_q_if_converted"].to_numpy(), o["true_churn_q_if_not"].to_numpy()
    m1, m0 = o["true_net_monthly_if_converted"].to_numpy(), o["true_net_monthly_if_not"].to_numpy()
    disc = (1 + d) ** -np.arange(1, 25)
    total = 0.0
    for _ in range(reps):
        conv = rng.random(len(o)) < p
        life = rng.geometric(np.where(conv, q1, q0))
        m = np.where(conv, m1, m0)
        alive = life[:, None] > np.arange(1, 25)[None, :]
        total += float(np.mean((m[:, None] * alive * disc).sum(axis=1)))
    mc = total / reps
    assert t["clv"]["offer"] == pytest.approx(mc, rel=0.01)


def test_simulate_cli_writes_three_files(tmp_path):
    from uplift.cli import main

    assert main(["simulate", "--customers", "500", "--seed", "1", "--out", str(tmp_path), "--quiet"]) == 0
    assert {p.name for p in tmp_path.iterdir()} == {"population.parquet", "outcomes.parquet", "truth.json"}
    with pytest.raises(SystemExit) as stop:  # out of range: an argparse error, one line, exit 2
        main(["simulate", "--customers", "0", "--out", str(tmp_path / "x")])
    assert stop.value.code == 2
    assert not (tmp_path / "x").exists()


def test_simulate_cli_plays_the_campaign_on_a_ledger(demo_spec, tmp_path):
    from uplift.cli import main
    from uplift.experiment.assign import assign

    pop = simulate_population(3000, seed=2)
    ledger = assign(demo_spec, pop).ledger
    pop.to_parquet(tmp_path / "pop.parquet")
    ledger.to_parquet(tmp_path / "ledger.parquet")
    code = main(["simulate", "--population", str(tmp_path / "pop.parquet"), "--ledger", str(tmp_path / "ledger.parquet"),
                 "--out", str(tmp_path / "campaign"), "--quiet"])
    assert code == 0
    out = pd.read_parquet(tmp_path / "campaign" / "outcomes.parquet")
    assert "arm" not in out.columns  # arms come from the ledger
    assert sorted(out["customer_id"]) == sorted(ledger["customer_id"])
    assert main(["simulate", "--ledger", str(tmp_path / "ledger.parquet"), "--out", str(tmp_path / "x")]) == 2
